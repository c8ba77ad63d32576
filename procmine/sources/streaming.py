"""Streaming import: exports → a partitioned Parquet dataset, batch by batch.

CSV (also gzipped, GBK, any delimiter :func:`readers.sniff_csv` knows) and raw
exports saved as Parquet are read in batches of ``batch_rows`` rows; each batch
goes through the same conversion as the in-memory import
(:func:`convert.convert_table`), so dates, ids, materials and rejects are exactly
those of :func:`procmine.read_export`. Events are written as a hive-partitioned
dataset::

    log/_procmine.json                                   (counts, column order, sources)
    log/service=食品经营许可/month=2024-03/part-0.parquet

``service`` stays a real column in the files too (the directory name is its
value, percent-encoded where a path needs it); ``month`` is the month of the
event's start time (its end time when it has none) in Asia/Shanghai. Excel and
XES files are read whole, as today; relational exports and databases are
joined in memory (:mod:`procmine.sources.relational`) and then written the same
way. The dataset is written in a temporary directory beside the target and
renamed at the end: an error, Ctrl-C or SIGTERM leaves nothing behind.

Each batch is staged once (grouped by partition, in an Arrow IPC file in the
temporary directory); at the end each partition is written as one file with
large row groups (see :class:`_Dataset`). Memory is bounded by the batch size
(at least :data:`MIN_ROW_GROUP` rows): one batch, one row group being written,
the rejects and 8 bytes per case to count them (a 64-bit hash of the case id).
Exact duplicates that are kept (CSV/Parquet/XES, policy ``auto`` or ``keep``)
are counted per partition as it is written (8 bytes per event of that
partition); when they may be dropped (``--duplicates drop``, spreadsheets) they
are found while streaming, with 8 bytes per event of the whole input.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from ..errors import InputError, NothingUsableError, OutputError, UsageError
from ..log.eventlog import CANONICAL, SOURCE, TZ, cannot_write, current_umask, portable_pandas_metadata
from .convert import (DUPLICATE_POLICIES, ImportResult, SheetReport, convert_table, raw_kept, rejects_frame, top_reasons)
from .importer import read_export, sources_of
from ..log.interop import restore_canonical
from .mapping import Mapping
from .readers import (CsvRestart, RawSheet, SkippedSheet, iter_csv_batches, iter_parquet_batches, read_tables, sniff_kind)

DEFAULT_BATCH_ROWS = 200_000
MARKER = "_procmine.json"  # beside the partitions; Parquet readers skip names starting with "_"
DATASET_FORMAT = 1


@dataclass
class DatasetResult:
    """What :func:`import_dataset` returns: where the dataset is and the accounting
    (the same as :class:`ImportResult`, without the log in memory)."""

    path: Path
    sheets: list[SheetReport]
    rejects: pd.DataFrame  # file, sheet, row, reason
    events: int
    cases: int
    partitions: list[str]  # "service=…/month=…", sorted
    skipped: list[SkippedSheet] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duplicate_policy: str = "auto"
    duplicates_found: int = 0
    log: None = None  # never loaded: read it with procmine.read_log(path)

    @property
    def rows_read(self) -> int:
        return sum(s.rows_read for s in self.sheets)

    @property
    def duplicates(self) -> int:
        return sum(s.duplicates for s in self.sheets)

    def to_dict(self) -> dict:
        """The ``--json`` summary: that of :class:`ImportResult`, plus the dataset's path and partitions."""
        out = ImportResult.to_dict(self)  # type: ignore[arg-type]  # same fields, by name
        out["output"] = str(self.path)
        out["partitions"] = list(self.partitions)
        return out


