"""rubber_stamp: a sign-off step that takes minutes and nearly always passes (走过场审批)."""

from __future__ import annotations

from ...engine.definitions import hours
from ...engine.findings import SPAN, Aggregates, Names, Step, evidence_map, top_coded
from .base import Context, Finding, Kind, fmt, rnd, work_hours

# this kind's sentences, added to the message catalogue (templates/messages/ holds the others)
MESSAGES = {
    "finding.rubber_stamp": {"zh": "{service}：「{activity}」中位用时{minutes}分钟、{pass_share}一次通过，形同走过场；每件为等它平均{per_case}个工作日",
                            "en": "{service}: '{activity}' takes a median {minutes} minutes and passes {pass_share} of cases first time; a case waits {per_case} working days for it on average"},
    "action.rubber_stamp": {"zh": "授权前一环节办理或取消该审批层级",
                           "en": "Delegate to the previous step or drop this sign-off level"},
}


def rubber_qualifies(r, t: dict) -> bool:
    """The rubber-stamp test on one row of the ``rubber`` frame (the rules' thresholds):
    enough timed occurrences, a median of a few minutes, nearly always passed."""
    if int(r.timed) < int(KIND.threshold(t, "min_cases")):
        return False
    return (float(r.median_minutes) <= KIND.threshold(t, "rubber_stamp_max_minutes")
            and int(r.passed) / int(r.occurrences) >= KIND.threshold(t, "rubber_stamp_min_pass_share"))


def aggregate(eng, names: Names, t: dict, out: Aggregates) -> None:
    """rubber_stamp: sign-off steps, each marked whether it "passes" (no reject-type step
    and no repeat of itself later in the case); evidence only for the steps that qualify."""
    eng.materialize("cand", """
SELECT x.c, x.s, x.a, x.pos, x.service_us, x.wait_work_us, x.service_work_us,
       NOT (coalesce(r.rp, -1) > x.pos OR l.lp > x.pos) AS passes
FROM fx x
LEFT JOIN (SELECT c, max(pos) AS rp FROM fx WHERE reject GROUP BY c) r ON r.c = x.c
JOIN (SELECT c, a, max(pos) AS lp FROM fx WHERE sign GROUP BY c, a) l ON l.c = x.c AND l.a = x.a
WHERE x.sign AND x.s IS NOT NULL""")
    frame = names.named(eng.fetch(f"""
SELECT s, a, count(service_us) AS timed, median({hours('service_us')} * 60) AS median_minutes,
       count(*) AS occurrences, CAST(sum(CASE WHEN passes THEN 1 ELSE 0 END) AS BIGINT) AS passed,
       CAST(sum({SPAN}) AS BIGINT) AS us,
       count(DISTINCT c) AS cases, median({hours('wait_work_us')}) AS median_wait
FROM cand GROUP BY s, a"""), service="s:s", activity="a:a")
    out.frames["rubber"] = frame
    keep = frame[[rubber_qualifies(r, t) for r in frame.itertuples(index=False)]]
    out.evidence["rubber"] = {}
    if keep.empty:
        return
    eng.register("rb_keep", keep[["s", "a"]].astype("int64"))
    out.evidence["rubber"] = evidence_map(names.named(eng.fetch(top_coded(
        """SELECT x.s, x.a, x.c, min_by(coalesce(x.wait_work_us, 0), x.pos) AS w
           FROM cand x JOIN rb_keep k ON k.s = x.s AND k.a = x.a GROUP BY x.s, x.a, x.c""",
        ["s", "a"], "w", eng.name)), service="s:s", activity="a:a"), ["service", "activity"])


def build(ctx: Context, agg) -> None:
    ev = agg.evidence["rubber"]
    per_day = ctx.calendar.office_hours_per_day
    for r in agg["rubber"].sort_values(["service", "activity"], kind="stable").itertuples(index=False):
        if not rubber_qualifies(r, ctx.t):
            continue
        median = float(r.median_minutes)
        pass_share = int(r.passed) / int(r.occurrences)
        hours = work_hours(r.us)
        ctx.add(Finding(
            "rubber_stamp", r.service, int(r.cases), hours, "work_hours", ev.get((r.service, r.activity), []),
            {"service": r.service, "activity": r.activity, "minutes": fmt(median, 0),
             "pass_share": f"{pass_share:.1%}", "work_hours": fmt(hours),
             "per_case": fmt(hours / per_day / max(int(r.cases), 1))},
            activity=r.activity,
            details={"median_minutes": rnd(median), "pass_share": rnd(pass_share, 4), "occurrences": int(r.occurrences),
                     "median_wait_work_hours": rnd(r.median_wait)}))


KIND = Kind(
    "rubber_stamp",
    dimension="steps",
    label={"zh": "走过场审批", "en": "Rubber-stamp sign-off"},
    build=build,
    aggregate=Step("rubber_stamp", lambda q: aggregate(q.eng, q.names, q.t, q.out), makes=("cand",),
                   label="findings: sign-off steps", when="service_time"),
    thresholds={"min_cases": 5, "rubber_stamp_max_minutes": 15, "rubber_stamp_min_pass_share": 0.98},
    requires="service_time",
    skip="skip.service_time",
    step_activity=True,
    order=60,
    messages=MESSAGES,
)
