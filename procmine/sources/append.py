"""Daily operation: new exports appended to a dataset that grows with them.

The platform exports yesterday's records every morning; the same case comes
again and again as it moves (applied, accepted, decided next month).
:func:`append_export` merges such exports into one dataset, a Delta table
(:mod:`procmine.log.deltalog`): one atomic commit, and so one version, per append.

- **A step's identity**: the platform's step id when the export has one (a
  column such as 环节编号/节点ID, kept as an attribute; see ``STEP_ID_NAMES``),
  else (case, step name, start time, its occurrence among equal ones in its
  export, in row order). A repeated 补正 stays two steps; a step that comes again
  with its end time filled in is the same step, updated.
- **Which values win**: a step's values and its case's case-level columns
  (``CASE_COLUMNS``: status, finish_time, …, see :data:`procmine.log.eventlog.LIFECYCLE`)
  come from the latest export that has them: by the 导出时间 in the export's
  title rows, else by the order of the appends (an export without a time counts
  as of the latest export time known when it is appended). An older export
  appended late adds the steps it alone has and changes nothing else.
- **Accounting**: every row read is new, updated, already present (also: an
  exact duplicate within the new exports, or older than what the dataset has)
  or rejected (file, sheet, row, reason). Each append records when, which files
  and these counts in its commit (:func:`append_history`).
- **Interrupted**: files are written before the commit; an append killed
  before its commit leaves the previous version as it was (its files are
  unreferenced and never read).

>>> r = append_export(["2024-03-05.xlsx"], "log/")          # doctest: +SKIP
>>> r.rows_read == r.new + r.updated + r.present + r.rejected   # doctest: +SKIP
True
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ..log.deltalog import INTERNAL_PREFIX, is_delta, open_table, plain_schema
from ..errors import OutputError, UsageError
from ..messages import Note
from ..log.eventlog import CANONICAL, LIFECYCLE, SOURCE, TZ, attribute_columns, conform_columns
from .convert import SheetReport
from .importer import read_export
from ..log.parsing import normalize_header, parse_times

# Column names of a platform's step id (環节 id), compared after header normalisation.
STEP_ID_NAMES = ("环节编号", "节点编号", "环节id", "节点id", "环节ID", "节点ID", "环节流水号", "节点流水号", "step_id",
                 "node_id", "nodeid", "node_unid", "task_id", "任务编号", "任务id")
# One value per case (the same on each of its steps): taken from the case's latest export.
CASE_COLUMNS = tuple(c for c in LIFECYCLE if c != "step_sla_days")
KEY = f"{INTERNAL_PREFIX}step"            # the step's identity
TIME = f"{INTERNAL_PREFIX}exported"       # when the export its values came from was made (µs; -2^63 unknown)
APPEND = f"{INTERNAL_PREFIX}append"       # the version of the append that brought them
CASE_TIME = f"{INTERNAL_PREFIX}case_exported"
CASE_APPEND = f"{INTERNAL_PREFIX}case_append"
MONTH = f"{INTERNAL_PREFIX}month"         # the month of the case's first step when first seen: the partition
INTERNAL = (KEY, TIME, APPEND, CASE_TIME, CASE_APPEND, MONTH)
RECORD = "procmine_append"  # the commit's custom metadata key holding the append's record
UNKNOWN = np.iinfo(np.int64).min
FILE_BYTES = 8 << 20  # target size of the dataset's Parquet files (≈ 200k events): what an append rewrites
_EXPORT_TIME = re.compile(r"导出(?:时间|日期)\s*[:：]?\s*([0-9０-９][0-9０-９年月日/\-.:： ]{5,}[0-9０-９日])")


@dataclass
class AppendResult:
    """What :func:`append_export` returns: the new version and its accounting."""

    path: Path
    version: int
    sheets: list[SheetReport]
    rejects: pd.DataFrame          # file, sheet, row, reason
    new: int                       # steps the dataset did not have
    updated: int                   # rows that changed a step the dataset had (or an earlier row of this append)
    present: int                   # rows the dataset already had as they are (incl. exact duplicates, older rows)
    cases_new: int
    cases_updated: int
    exports: list[dict]            # file, sheet, export_time (ISO, or None when the title has none)
    events: int = 0                # events in the dataset after the append
    cases: int = 0
    created: bool = False
    notes: list[str] = field(default_factory=list)
    skipped: list = field(default_factory=list)
    duplicate_policy: str = "auto"
    log: None = None               # read it with procmine.read_log(path)

    @property
    def rows_read(self) -> int:
        return sum(s.rows_read for s in self.sheets)

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    @property
    def duplicates(self) -> int:
        return sum(s.duplicates for s in self.sheets)

    @property
    def balanced(self) -> bool:
        """rows read = new + updated + already present + rejected (true for step-per-row exports;
        a wide sheet turns one row into several steps)."""
        return self.rows_read == self.new + self.updated + self.present + self.rejected

    def record(self) -> dict:
        """What the commit keeps about this append."""
        return {"at": pd.Timestamp.now(tz=TZ).isoformat(timespec="seconds"),
                "files": sorted({s.file for s in self.sheets}), "exports": self.exports,
                "rows_read": self.rows_read, "new": self.new, "updated": self.updated, "present": self.present,
                "duplicates": self.duplicates, "rejected": self.rejected, "cases_new": self.cases_new,
                "cases_updated": self.cases_updated}

    def to_dict(self) -> dict:
        """The ``--json`` summary."""
        return {"output": str(self.path), "version": self.version, "created": self.created, **self.record(),
                "events": self.events, "cases": self.cases,
                "rejects": [{"file": r.file, "sheet": r.sheet, "row": int(r.row), "reason": r.reason}
                            for r in self.rejects.itertuples(index=False)],
                "notes": list(self.notes)}


def export_time(title: str | None) -> pd.Timestamp | None:
    """The 导出时间 in an export's title rows (Asia/Shanghai), or None.

    >>> export_time("食品经营许可办件明细 导出时间：2024-03-05 08:30")
    Timestamp('2024-03-05 08:30:00+0800', tz='Asia/Shanghai')
    """
    if not title:
        return None
    m = _EXPORT_TIME.search(str(title))
    if not m:
        return None
    times, bad = parse_times(pd.Series([m.group(1).strip()], dtype="string"))
    return None if bad.iloc[0] or pd.isna(times.iloc[0]) else pd.Timestamp(times.iloc[0])


def step_id_column(log: pd.DataFrame) -> str | None:
    """The attribute column holding the platform's step id, if the export has one."""
    wanted = {normalize_header(n) for n in STEP_ID_NAMES}
    found = [c for c in attribute_columns(log) if normalize_header(c) in wanted and not c.startswith(INTERNAL_PREFIX)]
    return found[0] if found else None


