"""Discovery: process maps (activity and department views), variants, pm4py models.

Analysis returns plain data (:class:`ProcessMap`, DataFrames); :mod:`procmine.analysis.maps`
draws it. Overlays are computed here, vectorised, from both timestamps —
pm4py's support for start timestamps is partial — and the activity edge counts
equal ``pm4py.discover_dfg`` on the same data (tested on the shared real logs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..engine.workcal import working_days, working_hours
from ..errors import UsageError
from ..engine.metrics import sorted_log
from ..calendar.workdays import WorkCalendar

UNKNOWN_DEPT = "「未注明部门」"


@dataclass
class ProcessMap:
    """Nodes and edges with counts and times; what the thresholds hid."""

    view: str  # activity | department
    metric: str  # frequency | waiting | service
    nodes: pd.DataFrame  # name, events, cases, time_p50, time_p90 (hours)
    edges: pd.DataFrame  # source, target, count, cases, wait_p50, wait_p90 (hours)
    starts: dict[str, int]
    ends: dict[str, int]
    cases: int
    hidden: dict = field(default_factory=dict)  # nodes/edges/edge_share hidden
    filters: dict = field(default_factory=dict)
    lanes: dict[str, str] = field(default_factory=dict)  # activity -> department (for --lanes)
    unit: str = "hours"

    def to_dict(self) -> dict:
        def rows(frame: pd.DataFrame) -> list[dict]:
            out = []
            for rec in frame.to_dict(orient="records"):
                out.append({k: (None if isinstance(v, float) and not np.isfinite(v) else
                                (round(v, 3) if isinstance(v, float) else (int(v) if isinstance(v, np.integer) else v)))
                            for k, v in rec.items()})
            return out
        return {"view": self.view, "metric": self.metric, "unit": self.unit, "cases": self.cases,
                "filters": self.filters, "hidden": self.hidden, "starts": self.starts, "ends": self.ends,
                "nodes": rows(self.nodes), "edges": rows(self.edges)}


def filter_log(log: pd.DataFrame, *, service: str | None = None, date_from: str | None = None,
               date_to: str | None = None, top_variants: int | None = None) -> pd.DataFrame:
    """The cases of one service, starting in [from, to], in the top-K variants (a new frame)."""
    out = log
    if service:
        services = sorted(out["service"].dropna().unique())
        if service not in services:
            raise UsageError(f"no service called {service!r} in the log",
                             hint="services present: " + ", ".join(map(str, services)))
        out = out[out["service"] == service]
    if date_from or date_to:
        lo, hi = period_bounds(date_from, date_to)
        ts = out["start_time"].fillna(out["end_time"])
        case_start = ts.groupby(out["case_id"]).transform("min")
        keep = pd.Series(True, index=out.index)
        if lo is not None:
            keep &= case_start >= pd.Timestamp(lo, tz="UTC")
        if hi is not None:
            keep &= case_start < pd.Timestamp(hi, tz="UTC")
        out = out[keep]
    if top_variants:
        v = variants(out)
        keep_cases = set(v.head(top_variants)["case_ids"].explode())
        out = out[out["case_id"].isin(keep_cases)]
    if out.empty:
        raise UsageError("no cases left after the filters")
    return out


def period_bounds(date_from: str | None, date_to: str | None) -> tuple[int | None, int | None]:
    """The period [from, to] (dates, both days included, in Beijing time) as [lo, hi) in ns since the epoch
    (UTC): the bounds a case's start is held to (None: no bound)."""
    try:
        lo = pd.Timestamp(date_from, tz="Asia/Shanghai").value if date_from else None
        hi = (pd.Timestamp(date_to, tz="Asia/Shanghai") + pd.Timedelta(days=1)).value if date_to else None
    except ValueError as exc:
        raise UsageError(f"--from/--to must be dates like 2024-07-01: {exc}") from None
    return lo, hi


def _steps(log: pd.DataFrame) -> pd.DataFrame:
    s = sorted_log(log)
    case = s["case_id"]
    same_case = (case == case.shift(-1)).fillna(False).to_numpy(dtype=bool)
    return s, same_case


def _q(series: pd.Series, q: float) -> float:
    series = series.dropna()
    return float(series.quantile(q)) if len(series) else float("nan")


def _ns(series: pd.Series) -> np.ndarray:
    """tz-aware times → datetime64[ns] (UTC) without going through Python objects."""
    return series.to_numpy(dtype="datetime64[ns]")


