"""The auditor's report: analysis → structure here; rendering in report_xlsx / report_html.

:func:`build_report` runs the audit, variants, maps and (optionally) conformance
once and returns a :class:`Report` of plain tables, sentences and pictures in one
language. Every sentence comes from the message catalogue
(``templates/messages/report.yaml`` and the audit's messages); the renderers
only lay it out, so the workbook and the HTML page show the same numbers.

The report reads the per-service metric keys, per-case columns and Finding
fields of the interface contract (``dimension``, ``action``/``action_key``,
``message``/``params``, ``on_time_rate``, ``open_overdue``, ``median_clock_days``,
``clock_days``, ``outcome``, …) when the analysis provides them and falls back
to older keys, or shows "—" with the reason, when it does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .audit import AuditResult, audit
from .discover import activity_map, department_map, simplify, variants
from .errors import UsageError
from .maps import to_graphviz
from .messages import LANGS, default_catalogue, say
from .privacy import Masker
from .report_sections import Table

DIMENSIONS = ("trips", "documents", "time", "steps")
DIMENSION = {"excess_visits": "trips", "repeated_material": "documents", "shareable_material": "documents",
             "rework": "steps", "duplicate_check": "steps", "rubber_stamp": "steps", "serial_signoff": "steps",
             "parallelizable": "time", "bottleneck": "time", "sla_overrun": "time", "open_overdue": "time",
             "rating_driver": "trips", "bundle_candidate": "trips"}
SUMMARY_SERVICES = 5   # the summary prints on one A4 landscape page for up to five services
MAP_NODES = 20         # nodes per map: legible on a page (the map states what it hides)
MAP_EDGES = 40
PRINT_CASE_ROWS = 50   # rows of the case table that print
SPREADSHEET_ROWS = 1_048_575  # data rows a spreadsheet opens (Excel, WPS): a longer case file is Parquet


@dataclass(frozen=True)
class ReportOptions:
    """How much of the per-case table a report holds.

    When there are more cases than a table may hold, it keeps the worst ones
    (:func:`worst_first`) and the full per-case table is written beside the
    report as ``{name}.cases.csv`` (``.parquet`` beyond :data:`SPREADSHEET_ROWS`),
    which the table's note names. When every case fits, nothing is cut and no
    file is written (``procmine cases`` writes the full table on request)."""

    max_case_rows: int = 10_000   # rows of the workbook's 案例 sheet
    page_case_rows: int = 5_000   # rows of the HTML page's case section (never more than max_case_rows)
    name: str = "report"          # the report's file name without suffix: the case file is named after it

    def __post_init__(self) -> None:
        for k in ("max_case_rows", "page_case_rows"):
            v = getattr(self, k)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise UsageError(f"{k} must be a whole number of at least 1, not {v!r}")

    @property
    def page_rows(self) -> int:
        return min(self.page_case_rows, self.max_case_rows)

    def cases_file(self, total: int) -> str:
        return f"{self.name}.cases.{'csv' if total <= SPREADSHEET_ROWS else 'parquet'}"

    @classmethod
    def for_output(cls, output: str | Path, **kw) -> "ReportOptions":
        """Options for a report written to ``output`` (report.xlsx → report.cases.csv beside it)."""
        return cls(name=Path(output).stem, **{k: v for k, v in kw.items() if v is not None})

# (dimension, metric key, format, target key) of the one-page summary
MEASURES = [
    ("trips", "at_most_once_rate", "pct", "full"),
    ("trips", "zero_trip_rate", "pct", "higher"),
    ("trips", "average_visits", "float2", "at_most_one"),
    ("documents", "documents_per_case", "float", "lower"),
    ("documents", "repeated_submissions", "int", "zero"),
    ("documents", "shareable_submissions", "int", "zero"),
    ("time", "on_time_rate", "pct", "full"),
    ("time", "median_clock_days", "days", "within_limit"),
    ("time", "median_sla_days", "days", "reference"),
    ("time", "open_overdue", "int", "zero"),
    ("steps", "steps_per_case", "float", "lower"),
]
MISSING_REASON = {"at_most_once_rate": "trips", "zero_trip_rate": "trips", "average_visits": "trips",
                  "documents_per_case": "documents", "repeated_submissions": "documents",
                  "shareable_submissions": "documents", "on_time_rate": "time", "median_sla_days": "time",
                  "median_clock_days": "clock", "open_overdue": "open"}
# text labels the renderers show (section titles, headers): report.<key>
TEXT_KEYS = ["sheet.overview", "sheet.findings", "sheet.bottlenecks", "sheet.materials", "sheet.trips",
             "sheet.variants", "sheet.conformance", "sheet.comparison", "sheet.cases", "sheet.maps",
             "section.actions", "section.headline", "section.findings", "section.maps", "section.trips",
             "section.bottlenecks", "section.materials", "section.variants", "section.comparison",
             "section.conformance", "section.cases", "section.notes", "generated", "page_footer", "empty",
             "col.trips_n", "col.excess", "findings.none", "nav.more", "skipped.title"]


_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def has_message(key: str, lang: str) -> bool:
    """Whether the catalogue can say ``key`` in ``lang``; an English text with Chinese in it
    (a column name such as 是否到场) does not count, so the report falls back to its own."""
    entry = default_catalogue().entries.get(key)
    if not entry or lang not in entry:
        return False
    return not (lang == "en" and _CJK.search(entry[lang]))


def _missing(v) -> bool:
    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _say_first(keys: list[str], lang: str, **params) -> str:
    for key in keys:
        if key and has_message(key, lang):
            try:
                return say(key, lang, **params)
            except (KeyError, IndexError, ValueError):
                continue
    raise KeyError(f"none of the messages {keys} has {lang!r} text")


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
    x_title: str = ""


@dataclass
class Report:
    title: str
    subtitle: str
    overview: Table
    actions: list[str]
    findings: Table
    bottlenecks: Table
    materials: Table
    trips: Table
    variants: Table
    cases: Table                  # the workbook's 案例 sheet
    pictures: list[Picture]
    charts: list[Chart]
    conformance: Table | None = None
    comparison: Table | None = None
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    period_end: pd.Timestamp | None = None
    lang: str = "zh"
    text: dict[str, str] = field(default_factory=dict)
    overview_notes: list[str] = field(default_factory=list)   # why a "—" is a "—"
    calendar_note: str = ""
    severity_note: str = ""
    map_note: str | None = None                               # why there are no maps, or how to read them
    dimension_names: dict[str, str] = field(default_factory=dict)
    sections: list = field(default_factory=list)   # 督办, 好差评, 一件事 (procmine.report_sections.Section)
    cases_page: Table | None = None                 # the HTML page's case section (None: the same as ``cases``)
    cases_frame: pd.DataFrame | None = None         # every case, worst first, when a case table was cut

    @property
    def cases_total(self) -> int:
        """How many cases the report covers (its case tables may show fewer)."""
        return len(self.cases_frame) if self.cases_frame is not None else len(self.cases.rows)

    def write_beside(self, table: Table, path: str | Path) -> Path | None:
        """Write the full per-case table that ``table``'s note names next to the report at ``path``
        (atomically; None when ``table`` holds every case)."""
        if not table.full_file or self.cases_frame is None:
            return None
        from .eventlog import write_table

        return write_table(self.cases_frame, Path(path).parent / table.full_file)

    def tables(self) -> list[Table]:
        out = [self.overview, self.findings, self.bottlenecks, self.materials, self.trips, self.variants]
        if self.conformance is not None:
            out.append(self.conformance)
        for s in self.sections:
            out += s.tables
        return out + [self.cases]

    def finding_groups(self) -> list[tuple[str, list[list]]]:
        """(dimension name, rows) in 四减 order; every dimension, empty or not."""
        out = []
        for key in DIMENSIONS:
            name = self.dimension_names[key]
            out.append((name, [r for r, g in zip(self.findings.rows, self.findings.groups or []) if g == name]))
        return out

    @property
    def top_findings(self) -> Table:  # kept for callers of the old structure
        return Table(self.findings.name, self.findings.columns, self.findings.rows[:10], self.findings.formats)


# ----------------------------------------------------------------------------- text helpers


class _Text:
    def __init__(self, lang: str, rules, mask: Masker) -> None:
        if lang not in LANGS:
            raise UsageError(f"unknown report language {lang!r}", hint="use --lang zh or --lang en")
        self.lang, self.rules, self.mask = lang, rules, mask

    def __call__(self, key: str, **params) -> str:
        return say("report." + key, self.lang, **params)

    def num(self, x, nd: int = 0) -> str:
        x = float(x)
        return f"{x:,.0f}" if nd == 0 or x.is_integer() else f"{x:,.{nd}f}"

    def kind(self, kind: str) -> str:
        return _say_first([f"report.kind.{kind}", f"kind.{kind}", "report.kind.other"], self.lang)

    def unit(self, unit: str) -> str:
        return _say_first([f"report.unit.{unit}"], self.lang) if has_message(f"report.unit.{unit}", self.lang) else unit

    def value(self, v):
        """A status/outcome value the analysis writes in Chinese, in the report's language."""
        if _missing(v):
            return None
        key = f"report.value.{v}"
        return say(key, self.lang) if has_message(key, self.lang) else v

    def dimension(self, f) -> str:
        dim = getattr(f, "dimension", None)
        return dim if dim in DIMENSIONS else DIMENSION.get(f.kind, "time")

    def where(self, f) -> str:
        return f.activity or f.department or f.material or ""

    def summary(self, f) -> str:
        """The finding's sentence in the report's language, from the catalogue when it has one."""
        message, params = getattr(f, "message", None), getattr(f, "params", None)
        if isinstance(message, str) and isinstance(params, dict) and has_message(message, self.lang):
            if self.lang == "en":  # a value formatted for English (p50_en, label_en, …) wins over its zh twin
                params = {k: params.get(f"{k}_en", v) for k, v in params.items()}
            try:
                text = say(message, self.lang, **params)
                # lists inside params are joined with 、 by the analysis: an English sentence uses commas
                return self.mask.text(text.replace("、", ", ") if self.lang == "en" else text)
            except (KeyError, IndexError, ValueError):
                pass
        if self.lang == "zh" and getattr(f, "summary", ""):
            return self.mask.text(f.summary)
        where = self.where(f)
        return self.mask.text(self("finding.fallback", service=f.service, kind=self.kind(f.kind), cases=self.num(f.cases),
                                   amount=self("amount", n=self.num(f.impact), unit=self.unit(f.unit)),
                                   where=self("finding.where", name=where) if where else ""))

    def action(self, f) -> str:
        key = getattr(f, "action_key", "") or ""
        if key and has_message(key, self.lang):
            return say(key, self.lang)
        if self.lang == "zh" and getattr(f, "action", ""):
            return f.action
        kind = f.kind
        if kind == "excess_visits":  # the playbook by the step the extra trips came for
            steps = (f.details or {}).get("extra_trip_steps") or {}
            top = max(sorted(steps), key=lambda s: steps[s]) if steps else ""
            for sub in ("pickup", "correction", "intake"):
                pattern = getattr(self.rules, sub, None)
                if top and pattern and re.search(pattern, top):
                    kind = sub
                    break
        return _say_first([f"report.action.{kind}", "report.action.other"], self.lang)

    def saving(self, f) -> str:
        unit = f.unit if has_message(f"report.saving.{f.unit}", self.lang) else "cases"
        per = self.num(float(f.impact) / max(int(f.cases), 1), 1)
        return self(f"saving.{unit}", n=self.num(f.impact if unit != "cases" else f.cases), per=per)

    def skipped(self, s: dict) -> str:
        message, params = s.get("message"), s.get("params") or {}
        if message and has_message(message, self.lang):
            try:
                return self("skip.prefix") + say(message, self.lang, **params)
            except (KeyError, IndexError, ValueError):
                pass
        key = f"report.skip.{s.get('kind')}"
        if has_message(key, self.lang):
            return self("skip.prefix") + say(key, self.lang)
        return self("skip.other", kind=self.kind(str(s.get("kind"))))

    def notes(self, notes: list) -> list[str]:
        out, untranslated = [], 0
        for n in notes:
            if isinstance(n, dict) and n.get("message") and has_message(n["message"], self.lang):
                out.append(say(n["message"], self.lang, **(n.get("params") or {})))
                continue
            text = str(n.get("text", "")) if isinstance(n, dict) else str(n)
            m = re.match(r"no Chinese holiday schedule for ([\d, ]+)", text)
            if m:
                out.append(self("note.calendar_years", years=m.group(1).strip()))
            elif text.startswith("no departments in the log"):
                out.append(self("note.no_departments"))
            elif self.lang == "en" and not re.search(r"[\u4e00-\u9fff]", text):
                out.append(self.mask.text(text))
            else:
                untranslated += 1
        if untranslated:
            out.append(self("note.untranslated", n=untranslated))
        return out


