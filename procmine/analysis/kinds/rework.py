"""rework: a step done again in the same case (返工)."""

from __future__ import annotations

from ...engine.findings import SPAN, Aggregates, Names, Step, evidence_map, top_coded
from .base import Context, Finding, Kind, fmt, rnd, work_hours

# this kind's sentences, added to the message catalogue (templates/messages/ holds the others)
MESSAGES = {
    "finding.rework": {"zh": "{service}：「{activity}」在{cases}件中重复办理{count}次（返工），平均每件多耗{per_case}个工作日",
                      "en": "{service}: '{activity}' was done again {count} times in {cases} cases (rework), {per_case} working days more a case"},
    "action.rework": {"zh": "明确审查标准并一次性告知，减少退回重办",
                     "en": "Publish the review standard and tell applicants everything at once to avoid rework"},
}


def aggregate(eng, names: Names, out: Aggregates) -> None:
    """rework: every occurrence of a step after its first in the case."""
    eng.materialize("rw_case", f"""
SELECT s, a, c, count(*) AS n, CAST(sum({SPAN}) AS BIGINT) AS us FROM fx
WHERE k > 1 AND a IS NOT NULL AND s IS NOT NULL GROUP BY s, a, c""")
    out.frames["rework"] = names.named(eng.fetch("""
SELECT s, a, count(*) AS cases, CAST(sum(n) AS BIGINT) AS n, CAST(sum(us) AS BIGINT) AS us
FROM rw_case GROUP BY s, a"""), service="s:s", activity="a:a")
    out.evidence["rework"] = evidence_map(names.named(eng.fetch(top_coded(
        "SELECT s, a, c, n AS w FROM rw_case", ["s", "a"], "w", eng.name)), service="s:s", activity="a:a"),
        ["service", "activity"])


def build(ctx: Context, agg) -> None:
    ev = agg.evidence["rework"]
    per_day = ctx.calendar.office_hours_per_day
    for r in agg["rework"].sort_values(["service", "activity"], kind="stable").itertuples(index=False):
        hours = work_hours(r.us)
        ctx.add(Finding(
            "rework", r.service, int(r.cases), int(r.n), "steps", ev.get((r.service, r.activity), []),
            {"service": r.service, "activity": r.activity, "cases": int(r.cases), "count": int(r.n),
             "work_hours": fmt(hours), "per_case": fmt(hours / per_day / max(int(r.cases), 1))},
            activity=r.activity, details={"work_hours": rnd(hours)}))


KIND = Kind(
    "rework",
    dimension="steps",
    label={"zh": "返工", "en": "Rework"},
    build=build,
    aggregate=Step("rework", lambda q: aggregate(q.eng, q.names, q.out), makes=("rw_case",),
                   label="findings: rework"),
    step_activity=True,
    order=40,
    messages=MESSAGES,
)
