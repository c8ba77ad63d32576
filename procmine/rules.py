"""Audit rules: a typed object loaded from a YAML preset (no hidden globals)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError
from .config import HOW_TO_WRITE, load_yaml, read_config_text, templates_dir, unknown_key_error


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


# qualifiers of the same document (original, copy, scan …); never part of a name such as 一寸照片
_SUFFIX = re.compile(r"(原件|复印件|扫描件|副本|正本|电子版|一份|各一份|及复印件|原件及复印件|复印件及原件|加盖公章)+$")


def material_key(name: str) -> str:
    """How documents are compared: NFKC, no quotes or spaces next to Chinese text (a
    space between two Latin words stays: "Site plan"), no trailing 原件/复印件."""
    text = unicodedata.normalize("NFKC", str(name))
    text = re.sub(r"[《》\"'“”]", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"(?<=[^\x00-\x7f]) | (?=[^\x00-\x7f])", "", text)
    text = re.sub(r"[\(（][^\)）]*[\)）]$", "", text)
    return _SUFFIX.sub("", text) or text


@dataclass(frozen=True)
class Rules:
    """Audit rules (a preset YAML merged with the user's). ``calendar()`` gives the working calendar they define."""

    name: str
    first_day: str
    unknown_years: str
    office_hours: tuple[tuple[str, str], ...]
    warn_days: float
    as_of: str | None
    same_visit_gap_hours: float
    lifecycle: dict[str, str]
    status: dict[str, str]
    online_step: str
    window_step: str
    staff_travel: str
    remote_delivery: str
    pickup: str
    correction: str
    intake: str
    online_channel: str
    office_act: str
    signoff: str
    reject: str
    sla_days: dict[str, float]
    thresholds: dict[str, float]
    ranking_hours: dict[str, float]
    catalogue: Catalogue
    ratings: dict = field(default_factory=lambda: {"good_min_level": 3.0, "rectify_days": 15.0,
                                                   "rectified_status": "已整改|整改完成|已完成"})
    bundles: dict = field(default_factory=lambda: {"window_days": 30.0, "min_applicants": 5.0})

    def calendar(self):
        """A fresh working calendar (Chinese working days, these office hours)."""
        from .calendar.workdays import WorkCalendar

        return WorkCalendar(self.first_day, self.office_hours, self.unknown_years)


def _ratings(sec: dict, number) -> dict:
    out = {"good_min_level": number(sec.get("good_min_level", 3), "ratings.good_min_level"),
           "rectify_days": number(sec.get("rectify_days", 15), "ratings.rectify_days"),
           "rectified_status": str(sec.get("rectified_status") or "已整改|整改完成|已完成")}
    try:
        re.compile(out["rectified_status"])
    except re.error as exc:
        raise ConfigError(f"rules: ratings.rectified_status is not a valid regular expression: {exc}") from None
    return out


def _read(path: Path, what: str = "rules file") -> dict:
    text = read_config_text(path, what)
    try:
        data = load_yaml(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"{what} {path} is not valid YAML" + (f" (line {mark.line + 1})" if mark else "")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must be a YAML mapping", hint=HOW_TO_WRITE.get(what))
    return data


# Sections whose keys are the user's own names (sla_days: service → working days).
FREE_SECTIONS = ("sla_days",)


def _check_keys(user: dict, preset: dict, path: Path) -> None:
    """Every key of a user's rules file is one the default preset file has (its
    top-level keys and each section's keys: new keys added there are known at
    once); a misspelt key is an error naming the nearest known one, never ignored."""
    for key, value in user.items():
        if key not in preset:
            raise unknown_key_error(key, preset, f"rules file {path}")
        known = preset[key]
        if key in FREE_SECTIONS or not isinstance(known, dict) or not known or not isinstance(value, dict):
            continue
        for sub in value:
            if sub not in known:
                raise unknown_key_error(f"{key}.{sub}", (f"{key}.{k}" for k in known), f"rules file {path}")


def load_catalogue(name_or_path: str | Path) -> Catalogue:
    path = Path(name_or_path)
    if not path.exists():
        path = templates_dir() / "catalogue" / f"{name_or_path}.yaml"
    if not path.exists():
        raise ConfigError(f"no catalogue called {name_or_path!r}")
    data = _read(path, "catalogue")
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
        _check_keys(user, data, path)
        for key, value in user.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
    _check_sections(data)
    def section(key: str) -> dict:
        value = data.get(key)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"rules: '{key}' must be a mapping of names to values, not {type(value).__name__}",
                             hint="see templates/rules/最多跑一次.yaml for the layout")
        return value

    visits, steps, lifecycle, status = section("visits"), section("steps"), section("lifecycle"), section("status")
    needed = {"visits": ("staff_travel", "remote_delivery", "pickup", "correction", "intake", "online_channel",
                         "online_step", "window_step", "office_act"),
              "steps": ("signoff", "reject"),
              "lifecycle": ("apply", "receive", "accept", "not_accept", "finish", "decide", "deliver", "extension",
                            "special", "special_verbs", "special_start", "special_end", "correction_notice",
                            "correction_received", "correction_span"),
              "status": ("withdrawn", "void", "not_accepted", "pending", "returned", "transferred",
                         "awaiting_delivery", "closed", "open")}
    for key, names in needed.items():
        sec = section(key)
        for name in names:
            value = sec.get(name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"rules: {key}.{name} must be a regular expression (text), not {value!r}",
                                 hint="copy templates/rules/最多跑一次.yaml and edit it, or leave the key out "
                                      "to keep the default")
            try:
                re.compile(value)
            except re.error as exc:
                raise ConfigError(f"rules: pattern {key}.{name} is not a valid regular expression: {exc}") from None
    wd = section("working_days")
    first_day = str(wd.get("first_day", "exclude"))
    if first_day not in ("exclude", "include"):
        raise ConfigError(f"rules: working_days.first_day must be exclude or include, not {first_day!r}")
    unknown_years = str(wd.get("unknown_years", "error"))
    if unknown_years not in ("error", "weekdays"):
        raise ConfigError(f"rules: working_days.unknown_years must be error or weekdays, not {unknown_years!r}")
    office = []
    for span in data.get("office_hours") or ["08:30-12:00", "13:30-17:30"]:
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*[-–~]\s*(\d{1,2}):(\d{2})\s*", str(span))
        if not m or not (int(m[1]) * 60 + int(m[2]) < int(m[3]) * 60 + int(m[4]) <= 24 * 60):
            raise ConfigError(f"rules: office_hours entry {span!r} is not a time range like 08:30-12:00")
        office.append((f"{m[1]}:{m[2]}", f"{m[3]}:{m[4]}"))
    clock = section("clock")

    def number(value, what: str) -> float:
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"rules: {what} must be a number, not {value!r}") from None
        if out < 0:
            raise ConfigError(f"rules: {what} must not be negative")
        return out

    def numbers(key: str) -> dict[str, float]:
        return {str(k): number(v, f"{key}.{k}") for k, v in section(key).items()}

    return Rules(
        name=str(data.get("name", "rules")), first_day=first_day, unknown_years=unknown_years,
        office_hours=tuple(office), warn_days=number(clock.get("warn_days", 1), "clock.warn_days"),
        as_of=None if clock.get("as_of") is None else str(clock.get("as_of")),
        same_visit_gap_hours=number(data.get("same_visit_gap_hours", 2), "same_visit_gap_hours"),
        lifecycle={k: str(v) for k, v in lifecycle.items()}, status={k: str(v) for k, v in status.items()},
        online_step=visits["online_step"], window_step=visits["window_step"],
        staff_travel=visits["staff_travel"], remote_delivery=visits["remote_delivery"], pickup=visits["pickup"],
        correction=visits["correction"], intake=visits["intake"], online_channel=visits["online_channel"],
        office_act=visits["office_act"],
        signoff=steps["signoff"], reject=steps["reject"],
        sla_days=numbers("sla_days"), thresholds=numbers("thresholds"), ranking_hours=numbers("ranking_hours"),
        catalogue=load_catalogue(str(data.get("catalogue") or "电子证照")),
        ratings=_ratings(section("ratings"), number),
        bundles={**{k: number(v, f"bundles.{k}") for k, v in section("bundles").items() if k != "declared"},
                 "declared": section("bundles").get("declared")},
    )
