"""bottleneck: office waits inside the legal clock well above the service's typical wait (等待瓶颈)."""

from __future__ import annotations

import pandas as pd

from ...engine.definitions import hours
from ...engine.findings import Aggregates, Names, Step, evidence_map, top_coded
from .base import Context, Finding, Kind, fmt, rnd, say, work_hours

# this kind's sentences, added to the message catalogue (templates/messages/ holds the others)
MESSAGES = {
    "finding.bottleneck": {"zh": "{service}：{label}等待中位{p50}（P90 {p90}），{baseline}；{cases}件因此平均每件多等{per_case}个工作日",
                          "en": "{service}: the wait {label_en} has a median of {p50_en} (P90 {p90_en}), {baseline_en}; {cases} cases wait {per_case} working days more each because of it"},
    "action.bottleneck": {"zh": "设定环节时限，限时办结并督办",
                         "en": "Set a time limit for the step and supervise it"},
    "label.before_step": {"zh": "「{name}」之前",
                         "en": "before '{name}'"},
    "label.department": {"zh": "{name}",
                        "en": "in {name}"},
    "label.handover": {"zh": "{name} 交接",
                      "en": "at the handover {name}"},
    "label.baseline_others": {"zh": "本事项其他环节（只计有等待的）中位等待{wait}",
                             "en": "against {wait} for the service's other steps (those that wait)"},
    "label.baseline_depts": {"zh": "本事项其他部门的环节（只计有等待的）中位等待{wait}",
                            "en": "against {wait} for the other departments' steps (those that wait)"},
    "label.baseline_all": {"zh": "本事项各环节（只计有等待的）中位等待{wait}",
                          "en": "against {wait} for the service's steps (those that wait)"},
    "unit.work_hours": {"zh": "{n}个工作小时",
                       "en": "{n} working hours"},
    "unit.working_days": {"zh": "{n}个工作日",
                         "en": "{n} working days"},
}


# the steps whose wait is a §45 pause (a special procedure, a correction from notice to receipt)
PAUSE_STEP = ("(ac.special_single OR ac.special_open OR ac.special_close OR ac.notice_open OR ac.notice_close"
              " OR ac.correction_single)")