def step_keys(log: pd.DataFrame) -> pd.Series:
    """Each event's step identity (see the module's docstring); the occurrence among
    equal ones counts within one export (file and sheet), in its row order."""
    case = log["case_id"].astype("string").fillna("")
    start = log["start_time"]
    # the instant in microseconds since the epoch (UTC), as text: the same whatever the export's format
    micros = start.to_numpy(dtype="datetime64[us]").view("int64")
    start_text = pd.Series(micros.astype(str), index=log.index).where(start.notna().to_numpy(), "")
    base = case + "\x1f" + log["activity"].astype("string").fillna("") + "\x1f" + start_text
    pos = log.sort_values(["source_file", "source_sheet", "source_row"], kind="stable").index
    occurrence = (base.loc[pos].to_frame("b").assign(f=log["source_file"].loc[pos], s=log["source_sheet"].loc[pos])
                  .groupby(["f", "s", "b"], dropna=False, sort=False).cumcount()).reindex(log.index)
    keys = "s\x1f" + base + "\x1f" + occurrence.astype("string")
    idcol = step_id_column(log)
    if idcol is not None:
        sid = log[idcol].astype("string").str.strip()
        has = sid.notna() & (sid != "")
        keys = keys.where(~has, "i\x1f" + case + "\x1f" + sid.fillna(""))
    return keys.astype("string")


def append_history(dataset: str | Path) -> list[dict]:
    """The appends of a dataset, oldest first: version, when, which files, the accounting."""
    table = open_table(dataset)
    out = []
    for commit in table.history():
        raw = commit.get(RECORD)
        if raw is None:
            continue
        try:
            rec = json.loads(raw)
        except (TypeError, ValueError):
            continue
        out.append({"version": int(commit["version"]), **rec})
    return sorted(out, key=lambda r: r["version"])


