"""Audit a canonical log against 最多跑一次: findings ranked by impact.

Analysis only: this module returns plain data (:class:`AuditResult`); the CLI
and the reports render it. Every number comes from :mod:`procmine.metrics`, so
``procmine cases`` and ``procmine audit`` agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from . import __version__
from .metrics import case_metrics, event_facts, local_day, material_handovers
from .parsing import str_match
from .rules import Rules, load_rules
from .workdays import WorkCalendar

KINDS = ("excess_visits", "repeated_material", "shareable_material", "rework", "duplicate_check", "rubber_stamp",
         "parallelizable", "serial_signoff", "bottleneck", "sla_overrun")
EVIDENCE = 5


@dataclass
class Finding:
    kind: str
    service: str
    cases: int
    impact: float
    unit: str  # trips | documents | steps | hours | working_days
    evidence: list[str]
    summary: str
    severity: str = "low"
    activity: str | None = None
    department: str | None = None
    material: str | None = None
    details: dict = field(default_factory=dict)
    score: float = 0.0

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "service": self.service}
        for key in ("activity", "department", "material"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out.update({"cases": self.cases, "impact": {"value": _r(self.impact), "unit": self.unit},
                    "evidence": self.evidence, "severity": self.severity, "summary": self.summary})
        if self.details:
            out["details"] = self.details
        return out


@dataclass
class AuditResult:
    """Findings (ranked), per-service metrics, what was skipped and why, and the per-case table."""

    findings: list[Finding]
    metrics: dict[str, dict]
    skipped: list[dict]
    notes: list[str]
    cases: pd.DataFrame
    rules: str
    handovers: pd.DataFrame | None = None  # documents handed over (one row each), for the reports

    def masked(self, masker) -> "AuditResult":
        """A copy whose evidence and summaries show no raw ID or phone numbers."""
        import copy

        out = copy.copy(self)
        out.findings = []
        for f in self.findings:
            g = copy.copy(f)
            g.evidence = masker.ids(f.evidence)
            g.summary = masker.text(f.summary)
            out.findings.append(g)
        return out

    def to_dict(self) -> dict:
        return {
            "procmine": __version__, "rules": self.rules,
            "log": {"cases": int(len(self.cases)), "services": sorted(self.metrics)},
            "metrics": self.metrics,
            "findings": [f.to_dict() for f in self.findings],
            "skipped": self.skipped, "notes": self.notes,
        }

    def to_json(self) -> str:
        """Deterministic JSON: the same log gives the same bytes."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def _r(x: float | None, nd: int = 2):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return None
    x = float(x)
    return int(x) if x.is_integer() else round(x, nd)


def _evidence(ids: pd.Series, weight: pd.Series | None = None) -> list[str]:
    frame = pd.DataFrame({"id": ids.astype(str).to_numpy(),
                          "w": (weight.to_numpy() if weight is not None else np.zeros(len(ids)))})
    frame = frame.drop_duplicates("id").sort_values(["w", "id"], ascending=[False, True])
    return frame["id"].head(EVIDENCE).tolist()


def _top(counts: pd.Series, k: int = 3) -> str:
    counts = counts.sort_index().sort_values(ascending=False, kind="stable").head(k)
    return "、".join(f"{name}({int(n)})" for name, n in counts.items())


class _Ctx:
    def __init__(self, log: pd.DataFrame, rules: Rules) -> None:
        self.rules = rules
        self.t = rules.thresholds
        self.min_cases = int(self.t.get("min_cases", 5))
        self.facts = event_facts(log, rules)
        self.calendar = WorkCalendar(rules.first_day)
        self.handovers = material_handovers(self.facts, rules)
        self.cases = case_metrics(log, rules, facts=self.facts, calendar=self.calendar, handovers=self.handovers)
        self.service_cases = self.cases.groupby("service").size().to_dict()
        self.findings: list[Finding] = []
        self.skipped: list[dict] = []

    def add(self, f: Finding) -> None:
        if f.cases < self.min_cases or f.impact <= 0:
            return
        share = f.cases / max(self.service_cases.get(f.service, 1), 1)
        f.severity = ("high" if share >= self.t.get("severity_high_share", 0.3) else
                      "medium" if share >= self.t.get("severity_medium_share", 0.1) else "low")
        f.details = {"share_of_cases": round(share, 4), **f.details}
        f.score = f.impact * self.rules.ranking_hours.get(f.unit, 1.0)
        self.findings.append(f)

    def skip(self, kind: str, reason: str) -> None:
        self.skipped.append({"kind": kind, "reason": reason})