def import_dataset(paths: str | Path | Iterable[str | Path], output: str | Path,
                   mapping: str | Path | Mapping | None = None, *, duplicates: str = "auto",
                   service: str | None = None, batch_rows: int = DEFAULT_BATCH_ROWS,
                   max_unzipped_gb: float = 4.0, tables: Iterable[str] = (), query: str | None = None,
                   password_file: str | Path | None = None,
                   progress: Callable[[int], None] | None = None) -> DatasetResult:
    """Import exports into a partitioned Parquet dataset at ``output`` (a directory),
    reading CSV and Parquet inputs ``batch_rows`` rows at a time.

    The accounting is that of :func:`procmine.read_export`: every data row is an
    event, an exact duplicate, or a reject (file, sheet, row, reason), and
    ``read_log(output)`` gives the log ``read_export`` would. ``duplicates``:
    ``auto`` keeps exact duplicates of CSV/Parquet/XES rows and drops those of
    spreadsheets, ``drop`` drops every exact duplicate event (found by a 64-bit
    hash of the event; a collision, odds about n²/2⁶⁵ for n events, would drop a
    distinct event), ``keep`` keeps all. ``progress(rows_read)`` is called after
    each batch. An existing ``output`` is replaced only if it is a dataset
    written by this function.

    >>> r = import_dataset(["export.csv"], "out/log")           # doctest: +SKIP
    >>> r.rows_read == r.events + r.duplicates + len(r.rejects)  # doctest: +SKIP
    True
    >>> log = procmine.read_log("out/log")                       # doctest: +SKIP
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise UsageError(f"duplicates must be one of {', '.join(DUPLICATE_POLICIES)}, not {duplicates!r}")
    if int(batch_rows) < 1:
        raise UsageError(f"batch_rows must be at least 1, not {batch_rows!r}")
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    output = Path(output)
    _check_target(output)
    with _interruptible():
        return _import(paths, output, mapping, duplicates=duplicates, service=service, batch_rows=batch_rows,
                       max_unzipped_gb=max_unzipped_gb, tables=tables, query=query, password_file=password_file,
                       progress=progress)


class Interrupted(KeyboardInterrupt):
    """SIGTERM (or SIGINT) during :func:`import_dataset`: raised like Ctrl-C's
    KeyboardInterrupt, so the temporary dataset is removed; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _interruptible():
    """While importing, SIGTERM ends the import as Ctrl-C does (its default would end
    the process at once, leaving the temporary directory behind); a second signal
    while the import unwinds is ignored, so the clean-up is not cut short. Only in
    the main thread, and only over the default handlers (a host's own are kept)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    unwinding = False

    def handler(signum, frame):
        nonlocal unwinding
        if unwinding:
            return
        unwinding = True
        raise Interrupted(signum)

    previous = {}
    for sig, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
        if signal.getsignal(sig) is default:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def _signals_held():
    """SIGINT and SIGTERM wait (delivered after) while the dataset is renamed into place."""
    held = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _import(paths: list, output: Path, mapping, *, duplicates: str, service: str | None, batch_rows: int,
            max_unzipped_gb: float, tables: Iterable[str], query: str | None, password_file,
            progress) -> DatasetResult:
    from . import database

    if any(database.is_url(p) for p in paths):
        whole = read_export(paths, mapping, duplicates=duplicates, service=service, tables=tables, query=query,
                            password_file=password_file)
        return _write_whole(whole, output, batch_rows, "database tables are read in chunks and joined in memory")
    files, base, joined = sources_of(paths, mapping, duplicates=duplicates, service=service,
                                     max_unzipped_gb=max_unzipped_gb)
    if joined is not None:
        return _write_whole(joined, output, batch_rows, "relational tables (case/step/document/rating) are joined "
                                                        "in memory, then written partitioned")
    exact: set[Path] = set()
    while True:  # a CSV pyarrow cannot stream is read again, from the start, with pandas
        try:
            return _stream(files, base, output, duplicates=duplicates, batch_rows=int(batch_rows),
                           max_unzipped=int(max_unzipped_gb * 2**30), exact=frozenset(exact), progress=progress)
        except CsvRestart as restart:
            if restart.path in exact:
                raise InputError(f"{restart.path}: CSV is malformed") from None
            exact.add(restart.path)


# ---------------------------------------------------------------- reading


def _tables(path: Path, mapping: Mapping, batch_rows: int, max_unzipped: int, exact: bool,
            skipped: list[SkippedSheet]) -> Iterator[Iterator[RawSheet]]:
    """The tables of one file, each as an iterator of batches (Excel/XES: one batch)."""
    kind = sniff_kind(path)
    if kind == "csv":
        yield _with_raw_columns(lambda: iter_csv_batches(path, mapping, batch_rows, exact=exact))
    elif kind == "parquet":
        yield _with_raw_columns(lambda: iter_parquet_batches(path, mapping, batch_rows))
    else:
        tables, skip = read_tables(path, mapping, max_unzipped=max_unzipped)
        skipped.extend(skip)
        for table in tables:
            yield iter([(table, frozenset())])


def _with_raw_columns(open_batches: Callable[[], Iterator[RawSheet]]) -> Iterator[tuple[RawSheet, frozenset]]:
    """Batches with the columns to keep raw: when the table maps a yes/no or time-limit
    field, a first pass finds whether any batch has values not understood (then the
    in-memory import keeps the column raw for every row, and so must every batch)."""
    batches = open_batches()
    first = next(batches)
    cols = first.sheet_mapping.columns if first.sheet_mapping else {}
    keep: set[str] = set()
    if any(f in cols for f in ("in_person", "sla_days", "statutory_days", "step_sla_days")):
        keep |= raw_kept(first)
        for b in batches:
            keep |= raw_kept(b)
        batches = open_batches()
        first = next(batches)
    frozen = frozenset(keep)
    yield first, frozen
    for b in batches:
        yield b, frozen


# ---------------------------------------------------------------- the import


def _stream(files: list[Path], mapping: Mapping, output: Path, *, duplicates: str, batch_rows: int,
            max_unzipped: int, exact: frozenset, progress) -> DatasetResult:
    reports: dict[tuple[str, str], SheetReport] = {}
    rejects: list[pd.DataFrame] = []
    skipped: list[SkippedSheet] = []
    notes: list[str] = []
    dedup = _Dedup()
    # Exact duplicates of CSV/Parquet/XES rows are kept (policy auto or keep): they are
    # only counted, partition by partition when the dataset is written (an exact
    # duplicate has the same service and month), so no hash of every event is held.
    # When some may be dropped, they are found while streaming (8 bytes per event).
    count_later = duplicates == "keep" or (duplicates == "auto" and all(
        sniff_kind(p) in ("csv", "parquet", "xes") for p in files))
    with _Dataset(output, batch_rows) as ds:
        rows_read = 0
        for path in files:
            for batches in _tables(path, mapping, batch_rows, max_unzipped, path in exact, skipped):
                for table, keep in batches:
                    events, rej, rep, table_notes = convert_table(table, keep)
                    key = (rep.file, rep.sheet)
                    if key not in reports:
                        reports[key] = rep
                        ds.sources.append([rep.file, rep.sheet])
                    else:
                        _add(reports[key], rep)
                    rejects.append(rej)
                    notes.extend(table_notes)
                    if count_later:
                        ds.add(restore_canonical(events), hashes=event_hashes(events) if len(events) else None)
                    else:
                        events = dedup.apply(events, reports[key], duplicates)
                        ds.add(restore_canonical(events))
                    rows_read += rep.rows_read
                    if progress:
                        progress(rows_read)
        if not reports:
            reasons = "; ".join(f"{Path(s.file).name} [{s.sheet}]: {s.reason}" for s in skipped) or "no tables"
            raise InputError(f"no table with a recognisable header was found ({reasons})",
                             hint="the header row must name at least a case id (办件编号/业务流水号 …) and a step "
                                  "or stage times; see templates/mappings/default.yaml for accepted names")
        rej = pd.concat(rejects, ignore_index=True) if rejects else rejects_frame([], [], [], [])
        sheets = list(reports.values())
        notes = _merge_notes(notes)
        if ds.events == 0:
            total = sum(s.rows_read for s in sheets)
            raise NothingUsableError(f"no usable rows: all {total} data rows were rejected or duplicates",
                                     hint=top_reasons(rej)) if total else NothingUsableError(
                "the input has a header but no data rows")
        result = DatasetResult(path=output, sheets=sheets, rejects=rej, events=0, cases=0, partitions=[],
                               skipped=skipped, notes=notes, duplicate_policy=duplicates)
        ds.finish(result)
    result.duplicates_found = dedup.found + ds.duplicates_counted
    if result.duplicates_found > dedup.dropped:
        notes.append(f"{result.duplicates_found - dedup.dropped} exact duplicate events found and kept (policy "
                     f"{duplicates!r}: CSV/XES event logs keep every record); pass --duplicates drop to remove "
                     "them")
    notes.extend(f"{Path(s.file).name} [{s.sheet}] skipped: {s.reason}" for s in skipped)
    return result


def _write_whole(whole: ImportResult, output: Path, batch_rows: int, note: str) -> DatasetResult:
    """An import done in memory (relational, database), written as the dataset."""
    with _Dataset(output, batch_rows) as ds:
        seen = set()
        for f, s in zip(whole.log["source_file"], whole.log["source_sheet"]):
            if (f, s) not in seen:
                seen.add((f, s))
                ds.sources.append([f, s])
        for lo in range(0, len(whole.log), batch_rows):
            ds.add(whole.log.iloc[lo:lo + batch_rows])
        result = DatasetResult(path=output, sheets=whole.sheets, rejects=whole.rejects, events=0, cases=0,
                               partitions=[], skipped=whole.skipped, notes=[*whole.notes, note],
                               duplicate_policy=whole.duplicate_policy, duplicates_found=whole.duplicates_found)
        ds.finish(result)
    return result


def _add(total: SheetReport, part: SheetReport) -> None:
    total.rows_read += part.rows_read
    total.rows_used += part.rows_used
    total.events += part.events
    total.duplicates += part.duplicates
    total.rejected += part.rejected


_COUNT = re.compile(r"^(.*?: )(\d+)( .*)$", re.S)


def _merge_notes(notes: list[str]) -> list[str]:
    """Per-batch notes ("X.csv: 3 values of … not understood (examples)") → one per
    kind, counts summed, the first batch's examples kept."""
    merged: dict[str, list] = {}
    for n in notes:
        m = _COUNT.match(n)
        if not m:
            merged.setdefault(n, [n, None, None, None])
            continue
        key = m.group(1) + re.sub(r"\([^)]*\)", "()", m.group(3))
        slot = merged.setdefault(key, [None, m.group(1), 0, m.group(3)])
        slot[2] += int(m.group(2))
    return [s[0] if s[1] is None else f"{s[1]}{s[2]}{s[3]}" for s in merged.values()]


