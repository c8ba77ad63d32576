"""Delta Lake tables as procmine logs: which Parquet files a version holds.

A dataset built by ``procmine import … -o DIR/ --append`` (see :mod:`procmine.sources.append`)
is a Delta table: Parquet files plus a transaction log (``DIR/_delta_log/``) whose
commits are atomic, one version per append. The directory also holds the files of
earlier versions (and of an append that was interrupted before its commit), so it
is never read by listing it: readers take the file list of a version from the
transaction log, here. Both engines read that list as plain Parquet (DuckDB's
``delta`` extension and Spark's Delta jars are not needed).

Columns whose names start with ``_pm_`` are procmine's own bookkeeping (a step's
identity, which export its values came from); readers of the log drop them.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

INTERNAL_PREFIX = "_pm_"


def is_delta(path) -> bool:
    """Whether ``path`` is a local directory holding a Delta table."""
    try:
        return (Path(path) / "_delta_log").is_dir()
    except (TypeError, OSError):
        return False


def open_table(path, version: int | None = None):
    """The Delta table at ``path`` (at ``version``: the state after that append)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError, TableNotFoundError

    try:
        if version is None:
            return DeltaTable(str(path))
        return DeltaTable(str(path), version=int(version))
    except TableNotFoundError:
        raise InputError(f"{path} is not a Delta table (no commits in {Path(path) / '_delta_log'})",
                         hint="create it with: procmine import EXPORT.xlsx -o DIR/ --append") from None
    except (DeltaError, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if version is not None:
            raise InputError(f"{path} has no version {version}: {first}",
                             hint="versions count from 0, one per append; procmine.sources.append.append_history(DIR) lists them") from None
        raise InputError(f"cannot read the Delta table {path}: {first}") from None


def delta_files(path, version: int | None = None) -> list[str]:
    """The Parquet files of the table's current version (or ``version``), sorted."""
    table = open_table(path, version)
    files = sorted(str(Path(u.removeprefix("file://"))) for u in table.file_uris())
    if not files:
        raise InputError(f"{path}: the Delta table has no rows", hint="append an export to it first")
    return files


def public_columns(names) -> list[str]:
    """The columns a reader of the log sees (procmine's bookkeeping left out)."""
    return [n for n in names if not str(n).startswith(INTERNAL_PREFIX)]


def plain_schema(schemas):
    """The unified schema of a table's files, with the view types delta-rs writes
    (string_view, binary_view) and the large ones (large_string, as a first append's
    files may hold) read as plain ones, which every Arrow kernel and pandas take
    (each file's schema made plain first: a file of large_string and a merged one of
    string_view would not unify as they are)."""
    import pyarrow as pa

    def plain(t):
        if pa.types.is_string_view(t) or pa.types.is_large_string(t):
            return pa.string()
        if pa.types.is_binary_view(t) or pa.types.is_large_binary(t):
            return pa.binary()
        if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
            return pa.list_(plain(t.value_type))
        return t

    return pa.unify_schemas([pa.schema([pa.field(f.name, plain(f.type), f.nullable) for f in s])
                             for s in schemas]).remove_metadata()
