"""What a reform did: the same per-service metrics in two periods, with bootstrap
confidence intervals for each change, so noise is not claimed as success."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .discover import department_map
from ..errors import UsageError
from ..engine.metrics import case_metrics
from ..rules import load_rules

METRICS = [  # key, label, column, statistic — columns from procmine.engine.metrics, the one definition
    ("at_most_once_rate", "最多跑一次率", "visits", lambda v: (v <= 1).mean(axis=-1)),
    ("zero_trip_rate", "跑零次率", "visits", lambda v: (v == 0).mean(axis=-1)),
    ("average_visits", "平均跑动次数", "visits", lambda v: v.mean(axis=-1)),
    ("average_documents", "平均提交材料份数", "materials_submitted", lambda v: v.mean(axis=-1)),
    ("median_clock_days", "中位办理工作日（受理至办结）", "clock_days", lambda v: np.median(v, axis=-1)),
    ("on_time_rate", "按时办结率", "on_time", lambda v: v.mean(axis=-1)),
]


def _decided(cases: pd.DataFrame) -> pd.DataFrame:
    """Time metrics count decided, accepted cases with a limit only (open cases are censored)."""
    out = cases.copy()
    timed = out["outcome"].isin(["即办", "提前", "按时", "超期"])
    out["on_time"] = out["outcome"].isin(["即办", "提前", "按时"]).astype(float).where(timed)
    out["clock_days"] = out["clock_days"].where(out["status"] == "办结")
    return out


@dataclass
class Comparison:
    table: pd.DataFrame  # service, metric, before, after, change, ci_low, ci_high, significant
    maps: dict  # {"before": edges, "after": edges} department handovers
    periods: dict

    def to_dict(self) -> dict:
        rows = []
        for r in self.table.to_dict(orient="records"):
            rows.append({k: (None if isinstance(v, float) and not np.isfinite(v) else
                             (round(v, 4) if isinstance(v, float) else v)) for k, v in r.items()})
        maps = {k: v.to_dict(orient="records") if v is not None else None for k, v in self.maps.items()}
        return {"periods": self.periods, "changes": rows, "department_handovers": maps}


def _boot(a: np.ndarray, b: np.ndarray, stat, n: int = 1000, seed: int = 20240701) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    diffs = []
    for lo in range(0, n, 100):
        k = min(100, n - lo)
        sa = a[rng.integers(0, len(a), size=(k, len(a)))]
        sb = b[rng.integers(0, len(b), size=(k, len(b)))]
        diffs.append(stat(sb) - stat(sa))
    d = np.concatenate(diffs)
    return float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))


def compare(before: pd.DataFrame, after: pd.DataFrame, rules=None, *, labels=("before", "after"),
            as_of=None, engine=None) -> Comparison:
    """Compare two logs (or two periods of one log) per service (``engine``: where the
    case model runs, as for :func:`procmine.engine.metrics.case_metrics`).

    >>> c = compare(log_2023, log_2024)     # doctest: +SKIP
    >>> c.table[c.table.significant]        # doctest: +SKIP
    """
    rules = load_rules(rules)
    if before.empty or after.empty:
        raise UsageError("one of the two periods has no cases")
    if as_of is None:  # one "now" for both periods: the latest time in either log
        as_of = max(pd.concat([x[c] for x in (before, after) for c in ("start_time", "end_time")]).dropna())
    cb = _decided(case_metrics(before, rules, as_of=as_of, engine=engine))
    ca = _decided(case_metrics(after, rules, as_of=as_of, engine=engine))
    return _compare_cases(cb, ca, before, after, labels)


def compare_split(log: pd.DataFrame, date: str, rules=None, *, measured=None,
                  labels=("before", "after")) -> Comparison:
    """Compare the cases accepted before ``date`` with those accepted on or after it,
    from one measurement of the whole log (``measured``: :func:`procmine.engine.metrics.measure`'s
    result, reused when given): a case's row depends on its own events alone, so the
    two periods' rows are the full log's rows, split — the same numbers as the audit."""
    from ..engine.metrics import measure

    cut = _cut(date)
    m = measured or measure(log, rules, events=False)
    cases = m.cases
    when = cases["accept_time"].fillna(cases["case_start"])
    early = set(cases.loc[(when < cut).to_numpy(), "case_id"])
    in_before = cases["case_id"].isin(early)
    cb, ca = _decided(cases[in_before.to_numpy()]), _decided(cases[~in_before.to_numpy()])
    if cb.empty or ca.empty:
        raise UsageError("one of the two periods has no cases")
    lb = log["case_id"].isin(early)
    return _compare_cases(cb, ca, log[lb], log[~lb], labels)


def _cut(date: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(date, tz="Asia/Shanghai")
    except ValueError:
        raise UsageError(f"--split-date must be a date like 2024-07-01, not {date!r}") from None


def _compare_cases(cb: pd.DataFrame, ca: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame,
                   labels) -> Comparison:
    trips_known = bool(pd.concat([cb["visits"], ca["visits"]]).notna().any())
    rows = []
    for service in sorted(set(cb["service"].dropna()) | set(ca["service"].dropna())):
        gb, ga = cb[cb["service"] == service], ca[ca["service"] == service]
        for key, label, col, stat in METRICS:
            if col == "visits" and not trips_known:
                continue
            vb = gb[col].dropna().astype(float).to_numpy()
            va = ga[col].dropna().astype(float).to_numpy()
            if len(vb) == 0 or len(va) == 0:
                rows.append({"service": service, "metric": label, "cases_before": len(gb), "cases_after": len(ga),
                             "before": float(stat(vb)) if len(vb) else None, "after": float(stat(va)) if len(va) else None,
                             "change": None, "ci_low": None, "ci_high": None, "significant": False})
                continue
            b, a = float(stat(vb)), float(stat(va))
            lo, hi = _boot(vb, va, stat)
            rows.append({"service": service, "metric": label, "cases_before": int(len(gb)), "cases_after": int(len(ga)),
                         "before": b, "after": a, "change": a - b, "ci_low": lo, "ci_high": hi,
                         "significant": bool(lo > 0 or hi < 0)})
    maps = {}
    for name, log in zip(labels, (before, after)):
        try:
            maps[name] = department_map(log).edges
        except UsageError:
            maps[name] = None
    periods = {labels[0]: {"cases": int(len(cb)), "open": int((cb["status"] == "在办").sum())},
               labels[1]: {"cases": int(len(ca)), "open": int((ca["status"] == "在办").sum())}}
    return Comparison(pd.DataFrame(rows), maps, periods)


def split_by_date(log: pd.DataFrame, date: str, rules=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cases accepted (受理) before ``date`` / on or after it (a case never accepted: by its first step).
    Open cases stay in their period and are counted as open (censored) there."""
    cut = _cut(date)
    cases = case_metrics(log, rules)
    when = cases["accept_time"].fillna(cases["case_start"])
    early = set(cases.loc[(when < cut).to_numpy(), "case_id"])
    in_before = log["case_id"].isin(early)
    return log[in_before], log[~in_before]
