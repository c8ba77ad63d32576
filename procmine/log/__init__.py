"""The canonical log: its schema (:mod:`.schema`), values (:mod:`.parsing`), Parquet files and
datasets (:mod:`.eventlog`), the appended (Delta) dataset (:mod:`.deltalog`) and interchange
with other tools — XES, OCEL, pm4py (:mod:`.interop`). Below every stage that reads a log."""
