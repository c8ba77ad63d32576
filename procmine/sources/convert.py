"""Exports' tables → canonical events: one table converted, duplicates dropped, every row accounted for."""


import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import MappingError
from ..messages import Note
from ..log.eventlog import CANONICAL, LIMIT_FIELDS, TIME_DTYPE
from .mapping import LIFECYCLE_TIMES, SheetMapping, map_columns
from ..log.parsing import (MATERIALS_DTYPE, damaged_ids, normalize_header, normalize_text, parse_bool, parse_extension, parse_sla, parse_times, split_materials, str_match)
from .readers import RawSheet, SkippedSheet

DUPLICATE_POLICIES = ("auto", "drop", "keep")


@dataclass
class SheetReport:
    """Accounting for one sheet: rows_read = rows_used + duplicates + rejected."""

    file: str
    sheet: str
    layout: str
    mapping: str
    service_from: str
    rows_read: int = 0
    rows_used: int = 0
    events: int = 0
    duplicates: int = 0
    rejected: int = 0
    kind: str = "excel"
    event_log: bool = False  # an event log in XES standard names (re-exported): duplicates are kept in auto
    title: str | None = None  # the text above the header (e.g. "办件明细 导出时间：2024-03-05 08:00")

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_used + self.duplicates + self.rejected


@dataclass
class ImportResult:
    """What :func:`read_export` returns: the log and the accounting behind it."""

    log: pd.DataFrame
    sheets: list[SheetReport]
    rejects: pd.DataFrame  # file, sheet, row, reason
    skipped: list[SkippedSheet] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duplicate_policy: str = "auto"
    duplicates_found: int = 0

    @property
    def rows_read(self) -> int:
        return sum(s.rows_read for s in self.sheets)

    @property
    def events(self) -> int:
        return len(self.log)

    @property
    def cases(self) -> int:
        return int(self.log["case_id"].nunique())

    @property
    def duplicates(self) -> int:
        return sum(s.duplicates for s in self.sheets)

    def to_dict(self) -> dict:
        """The ``--json`` summary."""
        return {
            "rows_read": self.rows_read,
            "events": self.events,
            "cases": self.cases,
            "duplicates": self.duplicates,
            "rows_used": sum(s.rows_used for s in self.sheets),
            "rejected": [{"file": r.file, "sheet": r.sheet, "row": int(r.row), "reason": r.reason}
                         for r in self.rejects.itertuples(index=False)],
            "sheets": [{"file": s.file, "sheet": s.sheet, "layout": s.layout, "mapping": s.mapping,
                        "service_from": s.service_from, "rows_read": s.rows_read, "rows_used": s.rows_used,
                        "events": s.events, "duplicates": s.duplicates, "rejected": s.rejected}
                       for s in self.sheets],
            "skipped_sheets": [{"file": s.file, "sheet": s.sheet, "reason": s.reason} for s in self.skipped],
            "notes": list(self.notes),
        }


def top_reasons(rej: pd.DataFrame, k: int = 5) -> str:
    if rej.empty:
        return ""
    counts = rej["reason"].str.replace(r"'[^']*'", "'…'", regex=True).value_counts().head(k)
    return "most common reasons:\n" + "\n".join(f"  {n} × {r}" for r, n in counts.items())


def rejects_frame(files, sheets, rows, reasons) -> pd.DataFrame:
    return pd.DataFrame({"file": pd.array(files, dtype="string"), "sheet": pd.array(sheets, dtype="string"),
                         "row": pd.array(rows, dtype="int64"), "reason": pd.array(reasons, dtype="string")})


_SERVICE_JUNK = re.compile(r"(办件|办理|业务)?(明细|清单|台账|数据|信息|记录|流水|过程|日志|统计)*(表|导出|报表)?$|"
                           r"[\(（\[【].*?[\)）\]】]|\d{4}\s*年?.*$|导出|^.*?[:：]")


