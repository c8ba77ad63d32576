"""excess_visits: cases whose applicant came more than once (跑动超次), by service, with the
steps that opened the later visits."""

from __future__ import annotations

from ...engine.findings import Aggregates, Names, Step
from .base import Context, Finding, Kind, counts, evidence_ids, pct, top_names

# this kind's sentences, added to the message catalogue (templates/messages/ holds the others)
MESSAGES = {
    "finding.excess_visits": {"zh": "{service}：{cases}件（{share}）申请人跑动超过一次，共多跑{extra}次；多出的跑动来自{steps}",
                             "en": "{service}: in {cases} cases ({share}) the applicant came more than once, {extra} extra trips in all, for {steps}"},
    "action.excess_visits": {"zh": "梳理多次到场的原因，推行网上办理和邮寄送达",
                            "en": "Find why applicants come more than once; move steps online and post results"},
    "action.pickup": {"zh": "推行免费寄递或电子送达，取消窗口领取",
                     "en": "Post the result free of charge or deliver it electronically instead of a window pick-up"},
    "action.correction": {"zh": "实行一次性告知和容缺受理，减少补正往返",
                         "en": "Tell applicants everything needed at once and accept cases with minor gaps to avoid correction trips"},
    "action.intake": {"zh": "推行网上申请与受理",
                     "en": "Move intake online"},
}


def aggregate(eng, names: Names, out: Aggregates) -> None:
    """excess_visits: the step that opened each visit after the first, counted by service, step and kind."""
    out.frames["later_trips"] = names.named(eng.fetch("""
SELECT s, a, trip_kind, count(*) AS n FROM (
  SELECT s, a, trip_kind, row_number() OVER (PARTITION BY c, visit ORDER BY trip_at_us, pos) AS rk
  FROM trips WHERE visit > 1) t
WHERE rk = 1 GROUP BY s, a, trip_kind"""), service="s:s", activity="a:a")


def build(ctx: Context, agg) -> None:
    cases = ctx.cases[["service", "case_id", "visits"]]
    steps_by = counts(agg["later_trips"], ["service"], "activity")
    kinds_by = counts(agg["later_trips"], ["service"], "trip_kind")
    for service, g in cases.groupby("service", sort=True):
        v = g["visits"]
        multi = g[v.notna() & (v.fillna(0) > 1)]
        if multi.empty:
            continue
        extra = int((multi["visits"].astype(int) - 1).sum())
        steps, kinds = steps_by.get((service,), {}), kinds_by.get((service,), {})
        share = len(multi) / len(g)
        top_kind = min(kinds.items(), key=lambda x: (-x[1], x[0]))[0] if kinds else ""
        f = Finding("excess_visits", service, int(len(multi)), extra, "trips",
                    evidence_ids(multi["case_id"], multi["visits"].astype(float)),
                    {"service": service, "cases": len(multi), "share": pct(share), "extra": extra, "steps": top_names(steps)},
                    details={"extra_trip_steps": {str(k): int(n) for k, n in steps.items()}},
                    action_key=f"action.{top_kind}" if top_kind in ("pickup", "correction", "intake") else "")
        ctx.add(f)
    for service in sorted(s for s, ok in ctx.m.trips_known.items() if not ok and s):
        ctx.skip("excess_visits", "skip.trips_service", service)


KIND = Kind(
    "excess_visits",
    dimension="trips",
    label={"zh": "跑动超次", "en": "Extra trips"},
    build=build,
    aggregate=Step("excess_visits", lambda q: aggregate(q.eng, q.names, q.out), reads=("trips",)),
    requires="trips",
    skip="skip.excess_visits",
    order=10,
    messages=MESSAGES,
)
