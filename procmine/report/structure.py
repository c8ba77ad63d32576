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

from ..analysis.audit import AuditResult, audit
from ..analysis.kinds import catalogue, registered, say
from ..analysis.discover import activity_map, department_map, simplify, variants
from ..errors import UsageError
from ..analysis.maps import to_graphviz
from ..messages import LANGS
from ..privacy import Masker
from .sections import Table, Trend

DIMENSIONS = ("trips", "documents", "time", "steps")  # the order the report shows 四减 in
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
             "section.conformance", "section.cases", "section.notes", "section.method", "sheet.method", "generated", "page_footer", "empty",
             "sheet.trend", "section.trend",
             "col.trips_n", "col.excess", "findings.none", "nav.more", "skipped.title", "map.zoom", "map.zoom_hint"]


_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def has_message(key: str, lang: str) -> bool:
    """Whether the catalogue can say ``key`` in ``lang``; an English text with Chinese in it
    (a column name such as 是否到场) does not count, so the report falls back to its own."""
    entry = catalogue().entries.get(key)  # the shipped messages and the finding kinds'
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
    sections: list = field(default_factory=list)   # 督办, 好差评, 一件事 (procmine.report.sections.Section)
    cases_page: Table | None = None                 # the HTML page's case section (None: the same as ``cases``)
    cases_frame: pd.DataFrame | None = None         # every case, worst first, when a case table was cut
    method: Table | None = None                     # the last page: how this was measured (the rule settings)
    trend: Trend | None = None                      # indicators by month (monitor.monthly), charted
    # the per-case files written beside (path → its size and time): the workbook and the page name
    # the same file, which is written once, not once by each renderer
    beside_written: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def cases_total(self) -> int:
        """How many cases the report covers (its case tables may show fewer)."""
        return len(self.cases_frame) if self.cases_frame is not None else len(self.cases.rows)

    def write_beside(self, table: Table, path: str | Path) -> Path | None:
        """Write the full per-case table that ``table``'s note names next to the report at ``path``
        (atomically; None when ``table`` holds every case)."""
        if not table.full_file or self.cases_frame is None:
            return None
        from ..log.eventlog import write_table

        target = Path(path).parent / table.full_file
        key = str(target.resolve())
        try:
            st = target.stat()
            if self.beside_written.get(key) == (st.st_size, st.st_mtime_ns):
                return target  # this report wrote it already, and it is unchanged since
        except OSError:
            pass
        written = write_table(self.cases_frame, target)
        st = written.stat()
        self.beside_written[key] = (st.st_size, st.st_mtime_ns)
        return written

    def tables(self) -> list[Table]:
        out = [self.overview]
        if self.trend is not None:
            out.append(self.trend.table)
        out += [self.findings, self.bottlenecks, self.materials, self.trips, self.variants]
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
        self.per_day = 7.5  # office hours a working day (the audit's calendar sets it)

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
        if dim in DIMENSIONS:
            return dim
        known = {k.name: k.dimension for k in registered()}
        return known.get(f.kind, "time")

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
        days_over = (getattr(f, "details", None) or {}).get("days_over")
        if f.kind == "open_overdue" and days_over is not None:
            return self("saving.days_over", n=self.num(days_over))
        unit = f.unit if has_message(f"report.saving.{f.unit}", self.lang) else "cases"
        impact = float(f.impact)
        if unit == "work_hours":  # time reads in working days everywhere in the report
            unit, impact = "working_days", impact / self.per_day
        per = self.num(impact / max(int(f.cases), 1), 1)
        pairs = (getattr(f, "details", None) or {}).get("pairs") if f.kind == "parallelizable" else None
        if pairs and unit == "working_days":  # the pair affecting most cases: its cases and saving
            top = pairs[0]
            return self("saving.parallel_pair", cases=self.num(top["cases"]), n=self.num(impact, 1),
                        per=self.num(impact / max(int(top["cases"]), 1), 1))
        if has_message(f"report.saving.{f.kind}.{unit}", self.lang):  # the kind's own wording
            return self(f"saving.{f.kind}.{unit}", n=self.num(impact), per=per)
        return self(f"saving.{unit}", n=self.num(impact if unit != "cases" else f.cases), per=per)

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