def service_from_table(table: RawSheet) -> tuple[str | None, str]:
    if table.mapping.service:
        return str(table.mapping.service), Note("service.from_mapping")
    if table.title:
        text = unicodedata.normalize("NFKC", table.title.split()[0]).strip()
        name = _SERVICE_JUNK.sub("", text).strip(" -_")
        if len(name) >= 2:
            return name, Note("service.from_title", title=table.title[:40])
    if table.sheet and not re.fullmatch(r"(sheet|工作表|表)\s*\d*", table.sheet, re.I):
        return table.sheet, Note("service.from_sheet", sheet=table.sheet)
    stem = Path(table.file).name.split(".")[0]
    return stem, Note("service.from_file", stem=stem)


_SUMMARY = r"\s*(?:合\s*计|总\s*计|小\s*计|共\s*计|总数|汇总|累计|(?i:total|sum)\b)"


class _Rows:
    """Collects per-row rejections, first reason wins."""

    def __init__(self, n: int) -> None:
        self.reason = np.full(n, None, dtype=object)
        self._ok = np.ones(n, dtype=bool)

    def reject(self, mask, reason) -> None:
        """``reason``: a string, or a function of the row positions giving one per row."""
        mask = np.asarray(mask, dtype=bool) & self._ok
        if not mask.any():
            return
        self._ok &= ~mask
        if isinstance(reason, str):
            self.reason[mask] = reason
        else:
            where = np.flatnonzero(mask)
            self.reason[where] = np.asarray(list(reason(where)), dtype=object)

    @property
    def ok(self) -> np.ndarray:
        return self._ok.copy()


