"""The canonical event log: schema, Parquet storage, and pm4py/XES/CSV converters.

One row per step. Columns (see ``CANONICAL``): ``case_id, service, activity,
department, resource, start_time, end_time, channel, in_person, materials,
sla_days``, the case-level lifecycle (``apply_time, accept_time, finish_time,
deliver_time, due_time, status, sla_calendar_days, statutory_days, limit_text,
applicant, applicant_id``; the same value on every step of a case), then every
other input column as an attribute, then the source ``source_file,
source_sheet, source_row``. Times are Asia/Shanghai.
"""

from __future__ import annotations

import contextlib
import functools
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd

from .deltalog import delta_files, is_delta
from ..errors import InputError, UsageError
from .schema import (CANONICAL, LIFECYCLE, LIMIT_FIELDS, SOURCE, TIME_DTYPE, TZ, attribute_columns, cannot_write, conform_columns, current_umask, empty_log, to_pm4py, types_mapper, write_atomic)

def is_remote(path) -> bool:
    """A URL (hdfs://, s3a://, file://…) rather than a local path."""
    return isinstance(path, str) and "://" in path


def parquet_files(path) -> list[str]:
    """A Parquet file, or every Parquet file under a directory (a partitioned log)."""
    if is_remote(path):
        if not path.startswith("file://"):
            raise InputError(f"{path}: the embedded engine reads local files only",
                             hint="run it on Spark (--engine spark), which reads any path Spark can, "
                                  "or copy the log to a local disk")
        path = urllib.parse.unquote(urllib.parse.urlparse(path).path)
    p = Path(path)
    if p.is_dir() and is_delta(p):  # an appended dataset: the current version's files, not the folder's
        return delta_files(p)
    if p.is_dir():
        files = sorted(str(f) for f in p.rglob("*.parquet") if not f.name.startswith((".", "_")))
        if not files:
            raise InputError(f"{p}: a directory with no Parquet files in it",
                             hint="give the log written by `procmine import` (a .parquet file or its directory)")
        return files
    if not p.exists():
        raise InputError(f"no such file: {p}")
    return [str(p)]


def instant_columns(files) -> frozenset[str]:
    """The columns some of these Parquet files store as INT96 — Spark's default for
    timestamps: instants in UTC, which readers hand back without a time zone (a
    timestamp written without one otherwise is wall-clock time, read as Shanghai's)."""
    import pyarrow.parquet as pq

    out: set[str] = set()
    for f in files:
        try:
            schema = pq.ParquetFile(f).metadata.schema
        except Exception:  # noqa: BLE001 - a damaged file is reported by the reader that opens it next
            continue
        out.update(schema.column(i).path for i in range(len(schema)) if schema.column(i).physical_type == "INT96")
    return frozenset(out)