@dataclass(frozen=True)
class Rejects:
    """Rows the import set aside (the report counts them on page one): how many, and the file."""

    rows: int
    file: str


def rejects_beside(log_path: str | Path) -> Rejects | None:
    """The import's rejects file beside a canonical log (``LOG.rejects.csv``, as ``procmine
    import`` writes it), counted; None when there is none."""
    p = Path(log_path)
    path = p.with_name(p.name.split(".")[0] + ".rejects.csv")
    if not path.is_file():
        return None
    try:
        n = len(pd.read_csv(path, dtype=str, encoding="utf-8-sig"))
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    return Rejects(n, path.name)


CLOCK_UNKNOWN = ("计时不明", "状态不明")


def _left_out(result: AuditResult, t: _Text, rejects: Rejects | None) -> list[str]:
    """Page one: what the figures leave out: rows rejected at import, cases whose trips or
    clock are unknown, with where to find them."""
    c = result.cases
    out = []
    if rejects is not None and rejects.rows:
        out.append(t("left_out.rejects", n=f"{rejects.rows:,}", file=rejects.file))
    if "visits" in c:
        n = int(c["visits"].isna().sum())
        if n:
            out.append(t("left_out.trips", n=f"{n:,}", total=f"{len(c):,}"))
    if "outcome" in c:  # the case model's own classes: accepted with the clock unknown, status unknown
        n = int(c["outcome"].isin(CLOCK_UNKNOWN).sum())
        if n:
            out.append(t("left_out.clock", n=f"{n:,}", total=f"{len(c):,}"))
    return ([t("left_out.title")] + out) if out else []


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


SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def _actions(findings: list, t: _Text, k: int = 3) -> list[str]:
    """最值得先做的三件事: the highest-severity findings first (高 = a breach of the promised or
    statutory limit, or half the service's cases), then by impact (weighted to one scale);
    one action per service and action; each with its reason in one sentence."""
    findings = [f for f in findings if f.kind not in OWN_SECTION]
    ranked = sorted(findings, key=lambda f: (SEVERITY_ORDER.get(getattr(f, "severity", "low"), 3),
                                             -float(getattr(f, "score", 0) or f.impact)))
    chosen, seen = [], set()
    for f in ranked:
        a = t.action(f)
        if (f.service, a) in seen:
            continue
        chosen.append((f, a))
        seen.add((f.service, a))
        if len(chosen) >= k:
            break
    return [t("action.line", service=f.service, where=t("action.where", name=t.where(f)) if t.where(f) else "",
              action=a, reason=_reason(f, t)) for f, a in chosen]


def _reason(f, t: _Text) -> str:
    """Why a finding is among the three: one sentence."""
    share = (getattr(f, "details", None) or {}).get("share_of_cases")
    params = {"kind": t.kind(f.kind), "cases": t.num(f.cases), "saving": t.saving(f),
              "share": f"{float(share):.0%}" if share is not None else "—"}
    if f.kind in ("sla_overrun", "open_overdue"):
        statute = (getattr(f, "details", None) or {}).get("over_statute")
        if statute:
            return t("reason.breach_statute", statute=t.num(statute), **params)
        return t("reason.breach", **params)
    if getattr(f, "severity", "") == "high":
        return t("reason.share", **params)
    return t("reason.impact", **params)


# findings shown in a section of their own, not in the findings table (nor among the three actions)
OWN_SECTION = ("rating_driver",)
# the findings' numeric columns, each in one unit (named in its header): report.col.<key>
# (a sum of working days over thousands of cases is no figure a leader weighs: the table gives the
# time a case and the cases; the sum stays in the bottleneck sheet and in the JSON)
AMOUNT_COLUMNS = ("trips", "documents", "steps", "days_per_case", "points")


def _per_day(result: AuditResult) -> float:
    cal = getattr(getattr(result, "measured", None), "calendar", None)
    try:
        return float(cal.office_hours_per_day) or 7.5
    except (AttributeError, TypeError, ValueError):
        return 7.5


