"""Relational sources: case, step, document and rating tables joined on the case key.

Approval platforms keep one row per case in a case table, the steps in a step
table, the documents handed in and the 好差评 ratings in tables of their own,
all keyed by the case number. A source (the sheets of a workbook, several CSV
files, or database tables) is read relationally when it holds a case table and
at least one other table keyed by the same case key — or when the user's
mapping names the tables (``tables:``). Otherwise nothing changes: every sheet
is read as a flat event table, as before.

Each table's role is recognised from its columns (``templates/mappings/relational.yaml``
and the dialect presets beside it):

* **case** — one row per case: service, applicant, 申请/受理/办结/送达 times,
  limits, status. Its values become the case-level fields of every step of the
  case; its other columns become case attributes. Several one-row-per-case
  tables (前置库 PRE_APASINFO + PRE_ACCEPT + PRE_TRANSACT) are merged on the key.
* **step** — many rows per case with a step name and a time: the events.
* **document** — case key + document name (+ 收取方式, + the step that
  received it). A document joins the ``materials`` of the step it names, else of
  the intake step (the first 收件/受理 step, else the first step of the case).
* **rating** — case key + 评价等级 …: kept as case attributes ``rating,
  rating_time, rating_channel, rating_text, rectify_status, rectify_time``.

A case with no steps becomes its milestones (申请/受理/办结/送达 events at its
case-level times). Every row of every table is used, counted as a duplicate,
or rejected with file, sheet, row and reason (e.g. a step whose case is not in
the case table).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import ConfigError, InputError, MappingError, NothingUsableError, UsageError
from ..messages import Note
from ..log.eventlog import CANONICAL, LIMIT_FIELDS, TIME_DTYPE, empty_log, order_log
from ..config import load_yaml, read_config_text, templates_dir
from .mapping import FIELDS, Mapping, SheetMapping, check_mapping_keys, load_mapping
from ..log.parsing import (MATERIALS_DTYPE, MATERIALS_TYPE, normalize_header, normalize_text, parse_bool, parse_extension, parse_sla, parse_times, str_match)

ROLES = ("case", "step", "document", "rating")
RATING_FIELDS = ("rating", "rating_time", "rating_channel", "rating_text", "rectify_status", "rectify_time")
CASE_FIELDS = ("service", "department", "applicant", "applicant_id", "apply_time", "accept_time", "finish_time",
               "deliver_time", "due_time", "status", "sla_days", "statutory_days", "limit_unit", "extension_days", "channel",
               "in_person", "task_type")
CASE_CORE = ("service", "applicant", "applicant_id", "apply_time", "accept_time", "finish_time", "deliver_time",
             "due_time", "sla_days", "statutory_days", "task_type")
STEP_FIELDS = ("activity", "start_time", "end_time", "department", "resource", "materials", "channel", "in_person",
               "service")
DOCUMENT_FIELDS = ("document", "take", "step", "step_key", "time")
CASE_TIMES = ("apply_time", "accept_time", "finish_time", "deliver_time", "due_time")
MILESTONES = (("apply_time", "申请"), ("accept_time", "受理"), ("finish_time", "办结"), ("deliver_time", "送达"))
INTAKE = r"收件|受理|接件|登记|窗口"
PROVENANCE = ("source_file", "source_sheet", "source_row")


# ---------------------------------------------------------------- vocabulary


def _names(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, int, float)):
        value = [value]
    return tuple(normalize_header(v) for v in value)


@dataclass
class Vocabulary:
    """Column names per role and field, codes, and what the user named outright."""

    key: tuple[str, ...] = ()
    step_id: tuple[str, ...] = ()  # step-id columns of step tables (a document's step_key looks there)
    roles: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)  # role -> field -> names
    fallback: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    drop: frozenset[str] = frozenset()
    codes: dict[str, dict[str, str]] = field(default_factory=dict)  # normalised column -> code -> text
    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)  # role -> table names (normalised)
    keys: dict[str, str] = field(default_factory=dict)  # role -> key column (normalised)
    explicit: bool = False  # the user's mapping names tables: relational whatever the columns say

    def add(self, data: dict, *, front: bool = False) -> None:
        def join(old: tuple, new: tuple) -> tuple:
            return tuple(dict.fromkeys(new + old if front else old + new))

        self.key = join(self.key, _names(data.get("key")))
        self.step_id = join(self.step_id, _names(data.get("step_id")))
        for role in ROLES:
            for fld, names in (data.get(role) or {}).items():
                slot = self.roles.setdefault(role, {})
                slot[fld] = join(slot.get(fld, ()), _names(names))
        for fld, names in (data.get("fallback_case") or {}).items():
            slot = self.fallback.setdefault("case", {})
            slot[fld] = join(slot.get(fld, ()), _names(names))
        self.drop = self.drop | set(_names(data.get("drop")))
        for col, table in (data.get("codes") or {}).items():
            if not isinstance(table, dict):
                raise UsageError(f"mapping: codes for {col!r} must map codes to values, e.g. {{1: 在办}}")
            slot = self.codes.setdefault(normalize_header(col), {})
            slot.update({str(k).strip(): str(v) for k, v in table.items()})


def _read_yaml(path: Path) -> dict:
    import yaml

    text = read_config_text(path, "mapping file")
    try:
        data = load_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"mapping file {path} is not valid YAML: {exc}") from None
    return data if isinstance(data, dict) else {}


def user_mapping_data(mapping) -> dict:
    """The raw YAML of a ``--mapping`` file or preset (``{}`` for none/default)."""
    if mapping is None or isinstance(mapping, Mapping) or str(mapping) == "default":
        return {}
    path = Path(str(mapping))
    if not path.exists():
        path = templates_dir() / "mappings" / f"{mapping}.yaml"
        if not path.exists():
            return {}
        return _read_yaml(path)
    data = _read_yaml(path)
    check_mapping_keys(data, path)  # the user's own file: a misspelt key is an error
    return data


def load_vocabulary(mapping=None, base: Mapping | None = None) -> Vocabulary:
    """relational.yaml + every dialect preset + the user's mapping file (first)."""
    folder = templates_dir() / "mappings"
    vocab = Vocabulary()
    vocab.add(_read_yaml(folder / "relational.yaml"))
    for preset in sorted(folder.glob("*.yaml")):
        data = _read_yaml(preset)
        if data.get("dialect"):
            vocab.add(data)
    user = user_mapping_data(mapping)
    relational_part = user.get("relational") if isinstance(user.get("relational"), dict) else user
    vocab.add(relational_part, front=True)
    for role, names in (user.get("tables") or {}).items():
        if role not in ROLES:
            raise UsageError(f"mapping: unknown table role {role!r} under 'tables'", hint=f"roles: {', '.join(ROLES)}")
        vocab.tables[role] = _names(names)
        vocab.explicit = True
    for role, col in (user.get("keys") or {}).items():
        if role not in ROLES:
            raise UsageError(f"mapping: unknown table role {role!r} under 'keys'", hint=f"roles: {', '.join(ROLES)}")
        vocab.keys[role] = normalize_header(col)
        vocab.key = tuple(dict.fromkeys((normalize_header(col),) + vocab.key))
    # the flat mapping's names come after the relational ones
    base = base or load_mapping()
    vocab.key = tuple(dict.fromkeys(vocab.key + base.user.get("case_id", ()) + base.primary.get("case_id", ())))
    for role, flds in (("case", CASE_FIELDS), ("step", STEP_FIELDS)):
        for fld in flds:
            if fld in FIELDS:
                slot = vocab.roles.setdefault(role, {})
                slot[fld] = tuple(dict.fromkeys(slot.get(fld, ()) + base.user.get(fld, ()) + base.primary.get(fld, ())))
    doc = vocab.roles.setdefault("document", {})
    doc["document"] = tuple(dict.fromkeys(doc.get("document", ()) + base.primary.get("materials", ())))
    return vocab