# ----------------------------------------------------------------------------- tables


def _metric(result: AuditResult, service: str, key: str, log_service: pd.DataFrame | None = None):
    """A per-service figure by the contract's key, else from the older keys it replaces."""
    m = result.metrics.get(service, {})
    if key in m:
        return m[key]
    cases = result.cases[result.cases["service"] == service]
    if key == "documents_per_case":
        return m.get("average_documents")
    if key == "on_time_rate":
        over = m.get("over_sla_share")
        return None if over is None else 1 - float(over)
    if key == "median_clock_days":
        return m.get("median_working_days")
    if key == "median_sla_days":
        sla = cases["sla_days"].dropna().astype(float) if "sla_days" in cases else pd.Series(dtype=float)
        return float(sla.median()) if len(sla) else None
    if key == "steps_per_case":
        return m["events"] / m["cases"] if m.get("cases") else None
    if key == "shareable_submissions":
        return None  # filled in from the hand-overs by the caller
    return None


def _flag(key: str, value, limit) -> str | None:
    if value is None:
        return None
    if key in ("at_most_once_rate", "on_time_rate"):
        return "ok" if value >= 0.9 else "bad"
    if key == "average_visits":
        return "ok" if value <= 1 else "bad"
    if key in ("repeated_submissions", "shareable_submissions", "open_overdue"):
        return "ok" if value == 0 else "bad"
    if key == "median_clock_days" and limit is not None:
        return "ok" if value <= limit else "bad"
    return None


