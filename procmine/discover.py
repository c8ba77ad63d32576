"""Discovery: process maps (activity and department views), variants, pm4py models.

Analysis returns plain data (:class:`ProcessMap`, DataFrames); :mod:`procmine.maps`
draws it. Overlays are computed here, vectorised, from both timestamps —
pm4py's support for start timestamps is partial — and the activity edge counts
equal ``pm4py.discover_dfg`` on the same data (tested on the shared real logs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import UsageError
from .metrics import sorted_log
from .workdays import WorkCalendar

UNKNOWN_DEPT = "（未注明部门）"


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
        ts = out["start_time"].fillna(out["end_time"])
        case_start = ts.groupby(out["case_id"]).transform("min")
        keep = pd.Series(True, index=out.index)
        try:
            if date_from:
                keep &= case_start >= pd.Timestamp(date_from, tz="Asia/Shanghai")
            if date_to:
                keep &= case_start < pd.Timestamp(date_to, tz="Asia/Shanghai") + pd.Timedelta(days=1)
        except ValueError as exc:
            raise UsageError(f"--from/--to must be dates like 2024-07-01: {exc}") from None
        out = out[keep]
    if top_variants:
        v = variants(out)
        keep_cases = set(v.head(top_variants)["case_ids"].explode())
        out = out[out["case_id"].isin(keep_cases)]
    if out.empty:
        raise UsageError("no cases left after the filters")
    return out


def _steps(log: pd.DataFrame) -> pd.DataFrame:
    s = sorted_log(log)
    case = s["case_id"]
    same_case = (case == case.shift(-1)).fillna(False).to_numpy(dtype=bool)
    return s, same_case


def _q(series: pd.Series, q: float) -> float:
    series = series.dropna()
    return float(series.quantile(q)) if len(series) else float("nan")


def activity_map(log: pd.DataFrame, metric: str = "frequency", *, unit: str = "hours") -> ProcessMap:
    """Directly-follows map: edge = consecutive steps in a case (A → B) with
    count, cases, and waiting (A's end → B's start) p50/p90; node = step with
    events, cases and service time (start → end) p50/p90."""
    s, nxt = _steps(log)
    src = np.flatnonzero(nxt)
    dst = src + 1
    act = s["activity"].astype(str).to_numpy()
    end_or_start = s["end_time"].fillna(s["start_time"])
    start_or_end = s["start_time"].fillna(s["end_time"])
    wait = (start_or_end.iloc[dst].to_numpy() - end_or_start.iloc[src].to_numpy()) / np.timedelta64(1, "h")
    e = pd.DataFrame({"source": act[src], "target": act[dst], "case": s["case_id"].to_numpy()[src],
                      "wait": np.clip(wait.astype(float), 0, None)})
    if unit == "working_days":
        cal = WorkCalendar()
        e["wait"] = cal.working_days(end_or_start.iloc[src].reset_index(drop=True),
                                     start_or_end.iloc[dst].reset_index(drop=True)).to_numpy()
    g = e.groupby(["source", "target"], sort=True)
    edges = pd.DataFrame({"count": g.size(), "cases": g["case"].nunique(),
                          "wait_p50": g["wait"].median(), "wait_p90": g["wait"].quantile(0.9)}).reset_index()
    svc = (s["end_time"] - s["start_time"]).dt.total_seconds() / 3600
    n = pd.DataFrame({"name": act, "case": s["case_id"].to_numpy(), "svc": svc.to_numpy()})
    gn = n.groupby("name", sort=True)
    nodes = pd.DataFrame({"events": gn.size(), "cases": gn["case"].nunique(),
                          "time_p50": gn["svc"].median(), "time_p90": gn["svc"].quantile(0.9)}).reset_index()
    first = ~np.r_[False, nxt[:-1]]
    last = ~nxt
    dept = s["department"].fillna(UNKNOWN_DEPT).astype(str)
    lanes = pd.DataFrame({"a": act, "d": dept.to_numpy()}).groupby("a")["d"].agg(lambda x: x.value_counts().index[0])
    return ProcessMap("activity", metric, nodes, edges, _counts(act[first]), _counts(act[last]),
                      int(s["case_id"].nunique()), lanes=lanes.to_dict(), unit=unit)


def department_map(log: pd.DataFrame, metric: str = "frequency") -> ProcessMap:
    """Handover map: edge A → B = a case moving from department A to B (count, and
    median wait across the handover); node = cases touched and median time a case
    spends in the department (first start to last end of each stay, summed)."""
    if log["department"].isna().all():
        raise UsageError("the log has no department values (承办部门), so there is no department view",
                         hint="import an export with a department column, or use --view activity")
    s, nxt = _steps(log)
    dept = s["department"].fillna(UNKNOWN_DEPT).astype(str).to_numpy()
    case = s["case_id"].to_numpy()
    new_stay = np.r_[True, (dept[1:] != dept[:-1]) | (case[1:] != case[:-1])]
    stay = np.cumsum(new_stay)
    start = s["start_time"].fillna(s["end_time"])
    end = s["end_time"].fillna(s["start_time"])
    st = pd.DataFrame({"stay": stay, "case": case, "dept": dept, "start": start.to_numpy(), "end": end.to_numpy()})
    stays = st.groupby("stay", sort=True).agg(case=("case", "first"), dept=("dept", "first"),
                                               start=("start", "min"), end=("end", "max"))
    same = (stays["case"].to_numpy()[1:] == stays["case"].to_numpy()[:-1])
    a, b = stays.iloc[:-1][same], stays.iloc[1:][same]
    wait = (b["start"].to_numpy() - a["end"].to_numpy()) / np.timedelta64(1, "h")
    e = pd.DataFrame({"source": a["dept"].to_numpy(), "target": b["dept"].to_numpy(), "case": a["case"].to_numpy(),
                      "wait": np.clip(wait.astype(float), 0, None)})
    g = e.groupby(["source", "target"], sort=True)
    edges = pd.DataFrame({"count": g.size(), "cases": g["case"].nunique(),
                          "wait_p50": g["wait"].median(), "wait_p90": g["wait"].quantile(0.9)}).reset_index()
    stays["hours"] = (stays["end"] - stays["start"]).dt.total_seconds() / 3600
    per_case = stays.groupby(["dept", "case"])["hours"].sum().reset_index()
    gn = per_case.groupby("dept", sort=True)
    nodes = pd.DataFrame({"events": st.groupby("dept").size(), "cases": gn["case"].nunique(),
                          "time_p50": gn["hours"].median(), "time_p90": gn["hours"].quantile(0.9)})
    nodes = nodes.rename_axis("name").reset_index()
    first_of_case = np.r_[True, ~same]
    last_of_case = np.r_[~same, True]
    return ProcessMap("department", metric, nodes, edges, _counts(stays["dept"].to_numpy()[first_of_case]),
                      _counts(stays["dept"].to_numpy()[last_of_case]), int(len(np.unique(case))))


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


def variants(log: pd.DataFrame) -> pd.DataFrame:
    """Variants (step sequences) with cases, share and median lead time (hours), most frequent first."""
    s = sorted_log(log)
    seq = s["activity"].astype(str).groupby(s["case_id"].to_numpy(), sort=True).agg("\x1f".join)
    ts_lo = pd.concat([s["start_time"], s["end_time"]], axis=1).min(axis=1).groupby(s["case_id"].to_numpy()).min()
    ts_hi = pd.concat([s["start_time"], s["end_time"]], axis=1).max(axis=1).groupby(s["case_id"].to_numpy()).max()
    lead = (ts_hi - ts_lo).dt.total_seconds() / 3600
    frame = pd.DataFrame({"key": seq.to_numpy(dtype=object), "case_id": seq.index.to_numpy(dtype=object),
                          "lead": lead.reindex(seq.index).to_numpy()})
    g = frame.groupby("key", sort=False)
    out = pd.DataFrame({"cases": g.size(), "median_lead_hours": g["lead"].median(),
                        "case_ids": g["case_id"].agg(list)}).reset_index()
    out["variant"] = pd.Series([tuple(k.split("\x1f")) for k in out["key"]], dtype=object)
    out["share"] = out["cases"] / len(seq)
    out["steps"] = out["variant"].map(len)
    out["variant_text"] = out["variant"].map(lambda v: " → ".join(v))
    out = out.sort_values(["cases", "variant_text"], ascending=[False, True]).reset_index(drop=True)
    return out[["variant_text", "cases", "share", "median_lead_hours", "steps", "variant", "case_ids"]]


def discover_model(log: pd.DataFrame, algorithm: str = "inductive", *, noise: float = 0.2):
    """A pm4py process model: (petri net, initial marking, final marking, BPMN)."""
    import warnings

    import pm4py

    from .eventlog import to_pm4py

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
