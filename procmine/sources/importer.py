"""The import stage: exports → one canonical event log, every row accounted for."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from ..log import eventlog
from ..errors import InputError, NothingUsableError, UsageError
from ..messages import Note
from ..log.eventlog import empty_log, malloc_pool, order_log, trim_heap
from ..log.interop import restore_canonical
from .mapping import Mapping, load_mapping
from .readers import SkippedSheet, read_tables
from .convert import (DUPLICATE_POLICIES, ImportResult, SheetReport, convert_table, drop_duplicates, rejects_frame, top_reasons)


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(x for x in p.rglob("*") if x.is_file() and not x.name.startswith((".", "~$"))
                           and (x.suffix.lower() in {".xlsx", ".xlsm", ".xls", ".csv", ".xes", ".ods", ".txt"}
                                or x.name.lower().endswith((".xes.gz", ".csv.gz"))))
            if not found:
                raise InputError(f"{p} is a folder with no .xlsx/.xls/.csv/.xes files in it")
            out.extend(found)
        elif not p.exists():
            raise InputError(f"no such file: {p}")
        else:
            out.append(p)
    if not out:
        raise UsageError("no input files given")
    return out


def read_export(paths: str | Path | Iterable[str | Path], mapping: str | Path | Mapping | None = None, *,
                duplicates: str = "auto", service: str | None = None,
                max_unzipped_gb: float = 4.0, tables: Iterable[str] = (), query: str | None = None,
                password_file: str | Path | None = None, progress=None) -> ImportResult:
    """Read approval-system exports (Excel, CSV, XES; files or folders) into one
    canonical event log.

    Every data row ends as an event, as an exact duplicate of another row, or
    as a reject with file, sheet, row number and reason. ``duplicates`` is
    ``drop`` (exact duplicate rows are dropped and counted), ``keep``, or
    ``auto`` (drop in spreadsheets, keep in CSV/XES event logs, whose tools
    count every record — also when such a log was re-exported to a spreadsheet
    with its XES column names). An .xlsx that unpacks to more than
    ``max_unzipped_gb`` is refused (zip-bomb guard). A database URL as the
    source reads ``tables`` or ``query`` (see :mod:`procmine.sources.database`).
    ``progress(rows)``, when given, hears the rows read so far: after each table,
    and after each piece of a large sheet (e.g. ``procmine.report.terminal.Progress``).

    While it runs, Arrow allocates from the system allocator (see
    :func:`procmine.log.eventlog.malloc_pool`); the caller's default pool is restored after.

    >>> result = read_export("logs/")                         # doctest: +SKIP
    >>> result.rows_read == result.events + result.duplicates + len(result.rejects)  # doctest: +SKIP
    True
    """
    with malloc_pool():
        return _read_export(paths, mapping, duplicates=duplicates, service=service, max_unzipped_gb=max_unzipped_gb,
                            tables=tables, query=query, password_file=password_file, progress=progress)


def _read_export(paths, mapping, *, duplicates: str, service: str | None, max_unzipped_gb: float,
                 tables: Iterable[str], query: str | None, password_file: str | Path | None,
                 progress=None) -> ImportResult:
    if duplicates not in DUPLICATE_POLICIES:
        raise UsageError(f"duplicates must be one of {', '.join(DUPLICATE_POLICIES)}, not {duplicates!r}")
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = list(paths)
    from . import database

    if any(database.is_url(p) for p in paths):  # a database URL (issue 13)
        return database.read_database(paths, mapping, duplicates=duplicates, service=service, tables=tables,
                                      query=query, password_file=password_file)
    files, mp, joined = sources_of(paths, mapping, duplicates=duplicates, service=service,
                                   max_unzipped_gb=max_unzipped_gb)
    if joined is not None:
        return joined
    parts: list[pd.DataFrame] = []
    rejects: list[pd.DataFrame] = []
    reports: list[SheetReport] = []
    skipped: list[SkippedSheet] = []
    notes: list[str] = []
    done = 0  # rows read in the tables before this file's

    def read_so_far(rows: int) -> None:
        progress(done + rows)

    for path in files:
        tables, skip = read_tables(path, mp, max_unzipped=int(max_unzipped_gb * 2**30),
                                   progress=read_so_far if progress is not None else None)
        skipped.extend(skip)
        while tables:
            trim_heap()
            table = tables.pop(0)  # each sheet's raw text is let go once it is converted
            events, rej, report, table_notes = convert_table(table)
            del table
            done += report.rows_read
            if progress is not None:
                progress(done)
            parts.append(events)
            rejects.append(rej)
            reports.append(report)
            notes.extend(table_notes)
    if not reports:
        reasons = "; ".join(f"{Path(s.file).name} [{s.sheet}]: {s.reason}" for s in skipped) or "no tables"
        raise InputError(f"no table with a recognisable header was found ({reasons})",
                         hint="the header row must name at least a case id (办件编号/业务流水号 …) and a step "
                              "or stage times; see templates/mappings/default.yaml for accepted names")
    log = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else empty_log()
    rej = pd.concat(rejects, ignore_index=True) if rejects else rejects_frame([], [], [], [])
    trim_heap()
    log, found, dropped = drop_duplicates(log, reports, duplicates)
    if found > dropped:
        notes.append(Note("note.duplicates_kept", n=found - dropped, policy=duplicates))
    log = order_log(restore_canonical(log))  # procmine's own CSV/XES exports: every field back in place
    result = ImportResult(log=log, sheets=reports, rejects=rej.reset_index(drop=True), skipped=skipped,
                          notes=notes, duplicate_policy=duplicates, duplicates_found=found)
    for s in skipped:
        result.notes.append(Note("note.sheet_skipped", file=Path(s.file).name, sheet=s.sheet, reason=s.reason))
    if result.events == 0:
        raise NothingUsableError(
            f"no usable rows: all {result.rows_read} data rows were rejected or duplicates",
            hint=top_reasons(rej)) if result.rows_read else NothingUsableError(
            "the input has a header but no data rows")
    return result


def sources_of(paths, mapping, *, duplicates: str, service: str | None, max_unzipped_gb: float):
    """The input files, the flat-table mapping (with ``service`` when given), and —
    when the files are case/step/document/rating tables keyed by the case — their
    joined import (sources/relational.py), else None."""
    from . import relational

    files = _expand(paths)
    mp = load_mapping(relational.flat_mapping(mapping))
    if service:
        mp = Mapping(**{**mp.__dict__, "service": service})
    joined = relational.read_files(files, mapping, mp, duplicates=duplicates, service=service,
                                   max_unzipped=int(max_unzipped_gb * 2**30))
    return files, mp, joined


def read_log(path: str | Path, version: int | None = None) -> pd.DataFrame:
    """Read a log: a canonical log written by :func:`procmine.write_log` (a Parquet file, a
    partitioned dataset, or a dataset built by appends, ``version`` its state after that
    append), or an export (Excel, CSV, XES), imported first with the default mapping.

    >>> log = read_log("out/log.parquet")                      # doctest: +SKIP
    >>> log = read_log("logs/办件导出.xlsx")                     # doctest: +SKIP
    """
    p = Path(path)
    if p.exists() and not p.is_dir() and p.suffix.lower() not in (".parquet", ".pq") and version is None:
        return read_export([p]).log
    return eventlog.read_log(p, version)
