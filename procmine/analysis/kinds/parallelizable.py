"""parallelizable: steps of a service that cases run in either order, yet one after the other (可并联审批)."""

from __future__ import annotations

import pandas as pd

from ...engine.definitions import hours
from ...engine.findings import SPAN, Aggregates, Names, Step, evidence_map, top_coded
from .base import Context, Finding, Kind, counts, fmt, rnd, say, work_hours

# this kind's sentences, added to the message catalogue (templates/messages/ holds the others)
MESSAGES = {
    "finding.parallelizable": {"zh": "{service}：{pairs}对环节先后顺序不固定、互不依赖却串行办理，涉及{cases}件；按涉及办件：{listed}{more}",
                              "en": "{service}: {pairs} pairs of steps run in either order, independent yet one after the other, in {cases} cases; by cases: {listed_en}{more_en}"},
    "action.parallelizable": {"zh": "实行并联审批",
                             "en": "Run the steps in parallel"},
    "label.pair": {"zh": "「{a}」与「{b}」{cases}件（并联后平均每件可省{days}个工作日）",
                  "en": "'{a}' and '{b}', {cases} cases (in parallel {days} working days saved a case on average)"},
    "label.more_pairs": {"zh": "；另有{n}对",
                        "en": "; {n} more pairs"},
}


def aggregate(eng, names: Names, t: dict, out: Aggregates) -> None:
    """parallelizable: pairs of a service's frequent steps (first occurrence in each case)
    that cases run in either order (the pairs are the audit's largest intermediate: one
    row per pair of steps in a case)."""
    min_cases = int(KIND.threshold(t, "parallel_min_cases"))
    min_share = KIND.threshold(t, "parallel_min_share_each_order")
    keys = ["service", "a", "b"]
    empty = pd.DataFrame({k: pd.Series([], dtype=object) for k in keys})
    out.frames["parallel_cases"] = pd.DataFrame({"service": pd.Series([], dtype=object),
                                                 "cases": pd.Series([], dtype="int64")})
    out.frames["parallel"] = empty.assign(n=pd.Series([], dtype="int64"), a_first=pd.Series([], dtype="int64"),
                                          us=pd.Series([], dtype="int64"), median=pd.Series([], dtype=float))
    counts = eng.fetch("SELECT s, a, count(*) AS n FROM fx WHERE k = 1 AND a IS NOT NULL AND s IS NOT NULL "
                       "GROUP BY s, a")
    keep = []
    for s_code, g in counts.groupby("s", sort=True):
        g = g[g["n"] >= min_cases].sort_values("a", kind="stable")  # codes in name order
        g = g.sort_values("n", ascending=False, kind="stable").head(40)
        if len(g) >= 2:
            keep += [(int(s_code), int(a)) for a in g["a"]]
    if not keep:
        return
    eng.register("pf_acts", pd.DataFrame(keep, columns=["s", "a"]).astype("int64"))
    eng.materialize("pf_keep", f"""
SELECT f.s, f.c, f.a, f.pos, {SPAN} AS span_us
FROM fx f JOIN pf_acts k ON k.s = f.s AND k.a = f.a WHERE f.k = 1""")
    pairs = """(SELECT x.s, x.a, y.a AS b, x.c, x.pos < y.pos AS a_first, least(x.span_us, y.span_us) AS saving
                FROM pf_keep x JOIN pf_keep y ON y.c = x.c AND y.s = x.s AND x.a < y.a)"""
    agg = eng.fetch(f"""
SELECT s, a, b, count(*) AS n, CAST(sum(CASE WHEN a_first THEN 1 ELSE 0 END) AS BIGINT) AS a_first,
       CAST(sum(saving) AS BIGINT) AS us
FROM {pairs} p GROUP BY s, a, b HAVING count(*) >= {min_cases}""")
    p = agg["a_first"].astype(float) / agg["n"].astype(float)
    agg = agg[(pd.concat([p, 1 - p], axis=1).min(axis=1) >= min_share).to_numpy()]
    if agg.empty:
        return
    eng.register("pf_pairs", agg[["s", "a", "b"]].astype("int64"))
    eng.materialize("pf_kept", f"""
SELECT p.* FROM {pairs} p JOIN pf_pairs k ON k.s = p.s AND k.a = p.a AND k.b = p.b""")
    med = eng.fetch(f"SELECT s, a, b, median({hours('saving')}) AS median FROM pf_kept GROUP BY s, a, b")
    # a service's pairs are one finding: the cases with any of them, counted once
    out.frames["parallel_cases"] = names.named(
        eng.fetch("SELECT s, count(DISTINCT c) AS cases FROM pf_kept GROUP BY s"), service="s:s")
    top = eng.fetch(top_coded("SELECT s, a, b, c, saving FROM pf_kept", ["s", "a", "b"], "saving", eng.name))
    eng.drop("pf_kept")
    out.frames["parallel"] = names.named(agg.merge(med, on=["s", "a", "b"], how="left"),
                                         service="s:s", a="a:a", b="b:a")
    out.evidence["parallel"] = evidence_map(names.named(top, service="s:s", a="a:a", b="b:a"), keys)


