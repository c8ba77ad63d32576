"""Engines that run the definitions (:mod:`procmine.engine.definitions`).

- ``duckdb`` (default): embedded, in-process, out of core over the Parquet log,
  with a memory limit and a spill directory (``--memory-limit`` /
  ``PROCMINE_MEMORY_LIMIT``, ``--temp-dir`` / ``PROCMINE_TEMP_DIR``); its tables
  in memory (the default, spilled past the limit) or compressed in a database
  file in the spill directory (``--storage disk`` / ``PROCMINE_STORAGE``), for
  logs far beyond RAM. A log of more than ``block_events`` events
  (``PROCMINE_BLOCK_EVENTS``, default 20M) runs its per-case steps block by
  block of whole cases (``split_by_case``, ``use_block``).
- ``spark``: PySpark, for a cluster. The master (``local[2]``, ``spark://host:7077``,
  ``yarn``) or a Spark Connect URL (``sc://host:15002``) comes from ``--spark-master``
  or ``PROCMINE_SPARK_MASTER``; the log is read from any path Spark can read (a
  Parquet file or a directory of Parquet files on HDFS, S3 or local disk). The SQL
  is the same, transpiled from DuckDB's dialect by sqlglot. Results are written by
  Spark as Parquet datasets (``EngineOptions.spark_results``) and read back from the
  files: nothing row-level is collected through the driver.

Each engine turns its input into the view ``ev`` (times as integer microseconds
of Shanghai wall-clock time); only that loader is engine-specific.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import urllib.parse
import warnings
from dataclasses import dataclass, field
from typing import Callable
from pathlib import Path

import pandas as pd

from ..errors import ConfigError, InputError, UsageError
from ..log.deltalog import is_delta
from ..log.eventlog import instant_columns, is_remote, parquet_files

TZ = "Asia/Shanghai"
TIME_COLUMNS = {"start_time": "s_us", "end_time": "e_us", "apply_time": "apply_us", "accept_time": "accept_us",
                "finish_time": "finish_us", "deliver_time": "deliver_us", "due_time": "due_us",
                "rating_time": "rating_us", "rectify_time": "rectify_us"}
TEXT_COLUMNS = ("case_id", "service", "activity", "department", "channel", "status", "limit_text", "rating",
                "rectify_status")
NUMBER_COLUMNS = ("sla_days", "sla_calendar_days", "statutory_days", "sla_months", "statutory_calendar_days",
                  "statutory_months", "extension_days", "extension_calendar_days", "extension_months", "step_sla_days")
# every column of a log the engines read (``_select``)
READ_COLUMNS = frozenset(TEXT_COLUMNS) | frozenset(NUMBER_COLUMNS) | frozenset(TIME_COLUMNS) | {"in_person", "materials"}
ENGINES = ("duckdb", "spark")
UTC8_US = 8 * 3600 * 1_000_000
ROW_BITS = 1 << 40  # the order key _o = file number × 2⁴⁰ + row in the file


# What each materialised step is, for the progress line ("… engine: per-case clock (14 s)");
# an engine's ``labels`` start from these and take the finding kinds' (engine.findings.aggregate)
STEP_LABELS = {"acts": "step names", "d_svc": "codes", "d_dept": "codes", "d_case": "codes",
               "ev2w": "event order", "walk": "event order", "facts": "waits and working hours",
               "trips": "trips and visits", "svc_trips": "per-case outcome", "docs": "documents",
               **{f"c{i}": "per-case lifecycle" for i in range(1, 7)}, "pauses": "clock pauses",
               "pause_blocks": "clock pauses", "paused": "clock pauses", "c7": "per-case clock", "c6c": "per-case clock", "c9": "per-case outcome",
               "unclosed": "clock pauses", "rated": "per-case lifecycle", "dept_time": "per-case outcome",
               "c8": "per-case outcome", "cases": "per-case outcome", "svc_vocab": "per-case lifecycle",
               "status_unknown": "per-case lifecycle", "step_over": "per-case outcome",
               "cc": "findings: codes"}  # each finding kind's tables: its step's label (engine.findings.Step)


@dataclass
class EngineOptions:
    """How to run the definitions (a config object; the CLI fills it from options
    and the environment)."""

    engine: str = "duckdb"
    memory_limit: str | None = None
    temp_dir: str | None = None
    storage: str = "memory"  # the embedded engine's tables: "memory" (spilled when over the limit) or "disk"
    block_events: int | None = None  # the embedded engine's per-case steps by blocks of about this many events
    threads: int | None = None
    spark_master: str | None = None
    spark_conf: dict = field(default_factory=dict)
    spark_results: str | None = None  # Spark: the folder its row-level results are written to (default: temp_dir)
    progress: Callable[[str], None] | None = None  # called with each step's name as it starts

    @classmethod
    def from_env(cls, engine: str | None = None, **kw) -> "EngineOptions":
        kw = {k: v for k, v in kw.items() if v is not None}
        name = (engine or os.environ.get("PROCMINE_ENGINE") or "duckdb").lower()
        if name not in ENGINES:
            raise UsageError(f"unknown engine {name!r}: use one of {', '.join(ENGINES)}")
        return cls(engine=name,
                   memory_limit=kw.get("memory_limit") or os.environ.get("PROCMINE_MEMORY_LIMIT"),
                   temp_dir=kw.get("temp_dir") or os.environ.get("PROCMINE_TEMP_DIR"),
                   storage=_storage(kw.get("storage") or os.environ.get("PROCMINE_STORAGE") or "memory"),
                   block_events=_block_events(kw.get("block_events") or os.environ.get("PROCMINE_BLOCK_EVENTS")),
                   threads=kw.get("threads"),
                   spark_master=kw.get("spark_master") or os.environ.get("PROCMINE_SPARK_MASTER"),
                   progress=kw.get("progress"))


STORAGE = ("memory", "disk")
BLOCK_EVENTS = 20_000_000  # a log larger than this runs its per-case steps in blocks of cases


def _block_events(value) -> int | None:
    if value in (None, ""):
        return None
    try:
        n = int(str(value).replace("_", ""))
    except ValueError:
        n = 0
    if n < 1:
        raise UsageError(f"PROCMINE_BLOCK_EVENTS must be a positive whole number of events, not {value!r}",
                         hint=f"e.g. {BLOCK_EVENTS}: logs larger than that run their per-case steps in blocks")
    return n


AUTO_BYTES_PER_EVENT = 250  # what the definitions hold per event at their widest step, with room to spare
AUTO_MIN_BYTES = 1536 << 20
AUTO_MAX_SHARE = 0.4  # of the machine's memory: the rest for the process's frames and other work


def machine_memory() -> int:
    """The machine's physical memory in bytes (0 when it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 0