def _amounts(f, per_day: float) -> dict[str, float]:
    """A finding's numbers by unit: trips, documents, steps, working days (per affected
    case and in all), percentage points. Working hours become working days here (office
    hours a day), so that every time figure reads in one unit."""
    d = getattr(f, "details", None) or {}
    unit, impact, cases = f.unit, float(f.impact), max(int(f.cases), 1)
    out: dict[str, float] = {}

    def days(total: float | None, per: float | None = None) -> None:
        if total is None or total != total:
            return
        out["days"] = float(total)
        out["days_per_case"] = float(per) if per is not None else float(total) / cases

    if f.kind == "bundle_candidate":
        if d.get("extra_trips") is not None:
            out["trips"] = float(d["extra_trips"])
        out["documents"] = float(d.get("repeated_documents") or 0)
        return out
    if unit in ("trips", "documents", "steps", "points"):
        out[unit] = impact
    if f.kind == "rework" and d.get("work_hours") is not None:
        days(float(d["work_hours"]) / per_day)
    elif f.kind == "serial_signoff" and d.get("wait_work_hours_between_levels") is not None:
        days(float(d["wait_work_hours_between_levels"]) / per_day)
    elif f.kind == "open_overdue":
        days(d.get("days_over"))
    elif f.kind == "bottleneck" and unit == "working_days":
        days(impact, d.get("excess_working_days_per_case"))
    elif f.kind == "parallelizable" and unit == "working_days" and d.get("pairs"):
        top = d["pairs"][0]
        days(impact, impact / max(int(top["cases"]), 1))
    elif unit == "working_days":
        days(impact)
    elif unit == "work_hours":
        days(impact / per_day)
    return out


def _findings(result: AuditResult, t: _Text) -> Table:
    rows, groups = [], []
    dims = {d: t(f"dim.{d}") for d in DIMENSIONS}
    by_dim: dict[str, list] = {d: [] for d in DIMENSIONS}
    shown = [f for f in result.findings if f.kind not in OWN_SECTION]  # 差评成因: the 好差评 section
    for f in shown:
        by_dim[t.dimension(f)].append(f)
    per_day = _per_day(result)
    amounts = {id(f): _amounts(f, per_day) for f in shown}
    used = [k for k in AMOUNT_COLUMNS if any(k in a for a in amounts.values())]
    for d in DIMENSIONS:
        # ranked inside the group on the number the text states (weighted to one scale across units)
        ranked = sorted(by_dim[d], key=lambda f: (-float(getattr(f, "score", 0) or f.impact), -float(f.impact)))
        for i, f in enumerate(ranked, 1):
            a = amounts[id(f)]
            rows.append([dims[d], i, t.kind(f.kind), f.service, t.where(f), t(f"severity.{f.severity}"), f.cases]
                        + [a.get(k) for k in used]
                        + [t.summary(f), t.action(f), "\n".join(t.mask.ids(f.evidence[:3]))])
            groups.append(dims[d])
    cols = ["dimension", "rank", "kind", "service", "where", "severity", "cases"] + [f"amount.{k}" for k in used] \
        + ["summary", "action", "evidence"]
    n = len(used)
    fmts = ["text", "int", "text", "text", "text", "text", "int"] + [
        "float" if k in ("days", "days_per_case", "points") else "int" for k in used] + ["text", "text", "text"]
    return Table(t("sheet.findings"), [t(f"col.{c}") for c in cols], rows, fmts,
                 note=t("findings.note"), wrap=[0, 2, 3, 4, 7 + n, 8 + n, 9 + n], groups=groups,
                 widths={0: 8, 2: 12, 3: 14, 4: 14, 7 + n: 46, 8 + n: 26, 9 + n: 16},
                 css={5: "sev", 9 + n: "ev"}, optional=list(range(7, 7 + n)))