def audit(log: pd.DataFrame, rules: Rules | str | None = None) -> AuditResult:
    """Audit a canonical log; findings ranked by impact (weighted to hours).

    >>> result = audit(procmine.read_log("out/log.parquet"))   # doctest: +SKIP
    >>> result.findings[0].summary                              # doctest: +SKIP
    """
    rules = load_rules(rules)
    ctx = _Ctx(log, rules)
    f = ctx.facts
    has_trips = bool(f["trip"].any())
    has_materials = bool((ctx.cases["materials_submitted"] > 0).any())
    has_service_time = bool(f["service_hours"].notna().any())
    has_departments = bool(f["department"].notna().any())
    has_sla = bool(ctx.cases["sla_days"].notna().any())

    if has_trips:
        _excess_visits(ctx)
    else:
        ctx.skip("excess_visits", "no step looks like an applicant's visit (no 是否到场 values and no intake, "
                                  "correction or pick-up step names), so trips cannot be counted")
    if has_materials:
        hand = ctx.handovers
        _repeated_material(ctx, hand)
        _shareable_material(ctx, hand)
    else:
        for kind in ("repeated_material", "shareable_material"):
            ctx.skip(kind, "the log has no documents (提交材料/申请材料 column), so hand-overs cannot be counted")
    _rework(ctx)
    if has_departments:
        _duplicate_check(ctx)
    else:
        ctx.skip("duplicate_check", "the log has no departments (承办部门), so checks by two departments cannot be seen")
    if has_service_time:
        _rubber_stamp(ctx)
    else:
        ctx.skip("rubber_stamp", "the log has no step start times, so the time inside a sign-off step is unknown")
    _parallelizable(ctx)
    _serial_signoff(ctx)
    _bottleneck(ctx, has_departments)
    if has_sla:
        _sla_overrun(ctx)
    else:
        ctx.skip("sla_overrun", "no 承诺时限 in the export and none set for these services in the rules (sla_days)")

    ctx.findings.sort(key=lambda x: (-x.score, x.kind, x.service, x.activity or "", x.department or "",
                                     x.material or ""))
    metrics = _service_metrics(ctx, has_trips, has_materials, has_sla)
    notes = [n for n in (ctx.calendar.note,) if n]
    if not has_departments:
        notes.append("no departments in the log: department and handover views are empty")
    return AuditResult(ctx.findings, metrics, ctx.skipped, notes, ctx.cases, rules.name, ctx.handovers)


# ----------------------------------------------------------------------------- metrics


def _service_metrics(ctx: _Ctx, has_trips: bool, has_materials: bool, has_sla: bool) -> dict[str, dict]:
    out = {}
    for service, g in ctx.cases.groupby("service", sort=True):
        m = {"cases": int(len(g)), "events": int(g["events"].sum()),
             "median_working_days": _r(g["working_days"].median()),
             "median_lead_hours": _r(g["lead_hours"].median())}
        if has_trips:
            m.update({"zero_trip_rate": _r((g["visits"] == 0).mean(), 4),  # 跑零次率
                      "at_most_once_rate": _r((g["visits"] <= 1).mean(), 4),  # 最多跑一次率
                      "average_visits": _r(g["visits"].mean(), 3),
                      "visits_distribution": {str(k): int(v) for k, v in g["visits"].value_counts().sort_index().items()}})
        else:
            m.update({"zero_trip_rate": None, "at_most_once_rate": None, "average_visits": None})
        if has_materials:
            m["average_documents"] = _r(g["materials_submitted"].mean(), 3)
            m["repeated_submissions"] = int(g["repeated_material_submissions"].sum())
        sla = g["over_sla"].dropna()
        m["over_sla_share"] = _r(sla.astype(bool).mean(), 4) if has_sla and len(sla) else None
        out[str(service)] = m
    return out