SMALL_FILE_ROWS = 50_000  # a file of fewer rows on average is "small": reading it costs more than its rows


def _threads(con) -> int:
    return int(con.execute("SELECT current_setting('threads')").fetchone()[0])


def auto_memory_limit(events: int, memory: int) -> int:
    """The embedded engine's memory limit when none is given: enough for the log's events at
    the definitions' widest step, at least 1.5 GiB, at most 40% of the machine — so a 10M-event
    log runs in about 2.5 GB instead of DuckDB's own default (80% of the machine), which lets
    the process grow far past what the log needs before it spills."""
    want = max(int(events) * AUTO_BYTES_PER_EVENT, AUTO_MIN_BYTES)
    if memory > 0:
        want = min(want, max(int(memory * AUTO_MAX_SHARE), AUTO_MIN_BYTES))
    return want


def _storage(value: str) -> str:
    value = str(value).lower()
    if value not in STORAGE:
        raise UsageError(f"unknown engine storage {value!r}: use memory or disk",
                         hint="disk keeps the embedded engine's tables compressed in a database file in the "
                              "spill directory (for logs far beyond the memory limit)")
    return value


def open_engine(options: "EngineOptions | str | None" = None):
    if options is None or isinstance(options, str):
        options = EngineOptions.from_env(options)
    if options.engine == "spark":
        return SparkEngine(options)
    return DuckDBEngine(options)


def _is_path(source) -> bool:
    return isinstance(source, (str, os.PathLike))