def _bottlenecks(result: AuditResult, t: _Text) -> Table:
    """Every bottleneck in working days (office hours a day): the median and P90 wait, the
    baseline, the excess per affected case and over them all."""
    per_day = _per_day(result)
    rows = []

    def dd(h):
        return None if h is None else float(h) / per_day

    for f in result.findings:
        if f.kind != "bottleneck":
            continue
        d = f.details or {}
        view = d.get("view")
        a = _amounts(f, per_day)
        rows.append([f.service, t(f"view.{view}") if view in ("activity", "department", "handover") else "",
                     f.activity or f.department, f.cases, dd(d.get("wait_p50_work_hours")),
                     dd(d.get("wait_p90_work_hours")), dd(d.get("baseline_work_hours")),
                     a.get("days_per_case"), a.get("days")])
    cols = ["service", "view", "object", "cases", "wait_p50", "wait_p90", "baseline", "excess", "excess_total"]
    return Table(t("sheet.bottlenecks"), [t(f"col.{c}") for c in cols], rows,
                 ["text", "text", "text", "int", "float", "float", "float", "float", "int"], wrap=[0, 2],
                 widths={0: 16, 2: 30}, note=t("bottlenecks.note"))


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
    """Positions of ``cases`` (per-case metrics, :func:`procmine.engine.metrics.case_metrics`),
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
    the worst cases — every case (worst first) for the file beside the report.

    Column by column, never cell by cell (a province's log has hundreds of thousands of
    cases): only the rows a table shows become Python values."""
    c = result.cases
    cols = [(k, f) for k, f in CASE_COLUMNS if k in c.columns]
    if any(k == "clock_days" for k, _ in cols):
        cols = [(k, f) for k, f in cols if k != "working_days"]
    if any(k == "outcome" for k, _ in cols):
        cols = [(k, f) for k, f in cols if k != "over_sla"]
    frame = c[[k for k, _ in cols]].copy()
    frame["case_id"] = pd.Series(t.mask.ids(c["case_id"].astype(str).tolist()), index=c.index, dtype=object)
    # missing is missing: what the log cannot support is blank, never 0
    svc = c["service"]

    def blank(k: str, where) -> None:
        if k not in frame:
            return
        where = np.asarray(where, dtype=bool)
        if where.any():
            col = frame[k]
            if pd.api.types.is_integer_dtype(col.dtype) and not isinstance(col.dtype, pd.api.extensions.ExtensionDtype):
                col = col.astype("Int64")  # an int column takes a blank as a nullable int
            frame[k] = col.mask(where)

    blank("visits", svc.isin([s for s, known in trips_known.items() if not known]))
    for k in ("materials_submitted", "repeated_material_submissions"):
        blank(k, svc.isin([s for s, known in docs_known.items() if not known]))
    if "departments" in frame:
        # the services named with a department somewhere in the log (each service once, not each event)
        with_dept = (log.loc[log["department"].notna(), "service"].dropna().unique() if "department" in log else [])
        blank("departments", ~svc.isin({str(s) for s in with_dept}))
    for k in ("status", "outcome"):
        if k in frame:  # each value said once, not once a case
            codes, values = pd.factorize(frame[k])
            said = np.array([t.value(v) for v in values] + [None], dtype=object)
            frame[k] = pd.Series(said[codes], index=frame.index, dtype=object)  # code -1 (missing): None
    if "over_sla" in frame:
        col = frame["over_sla"]
        frame["over_sla"] = col.astype(object).map({True: t("yes"), False: t("no")}).where(col.notna(), None)
    for k, f in cols:
        if f == "date":
            col = frame[k]
            if isinstance(col.dtype, pd.DatetimeTZDtype):
                col = col.dt.tz_localize(None)  # the local wall time, as the log shows it
            frame[k] = col
    frame.columns = [t(f"col.{k}") for k, _ in cols]
    fmts = [f for _, f in cols]
    total = len(frame)
    blank_note = t("cases.note", n=PRINT_CASE_ROWS)
    worst = frame.iloc[worst_first(c)].reset_index(drop=True) if total > options.page_rows else None
    file = options.cases_file(total)

    def rows(f: pd.DataFrame) -> list[list]:
        """Plain Python values (ints, floats, text, Timestamps), None where missing."""
        columns = []
        for name in f.columns:
            col = f[name]
            values = col.astype(object).tolist()
            missing = col.isna().to_numpy(dtype=bool)
            if missing.any():
                values = [None if m else v for v, m in zip(values, missing)]
            columns.append(values)
        return [list(r) for r in zip(*columns)] if columns else [[] for _ in range(len(f))]

    def table(limit: int) -> Table:
        if total <= limit:
            return Table(t("sheet.cases"), list(frame.columns), rows(frame), fmts, note=blank_note,
                         print_rows=PRINT_CASE_ROWS,
                         print_note=t("cases.print_limit", n=f"{PRINT_CASE_ROWS:,}", total=f"{total:,}")
                         if total > PRINT_CASE_ROWS else None)
        excerpt = t("cases.excerpt", n=f"{limit:,}", total=f"{total:,}", file=file)
        note = ("" if t.lang == "zh" else " ").join([excerpt, t("cases.order"), blank_note])  # no spaces between 句子
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