# ----------------------------------------------------------------------------- kinds


def _excess_visits(ctx: _Ctx) -> None:
    f, cases = ctx.facts, ctx.cases
    trips = f.loc[f["trip"], ["case_id", "service", "activity", "ts"]].copy()
    trips["day"] = local_day(trips["ts"])
    first_day = trips.groupby("case_id")["day"].transform("min")
    later = trips[trips["day"] > first_day].drop_duplicates(["case_id", "day"])
    for service, g in cases.groupby("service", sort=True):
        multi = g[g["visits"] > 1]
        if multi.empty:
            continue
        extra = int((multi["visits"] - 1).sum())
        steps = later[later["service"] == service]["activity"].value_counts()
        share = len(multi) / len(g)
        ctx.add(Finding(
            "excess_visits", service, int(len(multi)), extra, "trips", _evidence(multi["case_id"], multi["visits"]),
            f"{service}：{len(multi)}件（{share:.0%}）申请人跑动超过一次，共多跑{extra}次，多出的跑动来自{_top(steps)}",
            details={"extra_trip_steps": {str(k): int(v) for k, v in steps.sort_index().items()}}))


def _repeated_material(ctx: _Ctx, hand: pd.DataFrame) -> None:
    per = hand.groupby(["service", "case_id", "material"], sort=True).size().rename("n").reset_index()
    rep = per[per["n"] > 1]
    if rep.empty:
        return
    where_all = hand.merge(rep[["service", "case_id", "material"]], on=["service", "case_id", "material"])
    places = {k: g for k, g in where_all.groupby(["service", "material"], sort=False)}
    for (service, material), g in rep.groupby(["service", "material"], sort=True):
        extra = int((g["n"] - 1).sum())
        where = places[(service, material)]
        depts = where["department"].dropna().value_counts()
        steps = where["activity"].value_counts()
        at = _top(depts) if len(depts) > 1 else _top(steps)
        ctx.add(Finding(
            "repeated_material", service, int(len(g)), extra, "documents", _evidence(g["case_id"], g["n"]),
            f"{service}：「{material}」在{len(g)}件中被重复提交，共多交{extra}份，提交于{at}",
            material=material,
            details={"steps": {str(k): int(v) for k, v in steps.sort_index().items()},
                     "departments": {str(k): int(v) for k, v in depts.sort_index().items()}}))


def _shareable_material(ctx: _Ctx, hand: pd.DataFrame) -> None:
    cat = ctx.rules.catalogue
    share = hand[hand["material"].map(lambda m: cat.replaceable(m) is not None).astype(bool)]
    for (service, material), g in share.groupby(["service", "material"], sort=True):
        n_cases = g["case_id"].nunique()
        source = cat.replaceable(material)
        per_case = g.groupby("case_id").size()
        ctx.add(Finding(
            "shareable_material", service, int(n_cases), int(len(g)), "documents",
            _evidence(per_case.index.to_series(), per_case),
            f"{service}：「{material}」可通过{source}获取，免于提交；涉及{n_cases}件、{len(g)}次提交",
            material=material, details={"source": source,
                                        "steps": {str(k): int(v) for k, v in g["activity"].value_counts().sort_index().items()}}))


def _rework(ctx: _Ctx) -> None:
    f = ctx.facts
    occ = f.groupby(["case_id", "activity"], sort=False).cumcount()
    repeats = f[occ > 0].assign(hours=lambda d: d["wait_hours"].fillna(0) + d["service_hours"].fillna(0))
    for (service, activity), g in repeats.groupby(["service", "activity"], sort=True):
        per_case = g.groupby("case_id").size()
        hours = float(g["hours"].sum())
        ctx.add(Finding(
            "rework", service, int(len(per_case)), int(len(g)), "steps", _evidence(per_case.index.to_series(), per_case),
            f"{service}：「{activity}」在{len(per_case)}件中重复办理{len(g)}次（返工），多耗{hours:.0f}小时",
            activity=activity, details={"hours": _r(hours)}))


