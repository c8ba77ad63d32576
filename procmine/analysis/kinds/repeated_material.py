"""repeated_material: a document handed over more than once in one case (材料重复提交)."""

from __future__ import annotations

from ...engine.findings import Aggregates, Names, Step, evidence_map, top_coded
from .base import Context, Finding, Kind, counts, top_names

# this kind's sentences, added to the message catalogue (templates/messages/ holds the others)
MESSAGES = {
    "finding.repeated_material": {"zh": "{service}：「{material}」在{cases}件中被重复提交，共多交{extra}份，提交于{where}",
                                 "en": "{service}: '{material}' was handed over again in {cases} cases, {extra} extra copies, at {where}"},
    "action.repeated_material": {"zh": "材料一次收取、部门间共享，不得重复索要",
                                "en": "Collect each document once and share it between departments"},
}


def aggregate(eng, names: Names, out: Aggregates) -> None:
    """The documents handed over more than once in a case (``rep``), where, and the evidence."""
    keys = ["service", "material"]
    eng.materialize("rep", """
SELECT s, c, material, count(*) AS n FROM docs
WHERE s IS NOT NULL GROUP BY s, c, material HAVING count(*) > 1""")
    out.frames["repeated"] = names.named(eng.fetch("""
SELECT s, material, count(*) AS cases, CAST(sum(n - 1) AS BIGINT) AS extra FROM rep GROUP BY s, material"""),
        service="s:s")
    where = eng.fetch("""
SELECT h.s, h.material, 'department' AS what, h.d AS k, count(*) AS n
FROM docs h JOIN rep r ON r.s = h.s AND r.c = h.c AND r.material = h.material
WHERE h.d IS NOT NULL GROUP BY h.s, h.material, h.d
UNION ALL
SELECT h.s, h.material, 'activity' AS what, h.a AS k, count(*) AS n
FROM docs h JOIN rep r ON r.s = h.s AND r.c = h.c AND r.material = h.material
WHERE h.a IS NOT NULL GROUP BY h.s, h.material, h.a""")
    where = names.named(where, service="s:s")
    where["name"] = [names.dept[int(k)] if w == "department" else names.act[int(k)]
                     for w, k in zip(where["what"].tolist(), where["k"].tolist())]
    out.frames["repeated_where"] = where
    out.evidence["repeated"] = evidence_map(names.named(eng.fetch(top_coded(
        "SELECT s, material, c, n AS w FROM rep", ["s", "material"], "w", eng.name)), service="s:s"), keys)


def build(ctx: Context, agg) -> None:
    w = agg["repeated_where"]
    depts_by = counts(w[w["what"] == "department"], ["service", "material"], "name")
    steps_by = counts(w[w["what"] == "activity"], ["service", "material"], "name")
    ev = agg.evidence["repeated"]
    for r in agg["repeated"].sort_values(["service", "material"], kind="stable").itertuples(index=False):
        service, material = r.service, r.material
        depts, steps = depts_by.get((service, material), {}), steps_by.get((service, material), {})
        at = top_names(depts) if len(depts) > 1 else top_names(steps)
        extra = int(r.extra)
        ctx.add(Finding(
            "repeated_material", service, int(r.cases), extra, "documents", ev.get((service, material), []),
            {"service": service, "material": material, "cases": int(r.cases), "extra": extra, "where": at},
            material=material,
            details={"steps": {str(k): int(v) for k, v in steps.items()},
                     "departments": {str(k): int(v) for k, v in depts.items()}}))


KIND = Kind(
    "repeated_material",
    dimension="documents",
    label={"zh": "材料重复提交", "en": "Documents handed over twice"},
    build=build,
    aggregate=Step("repeated_material", lambda q: aggregate(q.eng, q.names, q.out), reads=("docs",), makes=("rep",),
                   label="findings: repeated documents"),
    requires="materials",
    skip="skip.materials",
    order=20,
    messages=MESSAGES,
)
