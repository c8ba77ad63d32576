"""The findings' aggregations, run as engine SQL: what each finding kind
(:mod:`procmine.analysis.kinds`) counts over events runs where the events are
(DuckDB, or Spark on a cluster), so that only one row per candidate finding and
its evidence leave the engine.

This module holds what every kind's aggregation shares: the per-case codes and
per-event columns they read (``cc``, ``fx``), the dictionaries' names
(:class:`Names`), the evidence query (:func:`top_coded`, :func:`evidence_map`)
and the runner (:func:`aggregate`) that runs each kind's :class:`Step` in turn and
frees each table once no later step reads it. The kinds' SQL lives with the kind
(one module each); which candidates become findings, their wording and their
ranking too. The engine never imports a kind: the audit hands it the steps.

A step reads the tables the definitions left (``facts``, ``cases``, ``docs``,
``trips``; :mod:`procmine.engine.definitions`), ``cc`` and ``fx``, and the tables
earlier steps made, and writes small frames into :class:`Aggregates`.

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
from typing import Callable

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


class Names:
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


# the definitions' tables a step may read that the runner frees after the last step reading them
DROPPABLE = ("cases", "trips", "docs")


@dataclass(frozen=True)
class Scope:
    """What a step reads and writes: the engine handle (``eng.fetch``, ``eng.materialize``,
    ``eng.register``, ``eng.drop``; ``eng.name`` is "duckdb" or "spark"), the
    dictionaries' names, the rules and the aggregates being filled."""

    eng: object
    names: Names
    rules: object
    out: Aggregates

    @property
    def t(self) -> dict:
        """The rules' thresholds."""
        return self.rules.thresholds


@dataclass(frozen=True)
class Step:
    """One finding kind's aggregation. ``run(scope)`` runs its SQL on ``scope.eng`` and puts
    its frames and evidence into ``scope.out``. ``reads``: the definitions' tables
    (``trips``, ``docs``, ``cases``) and other steps' tables it reads besides ``fx``,
    ``cc`` and ``facts``; ``makes``: the tables it materializes, freed after the last
    step that reads them; ``when``: a flag of :attr:`Aggregates.flags`
    (``departments``, ``service_time``, ``trips``) without which it does not run;
    ``label``: what the progress line says while it makes its tables (default
    "findings: <name>")."""

    name: str
    run: Callable[[Scope], None]
    reads: tuple[str, ...] = ()
    makes: tuple[str, ...] = ()
    when: str | None = None
    label: str = ""


def aggregate(eng, rules, as_of_us: int, steps=()) -> Aggregates:
    """Run the findings' ``steps`` (:class:`Step`, in order) on ``eng`` (its definitions
    already run). Each intermediate table is dropped as soon as no later step reads it,
    and so are the definitions' ``trips``, ``docs`` and ``cases`` (the engine's memory
    goes to what is still to come); ``facts`` and the dictionaries stay."""
    out = Aggregates()
    fl = eng.fetch("SELECT bool_or(d IS NOT NULL) AS departments, "
                   "bool_or(service_us IS NOT NULL) AS service_time, bool_or(trip) AS trips FROM facts").iloc[0]
    out.flags = {k: bool(fl[k]) if pd.notna(fl[k]) else False for k in ("departments", "service_time", "trips")}
    _coded(eng, rules, as_of_us)
    active = [s for s in steps if s.when is None or out.flags.get(s.when)]
    freed = set(DROPPABLE).union(*(s.makes for s in active))  # never the definitions' other tables
    last: dict[str, int] = {}  # table → the last step that reads or makes it
    for i, s in enumerate(active):
        for table in s.reads + s.makes:
            if table in freed:
                last[table] = i
    for table in DROPPABLE:
        if table not in last:
            eng.drop(table)
    names = Names(eng)
    scope = Scope(eng, names, rules, out)
    for i, s in enumerate(active):
        eng.labels.update({table: s.label or f"findings: {s.name}" for table in s.makes})
        s.run(scope)
        for table in [x for x in last if last[x] == i]:
            eng.drop(table)
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