def _duplicate_check(ctx: _Ctx) -> None:
    f = ctx.facts[ctx.facts["department"].notna()]
    n = f.groupby(["service", "activity", "case_id"], sort=True)["department"].nunique().rename("n").reset_index()
    dup = n[n["n"] > 1]
    if dup.empty:
        return
    involved = f.merge(dup[["service", "activity", "case_id"]], on=["service", "activity", "case_id"])
    depts_by = {k: g["department"] for k, g in involved.groupby(["service", "activity"], sort=False)}
    for (service, activity), g in dup.groupby(["service", "activity"], sort=True):
        depts = depts_by[(service, activity)]
        ctx.add(Finding(
            "duplicate_check", service, int(len(g)), int((g["n"] - 1).sum()), "steps", _evidence(g["case_id"], g["n"]),
            f"{service}：「{activity}」在{len(g)}件中由{depts.nunique()}个部门重复办理（{_top(depts.value_counts())}）",
            activity=activity, details={"departments": sorted(map(str, depts.unique()))}))


def _rubber_stamp(ctx: _Ctx) -> None:
    f, rules = ctx.facts, ctx.rules
    sign = str_match(f["activity"], f".*(?:{rules.signoff})")
    reject = str_match(f["activity"], f".*(?:{rules.reject})")
    # a step "passes" when no reject-type step and no repeat of itself follows in the case
    rej_pos = f.loc[reject, ["case_id", "pos"]].groupby("case_id")["pos"].max()
    last_pos_same = f.groupby(["case_id", "activity"])["pos"].transform("max")
    cand = f[sign].copy()
    cand["later_reject"] = (cand["case_id"].map(rej_pos).fillna(-1).to_numpy() > cand["pos"].to_numpy())
    cand["repeated_later"] = last_pos_same[sign].to_numpy() > cand["pos"].to_numpy()
    cand["passes"] = ~(cand["later_reject"] | cand["repeated_later"])
    max_min = ctx.t.get("rubber_stamp_max_minutes", 15)
    min_pass = ctx.t.get("rubber_stamp_min_pass_share", 0.98)
    for (service, activity), g in cand.groupby(["service", "activity"], sort=True):
        minutes = g["service_hours"].dropna() * 60
        if len(minutes) < ctx.min_cases:
            continue
        median = float(minutes.median())
        pass_share = float(g["passes"].mean())
        if median > max_min or pass_share < min_pass:
            continue
        hours = float((g["wait_hours"].fillna(0) + g["service_hours"].fillna(0)).sum())
        ctx.add(Finding(
            "rubber_stamp", service, int(g["case_id"].nunique()), hours, "hours",
            _evidence(g["case_id"], g["wait_hours"].fillna(0)),
            f"{service}：「{activity}」中位用时{median:.0f}分钟、{pass_share:.1%}一次通过，形同走过场，"
            f"可取消或授权前一环节，节省等待{hours:.0f}小时",
            activity=activity,
            details={"median_minutes": _r(median), "pass_share": _r(pass_share, 4), "occurrences": int(len(g)),
                     "median_wait_hours": _r(g["wait_hours"].median())}))


def _parallelizable(ctx: _Ctx) -> None:
    f = ctx.facts
    min_cases = int(ctx.t.get("parallel_min_cases", 20))
    min_share = ctx.t.get("parallel_min_share_each_order", 0.2)
    first = f.drop_duplicates(["case_id", "activity"])
    span = (first["wait_hours"].fillna(0) + first["service_hours"].fillna(0)).to_numpy()
    first = first.assign(span=span)
    for service, g in first.groupby("service", sort=True):
        counts = g["activity"].value_counts()
        acts = sorted(counts[counts >= min_cases].index[:40])
        if len(acts) < 2:
            continue
        pos = g.pivot_table(index="case_id", columns="activity", values="pos", aggfunc="first")
        spn = g.pivot_table(index="case_id", columns="activity", values="span", aggfunc="first")
        for a, b in combinations(acts, 2):
            both = pos[a].notna() & pos[b].notna()
            if both.sum() < min_cases:
                continue
            a_first = (pos.loc[both, a] < pos.loc[both, b])
            p = float(a_first.mean())
            if min(p, 1 - p) < min_share:
                continue
            saving = np.minimum(spn.loc[both, a].to_numpy(), spn.loc[both, b].to_numpy())
            ids = pos.index[both].to_series()
            ctx.add(Finding(
                "parallelizable", service, int(both.sum()), float(saving.sum()), "hours",
                _evidence(ids, pd.Series(saving, index=ids.index)),
                f"{service}：「{a}」与「{b}」先后顺序不固定（{p:.0%}先办{a}，{1 - p:.0%}先办{b}），互不依赖却串行办理，"
                f"可并联审批，预计共节省{saving.sum():.0f}小时",
                activity=f"{a} | {b}", details={"share_a_first": _r(p, 4), "median_saving_hours": _r(np.median(saving))}))