def _edge_table(src: np.ndarray, dst: np.ndarray, case: np.ndarray, wait: np.ndarray, names: np.ndarray) -> pd.DataFrame:
    """Edges from integer-coded (source, target) pairs: count, cases, waiting p50/p90."""
    g = pd.DataFrame({"s": src, "t": dst, "case": case, "wait": wait}).groupby(["s", "t"], sort=False)
    edges = pd.DataFrame({"count": g.size(), "cases": g["case"].nunique(),
                          "wait_p50": g["wait"].median(), "wait_p90": g["wait"].quantile(0.9)}).reset_index()
    edges.insert(0, "source", names[edges.pop("s").to_numpy()])
    edges.insert(1, "target", names[edges.pop("t").to_numpy()])
    return edges.sort_values(["source", "target"]).reset_index(drop=True)


def _office_days(a: np.ndarray, b: np.ndarray, calendar) -> np.ndarray:
    """Waits from ``a`` to ``b`` (UTC datetime64) in working days of office time: the office
    hours between them on the Chinese calendar over one day's office hours (the findings' measure)."""
    cal = calendar or WorkCalendar()

    def local(x: np.ndarray) -> pd.Series:
        return pd.Series(x).dt.tz_localize("UTC").dt.tz_convert("Asia/Shanghai")

    return (working_hours(cal, local(a), local(b)) / cal.office_hours_per_day).to_numpy(dtype=float)


def activity_map(log: pd.DataFrame, metric: str = "frequency", *, unit: str = "hours", calendar=None) -> ProcessMap:
    """Directly-follows map: edge = consecutive steps in a case (A → B) with
    count, cases, and waiting (A's end → B's start) p50/p90; node = step with
    events, cases and service time (start → end) p50/p90. ``unit="office_days"``: waits
    in working days of office time on ``calendar`` (a WorkCalendar; default office hours)."""
    s, nxt = _steps(log)
    src = np.flatnonzero(nxt)
    dst = src + 1
    act_codes, act_names = pd.factorize(s["activity"].astype("string"))
    act_names = np.asarray(act_names.astype(str), dtype=object)
    case_codes, _ = pd.factorize(s["case_id"])
    start, end = _ns(s["start_time"]), _ns(s["end_time"])
    end_or_start = np.where(np.isnat(end), start, end)
    start_or_end = np.where(np.isnat(start), end, start)
    wait = np.clip((start_or_end[dst] - end_or_start[src]) / np.timedelta64(1, "h"), 0, None)
    if unit == "working_days":
        cal = WorkCalendar()
        wait = working_days(cal, pd.Series(end_or_start[src]).dt.tz_localize("UTC").dt.tz_convert("Asia/Shanghai"),
                                pd.Series(start_or_end[dst]).dt.tz_localize("UTC").dt.tz_convert("Asia/Shanghai")).to_numpy()
    elif unit == "office_days":
        wait = _office_days(end_or_start[src], start_or_end[dst], calendar)
    edges = _edge_table(act_codes[src], act_codes[dst], case_codes[src], wait, act_names)
    svc = (end - start) / np.timedelta64(1, "h")
    n = pd.DataFrame({"a": act_codes, "case": case_codes, "svc": svc})
    gn = n.groupby("a", sort=False)
    nodes = pd.DataFrame({"events": gn.size(), "cases": gn["case"].nunique(),
                          "time_p50": gn["svc"].median(), "time_p90": gn["svc"].quantile(0.9)}).reset_index()
    nodes.insert(0, "name", act_names[nodes.pop("a").to_numpy()])
    nodes = nodes.sort_values("name").reset_index(drop=True)
    first = ~np.r_[False, nxt[:-1]]
    last = ~nxt
    dept_codes, dept_names = pd.factorize(s["department"].fillna(UNKNOWN_DEPT))
    pairs = pd.DataFrame({"a": act_codes, "d": dept_codes}).value_counts().reset_index()
    pairs = pairs.sort_values(["a", "count", "d"], ascending=[True, False, True]).drop_duplicates("a")
    lanes = {str(act_names[a]): str(dept_names[d]) for a, d in zip(pairs["a"], pairs["d"])}
    return ProcessMap("activity", metric, nodes, edges, _counts(act_names[act_codes[first]]),
                      _counts(act_names[act_codes[last]]), int(case_codes.max() + 1) if len(case_codes) else 0,
                      lanes=lanes, unit=unit)