def canonical_times(table, instants: frozenset[str] = frozenset()):
    """An Arrow table whose timestamps without a time zone are made zone-aware: those in
    ``instants`` (INT96, see :func:`instant_columns`) as the UTC instants they are, the
    others as Shanghai wall-clock time (a log written by pandas from naive times)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is None:
            col = table.column(i)
            if field.name in instants:
                col = col.cast(pa.timestamp(field.type.unit, tz="UTC"))
            else:
                col = pc.assume_timezone(col, TZ, ambiguous="earliest", nonexistent="earliest")
            table = table.set_column(i, pa.field(field.name, col.type, field.nullable), col)
    return table


def in_order(*keys: np.ndarray) -> bool:
    """Whether the rows are already sorted by ``keys`` (most significant first), as a
    stable lexsort would leave them. Compared, not subtracted: no overflow at the ends."""
    if len(keys[0]) < 2:
        return True
    tied = np.ones(len(keys[0]) - 1, dtype=bool)
    for k in keys:
        before, after = k[:-1], k[1:]
        if (tied & (after < before)).any():
            return False
        tied &= after == before
    return True


def order_log(log: pd.DataFrame) -> pd.DataFrame:
    """Canonical column order (attributes before provenance) and event order:
    by case, then time (start, else end), then source position."""
    cols = [c for c in CANONICAL if c not in SOURCE] + attribute_columns(log) + list(SOURCE)
    out = log[cols]
    if len(out) < 2:
        return out.reset_index(drop=True)
    ts = out["start_time"].fillna(out["end_time"]).to_numpy(dtype="datetime64[ns]").view("int64")
    end = out["end_time"].to_numpy(dtype="datetime64[ns]").view("int64")
    nat = np.iinfo(np.int64).min
    ts = np.where(ts == nat, np.iinfo(np.int64).max, ts)
    end = np.where(end == nat, np.iinfo(np.int64).max, end)
    case_codes, _ = pd.factorize(out["case_id"], sort=True)
    # ties keep input order, which is file, sheet, row order
    if in_order(case_codes, ts, end):
        return out.reset_index(drop=True)  # already in order (exports often are): no sort, no copy
    order = np.lexsort((np.arange(len(out)), end, ts, case_codes))
    return out.iloc[order].reset_index(drop=True)


# Rows per Parquet row group in the logs procmine writes: DuckDB reads a file one row
# group per thread, so a 1M-event log in one group (pyarrow's default) is scanned on one
# core; groups of this size give every core work from about 250k events up.
ROW_GROUP_ROWS = 131_072


@contextlib.contextmanager
def malloc_pool():
    """Arrow's default memory pool set to the system allocator for the block, then restored.

    Used around an import and a Parquet write. A spreadsheet's cells are parsed
    by calamine, which allocates them with malloc and frees them all once the
    sheet is in Arrow; taking the import's Arrow buffers from malloc too reuses
    that memory instead of faulting in fresh pages from mimalloc (about 0.3 s of
    the bench's 1M-row import and write). Buffers remember their pool, so
    switching is safe; the caller's pool is back when the block ends (imports
    overlapping in threads may leave the system allocator set: which allocator
    Arrow uses, nothing else).
    """
    import pyarrow as pa

    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


@functools.cache
def _malloc_trim():
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl, Windows)
        return None


def trim_heap() -> None:
    """Hand the C heap's free pages back to the operating system (glibc's
    ``malloc_trim``; elsewhere nothing happens).

    Called between the import's stages. Each stage frees its temporaries, but
    glibc keeps those pages in the arenas of the threads that used them (Arrow's
    and calamine's worker threads among them), where the next stage, running on
    another thread, cannot reuse them; the process then holds both. Measured on
    the bench's 1M-row import (RSS sampled every 20 ms): peak 1,020 MiB without,
    844 MiB with; a call costs a few milliseconds.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def write_log(log: pd.DataFrame, path: str | Path) -> Path:
    """Write the canonical log: ``.parquet`` (default), ``.csv``, ``.xes``, ``.xlsx``, or
    OCEL 2.0 (``.jsonocel``, ``.xmlocel``, ``.sqlite``; see :mod:`procmine.log.interop`).

    >>> write_log(result.log, "out/log.parquet")              # doctest: +SKIP
    """
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]).lower() if path.name.lower().endswith(".gz") else path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        with malloc_pool():
            table = portable_pandas_metadata(pa.Table.from_pandas(log, preserve_index=False))
            return write_atomic(path, lambda tmp: pq.write_table(table, tmp, compression="zstd",
                                                                  row_group_size=ROW_GROUP_ROWS))
    if suffix in (".csv", ".csv.gz"):
        return write_atomic(path, lambda tmp: _flat(log).to_csv(tmp, index=False, encoding="utf-8-sig",
                                                                compression="gzip" if suffix.endswith("gz") else None))
    if suffix in (".xes", ".xes.gz"):

        return write_atomic(path, lambda tmp: _write_xes(log, tmp))
    if suffix == ".xlsx":
        return write_atomic(path, lambda tmp: _write_xlsx(log, tmp))
    if suffix in (".jsonocel", ".xmlocel", ".sqlite"):
        from .interop import write_ocel

        return write_ocel(log, path)
    raise UsageError(f"cannot write {path.name}: use .parquet, .csv, .xes, .xlsx or OCEL 2.0 (.jsonocel, .xmlocel, "
                     ".sqlite)")


def portable_pandas_metadata(table):
    """pandas records an Arrow-backed column's dtype as e.g. ``list<item: string>[pyarrow]``,
    which ``pandas.read_parquet`` cannot rebuild without procmine (TypeError: data type …
    not understood). Record such columns as plain objects: any reader gets lists;
    :func:`read_log` still restores the Arrow dtype through its types mapper."""
    import json

    meta = (table.schema.metadata or {}).get(b"pandas")
    if not meta:
        return table
    info = json.loads(meta)
    changed = False
    for col in info.get("columns", []):
        if str(col.get("numpy_type", "")).endswith("[pyarrow]"):
            col["numpy_type"] = "object"
            changed = True
    if not changed:
        return table
    return table.replace_schema_metadata({**table.schema.metadata, b"pandas": json.dumps(info).encode()})