def _serial_signoff(ctx: _Ctx) -> None:
    f = ctx.facts
    sign = str_match(f["activity"], f".*(?:{ctx.rules.signoff})")
    dept = f["department"].fillna("").astype(str).to_numpy()
    case = f["case_id"].to_numpy()
    new = np.ones(len(f), dtype=bool)
    new[1:] = ~(sign[1:] & sign[:-1] & (dept[1:] == dept[:-1]) & (case[1:] == case[:-1]))
    run = np.cumsum(new)
    s = f.loc[sign, ["case_id", "service", "department", "activity", "wait_hours"]].assign(run=run[sign])
    if s.empty:
        return
    min_levels = int(ctx.t.get("serial_signoff_min_levels", 3))
    runs = s.groupby("run", sort=False).agg(case_id=("case_id", "first"), service=("service", "first"),
                                             department=("department", "first"),
                                             chain=("activity", lambda x: " → ".join(x)), levels=("activity", "size"),
                                             wait=("wait_hours", lambda x: x.iloc[1:].fillna(0).sum()))
    runs = runs[runs["levels"] >= min_levels]
    runs["department"] = runs["department"].fillna("（未注明部门）")
    for (service, department, chain), g in runs.groupby(["service", "department", "chain"], sort=True):
        levels = int(g["levels"].iloc[0])
        ctx.add(Finding(
            "serial_signoff", service, int(g["case_id"].nunique()), int(((g["levels"] - 1)).sum()), "steps",
            _evidence(g["case_id"], g["wait"]),
            f"{service}：{department}内部{levels}级逐级审批（{chain}），级间等待共{g['wait'].sum():.0f}小时，可减少层级",
            department=department, activity=chain,
            details={"levels": levels, "wait_hours_between_levels": _r(float(g["wait"].sum()))}))