def _overview(result: AuditResult, t: _Text, shareable: dict[str, int]) -> tuple[Table, list[str]]:
    services = sorted(result.metrics)
    shown = services[:SUMMARY_SERVICES]
    rows, fmts, flags = [], [], []
    missing: dict[str, list[str]] = {}
    rows.append(["", t("m.cases"), ""] + [result.metrics[s].get("cases") for s in shown])
    fmts.append("int")
    flags.append([None] * len(rows[0]))
    last_dim = None
    for dim, key, fmt, target in MEASURES:
        values, row_flags = [], [None, None, None]
        for s in shown:
            v = _metric(result, s, key)
            if key == "shareable_submissions" and key not in result.metrics.get(s, {}):
                v = shareable.get(s)
            v = None if _missing(v) else v
            values.append(v)
            limit = _metric(result, s, "median_sla_days") if key == "median_clock_days" else None
            row_flags.append(_flag(key, v, limit))
            if v is None:
                missing.setdefault(MISSING_REASON.get(key, "generic:" + key), []).append(s)
        rows.append([t(f"dim.{dim}") if dim != last_dim else "", t(f"m.{key}"), t(f"target.{target}")] + values)
        fmts.append(fmt)
        flags.append(row_flags)
        last_dim = dim
    notes = []
    if missing:
        notes.append(t("missing.legend"))
        sep = "、" if t.lang == "zh" else ", "
        for reason, svcs in missing.items():
            names = sep.join(dict.fromkeys(svcs))
            if reason.startswith("generic:"):
                notes.append(t("missing.generic", service=names, measure=t("m." + reason.split(":", 1)[1])))
            else:
                notes.append(t(f"missing.{reason}", service=names))
    if len(services) > len(shown):
        notes.append(t("more_services", n=len(services) - len(shown)))
    table = Table(t("sheet.overview"), [t("col.dimension"), t("col.measure"), t("col.target")] + shown, rows,
                  ["text", "text", "text"] + ["float"] * len(shown), row_formats=fmts, row_formats_from=3,
                  flags=flags, wrap=[1])
    return table, notes