def append_export(sources: str | Path | Iterable[str | Path], dataset: str | Path, mapping=None, *,
                  duplicates: str = "auto", service: str | None = None, max_unzipped_gb: float = 4.0,
                  tables: Iterable[str] = (), query: str | None = None, password_file: str | Path | None = None,
                  progress=None) -> AppendResult:
    """Merge new exports into the dataset at ``dataset`` (a directory; created by
    the first append), as one new version. The exports are read as
    :func:`procmine.read_export` reads them (same options); see the module's
    docstring for how rows are matched and counted.

    >>> r = append_export(["day2.xlsx"], "log/")                   # doctest: +SKIP
    >>> procmine.read_log("log/", version=r.version - 1)           # the state before  # doctest: +SKIP
    """
    dataset = Path(dataset)
    _check_dataset(dataset)
    if isinstance(sources, (str, Path)):
        sources = [sources]
    result = read_export(list(sources), mapping, duplicates=duplicates, service=service,
                         max_unzipped_gb=max_unzipped_gb, tables=tables, query=query, password_file=password_file,
                         progress=progress)
    _distinct_exports(result.sheets)
    exists = is_delta(dataset)
    table = open_table(dataset) if exists else None
    version = table.version() + 1 if exists else 0
    history = append_history(dataset) if exists else []
    known = [r.get("latest_export") for r in history if r.get("latest_export") is not None]
    latest_known = max(known) if known else UNKNOWN
    exports, order, latest = _export_order(result.sheets, latest_known)
    new = _stamped(result.log, order, version)
    stored = _stored(table, new["case_id"].unique()) if exists else None
    merged, status, changed, cases_new, cases_updated = _merge(stored, new)
    counts = {k: int((status == k).sum()) for k in ("new", "updated", "present")}
    out = AppendResult(path=dataset, version=version, sheets=result.sheets, rejects=result.rejects,
                       new=counts["new"], updated=counts["updated"], present=counts["present"] + result.duplicates,
                       cases_new=cases_new, cases_updated=cases_updated, exports=exports, created=not exists,
                       notes=list(result.notes), skipped=list(result.skipped), duplicate_policy=duplicates)
    if not out.balanced:
        out.notes.append(Note("note.append_steps", rows=out.rows_read, steps=len(new)))
    # the dataset's events and cases after the append: those before (the last append's record, else
    # counted) plus the new steps and cases — the steps an append merges never leave it
    if not exists:
        before = (0, 0)
    elif history and history[-1]["version"] == table.version() and "events" in history[-1]:
        before = (int(history[-1]["events"]), int(history[-1]["cases"]))
    else:
        before = _size(table)
    out.events, out.cases = before[0] + out.new, before[1] + cases_new
    record = {**out.record(), "latest_export": None if latest == UNKNOWN else int(latest),
              "events": out.events, "cases": out.cases}
    _commit(dataset, table, merged if changed.all() else merged.loc[changed], record)
    out.version = version if not exists else open_table(dataset).version()
    return out


def _check_dataset(dataset: Path) -> None:
    if dataset.suffix.lower() in (".parquet", ".pq", ".csv", ".xes", ".xlsx", ".gz"):
        raise UsageError(f"{dataset} looks like a file; --append builds a dataset, which is a directory",
                         hint="give a directory such as -o out/log/")
    if dataset.exists() and not dataset.is_dir():
        raise OutputError(f"cannot append to {dataset}: it is a file", hint="give a directory such as -o out/log/")
    if dataset.is_dir() and not is_delta(dataset) and any(dataset.iterdir()):
        raise OutputError(f"{dataset} is not a dataset built by appends (it has no _delta_log); it is left alone",
                          hint="append into a new or empty directory (the first append creates the dataset), "
                               "e.g. procmine import ALL_EXPORTS -o log/ --append")


def _distinct_exports(sheets: list[SheetReport]) -> None:
    """A row's export is known by its file name and sheet: two exports of one name in
    one append (inbox/03-05/明细.xlsx, inbox/03-06/明细.xlsx) could not be told apart."""
    seen: set = set()
    for s in sheets:
        if (s.file, s.sheet) in seen:
            where = s.file + (f" [{s.sheet}]" if s.sheet else "")
            raise UsageError(f"two of the exports are named {where}: an append tells a row's export by its file "
                             "name, so these could not be told apart",
                             hint=f"append them one at a time, oldest first (for f in inbox/*/{s.file}; do procmine "
                                  "import \"$f\" -o log/ --append; done), or give them distinct names")
        seen.add((s.file, s.sheet))