# ---------------------------------------------------------------- tables


@dataclass
class Table:
    """One table as read: text cells (NA for blanks) and the source row of each."""

    file: str  # source_file in the log (a file name, or a database table name)
    sheet: str
    frame: pd.DataFrame
    rows: np.ndarray
    kind: str = "csv"  # excel | csv | database
    title: str | None = None
    numeric_columns: frozenset[str] = frozenset()  # columns Excel stored as numbers (ids may have lost digits)

    @property
    def label(self) -> str:
        return self.file + (f" [{self.sheet}]" if self.sheet else "")

    @property
    def names(self) -> tuple[str, ...]:
        """What a ``tables:`` entry may call it: sheet name, file name, file stem."""
        stem = Path(self.file).name.split(".")[0]
        return tuple(normalize_header(x) for x in (self.sheet, Path(self.file).name, stem) if x)


@dataclass
class Role:
    role: str
    key: str  # key column
    columns: dict[str, str]  # field -> column

    def describe(self) -> str:
        return f"{self.role} table, key {self.key}: " + "; ".join(f"{f}←{c}" for f, c in self.columns.items())


def _pick(headers: dict[str, str], names: tuple[str, ...], taken: set[str]) -> str | None:
    for name in names:  # the first name listed that is present wins
        for col, norm in headers.items():
            if norm == name and col not in taken:
                return col
    return None


def classify(table: Table, vocab: Vocabulary) -> Role | None:
    """The table's role from its columns (or the user's ``tables:``), or None."""
    headers = {c: normalize_header(c) for c in table.frame.columns}
    forced = next((r for r, names in vocab.tables.items() if set(names) & set(table.names)), None)
    key_names = ((vocab.keys[forced],) if forced in vocab.keys else ()) + vocab.key
    key = _pick(headers, key_names, set())
    if key is None:
        if forced:
            raise MappingError(f"{table.label}: named as the {forced} table, but no column is the case key",
                               hint=f"columns: {', '.join(map(str, table.frame.columns))}; name it under "
                                    f"'keys: {{{forced}: COLUMN}}' in the mapping file")
        return None

    def match(role: str, flds) -> dict[str, str]:
        taken = {key} | {c for c, n in headers.items() if n in vocab.drop}
        out: dict[str, str] = {}
        for tier in (vocab.roles.get(role, {}), vocab.fallback.get(role, {})):
            for fld in flds:
                if fld in out or not tier.get(fld):
                    continue
                col = _pick(headers, tier[fld], taken)
                if col:
                    out[fld] = col
                    taken.add(col)
        return out

    step = match("step", STEP_FIELDS)
    is_step = "activity" in step and ("start_time" in step or "end_time" in step)
    rating = match("rating", RATING_FIELDS)
    doc = match("document", DOCUMENT_FIELDS)
    case_cols = match("case", CASE_FIELDS)
    # two or more case-level columns: a case table, even with a 评价等级 or 材料 column of its own
    rich = len(set(case_cols) & set(CASE_CORE)) >= 2
    role = forced
    if role is None:
        if is_step:
            role = "step"
        elif rich:
            role = None
        elif "rating" in rating:
            role = "rating"
        elif "document" in doc:
            role = "document"
    if role is None or role == "case":
        cols = dict(case_cols)
        if not cols and role is None:
            return None
        if role is None and _stage_columns(headers, set(cols.values()) | {key}, vocab):
            return None  # a 台账 (one row per case, one column per stage): the flat reader's
        cols.update({f: c for f, c in rating.items() if c not in cols.values()})
        if "document" in doc and doc["document"] not in cols.values():
            cols["materials"] = doc["document"]
        return Role("case", key, cols)
    if role == "step":
        if not is_step:
            raise MappingError(f"{table.label}: named as a step table, but it has no step name and time columns",
                               hint=f"columns: {', '.join(map(str, table.frame.columns))}")
        return Role("step", key, step)
    if role == "rating":
        return Role("rating", key, rating)
    return Role("document", key, doc)


_NOT_STAGES = ("导出", "打印", "制表", "更新", "创建", "修改", "统计", "出生", "评价", "整改", "有效", "发证", "批准",
               "同步", "入库", "上报", "推送", "录入", "交换", "归档", "数据", "最后", "成立", "注册", "开业", "证照")


def _stage_columns(headers: dict[str, str], mapped: set[str], vocab: Vocabulary) -> list[str]:
    """Unmapped Chinese 〈stage〉时间 columns: a 台账's stages, not a case table's milestones."""
    known = {n for names in vocab.roles.get("rating", {}).values() for n in names}
    return [c for c, norm in headers.items()
            if c not in mapped and norm not in known and re.fullmatch(r"[\u4e00-\u9fff]{2,}(时间|日期)", norm)
            and not norm.startswith(_NOT_STAGES)]


# ---------------------------------------------------------------- reading files