def _bottleneck(ctx: _Ctx, has_departments: bool) -> None:
    f = ctx.facts
    mask = (f["wait_hours"].notna() & (f["pos"] > 0)).to_numpy()
    if not mask.any():
        ctx.skip("bottleneck", "no waiting times: every case has a single step or no usable timestamps")
        return
    # integer codes throughout: factorised once (Arrow), names looked up at the end
    act, act_names = pd.factorize(f["activity"])
    dept, dept_names = pd.factorize(f["department"])
    case, case_names = pd.factorize(f["case_id"])
    svc, svc_names = pd.factorize(f["service"])
    prev = np.r_[-1, dept[:-1]]
    n_dept = max(len(dept_names), 1)
    base = pd.DataFrame({"case": case[mask], "service": svc[mask], "activity": act[mask], "department": dept[mask],
                         "prev": prev[mask], "wait": f["wait_hours"].to_numpy()[mask],
                         "svc": f["service_hours"].to_numpy()[mask]})
    base["pos"] = np.arange(len(base), dtype=np.int64)
    case_names = np.asarray(case_names.astype(str), dtype=object)
    top = int(ctx.t.get("bottleneck_top", 10))
    order = {"department": 0, "activity": 1, "handover": 2}

    def name(view: str, key: int) -> str:
        if view == "activity":
            return str(act_names[key])
        if view == "department":
            return str(dept_names[key])
        return f"{dept_names[key // n_dept]} → {dept_names[key % n_dept]}"

    for s_code, g in base.groupby("service", sort=False):
        service = str(svc_names[s_code]) if s_code >= 0 else ""
        typical = float(g["wait"].median())
        g = g.assign(excess=(g["wait"] - typical).clip(lower=0), pos2=g["pos"].astype(float) ** 2)
        has_dept = g["department"] >= 0
        views = []
        if has_departments and g.loc[has_dept, "department"].nunique() > 1:
            views.append(("department", g[has_dept].assign(key=g["department"])))
        views.append(("activity", g.assign(key=g["activity"])))
        if has_departments:
            ho = g[has_dept & (g["prev"] >= 0) & (g["department"] != g["prev"])]
            views.append(("handover", ho.assign(key=ho["prev"] * n_dept + ho["department"])))
        items = []
        for view, v in views:
            if v.empty:
                continue
            gk = v.groupby("key", sort=False)
            stats = pd.DataFrame({"delay": gk["excess"].sum(), "p50": gk["wait"].median(),
                                  "p90": gk["wait"].quantile(0.9), "s50": gk["svc"].median(),
                                  "s90": gk["svc"].quantile(0.9), "events": gk.size(),
                                  "sig1": gk["pos"].sum(), "sig2": gk["pos2"].sum()})
            per_case = v.groupby(["key", "case"], sort=False)["excess"].sum()
            stats["cases"] = (per_case > 0).groupby(level=0).sum()
            for key, st in stats[stats["delay"] > 0].iterrows():
                pc = per_case.loc[key]
                pc.index = case_names[pc.index.to_numpy()]
                items.append((float(st["delay"]), view, name(view, int(key)), st, pc))
        items.sort(key=lambda x: (-round(x[0], 6), order[x[1]], x[2]))
        seen: set[tuple] = set()
        kept = []
        for item in items:  # the same waits seen through another view are one finding
            st = item[3]
            sig = (int(st["events"]), int(st["sig1"]), round(float(st["sig2"]), 3))
            if sig in seen:
                continue
            seen.add(sig)
            kept.append(item)
        for delay, view, key, st, per_case in kept[:top]:
            label = {"activity": f"「{key}」之前", "department": f"{key}", "handover": f"{key} 交接"}[view]
            p50, p90 = float(st["p50"]), float(st["p90"])
            ctx.add(Finding(
                "bottleneck", service, int(st["cases"]), delay, "hours",
                _evidence(per_case.index.to_series(), per_case),
                f"{service}：{label}等待中位{p50:.1f}小时、P90 {p90:.1f}小时，超出本事项典型等待（{typical:.1f}小时）"
                f"累计{delay:.0f}小时",
                activity=key if view == "activity" else None,
                department=key if view in ("department", "handover") else None,
                details={"view": view, "wait_p50_hours": _r(p50), "wait_p90_hours": _r(p90),
                         "service_p50_hours": _r(float(st["s50"])) if st["s50"] == st["s50"] else None,
                         "service_p90_hours": _r(float(st["s90"])) if st["s90"] == st["s90"] else None,
                         "typical_wait_hours": _r(typical), "events": int(st["events"])}))


def _sla_overrun(ctx: _Ctx) -> None:
    cases, f = ctx.cases, ctx.facts
    over = cases[cases["over_sla"].fillna(False).astype(bool)]
    if over.empty:
        return
    spent = f[f["case_id"].isin(over["case_id"])].assign(
        hours=lambda d: d["wait_hours"].fillna(0) + d["service_hours"].fillna(0))
    worst = spent.sort_values(["case_id", "hours"], ascending=[True, False]).drop_duplicates("case_id")
    for service, g in over.groupby("service", sort=True):
        excess = float((g["working_days"] - g["sla_days"].astype(float)).sum())
        where = worst[worst["case_id"].isin(g["case_id"])]["activity"].value_counts()
        limit = g["sla_days"].astype(float).median()
        ctx.add(Finding(
            "sla_overrun", service, int(len(g)), excess, "working_days",
            _evidence(g["case_id"], g["working_days"] - g["sla_days"].astype(float)),
            f"{service}：{len(g)}件超过承诺时限（{limit:g}个工作日），共超期{excess:.0f}个工作日，时间主要耗在{_top(where)}",
            details={"time_went_to": {str(k): int(v) for k, v in where.sort_index().items()},
                     "sla_days": _r(limit)}))