def aggregate(eng, names: Names, t: dict, out: Aggregates) -> None:
    """bottleneck: office waits inside the legal clock (受理 → 办结, or the as-of date),
    seen by department, by step and by handover between departments. Time in a §45
    pause is never a bottleneck: the pause steps (``acts2``: special_single/open/close,
    notice_open/close) and the steps between a pause's opening and its close are left out.

    Baseline: each step's waits that are waits (at least ``bottleneck_min_wait_minutes``,
    1 by default: most steps follow at once, so a median over every wait is 0); per
    step the median of those, ``m⁺``. A step is judged against
    the median ``m⁺`` of the service's *other* steps; a department against that of the
    steps it never did (the other departments'); a handover against that of all the
    service's steps. A service whose other steps never wait
    has no baseline and no bottleneck."""
    eng.materialize("pz_open", """
SELECT o.c, o.pos AS p0, min(x.pos) AS p1 FROM
  (SELECT f.c, f.pos, ac.special_open AS sp FROM fx f JOIN acts2 ac ON ac.a = f.a
   WHERE ac.special_open OR ac.notice_open) o
LEFT JOIN (SELECT f.c, f.pos, ac.special_close AS sp FROM fx f JOIN acts2 ac ON ac.a = f.a
           WHERE ac.special_close OR ac.notice_close) x ON x.c = o.c AND x.pos > o.pos AND x.sp = o.sp
GROUP BY o.c, o.pos""")
    eng.materialize("bn", f"""
SELECT x.c, coalesce(x.s, 0) AS s, x.a, x.d, x.pd, x.wait_work_us AS us, {hours('x.wait_work_us')} AS w,
       x.pos, cc.late
FROM fx x JOIN cc ON cc.c = x.c JOIN acts2 ac ON ac.a = x.a
LEFT JOIN (SELECT DISTINCT f.c, f.pos FROM fx f JOIN pz_open p ON p.c = f.c
           AND f.pos > p.p0 AND f.pos <= coalesce(p.p1, f.pos)) inp ON inp.c = x.c AND inp.pos = x.pos
WHERE x.wait_work_us IS NOT NULL AND x.pos > 0 AND x.office AND x.a IS NOT NULL
  AND x.ts_us > cc.accept_us AND x.ts_us <= cc.clock_until
  AND NOT coalesce({PAUSE_STEP}, false) AND inp.c IS NULL""")
    eng.drop("pz_open")
    # a wait shorter than this is a step that followed at once (records written in one sitting)
    floor = float(KIND.threshold(t, "bottleneck_min_wait_minutes")) / 60
    per_act = eng.fetch(f"SELECT s, a, median(CASE WHEN w >= {floor!r} THEN w END) AS m FROM bn GROUP BY s, a")
    out.frames["bottleneck"] = pd.DataFrame({"service": pd.Series([], dtype=object)})
    if per_act.empty:
        out.flags["waits"] = False
        return
    out.flags["waits"] = True
    per_act = per_act.sort_values(["s", "a"], kind="stable")
    step_base, typical = [], {}
    for s_code, g in per_act.groupby("s", sort=True):
        m = g["m"].to_numpy(dtype=float, na_value=float("nan"))
        waits = [x for x in m if x == x]
        typical[int(s_code)] = float(pd.Series(waits).median()) if waits else float("nan")
        for a, own in zip(g["a"].tolist(), m):
            others = list(waits)
            if own == own:
                others.remove(own)
            step_base.append((int(s_code), int(a), float(pd.Series(others).median()) if others else float("nan")))
    base = pd.DataFrame(step_base, columns=["s", "a", "base"]).astype({"base": float}).dropna()
    # a department against the steps no event of which it did (the other departments' steps)
    member = eng.fetch("SELECT DISTINCT s, a, d FROM bn WHERE d IS NOT NULL")
    dept_base = []
    for s_code, g in member.groupby("s", sort=True):
        m_of = per_act[per_act["s"] == s_code].set_index("a")["m"]
        for d_code, gd in g.groupby("d", sort=True):
            inside = set(gd["a"].astype("int64").tolist())
            others = [float(x) for a, x in m_of.items() if int(a) not in inside and x == x]
            if others:
                dept_base.append((int(s_code), int(d_code), float(pd.Series(others).median())))
    dbase = pd.DataFrame(dept_base, columns=["s", "d", "base"]).astype({"base": float})
    typ = pd.DataFrame({"s": pd.Series(list(typical), dtype="int64"),
                        "typical": pd.Series(list(typical.values()), dtype=float)}).dropna()
    out.frames["bottleneck_typical"] = pd.Series(typ["typical"].to_numpy(dtype=float),
                                                 index=[names.svc[int(s)] for s in typ["s"]])
    if base.empty and typ.empty:
        out.flags["baseline"] = False
        return
    out.flags["baseline"] = True
    eng.register("bn_typical", typ.astype({"s": "int64"}))
    eng.register("bn_step_base", base.astype({"s": "int64", "a": "int64"}))
    eng.register("bn_dept_base", dbase.astype({"s": "int64", "d": "int64"}))
    hand = 10 ** (len(str(max(names.dept, default=0))) + 1)  # handover key: previous × hand + this
    eng.materialize("bv", f"""
SELECT s, view, k, c, w, pos, late, base,
       CASE WHEN w > base THEN us ELSE 0 END AS over_us, CASE WHEN w > base THEN 1 ELSE 0 END AS over_n
FROM (SELECT b.s, v.view, CASE v.view WHEN 0 THEN b.d WHEN 1 THEN b.a ELSE b.pd * {hand} + b.d END AS k,
             b.c, b.w, b.us, b.pos, b.late, CASE v.view WHEN 1 THEN sb.base WHEN 0 THEN db.base ELSE t.typical END AS base
      FROM bn b
      JOIN (SELECT 0 AS view UNION ALL SELECT 1 UNION ALL SELECT 2) v
        ON v.view = 1 OR (v.view = 0 AND b.d IS NOT NULL)
        OR (v.view = 2 AND b.d IS NOT NULL AND b.pd IS NOT NULL AND b.d <> b.pd)
      LEFT JOIN bn_typical t ON t.s = b.s
      LEFT JOIN bn_step_base sb ON sb.s = b.s AND sb.a = b.a
      LEFT JOIN bn_dept_base db ON db.s = b.s AND db.d = b.d) x
WHERE base IS NOT NULL""", view=True)
    # per key: the waits over the baseline (in all cases, and in cases decided or open late),
    # the cases with such a wait, the quantiles, and a signature of the events the key covers
    # in three parts, each of which a province's log can stream or spill: the sums, the
    # distinct cases (a grouping by case first) and, one view at a time, the quantiles
    stats = eng.fetch("""
SELECT s, view, k, max(base) AS base, CAST(sum(over_us) AS BIGINT) AS over_us, CAST(sum(over_n) AS BIGINT) AS over_n,
       CAST(sum(CASE WHEN late THEN over_us ELSE 0 END) AS BIGINT) AS late_us,
       CAST(sum(CASE WHEN late THEN over_n ELSE 0 END) AS BIGINT) AS late_n,
       count(*) AS events,
       CAST(sum(pos) AS BIGINT) AS sig1, CAST(sum(c % 1000003) AS BIGINT) AS sig2,
       CAST(sum((c * 31 + pos * 7919) % 1000033) AS BIGINT) AS sig3
FROM bv GROUP BY s, view, k""")
    cases = eng.fetch("""
SELECT s, view, k, count(*) AS cases
FROM (SELECT s, view, k, c FROM bv WHERE over_n = 1 GROUP BY s, view, k, c) x GROUP BY s, view, k""")
    quant = pd.concat([eng.fetch(f"""
SELECT s, view, k, q[1] AS p50, q[2] AS p90
FROM (SELECT s, view, k, quantile_cont(w, [0.5, 0.9]) AS q FROM bv WHERE view = {v} GROUP BY s, view, k) t""")
                       for v in range(3)], ignore_index=True)
    stats = (stats.merge(cases, on=["s", "view", "k"], how="left")
             .merge(quant, on=["s", "view", "k"], how="left"))
    stats["cases"] = stats["cases"].fillna(0).astype("int64")
    depts = eng.fetch("SELECT s, count(DISTINCT d) AS n FROM bn GROUP BY s")

    def excess(us: pd.Series, n: pd.Series, base: pd.Series) -> pd.Series:
        # Σ max(w − base, 0) = Σ_{w > base} w − base × #{w > base}: an integer sum, the same in any order
        return us.astype(float) / 3_600_000_000 - base.astype(float) * n.astype(float)

    multi = set(depts.loc[depts["n"] > 1, "s"].astype("int64"))

    def key_name(view: int, k: int) -> str:
        if view == 0:
            return names.dept[k]
        if view == 1:
            return names.act[k]
        return f"{names.dept[k // hand]} → {names.dept[k % hand]}"

    top = int(KIND.threshold(t, "bottleneck_top"))
    share = KIND.threshold(t, "bottleneck_min_excess_share")
    kept = []
    for s_code, g in stats.groupby("s", sort=True):
        g = g.assign(delay=excess(g["over_us"], g["over_n"], g["base"]),
                     in_late=excess(g["late_us"], g["late_n"], g["base"]))
        margin = g["base"] * (1 + share) + 0.05  # a median visibly above the baseline, never at it
        g = g[(g["delay"] > 0) & (g["p50"] > margin)]
        if not out.flags["departments"] or int(s_code) not in multi:
            g = g[g["view"] != 0]
        if not out.flags["departments"]:
            g = g[g["view"] != 2]
        items = sorted(((key_name(int(r.view), int(r.k)), r) for r in g.itertuples(index=False)),
                       key=lambda x: (-round(float(x[1].delay), 6), int(x[1].view), x[0]))
        seen: set = set()
        n = 0
        for name, r in items:  # the same waits seen through another view are one finding
            sig = (int(r.events), int(r.sig1), int(r.sig2), int(r.sig3))
            if sig in seen:
                continue
            seen.add(sig)
            if n < top:
                kept.append({"s": int(s_code), "service": names.svc[int(s_code)], "view": int(r.view),
                             "k": int(r.k), "key": name, "delay": float(r.delay), "p50": float(r.p50),
                             "p90": float(r.p90), "events": int(r.events), "cases": int(r.cases),
                             "in_late": float(r.in_late), "base": float(r.base)})
            n += 1
    frame = pd.DataFrame(kept, columns=["s", "service", "view", "k", "key", "delay", "p50", "p90", "events",
                                        "cases", "in_late", "base"])
    out.frames["bottleneck"] = frame
    if frame.empty:
        return
    eng.register("bn_keep", frame[["s", "view", "k"]].astype("int64"))
    top_rows = eng.fetch(top_coded(f"""
SELECT b.s, b.view, b.k, b.c, {hours('b.over_us')} - b.base * b.over_n AS excess
FROM (SELECT b.s, b.view, b.k, b.c, CAST(sum(b.over_us) AS BIGINT) AS over_us,
             CAST(sum(b.over_n) AS BIGINT) AS over_n, max(b.base) AS base
      FROM bv b JOIN bn_keep k ON k.s = b.s AND k.view = b.view AND k.k = b.k
      GROUP BY b.s, b.view, b.k, b.c) b""", ["s", "view", "k"], "excess"))
    out.evidence["bottleneck"] = evidence_map(top_rows.astype({"s": "int64", "view": "int64", "k": "int64"}),
                                              ["s", "view", "k"])