def _find_header(rows: list[list], vocab: Vocabulary) -> int | None:
    known = set(vocab.key)
    for role in vocab.roles.values():
        for names in role.values():
            known |= set(names)
    best, best_score = None, 1
    for i, row in enumerate(rows):
        norms = [normalize_header(c) for c in row if c is not None and str(c).strip()]
        if not any(n in vocab.key for n in norms):
            continue
        score = sum(n in known for n in norms)
        if score > best_score:
            best, best_score = i, score
    return best


@dataclass
class _Probe:
    path: Path
    sheet: str
    kind: str
    header: int
    columns: list[str]
    title: str | None
    extra: dict = field(default_factory=dict)


def _probe_file(path: Path, vocab: Vocabulary, max_unzipped: int) -> tuple[list[_Probe], list] | None:
    """Header of every table of a file; None for files that are not tables (XES)."""
    from . import readers

    kind = readers.sniff_kind(path)
    probes, skipped = [], []
    if kind in ("xlsx", "ole"):
        reader = readers.open_excel(path, kind, max_unzipped)
        for sheet in reader.sheet_names:
            try:
                rows, numeric_flags = (readers.probe_xlsx(path, sheet) if kind == "xlsx"
                                       else readers.probe_calamine(path, sheet))
            except Exception:
                return None  # let the flat reader report what is wrong with it
            h = _find_header(rows, vocab)
            if h is None:
                skipped.append(readers.SkippedSheet(str(path), sheet, "no header row naming a case key"))
                continue
            title = " ".join(str(c).strip() for r in rows[:h] for c in r if c is not None and str(c).strip()) or None
            names = readers.header_names(rows[h])
            numeric = frozenset(names[j] for r in numeric_flags[h + 1:] for j, flag in enumerate(r)
                                if flag and j < len(names))
            probes.append(_Probe(path, sheet, "excel", h, names, title,
                                 {"reader": reader, "kind": kind, "numeric": numeric}))
        return probes, skipped
    if kind != "csv":
        return None
    encoding, delim, lines = _csv_sniff(path)
    import csv
    import io

    try:
        probe = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim))
    except csv.Error:
        return None
    h = _find_header(probe, vocab)
    if h is None:
        return [], [readers.SkippedSheet(str(path), "", "no header row naming a case key")]
    title = " ".join(c for r in probe[:h] for c in r if c.strip()) or None
    return [_Probe(path, "", "csv", h, readers.header_names(probe[h]), title,
                   {"encoding": encoding, "delim": delim})], []


def _csv_sniff(path: Path) -> tuple[str, str, list[str]]:
    from . import readers

    return readers.sniff_csv(path)


def _load(probe: _Probe) -> Table:
    from . import readers

    h = probe.header
    if probe.kind == "excel":
        where = f"{probe.path.name} [{probe.sheet}]: "
        pieces = (readers.load_in_pieces(probe.path, probe.sheet, h, len(probe.columns), where)
                  if readers.sniff_kind(probe.path) == "xlsx" else None)  # a large sheet, in bounded memory
        if pieces is not None:
            arrow, abs_idx, _ = pieces
        else:
            try:
                loaded = probe.extra["reader"].load_sheet(probe.sheet, header_row=h, dtypes="string")
                abs_idx = [c.absolute_index for c in loaded.available_columns()]
                arrow = loaded.to_arrow()
            except Exception as exc:
                raise InputError(f"{where}cannot be read: {str(exc).splitlines()[0]}") from None
        del pieces
        names = [probe.columns[a] if a < len(probe.columns) else f"列{a + 1}" for a in abs_idx]
        df = readers.arrow_to_text(arrow, names)
        del arrow
    else:
        enc, delim = probe.extra["encoding"], probe.extra["delim"]
        df = None
        if enc != "utf-16" and not readers.has_blank_lines(probe.path):
            df = readers.csv_arrow(probe.path, enc, delim, h, probe.columns)
        if df is None:
            df = readers.csv_pandas(probe.path, enc, delim, h, probe.columns)
    rows = np.arange(len(df), dtype=np.int64) + h + 2
    blank = df.isna().all(axis=1).to_numpy()
    if blank.any():
        df, rows = df.loc[~blank].reset_index(drop=True), rows[~blank]
    return Table(probe.path.name, probe.sheet, df, rows, probe.kind, probe.title,
                 probe.extra.get("numeric", frozenset()))


def read_files(files: list[Path], mapping, base: Mapping, *, duplicates: str = "auto", service: str | None = None,
               max_unzipped: int = 4 << 30):
    """The relational import of files, or None when the files are not relational."""
    vocab = load_vocabulary(mapping, base)
    probes, skipped = [], []
    for path in files:
        got = _probe_file(path, vocab, max_unzipped)
        if got is None:
            return None
        probes.extend(got[0])
        skipped.extend(got[1])
    roles = []
    for p in probes:
        fake = Table(p.path.name, p.sheet, pd.DataFrame(columns=p.columns), np.zeros(0, np.int64))
        roles.append(classify(fake, vocab))
    if not looks_relational([r for r in roles if r], vocab, base):
        return None
    tables = [_load(p) for p in probes]
    return import_tables(tables, vocab, duplicates=duplicates, service=service, skipped=skipped)


def looks_relational(roles: list[Role], vocab: Vocabulary, base: Mapping | None = None) -> bool:
    """A case table plus another table keyed by the case, tables of a platform
    dialect the flat reader does not know (PROJID, SPSXSLBM …), or the user said so."""
    if vocab.explicit:
        return True
    flat_keys = set((base or load_mapping()).names("case_id"))
    if roles and any(normalize_header(r.key) not in flat_keys for r in roles):
        return True
    kinds = [r.role for r in roles]
    if "case" not in kinds:
        return False
    if any(k in kinds for k in ("step", "document", "rating")):
        return True
    # several one-row-per-case tables with different columns (前置库 APASINFO + ACCEPT + TRANSACT)
    shapes = {tuple(sorted(r.columns)) for r in roles if r.role == "case"}
    return len(shapes) > 1


# ---------------------------------------------------------------- the join


