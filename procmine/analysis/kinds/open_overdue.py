"""open_overdue: cases still open past their promised limit on the as-of date (超期在办)."""

from __future__ import annotations

from .base import Context, Finding, Kind, evidence_ids, fmt, rnd, statutory

# this kind's sentences, added to the message catalogue (templates/messages/ holds the others)
MESSAGES = {
    "finding.open_overdue": {"zh": "{service}：截至{as_of}，{cases}件在办且已超过承诺时限，共超期{days}个工作日",
                            "en": "{service}: as of {as_of}, {cases} open cases are past their limit, {days} working days over in all"},
    "action.open_overdue": {"zh": "立即督办超期在办件",
                           "en": "Chase the overdue open cases now"},
}


def build(ctx: Context, agg) -> None:
    cases = ctx.cases
    over = cases[cases["outcome"] == "超期在办"]
    for service, g in over.groupby("service", sort=True):
        late = (-g["days_left"]).fillna(0).clip(lower=0)
        ctx.add(Finding(
            "open_overdue", service, int(len(g)), float(len(g)), "cases", evidence_ids(g["case_id"], late),
            {"service": service, "cases": len(g), "as_of": f"{ctx.m.as_of:%Y-%m-%d}", "days": fmt(float(late.sum()))},
            details={"days_over": rnd(float(late.sum())), "over_statute": statutory(g)}))


KIND = Kind(
    "open_overdue",
    dimension="time",
    label={"zh": "超期在办", "en": "Open and past the limit"},
    build=build,
    requires="sla",
    legal_breach=True,
    order=110,
    messages=MESSAGES,
)