def _duration(hours: float, per_day: float) -> tuple[str, str]:
    """A wait in the unit a leader reads: working days from one office day up, else working hours."""
    if hours >= per_day:
        return say("unit.working_days", "zh", n=fmt(hours / per_day)), say("unit.working_days", "en", n=fmt(hours / per_day))
    return say("unit.work_hours", "zh", n=fmt(hours)), say("unit.work_hours", "en", n=fmt(hours))


VIEWS = ("department", "activity", "handover")


def build(ctx: Context, agg) -> None:
    """Waits the office controls, inside the legal clock (受理 → 办结), §45 pauses left
    out. Baseline: the median of the non-zero waits of the service's other steps (a
    department or handover: of all its steps), so that it is never 0 when most steps
    follow at once. A step, department or handover is a bottleneck only when its own
    median wait is above its baseline; its impact is the working time its waits add
    beyond the baseline, in working days: per affected case, and over the cases
    affected (selection: :func:`aggregate`)."""
    if not agg.flags.get("waits"):
        ctx.skip("bottleneck", "skip.no_waits")
        return
    if not agg.flags.get("baseline"):
        ctx.skip("bottleneck", "skip.no_baseline")
        return
    per_day = ctx.calendar.office_hours_per_day
    ev = agg.evidence.get("bottleneck", {})
    for r in agg["bottleneck"].itertuples(index=False):
        service, view, key = str(r.service), VIEWS[int(r.view)], str(r.key)
        base = float(r.base)
        delay, p50, p90 = float(r.delay), float(r.p50), float(r.p90)
        cases = int(r.cases)
        days = delay / per_day
        per_case = days / max(cases, 1)
        label_key = {"activity": "label.before_step", "department": "label.department",
                     "handover": "label.handover"}[view]
        base_key = {"activity": "label.baseline_others", "department": "label.baseline_depts",
                    "handover": "label.baseline_all"}[view]
        (p50_zh, p50_en), (p90_zh, p90_en), (b_zh, b_en) = (_duration(p50, per_day), _duration(p90, per_day),
                                                            _duration(base, per_day))
        ctx.add(Finding(
            "bottleneck", service, cases, days, "working_days", ev.get((int(r.s), int(r.view), int(r.k)), []),
            {"service": service, "label": say(label_key, "zh", name=key), "label_en": say(label_key, "en", name=key),
             "p50": p50_zh, "p90": p90_zh, "baseline": say(base_key, "zh", wait=b_zh),
             "baseline_en": say(base_key, "en", wait=b_en), "cases": cases, "per_case": fmt(per_case),
             "days": fmt(days), "p50_en": p50_en, "p90_en": p90_en},
            activity=key if view == "activity" else None,
            department=key if view in ("department", "handover") else None,
            details={"view": view, "wait_p50_work_hours": rnd(p50), "wait_p90_work_hours": rnd(p90),
                     "baseline_work_hours": rnd(base), "events": int(r.events),
                     "excess_work_hours": rnd(delay), "excess_working_days_per_case": rnd(per_case),
                     "excess_in_late_cases_work_hours": rnd(float(r.in_late))}))


KIND = Kind(
    "bottleneck",
    dimension="time",
    label={"zh": "等待瓶颈", "en": "Waiting bottleneck"},
    build=build,
    aggregate=Step("bottleneck", lambda q: aggregate(q.eng, q.names, q.t, q.out), makes=("pz_open", "bn"),
                   label="findings: bottlenecks"),
    thresholds={"bottleneck_min_wait_minutes": 1, "bottleneck_top": 10, "bottleneck_min_excess_share": 0.1},
    step_activity=True,
    order=90,
    messages=MESSAGES,
)