PAIRS_LISTED = 5  # pairs a parallelizable finding names in its sentence (details hold them all)


def build(ctx: Context, agg) -> None:
    """One finding per service: the pairs of its steps that cases run in either order,
    listed by cases affected; its cases are the cases with any such pair (once), its
    impact the working days the pair affecting most cases would save (the pairs'
    savings overlap inside a case: they are not added up)."""
    per_day = ctx.calendar.office_hours_per_day
    ev = agg.evidence.get("parallel", {})
    frame = agg["parallel"]
    if frame.empty:
        return
    distinct = dict(zip(agg["parallel_cases"]["service"].astype(str), agg["parallel_cases"]["cases"].astype(int)))
    for service, g in frame.groupby("service", sort=True):
        g = g.assign(n=g["n"].astype("int64")).sort_values(["n", "a", "b"], ascending=[False, True, True],
                                                           kind="stable")
        pairs = []
        for r in g.itertuples(index=False):
            p = int(r.a_first) / int(r.n)
            pairs.append({"a": r.a, "b": r.b, "cases": int(r.n), "share_a_first": rnd(p, 4),
                          "median_saving_working_days": rnd(float(r.median) / per_day),
                          "saving_working_days": rnd(work_hours(r.us) / per_day)})
        top = pairs[0]
        first = g.iloc[0]
        # the saving a case on average (the median is 0 where most cases of a pair lose nothing)
        def avg(x):
            return fmt((x["saving_working_days"] or 0) / max(x["cases"], 1), 2)
        listed = "；".join(say("label.pair", "zh", a=x["a"], b=x["b"], cases=x["cases"], days=avg(x))
                          for x in pairs[:PAIRS_LISTED])
        listed_en = "; ".join(say("label.pair", "en", a=x["a"], b=x["b"], cases=x["cases"], days=avg(x))
                              for x in pairs[:PAIRS_LISTED])
        more = len(pairs) - PAIRS_LISTED
        ctx.add(Finding(
            "parallelizable", str(service), int(distinct.get(str(service), top["cases"])),
            work_hours(first["us"]) / per_day, "working_days",
            ev.get((service, first["a"], first["b"]), []),
            {"service": service, "pairs": len(pairs), "listed": listed, "listed_en": listed_en,
             "more": say("label.more_pairs", "zh", n=more) if more > 0 else "",
             "more_en": say("label.more_pairs", "en", n=more) if more > 0 else "",
             "cases": int(distinct.get(str(service), top["cases"]))},
            activity=f"{top['a']} | {top['b']}",
            details={"pairs": pairs, "share_a_first": top["share_a_first"],
                     "median_saving_work_hours": rnd(float(first["median"]))}))


KIND = Kind(
    "parallelizable",
    dimension="time",
    label={"zh": "可并联审批", "en": "Steps that could run in parallel"},
    build=build,
    aggregate=Step("parallelizable", lambda q: aggregate(q.eng, q.names, q.t, q.out), makes=("pf_keep", "pf_kept"),
                   label="findings: steps in either order"),
    thresholds={"parallel_min_cases": 20, "parallel_min_share_each_order": 0.2},
    order=70,
    messages=MESSAGES,
)
