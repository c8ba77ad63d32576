"""Engines that run procmine's metric definitions (issue 15).

The definitions are kept once, as SQL in DuckDB's dialect; the embedded
DuckDB engine (the default) runs them in-process, out of core over a Parquet
log, with a memory limit and a spill directory. The working calendar is data:
a small table joined by the engine (see :mod:`procmine.engine.workcal`).
"""

from .workcal import calendar_frame, office_minute_sql, working_days_sql, working_hours_sql

__all__ = ["calendar_frame", "office_minute_sql", "working_days_sql", "working_hours_sql"]