def convert_table(table: RawSheet, keep_raw: frozenset[str] = frozenset()
             ) -> tuple[pd.DataFrame, pd.DataFrame, SheetReport, list[str]]:
    """One table → events, rejects, its report and notes. A yes/no or time-limit
    column with values not understood is kept raw as an attribute; ``keep_raw``
    names columns to keep raw anyway (a streamed batch whose other batches have
    such values, so every batch has the same columns as the whole table would)."""
    df = table.frame
    sm: SheetMapping = table.sheet_mapping or map_columns(
        list(df.columns), table.mapping, where=f"{Path(table.file).name} [{table.sheet}]: " if table.sheet else "")
    cols = sm.columns
    n = len(df)
    rows = _Rows(n)
    notes: list[str] = []
    where = f"{Path(table.file).name}" + (f" [{table.sheet}]" if table.sheet else "")

    # Column parsers are independent and Arrow releases the GIL: run them on
    # two threads. Results are looked up below by column name.
    import concurrent.futures as cf

    time_cols = [c for c in (cols.get("start_time"), cols.get("end_time")) if c]
    time_cols += [cols[f] for f in LIFECYCLE_TIMES if f in cols]
    time_cols += [c for st in sm.stages for c in (st.start, st.end) if c]
    text_cols = [cols[f] for f in ("case_id", "activity", "department", "resource", "service", "channel", "status",
                                   "applicant", "applicant_id", "rating", "rating_channel", "rating_text",
                                   "rectify_status") if f in cols]
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {("t", c): pool.submit(parse_times, df[c]) for c in dict.fromkeys(time_cols)}
        if table.kind != "xes":
            futures.update({("s", c): pool.submit(normalize_text, df[c]) for c in dict.fromkeys(text_cols)})
        # Summary/footer rows: 合计 in the case id or the first cells.
        futures.update({("m", c): pool.submit(str_match, df[c], _SUMMARY) for c in df.columns[: min(3, df.shape[1])]})
        done = {k: f.result() for k, f in futures.items()}
    parsed_times = {c: v for (kind, c), v in done.items() if kind == "t"}
    normalized = {c: v for (kind, c), v in done.items() if kind == "s"}

    def norm(c: str) -> pd.Series:
        return normalized[c] if c in normalized else normalize_text(df[c])

    case = norm(cols["case_id"]) if table.kind != "xes" else df[cols["case_id"]].astype("string")
    summary = np.zeros(n, dtype=bool)
    for (kind, _), hit in done.items():
        if kind == "m":
            summary |= hit
    rows.reject(summary, "summary row (合计/总计), not a case")
    rows.reject(case.isna().to_numpy(), f"no case id ({cols['case_id']} is empty)")
    if sm.layout == "wide" and table.mapping.layout == "auto":
        _one_row_per_case(df, case, rows.ok, sm, cols["case_id"], where)
    numeric = cols["case_id"] in table.numeric_columns
    bad_id = damaged_ids(case, numeric).to_numpy()
    if bad_id.any():
        rows.reject(bad_id, lambda where: (f"case id {case.iloc[i]} was stored by Excel as a number and may have "
                                           "lost digits (Excel keeps 15); distinct cases could merge — re-export "
                                           "the column as text" for i in where))
        notes.append(f"{where}: {int(bad_id.sum())} rows have case ids Excel damaged (scientific notation or "
                     f"more than 15 digits); they were rejected so no two cases are merged by accident")
    service_col = cols.get("service")
    if service_col:
        svc = norm(service_col)
        service_from = Note("service.from_column", column=service_col)
        fallback, _ = service_from_table(table)
        if svc.isna().any():
            svc = svc.fillna(fallback or "")
    else:
        name, service_from = service_from_table(table)
        svc = _same_text(name, df.index)

    def text(fld: str) -> pd.Series:
        c = cols.get(fld)
        if not c:
            return _no_text(df.index)
        return norm(c) if table.kind != "xes" else df[c].astype("string")

    common = {
        "case_id": case, "service": svc, "channel": text("channel"),
    }
    extra_attrs: dict[str, pd.Series] = {}
    if "in_person" in cols:
        flags, bad = parse_bool(df[cols["in_person"]])
        common["in_person"] = flags
        if bad.any():
            examples = ", ".join(map(repr, df.loc[bad, cols["in_person"]].dropna().unique()[:3]))
            notes.append(f"{where}: {int(bad.sum())} values of {cols['in_person']!r} not understood as yes/no "
                         f"({examples}); in_person left unknown, raw text kept")
            extra_attrs[cols["in_person"]] = df[cols["in_person"]]
        elif cols["in_person"] in keep_raw:
            extra_attrs[cols["in_person"]] = df[cols["in_person"]]
    else:
        common["in_person"] = pd.Series(pd.NA, index=df.index, dtype="boolean")
    units = df[cols["limit_unit"]] if "limit_unit" in cols else None
    for fld, cal_fld, month_fld in LIMIT_FIELDS:
        if fld not in cols:
            common[fld] = pd.Series(pd.NA, index=df.index, dtype="Float64")
            continue
        work, cal, bad, months = parse_sla(df[cols[fld]], units)
        common[fld], common[cal_fld], common[month_fld] = work, cal, months
        if cal.notna().any():
            notes.append(f"{where}: {int(cal.notna().sum())} values of {cols[fld]!r} are in calendar days (天/自然日); "
                         f"kept in {cal_fld} and counted in calendar days, not converted to working days")
        if bad.any():
            raw = df[cols[fld]].astype("string")
            if fld == "sla_days":
                common["limit_text"] = raw.where(bad.to_numpy(), pd.NA)
            examples = ", ".join(map(repr, raw[bad].dropna().unique()[:3]))
            notes.append(f"{where}: {int(bad.sum())} values of {cols[fld]!r} not understood as a time limit "
                         f"({examples}); the cases are listed as 'limit not understood' in the audit, raw text kept")
            extra_attrs[cols[fld]] = df[cols[fld]]
        elif cols[fld] in keep_raw:
            extra_attrs[cols[fld]] = df[cols[fld]]
    if "extension_days" in cols:  # 延期 (§42): what an approved extension adds, in the unit stated
        ext, ext_cal, ext_bad, ext_months = parse_extension(df[cols["extension_days"]])
        common["extension_days"] = ext
        common["extension_calendar_days"] = ext_cal
        common["extension_months"] = ext_months
        if ext_bad.any():
            notes.append(f"{where}: {int(ext_bad.sum())} values of {cols['extension_days']!r} not understood "
                         "as a length (10, 10个工作日, 30个自然日, 1个月); those extensions count as the law's "
                         "10 working days (§42), raw text kept")
            extra_attrs[cols["extension_days"]] = df[cols["extension_days"]]
    for fld in ("status", "applicant", "applicant_id", "rating", "rating_channel", "rating_text", "rectify_status"):
        common[fld] = text(fld)
    if "step_sla_days" in cols:
        step_work, _, step_bad, _ = parse_sla(df[cols["step_sla_days"]])
        common["step_sla_days"] = step_work
        if step_bad.any():
            notes.append(f"{where}: {int(step_bad.sum())} step limits in {cols['step_sla_days']!r} not understood; "
                         "raw text kept")
            extra_attrs[cols["step_sla_days"]] = df[cols["step_sla_days"]]
        elif cols["step_sla_days"] in keep_raw:
            extra_attrs[cols["step_sla_days"]] = df[cols["step_sla_days"]]
    lifecycle_times = [f for f in LIFECYCLE_TIMES if f in cols]
    for fld in lifecycle_times:
        times, _ = _time_column(df, cols[fld], rows, parsed_times)
        common[fld] = times
    materials = split_materials(df[cols["materials"]]) if "materials" in cols else None
    mapped = set(cols.values()) | {c for st in sm.stages for c in (st.start, st.end, st.department, st.resource) if c}
    attrs = {c: df[c] for c in df.columns if c not in mapped and not (c.startswith("列") and df[c].isna().all())}
    attrs.update(extra_attrs)

    if sm.layout == "wide":
        events, used = _wide_events(df, sm, rows, common, materials, text, parsed_times)
    else:
        events, used = _long_events(df, cols, rows, common, materials, text, parsed_times)
    ok = rows.ok
    # attach attributes and provenance
    src_pos = events.pop("_pos").to_numpy()
    extra = {}
    for name, series in attrs.items():
        key = name if name not in CANONICAL else f"{name}_src"
        col = series.iloc[src_pos].reset_index(drop=True)
        extra[key] = col.astype("string") if col.dtype == object else col
    if extra:
        events = pd.concat([events, pd.DataFrame(extra, index=events.index)], axis=1)
    events["source_file"] = _same_text(Path(table.file).name, events.index)
    events["source_sheet"] = _same_text(table.sheet, events.index)
    events["source_row"] = table.rows[src_pos].astype("int64")
    bad = ~ok
    rej = rejects_frame([Path(table.file).name] * int(bad.sum()), [table.sheet] * int(bad.sum()),
                         table.rows[bad], rows.reason[bad])
    report = SheetReport(file=Path(table.file).name, sheet=table.sheet, layout=sm.layout, mapping=sm.describe(),
                         service_from=service_from, rows_read=n, rows_used=int(used), events=len(events),
                         rejected=int(bad.sum()), kind=table.kind,
                         event_log=normalize_header(cols["case_id"]) == normalize_header("case:concept:name"),
                         title=table.title)
    return events, rej, report, notes