class _Accounts:
    def __init__(self) -> None:
        self.reports = []
        self.rejects: list[pd.DataFrame] = []
        self.notes: list[str] = []

    def reject(self, table: Table, pos: np.ndarray, reasons) -> None:
        pos = np.asarray(pos, dtype=np.int64)
        if not len(pos):
            return
        if isinstance(reasons, str):
            reasons = [reasons] * len(pos)
        self.rejects.append(pd.DataFrame({
            "file": pd.array([table.file] * len(pos), dtype="string"),
            "sheet": pd.array([table.sheet] * len(pos), dtype="string"),
            "row": pd.array(table.rows[pos], dtype="int64"),
            "reason": pd.array(list(reasons), dtype="string")}))


def _apply_codes(table: Table, vocab: Vocabulary) -> list[str]:
    notes = []
    for col in table.frame.columns:
        codes = vocab.codes.get(normalize_header(col))
        if not codes:
            continue
        raw = table.frame[col]
        key = normalize_text(raw).str.replace(r"\.0+$", "", regex=True)
        mapped = key.map(codes)
        table.frame[col] = mapped.where(mapped.notna(), raw).astype("string")
        unknown = key[mapped.isna() & key.notna()].unique()
        if len(unknown):
            notes.append(f"{table.label}: codes of {col!r} not in the code list, kept as they are: "
                         + ", ".join(map(str, list(unknown)[:5])))
    return notes


def _summary_rows(df: pd.DataFrame) -> np.ndarray:
    out = np.zeros(len(df), dtype=bool)
    for c in df.columns[: min(3, df.shape[1])]:
        out |= str_match(df[c], r"\s*(?:合\s*计|总\s*计|小\s*计|共\s*计|总数|汇总|累计|(?i:total|sum)\b)")
    return out


def _keys(table: Table, role: Role) -> pd.Series:
    return normalize_text(table.frame[role.key])


def _damaged(table: Table, role: Role, key: pd.Series, bad: np.ndarray, reasons: np.ndarray) -> None:
    """Case keys Excel turned into numbers (15 significant digits): rejected, never merged."""
    from ..log.parsing import damaged_ids

    hit = damaged_ids(key, role.key in table.numeric_columns).to_numpy() & ~bad
    for i in np.flatnonzero(hit):
        reasons[i] = (f"case id {key.iloc[i]} was stored by Excel as a number and may have lost digits "
                      "(Excel keeps 15); re-export the column as text")
    bad |= hit


def _times(table: Table, col: str, bad: np.ndarray, reasons: np.ndarray, label: str) -> pd.Series:
    times, failed = parse_times(table.frame[col])
    failed = failed.to_numpy()
    new = failed & ~bad
    if new.any():
        raw = table.frame[col]
        for i in np.flatnonzero(new):
            reasons[i] = f"unparseable time in {label}: '{raw.iloc[i]}'"
        bad |= new
    return times


def _service_name(table: Table) -> str:
    from .convert import service_from_table
    from .readers import RawSheet

    name, _ = service_from_table(RawSheet(table.file, table.sheet, table.frame, table.rows, load_mapping(),
                                     title=table.title))
    return name or Path(table.file).name.split(".")[0]


def _case_frame(table: Table, role: Role, acc: _Accounts, service: str | None) -> tuple[pd.DataFrame, dict]:
    """One row per case: canonical case fields, attributes, provenance. Rejects and duplicates counted."""
    df, cols = table.frame, role.columns
    n = len(df)
    reasons = np.full(n, None, dtype=object)
    bad = np.zeros(n, dtype=bool)
    summary = _summary_rows(df)
    reasons[summary], bad = "summary row (合计/总计), not a case", summary.copy()
    key = _keys(table, role)
    empty = key.isna().to_numpy() & ~bad
    reasons[empty] = f"no case key ({role.key} is empty)"
    bad |= empty
    _damaged(table, role, key, bad, reasons)
    out: dict[str, pd.Series] = {"case_id": key}

    def text(fld):
        return normalize_text(df[cols[fld]]) if fld in cols else pd.Series(pd.NA, index=df.index, dtype="string")

    for fld in ("service", "department", "applicant", "applicant_id", "status", "channel", "task_type"):
        out[fld] = text(fld)
    if service:
        out["service"] = pd.Series(service, index=df.index, dtype="string")
    elif "service" not in cols:
        out["service"] = pd.Series(_service_name(table), index=df.index, dtype="string")
    for fld in CASE_TIMES:
        out[fld] = (_times(table, cols[fld], bad, reasons, cols[fld]) if fld in cols
                    else pd.Series(pd.NaT, index=df.index, dtype=TIME_DTYPE))
    if "in_person" in cols:
        out["in_person"], _ = parse_bool(df[cols["in_person"]])
    units = df[cols["limit_unit"]] if "limit_unit" in cols else None
    for fld, cal_fld, month_fld in LIMIT_FIELDS:
        if fld not in cols:
            continue
        work, cal, failed, months = parse_sla(df[cols[fld]], units)
        out[fld], out[cal_fld], out[month_fld] = work, cal, months
        if failed.any() and fld == "sla_days":
            out["limit_text"] = df[cols[fld]].astype("string").where(failed.to_numpy(), pd.NA)
            acc.notes.append(f"{table.label}: {int(failed.sum())} values of {cols[fld]!r} not understood as a "
                             "time limit; kept in limit_text")
    if "extension_days" in cols:
        out["extension_days"], out["extension_calendar_days"], _, out["extension_months"] = \
            parse_extension(df[cols["extension_days"]])
    for fld in RATING_FIELDS:  # rating columns of the case table itself
        if fld in cols:
            out[f"attr:{fld}"] = (_times(table, cols[fld], bad, reasons, cols[fld]) if fld.endswith("_time")
                                  else normalize_text(df[cols[fld]]))
    if "materials" in cols:  # documents listed in the case row: handed in at the intake step
        from ..log.parsing import split_materials

        out["_materials"] = pd.Series(list(split_materials(df[cols["materials"]])), index=df.index, dtype=object)
    if "task_type" in cols:  # 即办件 without a limit: 0 working days
        instant = out["task_type"].str.contains("即办", na=False).to_numpy()
        sla = out.get("sla_days", pd.Series(pd.NA, index=df.index, dtype="Float64"))
        out["sla_days"] = sla.where(~(instant & sla.isna().to_numpy()), 0.0)
    mapped = set(cols.values()) | {role.key}
    for c in df.columns:
        if c not in mapped and not (str(c).startswith("列") and df[c].isna().all()):
            out[f"attr:{c}"] = df[c]
    frame = pd.DataFrame(out)
    frame["_row"] = table.rows
    frame["_pos"] = np.arange(n)
    frame["_file"] = table.file
    frame["_sheet"] = table.sheet
    # exact duplicate rows are duplicates; another row for the same case is rejected
    dup = df.duplicated(keep="first").to_numpy() & ~bad
    again = key.duplicated(keep="first").to_numpy() & ~bad & ~dup & key.notna().to_numpy()
    if again.any():
        first = pd.Series(np.arange(n), index=key.to_numpy()).groupby(level=0).first()
        for i in np.flatnonzero(again):
            reasons[i] = (f"case {key.iloc[i]} appears again in this case table (row "
                          f"{table.rows[first[key.iloc[i]]]} is used)")
        bad |= again
    acc.reject(table, np.flatnonzero(bad), reasons[bad])
    keep = ~bad & ~dup
    return frame.loc[keep].reset_index(drop=True), {"rows": n, "duplicates": int(dup.sum()),
                                                    "rejected": int(bad.sum())}


