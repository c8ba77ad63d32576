"""The workbench's filtered maps over a bigger log (issue 28: a filtered map ≤ 1 s over 1M events, ≤ 2 s over
10M, memory bounded): `python benchmarks/web_maps.py [--copies 10]`.

Reads the map events web.py's project keeps (benchmarks/data/web_project, run benchmarks/web.py first), makes
``--copies`` copies of them (case ids suffixed -0, -1, …; 10 copies of the 1M log = 10M events), builds the
maps' index once (:class:`procmine.analysis.mapindex.MapIndex`, what an import does), then times maps of
filters over most of the log — each asked once, nothing kept between them — from the index as the server
reads it (memory-mapped): summing the map and laying it out with Graphviz. Prints the medians, the index's
size on disk and the process's peak memory. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def main() -> None:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from procmine.analysis.mapindex import MapIndex
    from procmine.analysis.maps import to_graphviz
    from procmine.log.eventlog import conform_columns

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--copies", type=int, default=10)
    args = p.parse_args()
    found = sorted((HERE / "data" / "web_project" / "cache").glob("*/map_events.parquet"))
    if not found:
        raise SystemExit("no map events: run benchmarks/web.py first (it builds benchmarks/data/web_project)")
    one = pq.read_table(found[-1])
    parts = []
    for k in range(args.copies):
        ids = pc.binary_join_element_wise(one.column("case_id").cast(pa.string()), pa.scalar(f"-{k}"), "")
        parts.append(one.set_column(one.schema.get_field_index("case_id"), "case_id", ids))
    table = pa.concat_tables(parts).sort_by([("service", "ascending"), ("case_id", "ascending"),
                                             ("start_time", "ascending"), ("end_time", "ascending")])
    del parts
    events = table.to_pandas()
    del table
    n = len(events)
    outcome = events.groupby(events["case_id"].astype(str), sort=False)["outcome"].first()
    t = time.perf_counter()
    index = MapIndex.build(conform_columns(events.drop(columns=["outcome"])), outcome)
    t_build = time.perf_counter() - t
    del events
    with tempfile.TemporaryDirectory(dir=HERE / "data") as tmp:
        path = Path(tmp) / "map_index"
        index.save(path)
        size = sum(f.stat().st_size for f in path.iterdir())
        del index
        before = _rss()
        t = time.perf_counter()
        index = MapIndex.load(path)
        t_load = time.perf_counter() - t
        start = pd.Series(np.asarray(index.cases["start"])).pipe(
            lambda s: pd.to_datetime(s[s != np.iinfo(np.int64).min], utc=True).dt.tz_convert("Asia/Shanghai"))
        first, late = start.min().strftime("%Y-%m-%d"), start.quantile(0.75)
        ends = [(late + pd.Timedelta(days=k)).strftime("%Y-%m-%d") for k in range(5)]
        some = index.mask_of(np.asarray(index.case_ids.to_pylist(), dtype=object)[::3])  # a third of the cases
        kinds = {"period (about 3/4 of the cases)": [dict(date_from=first, date_to=e) for e in ends],
                 "top K variants (K = 5…9)": [dict(top_variants=k) for k in range(5, 10)],
                 "period + top 5 variants": [dict(date_from=first, date_to=e, top_variants=5) for e in ends],
                 "a third of the cases (a 部门 scope) + period": [dict(keep=some, date_to=e) for e in ends]}
        print(f"maps' index over {n:,} events, {index.n_cases:,} cases: built in {t_build:.1f} s (once per import), "
              f"{size / 2**20:.0f} MB on disk, opened in {t_load * 1000:.0f} ms")
        for view in ("activity", "department"):
            for label, queries in kinds.items():
                times = []
                for q in queries:
                    q = dict(q)
                    t = time.perf_counter()
                    mask = index.select(q.pop("keep", None), **q)
                    pm = index.process_map(mask, view)
                    json.loads(to_graphviz(pm).pipe(format="json0"))
                    times.append(time.perf_counter() - t)
                med = statistics.median(times)
                target = 1 if n <= 1_500_000 else 2
                print(f"  {view} map, {label}: median {med * 1000:.0f} ms, max {max(times) * 1000:.0f} ms   "
                      f"≤ {target} s {'ok' if med <= target else 'MISSED'}")
        after = _rss()
        print(f"  memory over the maps: heap (RssAnon) {before['RssAnon']:.0f} → {after['RssAnon']:.0f} MB; "
              f"mapped index pages (RssFile, the page cache's, reclaimable) {before['RssFile']:.0f} → "
              f"{after['RssFile']:.0f} MB; the build's peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MB")


def _rss() -> dict[str, float]:
    """This process's resident memory in MB, by kind (Linux /proc)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) / 1024
    return out


if __name__ == "__main__":
    main()