def _actions(findings: list, t: _Text, k: int = 3) -> list[str]:
    """The three actions that would save most: best finding per 四减 dimension first, distinct actions."""
    ranked = sorted(findings, key=lambda f: -float(getattr(f, "score", 0) or f.impact))
    chosen, seen_actions, seen_dims = [], set(), set()
    for f in ranked:  # one per dimension, best first
        a = t.action(f)
        dim = t.dimension(f)
        if dim in seen_dims or (f.service, a) in seen_actions:
            continue
        chosen.append((f, a))
        seen_actions.add((f.service, a))
        seen_dims.add(dim)
    chosen = sorted(chosen, key=lambda x: -float(getattr(x[0], "score", 0) or x[0].impact))[:k]
    for f in ranked:
        if len(chosen) >= k:
            break
        a = t.action(f)
        if (f.service, a) not in seen_actions:
            chosen.append((f, a))
            seen_actions.add((f.service, a))
    return [t("action.line", service=f.service, where=t("action.where", name=t.where(f)) if t.where(f) else "", action=a,
              kind=t.kind(f.kind), cases=t.num(f.cases), saving=t.saving(f)) for f, a in chosen]


def _findings(result: AuditResult, t: _Text) -> Table:
    rows, groups = [], []
    dims = {d: t(f"dim.{d}") for d in DIMENSIONS}
    by_dim: dict[str, list] = {d: [] for d in DIMENSIONS}
    for f in result.findings:
        by_dim[t.dimension(f)].append(f)
    for d in DIMENSIONS:
        # ranked inside the group on the number the text states (weighted to one scale across units)
        ranked = sorted(by_dim[d], key=lambda f: (-float(getattr(f, "score", 0) or f.impact), -float(f.impact)))
        for i, f in enumerate(ranked, 1):
            rows.append([dims[d], i, t.kind(f.kind), f.service, t.where(f), t(f"severity.{f.severity}"), f.cases,
                         float(f.impact), t.unit(f.unit), t.summary(f), t.action(f), "\n".join(t.mask.ids(f.evidence[:3]))])
            groups.append(dims[d])
    cols = ["dimension", "rank", "kind", "service", "where", "severity", "cases", "amount", "unit", "summary",
            "action", "evidence"]
    return Table(t("sheet.findings"), [t(f"col.{c}") for c in cols], rows,
                 ["text", "int", "text", "text", "text", "text", "int", "amount", "text", "text", "text", "text"],
                 note=t("findings.note"), wrap=[0, 2, 3, 4, 8, 9, 10, 11], groups=groups,
                 widths={0: 8, 2: 12, 3: 14, 4: 14, 8: 10, 9: 46, 10: 26, 11: 16})