def _flat(log: pd.DataFrame) -> pd.DataFrame:
    """Materials joined with '、', times as local ISO text, formula-like text neutralised."""
    out = log.copy()
    out["materials"] = out["materials"].map(lambda m: "、".join(m) if m is not None and len(m) else "")
    return _neutralise(out)


def _write_xlsx(log: pd.DataFrame, tmp: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.cell.cell import TYPE_STRING

    flat = log.copy()
    flat["materials"] = flat["materials"].map(lambda m: "、".join(m) if m is not None and len(m) else None)
    for c in flat.columns:  # Excel has no time zones: write Shanghai local time
        if isinstance(flat[c].dtype, pd.DatetimeTZDtype):
            flat[c] = flat[c].dt.tz_convert(TZ).dt.tz_localize(None)
    wb = Workbook(write_only=True)
    limit = 1_048_575
    cols = list(flat.columns)
    for k, lo in enumerate(range(0, max(len(flat), 1), limit)):
        ws = wb.create_sheet(f"events{k + 1}" if len(flat) > limit else "events")
        ws.append(cols)
        part = flat.iloc[lo:lo + limit]
        arrays = [part[c].astype(object).where(part[c].notna(), None).tolist() for c in cols]
        from openpyxl.cell import WriteOnlyCell
        for row in zip(*arrays):
            cells = []
            for v in row:
                if isinstance(v, pd.Timestamp):
                    v = v.to_pydatetime()
                if isinstance(v, str) and v[:1] in ("=", "+", "-", "@"):
                    cell = WriteOnlyCell(ws, value=v)
                    cell.data_type = TYPE_STRING
                    cells.append(cell)
                else:
                    cells.append(v)
            ws.append(cells)
    wb.save(tmp)


def read_log(path: str | Path, version: int | None = None) -> pd.DataFrame:
    """Read a canonical log written by :func:`write_log` (Parquet), a partitioned
    dataset, or a dataset built by appends (a Delta table; ``version``: its state
    after that append, to reproduce an earlier report). An export (Excel, CSV, XES)
    is read by :func:`procmine.read_log`, which imports it first.

    >>> log = read_log("out/log.parquet")                      # doctest: +SKIP
    >>> last_month = read_log("out/log/", version=3)           # doctest: +SKIP
    """
    from .deltalog import is_delta

    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if is_delta(path):
        return _read_delta(path, version)
    if version is not None:
        raise UsageError(f"{path} has no versions: only a dataset built with `procmine import … --append` has",
                         hint="drop the version, or build the dataset with --append")
    if path.is_dir() and (_is_dataset(path) or any(path.rglob("*.parquet"))):
        return _read_dataset(path)
    if path.suffix.lower() not in (".parquet", ".pq"):
        raise InputError(f"{path} is an export, not a procmine log (Parquet)",
                         hint="read it with procmine.read_log or procmine.read_export (which import it), "
                              "or import it first: procmine import EXPORT -o LOG.parquet")
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise InputError(f"{path} is not a procmine log (Parquet): {str(exc).splitlines()[0]}",
                         hint="create one with: procmine import EXPORT.xlsx -o LOG.parquet") from None
    log = canonical_times(table, instant_columns([path])).to_pandas(types_mapper=types_mapper)
    missing = [c for c in ("case_id", "activity", "start_time", "end_time") if c not in log]
    if missing:
        raise InputError(f"{path} lacks canonical columns {missing}; it was not written by procmine import")
    return conform_columns(log)


DATASET_MARKER = "_procmine.json"  # written by procmine.sources.streaming.import_dataset


def _is_dataset(path: Path) -> bool:
    return (path / DATASET_MARKER).is_file()


def _dataset_files(path: str | Path):
    """The Parquet files of a log (a file or a partitioned directory) and their
    unified schema (a column some files lack reads as empty there). Files are
    read by their own columns: ``service`` is a real column, ``month`` is only
    the directory name."""
    import pyarrow as pa
    import pyarrow.parquet as pq


    files = parquet_files(path)
    try:
        schema = pa.unify_schemas([pq.read_schema(f) for f in files]).remove_metadata()
    except Exception as exc:  # damaged files, clashing column types
        raise InputError(f"{path} is not a procmine log (Parquet): {str(exc).splitlines()[0]}",
                         hint="create one with: procmine import EXPORT.csv -o LOG/") from None
    return files, schema


def _read_dataset(path: Path) -> pd.DataFrame:
    """A partitioned log written by ``procmine import … -o DIR/``: the log the
    in-memory import gives, in its column and event order."""
    import json

    import pyarrow.dataset as ds

    files, schema = _dataset_files(path)
    try:
        table = ds.dataset(files, schema=schema, format="parquet").to_table()
    except Exception as exc:
        raise InputError(f"{path} is not a procmine log (Parquet): {str(exc).splitlines()[0]}") from None
    log = canonical_times(table, instant_columns(files)).to_pandas(types_mapper=types_mapper)
    missing = [c for c in ("case_id", "activity", "start_time", "end_time") if c not in log]
    if missing:
        raise InputError(f"{path} lacks canonical columns {missing}; it was not written by procmine import")
    meta = {}
    if _is_dataset(path):
        try:
            meta = json.loads((path / DATASET_MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
    order = [c for c in meta.get("columns", []) if c in log.columns]
    log = log[order + [c for c in log.columns if c not in order]]
    # input order (file, sheet as imported; then row) before the canonical sort, whose ties keep it
    sources = {tuple(s): i for i, s in enumerate(meta.get("sources", []))}
    if sources and all(c in log for c in SOURCE):
        rank = pd.Series([sources.get((f, s), len(sources)) for f, s in
                          zip(log["source_file"].astype(object), log["source_sheet"].astype(object))], index=log.index)
        log = log.iloc[np.lexsort((log["source_row"].to_numpy(), rank.to_numpy()))].reset_index(drop=True)
    return order_log(conform_columns(log))


def _read_delta(path: Path, version: int | None) -> pd.DataFrame:
    """A dataset built by appends: the files of the version asked for, without
    procmine's bookkeeping columns, in the canonical column and event order."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from .deltalog import delta_files, plain_schema, public_columns

    files = delta_files(path, version)
    try:
        schema = plain_schema(pq.read_schema(f) for f in files)
        names = public_columns(schema.names)
        table = ds.dataset(files, schema=schema, format="parquet").to_table(columns=names)
    except Exception as exc:  # damaged files, clashing column types
        raise InputError(f"{path} is not a procmine log (Parquet): {str(exc).splitlines()[0]}") from None
    log = table.to_pandas(types_mapper=types_mapper)
    missing = [c for c in ("case_id", "activity", "start_time", "end_time") if c not in log]
    if missing:
        raise InputError(f"{path} lacks canonical columns {missing}; it was not written by procmine import")
    log = conform_columns(log)
    cols = [c for c in CANONICAL if c in log and c not in SOURCE] + attribute_columns(log) + list(SOURCE)
    log = log[[c for c in cols if c in log]]
    if all(c in log for c in SOURCE):  # input order (file, row) before the canonical sort, whose ties keep it
        log = log.sort_values(["source_file", "source_sheet", "source_row"], kind="stable")
    return order_log(log)


def write_rejects_csv(rejects: pd.DataFrame, tmp: Path) -> None:
    _neutralise(rejects).to_csv(tmp, index=False, encoding="utf-8-sig")


def _write_xes(log: pd.DataFrame, tmp: Path) -> None:
    import pm4py

    from .interop import xes_frame

    df = xes_frame(log)  # standard keys + every canonical field, so read_export gets all back
    df["case:concept:name"] = df["case:concept:name"].astype(str)
    try:
        pm4py.write_xes(df, str(tmp), show_progress_bar=False)
    except TypeError:
        pm4py.write_xes(df, str(tmp))


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a result table (e.g. per-case metrics) as .csv (UTF-8 with BOM, for Excel) or .parquet."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return write_atomic(path, lambda tmp: table.to_parquet(tmp, index=False))
    if suffix == ".csv":
        out = table.copy()
        flat = _flat(out) if "materials" in out else _neutralise(out)
        return write_atomic(path, lambda tmp: flat.to_csv(tmp, index=False, encoding="utf-8-sig"))
    raise UsageError(f"cannot write {path.name}: use .csv or .parquet")


def _neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """CSV-safe copy: times as local text; text a spreadsheet would run as a formula gets a leading '."""
    out = frame.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].dt.strftime("%Y-%m-%d %H:%M:%S")
        if out[c].dtype == object or isinstance(out[c].dtype, pd.StringDtype):
            s = out[c].astype("string")
            risky = s.str.match(r"^[=+\-@\t\r]", na=False)
            if risky.any():
                out[c] = s.where(~risky, "'" + s)
    return out


def write_tables_xlsx(tables: dict, tmp: Path) -> None:
    """Several DataFrames as sheets of one workbook (text never becomes a formula)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import TYPE_STRING

    wb = Workbook(write_only=True)
    for name, frame in tables.items():
        ws = wb.create_sheet(str(name)[:31])
        ws.freeze_panes = "A2"
        ws.append([str(c) for c in frame.columns])
        for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False):
            cells = []
            for v in row:
                if isinstance(v, pd.Timestamp):
                    v = v.tz_localize(None).to_pydatetime() if v.tzinfo else v.to_pydatetime()
                elif isinstance(v, (list, tuple)):
                    v = "、".join(map(str, v))
                cell = WriteOnlyCell(ws, value=v)
                if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
                    cell.data_type = TYPE_STRING
                cells.append(cell)
            ws.append(cells)
    wb.save(tmp)


def read_columns(path: str | Path, columns=None, where=None) -> pd.DataFrame:
    """Only some columns of a Parquet log (a file or a partitioned directory): those
    of ``columns`` it has, or those whose name satisfies ``where``. For what the
    engine does not compute (masking, ratings, applicants) without loading the whole log."""
    import pyarrow.dataset as ds


    if is_remote(path) and not str(path).startswith("file://"):
        try:  # hdfs://, s3://: pyarrow's own filesystems
            dataset = ds.dataset(str(path), format="parquet")
        except Exception as exc:  # noqa: BLE001 - any filesystem's error, said plainly
            raise InputError(f"cannot read {path} from this process: {str(exc).splitlines()[0] if str(exc) else exc}",
                             hint="masking, ratings and 一件事 read a few columns of the log in this process; "
                                  "give this machine access to the path (pyarrow's HDFS/S3 support) or audit a "
                                  "local copy") from None
    else:
        files, schema = _dataset_files(path)  # a local path or a file:// URL
        dataset = ds.dataset(files, schema=schema, format="parquet")
    names = dataset.schema.names
    have = [c for c in names if (columns is not None and c in columns) or (where is not None and where(c))]
    if not have:
        return pd.DataFrame(index=pd.RangeIndex(0))
    instants = instant_columns(dataset.files) if hasattr(dataset, "files") else frozenset()
    return canonical_times(dataset.to_table(columns=have), instants).to_pandas()


def has_values(path: str | Path, columns) -> bool:
    """Whether any of ``columns`` of a Parquet log (a file or a partitioned
    directory) holds a value. The files' footers answer when their statistics
    count the nulls (a column absent or null in every row group is empty); the
    columns are read only when a footer cannot tell."""
    import pyarrow.parquet as pq


    wanted = set(columns)
    if is_remote(path) and not str(path).startswith("file://"):
        probe = read_columns(path, columns)
        return bool(len(probe.columns)) and bool(probe.notna().any().any())
    for f in parquet_files(path):
        meta = pq.ParquetFile(f).metadata
        at = [i for i in range(meta.num_columns) if meta.schema.column(i).path in wanted]
        for g in range(meta.num_row_groups):
            rg = meta.row_group(g)
            for i in at:
                st = rg.column(i).statistics
                if st is None or not st.has_null_count or st.null_count != rg.num_rows:
                    probe = read_columns(path, columns)  # a value, or a footer that cannot tell
                    return bool(len(probe.columns)) and bool(probe.notna().any().any())
    return False


def log_input(path: str | Path, engine=None):
    """What the engine reads: a Parquet log (file or partitioned directory) stays a
    path, read by the engine itself; any other export is imported in memory. A URL
    (hdfs://, s3a://) is for the Spark engine (``engine``: its options)."""

    if is_remote(str(path)):
        if getattr(engine, "engine", engine) != "spark":
            parquet_files(str(path))  # file:// is local; any other URL: the error says to use Spark
        return str(path)  # read where it is, by the engine (Spark reads any path Spark can)
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.is_dir() or path.suffix.lower() in (".parquet", ".pq"):
        return path
    return read_log(path)


# The old private spellings of names other modules use, for code written before they
# became public (issue 26, while several branches are merged); the import-graph test
# (tests/test_layout.py) fails on any new use of them. To be removed with the package moves.
_flat_rejects = write_rejects_csv
_cannot_write = cannot_write
_portable_pandas_metadata = portable_pandas_metadata
_umask = current_umask
