"""Conformance of the real process to the service guide (办事指南).

A reference is a BPMN/PNML file, or a short YAML step list::

    name: 食品经营许可（办事指南）
    steps:
      - 受理
      - 材料审查
      - optional: [补正告知, 补正材料提交, 材料审查]
      - parallel: [[印章刻制], [社保登记]]
      - choice: [[窗口领证], [EMS送达]]

Checked per variant (each distinct step sequence once) and expanded to cases,
so a million-event log costs as many checks as it has variants.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import permutations
from pathlib import Path

import pandas as pd
import yaml

from .discover import variants as discover_variants
from ..errors import ConfigError
from ..config import read_config_text

EXAMPLES = 5


@dataclass
class Reference:
    name: str
    pattern: str  # regex over one symbol per step
    symbols: dict[str, str]
    mandatory: list[str]  # steps every fitting case has
    allowed: set[str]
    repeatable: set[str]
    service: str | None = None


@dataclass
class ConformanceResult:
    reference: str
    cases: int
    fitting: int
    per_case: pd.DataFrame  # case_id, fits, deviations
    deviations: pd.DataFrame  # deviation, cases, share, examples
    variants: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_dict(self) -> dict:
        return {"reference": self.reference, "cases": self.cases, "fitting": self.fitting,
                "fitness": round(self.fitting / self.cases, 4) if self.cases else None,
                "deviations": [{"deviation": r.deviation, "cases": int(r.cases), "share": round(float(r.share), 4),
                                "examples": list(r.examples)} for r in self.deviations.itertuples(index=False)]}


class _Compiler:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.symbols: dict[str, str] = {}
        self.repeatable: set[str] = set()

    def sym(self, name: str) -> str:
        if name not in self.symbols:
            self.symbols[name] = chr(0xE000 + len(self.symbols))
        return self.symbols[name]

    def fail(self, node: yaml.Node, msg: str):
        raise ConfigError(f"{self.path}, line {node.start_mark.line + 1}: {msg}",
                         hint="a step is a name, or one of: optional / parallel / choice / repeat (see templates/references/)")

    def seq(self, node: yaml.Node) -> tuple[str, list[str]]:
        """A sequence of elements → (regex, mandatory steps)."""
        if isinstance(node, yaml.ScalarNode):
            return self.elem(node)
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, "expected a list of steps")
        parts, mandatory = [], []
        for item in node.value:
            p, m = self.elem(item)
            parts.append(p)
            mandatory += m
        return "".join(parts), mandatory

    def elem(self, node: yaml.Node) -> tuple[str, list[str]]:
        if isinstance(node, yaml.ScalarNode):
            name = str(node.value).strip()
            if not name:
                self.fail(node, "empty step name")
            return re.escape(self.sym(name)), [name]
        if isinstance(node, yaml.SequenceNode):
            return self.seq(node)
        if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
            self.fail(node, "a step must be a name or a one-key mapping (optional/parallel/choice/repeat)")
        key_node, value = node.value[0]
        key = str(key_node.value)
        if key == "optional":
            p, _ = self.seq(value)
            return f"(?:{p})?", []
        if key == "repeat":
            p, m = self.seq(value)
            for name in self._names(value):
                self.repeatable.add(name)
            return f"(?:{p})+", m
        if key in ("parallel", "choice"):
            if not isinstance(value, yaml.SequenceNode) or len(value.value) < 2:
                self.fail(value, f"'{key}' needs a list of at least two branches")
            branches = [self.seq(b) for b in value.value]
            if key == "choice":
                return "(?:" + "|".join(p for p, _ in branches) + ")", []
            if len(branches) > 6:
                self.fail(value, "at most 6 parallel branches")
            orders = ["".join(p for p, _ in perm) for perm in permutations(branches)]
            return "(?:" + "|".join(orders) + ")", [m for _, ms in branches for m in ms]
        self.fail(key_node, f"unknown key {key!r}")

    def _names(self, node: yaml.Node) -> list[str]:
        if isinstance(node, yaml.ScalarNode):
            return [str(node.value)]
        if isinstance(node, yaml.SequenceNode):
            return [n for v in node.value for n in self._names(v)]
        if isinstance(node, yaml.MappingNode):
            return [n for _, v in node.value for n in self._names(v)]
        return []


def load_reference(path: str | Path) -> Reference:
    """Read a YAML step-list reference; errors name the line."""
    path = Path(path)
    text = read_config_text(path, "reference")
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"{path}, line {mark.line + 1 if mark else '?'}: not valid YAML "
                         f"({getattr(exc, 'problem', exc)})") from None
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}: a reference is a mapping with 'steps:' (see templates/references/)")
    top = {str(k.value): v for k, v in root.value}
    if "steps" not in top:
        raise ConfigError(f"{path}, line 1: no 'steps:' list")
    comp = _Compiler(path)
    pattern, mandatory = comp.seq(top["steps"])
    name = str(top["name"].value) if "name" in top else path.stem
    service = str(top["service"].value) if "service" in top else None
    return Reference(name, pattern, comp.symbols, mandatory, set(comp.symbols), comp.repeatable, service)


def _deviations(seq: tuple[str, ...], ref: Reference, rx: re.Pattern) -> list[str]:
    text = "".join(ref.symbols.get(a, "\uffff") for a in seq)
    if rx.fullmatch(text):
        return []
    out = []
    present = Counter(seq)
    for a in sorted(set(seq) - ref.allowed):
        out.append(f"extra step: {a}")
    for m in dict.fromkeys(ref.mandatory):
        if m not in present:
            out.append(f"skipped step: {m}")
    for a, n in sorted(present.items()):
        if a in ref.allowed and n > 1 and a not in ref.repeatable and ref.mandatory.count(a) < n:
            out.append(f"repeated step: {a}")
    if not out:
        known = [a for a in seq if a in ref.allowed]
        out.append("wrong order: " + " → ".join(known))
    return out


def conform(log: pd.DataFrame, reference: str | Path) -> ConformanceResult:
    """Check every case against a reference (YAML, .bpmn or .pnml).

    >>> r = conform(log, "templates/references/食品经营许可.yaml")    # doctest: +SKIP
    >>> r.fitting / r.cases                                          # doctest: +SKIP
    """
    path = Path(reference)
    if not path.exists():
        raise ConfigError(f"no such reference file: {path}")
    if path.suffix.lower() in (".bpmn", ".pnml"):
        return _conform_petri(log, path)
    ref = load_reference(path)
    if ref.service:
        services = set(log["service"].dropna().unique())
        if ref.service not in services:
            raise ConfigError(f"the reference is for service {ref.service!r}, which is not in the log",
                             hint="services present: " + ", ".join(sorted(map(str, services))))
        log = log[log["service"] == ref.service]
    rx = re.compile(ref.pattern)
    var = discover_variants(log)
    var["deviations"] = var["variant"].map(lambda v: _deviations(v, ref, rx))
    return _expand(var, ref.name)


def _expand(var: pd.DataFrame, name: str) -> ConformanceResult:
    rows = var[["case_ids", "deviations"]].explode("case_ids").rename(columns={"case_ids": "case_id"})
    rows["fits"] = rows["deviations"].map(len) == 0
    total = int(rows.shape[0])
    dev = var[["deviations", "cases", "case_ids"]].explode("deviations").dropna(subset=["deviations"])
    table = []
    for d, g in dev.groupby("deviations", sort=True):
        ids = sorted(i for lst in g["case_ids"] for i in lst)
        table.append({"deviation": d, "cases": int(g["cases"].sum()), "examples": ids[:EXAMPLES]})
    deviations = pd.DataFrame(table, columns=["deviation", "cases", "examples"])
    deviations["share"] = deviations["cases"] / max(total, 1)
    deviations = deviations.sort_values(["cases", "deviation"], ascending=[False, True]).reset_index(drop=True)
    return ConformanceResult(name, total, int(rows["fits"].sum()),
                             rows.sort_values("case_id").reset_index(drop=True), deviations, var)


def _conform_petri(log: pd.DataFrame, path: Path) -> ConformanceResult:
    import warnings

    import pm4py

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if path.suffix.lower() == ".bpmn":
                net, im, fm = pm4py.convert_to_petri_net(pm4py.read_bpmn(str(path)))
            else:
                net, im, fm = pm4py.read_pnml(str(path))
        except Exception as exc:
            raise ConfigError(f"cannot read reference {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        var = discover_variants(log)
        rows = [{"case:concept:name": f"v{i}", "concept:name": a,
                 "time:timestamp": pd.Timestamp("2000-01-01") + pd.Timedelta(seconds=k)}
                for i, v in enumerate(var["variant"]) for k, a in enumerate(v)]
        vlog = pd.DataFrame(rows)
        diag = pm4py.conformance_diagnostics_token_based_replay(vlog, net, im, fm)
    devs = []
    for d in diag:
        if d["trace_is_fit"]:
            devs.append([])
        else:
            probs = sorted({str(t.label or t.name) for t in d.get("transitions_with_problems", [])})
            devs.append([f"does not fit the model at: {', '.join(probs) or 'end state'}"])
    var["deviations"] = devs
    return _expand(var, path.stem)
