"""Reading procmine's own configuration files (YAML text, whatever the editor saved) and
finding the shipped templates: the lowest layer every stage may use."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import ConfigError

VERSION = "0.1.0"


def load_yaml(text: str):
    """Parse YAML text safely (libyaml's C parser when PyYAML has it: the message
    catalogue and rule presets load several times faster)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


# How to make each kind of YAML file, for a message that refuses a spreadsheet or binary.
HOW_TO_WRITE = {
    "rules file": "copy templates/rules/最多跑一次.yaml, edit it in a text editor and pass it with --rules FILE",
    "plan": "draft one with `procmine suggest LOG -o plan.yaml` (or copy one in templates/plans/) and edit it",
    "reference": "write the 办事指南's steps as a YAML list (see templates/references/), or give a .bpmn/.pnml model",
    "mapping file": "copy templates/mappings/example.yaml and name your export's columns in it",
    "catalogue": "copy templates/catalogue/电子证照.yaml and edit it",
    "bundle file": "copy templates/bundles/一件事.yaml and edit it",
}
_SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # .xlsx/.ods (zip); .xls/.et (OLE)
_SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".et", ".ods", ".csv")


def read_config_text(path: Path, what: str) -> str:
    """The text of a YAML configuration file (rules, plan, reference, mapping …).

    UTF-8 with or without a BOM is read as is; a file that is not UTF-8 is read
    as GB18030 (a superset of GBK: what 记事本/WPS save in a Chinese locale as
    "ANSI"), since that is what such a file is and refusing it would only make
    the user re-save it; UTF-16 with a BOM (记事本's "Unicode") is read too. A
    spreadsheet or any other binary file is refused, saying how to make the
    YAML file instead."""
    path = Path(path)
    how = HOW_TO_WRITE.get(what, "see the examples in templates/")
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError(f"{what} {path} is a folder, not a YAML file", hint=how) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    if raw.startswith(_SPREADSHEET_MAGIC) or (path.suffix.lower() in _SPREADSHEET_SUFFIXES and b"\x00" in raw[:4096]):
        raise ConfigError(f"{what} {path} is a spreadsheet (or another binary file); a {what} must be a YAML text file",
                          hint=how)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    if b"\x00" in raw:
        raise ConfigError(f"{what} {path} is not a text file; a {what} must be a YAML text file", hint=how)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is neither UTF-8 nor GBK text",
                          hint="open it in a text editor and save it as UTF-8 (记事本: 另存为 → 编码 UTF-8)") from None


def unknown_key_error(key: object, known, where: str, *, what: str = "key") -> ConfigError:
    """The error for a key a YAML file does not define: which key, and the nearest known one."""
    import difflib

    names = sorted(map(str, known))
    near = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
    return ConfigError(f"{where}: unknown {what} {str(key)!r}" + (f"; did you mean {near[0]!r}?" if near else ""),
                       hint=f"known {what}s: {', '.join(names)}")


def templates_dir() -> Path:
    """The folder holding mapping, rule and report presets."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise ConfigError("procmine's templates folder is missing; reinstall procmine")