def _one_row_per_case(df: pd.DataFrame, case: pd.Series, ok: np.ndarray, sm: SheetMapping, case_col: str,
                      where: str) -> None:
    """A sheet read as a 台账 (wide: one row per case, one column per stage)
    must have one row per case; a case on several different rows is a step table
    whose step column is missing, and reading it as stages would invent events."""
    ids = case[ok]
    repeated = ids.duplicated(keep=False).to_numpy()
    if not repeated.any():
        return
    # the same row twice is a duplicate (counted later), not a second step
    distinct = ~df.loc[ok].duplicated(keep="first").to_numpy()
    again = ids[distinct & repeated]
    counts = again.value_counts()
    counts = counts[counts > 1]
    if counts.empty:
        return
    example, times = counts.index[0], int(counts.iloc[0])
    stages = ", ".join(s.name for s in sm.stages)
    raise MappingError(
        f"{where}: no column for 办理环节 (step): case {example} is on {times} different rows "
        f"({len(counts)} cases are on more than one), so this is a step table (one row per step), "
        f"not a 台账 (one row per case with a time column per stage: {stages})",
        hint=(f"columns found: {', '.join(map(str, df.columns))}\n"
              f"add the step column (办理环节, 环节名称, 节点名称 …) to the export, or name it in a mapping file "
              f"(fields: {{activity: COLUMN}}, see templates/mappings/example.yaml) and pass --mapping FILE; "
              f"if the sheet really is a 台账 with a case on several rows, say 'layout: wide' in the mapping file"))