def _bottlenecks(result: AuditResult, t: _Text) -> Table:
    rows = []
    for f in result.findings:
        if f.kind != "bottleneck":
            continue
        d = f.details or {}
        work = "wait_p50_work_hours" in d
        sfx = "_work_hours" if work else "_hours"
        baseline = d.get("baseline_work_hours") if work else d.get("typical_wait_hours")
        view = d.get("view")
        rows.append([f.service, t(f"view.{view}") if view in ("activity", "department", "handover") else "",
                     f.activity or f.department, f.cases, d.get("wait_p50" + sfx), d.get("wait_p90" + sfx), baseline,
                     float(f.impact), t.unit("work_hours" if work else "hours")])
    cols = ["service", "view", "object", "cases", "wait_p50", "wait_p90", "baseline", "excess", "unit"]
    return Table(t("sheet.bottlenecks"), [t(f"col.{c}") for c in cols], rows,
                 ["text", "text", "text", "int", "float", "float", "float", "amount", "text"], wrap=[0, 2],
                 widths={0: 16, 2: 30})


def _materials(handovers: pd.DataFrame | None, catalogue, t: _Text) -> Table:
    if handovers is None or handovers.empty:
        return Table(t("sheet.materials"), [t("col.material")], [], ["text"], note=t("materials.none"))
    h = handovers.assign(department=handovers["department"].fillna(handovers["activity"]))
    matrix = h.pivot_table(index="material", columns="department", values="case_id", aggfunc="size", fill_value=0)
    matrix = matrix.loc[matrix.sum(axis=1).sort_values(ascending=False, kind="stable").index]
    depts = [str(c) for c in matrix.columns]
    rows = []
    for material, counts in matrix.iterrows():
        source = catalogue.replaceable(material)
        rows.append([str(material), source or "", int(counts.sum()), int((counts > 0).sum())] + [int(v) for v in counts])
    return Table(t("sheet.materials"), [t("col.material"), t("col.replaceable"), t("col.submissions"),
                                        t("col.departments_n")] + depts, rows,
                 ["text", "text", "int", "int"] + ["int"] * len(depts), note=t("materials.note"), wrap=[0])


def _trips(result: AuditResult, t: _Text) -> Table:
    services = sorted(result.metrics)
    dist = {s: result.metrics[s].get("visits_distribution") or {} for s in services}
    if not any(dist.values()):
        return Table(t("sheet.trips"), [t("col.trips_n")], [], ["text"], note=t("trips.none"))
    known = [s for s in services if dist[s]]
    keys = sorted({int(k) for d in dist.values() for k in d})
    rows = [[t("trips.value", n=k)] + [int(dist[s].get(str(k), 0)) for s in known] for k in keys]
    return Table(t("sheet.trips"), [t("col.trips_n")] + known, rows, ["text"] + ["int"] * len(known),
                 note=t("trips.note"))


def _variants(log: pd.DataFrame, t: _Text, top: int = 15) -> Table:
    rows = []
    for service in sorted(log["service"].dropna().unique()):
        v = variants(log[log["service"] == service])
        for r in v.head(top).itertuples():
            rows.append([service, int(r.cases), float(r.share), round(float(r.median_lead_hours), 1), int(r.steps),
                         r.variant_text])
    cols = ["service", "cases", "share", "median_lead", "steps", "path"]
    return Table(t("sheet.variants"), [t(f"col.{c}") for c in cols], rows,
                 ["text", "int", "pct", "float", "int", "text"], wrap=[0, 5],
                 widths={0: 16, 5: 90})


CASE_COLUMNS = [("case_id", "text"), ("service", "text"), ("status", "text"), ("outcome", "text"), ("events", "int"),
                ("departments", "int"), ("visits", "int"), ("materials_submitted", "int"),
                ("repeated_material_submissions", "int"), ("clock_days", "days"), ("working_days", "days"),
                ("sla_days", "days"), ("over_sla", "text"), ("lead_days", "days"), ("waiting_work_hours", "float"),
                ("service_work_hours", "float"), ("accept_time", "date"), ("finish_time", "date"),
                ("case_start", "date"), ("case_end", "date")]