def department_map(log: pd.DataFrame, metric: str = "frequency", *, unit: str = "hours",
                   calendar=None) -> ProcessMap:
    """Handover map: edge A → B = a case moving from department A to B (count, and
    median wait across the handover); node = cases touched and median time a case
    spends in the department (first start to last end of each stay, summed)."""
    if log["department"].isna().all():
        raise UsageError("the log has no department values (承办部门), so there is no department view",
                         hint="import an export with a department column, or use --view activity")
    s, _ = _steps(log)
    dept, dept_names = pd.factorize(s["department"].fillna(UNKNOWN_DEPT))
    dept_names = np.asarray(dept_names.astype(str), dtype=object)
    case, _ = pd.factorize(s["case_id"])
    start, end = _ns(s["start_time"]), _ns(s["end_time"])
    start, end = np.where(np.isnat(start), end, start), np.where(np.isnat(end), start, end)
    new_stay = np.r_[True, (dept[1:] != dept[:-1]) | (case[1:] != case[:-1])]
    idx = np.flatnonzero(new_stay)
    stay_case, stay_dept = case[idx], dept[idx]
    stay_start = np.minimum.reduceat(start.view("int64"), idx).view("datetime64[ns]")
    stay_end = np.maximum.reduceat(end.view("int64"), idx).view("datetime64[ns]")
    same = stay_case[1:] == stay_case[:-1]
    a, b = np.flatnonzero(same), np.flatnonzero(same) + 1
    wait = np.clip((stay_start[b] - stay_end[a]) / np.timedelta64(1, "h"), 0, None)
    if unit == "office_days":
        wait = _office_days(stay_end[a], stay_start[b], calendar)
    edges = _edge_table(stay_dept[a], stay_dept[b], stay_case[a], wait, dept_names)
    hours = (stay_end - stay_start) / np.timedelta64(1, "h")
    if unit == "office_days":
        hours = _office_days(stay_start, stay_end, calendar)
    per_case = pd.DataFrame({"d": stay_dept, "case": stay_case, "h": hours}).groupby(["d", "case"], sort=False)["h"].sum()
    per_case = per_case.reset_index()
    gn = per_case.groupby("d", sort=False)
    nodes = pd.DataFrame({"events": pd.Series(np.bincount(dept, minlength=len(dept_names))),
                          "cases": gn["case"].nunique(), "time_p50": gn["h"].median(),
                          "time_p90": gn["h"].quantile(0.9)})
    nodes.insert(0, "name", dept_names[nodes.index.to_numpy()])
    nodes = nodes.sort_values("name").reset_index(drop=True)
    first_of_case = np.r_[True, ~same]
    last_of_case = np.r_[~same, True]
    return ProcessMap("department", metric, nodes, edges, _counts(dept_names[stay_dept[first_of_case]]),
                      _counts(dept_names[stay_dept[last_of_case]]), int(case.max() + 1) if len(case) else 0,
                      unit=unit)


def _counts(values: np.ndarray) -> dict[str, int]:
    uniq, counts = np.unique(values.astype(str), return_counts=True)
    return {str(u): int(c) for u, c in zip(uniq, counts)}


def simplify(pm: ProcessMap, *, max_nodes: int = 40, max_edges: int = 80, min_edge_freq: int | None = None) -> ProcessMap:
    """Keep the picture readable: the most frequent nodes and edges; record what is hidden."""
    nodes = pm.nodes.sort_values(["events", "name"], ascending=[False, True])
    keep_nodes = set(nodes["name"].head(max_nodes))
    edges = pm.edges[pm.edges["source"].isin(keep_nodes) & pm.edges["target"].isin(keep_nodes)]
    if min_edge_freq is not None:
        edges = edges[edges["count"] >= min_edge_freq]
    else:
        edges = edges.sort_values(["count", "source", "target"], ascending=[False, True, True]).head(max_edges)
    total = int(pm.edges["count"].sum()) or 1
    hidden = {"nodes": int(len(pm.nodes) - len(keep_nodes)), "edges": int(len(pm.edges) - len(edges)),
              "edge_share": round(1 - int(edges["count"].sum()) / total, 4), "nodes_total": int(len(pm.nodes)),
              "edges_total": int(len(pm.edges))}
    nodes = pm.nodes[pm.nodes["name"].isin(keep_nodes)]
    return ProcessMap(pm.view, pm.metric, nodes.reset_index(drop=True), edges.sort_values(["source", "target"]).reset_index(drop=True),
                      {k: v for k, v in pm.starts.items() if k in keep_nodes},
                      {k: v for k, v in pm.ends.items() if k in keep_nodes}, pm.cases, hidden, pm.filters, pm.lanes, pm.unit)


