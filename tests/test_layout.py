"""The import graph of procmine/, read with ``ast``: no circles, and no module
imports another's private names (``from .x import _y`` or ``x._y``).

Imports inside functions count: a lazy import hides a circle from Python, not
from the reader."""

from __future__ import annotations

import ast
from pathlib import Path


PACKAGE = Path(__file__).resolve().parent.parent / "procmine"

def _modules(package: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def import_graph(package: Path = PACKAGE):
    """(edges: module → modules it imports, private: [(importer, module, name, line)])."""
    modules = _modules(package)
    root = package.name
    edges: dict[str, set[str]] = {m: set() for m in modules}
    private: list[tuple[str, str, str, int]] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        aliases: dict[str, str] = {}  # a local name bound to one of the package's modules
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.ImportFrom):
                target = (_absolute(module, path.name == "__init__.py", node.level, node.module) if node.level
                          else node.module or "")
                if target != root and not target.startswith(root + "."):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:  # from . import readers
                        targets.append(sub)
                        aliases[alias.asname or alias.name] = sub
                        continue
                    targets.append(target)
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        private.append((module, target, alias.name, node.lineno))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == root or alias.name.startswith(root + "."):
                        targets.append(alias.name)
                        if alias.asname:
                            aliases[alias.asname] = alias.name
            edges[module].update(t for t in targets if t in modules and t != module)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")
                    and aliases[node.value.id] != module):
                private.append((module, aliases[node.value.id], node.attr, node.lineno))
    return edges, sorted(set(private))


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_walker_finds_circles_and_private_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import helper\n")
    (pkg / "b.py").write_text("def helper():\n    from . import a  # lazy: still a circle\n    return a\n")
    (pkg / "c.py").write_text("from .a import _hidden\n")
    (pkg / "d.py").write_text("from . import a\n\ndef f():\n    return a._secret, a.public\n")
    (pkg / "sub" / "e.py").write_text("from ..c import thing\nimport pkg.d as dd\nx = dd._inner\n")
    edges, private = import_graph(pkg)
    # by hand: a → b → a is the only circle; c, d and sub.e each reach one private name
    assert circles(edges) == [["pkg.a", "pkg.b"]]
    assert [(m, t, n) for m, t, n, _ in private] == [("pkg.c", "pkg.a", "_hidden"), ("pkg.d", "pkg.a", "_secret"),
                                                     ("pkg.sub.e", "pkg.d", "_inner")]
    assert edges["pkg.sub.e"] == {"pkg.c", "pkg.d"}


def test_no_module_imports_another_modules_private_names():
    _, private = import_graph()
    assert [f"{m} line {line}: {name} of {t}" for m, t, name, line in private] == []


def test_no_circles():
    edges, _ = import_graph()
    assert circles(edges) == []


# The pipeline's layers, lowest first: a module may import its own layer and those below.
LAYERS = [
    ("procmine.errors", "procmine.config", "procmine.samplegen"),
    ("procmine.messages", "procmine.calendar", "procmine.labels"),
    ("procmine.rules",),
    ("procmine.log",),
    ("procmine.privacy",),
    ("procmine.sources",),
    ("procmine.engine",),
    ("procmine.analysis",),
    ("procmine.report",),
    ("procmine.demo",),
    ("procmine.web",),
    ("procmine.cli", "procmine"),
]


def layer_of(module: str) -> int:
    """The layer of a module: that of the longest listed name it is or lies under."""
    found = [(len(name), i) for i, names in enumerate(LAYERS) for name in names
             if module == name or module.startswith(name + ".")]
    assert found, f"{module} is in no layer: add it to LAYERS"
    return max(found)[1]


def test_no_module_imports_a_higher_layer():
    edges, _ = import_graph()
    upward = [f"{a} → {b}" for a in sorted(edges) for b in sorted(edges[a]) if layer_of(b) > layer_of(a)]
    assert upward == []


def test_the_layer_check_sees_an_upward_import():
    assert layer_of("procmine.analysis.audit") > layer_of("procmine.engine.runner") > layer_of("procmine.log.eventlog")
    assert layer_of("procmine") == layer_of("procmine.cli")


def test_at_most_ten_modules_are_loose_in_the_package():
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= 10, loose


def test_every_path_in_the_readmes_layout_section_exists():
    import re

    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) >= 8
    named = []
    for row in rows:
        first, rest = row.split("|")[1], "|".join(row.split("|")[2:])
        folders = re.findall(r"`([^`]+/)`", first)
        named += re.findall(r"`([^`]+)`", first)
        for f in re.findall(r"`([a-z_]+\.py)`", rest):  # a file named inside a folder's row
            named.append(folders[0] + f if folders else f)
    missing = [p for p in named if not (PACKAGE.parent / p).exists()]
    assert named and missing == []
