"""Reengineering: replay the real cases under a plan, and draft plans from the audit.

A plan (YAML)::

    name: 企业开办一件事 优化方案
    service: 企业开办一件事          # optional: the plan touches only this service
    changes:
      - remove: 审核签发                         # drop a step: its wait and its work
      - merge: [初审, 复审]                      # consecutive steps become one (the wait between them goes)
        into: 审查
      - parallel: [印章刻制, 社保登记]            # run together: the block takes its longest branch
      - share: [居民身份证, 营业执照]            # documents from e-licences / shared data: not handed over
      - online: [申请受理]                       # intake online: not a trip
      - deliver: [窗口领取营业执照]              # post / e-delivery instead of pick-up: not a trip
      - cap_wait: {department: 公积金中心, hours: 24}   # or {activity: …}
      - bundle: {services: [设立登记, 社保开户], by: 申请人, as: 企业开办一件事}
        # 一件事: cases of these services with the same applicant (column `by`)
        # become one matter — one intake, each document once, one result,
        # the services' work running side by side from the common intake

Every real case is replayed: its observed waiting and service times are kept,
removed steps drop out, parallel blocks take the longest branch, trips and
documents are recounted, and working days are recomputed on the Chinese
calendar from the case's real start.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .errors import ConfigError
from .metrics import event_facts, local_day, material_handovers
from .rules import Rules, load_rules
from .workdays import WorkCalendar

CHANGE_KEYS = ("remove", "merge", "parallel", "share", "online", "deliver", "cap_wait", "bundle")


@dataclass
class Change:
    kind: str
    names: list[str]
    line: int
    into: str | None = None
    department: str | None = None
    hours: float | None = None
    by: str | None = None


@dataclass
class Plan:
    name: str
    service: str | None
    changes: list[Change]


@dataclass
class RedesignResult:
    plan: str
    table: pd.DataFrame  # service, measure, before, after, change, change_pct
    still_failing: pd.DataFrame  # case_id, service, visits_after, working_days_after, sla_days, reasons
    per_case: pd.DataFrame

    def to_dict(self) -> dict:
        rows = [{k: (None if isinstance(v, float) and not np.isfinite(v) else (round(v, 3) if isinstance(v, float) else v))
                 for k, v in r.items()} for r in self.table.to_dict(orient="records")]
        fail = self.still_failing.head(200)
        return {"plan": self.plan, "四减": rows,
                "still_failing": {"cases": int(len(self.still_failing)),
                                  "examples": [{"case_id": r.case_id, "service": r.service, "reasons": r.reasons}
                                               for r in fail.itertuples(index=False)]}}


def _names(node: yaml.Node) -> list[str]:
    if isinstance(node, yaml.ScalarNode):
        return [str(node.value)]
    if isinstance(node, yaml.SequenceNode):
        return [str(n.value) for n in node.value if isinstance(n, yaml.ScalarNode)]
    return []


def load_plan(path: str | Path) -> Plan:
    """Read a plan; errors name the line."""
    path = Path(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ConfigError(f"cannot read plan {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"{path}, line {mark.line + 1 if mark else '?'}: not valid YAML "
                          f"({getattr(exc, 'problem', None) or exc})",
                          hint="quote names that contain ': ', ' #' or start with - * & ! | > ' \" % @ `") from None
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}: a plan is a mapping with 'changes:' (see templates/plans/)")
    top = {str(k.value): v for k, v in root.value}
    if "changes" not in top or not isinstance(top["changes"], yaml.SequenceNode):
        raise ConfigError(f"{path}: no 'changes:' list")
    changes = []
    for item in top["changes"].value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            raise ConfigError(f"{path}, line {line}: a change is a mapping such as 'remove: 审核签发'")
        fields = {str(k.value): v for k, v in item.value}
        kind = next((k for k in CHANGE_KEYS if k in fields), None)
        if kind is None:
            raise ConfigError(f"{path}, line {line}: unknown change {', '.join(fields)}",
                             hint="changes: " + ", ".join(CHANGE_KEYS))
        if kind == "bundle":
            spec = {str(k.value): v for k, v in fields["bundle"].value} if isinstance(fields["bundle"], yaml.MappingNode) else {}
            services = _names(spec["services"]) if "services" in spec else []
            if len(services) < 2 or "by" not in spec or "as" not in spec:
                raise ConfigError(f"{path}, line {line}: bundle needs services (two or more), by (the applicant "
                                 "column) and as (the name of the matter)")
            changes.append(Change("bundle", services, line, into=str(spec["as"].value), by=str(spec["by"].value)))
            continue
        if kind == "cap_wait":
            spec = {str(k.value): str(v.value) for k, v in fields["cap_wait"].value} \
                if isinstance(fields["cap_wait"], yaml.MappingNode) else {}
            if "hours" not in spec or not ({"department", "activity"} & spec.keys()):
                raise ConfigError(f"{path}, line {line}: cap_wait needs hours and a department or activity")
            try:
                hours = float(spec["hours"])
            except ValueError:
                raise ConfigError(f"{path}, line {line}: cap_wait hours must be a number") from None
            changes.append(Change("cap_wait", [spec.get("activity", "")] if "activity" in spec else [], line,
                                  department=spec.get("department"), hours=hours))
            continue
        names = _names(fields[kind])
        if not names:
            raise ConfigError(f"{path}, line {line}: '{kind}' needs a name or a list of names")
        if kind in ("merge", "parallel") and len(names) < 2:
            raise ConfigError(f"{path}, line {line}: '{kind}' needs at least two steps")
        into = str(fields["into"].value) if "into" in fields else (names[0] if kind == "merge" else None)
        changes.append(Change(kind, names, line, into=into))
    service = str(top["service"].value) if "service" in top else None
    name = str(top["name"].value) if "name" in top else path.stem
    return Plan(name, service, changes)


def _check(plan: Plan, log: pd.DataFrame, rules: Rules, path: str) -> None:
    acts = set(log["activity"].dropna().astype(str))
    depts = set(log["department"].dropna().astype(str))
    docs = set()
    for lst in log["materials"]:
        if lst is not None:
            docs.update(rules.catalogue.normalize(m) for m in lst)
    if plan.service and plan.service not in set(log["service"].dropna()):
        raise ConfigError(f"{path}: the plan's service {plan.service!r} is not in the log",
                         hint="services: " + ", ".join(sorted(map(str, log["service"].dropna().unique()))))

    def missing(name: str, pool: set[str], what: str, line: int) -> None:
        near = difflib.get_close_matches(name, sorted(pool), n=3, cutoff=0.3)
        raise ConfigError(f"{path}, line {line}: no {what} called {name!r} in the log",
                         hint=(f"did you mean: {', '.join(near)}\n" if near else "") +
                         f"{what}s in the log: {', '.join(sorted(pool)[:30])}")

    touched: dict[str, tuple[str, int]] = {}
    services = set(map(str, log["service"].dropna().unique()))
    for ch in plan.changes:
        if ch.kind == "bundle":
            for name in ch.names:
                if name not in services:
                    missing(name, services, "service", ch.line)
            if ch.by not in log.columns:
                missing(ch.by, {c for c in log.columns if c not in ("materials",)}, "column", ch.line)
            continue
        if ch.kind == "share":
            for d in ch.names:
                if rules.catalogue.normalize(d) not in docs:
                    missing(d, docs, "document", ch.line)
            continue
        if ch.kind == "cap_wait":
            if ch.department and ch.department not in depts:
                missing(ch.department, depts, "department", ch.line)
            for a in ch.names:
                if a not in acts:
                    missing(a, acts, "step", ch.line)
            continue
        for a in ch.names:
            if a not in acts:
                missing(a, acts, "step", ch.line)
            if ch.kind in ("remove", "merge", "parallel"):
                if a in touched and touched[a][0] != ch.kind:
                    raise ConfigError(f"{path}, line {ch.line}: {a!r} is already under '{touched[a][0]}' "
                                     f"(line {touched[a][1]}); a step cannot be both {touched[a][0]} and {ch.kind}")
                touched[a] = (ch.kind, ch.line)


def _metrics(f: pd.DataFrame, calendar: WorkCalendar, docs: pd.DataFrame, member_start: pd.Series,
             unit_of: pd.Series, *, together: bool) -> pd.DataFrame:
    """Per unit (a case, or a bundled matter): steps, documents, trips, working days.

    ``together``: the unit's member cases run side by side from the unit's start
    (after a bundle); otherwise each member keeps its own start (as observed).
    """
    member_span = f.groupby("case_id", sort=True)["span"].sum().reindex(member_start.index).fillna(0)
    unit_start = member_start.groupby(unit_of).min()
    member_from = unit_of.map(unit_start) if together else member_start
    member_end = member_from + pd.to_timedelta(member_span, unit="h")
    unit_end = member_end.groupby(unit_of).max()
    fu = f.assign(unit=f["case_id"].map(unit_of))
    trips = fu.loc[fu["trip"], ["unit", "day"]].drop_duplicates()
    du = docs.assign(unit=docs["case_id"].map(unit_of))
    out = pd.DataFrame(index=unit_start.index)
    out["steps"] = fu[fu["step"]].groupby("unit").size().reindex(out.index, fill_value=0)
    out["documents"] = du.groupby("unit").size().reindex(out.index, fill_value=0)
    out["repeated_documents"] = out["documents"] - du.groupby("unit")["material"].nunique().reindex(out.index, fill_value=0)
    out["trips"] = trips.groupby("unit").size().reindex(out.index, fill_value=0)
    out["working_days"] = calendar.working_days(unit_start, unit_end.reindex(out.index))
    out["hours"] = ((unit_end.reindex(out.index) - unit_start).dt.total_seconds() / 3600).round(3)
    return out


def redesign(log: pd.DataFrame, plan: Plan | str | Path, rules: Rules | str | None = None) -> RedesignResult:
    """Replay every case under ``plan``; the 四减 table compares before and after.

    >>> r = redesign(log, "templates/plans/企业开办一件事.yaml")     # doctest: +SKIP
    >>> r.table                                                      # doctest: +SKIP
    """
    rules = load_rules(rules)
    path = str(plan) if not isinstance(plan, Plan) else plan.name
    plan = plan if isinstance(plan, Plan) else load_plan(plan)
    _check(plan, log, rules, path)
    calendar = WorkCalendar(rules.first_day)
    f = event_facts(log, rules)
    hand = material_handovers(f, rules)
    f = f.assign(span=f["wait_hours"].fillna(0) + f["service_hours"].fillna(0), step=True,
                 day=local_day(f["ts"]))
    ts_lo = pd.concat([f["start"], f["end"]], axis=1).min(axis=1)
    case_start = ts_lo.groupby(f["case_id"]).min().sort_index()
    sla = f.groupby("case_id")["sla_days"].max().astype(float).reindex(case_start.index)
    if rules.sla_days:
        svc = f.groupby("case_id")["service"].first().reindex(case_start.index)
        sla = sla.fillna(svc.map(rules.sla_days))
    services_of = f.groupby("case_id")["service"].first().reindex(case_start.index)
    unit_of = pd.Series(case_start.index.to_numpy(), index=case_start.index)
    unit_service = services_of.copy()
    bundles = [ch for ch in plan.changes if ch.kind == "bundle"]
    for ch in bundles:
        who = log.groupby("case_id")[ch.by].first().reindex(case_start.index)
        member = services_of.isin(ch.names) & who.notna()
        unit_of[member] = ch.into + "｜" + who[member].astype(str)
        unit_service[member] = ch.into
    before = _metrics(f, calendar, hand, case_start, unit_of, together=False)

    scope = f["service"] == plan.service if plan.service else pd.Series(True, index=f.index)
    scope = scope.fillna(False).to_numpy(dtype=bool)
    g = f.copy()
    act = g["activity"].astype(str).to_numpy()
    keep = np.ones(len(g), dtype=bool)
    docs = hand.copy()
    dscope = (docs["service"] == plan.service).fillna(False).to_numpy(dtype=bool) if plan.service else np.ones(len(docs), bool)
    trip = g["trip"].to_numpy().copy()
    span = g["span"].to_numpy().copy()
    wait = g["wait_hours"].fillna(0).to_numpy()
    step = np.ones(len(g), dtype=bool)
    case = g["case_id"].to_numpy()
    for ch in plan.changes:
        hit = scope & np.isin(act, ch.names)
        if ch.kind == "remove":
            keep &= ~hit
            docs = docs[~(dscope & docs["activity"].isin(ch.names).to_numpy())]
            dscope = ((docs["service"] == plan.service).fillna(False).to_numpy(dtype=bool)
                      if plan.service else np.ones(len(docs), bool))
        elif ch.kind == "merge":
            act = np.where(hit, ch.into, act)
            prev_same = np.r_[False, (act[1:] == act[:-1]) & (case[1:] == case[:-1]) & hit[1:] & hit[:-1]]
            span = np.where(prev_same, span - wait, span)  # the wait between merged steps goes
            step &= ~prev_same
        elif ch.kind == "cap_wait":
            sel = scope & (np.isin(act, ch.names) if ch.names else
                           (g["department"].astype(str).to_numpy() == ch.department))
            cut = np.where(sel, np.maximum(wait - ch.hours, 0), 0)
            span = span - cut
        elif ch.kind == "share":
            canon = {rules.catalogue.normalize(n) for n in ch.names}
            docs = docs[~(dscope & docs["material"].isin(canon).to_numpy())]
            dscope = ((docs["service"] == plan.service).fillna(False).to_numpy(dtype=bool)
                      if plan.service else np.ones(len(docs), bool))
        elif ch.kind in ("online", "deliver"):
            trip = trip & ~hit
        elif ch.kind == "bundle":
            # one intake (in the member that started first), one result (in the member that ends last)
            unit = case_start.index.to_series().map(unit_of)
            multi = unit.map(unit.value_counts()) > 1
            first_member = case_start[multi.to_numpy()].groupby(unit[multi]).idxmin()
            span_by_case = pd.Series(span, index=case).groupby(level=0).sum()
            last_member = span_by_case[multi[multi].index].groupby(unit[multi]).idxmax()
            in_bundle = pd.Series(case).map(multi).fillna(False).to_numpy(dtype=bool)
            kind_arr = g["trip_kind"].to_numpy()
            not_first = in_bundle & ~np.isin(case, first_member.to_numpy())
            not_last = in_bundle & ~np.isin(case, last_member.to_numpy())
            keep &= ~(not_first & (kind_arr == "intake"))
            keep &= ~(not_last & np.isin(kind_arr, ["pickup", "remote_delivery"]))
    # parallel blocks: consecutive runs of the block's steps take the longest branch
    for ch in plan.changes:
        if ch.kind != "parallel":
            continue
        hit = scope & np.isin(act, ch.names) & keep
        idx = np.flatnonzero(hit)
        if not len(idx):
            continue
        new_run = np.r_[True, (np.diff(idx) != 1) | (case[idx][1:] != case[idx][:-1])]
        run = np.cumsum(new_run)
        spans = pd.Series(span[idx])
        longest = spans.groupby(run).transform("max").to_numpy()
        first = new_run
        span[idx] = np.where(first, longest, 0.0)
    h = g.assign(activity=act, span=span, trip=trip, step=step)[keep]
    # new event times → trip days
    cum = h.groupby("case_id", sort=False)["span"].cumsum()
    new_ts = h["case_id"].map(case_start) + pd.to_timedelta(cum.to_numpy(), unit="h")
    together = bool(bundles)
    if together:  # members of a matter start together at its intake
        unit_start = case_start.groupby(unit_of).min()
        new_ts = h["case_id"].map(unit_of).map(unit_start) + pd.to_timedelta(cum.to_numpy(), unit="h")
        docs = docs.assign(unit=docs["case_id"].map(unit_of)).drop_duplicates(["unit", "material"]).drop(columns="unit")
    h = h.assign(day=local_day(new_ts))
    after = _metrics(h, calendar, docs, case_start, unit_of, together=together)
    per_case = pd.concat({"before": before, "after": after}, axis=1)
    per_case.columns = [f"{b}_{a}" for a, b in per_case.columns]
    per_case.insert(0, "service", unit_service.groupby(unit_of).first().reindex(per_case.index))
    per_case["sla_days"] = sla.groupby(unit_of).max().reindex(per_case.index)
    table = _four_cuts(per_case)
    failing = _still_failing(per_case[per_case["service"] == plan.service] if plan.service else per_case, h)
    return RedesignResult(plan.name, table, failing, per_case.reset_index().rename(columns={"index": "case_id"}))


MEASURES = [("steps", "环节数（减环节）"), ("documents", "提交材料份数（减材料）"), ("working_days", "办理工作日（减时间）"),
            ("trips", "跑动次数（减跑动）")]


def _four_cuts(pc: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for service, g in list(pc.groupby("service", sort=True)) + [("全部", pc)]:
        for key, label in MEASURES:
            b, a = float(g[f"{key}_before"].mean()), float(g[f"{key}_after"].mean())
            rows.append({"service": service, "measure": label, "cases": int(len(g)), "before": round(b, 3),
                         "after": round(a, 3), "change": round(a - b, 3),
                         "change_pct": round((a - b) / b, 4) if b else None})
        at_most_once_b = float((g["trips_before"] <= 1).mean())
        at_most_once_a = float((g["trips_after"] <= 1).mean())
        rows.append({"service": service, "measure": "最多跑一次率", "cases": int(len(g)), "before": round(at_most_once_b, 4),
                     "after": round(at_most_once_a, 4), "change": round(at_most_once_a - at_most_once_b, 4),
                     "change_pct": None})
    return pd.DataFrame(rows)


def _still_failing(pc: pd.DataFrame, h: pd.DataFrame) -> pd.DataFrame:
    over = pc["working_days_after"] > pc["sla_days"]
    trips = pc["trips_after"] > 1
    bad = pc[over.fillna(False) | trips]
    if bad.empty:
        return pd.DataFrame(columns=["case_id", "service", "trips_after", "working_days_after", "sla_days", "reasons"])
    trip_steps = h[h["trip"]].groupby("case_id")["activity"].agg(lambda x: "、".join(dict.fromkeys(x)))
    longest = h.sort_values("span", ascending=False).drop_duplicates("case_id").set_index("case_id")["activity"]
    reasons = []
    for cid, r in bad.iterrows():
        why = []
        if r["trips_after"] > 1:
            why.append(f"仍需跑动{int(r['trips_after'])}次（{trip_steps.get(cid, '')}）")
        if pd.notna(r["sla_days"]) and r["working_days_after"] > r["sla_days"]:
            why.append(f"仍超时限：{r['working_days_after']:g}>{r['sla_days']:g}个工作日，耗时最多的是「{longest.get(cid, '')}」")
        reasons.append("；".join(why))
    out = bad.reset_index().rename(columns={"index": "case_id"})[["case_id", "service", "trips_after",
                                                                   "working_days_after", "sla_days"]]
    out["reasons"] = reasons
    return out.sort_values(["service", "case_id"]).reset_index(drop=True)


def _yaml_name(name: object) -> str:
    """One name as a YAML flow scalar that reads back as exactly this string
    (quoted where needed: colons, quotes, '#', leading '-', '*', '&', …)."""
    name = str(name)
    if not name.isprintable():  # newlines, tabs, control characters: a one-line double-quoted scalar
        return json.dumps(name, ensure_ascii=True)
    text = yaml.safe_dump([name], default_flow_style=True, allow_unicode=True, width=1_000_000).strip()
    return text[1:-1]


def _yaml_list(names) -> str:
    return "[" + ", ".join(_yaml_name(n) for n in names) + "]"


def _comment(text: str) -> str:
    return "  # " + " ".join(str(text).split())


def _split_joined(text: str, sep: str, known: set[str], parts: int | None = None) -> list[str]:
    """Undo ``sep.join(names)`` where names may themselves contain ``sep``: the
    split whose pieces are all steps of the log (else the plain split)."""
    pieces = text.split(sep)

    def solve(i: int, left: int | None) -> list[str] | None:
        if i == len(pieces):
            return [] if left in (None, 0) else None
        if left == 0:
            return None
        for j in range(len(pieces), i, -1):
            cand = sep.join(pieces[i:j])
            if cand in known:
                rest = solve(j, None if left is None else left - 1)
                if rest is not None:
                    return [cand] + rest
        return None

    return solve(0, parts) or pieces


def suggest(log: pd.DataFrame, rules: Rules | str | None = None, masker=None) -> str:
    """A commented draft plan (YAML text) from the audit's findings, one service at a time.

    Names are written as YAML scalars that :func:`load_plan` reads back exactly;
    the comments (finding summaries) go through ``masker`` (a :class:`procmine.privacy.Masker`).
    """
    from .audit import audit

    rules = load_rules(rules)
    result = audit(log, rules)
    mask = masker.text if masker is not None else (lambda t: t)
    steps_known = set(log["activity"].dropna().astype(str))
    by_service: dict[str, list[str]] = {}
    for f in result.findings:
        lines = by_service.setdefault(f.service, [])
        note = _comment(mask(f.summary))
        if f.kind == "rubber_stamp":
            lines += [note, f"  - remove: {_yaml_name(f.activity)}"]
        elif f.kind == "parallelizable":
            pair = _split_joined(f.activity, " | ", steps_known, parts=2)
            if len(pair) == 2:
                lines += [note, f"  - parallel: {_yaml_list(pair)}"]
        elif f.kind == "shareable_material":
            lines += [note, f"  - share: {_yaml_list([f.material])}"]
        elif f.kind == "excess_visits":
            steps = list(f.details.get("extra_trip_steps", {}))
            pick = [s for s in steps if any(k in s for k in ("领", "取", "送达", "发证"))]
            if pick:
                lines += [note, f"  - deliver: {_yaml_list(pick)}   # 邮寄或电子送达代替窗口领取"]
        elif f.kind == "bottleneck" and f.details.get("view") == "department":
            cap = max(float(f.details.get("typical_wait_hours") or 8), 1.0)
            lines += [note, f"  - cap_wait: {{department: {_yaml_name(f.department)}, hours: {cap:.0f}}}"
                            "   # 承诺等待不超过本事项典型水平"]
        elif f.kind == "serial_signoff":
            levels = _split_joined(f.activity, " → ", steps_known)
            if len(levels) >= 2:
                lines += [note, f"  - merge: {_yaml_list(levels[:2])}   # 合并前两级审批",
                          f"    into: {_yaml_name(levels[0])}"]
        elif f.kind == "repeated_material" and rules.catalogue.replaceable(f.material) is None:
            lines += [_comment(f"{mask(f.summary)}（不在电子证照目录：可改为一次收取、部门间共享）")]
    out = ["# procmine suggest: a draft plan per service, from the audit findings.",
           "# Edit it, keep what the department agrees to, then run: procmine redesign LOG --plan THIS_FILE",
           "# (one plan per service: split this file, or keep the service you are redesigning)", ""]
    first = True
    for service in sorted(by_service):
        lines = [ln for ln in by_service[service] if ln.strip()]
        if not any(ln.lstrip().startswith("- ") for ln in lines):
            continue
        seen, uniq = set(), []
        for ln in lines:  # a change suggested by two findings appears once
            if ln.lstrip().startswith("- ") and ln in seen:
                continue
            seen.add(ln)
            uniq.append(ln)
        prefix = "" if first else "# "
        block = [f"name: {_yaml_name(f'{service} 优化方案（草稿）')}", f"service: {_yaml_name(service)}",
                 "changes:"] + uniq
        out += [prefix + ln if not first else ln for ln in block] + [""]
        first = False
    if first:
        out += ["name: 无建议", "changes: []   # the audit found nothing with a standard fix"]
    return "\n".join(out) + "\n"