def discover_map(log: pd.DataFrame, *, view: str = "activity", metric: str = "frequency", unit: str = "hours",
                 service: str | None = None, date_from: str | None = None, date_to: str | None = None,
                 top_variants: int | None = None, min_edge_freq: int | None = None,
                 max_nodes: int = 40, max_edges: int = 80) -> ProcessMap:
    """Filter, discover and simplify a map.

    >>> pm = discover_map(procmine.read_log("out/log.parquet"), view="department")   # doctest: +SKIP
    >>> pm.edges.head()                                                               # doctest: +SKIP
    """
    if view not in ("activity", "department"):
        raise UsageError(f"--view must be activity or department, not {view!r}")
    if metric not in ("frequency", "waiting", "service"):
        raise UsageError(f"--metric must be frequency, waiting or service, not {metric!r}")
    sub = filter_log(log, service=service, date_from=date_from, date_to=date_to, top_variants=top_variants)
    pm = activity_map(sub, metric, unit=unit) if view == "activity" else department_map(sub, metric)
    pm = simplify(pm, max_nodes=max_nodes, max_edges=max_edges, min_edge_freq=min_edge_freq)
    pm.filters = {k: v for k, v in {"service": service, "from": date_from, "to": date_to,
                                    "top_variants": top_variants, "min_edge_freq": min_edge_freq}.items() if v}
    return pm


_MODS = (2147483629, 2147483587)
_BASES = (1000003, 999983)


def variants(log: pd.DataFrame) -> pd.DataFrame:
    """Variants (step sequences) with cases, share and median lead time (hours), most frequent first.

    Vectorised: each case's sequence is reduced to (length, two polynomial
    hashes) with numpy; the exact sequence is built for one case per variant.
    """
    s = sorted_log(log)
    codes, names = pd.factorize(s["activity"].astype("string"))
    names = np.asarray(names.astype(str), dtype=object)
    case, case_names = pd.factorize(s["case_id"])
    n = len(s)
    starts = np.flatnonzero(np.r_[True, case[1:] != case[:-1]]) if n else np.array([], dtype=np.int64)
    lengths = np.diff(np.r_[starts, n])
    pos = np.arange(n) - np.repeat(starts, lengths)
    keys = [lengths]
    for mod, base in zip(_MODS, _BASES):
        powers = np.ones(int(lengths.max()) if n else 1, dtype=np.int64)
        for i in range(1, len(powers)):
            powers[i] = powers[i - 1] * base % mod
        terms = (codes.astype(np.int64) + 1) * powers[pos] % mod
        keys.append(np.add.reduceat(terms, starts) % mod if n else np.array([], dtype=np.int64))
    start, end = _ns(s["start_time"]), _ns(s["end_time"])
    lo = np.where(np.isnat(start), end, start).view("int64")
    hi = np.where(np.isnat(end), start, end).view("int64")
    lead = (np.maximum.reduceat(hi, starts) - np.minimum.reduceat(lo, starts)) / 3.6e12 if n else np.array([])
    frame = pd.DataFrame({"len": keys[0], "h1": keys[1], "h2": keys[2], "first": starts,
                          "case_id": np.asarray(case_names.astype(str), dtype=object)[case[starts]] if n else [],
                          "lead": lead})
    g = frame.groupby(["len", "h1", "h2"], sort=False)
    out = pd.DataFrame({"cases": g.size(), "median_lead_hours": g["lead"].median(),
                        "first": g["first"].first(), "case_ids": g["case_id"].agg(list)}).reset_index(drop=True)
    out["variant"] = pd.Series([tuple(names[codes[f:f + ln]]) for f, ln in
                                zip(out["first"], g["len"].first().to_numpy())], dtype=object)
    out["share"] = out["cases"] / max(len(starts), 1)
    out["steps"] = out["variant"].map(len)
    out["variant_text"] = out["variant"].map(lambda v: " → ".join(v))
    out = out.sort_values(["cases", "variant_text"], ascending=[False, True]).reset_index(drop=True)
    return out[["variant_text", "cases", "share", "median_lead_hours", "steps", "variant", "case_ids"]]


def discover_model(log: pd.DataFrame, algorithm: str = "inductive", *, noise: float = 0.2):
    """A pm4py process model: (petri net, initial marking, final marking, BPMN)."""
    import warnings

    import pm4py

    from ..log.eventlog import to_pm4py

    df = to_pm4py(log)[["case:concept:name", "concept:name", "time:timestamp"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if algorithm == "inductive":
            tree = pm4py.discover_process_tree_inductive(df, noise_threshold=noise)
            net, im, fm = pm4py.convert_to_petri_net(tree)
            bpmn = pm4py.convert_to_bpmn(tree)
        elif algorithm == "heuristics":
            net, im, fm = pm4py.discover_petri_net_heuristics(df)
            bpmn = pm4py.convert_to_bpmn(net, im, fm)
        else:
            raise UsageError(f"--algorithm must be dfg, inductive or heuristics, not {algorithm!r}")
    return net, im, fm, bpmn