def _merge_cases(primary: pd.DataFrame, extra: pd.DataFrame, table: Table, acc: _Accounts) -> tuple[pd.DataFrame, int]:
    """Fill the primary case rows from a second one-row-per-case table; orphans rejected."""
    known = set(primary["case_id"])
    orphan = ~extra["case_id"].isin(known).to_numpy()
    acc.reject(table, extra.loc[orphan, "_pos"].to_numpy(),
               [f"case {k} is not in the case table" for k in extra.loc[orphan, "case_id"]])
    extra = extra.loc[~orphan].set_index("case_id")
    out = primary.set_index("case_id")
    for col in extra.columns:
        if col.startswith("_"):
            continue
        if col == "service" and col in out and out[col].notna().all():
            continue
        if col.startswith("attr:") and col in out:
            out[f"attr:{table.sheet or Path(table.file).name.split('.')[0]}.{col[5:]}"] = extra[col].reindex(out.index)
            continue
        values = extra[col].reindex(out.index)
        out[col] = out[col].where(out[col].notna(), values) if col in out else values
    return out.reset_index(), int((~orphan).sum())


def _empty_materials(n: int) -> pd.Series:
    arr = pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string()))
    return pd.Series(pd.array(arr, dtype=MATERIALS_DTYPE))


def _step_events(table: Table, role: Role, base: Mapping, acc: _Accounts):
    """The step table through the flat importer's converter (same rejects and parsing)."""
    from .convert import convert_table
    from .readers import RawSheet

    cols = {"case_id": role.key, **{f: c for f, c in role.columns.items() if f in FIELDS}}
    sm = SheetMapping(layout="long", columns=cols, attributes=tuple(c for c in table.frame.columns
                                                                   if c not in cols.values()))
    raw = RawSheet(table.file, table.sheet, table.frame, table.rows, base, kind="csv", title=table.title,
                   sheet_mapping=sm, numeric_columns=table.numeric_columns)
    events, rej, report, notes = convert_table(raw)
    report.kind = "excel" if table.kind == "excel" else "csv"
    acc.rejects.append(rej)
    acc.notes.extend(notes)
    return events, report