def worst_first(cases: pd.DataFrame) -> np.ndarray:
    """Positions of ``cases`` (per-case metrics, :func:`procmine.metrics.case_metrics`),
    worst first: the one severity order of every case table a report cuts.

    1. 超期在办 — open past the limit: most working days over first (−``days_left``);
    2. 超期 — decided late: most working days over first (``clock_days − sla_days``);
    3. 临期 — open, at most ``clock.warn_days`` left (``due_soon``): fewest days left first;
    4. other open cases (在办): fewest days left first;
    5. the rest (即办/提前/按时/办结/未受理/撤回): longest clock first.

    Inside a group a case whose number is unknown comes last, a tie goes to the
    longer clock and then to the smaller case id, so the order is reproducible."""
    n = len(cases)
    if n == 0:
        return np.arange(0)

    def num(col: str) -> np.ndarray:
        if col not in cases:
            return np.full(n, np.nan)
        return pd.to_numeric(cases[col], errors="coerce").astype(float).to_numpy(dtype=float, na_value=np.nan)

    outcome = cases["outcome"].astype("string").fillna("") if "outcome" in cases else pd.Series([""] * n)
    due = (cases["due_soon"].astype("boolean").fillna(False).to_numpy(dtype=bool) if "due_soon" in cases
           else np.zeros(n, dtype=bool))
    left, clock, sla = num("days_left"), num("clock_days"), num("sla_days")
    out = outcome.to_numpy(dtype=object)
    group = np.select([out == "超期在办", out == "超期", due & (out != "超期在办"), out == "在办"],
                      [0, 1, 2, 3], 4)
    # ascending = worse; unknown → +inf (last in its group)
    key = np.select([group == 0, group == 1, group <= 3], [left, -(clock - sla), left], -clock)
    key = np.where(np.isnan(key), np.inf, key)
    longer = np.where(np.isnan(clock), np.inf, -clock)
    ids = pd.factorize(cases["case_id"].astype(str), sort=True)[0]
    return np.lexsort((ids, longer, key, group))


def _cases(result: AuditResult, log: pd.DataFrame, t: _Text, trips_known: dict[str, bool],
           docs_known: dict[str, bool], options: ReportOptions) -> tuple[Table, Table, pd.DataFrame | None]:
    """The workbook's 案例 sheet, the HTML page's case section and — when either is cut to
    the worst cases — every case (worst first) for the file beside the report."""
    c = result.cases
    cols = [(k, f) for k, f in CASE_COLUMNS if k in c.columns]
    if any(k == "clock_days" for k, _ in cols):
        cols = [(k, f) for k, f in cols if k != "working_days"]
    if any(k == "outcome" for k, _ in cols):
        cols = [(k, f) for k, f in cols if k != "over_sla"]
    frame = c[[k for k, _ in cols]].copy()
    frame["case_id"] = t.mask.ids(c["case_id"].astype(str).tolist())
    frame = frame.astype(object)
    # missing is missing: what the log cannot support is blank, never 0
    svc = c["service"].astype(str)
    if "visits" in frame:
        frame.loc[~svc.map(lambda s: trips_known.get(s, True)).to_numpy(dtype=bool), "visits"] = None
    for k in ("materials_submitted", "repeated_material_submissions"):
        if k in frame:
            frame.loc[~svc.map(lambda s: docs_known.get(s, True)).to_numpy(dtype=bool), k] = None
    if "departments" in frame:
        with_dept = (set(log.loc[log["department"].notna(), "service"].astype(str)) if "department" in log else set())
        frame.loc[~svc.isin(with_dept).to_numpy(dtype=bool), "departments"] = None
    for k in ("status", "outcome"):
        if k in frame:
            frame[k] = frame[k].map(t.value)
    if "over_sla" in frame:
        frame["over_sla"] = frame["over_sla"].map(lambda v: None if _missing(v) else t("yes") if v else t("no"))
    for k, f in cols:
        if f == "date":
            frame[k] = frame[k].map(lambda v: None if _missing(v) else pd.Timestamp(v).tz_localize(None)
                                    if pd.Timestamp(v).tzinfo else pd.Timestamp(v))
    frame.columns = [t(f"col.{k}") for k, _ in cols]
    fmts = [f for _, f in cols]
    total = len(frame)
    blank = t("cases.note", n=PRINT_CASE_ROWS)
    worst = frame.iloc[worst_first(c)].reset_index(drop=True) if total > options.page_rows else None
    file = options.cases_file(total)

    def rows(f: pd.DataFrame) -> list[list]:
        return [[None if _missing(v) else v for v in row] for row in f.values.tolist()]

    def table(limit: int) -> Table:
        if total <= limit:
            return Table(t("sheet.cases"), list(frame.columns), rows(frame), fmts, note=blank,
                         print_rows=PRINT_CASE_ROWS,
                         print_note=t("cases.print_limit", n=f"{PRINT_CASE_ROWS:,}", total=f"{total:,}")
                         if total > PRINT_CASE_ROWS else None)
        excerpt = t("cases.excerpt", n=f"{limit:,}", total=f"{total:,}", file=file)
        note = ("" if t.lang == "zh" else " ").join([excerpt, t("cases.order"), blank])  # no spaces between 句子
        return Table(t("sheet.cases"), list(frame.columns), rows(worst.iloc[:limit]), fmts, note=note,
                     print_rows=PRINT_CASE_ROWS, full_file=file,
                     print_note=t("cases.print_excerpt", n=f"{min(PRINT_CASE_ROWS, limit):,}", total=f"{total:,}",
                                  file=file) if limit > PRINT_CASE_ROWS else None)

    book = table(options.max_case_rows)
    page = book if options.page_rows >= total else table(options.page_rows)
    return book, page, worst


