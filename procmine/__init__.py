"""procmine — mine government-service approval logs for 最多跑一次 audits.

The public library is flat and mirrors the CLI::

    import procmine
    result = procmine.read_export(["logs/"])        # Excel/CSV/XES → ImportResult
    procmine.write_log(result.log, "out/log.parquet")
    log = procmine.read_log("out/log.parquet")
    procmine.import_dataset(["big.csv"], "out/log/")  # streamed → partitioned Parquet dataset
    procmine.append_export(["today.xlsx"], "out/daily/")  # merged into a dataset, one version per append
"""

from __future__ import annotations

from .errors import ConfigError, InputError, MappingError, NothingUsableError, OutputError, ProcmineError, UsageError
from .sources.append import AppendResult, append_export
from .log.eventlog import CANONICAL, to_pm4py, write_log
from .sources.convert import ImportResult, SheetReport
from .sources.importer import read_export, read_log
from .sources.mapping import Mapping, load_mapping
from .sources.streaming import DatasetResult, import_dataset

from .config import VERSION as __version__  # noqa: E402

__all__ = [
    "AppendResult", "CANONICAL", "ConfigError", "DatasetResult", "ImportResult", "InputError", "Mapping", "MappingError", "NothingUsableError",
    "OutputError", "ProcmineError", "SheetReport", "UsageError", "append_export", "import_dataset", "load_mapping", "read_export", "read_log", "to_pm4py",
    "write_log", "__version__",
]