def import_tables(tables: list[Table], vocab: Vocabulary, *, duplicates: str = "auto", service: str | None = None,
                  skipped=None, base: Mapping | None = None):
    """Join case/step/document/rating tables into one canonical log (an ImportResult)."""
    from .convert import ImportResult, SheetReport, drop_duplicates

    base = base or load_mapping()
    acc = _Accounts()
    skipped = list(skipped or [])
    classified: list[tuple[Table, Role]] = []
    for t in tables:
        acc.notes.extend(_apply_codes(t, vocab))
        role = classify(t, vocab)
        if role is None:
            from .readers import SkippedSheet

            skipped.append(SkippedSheet(t.file, t.sheet, "no case key or no column of a case, step, document or "
                                                         "rating table"))
            continue
        classified.append((t, role))
    drop = vocab.drop
    for t, _ in classified:
        gone = [c for c in t.frame.columns if normalize_header(c) in drop]
        if gone:
            t.frame = t.frame.drop(columns=gone)
            acc.notes.append(f"{t.label}: column(s) {', '.join(gone)} not copied into the log (secrets)")
    case_tables = [(t, r) for t, r in classified if r.role == "case"]
    if not case_tables and not any(r.role == "step" for _, r in classified):
        raise InputError("neither a case table nor a step table was found among "
                         + ", ".join(t.label for t in tables),
                         hint="name them under 'tables: {case: NAME, step: NAME}' in the mapping file")

    def report_for(t: Table, role: Role) -> SheetReport:
        rep = SheetReport(file=t.file, sheet=t.sheet, layout={"document": "doc"}.get(role.role, role.role), mapping=role.describe(),
                          service_from=Note("service.from_case_table"), kind="excel" if t.kind == "excel" else "csv")
        acc.reports.append(rep)
        return rep

    # 1. cases: the richest one-row-per-case table first, the others fill it
    def richness(tr):
        t, r = tr
        return ("service" in r.columns, "applicant" in r.columns, len(r.columns), -tables.index(t))

    case_tables.sort(key=richness, reverse=True)
    shape0 = tuple(sorted(case_tables[0][1].columns)) if case_tables else ()
    cases = None
    for t, r in case_tables:
        rep = report_for(t, r)
        frame, counts = _case_frame(t, r, acc, service)
        rep.rows_read, rep.duplicates, rep.rejected = counts["rows"], counts["duplicates"], counts["rejected"]
        frame["_table"] = len(acc.reports) - 1
        if cases is None:
            cases = frame
            rep.rows_used = len(frame)
        elif tuple(sorted(r.columns)) == shape0:  # the same table split over sheets/files
            again = frame["case_id"].isin(set(cases["case_id"])).to_numpy()
            acc.reject(t, frame.loc[again, "_pos"].to_numpy(),
                       [f"case {k} appears again in another part of the case table" for k in frame.loc[again, "case_id"]])
            rep.rejected += int(again.sum())
            cases = pd.concat([cases, frame.loc[~again]], ignore_index=True)
            rep.rows_used = int((~again).sum())
        else:
            cases, used = _merge_cases(cases, frame, t, acc)
            rep.rows_used = used
            rep.rejected += len(frame) - used
    steps_only = cases is None
    known = set(cases["case_id"]) if not steps_only else None

    # 2. steps
    events_parts = []
    for t, r in classified:
        if r.role != "step":
            continue
        ev, rep = _step_events(t, r, base, acc)
        rep.layout, rep.mapping, rep.service_from = "step", r.describe(), Note("service.from_case_table")
        acc.reports.append(rep)
        orphan = ~ev["case_id"].isin(known).to_numpy() if not steps_only else np.zeros(len(ev), bool)
        independent = bool(len(ev)) and orphan.all()
        if independent:  # shares no case with the case table: another system's flat event table
            acc.notes.append(f"{t.label}: shares no case with the case table; read as a flat event table")
            rep.layout, rep.mapping = "long", r.describe().replace("step table", "flat event table")
            events_parts.append(ev)
            continue
        if orphan.any():
            pos = np.searchsorted(t.rows, ev.loc[orphan, "source_row"].to_numpy())
            acc.reject(t, pos, [f"case {k} is not in the case table" for k in ev.loc[orphan, "case_id"]])
            rep.rows_used -= int(orphan.sum())
            rep.rejected += int(orphan.sum())
            rep.events -= int(orphan.sum())
            ev = ev.loc[~orphan].reset_index(drop=True)
        if "service" not in r.columns and not steps_only:  # the case table names the service
            ev["service"] = pd.Series(pd.NA, index=ev.index, dtype="string")
        events_parts.append(ev)
    events = pd.concat(events_parts, ignore_index=True) if events_parts else empty_log()
    if steps_only:  # no case table: the cases are those of the steps
        known = set(events["case_id"])
        cases = pd.DataFrame({"case_id": pd.Series(sorted(known), dtype="string")})
        for c in ("department", "_file", "_sheet", "service", "channel", "status", "applicant", "applicant_id"):
            cases[c] = pd.Series(pd.NA, index=cases.index, dtype="string")
        for c in CASE_TIMES:
            cases[c] = pd.Series(pd.NaT, index=cases.index, dtype=TIME_DTYPE)
        cases["_row"], cases["_pos"], cases["_table"] = 0, 0, -1
        acc.notes.append("no case table: the cases are those of the step table(s)")

    # 3. ratings → case attributes
    for t, r in classified:
        if r.role != "rating":
            continue
        rep = report_for(t, r)
        cases = _ratings(t, r, cases, known, acc, rep)
    case_src = cases.set_index("case_id")

    # 4. cases without steps → milestones
    have_steps = set(events["case_id"])
    lonely = cases.loc[~cases["case_id"].isin(have_steps)]
    milestones, no_time = _milestones(lonely)
    if len(no_time):
        for idx, g in no_time.groupby("_table"):
            rep = acc.reports[idx]
            t = next(t for t, r in case_tables if t.file == rep.file and t.sheet == rep.sheet)
            acc.reject(t, g["_pos"].to_numpy(), [f"case {k} has no steps and no 申请/受理/办结/送达 time"
                                                  for k in g["case_id"]])
            rep.rows_used -= len(g)
            rep.rejected += len(g)
        gone = set(no_time["case_id"])
        cases = cases.loc[~cases["case_id"].isin(gone)]
        case_src = cases.set_index("case_id")
    if len(milestones):
        for idx, g in milestones.groupby("_table"):
            acc.reports[idx].events += len(g)
        milestones = milestones.drop(columns=["_table"])
        events = pd.concat([events, milestones], ignore_index=True) if len(events) else milestones
        k = lonely['case_id'].nunique() - len(no_time)
        acc.notes.append(f"{k} case{'s have' if k != 1 else ' has'} no steps: the 申请/受理/办结/送达 times of the case "
                         "table are its events")

    # 5. case fields onto every step
    events = _fill_cases(events, case_src)

    # 6. documents: listed in case rows, then document tables
    if "_materials" in cases.columns:
        events = _case_documents(events, cases, acc)
    for t, r in classified:
        if r.role != "document":
            continue
        rep = report_for(t, r)
        events = _documents(t, r, events, known - set(no_time["case_id"]) if len(no_time) else known, acc, rep,
                            vocab)

    for rep in acc.reports:
        if not rep.balanced:
            raise AssertionError(f"accounting error in {rep.file} [{rep.sheet}]: {rep}")
    rejects = (pd.concat(acc.rejects, ignore_index=True) if acc.rejects else
               pd.DataFrame({"file": pd.array([], dtype="string"), "sheet": pd.array([], dtype="string"),
                             "row": pd.array([], dtype="int64"), "reason": pd.array([], dtype="string")}))
    log, found, dropped = drop_duplicates(events, acc.reports, duplicates)
    if found > dropped:
        acc.notes.append(f"{found - dropped} exact duplicate events found and kept (policy {duplicates!r})")
    log = order_log(_string_attributes(log))
    for s in skipped:
        acc.notes.append(f"{Path(s.file).name} [{s.sheet}] skipped: {s.reason}")
    result = ImportResult(log=log, sheets=acc.reports, rejects=rejects.reset_index(drop=True), skipped=skipped,
                          notes=acc.notes, duplicate_policy=duplicates, duplicates_found=found)
    if result.events == 0:
        raise NothingUsableError(f"no usable rows: all {result.rows_read} data rows were rejected or duplicates")
    return result


def _string_attributes(log: pd.DataFrame) -> pd.DataFrame:
    """Attribute columns that concat turned into objects (absent in some parts) back to strings."""
    for c in log.columns:
        if c not in CANONICAL and log[c].dtype == object:
            if log[c].map(lambda v: v is None or isinstance(v, str) or v is pd.NA or v != v).all():
                log[c] = log[c].astype("string")
    return log