def _pictures(log: pd.DataFrame, services: list[str], t: _Text, max_maps: int,
              calendar=None) -> tuple[list[Picture], str]:
    """The department map and one map per service, waits in working days of office time
    (the findings' measure; the unit in each map's legend)."""
    import graphviz

    pictures, notes = [], []
    try:
        named = log["department"].notna()
        if named.any():
            # a step whose department is named nowhere is no node of the map: counted in a note
            pm = simplify(department_map(log[named]), max_nodes=MAP_NODES, max_edges=MAP_EDGES)
            pictures.append(_picture(pm, t("map.departments"), t.lang))
            if not named.all():
                notes.append(t("map.no_department", events=f"{int((~named).sum()):,}",
                               cases=f"{log.loc[~named, 'case_id'].nunique():,}"))
        for service in services[:max_maps]:
            sub = log[log["service"] == service]
            pm = activity_map(sub, "waiting", unit="office_days", calendar=calendar)
            pictures.append(_picture(simplify(pm, max_nodes=MAP_NODES, max_edges=MAP_EDGES),
                                     t("map.service", service=service), t.lang))
    except (graphviz.ExecutableNotFound, FileNotFoundError, OSError, graphviz.CalledProcessError):
        return [], t("map.no_graphviz")
    return pictures, " ".join([t("map.hint", n=MAP_NODES)] + notes)


def _comparison(before: pd.DataFrame, after: pd.DataFrame, rules, label: str, t: _Text) -> Table:
    from ..analysis.compare import compare

    return _comparison_table(compare(before, after, rules), label, t)


COMPARISON_FORMATS = {"at_most_once_rate": "pct", "zero_trip_rate": "pct", "on_time_rate": "pct",
                      "average_visits": "float2", "average_documents": "float", "median_clock_days": "days"}


