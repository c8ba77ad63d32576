"""好差评 linked to what happened in the case, and the rectification loop.

- **Levels** (the case model's, ``procmine.engine.definitions``): 非常满意 5, 满意 4,
  基本满意 3, 不满意 2, 非常不满意 1, read whole (不太满意 is 2, never 满意), and the
  numbers 1–5. 好评 = the top levels (the rules' ratings section), 差评 = below them; a
  case once rated 差评 stays a 差评 when re-rated. Texts not understood are listed.
  Unrated cases are counted and never treated as satisfied: every rate is over rated cases.
- **What goes with 差评**: the 差评率 by number of trips (0 / 1 / 2+), by outcome
  (按时 / 超期), by whether a correction (补正) was requested, by channel and by
  department, each with a seeded bootstrap 95% interval; a factor whose highest
  and lowest groups differ with an interval that excludes 0 is a ``rating_driver``.
- **Rectification**: every 差评 is to be rectified within ``ratings.rectify_days``
  working days of the rating (counted like the legal clock, from the next working
  day). Rectified = a 整改完成时间, or a 整改状态 that says done. Late = rectified
  after the deadline; open = not rectified (overdue once ``as_of`` is past the
  deadline).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine.metrics import Measured, measure, sorted_log
from ..rules import Rules, load_rules

def rating_level(text: object) -> float:
    """A rating text as its level 1–5 (NaN when not understood), read by the case
    model's definition (``procmine.engine.definitions.rating_level``), for one value.

    >>> rating_level("满意"), rating_level("不太满意"), rating_level("4星")
    (4.0, 2.0, 4.0)
    """
    from ..engine.definitions import rating_level as level_sql
    from ..engine.runner import open_engine

    if text is None or text is pd.NA or (isinstance(text, float) and np.isnan(text)):
        return np.nan
    with open_engine("duckdb") as eng:
        eng.register("one", pd.DataFrame({"r": [str(text)]}))
        v = eng.fetch(f"SELECT {level_sql('r')} AS level FROM one").iloc[0]["level"]
    return float(v) if pd.notna(v) else np.nan


def rating_table(log: pd.DataFrame, rules: Rules | str | None = None, *, measured: Measured | None = None) -> pd.DataFrame:
    """One row per rated case: ``case_id, service, level, good, bad, rating_time, channel, text,
    rectified, rectify_time, deadline, rectify_days, rectified_on_time, overdue`` (empty frame
    when the log has no ratings)."""
    rules = load_rules(rules)
    lg = sorted_log(log)
    if lg["rating"].isna().all():
        return pd.DataFrame(columns=["case_id", "service", "level", "good", "bad"])
    m = measured or measure(log, rules)
    cfg = rules.ratings
    # the case model's rating facts (level, 差评 ever given, rectified, working days), and the
    # export's own texts and times beside them for the lists
    c = m.cases.set_index("case_id")
    c = c[c["rating_text"].notna()]
    g = lg.groupby("case_id", sort=True)
    t = pd.DataFrame({
        "service": c["service"], "raw": c["rating_text"], "level": c["rating_level"].astype(float),
        "rating_time": g["rating_time"].max().reindex(c.index), "channel": g["rating_channel"].last().reindex(c.index),
        "text": g["rating_text"].last().reindex(c.index), "rectify_time": g["rectify_time"].max().reindex(c.index),
    })
    t["bad"] = c["rated_bad"].astype(bool)
    t["good"] = c["rated_good"].astype(bool)
    t["rectified"] = c["rectified"].astype(bool)
    deadline_days = float(cfg["rectify_days"])
    t["rectify_days"] = c["rectify_days"].astype(float)
    # unknown (not late, not on time) when the rectification's time is not known
    t["rectified_on_time"] = (t["rectify_days"] <= deadline_days).where(t["rectify_days"].notna())
    t["days_since_rating"] = c["days_since_rating"].astype(float)
    t["overdue"] = t["bad"] & ~t["rectified"] & (t["days_since_rating"] > deadline_days).fillna(False)
    t["deadline_days"] = deadline_days
    t["unread"] = t["level"].isna()
    return t.reset_index().rename(columns={"index": "case_id"})


@dataclass
class RatingResult:
    rated: int
    unrated: int
    unread: dict[str, int]         # rating texts not understood → cases
    good_rate: float | None
    bad_rate: float | None
    factors: pd.DataFrame          # factor, group, cases, bad, bad_rate, ci_low, ci_high
    drivers: pd.DataFrame          # factor, high, low, difference, ci_low, ci_high
    not_rectified: pd.DataFrame    # 差评 not rectified (most overdue first)
    rectified_late: pd.DataFrame   # 差评 rectified after the deadline
    by_department: pd.DataFrame    # department, bad, rectified, rectified_rate, on_time, on_time_rate
    rectify_days: float
    same_as: dict = None           # factor → another factor whose groups are the same rated cases


# the group a process factor would make worse, if it caused bad ratings (channel and department: none)
WORSE = {"trips": ("2+", "1", "0"), "outcome": ("超期", "按时"), "correction": ("有补正", "无补正")}


def paradoxical(factor: str, high: str, low: str) -> bool:
    """Whether the group with more 差评 (``high``) is the one the process treated better (按时
    above 超期, fewer trips above more, no correction above a correction): a pattern, not a cause."""
    order = WORSE.get(factor)
    if not order or high not in order or low not in order:
        return False
    return order.index(high) > order.index(low)


def _boot_rate(bad: np.ndarray, rng: np.random.Generator, n: int = 1000) -> np.ndarray:
    return bad[rng.integers(0, len(bad), size=(n, len(bad)))].mean(axis=1)


def analyse_ratings(log: pd.DataFrame, rules: Rules | str | None = None, *, measured: Measured | None = None,
                    seed: int = 20240701) -> RatingResult | None:
    """Ratings linked to trips, outcome, corrections, channel and department; the rectification loop.
    ``None`` when the log has no ratings."""
    rules = load_rules(rules)
    m = measured or measure(log, rules)
    t = rating_table(log, rules, measured=m)
    if t.empty:
        return None
    cases = m.cases.set_index("case_id")
    all_cases = len(cases)
    unread = t[t["unread"]]["raw"].value_counts().to_dict() if "raw" in t else {}
    r = t[~t["unread"]].copy()
    r = r.join(cases[["visits", "outcome"]], on="case_id")
    corrected = cases["correction_requested"]  # the case model's facts, never re-derived here
    channel = sorted_log(log).groupby("case_id")["channel"].first()  # the export's own value
    dept = cases["deciding_department"].fillna(cases["holding_department"])
    v = r["visits"].astype("Float64")
    r["trips"] = np.where(v.isna(), None, np.where(v.fillna(0) >= 2, "2+", v.fillna(0).astype(int).astype(str)))
    r["timing"] = r["outcome"].map(lambda o: "按时" if o in ("即办", "提前", "按时") else ("超期" if o in ("超期", "超期在办")
                                                                                      else None))
    r["correction"] = r["case_id"].map(corrected).map({True: "有补正", False: "无补正"})
    r["channel_"] = r["case_id"].map(channel)
    r["department"] = r["case_id"].map(dept)
    rng = np.random.default_rng(seed)
    min_cases = int(rules.thresholds.get("min_cases", 5))
    rows, drivers = [], []
    for factor, col in (("trips", "trips"), ("outcome", "timing"), ("correction", "correction"),
                        ("channel", "channel_"), ("department", "department")):
        groups = {k: gg["bad"].to_numpy(dtype=float) for k, gg in r.dropna(subset=[col]).groupby(col, sort=True)}
        groups = {k: b for k, b in groups.items() if len(b) >= min_cases}
        for k, b in groups.items():
            boot = _boot_rate(b, rng)
            rows.append({"factor": factor, "group": str(k), "cases": int(len(b)), "bad": int(b.sum()),
                         "bad_rate": float(b.mean()), "ci_low": float(np.percentile(boot, 2.5)),
                         "ci_high": float(np.percentile(boot, 97.5))})
        if len(groups) >= 2:
            ordered = sorted(groups, key=lambda k: (-groups[k].mean(), str(k)))
            hi, lo = ordered[0], ordered[-1]
            d = _boot_rate(groups[hi], rng) - _boot_rate(groups[lo], rng)
            diff = float(groups[hi].mean() - groups[lo].mean())
            ci = (float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5)))
            drivers.append({"factor": factor, "high": str(hi), "high_rate": float(groups[hi].mean()),
                            "high_cases": int(len(groups[hi])), "low": str(lo), "low_rate": float(groups[lo].mean()),
                            "low_cases": int(len(groups[lo])), "difference": diff, "ci_low": ci[0], "ci_high": ci[1],
                            "significant": bool(ci[0] > 0)})
    # a factor whose groups are the same cases as an earlier factor's (the outcome groups are the
    # department groups, say) is one observation, not two
    cols = {"trips": "trips", "outcome": "timing", "correction": "correction", "channel": "channel_",
            "department": "department"}
    same_as = {}
    names = list(cols)
    for i, b in enumerate(names):
        for a in names[:i]:
            if a in same_as or b in same_as:
                continue
            x, y = r[cols[a]], r[cols[b]]
            if not x.notna().equals(y.notna()) or x.isna().all():
                continue
            both = pd.DataFrame({"x": x, "y": y}).dropna().astype(str)
            if both["x"].nunique() < 2:
                continue
            pairs = both.drop_duplicates()
            if len(pairs) == both["x"].nunique() == both["y"].nunique():
                same_as[b], same_as[a] = a, b  # each says it is the other's twin
    drivers_df = pd.DataFrame(drivers)
    if len(drivers_df):
        drivers_df = drivers_df.sort_values(["significant", "difference", "factor"], ascending=[False, False, True],
                                            kind="stable").reset_index(drop=True)
    bad = r[r["bad"]].copy()
    bad["department"] = bad["department"].astype(object).where(bad["department"].notna(), "「未注明部门」")
    cols = ["case_id", "service", "department", "level", "rating_time", "text", "days_since_rating", "deadline_days"]
    not_rect = bad[~bad["rectified"]].sort_values(["days_since_rating", "case_id"], ascending=[False, True])[cols]
    late = bad[bad["rectified_on_time"].eq(False)].sort_values(["rectify_days", "case_id"], ascending=[False, True])
    late = late[cols[:5] + ["rectify_time", "rectify_days", "deadline_days"]]
    dep = bad.groupby("department", sort=True).agg(bad=("bad", "size"), rectified=("rectified", "sum"),
                                                   on_time=("rectified_on_time", lambda s: int(s.eq(True).sum())))
    dep["rectified_rate"] = dep["rectified"] / dep["bad"]
    dep["on_time_rate"] = dep["on_time"] / dep["bad"]
    rated = int(len(r))
    return RatingResult(
        rated=rated, unrated=int(all_cases - len(t)), unread={str(k): int(n) for k, n in unread.items()},
        good_rate=float(r["good"].mean()) if rated else None, bad_rate=float(r["bad"].mean()) if rated else None,
        factors=pd.DataFrame(rows), drivers=drivers_df, not_rectified=not_rect.reset_index(drop=True),
        rectified_late=late.reset_index(drop=True), by_department=dep.reset_index(),
        rectify_days=float(rules.ratings["rectify_days"]), same_as=same_as)