def _ratings(t: Table, r: Role, cases: pd.DataFrame, known: set, acc: _Accounts, rep) -> pd.DataFrame:
    df, cols = t.frame, r.columns
    n = len(df)
    rep.rows_read = n
    reasons = np.full(n, None, dtype=object)
    bad = _summary_rows(df)
    reasons[bad] = "summary row (合计/总计), not a rating"
    key = _keys(t, r)
    for mask, why in ((key.isna().to_numpy(), f"no case key ({r.key} is empty)"),
                      (normalize_text(df[cols["rating"]]).isna().to_numpy(), f"no rating ({cols['rating']} is empty)")):
        new = mask & ~bad
        reasons[new] = why
        bad |= new
    _damaged(t, r, key, bad, reasons)
    values = {}
    for fld in RATING_FIELDS:
        if fld not in cols:
            continue
        if fld.endswith("_time"):
            values[fld] = _times(t, cols[fld], bad, reasons, cols[fld])
        else:
            values[fld] = normalize_text(df[cols[fld]])
    orphan = ~key.isin(known).to_numpy() & ~bad
    reasons[orphan] = [f"case {k} is not in the case table" for k in key[orphan]]
    bad |= orphan
    dup = df.duplicated(keep="first").to_numpy() & ~bad
    ok = np.flatnonzero(~bad & ~dup)
    # several ratings of one case: the latest (by rating_time, else the last row) is kept
    order = pd.DataFrame({"key": key.iloc[ok].to_numpy(), "pos": ok})
    if "rating_time" in values:
        order["t"] = values["rating_time"].iloc[ok].to_numpy()
        order = order.sort_values(["key", "t", "pos"], na_position="first")
    last = order.groupby("key", sort=False).tail(1)
    earlier = np.setdiff1d(ok, last["pos"].to_numpy())
    for i in earlier:
        reasons[i] = f"an earlier rating of case {key.iloc[i]} (the latest rating is kept)"
    bad[earlier] = True
    acc.reject(t, np.flatnonzero(bad), reasons[bad])
    rep.rejected, rep.duplicates, rep.rows_used = int(bad.sum()), int(dup.sum()), len(last)
    pos = last["pos"].to_numpy()
    table = pd.DataFrame({fld: v.iloc[pos].to_numpy() for fld, v in values.items()}, index=last["key"].to_numpy())
    mapped = set(cols.values()) | {r.key}
    out = cases.set_index("case_id")
    for fld in RATING_FIELDS:
        if fld in table:
            col = table[fld].reindex(out.index)
            out[f"attr:{fld}"] = col.astype(TIME_DTYPE) if fld.endswith("_time") else col.astype("string")
    label = t.sheet or Path(t.file).name.split(".")[0]
    for c in df.columns:
        if c not in mapped and not df[c].isna().all():
            out[f"attr:{label}.{c}"] = pd.Series(df[c].iloc[pos].to_numpy(), index=table.index).reindex(out.index)
    return out.reset_index()