def _comparison_table(c, label: str, t: _Text, names: tuple[str, str] | None = None) -> Table:
    """The comparison's rows, each metric in its own format (rates as percentages); ``names``:
    the two periods' own headers (else 改革前, 改革后)."""
    from ..analysis.compare import METRICS

    key = {label: k for k, label, *_ in METRICS}
    rows = [[r.service, r.metric, r.before, r.after, r.change, r.ci_low, r.ci_high, t("yes") if r.significant else t("no")]
            for r in c.table.itertuples(index=False)]
    cols = ["service", "metric", "before", "after", "change", "ci_low", "ci_high", "significant"]
    headers = [t(f"col.{k}") for k in cols]
    if names:
        headers[2:4] = list(names)
    return Table(t("sheet.comparison"), headers, rows,
                 ["text", "text", "float", "float", "float", "float", "float", "text"],
                 row_formats=[COMPARISON_FORMATS.get(key.get(r[1]), "float") for r in rows] or None,
                 row_formats_from=2,
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


def _method(rules_obj, result: AuditResult, calendar_note: str, t: _Text) -> Table:
    """The last page: every rule setting the report used, in words, with its value and
    its key in the rules file (the only place a key is named)."""
    th, sep = rules_obj.thresholds, "、" if t.lang == "zh" else ", "

    def pct(x) -> str:
        return f"{float(x):.0%}"

    def num(x) -> str:
        return t.num(x, 2)

    office = sep.join(f"{a}–{b}" for a, b in rules_obj.office_hours) or t("calendar.office_default")
    ranking = sep.join(f"{t.unit(k)} {num(v)}" for k, v in sorted(rules_obj.ranking_hours.items()))
    sla = sep.join(f"{k} {num(v)}" for k, v in sorted(rules_obj.sla_days.items())) or t("method.none")
    rows = [
        ("rules", result.rules, "name"),
        ("first_day", t(f"calendar.first_day.{'include' if rules_obj.first_day == 'include' else 'exclude'}"),
         "working_days.first_day"),
        ("office_hours", office, "office_hours"),
        ("warn_days", num(rules_obj.warn_days), "clock.warn_days"),
        ("gap", num(rules_obj.same_visit_gap_hours), "same_visit_gap_hours"),
        ("min_cases", num(th.get("min_cases", 5)), "thresholds.min_cases"),
        ("severity", f"{pct(th.get('severity_high_share', 0.5))} / {pct(th.get('severity_medium_share', 0.2))}",
         "thresholds.severity_high_share, severity_medium_share"),
        ("bottleneck", f"{pct(th.get('bottleneck_min_excess_share', 0.1))} / "
                       f"{num(th.get('bottleneck_min_wait_minutes', 1))} / {num(th.get('bottleneck_top', 10))}",
         "thresholds.bottleneck_min_excess_share, bottleneck_min_wait_minutes, bottleneck_top"),
        ("parallel", f"{num(th.get('parallel_min_cases', 20))} / {pct(th.get('parallel_min_share_each_order', 0.2))}",
         "thresholds.parallel_min_cases, parallel_min_share_each_order"),
        ("rubber", f"{num(th.get('rubber_stamp_max_minutes', 15))} / {pct(th.get('rubber_stamp_min_pass_share', 0.98))}",
         "thresholds.rubber_stamp_max_minutes, rubber_stamp_min_pass_share"),
        ("serial", num(th.get("serial_signoff_min_levels", 3)), "thresholds.serial_signoff_min_levels"),
        ("rating", num(th.get("rating_driver_min_points", 5)), "thresholds.rating_driver_min_points"),
        ("rectify", num(rules_obj.ratings.get("rectify_days", 15)), "ratings.rectify_days"),
        ("ranking", ranking, "ranking_hours"),
        ("sla", sla, "sla_days"),
    ]
    out = [[t(f"method.{k}"), t(f"method.{k}.meaning"), v, key] for k, v, key in rows]
    out.append([t("method.calendar"), calendar_note, "", "working_days, office_hours"])
    return Table(t("sheet.method"), [t(f"method.col.{c}") for c in ("item", "meaning", "value", "key")], out,
                 ["text"] * 4, note=t("method.note"), wrap=[1, 2, 3], widths={1: 50, 2: 30, 3: 36})


def build_report(log: pd.DataFrame, *, rules=None, reference: str | Path | None = None, title: str | None = None,
                 mask: bool = True, max_services_maps: int = 6, before: pd.DataFrame | None = None,
                 split_date: str | None = None, lang: str = "zh", activity_label: str | None = None,
                 options: ReportOptions | None = None, as_of=None, engine=None, rejects: Rejects | None = None,
                 progress=None, audited: AuditResult | None = None, period: str | None = None,
                 against: str | None = None) -> Report:
    """Everything the workbook and the HTML page show, computed once, in one language.

    ``options`` (:class:`ReportOptions`) caps the case tables: beyond the cap they keep
    the worst cases and name the full per-case file that the renderers write beside.
    ``rejects``: the rows the import set aside (:func:`rejects_beside`), counted on page one.
    ``progress``: called with a short text as each part is done (the CLI prints it).
    ``as_of`` and ``engine`` are the audit's (:func:`procmine.analysis.audit.audit`);
    ``audited``: the caller's own audit of this log with these rules (unmasked), used
    instead of auditing the log a second time. ``period`` and ``against`` (e.g.
    ``"2024-01..2024-03"``, ``"2024-04..2024-06"``): a comparison of two periods of the log,
    counted as the monthly trend counts (:func:`procmine.analysis.compare.compare_periods`).

    >>> rep = build_report(procmine.read_log("out/log.parquet"), lang="en")   # doctest: +SKIP
    """
    if log.empty:
        raise UsageError("the log is empty")
    spans = None
    if period is not None or against is not None:
        from ..analysis.compare import PERIOD_HELP, parse_period

        if period is None or against is None:
            raise UsageError("a comparison of periods needs both: --period and --against", hint=PERIOD_HELP)
        if split_date or before is not None:
            raise UsageError("compare one way: --period/--against, --split-date or --before")
        spans = parse_period(period), parse_period(against)  # before the audit: a typo fails at once
    masker = Masker(enabled=mask)
    options = options or ReportOptions()
    from ..labels import apply_labels
    from ..rules import load_rules

    rules_obj = load_rules(rules)
    t = _Text(lang, rules_obj, masker)
    log = apply_labels(log, activity_label)
    say_progress = progress or (lambda _msg: None)
    say_progress(t("progress.audit", cases=f"{log['case_id'].nunique():,}"))
    if audited is not None and activity_label is None:
        result = audited
    else:
        result = audit(log, rules_obj, as_of=as_of, engine=engine)
    t.per_day = _per_day(result)
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
    overview_notes = _left_out(result, t, rejects) + overview_notes
    say_progress(t("progress.maps"))
    pictures, map_note = _pictures(log, services, t, max_services_maps, calendar=rules_obj.calendar())

    conformance = None
    if reference:
        from ..analysis.conform import conform
        cr = conform(log, reference)
        rows = [[r.deviation, int(r.cases), float(r.share), ", ".join(masker.ids(r.examples))]
                for r in cr.deviations.itertuples(index=False)]
        conformance = Table(t("sheet.conformance"), [t("col.deviation"), t("col.cases"), t("col.share"),
                                                     t("col.examples")], rows, ["text", "int", "pct", "text"],
                            note=t("conformance.note", reference=cr.reference, fitting=cr.fitting, cases=cr.cases,
                                   share=f"{cr.fitting / max(cr.cases, 1):.1%}"), wrap=[0, 3])
    comparison = None
    if spans:  # the audit's own measurement, cases counted where the monthly trend counts them
        from ..analysis.compare import compare_periods
        c = compare_periods(log, *spans, rules_obj, measured=result.measured)
        a, b = (c.periods[p.label] for p in spans)
        label = t("comparison.periods", period=spans[0].label, against=spans[1].label, a=a["cases"], b=b["cases"])
        marked = [p.label for p in spans if c.periods[p.label]["provisional"]]
        if marked:
            label += t("comparison.provisional", periods=("、" if lang == "zh" else ", ").join(marked))
        comparison = _comparison_table(c, label, t, names=(spans[0].label, spans[1].label))
    elif split_date:  # the audit's own measurement, split: the same numbers as the full audit
        from ..analysis.compare import compare_split
        c = compare_split(log, split_date, rules, measured=result.measured)
        comparison = _comparison_table(c, t("comparison.split", date=split_date, before=c.periods["before"]["cases"],
                                            after=c.periods["after"]["cases"]), t)
    elif before is not None:
        before = apply_labels(before, activity_label) if activity_label and activity_label in before else before
        comparison = _comparison(before, log, rules, t("comparison.before_log", before=before["case_id"].nunique(),
                                                        after=log["case_id"].nunique()), t)
    from ..analysis.monitor import indicators
    from .sections import build_sections, monthly_trend

    say_progress(t("progress.sections"))
    ind = indicators(log, rules_obj, measured=result.measured, by="month")
    sections = build_sections(log, result.measured, rules_obj, t, masker,
                              drivers=[f for f in result.findings if f.kind == "rating_driver"], ind=ind)
    th = rules_obj.thresholds
    say_progress(t("progress.cases"))
    cases, cases_page, cases_frame = _cases(result, log, t, trips_known, docs_known, options)
    notes = t.notes([n.to_dict() if hasattr(n, "to_dict") else n for n in result.notes])
    calendar_note = _calendar_note(rules_obj, result, t)
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
        overview_notes=overview_notes, calendar_note=calendar_note,
        method=_method(rules_obj, result, calendar_note, t), trend=monthly_trend(ind["month"], t),
        severity_note=t("severity.note", high=f"{th.get('severity_high_share', 0.3):.0%}",
                        medium=f"{th.get('severity_medium_share', 0.1):.0%}"),
        map_note=map_note, dimension_names={d: t(f"dim.{d}") for d in DIMENSIONS},
    )
