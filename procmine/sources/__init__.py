"""Sources: exports and databases → raw tables → canonical rows, every row accounted for.

- :mod:`.readers`, :mod:`.xlsx_pieces` — Excel/CSV/XES files (title rows, merged cells, sheets) → raw tables
- :mod:`.mapping` — a table's columns → canonical fields (long, wide 台账, presets, user files)
- :mod:`.convert` — one raw table → canonical events; duplicates; the import's accounting
- :mod:`.relational`, :mod:`.database` — case/step/document/rating tables, in files or a database
- :mod:`.importer` — the import: :func:`read_export`, :func:`read_log`
- :mod:`.streaming` — a large import streamed into a partitioned Parquet dataset
- :mod:`.append` — daily exports merged into a dataset, one version per append
"""