def _milestones(cases: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events 申请/受理/办结/送达 at a step-less case's own times; cases with none of them apart."""
    any_time = cases[[f for f, _ in MILESTONES]].notna().any(axis=1)
    no_time = cases.loc[~any_time]
    frames = []
    for order, (fld, name) in enumerate(MILESTONES):
        sub = cases.loc[cases[fld].notna()]
        if len(sub):
            frames.append(pd.DataFrame({
                "case_id": sub["case_id"].to_numpy(), "activity": name, "department": sub["department"].to_numpy(),
                "start_time": sub[fld].to_numpy(), "end_time": sub[fld].to_numpy(),
                "source_file": sub["_file"].to_numpy(), "source_sheet": sub["_sheet"].to_numpy(),
                "source_row": sub["_row"].to_numpy(), "_table": sub["_table"].to_numpy(), "_order": order}))
    if not frames:
        return pd.DataFrame(), no_time
    ms = pd.concat(frames, ignore_index=True).sort_values(["case_id", "_order"], kind="stable")
    ms = ms.drop(columns="_order").reset_index(drop=True)
    out = {}
    for name, dtype in CANONICAL.items():
        if name == "materials":
            out[name] = _empty_materials(len(ms))
        elif name in ms:
            out[name] = ms[name].astype(dtype)
        else:
            out[name] = pd.Series(pd.NaT if dtype == TIME_DTYPE else pd.NA, index=ms.index, dtype=dtype)
    out["_table"] = ms["_table"]
    return pd.DataFrame(out), no_time


def _fill_cases(events: pd.DataFrame, cases: pd.DataFrame) -> pd.DataFrame:
    """Case-level fields and attributes of the case table onto each event."""
    ev = events.reset_index(drop=True)
    idx = cases.index.get_indexer(ev["case_id"])
    hit = idx >= 0

    def take(col):
        values = cases[col].iloc[np.where(hit, idx, 0)].reset_index(drop=True)
        return values.where(pd.Series(hit), pd.NA if values.dtype != TIME_DTYPE else pd.NaT)

    for col in ("service", "channel", "in_person", "sla_days", "apply_time", "accept_time", "finish_time",
                "deliver_time", "due_time", "status", "sla_calendar_days", "statutory_days", "limit_text",
                "applicant", "applicant_id", "sla_months", "statutory_calendar_days", "statutory_months",
                "extension_days", "extension_calendar_days", "extension_months"):
        if col not in cases:
            continue
        values = take(col).astype(CANONICAL[col])
        if col == "in_person":  # a case-level 是否到场 counts once per case: yes at its first step only
            ts = ev["start_time"].fillna(ev["end_time"])
            first = ~pd.DataFrame({"c": ev["case_id"], "t": ts}).sort_values(["c", "t"], kind="stable")["c"] \
                .duplicated().sort_index().to_numpy()
            values = values.where(pd.Series(first) | values.eq(False).fillna(False), pd.NA)
            ev[col] = ev[col].where(ev[col].notna(), values)
        elif col == "channel":  # a step's own value wins; the case's fills in
            ev[col] = ev[col].where(ev[col].notna(), values)
        else:
            ev[col] = values.where(values.notna(), ev[col])
    extra = {}
    if "department" in cases and cases["department"].notna().any():
        extra["case_department"] = take("department").astype("string")
    if "task_type" in cases and cases["task_type"].notna().any():
        extra["task_type"] = take("task_type").astype("string")
    for col in cases.columns:
        if col.startswith("attr:"):
            name = col[5:]
            values = take(col)
            if name in RATING_FIELDS and name in CANONICAL:  # 好差评 columns are canonical case-level fields
                ev[name] = values.astype(CANONICAL[name])
                continue
            if name in CANONICAL or name in ev.columns or name in extra:
                name = f"case.{name}"
            extra[name] = values.astype("string") if values.dtype == object else values
    if extra:
        ev = pd.concat([ev, pd.DataFrame(extra, index=ev.index)], axis=1)
    return ev


def _intake(ev: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """(events in time order with their position ``_i``, first step per case, intake step per case)."""
    ordered = order_log(ev.assign(_i=np.arange(len(ev)))) if len(ev) else ev.assign(_i=[])
    first = ordered.groupby("case_id", sort=False)["_i"].first()
    intake_rows = ordered.loc[ordered["activity"].str.contains(INTAKE, na=False)]
    return ordered, first, intake_rows.groupby("case_id", sort=False)["_i"].first()


def _case_documents(events: pd.DataFrame, cases: pd.DataFrame, acc: _Accounts) -> pd.DataFrame:
    ev = events.reset_index(drop=True)
    _, first, intake = _intake(ev)
    mats = [list(m) if m is not None else [] for m in ev["materials"]]
    n = 0
    for case, docs in zip(cases["case_id"], cases["_materials"]):
        target = intake.get(case, first.get(case))
        if target is None or not isinstance(docs, list):
            continue
        for doc in docs:
            if doc not in mats[target]:
                mats[target].append(doc)
                n += 1
    ev["materials"] = pd.Series(pd.array(pa.array(mats, type=MATERIALS_TYPE), dtype=MATERIALS_DTYPE))
    if n:
        acc.notes.append(f"{n} documents listed in case rows attached to each case's intake step")
    return ev


def _documents(t: Table, r: Role, events: pd.DataFrame, known: set, acc: _Accounts, rep,
               vocab: Vocabulary | None = None) -> pd.DataFrame:
    df, cols = t.frame, r.columns
    n = len(df)
    rep.rows_read = n
    reasons = np.full(n, None, dtype=object)
    bad = _summary_rows(df)
    reasons[bad] = "summary row (合计/总计), not a document"
    key = _keys(t, r)
    name = normalize_text(df[cols["document"]])
    for mask, why in ((key.isna().to_numpy(), f"no case key ({r.key} is empty)"),
                      (name.isna().to_numpy(), f"no document name ({cols['document']} is empty)")):
        new = mask & ~bad
        reasons[new] = why
        bad |= new
    _damaged(t, r, key, bad, reasons)
    orphan = ~key.isin(known).to_numpy() & ~bad
    reasons[orphan] = [f"case {k} is not in the case table" for k in key[orphan]]
    bad |= orphan
    dup = df.duplicated(keep="first").to_numpy() & ~bad
    acc.reject(t, np.flatnonzero(bad), reasons[bad])
    ok = np.flatnonzero(~bad & ~dup)
    rep.rejected, rep.duplicates, rep.rows_used = int(bad.sum()), int(dup.sum()), len(ok)
    take = normalize_text(df[cols["take"]]) if "take" in cols else None
    step = normalize_text(df[cols["step"]]) if "step" in cols else None
    ev = events.reset_index(drop=True)
    # the intake step of each case: first 收件/受理-like step, else the first step (events are in time order)
    ordered, first, intake = _intake(ev)
    by_name = ordered.groupby(["case_id", "activity"], sort=False)["_i"].first()
    # a step id in the document table, looked up among the step table's id columns
    by_key: dict = {}
    step_key = normalize_text(df[cols["step_key"]]) if "step_key" in cols else None
    if step_key is not None:
        wanted = (normalize_header(cols["step_key"]),) + (vocab.step_id if vocab else ())
        id_cols = [c for c in ev.columns if c not in CANONICAL and normalize_header(c) in wanted]
        for c in id_cols:
            ids = normalize_text(ev[c].astype("string"))
            for case, value, i in zip(ev["case_id"], ids, range(len(ev))):
                if pd.notna(value):
                    by_key.setdefault((case, value), i)
    mats = [list(m) if m is not None else [] for m in ev["materials"]]
    takes: dict[int, list[str]] = {}
    named = 0
    for i in ok:
        case = key.iloc[i]
        target = None
        if step_key is not None and pd.notna(step_key.iloc[i]):
            target = by_key.get((case, step_key.iloc[i]))
            named += target is not None
        if target is None and step is not None and pd.notna(step.iloc[i]):
            target = by_name.get((case, step.iloc[i]))
            named += target is not None
        if target is None:
            target = intake.get(case, first.get(case))
        if target is None:
            continue
        doc = name.iloc[i]
        if doc not in mats[target]:
            mats[target].append(doc)
        if take is not None and pd.notna(take.iloc[i]):
            takes.setdefault(target, []).append(f"{doc}:{take.iloc[i]}")
    ev["materials"] = pd.Series(pd.array(pa.array(mats, type=MATERIALS_TYPE), dtype=MATERIALS_DTYPE))
    if takes:
        col = np.full(len(ev), None, dtype=object)
        for target, items in takes.items():
            col[target] = "、".join(items)
        new = pd.Series(col, dtype="string")
        ev["document_take"] = new if "document_take" not in ev else ev["document_take"].where(new.isna(), new)
    linked = step is not None or step_key is not None
    where = "the step the table names, else the intake step" if linked else "the intake step"
    acc.notes.append(f"{t.label}: {len(ok)} documents attached to {where}"
                     + (f" ({named} to a named step)" if linked else ""))
    return ev


_RELATIONAL_KEYS = ("tables", "keys", "key", "case", "step", "document", "rating", "relational", "codes", "dialect")


def flat_mapping(mapping):
    """What the flat importer should load for ``--mapping``: a relational-only
    file or preset (no ``fields:``) leaves the default column names in place."""
    data = user_mapping_data(mapping)
    if data and not data.get("fields") and not data.get("fallback") and any(k in data for k in _RELATIONAL_KEYS):
        return None
    return mapping


def finish(converted, duplicates: str = "auto", skipped=()):
    """Flat tables already converted (``convert.convert_table`` results) → an ImportResult."""
    from .convert import ImportResult, drop_duplicates

    parts = [c[0] for c in converted]
    rejects = [c[1] for c in converted]
    reports = [c[2] for c in converted]
    notes = [n for c in converted for n in c[3]]
    log = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else empty_log()
    rej = pd.concat(rejects, ignore_index=True)
    log, found, dropped = drop_duplicates(log, reports, duplicates)
    if found > dropped:
        notes.append(f"{found - dropped} exact duplicate events found and kept (policy {duplicates!r})")
    result = ImportResult(log=order_log(log), sheets=reports, rejects=rej.reset_index(drop=True),
                          skipped=list(skipped), notes=notes, duplicate_policy=duplicates, duplicates_found=found)
    if result.events == 0:
        raise NothingUsableError(f"no usable rows: all {result.rows_read} data rows were rejected or duplicates")
    return result
