"""The maps' index: what :func:`procmine.analysis.discover.discover_map` needs of every case, made once per
log version, so that a map filtered by period, variant, service, outcome or a set of cases is summed from
it rather than discovered again from the events.

A map's counts (events, cases, edge counts, starts and ends) are sums over its cases, and its times
(p50/p90 of the waits and service times) are quantiles of per-step values. The index keeps, over the
whole log in the discovery's case/time order:

- per case: its service, start (the earliest start or end of its events, as the period filter reads it),
  outcome, variant (:func:`~procmine.analysis.discover.variants`), first and last step and department;
- per row of each of the four tables a map is made of — the events (activity nodes), the step pairs
  (activity edges), the (department, case) stays summed (department nodes) and the department handovers
  (department edges) — its key (step, edge, department or handover), its case, whether it is the
  first row of its (key, case), and its value (hours), ordered by key then value.

A map of a set of cases is then bincounts of the kept rows, and the quantiles are read off the kept
values (still in order), with the interpolation pandas' groupby uses — so the numbers equal
``discover_map`` over the same cases' events (tests/test_web_maps.py compares them). The arrays are
numpy files, memory-mapped when read: a request touches them, the process does not hold them.

The index assumes a case's events share one service (a filter by service then keeps or drops whole
cases); a log where they do not is marked, and its service maps are discovered from the events.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine.metrics import sorted_log
from ..errors import UsageError
from ..log.schema import replace_dir
from .discover import UNKNOWN_DEPT, ProcessMap, period_bounds, simplify, variants

FORMAT = 1
CASE_ARRAYS = ("service", "start", "outcome", "variant", "first_act", "last_act", "first_dept", "last_dept",
               "has_dept")
TABLES = ("anode", "aedge", "dnode", "dedge")  # each: key, case, first, value (+ dnode: events)
NAT = np.iinfo(np.int64).min


def _codes(values: pd.Series) -> tuple[np.ndarray, list]:
    codes, names = pd.factorize(values)
    return codes.astype(np.int32), [str(n) for n in names]


def _table(key: np.ndarray, case: np.ndarray, value: np.ndarray, **extra) -> dict[str, np.ndarray]:
    """Rows ordered by key, then value (NaN last); ``first``: the first row of its (key, case)."""
    order = np.lexsort((value, key))  # a stable sort; NaN sorts last
    key, case, value = key[order], case[order], value[order]
    first = np.zeros(len(key), dtype=bool)
    _, at = np.unique(key.astype(np.int64) * (int(case.max()) + 1 if len(case) else 1) + case, return_index=True)
    first[at] = True
    out = {"key": key.astype(np.int32), "case": case.astype(np.int32), "first": first,
           "value": value.astype(np.float64)}
    out.update({k: v[order] for k, v in extra.items()})
    return out


def _ns(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype="datetime64[ns]")


@dataclass
class MapIndex:
    """The maps' index of one log version (see the module's text)."""

    meta: dict                       # names: activities, departments, services, outcomes, edges; flags
    cases: dict[str, np.ndarray]     # per case (in case code order)
    tables: dict[str, dict[str, np.ndarray]]
    case_ids: object                 # pyarrow array of the case ids (case code order)

    # -- making it -------------------------------------------------------------------
    @classmethod
    def build(cls, log: pd.DataFrame, outcome: pd.Series | None = None) -> "MapIndex":
        """The index of ``log`` (the maps' columns); ``outcome``: each case's outcome, by case id."""
        import pyarrow as pa

        s = sorted_log(log)
        n = len(s)
        case, case_names = pd.factorize(s["case_id"])
        case = case.astype(np.int32)
        n_cases = len(case_names)
        bounds = np.flatnonzero(np.r_[True, case[1:] != case[:-1]]) if n else np.array([], dtype=np.int64)
        nxt = np.r_[case[1:] == case[:-1], False] if n else np.array([], dtype=bool)
        act, act_names = _codes(s["activity"].astype("string"))
        dept, dept_names = _codes(s["department"].fillna(UNKNOWN_DEPT))
        svc_codes, services = _codes(s["service"]) if "service" in s else (np.full(n, -1, np.int32), [])
        unsupported = bool((act < 0).any())
        mixed = False
        if n:
            first_svc = svc_codes[bounds]
            mixed = bool((svc_codes != np.repeat(first_svc, np.diff(np.r_[bounds, n]))).any())
        else:
            first_svc = np.array([], dtype=np.int32)
        start, end = _ns(s["start_time"]), _ns(s["end_time"])
        ts = np.where(np.isnat(start), end, start).view("int64")
        # the case's start as filter_log reads it: the earliest start (or end) of its events; NaT when none
        big = np.where(ts == NAT, np.iinfo(np.int64).max, ts)
        case_start = np.minimum.reduceat(big, bounds) if n else np.array([], dtype=np.int64)
        case_start = np.where(case_start == np.iinfo(np.int64).max, NAT, case_start)
        ids = pd.Index(np.asarray(case_names.astype(str), dtype=object))
        if outcome is not None:
            oc = pd.Series(ids.map(outcome.to_dict()), dtype="string")
            out_codes, outcomes = _codes(oc)
        else:
            out_codes, outcomes = np.full(n_cases, -1, np.int32), []
        v = variants(s) if n else pd.DataFrame({"variant_text": [], "case_ids": []})
        var = np.full(n_cases, -1, np.int32)
        members = v["case_ids"].explode()  # index: the variant's place in v
        at = ids.get_indexer(members.to_numpy(dtype=object))
        var[at[at >= 0]] = members.index.to_numpy()[at >= 0]
        text_rank = np.argsort(np.argsort(v["variant_text"].to_numpy(dtype=object), kind="stable"),
                               kind="stable").astype(np.int32)

        # activity nodes: every event, its service time (hours)
        anode = _table(act, case, ((end - start) / np.timedelta64(1, "h")).astype(np.float64))
        # activity edges: consecutive steps of a case, the wait from one's end to the next's start
        src = np.flatnonzero(nxt)
        dst = src + 1
        end_or_start = np.where(np.isnat(end), start, end)
        start_or_end = np.where(np.isnat(start), end, start)
        wait = np.clip((start_or_end[dst] - end_or_start[src]) / np.timedelta64(1, "h"), 0, None)
        n_act = max(len(act_names), 1)
        edge_keys, edge_code = np.unique(act[src].astype(np.int64) * n_act + act[dst], return_inverse=True)
        aedge = _table(edge_code.astype(np.int32), case[src], wait.astype(np.float64))
        # department stays and handovers (department_map's, over the whole log: a stay never spans two cases)
        fs, fe = np.where(np.isnat(start), end, start), np.where(np.isnat(end), start, end)
        new_stay = np.r_[True, (dept[1:] != dept[:-1]) | (case[1:] != case[:-1])] if n else np.array([], bool)
        idx = np.flatnonzero(new_stay)
        stay_case, stay_dept = case[idx], dept[idx]
        stay_events = np.diff(np.r_[idx, n]) if n else np.array([], dtype=np.int64)
        stay_start = np.minimum.reduceat(fs.view("int64"), idx).view("datetime64[ns]") if n else fs
        stay_end = np.maximum.reduceat(fe.view("int64"), idx).view("datetime64[ns]") if n else fe
        same = stay_case[1:] == stay_case[:-1]
        a, b = np.flatnonzero(same), np.flatnonzero(same) + 1
        dwait = np.clip((stay_start[b] - stay_end[a]) / np.timedelta64(1, "h"), 0, None)
        n_dept = max(len(dept_names), 1)
        dedge_keys, dedge_code = np.unique(stay_dept[a].astype(np.int64) * n_dept + stay_dept[b],
                                           return_inverse=True)
        dedge = _table(dedge_code.astype(np.int32), stay_case[a], dwait.astype(np.float64))
        hours = (stay_end - stay_start) / np.timedelta64(1, "h")
        per = pd.DataFrame({"d": stay_dept, "c": stay_case, "h": hours, "e": stay_events}) \
            .groupby(["d", "c"], sort=False).agg(h=("h", "sum"), e=("e", "sum")).reset_index()
        dnode = _table(per["d"].to_numpy(np.int32), per["c"].to_numpy(np.int32), per["h"].to_numpy(np.float64),
                       events=per["e"].to_numpy(np.int64))
        dnode["first"] = np.ones(len(dnode["key"]), dtype=bool)  # one row per (department, case)
        stay_first = np.r_[True, ~same] if len(stay_case) else np.array([], bool)
        stay_last = np.r_[~same, True] if len(stay_case) else np.array([], bool)
        has_dept = s["department"].notna().to_numpy(dtype=bool)
        cases = {
            "service": first_svc.astype(np.int32), "start": case_start.astype(np.int64),
            "outcome": out_codes.astype(np.int32), "variant": var,
            "first_act": act[bounds].astype(np.int32) if n else np.array([], np.int32),
            "last_act": act[np.r_[bounds[1:] - 1, n - 1]].astype(np.int32) if n else np.array([], np.int32),
            "first_dept": stay_dept[stay_first].astype(np.int32), "last_dept": stay_dept[stay_last].astype(np.int32),
            "has_dept": np.logical_or.reduceat(has_dept, bounds) if n else np.array([], bool)}
        meta = {"format": FORMAT, "activities": list(act_names), "departments": list(dept_names),
                "services": services, "outcomes": outcomes, "mixed_services": mixed, "unsupported": unsupported,
                "edges": [[int(k // n_act), int(k % n_act)] for k in edge_keys],
                "dedges": [[int(k // n_dept), int(k % n_dept)] for k in dedge_keys],
                "variant_rank": text_rank.tolist(), "variants": int(len(v))}
        return cls(meta, cases, {"anode": anode, "aedge": aedge, "dnode": dnode, "dedge": dedge},
                   pa.array(ids.tolist(), pa.string()))

    def save(self, path: Path) -> None:
        """Written whole beside, then renamed into place (an interrupted write leaves no index)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        try:
            for k, arr in self.cases.items():
                np.save(tmp / f"case.{k}.npy", arr, allow_pickle=False)
            for t, cols in self.tables.items():
                for k, arr in cols.items():
                    np.save(tmp / f"{t}.{k}.npy", arr, allow_pickle=False)
            pq.write_table(pa.table({"case_id": self.case_ids}), tmp / "case_ids.parquet")
            (tmp / "meta.json").write_text(json.dumps(self.meta, ensure_ascii=False), encoding="utf-8")
            replace_dir(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, path: Path) -> "MapIndex | None":
        """The index kept at ``path`` (its arrays memory-mapped), None when there is none of this format."""
        import pyarrow.parquet as pq

        path = Path(path)
        try:
            meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if meta.get("format") != FORMAT:
            return None

        def arr(name: str) -> np.ndarray:
            return np.load(path / f"{name}.npy", mmap_mode="r", allow_pickle=False)

        cases = {k: arr(f"case.{k}") for k in CASE_ARRAYS}
        tables = {t: {k: arr(f"{t}.{k}") for k in ("key", "case", "first", "value")} for t in TABLES}
        tables["dnode"]["events"] = arr("dnode.events")
        return cls(meta, cases, tables, pq.read_table(path / "case_ids.parquet").column("case_id").combine_chunks())

    # -- reading it --------------------------------------------------------------------
    @property
    def n_cases(self) -> int:
        return len(self.case_ids)

    def supports(self, service: str | None) -> bool:
        """Whether maps of this filter can be summed from the index (else: discover them from the events)."""
        return not self.meta["unsupported"] and not (service and self.meta["mixed_services"])

    def mask_of(self, case_ids) -> np.ndarray:
        """Which cases of the index are among ``case_ids`` (an iterable of ids)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        keep = pa.array(sorted(str(c) for c in case_ids), pa.string())
        return pc.is_in(self.case_ids, value_set=keep).to_numpy(zero_copy_only=False).astype(bool)

    def _code_mask(self, column: str, names_key: str, value: str) -> np.ndarray:
        names = self.meta[names_key]
        if value not in names:
            return np.zeros(self.n_cases, dtype=bool)
        return np.asarray(self.cases[column]) == names.index(value)

    def select(self, keep: np.ndarray | None = None, *, service: str | None = None, outcome: str | None = None,
               date_from: str | None = None, date_to: str | None = None,
               top_variants: int | None = None) -> np.ndarray:
        """The cases a map of these filters is made of: those of ``keep`` (a mask; all: None), of one service
        and one outcome, starting in [from, to], in the ``top_variants`` most frequent variants among them
        (filter_log's rules). Raises UsageError as filter_log does when the period leaves no case."""
        mask = np.ones(self.n_cases, dtype=bool) if keep is None else np.asarray(keep, dtype=bool).copy()
        if service:
            mask &= self._code_mask("service", "services", service)
        if outcome:
            mask &= self._code_mask("outcome", "outcomes", outcome)
        if not mask.any():
            return mask
        if date_from or date_to:
            lo, hi = period_bounds(date_from, date_to)
            start = np.asarray(self.cases["start"])
            mask &= start != NAT
            if lo is not None:
                mask &= start >= lo
            if hi is not None:
                mask &= start < hi
            if not mask.any():
                raise UsageError("no cases left after the filters")
        if top_variants:
            var = np.asarray(self.cases["variant"])
            counts = np.bincount(var[mask], minlength=self.meta["variants"])
            present = np.flatnonzero(counts)
            rank = np.asarray(self.meta["variant_rank"], dtype=np.int64)[present]
            order = present[np.lexsort((rank, -counts[present]))]  # most cases first, then by their text
            chosen = np.zeros(self.meta["variants"], dtype=bool)
            chosen[order[:top_variants]] = True
            mask &= chosen[var]
        return mask

    def process_map(self, mask: np.ndarray, view: str = "activity", *, filters: dict | None = None,
                    max_nodes: int = 40, max_edges: int = 80) -> ProcessMap:
        """The map of the cases in ``mask`` (:meth:`select`), as discover_map (frequency, hours) draws it."""
        if view not in ("activity", "department"):
            raise UsageError(f"--view must be activity or department, not {view!r}")
        mask = np.asarray(mask, dtype=bool)
        if view == "department" and not np.asarray(self.cases["has_dept"])[mask].any():
            raise UsageError("the log has no department values (承办部门), so there is no department view",
                             hint="import an export with a department column, or use --view activity")
        acts = np.asarray(self.meta["activities"], dtype=object)
        depts = np.asarray(self.meta["departments"], dtype=object)
        if view == "activity":
            names, node_t, edge_t, pairs = acts, self.tables["anode"], self.tables["aedge"], self.meta["edges"]
            first, last = self.cases["first_act"], self.cases["last_act"]
        else:
            names, node_t, edge_t, pairs = depts, self.tables["dnode"], self.tables["dedge"], self.meta["dedges"]
            first, last = self.cases["first_dept"], self.cases["last_dept"]
        k = len(names)
        nodes = _summed(node_t, mask, k, events=view == "department")
        nodes = nodes[nodes["events"] > 0]
        nodes.insert(0, "name", names[nodes.index.to_numpy()])
        nodes = nodes.rename(columns={"p50": "time_p50", "p90": "time_p90"})
        nodes = nodes[["name", "events", "cases", "time_p50", "time_p90"]].sort_values("name").reset_index(drop=True)
        edges = _summed(edge_t, mask, len(pairs))
        edges = edges[edges["events"] > 0]
        ends = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)[edges.index.to_numpy()]
        edges = pd.DataFrame({"source": names[ends[:, 0]] if len(ends) else [],
                              "target": names[ends[:, 1]] if len(ends) else [],
                              "count": edges["events"].to_numpy(np.int64), "cases": edges["cases"].to_numpy(np.int64),
                              "wait_p50": edges["p50"].to_numpy(), "wait_p90": edges["p90"].to_numpy()})
        edges = edges.sort_values(["source", "target"]).reset_index(drop=True)
        pm = ProcessMap(view, "frequency", nodes, edges, _counts(names, np.asarray(first)[mask]),
                        _counts(names, np.asarray(last)[mask]), int(mask.sum()))
        pm = simplify(pm, max_nodes=max_nodes, max_edges=max_edges)
        pm.filters = {key: val for key, val in (filters or {}).items() if val}
        return pm


def _counts(names: np.ndarray, codes: np.ndarray) -> dict[str, int]:
    n = np.bincount(codes, minlength=len(names))
    return {str(names[i]): int(n[i]) for i in sorted(np.flatnonzero(n), key=lambda i: str(names[i]))}


def _summed(t: dict[str, np.ndarray], mask: np.ndarray, k: int, events: bool = False) -> pd.DataFrame:
    """Per key of table ``t``, over the rows of the cases in ``mask``: events (rows, or their ``events``),
    cases (first rows of a (key, case)), and the p50/p90 of the values (NaN left out), interpolated as
    pandas' groupby median and quantile do."""
    key = np.asarray(t["key"])
    kept = mask[np.asarray(t["case"])]
    kk = key[kept]
    ev = np.bincount(kk, weights=np.asarray(t["events"])[kept], minlength=k).astype(np.int64) if events \
        else np.bincount(kk, minlength=k)
    cases = np.bincount(key[kept & np.asarray(t["first"])], minlength=k)
    value = np.asarray(t["value"])
    ok = kept & ~np.isnan(value)
    vals, vk = value[ok], key[ok]  # still ordered by key, then value
    n = np.bincount(vk, minlength=k)
    off = np.r_[0, np.cumsum(n)[:-1]]
    p50, p90 = np.full(k, np.nan), np.full(k, np.nan)
    has = n > 0
    if has.any():
        o, m = off[has], n[has]
        lo, hi = vals[o + (m - 1) // 2], vals[o + m // 2]
        p50[has] = np.where(m % 2 == 1, lo, (lo + hi) / 2)
        q = 0.9 * (m - 1)
        i = np.floor(q).astype(np.int64)
        frac = q - i
        a, b = vals[o + i], vals[o + np.minimum(i + 1, m - 1)]
        p90[has] = a + (b - a) * frac
    return pd.DataFrame({"events": ev, "cases": cases, "p50": p50, "p90": p90})
