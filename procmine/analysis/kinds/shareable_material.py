"""shareable_material: a document handed over that e-licences or shared data hold (可共享免交材料;
the catalogue of the rules says which)."""

from __future__ import annotations

import pandas as pd

from ...engine.findings import Aggregates, Names, Step, evidence_map, top_coded
from .base import Context, Finding, Kind, counts

# this kind's sentences, added to the message catalogue (templates/messages/ holds the others)
MESSAGES = {
    "finding.shareable_material": {"zh": "{service}：「{material}」可通过{source}获取，免于提交；涉及{cases}件、{count}次提交",
                                  "en": "{service}: '{material}' is available from {source_en}; {count} hand-overs in {cases} cases could be spared"},
    "action.shareable_material": {"zh": "通过电子证照或数据共享获取，申请人免于提交",
                                 "en": "Obtain it from e-licences or shared data so the applicant need not hand it over"},
}


def aggregate(eng, rules, names: Names, out: Aggregates) -> None:
    """The documents handed over that the rules' catalogue says e-licences or shared data hold."""
    keys = ["service", "material"]
    found = eng.fetch("SELECT DISTINCT material FROM docs")["material"].dropna().astype(str)
    cat = rules.catalogue
    share = [(m, cat.replaceable(m)) for m in found if cat.replaceable(m) is not None]
    eng.register("share_names", pd.DataFrame({"material": pd.Series([m for m, _ in share], dtype=object),
                                              "source": pd.Series([s for _, s in share], dtype=object)}))
    sh = "(SELECT h.* FROM docs h JOIN share_names x ON x.material = h.material WHERE h.s IS NOT NULL)"
    out.frames["shareable"] = names.named(eng.fetch(f"""
SELECT s, material, count(DISTINCT c) AS cases, count(*) AS n FROM {sh} h GROUP BY s, material"""),
        service="s:s")
    out.frames["shareable_steps"] = names.named(eng.fetch(f"""
SELECT s, material, a, count(*) AS n FROM {sh} h WHERE a IS NOT NULL
GROUP BY s, material, a"""), service="s:s", activity="a:a")
    out.evidence["shareable"] = evidence_map(names.named(eng.fetch(top_coded(
        f"SELECT s, material, c, count(*) AS w FROM {sh} h GROUP BY s, material, c",
        ["s", "material"], "w", eng.name)), service="s:s"), keys)
    out.frames["share_names"] = pd.DataFrame(share, columns=["material", "source"])


def build(ctx: Context, agg) -> None:
    source_of = dict(zip(agg["share_names"]["material"], agg["share_names"]["source"]))
    steps_by = counts(agg["shareable_steps"], ["service", "material"], "activity")
    ev = agg.evidence["shareable"]
    for r in agg["shareable"].sort_values(["service", "material"], kind="stable").itertuples(index=False):
        service, material = r.service, r.material
        source = source_of[material]
        steps = steps_by.get((service, material), {})
        ctx.add(Finding(
            "shareable_material", service, int(r.cases), int(r.n), "documents", ev.get((service, material), []),
            {"service": service, "material": material, "source": source,
             "source_en": "shared data" if source == "数据共享" else "e-licences", "cases": int(r.cases),
             "count": int(r.n)},
            material=material, details={"source": source, "steps": {str(k): int(v) for k, v in steps.items()}}))


KIND = Kind(
    "shareable_material",
    dimension="documents",
    label={"zh": "可共享免交材料", "en": "Documents available from e-licences"},
    build=build,
    aggregate=Step("shareable_material", lambda q: aggregate(q.eng, q.rules, q.names, q.out), reads=("docs",)),
    requires="materials",
    skip="skip.materials",
    order=30,
    messages=MESSAGES,
)
