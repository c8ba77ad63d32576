"""The findings' aggregations, as engine SQL: what :mod:`procmine.analysis.audit` counts over
events, run where the events are (DuckDB, or Spark on a cluster), so that only
one row per candidate finding and its evidence leave the engine.

Each function below reads the tables the definitions left (``facts``, ``cases``,
``docs``, ``trips``; :mod:`procmine.engine.definitions`) and returns small
frames. Which of those candidates become findings, their wording and their
ranking stay in :mod:`procmine.analysis.audit`.

Conventions, the same in every query:

- Sums of working time are sums of integer microseconds, converted to hours once
  (exact, and equal in every engine whatever the order of the rows); medians and
  p90 are exact quantiles with linear interpolation (pandas' definition) over the
  per-event hours.
- Evidence: up to ``EVIDENCE`` case ids per finding, heaviest first, ties by id;
  a case counts once, with the weight of its first occurrence (by ``pos``).
- Rows without a service or step name are in no group (as pandas' ``groupby``).
- Per event, cases, services, steps and departments are integer codes (``fx``,
  ``cc`` and the definitions' dictionaries ``d_case``, ``d_svc``, ``acts``,
  ``d_dept``), numbered in name order, so that comparing or ordering codes compares or orders the names; names
  come back only with the results.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .definitions import hours

EVIDENCE = 5
SPAN = "(coalesce(wait_work_us, 0) + coalesce(service_work_us, 0))"
NO_DEPT = "「未注明部门」"
CHAIN_BASE = 1 << 24  # a serial sign-off's level × CHAIN_BASE + its step's code (codes stay below)


def top_coded(source: str, keys: list[str], weight: str, engine: str | None = None) -> str:
    """The evidence query: ``keys…, case_id, rk`` (rk 1…EVIDENCE) over ``source``, which
    has one row per group and coded case ``c`` with its weight (never NULL), heaviest
    first, ties by code (= by case id). On DuckDB a top-n aggregate keyed on (weight,
    −code), which is unique, so the same cases as the window the other engines run,
    without sorting every group."""
    k = ", ".join(keys)
    tk = ", ".join(f"t.{x}" for x in keys)
    if engine == "duckdb":
        return f"""
SELECT {tk}, cc.case_id, t.rk FROM (
  SELECT {k}, unnest(top) AS c, generate_subscripts(top, 1) AS rk FROM (
    SELECT {k}, arg_max(c, struct_pack(w := {weight}, nc := -c), {EVIDENCE}) AS top
    FROM ({source}) s GROUP BY {k}) x) t
JOIN cc ON cc.c = t.c"""
    return f"""
SELECT {tk}, cc.case_id, t.rk FROM (
  SELECT {k}, c, row_number() OVER (PARTITION BY {k} ORDER BY {weight} DESC, c) AS rk
  FROM ({source}) s) t
JOIN cc ON cc.c = t.c WHERE t.rk <= {EVIDENCE}"""


def evidence_map(frame: pd.DataFrame, keys: list[str]) -> dict[tuple, list[str]]:
    """``top_coded`` rows → {group key: [case ids, heaviest first]}."""
    out: dict[tuple, list[str]] = {}
    if frame is None or frame.empty:
        return out
    frame = frame.sort_values(keys + ["rk"], kind="stable")
    cols = [frame[k].astype(object).to_numpy() for k in keys]
    ids = frame["case_id"].astype(str).to_numpy()
    for i in range(len(frame)):
        out.setdefault(tuple(c[i] for c in cols), []).append(str(ids[i]))
    return out


@dataclass
class Aggregates:
    """What the engine hands the audit: per-candidate frames and their evidence."""

    flags: dict = field(default_factory=dict)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    evidence: dict[str, dict[tuple, list[str]]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]


class _Names:
    """The dictionaries' codes → names (fetched once; small)."""

    def __init__(self, eng) -> None:
        def load(table: str, col: str, code: str) -> dict[int, str]:
            d = eng.fetch(f"SELECT {col}, {code} FROM {table}")
            return dict(zip(d[code].astype("int64").tolist(), d[col].astype(str).tolist()))

        self.svc = load("d_svc", "service", "s")
        self.svc[0] = ""  # no service named (the bottleneck's groups keep those events)
        self.act = load("(SELECT * FROM acts WHERE a IS NOT NULL)", "activity", "a")
        self.dept = load("d_dept", "department", "d")

    def named(self, frame: pd.DataFrame, **cols: str) -> pd.DataFrame:
        """``frame`` with code columns replaced by names: named(f, service="s", a="a")."""
        book = {"s": self.svc, "a": self.act, "d": self.dept}
        out = frame.copy()
        for new, spec in cols.items():
            code, kind = (spec.split(":") + [spec])[:2]
            out[new] = [book[kind][int(x)] if pd.notna(x) else None for x in frame[code].tolist()]
        return out