# Fields that come from the row, not from a step: copied onto every event of the row.
COMMON = ("case_id", "service", "channel", "in_person", "sla_days", "apply_time", "accept_time", "finish_time",
          "deliver_time", "due_time", "status", "sla_calendar_days", "statutory_days", "limit_text", "applicant",
          "applicant_id", "rating", "rating_time", "rating_channel", "rating_text", "rectify_status", "rectify_time",
          "step_sla_days", "sla_months", "statutory_calendar_days", "statutory_months", "extension_days",
          "extension_calendar_days", "extension_months")


def _time_column(df: pd.DataFrame, col: str | None, rows: _Rows, parsed: dict, label: str | None = None):
    if not col:
        return pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, Asia/Shanghai]"), np.zeros(len(df), bool)
    times, failed = parsed[col] if col in parsed else parse_times(df[col])
    if failed.any():
        raw = df[col]
        rows.reject(failed.to_numpy(), lambda where: (f"unparseable time in {label or col}: '{raw.iloc[i]}'"
                                                      for i in where))
    return times, failed.to_numpy()


def _take(series: pd.Series, pos: np.ndarray) -> pd.Series:
    """The rows at ``pos`` (ascending, distinct), renumbered; all of them without a copy."""
    if len(pos) == len(series):
        return series.reset_index(drop=True)
    return series.iloc[pos].reset_index(drop=True)


def _long_events(df, cols, rows: _Rows, common, materials, text, parsed):
    activity = text("activity")
    rows.reject(activity.isna().to_numpy(), f"no step name ({cols['activity']} is empty)")
    start, _ = _time_column(df, cols.get("start_time"), rows, parsed)
    end, _ = _time_column(df, cols.get("end_time"), rows, parsed)
    rows.reject((start.isna() & end.isna()).to_numpy(), "no start or end time")
    backwards = (end < start).fillna(False).to_numpy()
    if backwards.any():
        rows.reject(backwards, lambda where: (f"end {end.iloc[i]:%Y-%m-%d %H:%M} is before start "
                                              f"{start.iloc[i]:%Y-%m-%d %H:%M}" for i in where))
    pos = np.flatnonzero(rows.ok)
    ev = {"_pos": pd.Series(pos), "activity": _take(activity, pos), "department": _take(text("department"), pos),
          "resource": _take(text("resource"), pos), "start_time": _take(start, pos), "end_time": _take(end, pos)}
    for name in COMMON:
        if name in common:
            ev[name] = _take(common[name], pos)
    ev["materials"] = _take(materials, pos) if materials is not None else None
    return _typed(ev, len(pos)), len(pos)


