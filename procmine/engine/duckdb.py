"""The embedded engine: DuckDB, in-process, out of core.

``connect()`` opens an in-memory database with a memory limit and a spill
directory, taken from the arguments or the environment:

- ``PROCMINE_MEMORY_LIMIT`` (e.g. ``4GB``): DuckDB's ``memory_limit``;
- ``PROCMINE_TEMP_DIR``: DuckDB's ``temp_directory``, where operators that
  exceed the limit spill.

``register_calendar()`` loads the working calendar as the table ``calendar``
so the SQL can join it (``procmine.engine.workcal``).
"""

from __future__ import annotations

import os

import pandas as pd

from ..workdays import WorkCalendar
from .workcal import calendar_frame, working_days_sql, working_hours_sql


def connect(memory_limit: str | None = None, temp_dir: str | None = None, threads: int | None = None):
    import duckdb

    memory_limit = memory_limit or os.environ.get("PROCMINE_MEMORY_LIMIT")
    temp_dir = temp_dir or os.environ.get("PROCMINE_TEMP_DIR")
    config: dict[str, str] = {}
    if memory_limit:
        config["memory_limit"] = str(memory_limit)
    if temp_dir:
        config["temp_directory"] = str(temp_dir)
    if threads:
        config["threads"] = str(threads)
    return duckdb.connect(":memory:", config=config)


def register_calendar(con, cal: WorkCalendar, lo: pd.Timestamp, hi: pd.Timestamp, name: str = "calendar") -> None:
    frame = calendar_frame(cal, lo, hi)
    con.register(f"{name}_df", frame)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_df")
    con.unregister(f"{name}_df")


def intervals(con, cal: WorkCalendar, start: pd.Series, end: pd.Series) -> pd.DataFrame:
    """Working days (clock rule), days between and working hours for pairs of
    naive timestamps, computed in the engine by calendar lookups; NaN where
    either end is missing. Same numbers as ``WorkCalendar``'s methods."""
    pairs = pd.DataFrame({"i": range(len(start)),
                          "s": pd.to_datetime(pd.Series(start).reset_index(drop=True)),
                          "e": pd.to_datetime(pd.Series(end).reset_index(drop=True))})
    both = pd.concat([pairs["s"], pairs["e"]]).dropna()
    out = pd.DataFrame({"working_days": float("nan"), "days_between": float("nan"),
                        "working_hours": float("nan")}, index=pd.Series(start).index)
    if both.empty:
        return out
    register_calendar(con, cal, both.min(), both.max())
    con.register("pairs", pairs)
    sql = f"""
        SELECT p.i,
               {working_days_sql('cs', 'ce', cal)} AS working_days,
               {working_days_sql('cs', 'ce', cal, first_day=False)} AS days_between,
               {working_hours_sql('p.s', 'p.e', 'cs', 'ce', cal)} AS working_hours
        FROM pairs p
        JOIN calendar cs ON cs.day = CAST(p.s AS DATE)
        JOIN calendar ce ON ce.day = CAST(p.e AS DATE)
        ORDER BY p.i"""
    res = con.execute(sql).df()
    con.unregister("pairs")
    for col in ("working_days", "days_between", "working_hours"):
        vals = out[col].to_numpy(copy=True)
        vals[res["i"].to_numpy()] = res[col].astype(float).to_numpy()
        out[col] = vals
    return out


_DEFAULT = None


def default():
    """A cursor on the process's engine (one database, options from the environment)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = connect()
    return _DEFAULT.cursor()


def configure(memory_limit: str | None = None, temp_dir: str | None = None) -> None:
    """Set the process engine's memory limit and spill directory (CLI options;
    they override ``PROCMINE_MEMORY_LIMIT`` / ``PROCMINE_TEMP_DIR``)."""
    global _DEFAULT
    if memory_limit:
        os.environ["PROCMINE_MEMORY_LIMIT"] = str(memory_limit)
    if temp_dir:
        os.environ["PROCMINE_TEMP_DIR"] = str(temp_dir)
    if (memory_limit or temp_dir) and _DEFAULT is not None:
        _DEFAULT.close()
        _DEFAULT = None
