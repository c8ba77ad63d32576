"""duplicate_check: the same step done by more than one department in a case (多部门重复办理)."""

from __future__ import annotations

from ...engine.findings import Aggregates, Names, Step, evidence_map, top_coded
from .base import Context, Finding, Kind, counts, top_names

# this kind's sentences, added to the message catalogue (templates/messages/ holds the others)
MESSAGES = {
    "finding.duplicate_check": {"zh": "{service}：「{activity}」在{cases}件中由{departments}个部门重复办理（{where}）",
                               "en": "{service}: '{activity}' was done by {departments} departments in {cases} cases ({where})"},
    "action.duplicate_check": {"zh": "明确牵头部门，一家审查、结果互认",
                              "en": "Name one lead department and let the others accept its check"},
}


def aggregate(eng, names: Names, out: Aggregates) -> None:
    """duplicate_check: the same step done by more than one department in a case."""
    # a step done twice in a case has a repeat (k > 1): only the rework's groups can qualify
    eng.materialize("dup", """
SELECT f.s, f.a, f.c, count(DISTINCT f.d) AS n
FROM fx f JOIN rw_case r ON r.s = f.s AND r.a = f.a AND r.c = f.c
WHERE f.d IS NOT NULL
GROUP BY f.s, f.a, f.c HAVING count(DISTINCT f.d) > 1""")
    out.frames["duplicate"] = names.named(eng.fetch("""
SELECT s, a, count(*) AS cases, CAST(sum(n - 1) AS BIGINT) AS extra FROM dup GROUP BY s, a"""),
        service="s:s", activity="a:a")
    out.frames["duplicate_depts"] = names.named(eng.fetch("""
SELECT f.s, f.a, f.d, count(*) AS n
FROM fx f JOIN dup x ON x.s = f.s AND x.a = f.a AND x.c = f.c
WHERE f.d IS NOT NULL GROUP BY f.s, f.a, f.d"""), service="s:s", activity="a:a", department="d:d")
    out.evidence["duplicate"] = evidence_map(names.named(eng.fetch(top_coded(
        "SELECT s, a, c, n AS w FROM dup", ["s", "a"], "w", eng.name)), service="s:s", activity="a:a"),
        ["service", "activity"])


def build(ctx: Context, agg) -> None:
    depts_by = counts(agg["duplicate_depts"], ["service", "activity"], "department")
    ev = agg.evidence["duplicate"]
    for r in agg["duplicate"].sort_values(["service", "activity"], kind="stable").itertuples(index=False):
        depts = depts_by.get((r.service, r.activity), {})
        ctx.add(Finding(
            "duplicate_check", r.service, int(r.cases), int(r.extra), "steps", ev.get((r.service, r.activity), []),
            {"service": r.service, "activity": r.activity, "cases": int(r.cases), "departments": len(depts),
             "where": top_names(depts)},
            activity=r.activity, details={"departments": sorted(depts)}))


KIND = Kind(
    "duplicate_check",
    dimension="steps",
    label={"zh": "多部门重复办理", "en": "Same check by several departments"},
    build=build,
    aggregate=Step("duplicate_check", lambda q: aggregate(q.eng, q.names, q.out), reads=("rw_case",), makes=("dup",),
                   label="findings: duplicate checks",
                   when="departments"),
    requires="departments",
    skip="skip.departments",
    step_activity=True,
    order=50,
    messages=MESSAGES,
)
