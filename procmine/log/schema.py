"""The canonical log's schema (columns, types, time zone), its conversions, and writing a file atomically:
what every stage that touches the log shares."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from ..errors import OutputError
from .parsing import MATERIALS_DTYPE

TZ = "Asia/Shanghai"
TIME_DTYPE = pd.DatetimeTZDtype("ns", TZ)
CANONICAL: dict[str, object] = {
    "case_id": "string", "service": "string", "activity": "string", "department": "string",
    "resource": "string", "start_time": TIME_DTYPE, "end_time": TIME_DTYPE, "channel": "string",
    "in_person": "boolean", "materials": MATERIALS_DTYPE, "sla_days": "Float64",
    # case-level lifecycle (the same value on every step of a case; empty when the export has none)
    "apply_time": TIME_DTYPE, "accept_time": TIME_DTYPE, "finish_time": TIME_DTYPE, "deliver_time": TIME_DTYPE,
    "due_time": TIME_DTYPE, "status": "string", "sla_calendar_days": "Float64", "statutory_days": "Float64",
    "limit_text": "string", "applicant": "string", "applicant_id": "string",
    # limits in calendar months (民法典 §201–§203) and the statutory limit in calendar days;
    # 延期 (行政许可法 §42): what an approved extension adds to the statutory limit, in working
    # days, calendar days or calendar months (the unit the export states)
    "sla_months": "Float64", "statutory_calendar_days": "Float64", "statutory_months": "Float64",
    "extension_days": "Float64", "extension_calendar_days": "Float64", "extension_months": "Float64",
    # 好差评, case level; a step's own time limit (working days)
    "rating": "string", "rating_time": TIME_DTYPE, "rating_channel": "string", "rating_text": "string",
    "rectify_status": "string", "rectify_time": TIME_DTYPE, "step_sla_days": "Float64",
    "source_file": "string", "source_sheet": "string", "source_row": "int64",
}
# Columns a log written before they existed may lack: read_log adds them empty.
LIFECYCLE = ("apply_time", "accept_time", "finish_time", "deliver_time", "due_time", "status", "sla_calendar_days",
             "statutory_days", "limit_text", "applicant", "applicant_id", "rating", "rating_time", "rating_channel",
             "rating_text", "rectify_status", "rectify_time", "step_sla_days", "sla_months", "statutory_calendar_days",
             "statutory_months", "extension_days", "extension_calendar_days", "extension_months")
# Each time limit's columns by unit: working days, calendar days, calendar months.
LIMIT_FIELDS = (("sla_days", "sla_calendar_days", "sla_months"),
                ("statutory_days", "statutory_calendar_days", "statutory_months"))
SOURCE = ("source_file", "source_sheet", "source_row")


def empty_log() -> pd.DataFrame:
    """A log with the canonical columns and no rows."""
    return pd.DataFrame({k: pd.Series([], dtype=v) for k, v in CANONICAL.items()})


def attribute_columns(log: pd.DataFrame) -> list[str]:
    """The input columns kept beside the canonical ones."""
    return [c for c in log.columns if c not in CANONICAL]


def _atomic_target(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the real suffix: some writers (pm4py) choose the format by it.
    suffix = "".join(path.suffixes[-2:]) if path.name.lower().endswith(".gz") else path.suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def current_umask() -> int:
    """The process umask (reading it means setting it: done at once, restored at once)."""
    old = os.umask(0o022)
    os.umask(old)
    return old


def replace_dir(tmp: Path, path: Path) -> None:
    """Put a folder written in full at ``tmp`` in the place of ``path`` (replacing the old
    one): the old folder is first renamed aside, so ``path`` is never a half-written folder
    and is missing only between two renames."""
    import shutil

    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_atomic(path: str | Path, writer) -> Path:
    """Call ``writer(tmp_path)`` then rename onto ``path``: no half-written file.

    The file gets the permissions of an ordinary new file (0666 less the umask),
    not the 0600 of the temporary file it was written as."""
    path = Path(path)
    try:
        tmp = _atomic_target(path)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    try:
        writer(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise cannot_write(path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def cannot_write(path: Path, exc: OSError) -> OutputError:
    import errno

    where = Path(exc.filename) if exc.filename else path.parent
    if where.name.startswith(f".{path.name}.tmp-"):  # the temporary file beside the output
        where = path.parent
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        hint = f"{where} is a file, not a folder: choose another output path"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "choose a folder you can write to"
    elif exc.errno == errno.ENOSPC:
        hint = "free some disk space or write elsewhere"
    else:
        hint = "choose another output path"
    return OutputError(f"cannot write {path}: {exc.strerror or exc} ({where})", hint=hint)


def conform_columns(log: pd.DataFrame) -> pd.DataFrame:
    """The canonical dtypes, with lifecycle columns a log lacks added empty (a new frame)."""
    out = log.copy(deep=False)
    for c, dtype in CANONICAL.items():
        if c in out:
            if dtype == TIME_DTYPE and pd.api.types.is_datetime64_dtype(out[c].dtype) \
                    and getattr(out[c].dtype, "tz", None) is None:
                # times without a zone are Shanghai wall-clock time (the engine reads them so too)
                out[c] = out[c].dt.tz_localize(TZ, ambiguous="NaT", nonexistent="shift_forward")
            out[c] = out[c].astype(dtype)
        elif c in LIFECYCLE:
            out[c] = pd.Series(pd.NaT if dtype == TIME_DTYPE else pd.NA, index=out.index, dtype=dtype)
    return out


def _types_mapper(t):
    import pyarrow as pa

    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pd.StringDtype("pyarrow")
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pd.ArrowDtype(t)
    return None


types_mapper = _types_mapper  # the public name (Arrow types → the canonical pandas dtypes)


def to_pm4py(log: pd.DataFrame) -> pd.DataFrame:
    """The log in pm4py's column names, ready for ``pm4py.discover_*``.

    ``time:timestamp`` is the end time (the start where there is none),
    ``start_timestamp`` the start time; string columns become plain Python
    objects, because pm4py 2.7 mishandles pandas 3's Arrow-backed strings in
    some calls (variant filters). Times are kept tz-aware.

    >>> import pm4py; pm4py.discover_dfg(to_pm4py(log))          # doctest: +SKIP
    """
    cols = {
        "case:concept:name": log["case_id"].astype(object),
        "concept:name": log["activity"].astype(object),
        "time:timestamp": log["end_time"].fillna(log["start_time"]),
        "start_timestamp": log["start_time"].fillna(log["end_time"]),
        "org:resource": log["resource"].astype(object),
        "org:group": log["department"].astype(object),
        "case:service": log["service"].astype(object),
    }
    for c in attribute_columns(log):
        if c not in cols:
            col = log[c]
            cols[c] = col.astype(object) if isinstance(col.dtype, pd.StringDtype) or col.dtype == object else col
    for c, col in cols.items():
        if col.dtype == object:
            cols[c] = col.where(col.notna(), None)
    return pd.DataFrame(cols)
