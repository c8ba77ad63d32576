"""Engines that run procmine's metric definitions (issue 15).

The definitions are kept once, as SQL in DuckDB's dialect
(:mod:`procmine.engine.definitions`); the embedded DuckDB engine (the default)
runs them in-process, out of core over a Parquet log, with a memory limit and
a spill directory; the Spark engine runs the same SQL after sqlglot's
transpilation (:mod:`procmine.engine.runner`). The working calendar is data: a
small table joined by the engine (:mod:`procmine.engine.workcal`).
"""

from .runner import EngineOptions, open_engine
from .workcal import calendar_frame, calendar_table

__all__ = ["EngineOptions", "open_engine", "calendar_frame", "calendar_table"]