def _wide_events(df, sm: SheetMapping, rows: _Rows, common, materials, text, parsed):
    stage_times = []
    for st in sm.stages:
        start, _ = _time_column(df, st.start, rows, parsed, st.start)
        end, _ = _time_column(df, st.end, rows, parsed, st.end)
        backwards = (end < start).fillna(False).to_numpy()
        if backwards.any():
            rows.reject(backwards, f"{st.name}: end before start")
        stage_times.append((st, start, end))
    any_time = np.zeros(len(df), dtype=bool)
    for _, s, e in stage_times:
        any_time |= (s.notna() | e.notna()).to_numpy()
    rows.reject(~any_time, "no stage time filled in (" + ", ".join(s.name for s in sm.stages) + ")")
    ok = rows.ok
    dept_all, res_all = text("department"), text("resource")
    frames = []
    seen = np.zeros(len(df), dtype=bool)
    for st, start, end in stage_times:
        pos = np.flatnonzero(ok & (start.notna() | end.notna()).to_numpy())
        if not len(pos):
            continue
        dept = normalize_text(df[st.department]) if st.department else dept_all
        res = normalize_text(df[st.resource]) if st.resource else res_all
        ev = {"_pos": pd.Series(pos), "activity": _same_text(st.name, pd.RangeIndex(len(pos))),
              "department": _take(dept, pos), "resource": _take(res, pos),
              "start_time": _take(start, pos), "end_time": _take(end, pos)}
        for name in COMMON:
            if name in common:
                ev[name] = _take(common[name], pos)
        # A case-level 是否到场 counts once per case: yes → at the first stage the row
        # has (the intake); no → at none.
        if "in_person" in common:
            flag = _take(common["in_person"], pos)
            ev["in_person"] = flag.where(pd.Series(~seen[pos]) | flag.eq(False).fillna(False), pd.NA)
        # Documents are handed over once, at the first stage the row has.
        if materials is not None:
            first = ~seen[pos]
            mats = _take(materials, pos)
            ev["materials"] = mats.where(pd.Series(first), _empty_materials(len(pos)))
        seen[pos] = True
        frames.append(_typed(ev, len(pos)))
    if not frames:
        return _typed({"_pos": pd.Series([], dtype="int64")}, 0), 0
    return pd.concat(frames, ignore_index=True), int(ok.sum())


def _no_text(index: pd.Index) -> pd.Series:
    """An all-missing string column, built as Arrow buffers (pandas fills it from pd.NA row by row)."""
    n = len(index)
    # zeroed buffers from calloc: pages the OS maps on first read, not written here
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(np.zeros(n + 1, np.int64)), pa.py_buffer(b""),
                                           pa.py_buffer(np.zeros((n + 7) // 8, np.uint8)), null_count=n)
    return pd.Series(pd.array(arr, dtype="string"), index=index)


def _same_text(value: str | None, index: pd.Index) -> pd.Series:
    """One string on every row, its Arrow buffers written at once (pandas takes it row by row)."""
    if value is None:
        return _no_text(index)
    raw = str(value).encode("utf-8")
    offsets = np.arange(len(index) + 1, dtype=np.int64) * len(raw)
    arr = pa.LargeStringArray.from_buffers(len(index), pa.py_buffer(offsets), pa.py_buffer(raw * len(index)))
    return pd.Series(pd.array(arr, dtype="string"), index=index)


def _empty_materials(n: int) -> pd.Series:
    arr = pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string()))
    return pd.Series(pd.array(arr, dtype=MATERIALS_DTYPE))


def _typed(ev: dict, n: int) -> pd.DataFrame:
    """Canonical column order and dtypes; absent fields become empty."""
    data = {"_pos": ev["_pos"].astype("int64")}
    for name, dtype in CANONICAL.items():
        if name.startswith("source_"):
            continue
        col = ev.get(name)
        if name == "materials":
            data[name] = col if col is not None else _empty_materials(n)
        elif col is None:
            data[name] = (_no_text(pd.RangeIndex(n)) if dtype == "string" else
                          pd.Series(pd.NA if dtype != TIME_DTYPE else pd.NaT, index=range(n), dtype=dtype))
        else:
            data[name] = col.astype(dtype)
    return pd.DataFrame(data, copy=False)