# ---------------------------------------------------------------- exact duplicates


class _HashSet:
    """A set of 64-bit hashes as a few sorted numpy runs (8 bytes per member)."""

    def __init__(self) -> None:
        self.runs: list[np.ndarray] = []

    def contains(self, h: np.ndarray) -> np.ndarray:
        out = np.zeros(len(h), dtype=bool)
        for run in self.runs:
            i = np.searchsorted(run, h)
            out |= run[np.minimum(i, len(run) - 1)] == h
        return out

    def add(self, h: np.ndarray) -> None:
        new = np.unique(h)
        new = new[~self.contains(new)]
        if len(new):
            self.runs.append(new)
            if len(self.runs) > 8:  # the runs are disjoint: a merge, no unique needed
                self.runs = [np.sort(np.concatenate(self.runs), kind="stable")]

    def __len__(self) -> int:
        return sum(len(r) for r in self.runs)


class _Dedup:
    """Exact duplicate events across the whole import, with 8 bytes per event:
    sorted runs of 64-bit event hashes (provenance excluded, as in
    :func:`convert.drop_duplicates`)."""

    def __init__(self) -> None:
        self.runs: list[np.ndarray] = []
        self.found = 0
        self.dropped = 0

    def _seen(self, h: np.ndarray) -> np.ndarray:
        out = np.zeros(len(h), dtype=bool)
        for run in self.runs:
            i = np.searchsorted(run, h)
            out |= run[np.minimum(i, len(run) - 1)] == h
        return out

    def apply(self, events: pd.DataFrame, report: SheetReport, policy: str) -> pd.DataFrame:
        if events.empty:
            return events
        h = event_hashes(events)
        dup = self._seen(h) | pd.Series(h).duplicated(keep="first").to_numpy()
        new = np.sort(h[~dup])  # distinct: within-batch repeats are in dup
        if len(new):
            self.runs.append(new)
            if len(self.runs) > 8:  # the runs are disjoint: a merge, no unique needed
                self.runs = [np.sort(np.concatenate(self.runs), kind="stable")]
        found = int(dup.sum())
        self.found += found
        if not found:
            return events
        spreadsheet = report.kind == "excel" and not report.event_log
        if policy == "keep" or (policy == "auto" and not spreadsheet):
            return events
        drop = dup
        self.dropped += int(drop.sum())
        rows = events["source_row"].to_numpy()
        gone = np.setdiff1d(np.unique(rows[drop]), np.unique(rows[~drop]))
        report.events -= int(drop.sum())
        report.duplicates += len(gone)
        report.rows_used -= len(gone)
        return events.loc[~drop].reset_index(drop=True)