def aggregate(eng, rules, as_of_us: int) -> Aggregates:
    """Run every findings aggregation on ``eng`` (its definitions already run). Each
    intermediate table is dropped as soon as its finding is done, and so are the
    definitions' ``trips``, ``docs`` and ``cases`` once read (the engine's memory goes
    to what is still to come); ``facts`` and the dictionaries stay."""
    t = rules.thresholds
    out = Aggregates()
    fl = eng.fetch("SELECT bool_or(d IS NOT NULL) AS departments, "
                   "bool_or(service_us IS NOT NULL) AS service_time, bool_or(trip) AS trips FROM facts").iloc[0]
    out.flags = {k: bool(fl[k]) if pd.notna(fl[k]) else False for k in ("departments", "service_time", "trips")}
    _coded(eng, rules, as_of_us)
    eng.drop("cases")
    names = _Names(eng)
    _later_trips(eng, names, out)
    eng.drop("trips")
    _materials(eng, rules, names, out)
    eng.drop("rep")
    eng.drop("docs")
    _rework(eng, names, out)
    if out.flags["departments"]:
        _duplicate_check(eng, names, out)
        eng.drop("dup")
    eng.drop("rw_case")
    if out.flags["service_time"]:
        _rubber_stamp(eng, names, t, out)
        eng.drop("cand")
    _parallelizable(eng, names, t, out)
    eng.drop("pf_keep")
    _serial_signoff(eng, names, t, out)
    eng.drop("runs")
    _bottleneck(eng, names, t, out)
    eng.drop("bn")
    _late_cases(eng, names, out)
    out.frames["office_wait"] = names.named(eng.fetch(f"""
SELECT s, median({hours('wait_work_us')}) AS median_wait FROM fx
WHERE office AND wait_work_us IS NOT NULL AND s IS NOT NULL GROUP BY s"""), service="s:s")
    eng.drop("cc")
    return out


def _coded(eng, rules, as_of_us: int) -> None:
    """The per-case codes and outcome the findings join, and ``fx``: the per-event
    columns they read, in codes, with the windows they share (the previous step's
    department ``pd`` and the occurrence of the step in the case ``k``; computed
    with the event order in the definitions)."""
    eng.materialize("cc", f"""
SELECT case_id, c, service, outcome, accept_us, coalesce(finish_us, {int(as_of_us)}) AS clock_until,
       outcome IN ('超期', '超期在办') AS late
FROM cases""")
    eng.materialize("fx", """
SELECT c, s, a, d, pd, k, pos, ts_us, wait_work_us, service_work_us, service_us,
       office, sign, reject
FROM facts""", view=True)


def _later_trips(eng, names: "_Names", out: Aggregates) -> None:
    """excess_visits: the step that opened each visit after the first, counted by service, step and kind."""
    out.frames["later_trips"] = names.named(eng.fetch("""
SELECT s, a, trip_kind, count(*) AS n FROM (
  SELECT s, a, trip_kind, row_number() OVER (PARTITION BY c, visit ORDER BY trip_at_us, pos) AS rk
  FROM trips WHERE visit > 1) t
WHERE rk = 1 GROUP BY s, a, trip_kind"""), service="s:s", activity="a:a")


def _materials(eng, rules, names: "_Names", out: Aggregates) -> None:
    """repeated_material and shareable_material, over the documents handed over (``docs``)."""
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


def _rework(eng, names: _Names, out: Aggregates) -> None:
    """rework: every occurrence of a step after its first in the case."""
    eng.materialize("rw_case", f"""
SELECT s, a, c, count(*) AS n, CAST(sum({SPAN}) AS BIGINT) AS us FROM fx
WHERE k > 1 AND a IS NOT NULL AND s IS NOT NULL GROUP BY s, a, c""")
    out.frames["rework"] = names.named(eng.fetch("""
SELECT s, a, count(*) AS cases, CAST(sum(n) AS BIGINT) AS n, CAST(sum(us) AS BIGINT) AS us
FROM rw_case GROUP BY s, a"""), service="s:s", activity="a:a")
    out.evidence["rework"] = evidence_map(names.named(eng.fetch(top_coded(
        "SELECT s, a, c, n AS w FROM rw_case", ["s", "a"], "w", eng.name)), service="s:s", activity="a:a"),
        ["service", "activity"])


