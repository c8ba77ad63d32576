"""Audit rules: a typed object loaded from a YAML preset (no hidden globals)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError
from .mapping import templates_dir


@dataclass(frozen=True)
class Catalogue:
    """Documents an e-licence or shared data can replace; synonym → canonical name."""

    name: str = "电子证照"
    canonical: dict[str, str] = field(default_factory=dict)  # normalised name or synonym → canonical
    source: dict[str, str] = field(default_factory=dict)  # canonical → 电子证照 / 数据共享

    def normalize(self, material: str) -> str:
        key = material_key(material)
        return self.canonical.get(key, key)

    def replaceable(self, canonical: str) -> str | None:
        return self.source.get(canonical)


_SUFFIX = re.compile(r"(原件|复印件|扫描件|副本|正本|电子版|照片|一份|各一份|及复印件|原件及复印件)+$")


def material_key(name: str) -> str:
    """How documents are compared: NFKC, no spaces/quotes, no trailing 原件/复印件."""
    text = unicodedata.normalize("NFKC", str(name))
    text = re.sub(r"[\s《》\"'“”]", "", text)
    text = re.sub(r"[\(（][^\)）]*[\)）]$", "", text)
    return _SUFFIX.sub("", text) or text


@dataclass(frozen=True)
class Rules:
    name: str
    first_day: str
    staff_travel: str
    remote_delivery: str
    pickup: str
    correction: str
    intake: str
    online_channel: str
    signoff: str
    reject: str
    sla_days: dict[str, float]
    thresholds: dict[str, float]
    ranking_hours: dict[str, float]
    catalogue: Catalogue


def _read(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read rules file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"rules file {path} is not valid YAML" + (f" (line {mark.line + 1})" if mark else "")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"rules file {path} must be a YAML mapping")
    return data


def load_catalogue(name_or_path: str | Path) -> Catalogue:
    path = Path(name_or_path)
    if not path.exists():
        path = templates_dir() / "catalogue" / f"{name_or_path}.yaml"
    if not path.exists():
        raise ConfigError(f"no catalogue called {name_or_path!r}")
    data = _read(path)
    canonical, source = {}, {}
    documents = data.get("documents") or {}
    if not isinstance(documents, dict):
        raise ConfigError(f"catalogue {path}: 'documents' must be a mapping of document names")
    for name, spec in documents.items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise ConfigError(f"catalogue {path}: document {name!r} must be a mapping (source:, synonyms:), not {spec!r}")
        key = material_key(name)
        canonical[key] = key
        source[key] = str(spec.get("source", "电子证照"))
        synonyms = spec.get("synonyms") or []
        for syn in [synonyms] if isinstance(synonyms, str) else synonyms:
            canonical[material_key(syn)] = key
    return Catalogue(str(data.get("name", path.stem)), canonical, source)


_PATTERNS = {"visits": ("staff_travel", "remote_delivery", "pickup", "correction", "intake", "online_channel"),
             "steps": ("signoff", "reject")}


def _check_sections(data: dict) -> None:
    """Sections are mappings; the patterns the audit needs are non-empty text."""
    for section in ("visits", "steps", "working_days", "sla_days", "thresholds", "ranking_hours"):
        if section in data and not isinstance(data[section], dict):
            raise ConfigError(f"rules: '{section}' must be a mapping (key: value lines), "
                              f"not {'nothing (null)' if data[section] is None else repr(data[section])}",
                              hint="leave the section out to keep the default, or see templates/rules/最多跑一次.yaml")
    for section, keys in _PATTERNS.items():
        for key in keys:
            value = (data.get(section) or {}).get(key)
            if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip():
                raise ConfigError(f"rules: {section}.{key} must be a regular expression (text), not {value!r}",
                                  hint="leave it out to keep the default, or see templates/rules/最多跑一次.yaml")


def _number(section: str, key: object, value: object) -> float:
    try:
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"rules: {section}.{key} must be a number, not {value!r}") from None


def load_rules(name_or_path: str | Path | Rules | None = None) -> Rules:
    """Load audit rules: ``None`` → ``templates/rules/最多跑一次.yaml``; a preset
    name; or a YAML file, whose keys override the default preset.

    >>> load_rules().name
    '最多跑一次'
    """
    if isinstance(name_or_path, Rules):
        return name_or_path
    default_path = templates_dir() / "rules" / "最多跑一次.yaml"
    data = _read(default_path)
    if name_or_path is not None:
        path = Path(name_or_path)
        if not path.exists():
            path = templates_dir() / "rules" / f"{name_or_path}.yaml"
        if not path.exists():
            raise ConfigError(f"no rules file or preset called {name_or_path!r}",
                             hint="presets: " + ", ".join(p.stem for p in (templates_dir() / "rules").glob("*.yaml")))
        user = _read(path)
        for key, value in user.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
    _check_sections(data)
    visits, steps = data.get("visits") or {}, data.get("steps") or {}
    for label, pattern in {**visits, **steps}.items():
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise ConfigError(f"rules: pattern {label!r} is not a valid regular expression: {exc}") from None
    first_day = str((data.get("working_days") or {}).get("first_day", "exclude"))
    if first_day not in ("exclude", "include"):
        raise ConfigError(f"rules: working_days.first_day must be exclude or include, not {first_day!r}")
    return Rules(
        name=str(data.get("name", "rules")), first_day=first_day,
        staff_travel=str(visits["staff_travel"]), remote_delivery=str(visits["remote_delivery"]),
        pickup=str(visits["pickup"]), correction=str(visits["correction"]), intake=str(visits["intake"]),
        online_channel=str(visits["online_channel"]), signoff=str(steps["signoff"]), reject=str(steps["reject"]),
        sla_days={str(k): _number("sla_days", k, v) for k, v in (data.get("sla_days") or {}).items()},
        thresholds={k: _number("thresholds", k, v) for k, v in (data.get("thresholds") or {}).items()},
        ranking_hours={k: _number("ranking_hours", k, v) for k, v in (data.get("ranking_hours") or {}).items()},
        catalogue=load_catalogue(str(data.get("catalogue") or "电子证照")),
    )