_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads bits so that a sum of column hashes stays a good hash."""
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX1
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX2
    return x ^ (x >> np.uint64(31))


def event_hashes(events: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash per event of every column except provenance; an empty (NA)
    cell adds nothing, so events of tables with different attribute columns
    compare as the in-memory import compares them (absent = NA)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    total = np.zeros(len(events), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c in events.columns:
            if c in SOURCE or c == "_pos":
                continue
            col = events[c]
            na = col.isna().to_numpy()
            if na.all():  # adds nothing: skip the work
                continue
            if c == "materials":
                col = pd.Series(pd.array(pc.binary_join(pa.array(col.array), "\x1f"), dtype="string"),
                                index=events.index)
            elif isinstance(col.dtype, pd.DatetimeTZDtype):  # the instant, as int64 in every batch
                col = pd.Series(col.to_numpy(dtype="datetime64[ns]").view("int64"), index=events.index)
            h = pd.util.hash_pandas_object(col, index=False, hash_key=_hash_key(c)).to_numpy(dtype=np.uint64)
            h = _mix(h)
            h[na] = 0
            total += h
    return total


def _hash_key(name: str) -> str:
    import hashlib

    return hashlib.blake2b(name.encode("utf-8"), digest_size=8).hexdigest()  # 16 characters, as pandas needs


# ---------------------------------------------------------------- writing


_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\%=:*?"<>|#]')


def partition_value(value: str) -> str:
    """A partition value as a directory name: characters a path or a hive reader
    treats specially are percent-encoded (DuckDB and pyarrow decode them back)."""
    return _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode("utf-8")), value)


MIN_ROW_GROUP = 65_536  # rows: a partition with at least this many gets row groups of at least this size
# The staging files are not compressed: lz4 made them 3.6× smaller (2M perf_gen rows: 707 → 197 MB)
# but the import 30 % slower (the record batches are small, a few hundred rows per partition).
STAGING_COMPRESSION = None


class _Dataset:
    """The dataset being written, in a temporary directory beside ``target``.

    Two passes over the events, neither holding more than about a batch:

    1. :meth:`add` turns each batch into one Arrow table, groups its rows by
       (service, month) and appends each group as one record batch to a staging
       Arrow IPC file in the temporary directory, remembering which record
       batches belong to which partition (uncompressed: about 2.6× the size of
       the CSV, in the temporary directory, until the end).
    2. :meth:`finish` writes each partition in turn: its record batches, read back
       in input order, become row groups of ``row_group_rows`` rows or more (each
       sorted by case, time, end, ties in input order) of one file
       ``part-0.parquet``; the staging files are deleted and the directory is
       renamed onto ``target``. Any error removes the temporary directory.

    Writing a few hundred partitions directly, batch by batch, gave tiny row
    groups (a batch holds a few hundred rows of each) and was 2–5× slower."""

    def __init__(self, target: Path, batch_rows: int) -> None:
        self.target = target
        self.stage_rows = max(batch_rows, MIN_ROW_GROUP)  # rows buffered before a staging write
        self.row_group_rows = max(batch_rows, MIN_ROW_GROUP)
        self.pending: list = []  # (Arrow table, partition id per row) not yet staged
        self.pending_rows = 0
        self.keys: dict[tuple[str, str], int] = {}  # partition → id
        self.runs: list[list[tuple[int, int]]] = []  # per partition id: (staging file, record batch), input order
        self.stage_files: list[Path] = []
        self.stage_writer = self.stage_sink = self.stage_schema = None
        self.stage_batches = 0
        self.columns: list[str] = []  # attribute columns, in order of appearance
        self.sources: list[list[str]] = []  # (file, sheet) in input order
        self.events = 0
        self.duplicates_counted = 0  # exact duplicate events among those staged with hashes
        self.case_hashes = _HashSet()  # 8 bytes per case, to count them without reading the dataset back
        self.tmp: Path | None = None

    def __enter__(self) -> "_Dataset":
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.tmp-", dir=self.target.parent))
        except OSError as exc:
            raise cannot_write(self.target, exc) from None
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            return
        self._close_stage()
        self.pending.clear()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    # -- pass 1: staging

    def add(self, events: pd.DataFrame, hashes: np.ndarray | None = None) -> None:
        """Stage events; ``hashes`` (:func:`event_hashes`), if given, to count exact
        duplicates partition by partition (:attr:`duplicates_counted`)."""
        if events.empty:
            return
        import pyarrow as pa

        for c in events.columns:
            if c not in CANONICAL and c not in self.columns and c != "_pos":
                self.columns.append(c)
        attrs = [c for c in events.columns if c not in CANONICAL and c != "_pos"]
        cols = [c for c in CANONICAL if c not in SOURCE and c in events] + attrs + [c for c in SOURCE if c in events]
        frame = events[cols]
        table = portable_pandas_metadata(pa.Table.from_pandas(frame, preserve_index=False))
        if hashes is not None:
            table = table.append_column(_HASH, pa.array(hashes, pa.uint64()))
        ids = self._partition_ids(events)
        if self.pending and not table.schema.equals(self.pending[0][0].schema, check_metadata=False):
            self._stage()  # another set of columns (another file, a blank-headed column): staged apart
        self.pending.append((table, ids))
        self.pending_rows += len(table)
        if self.pending_rows >= self.stage_rows:
            self._stage()
        self.events += len(events)
        self.case_hashes.add(pd.util.hash_pandas_object(events["case_id"], index=False).to_numpy(dtype=np.uint64))

    def _partition_ids(self, events: pd.DataFrame) -> np.ndarray:
        """The partition (service, month) of each event, as ids into ``self.keys``."""
        ts = events["start_time"].fillna(events["end_time"]).dt.tz_convert(TZ)
        ym = (ts.dt.year * 100 + ts.dt.month).fillna(-1).to_numpy(dtype=np.int64)
        svc_codes, svc = pd.factorize(events["service"].astype(object), use_na_sentinel=True)
        ym_codes, yms = pd.factorize(ym)
        pair_codes, pairs = pd.factorize(svc_codes.astype(np.int64) * (len(yms) + 1) + ym_codes)
        lookup = np.empty(len(pairs), dtype=np.int64)
        for i, code in enumerate(pairs):
            s_code, m_code = divmod(int(code), len(yms) + 1)
            service = "" if s_code < 0 or svc[s_code] is None or svc[s_code] is pd.NA else str(svc[s_code])
            month = int(yms[m_code])
            key = (service, f"{month // 100:04d}-{month % 100:02d}" if month >= 0 else "")
            pid = self.keys.get(key)
            if pid is None:
                pid = self.keys[key] = len(self.keys)
                self.runs.append([])
                self._dir(key)  # a name too long fails now, not at the end
            lookup[i] = pid
        return lookup[pair_codes]

    def _stage(self) -> None:
        """The pending events, grouped by partition (input order kept within each),
        appended to the staging file as one record batch per partition."""
        if not self.pending:
            return
        import pyarrow as pa

        tables = [t for t, _ in self.pending]
        schema = tables[0].schema
        table = pa.concat_tables([t.replace_schema_metadata(schema.metadata) for t in tables])
        ids = np.concatenate([i for _, i in self.pending])
        self.pending, self.pending_rows = [], 0
        order = np.argsort(ids, kind="stable")
        table = table.take(pa.array(order)).combine_chunks()
        del tables
        ids = ids[order]
        bounds = np.flatnonzero(np.diff(ids)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(ids)]])
        try:
            writer = self._stage_writer(table.schema)
            for lo, hi in zip(starts.tolist(), ends.tolist()):
                for rb in table.slice(lo, hi - lo).to_batches():
                    writer.write_batch(rb)
                    self.runs[int(ids[lo])].append((len(self.stage_files) - 1, self.stage_batches))
                    self.stage_batches += 1
        except OSError as exc:
            raise cannot_write(self.target, exc) from None

    def _stage_writer(self, schema):
        import pyarrow as pa

        if self.stage_writer is not None and not self.stage_schema.equals(schema, check_metadata=False):
            self._close_stage()
        if self.stage_writer is None:
            path = self.tmp / f".staging-{len(self.stage_files)}.arrow"
            sink = pa.OSFile(str(path), "wb")
            self.stage_files.append(path)
            self.stage_batches = 0
            options = pa.ipc.IpcWriteOptions(compression=STAGING_COMPRESSION)
            self.stage_writer = pa.ipc.new_file(sink, schema, options=options)
            self.stage_sink, self.stage_schema = sink, schema
        return self.stage_writer

    def _close_stage(self) -> None:
        w, self.stage_writer = self.stage_writer, None
        if w is not None:
            try:
                w.close()
            finally:
                self.stage_sink.close()

    # -- pass 2: the partitions

    def _dir(self, key: tuple[str, str]) -> Path:
        name = partition_value(key[0]) or "__HIVE_DEFAULT_PARTITION__"
        if len(name.encode("utf-8")) > 240:
            raise OutputError(f"service name too long for a partition directory: {key[0][:60]}…",
                              hint="shorten it with a mapping (service:), or write one file: -o LOG.parquet")
        return self.tmp / f"service={name}" / f"month={key[1] or '__HIVE_DEFAULT_PARTITION__'}"

    def _write_partitions(self) -> None:
        import pyarrow as pa

        self._stage()
        self._close_stage()
        files = [pa.OSFile(str(p), "rb") for p in self.stage_files]
        try:
            readers = [pa.ipc.open_file(f) for f in files]
            for key, pid in sorted(self.keys.items()):
                self._write_partition(key, ((readers[s], b) for s, b in self.runs[pid]))
                self.runs[pid] = []
        finally:
            for f in files:
                f.close()
        for p in self.stage_files:
            p.unlink(missing_ok=True)

    def _write_partition(self, key: tuple[str, str], batches) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        folder = self._dir(key)
        folder.mkdir(parents=True, exist_ok=True)
        part, writer, pending, n = 0, None, [], 0
        hashes = []

        def flush():
            nonlocal writer, part
            if not pending:
                return
            table = pa.Table.from_batches(pending)
            if _HASH in table.column_names:
                hashes.append(table[_HASH].to_numpy())
                table = table.drop_columns([_HASH])
            table = _sorted_group(table)
            if writer is None:
                writer = pq.ParquetWriter(folder / f"part-{part}.parquet", table.schema, compression="zstd")
                part += 1
            writer.write_table(table, row_group_size=len(table))
            pending.clear()

        try:
            for reader, b in batches:
                rb = reader.get_batch(b)
                if pending and not rb.schema.equals(pending[0].schema, check_metadata=False):
                    flush()
                if writer is not None and not _same_columns(rb.schema, writer.schema):
                    writer.close()  # another set of columns (a blank-headed column filled here): a new file
                    writer = None
                pending.append(rb)
                n += rb.num_rows
                if n >= self.row_group_rows:
                    flush()
                    n = 0
            flush()
        finally:
            if writer is not None:
                writer.close()
        if hashes:  # every exact duplicate of an event is in its partition
            h = np.concatenate(hashes) if len(hashes) > 1 else hashes[0]
            self.duplicates_counted += len(h) - len(np.unique(h))

    def finish(self, result: DatasetResult) -> None:
        """Write the partitions, count cases, write the marker, rename onto the target."""
        try:
            self._finish(result)
        except OSError as exc:
            raise cannot_write(self.target, exc) from None

    def _finish(self, result: DatasetResult) -> None:
        self._write_partitions()
        files = sorted(str(p) for p in self.tmp.rglob("*.parquet"))
        result.events = self.events
        result.cases = len(self.case_hashes)
        result.partitions = sorted({str(Path(f).parent.relative_to(self.tmp)) for f in files})
        marker = {"format": DATASET_FORMAT, "events": self.events, "cases": result.cases,
                  "rows_read": result.rows_read, "columns": [c for c in CANONICAL if c not in SOURCE]
                  + self.columns + list(SOURCE), "sources": self.sources}
        (self.tmp / MARKER).write_text(json.dumps(marker, ensure_ascii=False, indent=1), encoding="utf-8")
        mode = 0o777 & ~current_umask()
        os.chmod(self.tmp, mode)
        with _signals_held():  # no interruption between moving the old dataset aside and removing it
            old = None
            if self.target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.old-", dir=self.target.parent))
                os.replace(self.target, old / "dataset")
            try:
                os.replace(self.tmp, self.target)
            except BaseException:
                if old is not None:
                    os.replace(old / "dataset", self.target)
                    shutil.rmtree(old, ignore_errors=True)
                raise
            self.tmp = None
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)


_HASH = "__procmine_event_hash"  # staged beside the events, never written to the dataset


def _same_columns(staged, written) -> bool:
    """Whether staged record batches (perhaps with the hash column) go on in a file of that schema."""
    i = staged.get_field_index(_HASH)
    if i >= 0:
        staged = staged.remove(i)
    return staged.equals(written, check_metadata=False)


def _sorted_group(table):
    """A row group's events by case, then time (start, else end), then end; ties keep
    their order, which is input order (as :func:`eventlog.order_log` sorts)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows < 2:
        return table
    keys = pa.table({"c": table["case_id"], "t": pc.coalesce(table["start_time"], table["end_time"]),
                     "e": table["end_time"]})
    order = pc.sort_indices(keys, sort_keys=[("c", "ascending"), ("t", "ascending"), ("e", "ascending")])  # nulls last
    return table.take(order)


def is_dataset(path: str | Path) -> bool:
    """Whether ``path`` is a directory written by :func:`import_dataset`."""
    return (Path(path) / MARKER).is_file()


def _check_target(output: Path) -> None:
    if output.suffix.lower() in (".parquet", ".pq", ".csv", ".xes", ".xlsx", ".gz"):
        raise UsageError(f"{output} looks like a file; a partitioned dataset is a directory",
                         hint="give a directory such as -o out/log/ (or drop --partitioned to write one file)")
    if output.exists() and not output.is_dir():
        raise OutputError(f"cannot write the dataset {output}: it is a file", hint="choose another output path")
    if output.is_dir() and any(output.iterdir()) and not is_dataset(output):
        raise OutputError(f"{output} is a directory that is not a procmine dataset; it is left alone",
                          hint="choose a new or empty directory, or one written by procmine import")