def _parquet_rows(path: str) -> int:
    """Rows of a Parquet file, from its footer (nothing else is read)."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception:  # unreadable here: the scan itself will say so
        return 0


def _sql_text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def pa_table(batches):
    import pyarrow as pa

    return pa.Table.from_batches(batches)


def _on_this_machine(master: str) -> bool:
    """``local[…]``, or a standalone master on loopback (``spark://127.0.0.1:…``, ``localhost``):
    Spark on this machine, which gets the local-only settings."""
    if master.startswith("local"):
        return True
    host = urllib.parse.urlparse(master).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


def _arrow_to_pandas(table) -> pd.DataFrame:
    """Arrow → pandas without copying strings into Python objects (Arrow-backed
    string columns; nullable integers and booleans)."""
    import pyarrow as pa

    def mapper(t):
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return pd.StringDtype("pyarrow")
        if pa.types.is_integer(t):
            return pd.Int64Dtype()
        if pa.types.is_boolean(t):
            return pd.BooleanDtype()
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return pd.ArrowDtype(t)
        return None

    return table.to_pandas(types_mapper=mapper, self_destruct=True, split_blocks=True)  # no second copy


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, options: EngineOptions):
        import duckdb

        # every result the definitions hand back is ordered explicitly (ORDER BY), so the
        # engine need not keep rows in insertion order (less memory, spilling allowed)
        config: dict[str, str] = {"preserve_insertion_order": "false"}
        self.progress = options.progress
        self.labels = dict(STEP_LABELS)  # table → its progress label
        self.block_events = options.block_events or BLOCK_EVENTS
        self._temp = options.temp_dir or None
        self._blocks: tempfile.TemporaryDirectory | None = None
        self._made: str | None = None
        self._ev_sql = ""
        self._limit_given = bool(options.memory_limit)
        if options.memory_limit:
            config["memory_limit"] = str(options.memory_limit)
        if options.temp_dir:
            config["temp_directory"] = str(options.temp_dir)
        if options.threads:
            config["threads"] = str(options.threads)
        # storage "disk": the tables live compressed in a database file in the spill directory
        # (removed on close, also after an error or Ctrl-C), instead of uncompressed in memory
        self._dir: tempfile.TemporaryDirectory | None = None
        self._kind = "TEMP TABLE"
        where = ":memory:"
        if options.storage == "disk":
            self._dir = tempfile.TemporaryDirectory(prefix="procmine-engine-", dir=options.temp_dir or None)
            where = os.path.join(self._dir.name, "engine.duckdb")
            config.setdefault("temp_directory", self._dir.name)
            self._kind = "TABLE"
        try:
            self.con = duckdb.connect(where, config=config)
        except duckdb.Error as exc:
            raise ConfigError(f"the embedded engine refused its settings: {exc}",
                              hint="--memory-limit takes sizes like 4GB or 800MB") from None
        if self.progress is not None:  # procmine names its steps; DuckDB's own bar would be a second, unlabelled one
            self.con.execute("SET enable_progress_bar = false")
        self._registered: list[str] = []

    # -- input
    def load(self, source, columns: list[str] | None = None) -> None:
        """The view ``ev`` over a DataFrame or a Parquet file/directory."""
        if _is_path(source):
            files = parquet_files(source)
            own = self.con.execute(f"DESCRIBE SELECT * FROM read_parquet({files!r}, union_by_name = true, "
                                   "hive_partitioning = false)").fetchall()
            if any(row[0] == "file_row_number" for row in own):
                raise InputError(f"{source}: the log has a column named file_row_number, a name the engine "
                                 "uses for the row's place in its file",
                                 hint="rename that column (e.g. with pandas or DuckDB) and run again")
            scan = (f"read_parquet({files!r}, filename = '__pm_file', file_row_number = true, "
                    "union_by_name = true, hive_partitioning = false)")
            if len(files) == 1:
                sql = f"SELECT *, file_row_number AS __o FROM {scan}"
            else:  # the order key: the file's place in the sorted list, then the row in the file
                self.register("__files", pd.DataFrame({"name": files, "i": range(len(files))}))
                sql = (f"SELECT s.*, fi.i * {ROW_BITS} + s.file_row_number AS __o FROM {scan} s "
                       "JOIN __files fi ON fi.name = s.__pm_file")
            # many small files (a streaming job's output): the steps would open every file again on
            # each pass over the log, so it is read once, into the engine, when it fits a block
            small = len(files) > 4 * _threads(self.con) and \
                sum(_parquet_rows(f) for f in files) <= min(self.block_events, len(files) * SMALL_FILE_ROWS)
            kind = "TEMP TABLE" if small else "TEMP VIEW"
            self.con.execute(f"CREATE OR REPLACE {kind} src AS {sql}")
        else:
            frame = source.assign(__o=range(len(source)))
            self.con.register("src_df", frame)
            self._registered.append("src_df")
            self.con.execute("CREATE OR REPLACE TEMP VIEW src AS SELECT * FROM src_df")
        if not self._limit_given:
            events = (sum(_parquet_rows(f) for f in files) if _is_path(source) else len(source))
            limit = auto_memory_limit(events, machine_memory())
            self.con.execute(f"SET memory_limit = '{limit >> 20}MB'")
            if self.progress is not None:
                threads = self.con.execute("SELECT current_setting('threads')").fetchone()[0]
                self.progress(f"memory limit {limit / (1 << 30):.1f} GiB for {events:,} events "
                              f"(--memory-limit to choose), {threads} threads (the machine's cores)")
        types = {row[0]: str(row[1]).upper() for row in self.con.execute("DESCRIBE src").fetchall()}
        if _is_path(source):  # Spark's INT96 timestamps: UTC instants, though DuckDB reads them without a zone
            for c in instant_columns(files):
                if c in types and "TIME ZONE" not in types[c]:
                    types[c] = "TIMESTAMP WITH TIME ZONE (INT96)"
        self._ev_sql = f"SELECT {_select(types, '__o', 'duckdb')} FROM src"
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW ev AS {self._ev_sql}")

    # -- blocks of cases (a log far beyond memory: the per-case steps one block at a time)
    def split_by_case(self, events: int) -> list:
        """Split the events into blocks of whole cases (consecutive case codes, ``d_case``,
        about the same number of events each) when the log has more than ``block_events``
        events: a Parquet file set per block in the spill directory (removed once the
        blocks have run, or on close). ``[None]``: one block, the log."""
        blocks = -(-int(events) // self.block_events)
        if blocks <= 1:
            return [None]
        if self._dir is not None:  # storage "disk": beside the database file
            where = self._dir.name
        else:
            where = os.path.abspath(self.con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
                                    or self._temp or tempfile.gettempdir())
            if not os.path.isdir(where):  # DuckDB's own spill directory, made before DuckDB needs it
                os.makedirs(where)
                self._made = where  # removed on close if nothing else is left in it
        self._blocks = tempfile.TemporaryDirectory(prefix="procmine-blocks-", dir=where)
        out = os.path.join(self._blocks.name, "ev")
        if self.progress is not None:
            self.progress(f"cases split into {blocks} blocks")
        # a case's block: the events of the cases before it (in code order), as a share of all
        self.con.execute(f"""CREATE OR REPLACE TEMP TABLE __case_block AS
SELECT case_id, CAST(coalesce(sum(n) OVER (ORDER BY c ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
                     * {blocks} // {max(int(events), 1)} AS BIGINT) AS __blk FROM d_case""")
        self.con.execute("COPY (SELECT e.*, k.__blk FROM ev e "
                         "JOIN __case_block k ON k.case_id IS NOT DISTINCT FROM e.case_id) "
                         f"TO {_sql_text(out)} (FORMAT parquet, PARTITION_BY (__blk))")
        self.con.execute("DROP TABLE __case_block")
        return sorted((str(p) for p in Path(out).glob("__blk=*")), key=lambda p: int(p.rsplit("=", 1)[1]))

    def use_block(self, block, i: int = 0, of: int = 1) -> None:
        """``ev`` = the events of block ``i`` of ``of`` (a directory from :meth:`split_by_case`),
        or (``None``) the whole log again, the blocks' files removed."""
        if block is None:
            if self._blocks is not None:
                self._blocks.cleanup()
                self._blocks = None
                self.con.execute(f"CREATE OR REPLACE TEMP VIEW ev AS {self._ev_sql}")
            return
        if self.progress is not None:
            self.progress(f"cases, block {i + 1} of {of}")
        self.con.execute("CREATE OR REPLACE TEMP VIEW ev AS SELECT * FROM "
                         f"read_parquet({_sql_text(os.path.join(block, '*.parquet'))}, hive_partitioning = false)")

    def register(self, name: str, frame: pd.DataFrame) -> None:
        self.con.register(f"{name}_df", frame)
        self.con.execute(f"CREATE OR REPLACE {self._kind} {name} AS SELECT * FROM {name}_df")
        self.con.unregister(f"{name}_df")

    def materialize(self, name: str, sql: str, view: bool = False, append: bool = False) -> None:
        """The table (or view) ``name`` as ``sql``; ``append``: its rows added to the table."""
        if self.progress is not None and not view:
            base = name.removesuffix("__all")  # a block's rows added to the whole: the step's own label
            self.progress(self.labels.get(base, base))
        if append:
            self.con.execute(f"INSERT INTO {name} {sql}")
            return
        kind = "TEMP VIEW" if view else self._kind
        self.con.execute(f"CREATE OR REPLACE {kind} {name} AS {sql}")

    def fetch(self, sql: str) -> pd.DataFrame:
        return _arrow_to_pandas(self.con.sql(sql).to_arrow_table())

    def batches(self, sql: str, rows: int = 131_072):
        """The result of ``sql`` as DataFrames of at most ``rows`` rows each, in order:
        never the whole result in memory at once."""
        reader = self.con.sql(sql).fetch_arrow_reader(rows)
        for batch in reader:
            import pyarrow as pa

            yield _arrow_to_pandas(pa.Table.from_batches([batch]))

    def drop(self, name: str) -> None:
        """Free a table no later step reads."""
        self.con.execute(f"DROP TABLE IF EXISTS {name}")

    def rename(self, name: str, to: str) -> None:
        self.con.execute(f"ALTER TABLE {name} RENAME TO {to}")

    def close(self) -> None:
        for name in self._registered:
            try:
                self.con.unregister(name)
            except Exception:  # pragma: no cover
                pass
        self.con.close()
        try:
            if self._blocks is not None:
                self._blocks.cleanup()
            if self._made is not None and os.path.isdir(self._made) and not os.listdir(self._made):
                os.rmdir(self._made)
        finally:
            if self._dir is not None:
                self._dir.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _select(types: dict[str, str], order: str, dialect: str) -> str:
    """The loader's select list: canonical columns, times as local microseconds."""
    spark = dialect == "spark"
    q = (lambda c: f"`{c}`") if spark else (lambda c: f'"{c}"')  # noqa: E731
    text, lst = ("STRING", "ARRAY<STRING>") if spark else ("VARCHAR", "VARCHAR[]")
    cols = []
    for c in TEXT_COLUMNS:
        cols.append(f"CAST({q(c)} AS {text}) AS {c}" if c in types else f"CAST(NULL AS {text}) AS {c}")
    for c in NUMBER_COLUMNS:
        cols.append(f"CAST({q(c)} AS DOUBLE) AS {c}" if c in types else f"CAST(NULL AS DOUBLE) AS {c}")
    cols.append("CAST(in_person AS BOOLEAN) AS in_person" if "in_person" in types else
                "CAST(NULL AS BOOLEAN) AS in_person")
    m = types.get("materials", "")
    cols.append(f"CAST(materials AS {lst}) AS materials" if ("[]" in m or "ARRAY" in m)
                else f"CAST(NULL AS {lst}) AS materials")
    for c, alias in TIME_COLUMNS.items():
        t = types.get(c)
        if t is None:
            cols.append(f"CAST(NULL AS BIGINT) AS {alias}")
        elif not spark:
            # Shanghai has been UTC+8 all year since 1991: local wall-clock time is the instant + 8 h
            expr = (f"epoch_us({q(c)}) + {UTC8_US}" if "(INT96)" in t  # the UTC instant, read without its zone
                    else f"epoch_us(CAST({q(c)} AS TIMESTAMPTZ)) + {UTC8_US}" if "TIME ZONE" in t or "TIMESTAMPTZ" in t
                    else f"epoch_us(CAST({q(c)} AS TIMESTAMP))")
            cols.append(f"{expr} AS {alias}")
        else:
            # nanosecond Parquet timestamps (pandas' default) reach Spark as longs
            # (spark.sql.legacy.parquet.nanosAsLong): nanoseconds since the epoch, UTC
            expr = (f"unix_micros(CAST({q(c)} AS TIMESTAMP))" if "NTZ" in t
                    else f"({q(c)} DIV 1000) + {UTC8_US}" if t in ("BIGINT", "LONG")
                    else f"unix_micros({q(c)}) + {UTC8_US}")
            cols.append(f"{expr} AS {alias}")
    cols.append(f"CAST({order} AS BIGINT) AS _o")
    return ", ".join(cols)


class SparkEngine:
    """PySpark. The session is created (or reused) with the master from the options."""

    name = "spark"

    def __init__(self, options: EngineOptions):
        try:
            with warnings.catch_warnings():  # pyspark's notice that it has not caught up with pandas 3
                warnings.filterwarnings("ignore", message=".*PySpark does not yet fully support pandas.*")
                import pyspark  # noqa: F401
                from pyspark.sql import SparkSession
        except ImportError:
            raise ConfigError("the Spark engine needs pyspark, which is not installed",
                              hint="pip install 'procmine[spark]' (and Java 17: apt-get install openjdk-17-jre-headless)"
                              ) from None
        import sqlglot  # noqa: F401

        master = options.spark_master or "local[2]"
        builder = SparkSession.builder.appName("procmine")
        if master.startswith("sc://"):
            builder = builder.remote(master)
        else:
            builder = builder.master(master)
            if _on_this_machine(master):  # Python workers in this interpreter, not whatever python3 is on PATH
                builder = builder.config("spark.pyspark.python", os.environ.get("PYSPARK_PYTHON", sys.executable))
                # for the JVM this process starts: bind to loopback only, and log Spark's errors only
                # (spark-conf/log4j2.properties) unless the user has a Spark configuration of their own
                os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
                os.environ.setdefault("SPARK_CONF_DIR", str(Path(__file__).with_name("spark-conf")))
                if not master.startswith("local"):  # a cluster on loopback: executors call the driver back there
                    builder = builder.config("spark.driver.host", "127.0.0.1")
                    builder = builder.config("spark.driver.bindAddress", "127.0.0.1")
            builder = builder.config("spark.driver.memory", os.environ.get("PROCMINE_SPARK_DRIVER_MEMORY", "4g"))
            builder = builder.config("spark.ui.enabled", "false")
            builder = builder.config("spark.ui.showConsoleProgress", "false")
        for k, v in {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "false",
                     "spark.sql.execution.arrow.pyspark.enabled": "true",
                     "spark.sql.legacy.parquet.nanosAsLong": "true",
                     "spark.sql.shuffle.partitions": os.environ.get("PROCMINE_SPARK_PARTITIONS", "8"),
                     **options.spark_conf}.items():
            builder = builder.config(k, v)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*PySpark does not yet fully support pandas.*")
                self.spark = builder.getOrCreate()
            if not master.startswith("sc://"):
                self.spark.sparkContext.setLogLevel("ERROR")
        except Exception as exc:  # Java missing, master unreachable
            raise ConfigError(f"could not start Spark ({master}): {str(exc).splitlines()[0] if str(exc) else exc}",
                              hint="Spark needs Java 17 (openjdk-17-jre-headless) and a reachable master; "
                                   "set --spark-master or PROCMINE_SPARK_MASTER") from None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._cached: list = []
        self.progress = options.progress
        self.labels = dict(STEP_LABELS)  # table → its progress label
        # row-level results are written by Spark as Parquet datasets here and read back from
        # the files (``fetch``, ``batches``): nothing row-level is collected through the driver
        self._out_base = options.spark_results or options.temp_dir or None
        self._out: tempfile.TemporaryDirectory | None = None
        self._n = 0

    def _sql(self, duck_sql: str) -> str:
        import sqlglot

        out = sqlglot.transpile(duck_sql, read="duckdb", write="spark")[0]
        # DuckDB's quantile_cont(x, p) arrives as PERCENTILE_CONT(x, p), which Spark does not
        # take; Spark's exact percentile with linear interpolation is PERCENTILE(x, p)
        return re.sub(r"\bPERCENTILE_CONT\(", "PERCENTILE(", out)

    def load(self, source, columns: list[str] | None = None) -> None:
        if _is_path(source):
            p = str(source)
            if not is_remote(p):
                files = parquet_files(p)  # a clear error for a missing local path
                if is_delta(p):  # a Delta table: its current files, never every file in the folder
                    base, p = p, files
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            self._tmp = tempfile.TemporaryDirectory(prefix="procmine-spark-")
            p = os.path.join(self._tmp.name, "log.parquet")
            table = pa.Table.from_pandas(source, preserve_index=False)
            pq.write_table(table, p)
        df = (self.spark.read.option("basePath", base).parquet(*p) if isinstance(p, list)  # its folders: partitions
              else self.spark.read.option("recursiveFileLookup", "true").parquet(p))
        df = df.selectExpr("*", "_metadata.file_path AS __f", "_metadata.row_index AS __r")
        # the order key, as the embedded engine makes it: the file's place among the files
        # sorted by their local path, then the row in the file
        paths = [r[0] for r in df.select("__f").distinct().collect()]
        order = sorted(paths, key=lambda u: urllib.parse.unquote(urllib.parse.urlparse(u).path))
        self.register("__files", pd.DataFrame({"__f": order, "__i": range(len(order))}))
        df = df.join(self.spark.table("__files").hint("broadcast"), "__f")
        df.createOrReplaceTempView("src")
        types = {f.name: f.dataType.simpleString().upper() for f in df.schema.fields}
        types = {k: ("ARRAY" if v.startswith("ARRAY") else v) for k, v in types.items()}
        self.spark.sql(f"SELECT {_select(types, f'__i * {ROW_BITS} + __r', 'spark')} FROM src"
                       ).createOrReplaceTempView("ev")

    def register(self, name: str, frame: pd.DataFrame) -> None:
        def kind(dtype) -> str:
            k = getattr(dtype, "kind", "O")
            return {"i": "bigint", "u": "bigint", "f": "double", "b": "boolean"}.get(k, "string")

        schema = ", ".join(f"`{c}` {kind(frame[c].dtype)}" for c in frame.columns)
        rows = frame.astype(object).where(frame.notna(), None).values.tolist()
        self.spark.createDataFrame(rows, schema=schema).createOrReplaceTempView(name)

    def split_by_case(self, events: int) -> list:
        """One block: Spark partitions the work itself (so it never appends or renames)."""
        return [None]

    def use_block(self, block, i: int = 0, of: int = 1) -> None:
        pass

    def materialize(self, name: str, sql: str, view: bool = False) -> None:
        if self.progress is not None and not view:
            self.progress(self.labels.get(name, name))
        df = self.spark.sql(self._sql(sql))
        if not view:
            self._describe(f"procmine: {name}")  # names the step's jobs in Spark's UI and event log
            df = df.localCheckpoint(eager=True)
        df.createOrReplaceTempView(name)

    def _write(self, sql: str) -> Path:
        """Spark writes the result of ``sql`` as a Parquet dataset (its executors, part by part)
        into a folder beside, renamed into place once the write has committed: the folder
        returned is whole. Its part files, in name order, hold the rows in the result's order."""
        if self._out is None:
            self._out = tempfile.TemporaryDirectory(prefix="procmine-spark-results-", dir=self._out_base)
        self._n += 1
        done = Path(self._out.name) / f"r{self._n:05d}"
        tmp = done.with_name(done.name + ".tmp")
        self._describe(f"procmine: result {self._n}: {' '.join(sql.split())[:80]}")
        self.spark.sql(self._sql(sql)).write.mode("overwrite").parquet(tmp.resolve().as_uri())
        os.rename(tmp, done)
        return done

    def _describe(self, text: str) -> None:
        try:
            self.spark.sparkContext.setJobDescription(text)
        except Exception:  # Spark Connect has no SparkContext
            pass

    @staticmethod
    def _dataset(folder: Path):
        import pyarrow.dataset as ds

        files = sorted(str(f) for f in folder.glob("part-*") if f.name.endswith(".parquet"))
        return ds.dataset(files, format="parquet")

    def fetch(self, sql: str) -> pd.DataFrame:
        """The result of ``sql``, written as a dataset by Spark and read from its files."""
        folder = self._write(sql)
        try:
            return _arrow_to_pandas(self._dataset(folder).to_table())
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def batches(self, sql: str, rows: int = 131_072):
        """The result of ``sql`` in DataFrames of at most ``rows`` rows, in order, read from
        the dataset Spark wrote: neither the driver nor this process holds the whole result."""
        folder = self._write(sql)
        try:
            data = self._dataset(folder)
            empty = True
            for batch in data.to_batches(batch_size=rows):
                if batch.num_rows:
                    empty = False
                    yield _arrow_to_pandas(pa_table([batch]))
            if empty:
                yield _arrow_to_pandas(data.schema.empty_table())
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def drop(self, name: str) -> None:
        """Free a table no later step reads."""
        self.spark.catalog.dropTempView(name)

    def close(self) -> None:
        for name in ("ev", "src"):
            self.spark.catalog.dropTempView(name)
        if self._tmp is not None:
            self._tmp.cleanup()
        if self._out is not None:
            self._out.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
