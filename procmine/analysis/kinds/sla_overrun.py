"""sla_overrun: cases decided after their promised limit (超承诺时限), with where their time went."""

from __future__ import annotations

from ...engine.findings import Aggregates, Names, Step
from .base import Context, Finding, Kind, counts, evidence_ids, fmt, rnd, statutory, top_names

# this kind's sentences, added to the message catalogue (templates/messages/ holds the others)
MESSAGES = {
    "finding.sla_overrun": {"zh": "{service}：{cases}件超过承诺时限（{limit}个工作日）办结，共超期{days}个工作日，时间主要耗在{steps}",
                           "en": "{service}: {cases} cases were decided after the promised limit ({limit} working days), {days} working days late in all; the time went mostly to {steps}"},
    "action.sla_overrun": {"zh": "对超期办件逐件说明原因并督办，压实时限责任",
                          "en": "Require a reason for every late case and supervise the time limits"},
}


def aggregate(eng, names: Names, out: Aggregates) -> None:
    """sla_overrun: for each case decided late, the step with the most office working
    time (ties: the step name), counted by service and step."""
    out.frames["late_steps"] = names.named(eng.fetch("""
SELECT service, a, count(*) AS n FROM (
  SELECT cc.service, x.a,
         row_number() OVER (PARTITION BY x.c ORDER BY
           CASE WHEN x.office THEN coalesce(x.wait_work_us, 0) ELSE 0 END + coalesce(x.service_work_us, 0) DESC,
           x.a NULLS LAST) AS rk
  FROM fx x JOIN cc ON cc.c = x.c WHERE cc.outcome = '超期') t
WHERE rk = 1 AND a IS NOT NULL GROUP BY service, a"""), activity="a:a")


def build(ctx: Context, agg) -> None:
    cases = ctx.cases
    over = cases[cases["outcome"] == "超期"]
    if over.empty:
        return
    went = counts(agg["late_steps"], ["service"], "activity")
    for service, g in over.groupby("service", sort=True):
        late = g["days_over"].astype(float).fillna(0)  # the case model's, against the limit the outcome uses
        excess = float(late.sum())
        where = went.get((service,), {})
        limit = g["sla_days"].astype(float).median()
        ctx.add(Finding(
            "sla_overrun", service, int(len(g)), excess if excess > 0 else float(len(g)),
            "working_days" if excess > 0 else "cases",
            evidence_ids(g["case_id"], late),
            {"service": service, "cases": len(g), "limit": fmt(limit) if limit == limit else "—",
             "days": fmt(excess), "steps": top_names(where)},
            details={"time_went_to": {str(k): int(v) for k, v in where.items()},
                     "sla_days": rnd(limit), "over_statute": statutory(g)}))


KIND = Kind(
    "sla_overrun",
    dimension="time",
    label={"zh": "超承诺时限", "en": "Over the promised time limit"},
    build=build,
    aggregate=Step("sla_overrun", lambda q: aggregate(q.eng, q.names, q.out)),
    requires="sla",
    skip="skip.sla",
    legal_breach=True,
    order=100,
    messages=MESSAGES,
)
