"""The auditor's report: analysis → structure here; rendering in report_xlsx / report_html.

:func:`build_report` runs the audit, variants, maps and (optionally) conformance
once and returns a :class:`Report` of plain tables and pictures. The renderers
only lay them out, so the workbook and the HTML page show the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .audit import AuditResult, audit
from .discover import activity_map, department_map, simplify, variants
from .errors import ProcmineError, UsageError
from .maps import to_graphviz
from .privacy import Masker

KIND_LABELS = {
    "excess_visits": "跑动超次", "repeated_material": "材料重复提交", "shareable_material": "可共享免交材料",
    "rework": "返工", "duplicate_check": "多部门重复办理", "rubber_stamp": "走过场审批", "parallelizable": "可并联审批",
    "serial_signoff": "逐级审批层级多", "bottleneck": "瓶颈", "sla_overrun": "超承诺时限",
}
UNIT_LABELS = {"trips": "次跑动", "documents": "份材料", "steps": "个环节", "hours": "小时", "working_days": "个工作日"}
SEVERITY_LABELS = {"high": "高", "medium": "中", "low": "低"}


@dataclass
class Table:
    """A titled table: Chinese headers, rows of plain values, a format per column
    (text | int | float | pct | hours | date)."""

    name: str
    columns: list[str]
    rows: list[list]
    formats: list[str]
    note: str | None = None


@dataclass
class Picture:
    title: str
    svg: str  # inline SVG (no XML prolog)
    png: bytes


@dataclass
class Chart:
    """A bar chart over a table: categories in column 0, one series per other column."""

    title: str
    table: str
    y_title: str


@dataclass
class Report:
    title: str
    subtitle: str
    overview: Table
    top_findings: Table
    findings: Table
    bottlenecks: Table
    materials: Table
    trips: Table
    variants: Table
    cases: Table
    pictures: list[Picture]
    charts: list[Chart]
    conformance: Table | None = None
    comparison: Table | None = None
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    period_end: pd.Timestamp | None = None

    def tables(self) -> list[Table]:
        out = [self.overview, self.findings, self.bottlenecks, self.materials, self.trips, self.variants]
        if self.conformance is not None:
            out.append(self.conformance)
        return out + [self.cases]


def _pct(x):
    return None if x is None else float(x)


def _overview(result: AuditResult) -> Table:
    rows = []
    for service, m in sorted(result.metrics.items()):
        rows.append([service, m["cases"], _pct(m.get("zero_trip_rate")), _pct(m.get("at_most_once_rate")),
                     m.get("average_visits"), m.get("median_clock_days"), _pct(m.get("on_time_rate"))])
    return Table("概览", ["事项", "办件数", "跑零次率", "最多跑一次率", "平均跑动次数", "中位办理工作日", "按时办结率"],
                 rows, ["text", "int", "pct", "pct", "float", "float", "pct"],
                 note="跑动：同一天多次到场计一次；现场核查等工作人员外出不计；邮寄/电子送达不计。空白表示日志缺少相应数据。")


def _finding_rows(result: AuditResult, mask: Masker, limit: int | None = None) -> list[list]:
    rows = []
    for i, f in enumerate(result.findings[:limit] if limit else result.findings, 1):
        where = f.activity or f.department or f.material or ""
        rows.append([i, KIND_LABELS.get(f.kind, f.kind), f.service, where, SEVERITY_LABELS[f.severity], f.cases,
                     round(float(f.impact), 1), UNIT_LABELS.get(f.unit, f.unit), mask.text(f.summary),
                     "、".join(mask.ids(f.evidence))])
    return rows


FINDING_COLUMNS = ["序号", "类型", "事项", "环节/部门/材料", "严重程度", "涉及办件", "影响", "单位", "说明", "证据办件"]
FINDING_FORMATS = ["int", "text", "text", "text", "text", "int", "float", "text", "text", "text"]


def _bottlenecks(result: AuditResult) -> Table:
    rows = []
    view_labels = {"activity": "环节", "department": "部门", "handover": "部门交接"}
    for f in result.findings:
        if f.kind != "bottleneck":
            continue
        d = f.details
        rows.append([f.service, view_labels.get(d.get("view"), ""), f.activity or f.department, f.cases,
                     d.get("wait_p50_work_hours"), d.get("wait_p90_work_hours"), d.get("baseline_work_hours"),
                     None, round(float(f.impact), 1)])
    return Table("瓶颈", ["事项", "视角", "对象", "受影响办件", "等待P50(时)", "等待P90(时)", "办理P50(时)",
                        "办理P90(时)", "超出典型等待累计(时)"],
                 rows, ["text", "text", "text", "int", "float", "float", "float", "float", "float"])


def _materials(result: AuditResult, handovers: pd.DataFrame, catalogue) -> Table:
    if handovers.empty:
        return Table("材料", ["材料"], [], ["text"], note="日志中没有提交材料信息。")
    h = handovers.assign(department=handovers["department"].fillna(handovers["activity"]))
    matrix = h.pivot_table(index="material", columns="department", values="case_id", aggfunc="size", fill_value=0)
    matrix = matrix.loc[matrix.sum(axis=1).sort_values(ascending=False, kind="stable").index]
    depts = [str(c) for c in matrix.columns]
    rows = []
    for material, counts in matrix.iterrows():
        source = catalogue.replaceable(material)
        rows.append([str(material), source or "", int(counts.sum()), int((counts > 0).sum())] + [int(v) for v in counts])
    return Table("材料", ["材料", "可替代方式", "提交次数", "提交部门数"] + depts, rows,
                 ["text", "text", "int", "int"] + ["int"] * len(depts),
                 note="单元格为该材料在该部门（无部门时为环节）被提交的次数；标注“电子证照/数据共享”的材料可免于提交。")


def _trips(result: AuditResult) -> Table:
    services = sorted(result.metrics)
    dist = {s: result.metrics[s].get("visits_distribution") or {} for s in services}
    if not any(dist.values()):
        return Table("跑动", ["跑动次数"], [], ["text"], note="日志中无法识别申请人到场，未统计跑动。")
    keys = sorted({int(k) for d in dist.values() for k in d})
    rows = [[f"{k}次"] + [int(dist[s].get(str(k), 0)) for s in services] for k in keys]
    return Table("跑动", ["跑动次数"] + services, rows, ["text"] + ["int"] * len(services))


def _variants(log: pd.DataFrame, top: int = 20) -> Table:
    rows = []
    for service in sorted(log["service"].dropna().unique()):
        v = variants(log[log["service"] == service])
        for r in v.head(top).itertuples():
            rows.append([service, int(r.cases), float(r.share), round(float(r.median_lead_hours), 1), int(r.steps),
                         r.variant_text])
    return Table("变体", ["事项", "办件数", "占比", "中位时长(时)", "环节数", "路径"], rows,
                 ["text", "int", "pct", "float", "int", "text"])


def _cases(result: AuditResult, mask: Masker) -> Table:
    c = result.cases
    cols = ["case_id", "service", "events", "departments", "visits", "materials_submitted", "distinct_materials",
            "repeated_material_submissions", "lead_hours", "clock_days", "waiting_hours", "service_hours",
            "sla_days", "outcome", "case_start", "case_end"]
    heads = ["办件编号", "事项", "环节数", "部门数", "跑动次数", "提交材料数", "不同材料数", "重复提交数", "总时长(时)",
             "工作日", "等待(时)", "办理(时)", "承诺时限", "是否超时", "开始时间", "结束时间"]
    fmts = ["text", "text", "int", "int", "int", "int", "int", "int", "float", "float", "float", "float", "float",
            "text", "date", "date"]
    ids = mask.ids(c["case_id"].astype(str).tolist())
    frame = c[cols].copy()
    frame["case_id"] = ids
    for col in ("case_start", "case_end"):
        frame[col] = frame[col].dt.tz_localize(None)
    frame = frame.astype(object).where(frame.notna(), None)
    return Table("案例", heads, frame.values.tolist(), fmts)


def _picture(pm, title: str) -> Picture:
    g = to_graphviz(pm, title=title)
    try:
        svg = g.pipe(format="svg").decode("utf-8")
        png = g.pipe(format="png")
    except Exception as exc:  # graphviz missing or failed
        raise ProcmineError(f"cannot draw the process maps: {exc}",
                            hint="install graphviz (make setup does it)") from None
    start = svg.find("<svg")
    return Picture(title, svg[start:] if start >= 0 else svg, png)


def _comparison(before: pd.DataFrame, after: pd.DataFrame, rules, label: str) -> Table:
    from .compare import compare

    c = compare(before, after, rules)
    rows = [[r.service, r.metric, r.before, r.after, r.change, r.ci_low, r.ci_high, "是" if r.significant else "否"]
            for r in c.table.itertuples(index=False)]
    return Table("对比", ["事项", "指标", "改革前", "改革后", "变化", "95%区间下限", "95%区间上限", "变化显著"], rows,
                 ["text", "text", "float", "float", "float", "float", "float", "text"],
                 note=f"{label}；区间为对办件重抽样 1000 次的自助法（bootstrap）95% 区间，不含 0 才算显著变化。")


def build_report(log: pd.DataFrame, *, rules=None, reference: str | Path | None = None, title: str | None = None,
                 mask: bool = True, max_services_maps: int = 6, before: pd.DataFrame | None = None,
                 split_date: str | None = None) -> Report:
    """Everything the workbook and the HTML page show, computed once.

    >>> rep = build_report(procmine.read_log("out/log.parquet"), title="政务服务办件分析")   # doctest: +SKIP
    """
    if log.empty:
        raise UsageError("the log is empty")
    masker = Masker(enabled=mask)
    from .rules import load_rules

    rules_obj = load_rules(rules)
    result = audit(log, rules_obj)
    handovers = result.handovers
    ts = pd.concat([log["start_time"], log["end_time"]])
    period = f"{ts.min():%Y-%m-%d} 至 {ts.max():%Y-%m-%d}"
    services = sorted(log["service"].dropna().unique())
    subtitle = (f"{len(services)} 个事项 · {log['case_id'].nunique():,} 件 · {len(log):,} 个环节记录 · {period} · "
                f"规则：{result.rules}" + ("" if mask else " · 未脱敏（--no-mask）"))
    pictures = []
    if log["department"].notna().any():
        pictures.append(_picture(simplify(department_map(log)), "部门流转图（全部事项）"))
    for service in services[:max_services_maps]:
        sub = log[log["service"] == service]
        pictures.append(_picture(simplify(activity_map(sub, "waiting")), f"{service}：环节流程图（等待时间）"))
    conformance = None
    if reference:
        from .conform import conform
        cr = conform(log, reference)
        rows = [[r.deviation, int(r.cases), float(r.share), "、".join(masker.ids(r.examples))]
                for r in cr.deviations.itertuples(index=False)]
        conformance = Table("符合性", ["偏差", "办件数", "占比", "示例办件"], rows, ["text", "int", "pct", "text"],
                            note=f"参照：{cr.reference}；{cr.fitting}/{cr.cases} 件完全符合（{cr.fitting / max(cr.cases, 1):.1%}）")
    comparison = None
    if split_date:
        from .compare import split_by_date
        b, a = split_by_date(log, split_date)
        comparison = _comparison(b, a, rules, f"以 {split_date} 为界：之前 {b['case_id'].nunique()} 件，之后 {a['case_id'].nunique()} 件")
    elif before is not None:
        comparison = _comparison(before, log, rules, f"改革前日志 {before['case_id'].nunique()} 件，本日志 {log['case_id'].nunique()} 件")
    findings = _finding_rows(result, masker)
    return Report(
        title=title or "政务服务办件流程分析报告", subtitle=subtitle,
        overview=_overview(result),
        top_findings=Table("主要发现", FINDING_COLUMNS, findings[:10], FINDING_FORMATS),
        findings=Table("发现", FINDING_COLUMNS, findings, FINDING_FORMATS,
                       note="按影响排序（影响折算为小时，权重见规则文件 ranking_hours）。"),
        bottlenecks=_bottlenecks(result), materials=_materials(result, handovers, rules_obj.catalogue),
        trips=_trips(result), variants=_variants(log), cases=_cases(result, masker), pictures=pictures,
        charts=[Chart("跑动次数分布", "跑动", "办件数")],
        conformance=conformance, comparison=comparison,
        skipped=[f"{KIND_LABELS.get(s['kind'], s['kind'])}：{s['reason']}" for s in result.skipped],
        notes=list(result.notes) + (["未脱敏：报告中的编号与姓名按原样显示（--no-mask）"] if not mask else []),
        period_end=ts.max(),
    )

