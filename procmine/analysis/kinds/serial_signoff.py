"""serial_signoff: sign-off levels one after the other inside one department (逐级审批层级多)."""

from __future__ import annotations

import pandas as pd

from ...engine.findings import CHAIN_BASE, NO_DEPT, Aggregates, Names, Step, evidence_map, top_coded
from .base import Context, Finding, Kind, fmt, rnd, work_hours

# this kind's sentences, added to the message catalogue (templates/messages/ holds the others)
MESSAGES = {
    "finding.serial_signoff": {"zh": "{service}：{department}内部{levels}级逐级审批（{chain}），级间等待平均每件{per_case}个工作日",
                              "en": "{service}: {levels} sign-off levels inside {department} ({chain}), {per_case} working days a case waiting between levels"},
    "action.serial_signoff": {"zh": "压缩审批层级",
                             "en": "Cut sign-off levels"},
}


def aggregate(eng, names: Names, t: dict, out: Aggregates) -> None:
    """serial_signoff: runs of sign-off steps at consecutive positions in one department
    (or none named), with the working time waited between the levels. Within a case and
    department, consecutive positions keep ``pos − rank`` constant: that is the run."""
    min_levels = int(KIND.threshold(t, "serial_signoff_min_levels"))
    # the run's service is its first level's; the wait counted is between levels (the first's
    # excluded); the chain is its steps in order, each as (level × CHAIN_BASE + step code),
    # sorted: the same chain gives the same text in any case and any engine
    # (levels are shifted to start at 0 after grouping: a lambda over the run's sorted list,
    # instead of a window for the run's first position)
    eng.materialize("runs", f"""
SELECT c, dk, g, levels, s, d,
       array_to_string(list_transform(raw, lambda x: x - start_pos * {CHAIN_BASE}), ',') AS chain,
       wait_us, start_pos
FROM (SELECT c, dk, g, count(*) AS levels,
             nullif(min_by(coalesce(s, -1), pos), -1) AS s, max(d) AS d,
             list_sort(list(pos * {CHAIN_BASE} + a)) AS raw,
             CAST(sum(coalesce(wait_work_us, 0)) - min_by(coalesce(wait_work_us, 0), pos) AS BIGINT) AS wait_us,
             min(pos) AS start_pos
      FROM (SELECT c, s, a, d, coalesce(d, -1) AS dk, pos, wait_work_us,
                   pos - row_number() OVER (PARTITION BY c, coalesce(d, -1) ORDER BY pos) AS g
            FROM fx WHERE sign) x
      GROUP BY c, dk, g HAVING count(*) >= {min_levels}) y""")
    frame = eng.fetch("""
SELECT s, dk, chain, count(DISTINCT c) AS cases, CAST(sum(levels - 1) AS BIGINT) AS extra,
       min(levels) AS levels, CAST(sum(wait_us) AS BIGINT) AS us
FROM runs WHERE s IS NOT NULL GROUP BY s, dk, chain""")
    top = eng.fetch(top_coded("""SELECT s, dk, chain, c, min_by(wait_us, start_pos) AS w FROM runs
                                 WHERE s IS NOT NULL GROUP BY s, dk, chain, c""", ["s", "dk", "chain"], "w", eng.name))

    def named(f: pd.DataFrame) -> pd.DataFrame:
        f = names.named(f, service="s:s")
        f["department"] = [names.dept[int(x)] if int(x) >= 0 else NO_DEPT for x in f["dk"].tolist()]
        f["chain"] = [" → ".join(names.act[int(e) % CHAIN_BASE] for e in str(ch).split(","))
                      for ch in f["chain"].tolist()]
        return f

    out.frames["serial"] = named(frame)
    out.evidence["serial"] = evidence_map(named(top), ["service", "department", "chain"])


def build(ctx: Context, agg) -> None:
    ev = agg.evidence["serial"]
    per_day = ctx.calendar.office_hours_per_day
    for r in agg["serial"].sort_values(["service", "department", "chain"], kind="stable").itertuples(index=False):
        levels, wait = int(r.levels), work_hours(r.us)
        ctx.add(Finding(
            "serial_signoff", r.service, int(r.cases), int(r.extra), "steps",
            ev.get((r.service, r.department, r.chain), []),
            {"service": r.service, "department": r.department, "levels": levels, "chain": r.chain,
             "work_hours": fmt(wait), "per_case": fmt(wait / per_day / max(int(r.cases), 1))},
            department=r.department, activity=r.chain,
            details={"levels": levels, "wait_work_hours_between_levels": rnd(wait)}))


KIND = Kind(
    "serial_signoff",
    dimension="steps",
    label={"zh": "逐级审批层级多", "en": "Many sign-off levels"},
    build=build,
    aggregate=Step("serial_signoff", lambda q: aggregate(q.eng, q.names, q.t, q.out), makes=("runs",),
                   label="findings: serial sign-offs"),
    thresholds={"serial_signoff_min_levels": 3},
    order=80,
    messages=MESSAGES,
)
