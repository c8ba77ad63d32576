"""bundle_candidate: services the same applicants apply for together, not yet declared 一件事."""

from __future__ import annotations

from .base import Context, Finding, Kind

# this kind's sentences, added to the message catalogue (templates/messages/ holds the others)
MESSAGES = {
    "finding.bundle_candidate": {"zh": "{services}：{applicants}个申请人在同一时期分别申办，合计跑动{trips}次，重复提交材料{repeated}份，可作为“一件事”一次办",
                                "en": "{services}: {applicants} applicants applied for both separately within the window, {trips} trips in all and {repeated} documents handed over twice; a candidate for one matter"},
    "action.bundle_candidate": {"zh": "梳理为“一件事”，一次告知、一表申请、一窗受理、一网办理",
                               "en": "Design it as one matter with one notice"},
}


def build(ctx: Context, agg) -> None:
    """一件事 nobody declared yet: services the same applicants apply for together."""
    from ..bundles import applicant_key, candidate_bundles, load_bundles

    log = ctx.log
    key = applicant_key(log) if log is not None else None
    if key is None:
        ctx.skip("bundle_candidate", "skip.applicants")
        return
    declared = ctx.rules.bundles.get("declared")
    cand = candidate_bundles(ctx.cases, key, load_bundles(declared) if declared else [], ctx.m, ctx.rules)
    for c in cand.itertuples(index=False):
        extra = c.extra_trips if c.extra_trips is not None else 0
        ctx.add(Finding(
            "bundle_candidate", c.services, int(c.applicants), float(max(extra, 0) + c.repeated_documents),
            "trips" if c.extra_trips is not None else "documents", list(c.evidence),
            {"services": c.services, "applicants": int(c.applicants), "trips": "—" if c.trips is None else c.trips,
             "repeated": int(c.repeated_documents)},
            details={"applicants": int(c.applicants), "trips": c.trips, "extra_trips": c.extra_trips,
                     "repeated_documents": int(c.repeated_documents)}))


KIND = Kind(
    "bundle_candidate",
    dimension="trips",
    label={"zh": "可打包为一件事", "en": "Candidate for one matter"},
    build=build,
    order=130,
    messages=MESSAGES,
)