def _picture(pm, title: str, lang: str) -> Picture:
    g = to_graphviz(pm, title=title, lang=lang)
    svg = g.pipe(format="svg").decode("utf-8")
    png = g.pipe(format="png")
    start = svg.find("<svg")
    return Picture(title, svg[start:] if start >= 0 else svg, png)


def _pictures(log: pd.DataFrame, services: list[str], t: _Text, max_maps: int) -> tuple[list[Picture], str]:
    import graphviz

    pictures = []
    try:
        if log["department"].notna().any():
            pm = simplify(department_map(log), max_nodes=MAP_NODES, max_edges=MAP_EDGES)
            pictures.append(_picture(pm, t("map.departments"), t.lang))
        for service in services[:max_maps]:
            sub = log[log["service"] == service]
            pictures.append(_picture(simplify(activity_map(sub, "waiting"), max_nodes=MAP_NODES, max_edges=MAP_EDGES),
                                     t("map.service", service=service), t.lang))
    except (graphviz.ExecutableNotFound, FileNotFoundError, OSError, graphviz.CalledProcessError):
        return [], t("map.no_graphviz")
    return pictures, t("map.hint", n=MAP_NODES)


def _comparison(before: pd.DataFrame, after: pd.DataFrame, rules, label: str, t: _Text) -> Table:
    from .compare import compare

    return _comparison_table(compare(before, after, rules), label, t)


def _comparison_table(c, label: str, t: _Text) -> Table:
    rows = [[r.service, r.metric, r.before, r.after, r.change, r.ci_low, r.ci_high, t("yes") if r.significant else t("no")]
            for r in c.table.itertuples(index=False)]
    cols = ["service", "metric", "before", "after", "change", "ci_low", "ci_high", "significant"]
    return Table(t("sheet.comparison"), [t(f"col.{k}") for k in cols], rows,
                 ["text", "text", "float", "float", "float", "float", "float", "text"],
                 note=t("comparison.note", label=label))


def _calendar_note(rules_obj, result: AuditResult, t: _Text) -> str:
    first = getattr(rules_obj, "first_day", "exclude")
    hours = getattr(rules_obj, "office_hours", None)
    if hours:
        try:
            office = ", ".join(f"{a}–{b}" for a, b in hours)
        except (TypeError, ValueError):
            office = str(hours)
    else:
        office = t("calendar.office_default")
    text = t("calendar", first_day=t(f"calendar.first_day.{'include' if first == 'include' else 'exclude'}"),
             office_hours=office, baselines=t("calendar.baselines"))
    as_of = getattr(result, "as_of", None)
    if not _missing(as_of):
        text += " " + t("as_of", as_of=f"{pd.Timestamp(as_of):%Y-%m-%d %H:%M}")
    return text


