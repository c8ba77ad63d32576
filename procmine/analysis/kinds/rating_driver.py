"""rating_driver: a process factor whose groups differ in 差评率 (好差评; the side log's ratings)."""

from __future__ import annotations

from .base import Context, Finding, Kind, fmt, pct, rnd, say

# this kind's sentences, added to the message catalogue (templates/messages/ holds the others)
MESSAGES = {
    "finding.rating_driver": {"zh": "差评率随{factor}显著不同：{high}为{high_rate}，{low}为{low_rate}，相差{points}个百分点（95%区间{ci_low}～{ci_high}）；{reading}",
                             "en": "The bad-rating rate differs by {factor_en}: {high_rate} for {high} against {low_rate} for {low}, {points} points apart (95% interval {ci_low} to {ci_high}); {reading_en}"},
    "action.rating_driver": {"zh": "针对差评集中的环节整改，并对每件差评回访整改",
                            "en": "Fix the steps that bad ratings point to and follow up every bad rating"},
    "reading.driver": {"zh": "可能是差评的成因之一",
                      "en": "possibly one cause of bad ratings"},
    "reading.paradox": {"zh": "与预期相反（{high}的差评反而多于{low}），不作为成因，宜另查原因",
                       "en": "the opposite of what a cause would give ({high} rated worse than {low}): not a cause; look for another reason"},
    "reading.same_groups": {"zh": "其分组与“{other}”完全是同一批办件，两者是同一个差异，不能分开归因",
                           "en": "its groups are the same cases as those of {other}: one difference, not two causes"},
}


FACTOR_DIMENSION = {"trips": "trips", "outcome": "time", "correction": "documents", "channel": "trips",
                    "department": "time"}

FACTOR_LABELS = {"trips": ("跑动次数", "number of trips"), "outcome": ("是否按时办结", "on time or late"),
                 "correction": ("是否要求补正", "whether a correction was requested"),
                 "channel": ("受理渠道", "channel"), "department": ("承办部门", "department")}


def dimension_of(f) -> str:
    return FACTOR_DIMENSION.get(f.details.get("factor"), "time")


def build(ctx: Context, agg) -> None:
    """好差评: process factors whose groups differ in 差评率 (interval excluding zero)."""
    from ..ratings import analyse_ratings, paradoxical

    log = ctx.log
    if log is None or "rating" not in log or log["rating"].isna().all():
        ctx.skip("rating_driver", "skip.ratings")
        return
    r = analyse_ratings(log, ctx.rules, measured=ctx.m)
    if r is None or r.drivers.empty:
        return
    min_points = KIND.threshold(ctx.t, "rating_driver_min_points") / 100
    same_as = getattr(r, "same_as", None) or {}
    for d in r.drivers.itertuples(index=False):
        if not d.significant or d.difference < min_points:
            continue
        zh, en = FACTOR_LABELS[d.factor]
        cases = int(d.high_cases)
        paradox = paradoxical(d.factor, str(d.high), str(d.low))
        twin = same_as.get(d.factor)
        if paradox:
            reading = "reading.paradox"
        elif twin:
            reading = "reading.same_groups"
        else:
            reading = "reading.driver"
        twin_zh, twin_en = FACTOR_LABELS.get(twin, ("", ""))
        ctx.add(Finding(
            "rating_driver", "全部事项", cases, round(float(d.difference) * 100, 1), "points", [],
            {"factor": zh, "factor_en": en, "high": d.high, "high_rate": pct(d.high_rate), "low": d.low,
             "low_rate": pct(d.low_rate), "points": fmt(d.difference * 100), "ci_low": fmt(d.ci_low * 100),
             "ci_high": fmt(d.ci_high * 100),
             "reading": say(reading, "zh", high=d.high, low=d.low, other=twin_zh),
             "reading_en": say(reading, "en", high=d.high, low=d.low, other=twin_en)},
            details={"factor": d.factor, "high_cases": int(d.high_cases), "low_cases": int(d.low_cases),
                     "difference": rnd(d.difference, 4), "ci": [rnd(d.ci_low, 4), rnd(d.ci_high, 4)],
                     "high": str(d.high), "low": str(d.low), "high_rate": rnd(d.high_rate, 4),
                     "low_rate": rnd(d.low_rate, 4), "paradoxical": paradox, "same_groups_as": twin}))


KIND = Kind(
    "rating_driver",
    dimension="trips",
    label={"zh": "差评成因", "en": "What goes with bad ratings"},
    build=build,
    dimension_of=dimension_of,
    thresholds={"rating_driver_min_points": 5},
    order=120,
    messages=MESSAGES,
)
