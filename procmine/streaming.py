"""Streaming import: exports → a partitioned Parquet dataset, batch by batch.

CSV (also gzipped, GBK, any delimiter :func:`readers.sniff_csv` knows) and raw
exports saved as Parquet are read in batches of ``batch_rows`` rows; each batch
goes through the same conversion as the in-memory import
(:func:`importer._convert`), so dates, ids, materials and rejects are exactly
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
renamed at the end: an error or Ctrl-C leaves nothing behind.

Memory is bounded by the batch size: one batch, the events waiting to be
written (at most about ``batch_rows``), the rejects, 8 bytes per event for the
exact-duplicate check (a 64-bit hash of each event) and 8 bytes per case to count
them (a 64-bit hash of the case id).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from .errors import InputError, NothingUsableError, OutputError, UsageError
from .eventlog import CANONICAL, SOURCE, TZ, _cannot_write, _portable_pandas_metadata, _umask, order_log
from .importer import (DUPLICATE_POLICIES, ImportResult, SheetReport, _convert, _expand, _rejects_frame,
                       _top_reasons, raw_kept, read_export)
from .interop import restore_canonical
from .mapping import Mapping, load_mapping
from .readers import CsvRestart, RawSheet, SkippedSheet, iter_csv_batches, iter_parquet_batches, read_tables, sniff_kind

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
    from .sources import database, relational

    if any(database.is_url(p) for p in paths):
        whole = read_export(paths, mapping, duplicates=duplicates, service=service, tables=tables, query=query,
                            password_file=password_file)
        return _write_whole(whole, output, batch_rows, "database tables are read in chunks and joined in memory")
    files = _expand(paths)
    base = load_mapping(relational.flat_mapping(mapping))
    if service:
        base = Mapping(**{**base.__dict__, "service": service})
    joined = relational.read_files(files, mapping, base, duplicates=duplicates, service=service,
                                   max_unzipped=int(max_unzipped_gb * 2**30))
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
    with _Dataset(output, batch_rows) as ds:
        rows_read = 0
        for path in files:
            for batches in _tables(path, mapping, batch_rows, max_unzipped, path in exact, skipped):
                for table, keep in batches:
                    events, rej, rep, table_notes = _convert(table, keep)
                    key = (rep.file, rep.sheet)
                    if key not in reports:
                        reports[key] = rep
                        ds.sources.append([rep.file, rep.sheet])
                    else:
                        _add(reports[key], rep)
                    rejects.append(rej)
                    notes.extend(table_notes)
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
        rej = pd.concat(rejects, ignore_index=True) if rejects else _rejects_frame([], [], [], [])
        sheets = list(reports.values())
        notes = _merge_notes(notes)
        if dedup.found > dedup.dropped:
            notes.append(f"{dedup.found - dedup.dropped} exact duplicate events found and kept (policy "
                         f"{duplicates!r}: CSV/XES event logs keep every record); pass --duplicates drop to remove "
                         "them")
        notes.extend(f"{Path(s.file).name} [{s.sheet}] skipped: {s.reason}" for s in skipped)
        if ds.events == 0:
            total = sum(s.rows_read for s in sheets)
            raise NothingUsableError(f"no usable rows: all {total} data rows were rejected or duplicates",
                                     hint=_top_reasons(rej)) if total else NothingUsableError(
                "the input has a header but no data rows")
        result = DatasetResult(path=output, sheets=sheets, rejects=rej, events=0, cases=0, partitions=[],
                               skipped=skipped, notes=notes, duplicate_policy=duplicates,
                               duplicates_found=dedup.found)
        ds.finish(result)
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
            if len(self.runs) > 8:
                self.runs = [np.unique(np.concatenate(self.runs))]

    def __len__(self) -> int:
        return sum(len(r) for r in self.runs)


class _Dedup:
    """Exact duplicate events across the whole import, with 8 bytes per event:
    sorted runs of 64-bit event hashes (provenance excluded, as in
    :func:`importer._drop_duplicates`)."""

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
        new = np.unique(h[~dup])
        if len(new):
            self.runs.append(new)
            if len(self.runs) > 8:
                self.runs = [np.unique(np.concatenate(self.runs))]
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


class _Dataset:
    """The dataset being written, in a temporary directory beside ``target``: events
    buffered per (service, month) and written as row groups of the partition's open
    file; renamed onto ``target`` by :meth:`finish`, removed on any error."""

    def __init__(self, target: Path, batch_rows: int, max_open: int | None = None) -> None:
        self.target = target
        self.flush_rows = max(batch_rows, 1)
        self.max_open = max_open or _open_file_budget()
        self.buffers: dict[tuple[str, str], list[pd.DataFrame]] = {}
        self.sizes: dict[tuple[str, str], int] = {}
        self.buffered = 0
        self.writers: OrderedDict[tuple[str, str], object] = OrderedDict()
        self.parts: dict[tuple[str, str], int] = {}
        self.columns: list[str] = []  # attribute columns, in order of appearance
        self.sources: list[list[str]] = []  # (file, sheet) in input order
        self.events = 0
        self.case_hashes = _HashSet()  # 8 bytes per case, to count them without reading the dataset back
        self.tmp: Path | None = None

    def __enter__(self) -> "_Dataset":
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.tmp-", dir=self.target.parent))
        except OSError as exc:
            raise _cannot_write(self.target, exc) from None
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            return
        for w in self.writers.values():
            try:
                w.close()
            except Exception:  # noqa: BLE001 - the original error is what matters
                pass
        self.writers.clear()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def add(self, events: pd.DataFrame) -> None:
        if events.empty:
            return
        for c in events.columns:
            if c not in CANONICAL and c not in self.columns and c != "_pos":
                self.columns.append(c)
        ts = events["start_time"].fillna(events["end_time"]).dt.tz_convert(TZ)
        month = ts.dt.strftime("%Y-%m").to_numpy(dtype=object)
        service = events["service"].astype(object).to_numpy()
        keys = pd.MultiIndex.from_arrays([service, month])
        codes, uniques = pd.factorize(keys)
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        for idx in np.split(order, bounds):
            key = uniques[codes[idx[0]]]
            key = ("" if key[0] is None or key[0] is pd.NA else str(key[0]), str(key[1]))
            self.buffers.setdefault(key, []).append(events.iloc[idx])
            self.sizes[key] = self.sizes.get(key, 0) + len(idx)
            self.buffered += len(idx)
            if self.sizes[key] >= self.flush_rows:
                self._flush(key)
        if self.buffered > self.flush_rows:  # the largest partitions go, down to half: larger row groups
            while self.buffered > self.flush_rows // 2:
                self._flush(max(self.sizes, key=self.sizes.get))
        self.events += len(events)
        self.case_hashes.add(pd.util.hash_pandas_object(events["case_id"], index=False).to_numpy(dtype=np.uint64))

    def _dir(self, key: tuple[str, str]) -> Path:
        name = partition_value(key[0]) or "__HIVE_DEFAULT_PARTITION__"
        if len(name.encode("utf-8")) > 240:
            raise OutputError(f"service name too long for a partition directory: {key[0][:60]}…",
                              hint="shorten it with a mapping (service:), or write one file: -o LOG.parquet")
        return self.tmp / f"service={name}" / f"month={key[1]}"

    def _flush(self, key: tuple[str, str]) -> None:
        try:
            self._write(key)
        except OSError as exc:
            raise _cannot_write(self.target, exc) from None

    def _write(self, key: tuple[str, str]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        frames = self.buffers.pop(key)
        n = self.sizes.pop(key)
        self.buffered -= n
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        frame = order_log(frame.drop(columns=[c for c in ("_pos",) if c in frame]))
        table = _portable_pandas_metadata(pa.Table.from_pandas(frame, preserve_index=False))
        writer = self.writers.get(key)
        if writer is not None and not writer.schema.equals(table.schema, check_metadata=False):
            writer.close()  # a different set of columns (a blank-headed column filled here): a new file
            del self.writers[key]
            writer = None
        if writer is None:
            folder = self._dir(key)
            folder.mkdir(parents=True, exist_ok=True)
            part = self.parts.get(key, 0)
            self.parts[key] = part + 1
            writer = pq.ParquetWriter(folder / f"part-{part}.parquet", table.schema, compression="zstd")
            self.writers[key] = writer
            while len(self.writers) > self.max_open:
                _, oldest = self.writers.popitem(last=False)
                oldest.close()
        else:
            self.writers.move_to_end(key)
        writer.write_table(table)

    def finish(self, result: DatasetResult) -> None:
        """Write what is buffered, count cases, write the marker, rename onto the target."""
        try:
            self._finish(result)
        except OSError as exc:
            raise _cannot_write(self.target, exc) from None

    def _finish(self, result: DatasetResult) -> None:
        for key in list(self.buffers):
            self._write(key)
        for w in self.writers.values():
            w.close()
        self.writers.clear()
        files = sorted(str(p) for p in self.tmp.rglob("*.parquet"))
        result.events = self.events
        result.cases = len(self.case_hashes)
        result.partitions = sorted({str(Path(f).parent.relative_to(self.tmp)) for f in files})
        marker = {"format": DATASET_FORMAT, "events": self.events, "cases": result.cases,
                  "rows_read": result.rows_read, "columns": [c for c in CANONICAL if c not in SOURCE]
                  + self.columns + list(SOURCE), "sources": self.sources}
        (self.tmp / MARKER).write_text(json.dumps(marker, ensure_ascii=False, indent=1), encoding="utf-8")
        mode = 0o777 & ~_umask()
        os.chmod(self.tmp, mode)
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


def _open_file_budget() -> int:
    """How many partition files may be open at once: one per partition keeps one file
    per partition (a closed one gets a new part-N). Up to 1024, within the process's
    limit of open files, leaving room for everything else."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, ValueError, OSError):
        return 64
    if soft == resource.RLIM_INFINITY:
        return 1024
    return int(max(16, min(1024, soft // 2 - 64)))


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