def build_report(log: pd.DataFrame, *, rules=None, reference: str | Path | None = None, title: str | None = None,
                 mask: bool = True, max_services_maps: int = 6, before: pd.DataFrame | None = None,
                 split_date: str | None = None, lang: str = "zh", activity_label: str | None = None,
                 options: ReportOptions | None = None, as_of=None, engine=None) -> Report:
    """Everything the workbook and the HTML page show, computed once, in one language.

    ``options`` (:class:`ReportOptions`) caps the case tables: beyond the cap they keep
    the worst cases and name the full per-case file that the renderers write beside.
    ``as_of`` and ``engine`` are the audit's (:func:`procmine.audit.audit`).

    >>> rep = build_report(procmine.read_log("out/log.parquet"), lang="en")   # doctest: +SKIP
    """
    if log.empty:
        raise UsageError("the log is empty")
    masker = Masker(enabled=mask)
    options = options or ReportOptions()
    from .labels import apply_labels
    from .rules import load_rules

    rules_obj = load_rules(rules)
    t = _Text(lang, rules_obj, masker)
    log = apply_labels(log, activity_label)
    result = audit(log, rules_obj, as_of=as_of, engine=engine)
    handovers = result.handovers
    ts = pd.concat([log["start_time"], log["end_time"]])
    services = sorted(log["service"].dropna().unique())
    subtitle = t("subtitle", services=len(services), cases=f"{log['case_id'].nunique():,}", events=f"{len(log):,}",
                 period_from=f"{ts.min():%Y-%m-%d}", period_to=f"{ts.max():%Y-%m-%d}",
                 rules=say(f"report.rules_name.{result.rules}", lang) if has_message(f"report.rules_name.{result.rules}", lang)
                 else result.rules)
    if not mask:
        subtitle += " · " + t("unmasked")

    shareable: dict[str, int] = {}
    docs_known: dict[str, bool] = {}
    if handovers is not None and len(handovers):
        cat = rules_obj.catalogue
        ok = handovers["material"].map(lambda m: cat.replaceable(m) is not None).astype(bool)
        shareable = {str(k): int(v) for k, v in handovers[ok].groupby("service").size().items()}
        with_docs = set(handovers["service"].astype(str))
        shareable = {s: shareable.get(s, 0) for s in with_docs}
        docs_known = {s: s in with_docs for s in map(str, result.metrics)}
    else:
        docs_known = {s: False for s in map(str, result.metrics)}
    trips_known = {s: result.metrics[s].get("at_most_once_rate") is not None for s in result.metrics}

    overview, overview_notes = _overview(result, t, shareable)
    pictures, map_note = _pictures(log, services, t, max_services_maps)

    conformance = None
    if reference:
        from .conform import conform
        cr = conform(log, reference)
        rows = [[r.deviation, int(r.cases), float(r.share), ", ".join(masker.ids(r.examples))]
                for r in cr.deviations.itertuples(index=False)]
        conformance = Table(t("sheet.conformance"), [t("col.deviation"), t("col.cases"), t("col.share"),
                                                     t("col.examples")], rows, ["text", "int", "pct", "text"],
                            note=t("conformance.note", reference=cr.reference, fitting=cr.fitting, cases=cr.cases,
                                   share=f"{cr.fitting / max(cr.cases, 1):.1%}"), wrap=[0, 3])
    comparison = None
    if split_date:  # the audit's own measurement, split: the same numbers as the full audit
        from .compare import compare_split
        c = compare_split(log, split_date, rules, measured=result.measured)
        comparison = _comparison_table(c, t("comparison.split", date=split_date, before=c.periods["before"]["cases"],
                                            after=c.periods["after"]["cases"]), t)
    elif before is not None:
        before = apply_labels(before, activity_label) if activity_label and activity_label in before else before
        comparison = _comparison(before, log, rules, t("comparison.before_log", before=before["case_id"].nunique(),
                                                        after=log["case_id"].nunique()), t)
    from .report_sections import build_sections

    sections = build_sections(log, result.measured, rules_obj, t, masker)
    th = rules_obj.thresholds
    cases, cases_page, cases_frame = _cases(result, log, t, trips_known, docs_known, options)
    notes = t.notes([n.to_dict() if hasattr(n, "to_dict") else n for n in result.notes])
    if activity_label:
        notes.insert(0, t("note.labels", column=activity_label))
    return Report(
        title=title or t("title"), subtitle=subtitle,
        overview=overview, actions=_actions(result.findings, t) or [t("no_actions")],
        findings=_findings(result, t),
        bottlenecks=_bottlenecks(result, t), materials=_materials(handovers, rules_obj.catalogue, t),
        trips=_trips(result, t), variants=_variants(log, t),
        cases=cases, cases_page=cases_page, cases_frame=cases_frame,
        pictures=pictures,
        charts=[Chart(t("section.trips"), "trips", t("col.cases"), t("col.trips_n"))],
        conformance=conformance, comparison=comparison, sections=sections,
        skipped=list(dict.fromkeys(t.skipped(s) for s in result.skipped)),
        notes=notes, period_end=ts.max(), lang=lang,
        text={k: t(k) for k in TEXT_KEYS},
        overview_notes=overview_notes, calendar_note=_calendar_note(rules_obj, result, t),
        severity_note=t("severity.note", high=f"{th.get('severity_high_share', 0.3):.0%}",
                        medium=f"{th.get('severity_medium_share', 0.1):.0%}"),
        map_note=map_note, dimension_names={d: t(f"dim.{d}") for d in DIMENSIONS},
    )