def _export_order(sheets: list[SheetReport], latest_known: int):
    """Each (file, sheet)'s precedence: (export time in µs, its place among the
    sources); an export without a time counts as of the latest time known."""
    stamps = {}
    for s in sheets:
        t = export_time(s.title)
        stamps.setdefault((s.file, s.sheet), t)
    dated = [int(t.value // 1000) for t in stamps.values() if t is not None]
    latest = max([latest_known, *dated])
    exports, order = [], {}
    for i, ((f, sh), t) in enumerate(stamps.items()):
        exports.append({"file": f, "sheet": sh, "export_time": None if t is None else t.isoformat()})
        order[(f, sh)] = (int(t.value // 1000) if t is not None else latest, i)
    return exports, order, latest


def _stamped(log: pd.DataFrame, order: dict, version: int) -> pd.DataFrame:
    """The new events with their step key and precedence columns."""
    where = pd.MultiIndex.from_arrays([log["source_file"].astype(object), log["source_sheet"].astype(object)])
    table = pd.DataFrame([(f, sh, t, i) for (f, sh), (t, i) in order.items()], columns=["f", "s", "t", "i"])
    at = table.set_index(["f", "s"]).reindex(where)
    out = log  # read_export's frame, ours: stamped in place (a 10M-event first append holds one copy less)
    out[KEY] = step_keys(log)
    out[TIME] = at["t"].fillna(UNKNOWN).to_numpy(dtype="int64")
    out[APPEND] = np.int64(version)
    out["_ord"] = at["i"].fillna(len(order)).to_numpy(dtype="int64")
    out["_row"] = log["source_row"].to_numpy(dtype="int64")
    return out


def _stored(table, cases) -> pd.DataFrame:
    """The dataset's rows of these cases (read by DuckDB, whose file statistics skip
    the row groups without them)."""
    import duckdb
    import pyarrow as pa

    from ..log.eventlog import types_mapper

    files = sorted(u.removeprefix("file://") for u in table.file_uris())
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("wanted", pa.table({"c": pa.array(pd.Series(cases).astype(str).tolist(), pa.string())}))
        # first the files holding these cases (their case ids alone read), then those files' rows of
        # them: a day's export touches the recent months' files, the others are never read whole
        hit = con.sql(f"SELECT DISTINCT filename FROM read_parquet({files!r}, union_by_name = true, "
                      "hive_partitioning = false, filename = true) WHERE case_id IN (SELECT c FROM wanted)"
                      ).fetchall() if files else []
        some = sorted(str(f) for (f,) in hit) or files[:1]  # none: no rows, the columns of one file
        data = con.sql(f"SELECT * FROM read_parquet({some!r}, union_by_name = true, hive_partitioning = false, "
                       "filename = '__pm_file') WHERE case_id IN (SELECT c FROM wanted)").to_arrow_table()
    finally:
        con.close()
    data = data.cast(plain_schema([data.schema]))
    frame = data.to_pandas(types_mapper=types_mapper)
    # the partition value is in the file's path, not in the file
    frame[MONTH] = frame.pop("__pm_file").astype("string").str.extract(f"{MONTH}=([^/]+)/", expand=False)
    return conform_columns(frame)


def _hash(frame: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """A 64-bit hash per row of ``cols`` (an empty cell adds nothing: a column one
    export lacks compares as empty)."""
    from .streaming import event_hashes

    return event_hashes(frame[[c for c in cols if c in frame]])


def _merge(stored: pd.DataFrame | None, new: pd.DataFrame):
    """The final rows of the cases the new events touch, the status of each new
    event (new / updated / present), which final rows differ from the stored ones,
    and how many cases are new and how many changed."""
    if stored is None:
        stored = new.iloc[0:0].drop(columns=["_ord", "_row"])
        for c in (CASE_TIME, CASE_APPEND):
            stored[c] = pd.Series([], dtype="int64")
    public = [c for c in CANONICAL if c not in SOURCE]
    attrs = [c for c in dict.fromkeys([*attribute_columns(stored), *attribute_columns(new)])
             if not c.startswith(INTERNAL_PREFIX) and c not in ("_ord", "_row")]
    cols = public + attrs + list(SOURCE)
    if stored.empty and not new[KEY].duplicated().any() and (new.groupby("case_id")["_ord"].nunique() <= 1).all():
        # every step new, each case from one export (a first append, or new cases only): nothing to merge
        final = new  # the import's own frame (not the caller's): columns added in place, no copy
        final[CASE_TIME] = final[TIME]
        final[CASE_APPEND] = final[APPEND]
        final[MONTH] = _first_month(final, {})
        final = final[cols + list(INTERNAL)]
        return (final, pd.Series(np.full(len(new), "new")), np.ones(len(final), dtype=bool),
                int(final["case_id"].nunique()), 0)
    s = stored.assign(_new=False, _ord=-1, _row=-1)
    n = new.assign(_new=True)
    n[CASE_TIME] = n[TIME]
    n[CASE_APPEND] = n[APPEND]
    c = pd.concat([s, n], ignore_index=True)
    for col in attrs:
        if c[col].dtype == object:
            c[col] = c[col].astype("string")
    c = conform_columns(c)
    c = c.sort_values([KEY, TIME, APPEND, "_ord", "_row"], kind="stable").reset_index(drop=True)
    h = _hash(c, public + attrs)  # what a row says: its step's values and its case's
    # the step keys as integer codes (the rows are sorted by key: a step's rows are adjacent)
    codes = pd.factorize(c[KEY])[0].astype(np.int64)
    is_new = c["_new"].to_numpy(dtype=bool)
    stored_row = (~is_new).astype(np.int64)
    first = np.r_[True, codes[1:] != codes[:-1]]
    prev_same = np.r_[False, (h[1:] == h[:-1]) & (codes[1:] == codes[:-1])]
    has_stored = (np.bincount(codes, weights=stored_row, minlength=int(codes.max(initial=-1)) + 1) > 0)[codes]
    # a new row older than the stored one (it sorts before it): the dataset has a later state
    seen_stored = pd.Series(stored_row).groupby(codes).cumsum().to_numpy() > 0
    status = np.where(~has_stored & first, "new",
                      np.where(has_stored & ~seen_stored, "present", np.where(prev_same, "present", "updated")))
    status = np.where(is_new, status, "stored")
    change = status != "present"
    # each changed step's last row (its latest state)
    kept = np.flatnonzero(change)
    last = kept[np.r_[codes[kept][1:] != codes[kept][:-1], True]] if len(kept) else kept
    final = c.iloc[last].copy()
    # case-level columns: those of the case's latest export (stored: its case precedence)
    prec = c.assign(_t=np.where(is_new, c[TIME], c[CASE_TIME]), _a=np.where(is_new, c[APPEND], c[CASE_APPEND]))
    win = prec.sort_values(["case_id", "_t", "_a", "_ord", "_row"], kind="stable").groupby("case_id").tail(1)
    win = win.set_index("case_id")
    idx = final["case_id"]
    for col in CASE_COLUMNS:
        final[col] = win[col].reindex(idx).set_axis(final.index)
    final[CASE_TIME] = win["_t"].reindex(idx).to_numpy().astype("int64")
    final[CASE_APPEND] = win["_a"].reindex(idx).to_numpy().astype("int64")
    final = conform_columns(final)
    final[MONTH] = _first_month(final, s.groupby("case_id")[MONTH].first().to_dict() if len(s) else {})
    final = final[cols + list(INTERNAL)].reset_index(drop=True)
    # which final rows differ from what the dataset holds (a row whose values are the same is not
    # rewritten: it keeps the precedence it had, and a case's precedence is the highest of its rows)
    after = _hash(final, cols)
    changed = np.ones(len(final), dtype=bool)
    if len(s):  # each final row's stored hash, by the step key (a key is stored once)
        both = pd.factorize(pd.concat([final[KEY], s[KEY]], ignore_index=True))[0]
        fk, sk = both[:len(final)], both[len(final):]
        stored_hash = np.zeros(int(both.max()) + 1, dtype=np.uint64)
        stored_has = np.zeros(int(both.max()) + 1, dtype=bool)
        stored_hash[sk] = _hash(s, cols)
        stored_has[sk] = True
        known = stored_has[fk]
        changed[known] = stored_hash[fk[known]] != after[known]
    stored_cases = set(s["case_id"])
    touched = set(final.loc[changed, "case_id"])
    cases_new = len(touched - stored_cases)
    cases_updated = len(touched & stored_cases)
    return final, pd.Series(status[is_new]), changed, cases_new, cases_updated


def _first_month(rows: pd.DataFrame, known: dict) -> pd.Series:
    """Each row's partition: its case's month as stored, else the month (Shanghai) of the
    case's first step among ``rows``. Kept for good once stored: a case never moves."""
    first = rows["start_time"].fillna(rows["end_time"]).groupby(rows["case_id"]).transform("min")
    month = first.dt.tz_convert(TZ).dt.strftime("%Y-%m").astype("string").fillna("unknown")
    if known:
        kept = rows["case_id"].map(known).astype("string")
        month = kept.fillna(month)
    return month


def _arrow(frame: pd.DataFrame):
    import pyarrow as pa

    out = frame.copy(deep=False)
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].astype("string")
    table = pa.Table.from_pandas(out, preserve_index=False).replace_schema_metadata(None)
    fields = []
    for f in table.schema:  # Delta has no null type: an all-empty column is text
        fields.append(pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f)
    return table.cast(pa.schema(fields))


def _commit(dataset: Path, table, rows: pd.DataFrame, record: dict) -> None:
    """One atomic commit: create the table, merge the changed rows by step key,
    or (nothing changed) record the append in an empty commit."""
    from deltalake import CommitProperties, WriterProperties, write_deltalake
    from deltalake.exceptions import CommitFailedError, DeltaError

    from ..log.eventlog import ROW_GROUP_ROWS

    props = CommitProperties(custom_metadata={RECORD: json.dumps(record, ensure_ascii=False)})
    # zstd and row groups as procmine's other logs (DuckDB reads a file one row group per thread)
    writer = WriterProperties(compression="ZSTD", max_row_group_size=ROW_GROUP_ROWS)
    data = _arrow(rows)
    try:
        if table is None:
            dataset.mkdir(parents=True, exist_ok=True)
            # partitioned by the month of each case's first step (the cases a day's export touches are
            # mostly recent ones), files of bounded size: an append rewrites only the touched months
            write_deltalake(str(dataset), data, mode="error", commit_properties=props, target_file_size=FILE_BYTES,
                            partition_by=[MONTH], configuration={"delta.targetFileSize": str(FILE_BYTES)},
                            writer_properties=writer)
        elif len(rows) == 0:
            import pyarrow as pa

            write_deltalake(table, pa.schema(table.schema().to_arrow()).empty_table(), mode="append",
                            commit_properties=props)
        else:
            # the month first: only the partitions of the touched cases are read and rewritten
            (table.merge(data, predicate=f"t.{MONTH} = s.{MONTH} AND t.{KEY} = s.{KEY}", source_alias="s",
                         target_alias="t",
                         merge_schema=True, commit_properties=props, writer_properties=writer,
                         streamed_exec=False)  # a source in memory: its months prune the target before the scan
             .when_matched_update_all().when_not_matched_insert_all().execute())
    except CommitFailedError as exc:
        raise OutputError(f"the append to {dataset} was not committed: {str(exc).splitlines()[0]}",
                          hint="another append may have run at the same time; the dataset is as it was: "
                               "run the append again") from None
    except (DeltaError, OSError) as exc:
        raise OutputError(f"cannot append to {dataset}: {str(exc).splitlines()[0] if str(exc) else exc}",
                          hint="the dataset is as it was before this append; fix the cause and run it again"
                          ) from None


def _size(table) -> tuple[int, int]:
    """Events and cases of the table's current version (its files read directly: a
    pyarrow dataset made by deltalake may abort the process at exit, delta-rs #2184)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(u.removeprefix("file://") for u in table.file_uris())
    if not files:
        return 0, 0
    ids = pa.chunked_array([c for f in files for c in pq.read_table(f, columns=["case_id"])
                            .column("case_id").cast(pa.string()).chunks])
    return len(ids), len(ids.unique())


__all__ = ["AppendResult", "CASE_COLUMNS", "STEP_ID_NAMES", "append_export", "append_history", "export_time",
           "step_keys"]