def _duplicate_check(eng, names: _Names, out: Aggregates) -> None:
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


def rubber_qualifies(r, t: dict) -> bool:
    """The rubber-stamp test on one row of the ``rubber`` frame (the rules' thresholds):
    enough timed occurrences, a median of a few minutes, nearly always passed."""
    if int(r.timed) < int(t.get("min_cases", 5)):
        return False
    return (float(r.median_minutes) <= t.get("rubber_stamp_max_minutes", 15)
            and int(r.passed) / int(r.occurrences) >= t.get("rubber_stamp_min_pass_share", 0.98))


def _rubber_stamp(eng, names: _Names, t: dict, out: Aggregates) -> None:
    """rubber_stamp: sign-off steps, each marked whether it "passes" (no reject-type step
    and no repeat of itself later in the case); evidence only for the steps that qualify."""
    eng.materialize("cand", """
SELECT x.c, x.s, x.a, x.pos, x.service_us, x.wait_work_us, x.service_work_us,
       NOT (coalesce(r.rp, -1) > x.pos OR l.lp > x.pos) AS passes
FROM fx x
LEFT JOIN (SELECT c, max(pos) AS rp FROM fx WHERE reject GROUP BY c) r ON r.c = x.c
JOIN (SELECT c, a, max(pos) AS lp FROM fx WHERE sign GROUP BY c, a) l ON l.c = x.c AND l.a = x.a
WHERE x.sign AND x.s IS NOT NULL""")
    frame = names.named(eng.fetch(f"""
SELECT s, a, count(service_us) AS timed, median({hours('service_us')} * 60) AS median_minutes,
       count(*) AS occurrences, CAST(sum(CASE WHEN passes THEN 1 ELSE 0 END) AS BIGINT) AS passed,
       CAST(sum({SPAN}) AS BIGINT) AS us,
       count(DISTINCT c) AS cases, median({hours('wait_work_us')}) AS median_wait
FROM cand GROUP BY s, a"""), service="s:s", activity="a:a")
    out.frames["rubber"] = frame
    keep = frame[[rubber_qualifies(r, t) for r in frame.itertuples(index=False)]]
    out.evidence["rubber"] = {}
    if keep.empty:
        return
    eng.register("rb_keep", keep[["s", "a"]].astype("int64"))
    out.evidence["rubber"] = evidence_map(names.named(eng.fetch(top_coded(
        """SELECT x.s, x.a, x.c, min_by(coalesce(x.wait_work_us, 0), x.pos) AS w
           FROM cand x JOIN rb_keep k ON k.s = x.s AND k.a = x.a GROUP BY x.s, x.a, x.c""",
        ["s", "a"], "w", eng.name)), service="s:s", activity="a:a"), ["service", "activity"])


def _parallelizable(eng, names: _Names, t: dict, out: Aggregates) -> None:
    """parallelizable: pairs of a service's frequent steps (first occurrence in each case)
    that cases run in either order (the pairs are the audit's largest intermediate: one
    row per pair of steps in a case)."""
    min_cases = int(t.get("parallel_min_cases", 20))
    min_share = t.get("parallel_min_share_each_order", 0.2)
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


def _serial_signoff(eng, names: _Names, t: dict, out: Aggregates) -> None:
    """serial_signoff: runs of sign-off steps at consecutive positions in one department
    (or none named), with the working time waited between the levels. Within a case and
    department, consecutive positions keep ``pos − rank`` constant: that is the run."""
    min_levels = int(t.get("serial_signoff_min_levels", 3))
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


# the steps whose wait is a §45 pause (a special procedure, a correction from notice to receipt)
PAUSE_STEP = ("(ac.special_single OR ac.special_open OR ac.special_close OR ac.notice_open OR ac.notice_close"
              " OR ac.correction_single)")


def _bottleneck(eng, names: _Names, t: dict, out: Aggregates) -> None:
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
    floor = float(t.get("bottleneck_min_wait_minutes", 1)) / 60
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

    top = int(t.get("bottleneck_top", 10))
    share = t.get("bottleneck_min_excess_share", 0.1)
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


def _late_cases(eng, names: _Names, out: Aggregates) -> None:
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