def drop_duplicates(log: pd.DataFrame, reports: list[SheetReport], policy: str):
    """Exact duplicate events (all columns equal but provenance) → dropped or kept."""
    if log.empty:
        return log, 0, 0
    key_cols = [c for c in log.columns if c not in ("source_file", "source_sheet", "source_row")]
    # Only rows equal on a few cheap columns can be exact duplicates: those whose
    # hash of the columns is shared (a superset, made exact below).
    candidates = pd.Series(_row_hash(log, ["case_id", "activity", "start_time", "end_time"])
                           ).duplicated(keep=False).to_numpy()
    if not candidates.any():
        return log, 0, 0
    sub = log.loc[candidates, key_cols].copy()
    sub["materials"] = pd.array(pc.binary_join(pa.array(sub["materials"].array), "\x1f"), dtype="string")
    dup = np.zeros(len(log), dtype=bool)
    dup[np.flatnonzero(candidates)] = sub.duplicated(keep="first").to_numpy()
    found = int(dup.sum())
    if not found:
        return log, 0, 0
    excel_sources = {(r.file, r.sheet) for r in reports if r.kind == "excel" and not r.event_log}
    src = list(zip(log["source_file"], log["source_sheet"]))
    if policy == "keep":
        drop = np.zeros(len(log), dtype=bool)
    elif policy == "drop":
        drop = dup
    else:
        drop = dup & np.array([s in excel_sources for s in src], dtype=bool)
    if drop.any():
        dropped = log.loc[drop, ["source_file", "source_sheet", "source_row"]]
        kept_rows = set(zip(log.loc[~drop, "source_file"], log.loc[~drop, "source_sheet"], log.loc[~drop, "source_row"]))
        for r in reports:
            mine = dropped[(dropped["source_file"] == r.file) & (dropped["source_sheet"] == r.sheet)]
            if mine.empty:
                continue
            r.events -= len(mine)
            gone_rows = {row for row in mine["source_row"] if (r.file, r.sheet, row) not in kept_rows}
            r.duplicates += len(gone_rows)
            r.rows_used -= len(gone_rows)
    return log.loc[~drop].reset_index(drop=True), found, int(drop.sum())


def _row_hash(log: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """A uint64 per row, equal for rows equal on ``cols`` (unequal rows may collide)."""
    h = np.zeros(len(log), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c in cols:
            col = log[c]
            if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(col.dtype):
                key = col.to_numpy(dtype="datetime64[ns]").view(np.int64)  # NaT is one value
            else:
                key = pd.factorize(col)[0].astype(np.int64)  # missing → -1
            h = h * np.uint64(0x9E3779B97F4A7C15) + key.view(np.uint64)
    return h


# Fields whose raw text is kept as an attribute when some value is not understood.
CONDITIONAL_RAW = ("in_person", "sla_days", "statutory_days", "step_sla_days")


def raw_kept(table: RawSheet) -> set[str]:
    """The columns :func:`convert_table` would keep raw for this table (values not
    understood as yes/no or as a time limit): a streaming import checks its
    batches first so that every batch keeps the same columns."""
    df = table.frame
    cols = (table.sheet_mapping or map_columns(list(df.columns), table.mapping)).columns
    out: set[str] = set()
    if "in_person" in cols and parse_bool(df[cols["in_person"]])[1].any():
        out.add(cols["in_person"])
    units = df[cols["limit_unit"]] if "limit_unit" in cols else None
    for fld in ("sla_days", "statutory_days"):
        if fld in cols and parse_sla(df[cols[fld]], units)[2].any():
            out.add(cols[fld])
    if "step_sla_days" in cols and parse_sla(df[cols["step_sla_days"]])[2].any():
        out.add(cols["step_sla_days"])
    return out


# The old private spellings of names other modules use, for code written before they
# became public (issue 26, while several branches are merged); the import-graph test
# (tests/test_layout.py) fails on any new use of them. To be removed with the package moves.
_convert = convert_table
_drop_duplicates = drop_duplicates
_service_from = service_from_table
_rejects_frame = rejects_frame
_top_reasons = top_reasons
