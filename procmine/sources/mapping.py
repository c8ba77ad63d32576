"""Column mapping: which export column is which canonical field.

A :class:`Mapping` is built from a preset in ``templates/mappings/`` or a user
YAML file. :func:`map_columns` applies it to one sheet's header and returns a
:class:`SheetMapping`, or raises :class:`~procmine.errors.MappingError` with the
columns found and the names accepted — it never guesses between two columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import load_yaml, read_config_text, templates_dir, unknown_key_error
from ..errors import ConfigError, MappingError
from ..log.parsing import normalize_header

FIELDS = ("case_id", "service", "activity", "department", "resource", "start_time", "end_time",
          "materials", "channel", "in_person", "sla_days",
          # case-level lifecycle (one value per case, repeated on its steps)
          "apply_time", "accept_time", "finish_time", "deliver_time", "due_time", "status", "statutory_days",
          "limit_unit", "extension_days", "applicant", "applicant_id",
          # 好差评 (case level) and a step's own time limit
          "rating", "rating_time", "rating_channel", "rating_text", "rectify_status", "rectify_time",
          "step_sla_days")
# Case-level time fields; in a long sheet with no step time of its own they are the step times.
LIFECYCLE_TIMES = ("apply_time", "accept_time", "finish_time", "deliver_time", "due_time", "rating_time",
                   "rectify_time")
STEP_TIME_STANDINS = {"start_time": "accept_time", "end_time": "finish_time"}

XES_KEYS = {normalize_header(k) for k in ("case:concept:name", "concept:name", "time:timestamp", "org:resource",
                                          "org:group", "org:role", "case:channel", "start_timestamp", "time:start")}

FIELD_LABELS = {
    "case_id": "办件编号 (case id)", "service": "事项 (service)", "activity": "办理环节 (step)",
    "department": "承办部门 (department)", "resource": "经办人 (clerk)", "start_time": "开始时间 (start)",
    "end_time": "结束时间 (end)", "materials": "提交材料 (documents)", "channel": "受理方式 (channel)",
    "in_person": "是否到场 (in person)", "sla_days": "承诺时限 (time limit)",
    "apply_time": "申请时间 (application)", "accept_time": "受理时间 (acceptance)", "finish_time": "办结时间 (decision)",
    "deliver_time": "送达/领取时间 (delivery)", "due_time": "承诺办结时间 (due date)", "status": "办件状态 (status)",
    "statutory_days": "法定时限 (statutory limit)", "limit_unit": "期限单位 (limit unit)",
    "extension_days": "延期天数 (extension, working days)",
    "applicant": "申请人 (applicant)", "applicant_id": "申请人证件号 (applicant id)",
    "rating": "评价等级 (rating)", "rating_time": "评价时间 (rated at)", "rating_channel": "评价渠道 (rating channel)",
    "rating_text": "评价内容 (rating text)", "rectify_status": "整改状态 (rectification)",
    "rectify_time": "整改完成时间 (rectified at)", "step_sla_days": "环节时限 (step limit)",
}


@dataclass(frozen=True)
class WideSpec:
    start_suffixes: tuple[str, ...] = ()
    end_suffixes: tuple[str, ...] = ()
    department_suffixes: tuple[str, ...] = ()
    resource_suffixes: tuple[str, ...] = ()
    not_stages: tuple[str, ...] = ()
    applicant_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mapping:
    """Accepted column names per canonical field.

    ``primary`` names conflict when two columns match one field; ``fallback``
    names are only consulted when no primary name matched; with ``priority``
    the first listed name present wins (for standard formats such as XES).
    ``user`` names come from a user file and take precedence over everything.
    """

    name: str = "default"
    primary: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fallback: dict[str, tuple[str, ...]] = field(default_factory=dict)
    user: dict[str, tuple[str, ...]] = field(default_factory=dict)
    priority: bool = False
    wide: WideSpec = WideSpec()
    layout: str = "auto"  # auto | long | wide
    service: str | None = None  # constant service name when the export has no column
    ignore: tuple[str, ...] = ()

    def names(self, fld: str) -> tuple[str, ...]:
        return self.user.get(fld, ()) + self.primary.get(fld, ()) + self.fallback.get(fld, ())


def _as_names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, int, float)):
        value = [value]
    return tuple(normalize_header(v) for v in value)


def _read_yaml(path: Path) -> dict:
    text = read_config_text(path, "mapping file")
    try:
        data = load_yaml(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"mapping file {path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"mapping file {path} must be a YAML mapping with a 'fields:' section")
    return data


# Top-level keys of a mapping file beyond those the shipped presets use (templates/mappings/*.yaml).
MAPPING_KEYS = ("layout", "service", "ignore", "preset", "tables", "keys", "relational")


def check_mapping_keys(data: dict, path: Path) -> None:
    """A user's mapping file names only keys a mapping has: those of the shipped presets
    (so a key added to one is known at once) and :data:`MAPPING_KEYS`; a misspelt one
    (``feilds:``) is an error naming the nearest, never ignored. ``wide:`` keys too."""
    known = set(MAPPING_KEYS)
    for preset in (templates_dir() / "mappings").glob("*.yaml"):
        known |= set(_read_yaml(preset))
    for key in data:
        if key not in known:
            raise unknown_key_error(key, known, f"mapping file {path}")
    wide = data.get("wide")
    if isinstance(wide, dict):
        for key in wide:
            if key not in WideSpec.__dataclass_fields__:
                raise unknown_key_error(f"wide.{key}", (f"wide.{k}" for k in WideSpec.__dataclass_fields__),
                                        f"mapping file {path}")


def _check_fields(section: dict, path: Path, key: str) -> None:
    unknown = sorted(set(section) - set(FIELDS))
    if unknown:
        raise ConfigError(f"mapping file {path}: unknown field(s) under '{key}': {', '.join(map(str, unknown))}",
                         hint=f"fields are: {', '.join(FIELDS)}")


def _from_dict(data: dict, path: Path, base: Mapping | None) -> Mapping:
    fields = data.get("fields") or {}
    fallback = data.get("fallback") or {}
    for key, section in (("fields", fields), ("fallback", fallback)):
        if not isinstance(section, dict):
            raise ConfigError(f"mapping file {path}: '{key}' must map field names to column names")
        _check_fields(section, path, key)
    wide = data.get("wide") or {}
    wide_spec = WideSpec(**{k: tuple(str(x) for x in v or ()) for k, v in wide.items()
                            if k in WideSpec.__dataclass_fields__})
    layout = str(data.get("layout", "auto"))
    if layout not in ("auto", "long", "wide"):
        raise ConfigError(f"mapping file {path}: layout must be auto, long or wide, not {layout!r}")
    if base is None:
        return Mapping(name=str(data.get("name", path.stem)),
                       primary={k: _as_names(v) for k, v in fields.items()},
                       fallback={k: _as_names(v) for k, v in fallback.items()},
                       priority=bool(data.get("priority", False)), wide=wide_spec, layout=layout,
                       service=data.get("service"), ignore=_as_names(data.get("ignore")))
    # A user file on top of the default preset: its names come first.
    return Mapping(name=str(data.get("name", path.stem)), primary=base.primary, fallback=base.fallback,
                   user={k: _as_names(v) for k, v in fields.items()}, priority=base.priority,
                   wide=WideSpec(**{**base.wide.__dict__, **wide_spec.__dict__}) if wide else base.wide,
                   layout=layout, service=data.get("service"),
                   ignore=_as_names(data.get("ignore")))


def load_mapping(name_or_path: str | Path | Mapping | None = None) -> Mapping:
    """Load a mapping: ``None`` → the default preset; a preset name
    (``templates/mappings/NAME.yaml``); or a user YAML file, whose ``fields``
    are added in front of the default names.

    >>> load_mapping().name
    'default'
    """
    if isinstance(name_or_path, Mapping):
        return name_or_path
    presets = templates_dir() / "mappings"
    default_path = presets / "default.yaml"
    default = _from_dict(_read_yaml(default_path), default_path, None)
    if name_or_path is None or str(name_or_path) == "default":
        return default
    candidate = Path(name_or_path)
    if not candidate.exists():
        preset = presets / f"{name_or_path}.yaml"
        if preset.exists():
            return _from_dict(_read_yaml(preset), preset, None)
        names = sorted(p.stem for p in presets.glob("*.yaml"))
        raise ConfigError(f"no mapping file or preset called {name_or_path!r}",
                         hint=f"presets: {', '.join(names)}; or give the path of a YAML file")
    data = _read_yaml(candidate)
    check_mapping_keys(data, candidate)
    if data.get("preset"):
        return _from_dict(_read_yaml(presets / f"{data['preset']}.yaml"), candidate, None)
    return _from_dict(data, candidate, default)


@dataclass(frozen=True)
class Stage:
    """One stage of a wide (台账) sheet: the columns that hold its times etc."""

    name: str
    start: str | None = None
    end: str | None = None
    department: str | None = None
    resource: str | None = None


@dataclass(frozen=True)
class SheetMapping:
    """Which column of one sheet feeds which canonical field."""

    layout: str  # long | wide
    columns: dict[str, str]  # field -> column name (as in the sheet)
    stages: tuple[Stage, ...] = ()
    attributes: tuple[str, ...] = ()  # every other column, kept as-is

    def describe(self) -> str:
        parts = [f"{f}←{c}" for f, c in self.columns.items()]
        if self.stages:
            parts.append("stages: " + ", ".join(s.name for s in self.stages))
        return f"{self.layout}: " + "; ".join(parts)


def _matches(names: tuple[str, ...], headers: dict[str, str]) -> list[str]:
    wanted = set(names)
    return [col for col, norm in headers.items() if norm in wanted]


def _find_stages(headers: dict[str, str], used: set[str], spec: WideSpec,
                 step_times: frozenset[str] = frozenset()) -> tuple[Stage, ...]:
    """The stages of a wide sheet. ``step_times`` are the names of a step's own
    start/end columns (开始时间, 结束时间, 完成时间 …): they say when, not what,
    so they never name a stage (开始/结束 are not stages)."""
    suffix_kind = [(s, "start") for s in spec.start_suffixes] + [(s, "end") for s in spec.end_suffixes]
    suffix_kind.sort(key=lambda sk: -len(sk[0]))
    found: dict[str, dict[str, str]] = {}
    order: list[str] = []
    for col, norm in headers.items():
        if col in used or norm in step_times:
            continue
        for suffix, kind in suffix_kind:
            if norm.endswith(suffix) and len(norm) > len(suffix):
                stage = col.strip()
                stage = re.sub(rf"{re.escape(suffix)}\s*$", "", normalize_stage(stage))
                stage_key = normalize_header(stage)
                if not stage_key or any(stage_key.startswith(x) for x in spec.not_stages):
                    break
                slot = found.setdefault(stage_key, {"name": stage})
                if kind in slot:
                    raise MappingError(f"stage {stage!r} has two {kind} columns: {slot[kind]!r} and {col!r}",
                                       hint="rename one or list the right one in a mapping file (--mapping)")
                slot[kind] = col
                if stage_key not in order:
                    order.append(stage_key)
                break
    stages = []
    for key in order:
        slot = found[key]
        dept = res = None
        for col, norm in headers.items():
            if col in used or not norm.startswith(key) or norm in spec.applicant_columns:
                continue
            rest = norm[len(key):]
            if rest in spec.department_suffixes:
                dept = col
            elif rest in spec.resource_suffixes:
                res = col
        stages.append(Stage(slot["name"], slot.get("start"), slot.get("end"), dept, res))
    return tuple(stages)


def normalize_stage(text: str) -> str:
    import unicodedata
    return unicodedata.normalize("NFKC", text).strip()


def map_columns(columns: list[str], mapping: Mapping, *, where: str = "") -> SheetMapping:
    """Map one sheet's header to canonical fields.

    Raises :class:`MappingError` when the case id, the step (or the stage
    columns of a wide sheet) or every timestamp is missing, or when two columns
    claim the same field.
    """
    headers = {c: normalize_header(c) for c in columns if normalize_header(c) and normalize_header(c) not in mapping.ignore}
    chosen: dict[str, str] = {}
    for fld in FIELDS:
        tiers = [mapping.user.get(fld, ()), mapping.primary.get(fld, ()), mapping.fallback.get(fld, ())]
        for tier in tiers:
            if not tier:
                continue
            if mapping.priority:
                hit = next((col for name in tier for col, norm in headers.items() if norm == name), None)
                hits = [hit] if hit else []
            else:
                hits = [c for c in _matches(tier, headers) if c not in chosen.values()]
            if len(hits) > 1:
                # XES standard keys (concept:name, org:resource …) have a fixed meaning:
                # in a re-exported event log they win over look-alike plain columns.
                standard = [c for c in hits if normalize_header(c) in XES_KEYS]
                if len(standard) == 1:
                    hits = standard
            if len(hits) > 1:
                raise MappingError(
                    f"{where}two columns could be {FIELD_LABELS[fld]}: {', '.join(map(repr, hits))}",
                    hint=(f"columns found: {', '.join(map(str, columns))}\n"
                          f"say which one in a mapping file, e.g. 'fields: {{{fld}: {hits[0]}}}', "
                          f"and pass it with --mapping FILE"))
            if hits:
                chosen[fld] = hits[0]
                break
    layout = mapping.layout
    if layout == "auto":
        layout = "long" if "activity" in chosen else "wide"
    if layout == "long":
        # A step table whose only 受理/办结 columns are per step: they are the step's times.
        for step_fld, case_fld in STEP_TIME_STANDINS.items():
            if step_fld not in chosen and case_fld in chosen:
                chosen[step_fld] = chosen.pop(case_fld)
    stages: tuple[Stage, ...] = ()
    taken_back: dict[str, str] = {}
    if layout == "wide":
        # In a 台账 the time columns name stages: take them back from the fields.
        taken_back = {fld: chosen.pop(fld) for fld in ("activity", "start_time", "end_time") if fld in chosen}
        # Stage columns (审批人, 受理部门 …) belong to their stage, not to the
        # case-wide resource/department the aliases may have claimed.
        soft = {f: chosen[f] for f in ("department", "resource") if f in chosen}
        # 受理时间/办结时间 in a 台账 are stages and case milestones at once
        both = {chosen[f] for f in LIFECYCLE_TIMES if f in chosen}
        used = set(chosen.values()) - set(soft.values()) - both
        step_times = frozenset(mapping.user.get("start_time", ()) + mapping.primary.get("start_time", ())
                               + mapping.user.get("end_time", ()) + mapping.primary.get("end_time", ()))
        stages = _find_stages(headers, used, mapping.wide, step_times)
        owned = {c for s in stages for c in (s.department, s.resource) if c}
        for fld, col in soft.items():
            if col in owned:
                chosen.pop(fld)
        if len(stages) < (1 if mapping.layout == "wide" else 2):
            stages = ()
    missing = [f for f in ("case_id",) if f not in chosen]
    if layout == "long" or not stages:
        if "activity" not in chosen and not stages:
            missing.append("activity")
        if layout == "long" and not ({"start_time", "end_time"} & chosen.keys()):
            missing.append("end_time")
    if missing:
        accepted = "\n".join(f"  {FIELD_LABELS[f]}: {', '.join(mapping.names(f)[:14])}" for f in missing)
        extra = ""
        if "activity" in missing:
            extra = ("\n  or, for a wide sheet (one row per case), two or more stage-time columns such as "
                     "受理时间, 审核时间, 办结时间")
            bare = [taken_back[f] for f in ("start_time", "end_time") if f in taken_back]
            if bare:
                extra += (f"\n{' and '.join(map(repr, bare))} are the times of a step, not stages: "
                          f"a step table needs its step column")
        raise MappingError(
            f"{where}no column for {', '.join(FIELD_LABELS[f] for f in missing)}",
            hint=(f"columns found: {', '.join(map(str, columns))}\n"
                  f"names accepted:\n{accepted}{extra}\n"
                  f"if your export names it otherwise, write a mapping file (see templates/mappings/example.yaml) "
                  f"and pass --mapping FILE"))
    stage_cols = {c for s in stages for c in (s.start, s.end, s.department, s.resource) if c}
    mapped = set(chosen.values()) | stage_cols
    attributes = tuple(c for c in columns if c not in mapped)
    return SheetMapping(layout=layout if stages or layout == "long" else "long", columns=chosen,
                        stages=stages, attributes=attributes)


def header_score(cells: list[object], mapping: Mapping) -> tuple[int, bool]:
    """How much a row looks like a header: (number of cells naming a field or
    stage, whether one names the case id)."""
    known = {n for f in FIELDS for n in mapping.names(f)}
    case_names = set(mapping.names("case_id"))
    suffixes = mapping.wide.start_suffixes + mapping.wide.end_suffixes
    score, has_case = 0, False
    for cell in cells:
        if cell is None:
            continue
        norm = normalize_header(cell)
        if not norm or len(norm) > 40:
            continue
        if norm in case_names:
            has_case = True
        if norm in known or any(norm.endswith(s) and len(norm) > len(s) for s in suffixes):
            score += 1
    return score, has_case
