"""Report sections on top of the audit: 督办 (red/yellow cards, indicators), 好差评
(what goes with bad ratings, rectification) and 一件事 (bundle instances, candidates),
and the monthly trend (:class:`Trend`, from :func:`procmine.analysis.monitor.monthly`'s table).

Structure only: plain :class:`Table` objects in the report's language; the renderers
lay them out. Each section is left out, with a sentence saying why, when the log
cannot support it. :class:`Table` lives here, below :mod:`procmine.report.structure` (which
uses it too and names it as ``procmine.report.structure.Table``): the two never import each other."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..engine.metrics import Measured


@dataclass
class Table:
    """A titled table: headers, rows of plain values, a format per column
    (text | int | float | float2 | pct | days | date); ``row_formats`` overrides the
    format row by row from column ``row_formats_from`` on, text columns excepted (the
    summary's measures, the comparison's metrics)."""

    name: str
    columns: list[str]
    rows: list[list]
    formats: list[str]
    note: str | None = None
    wrap: list[int] = field(default_factory=list)      # long-text columns: wrapped, width capped
    row_formats: list[str] | None = None
    row_formats_from: int = 0
    flags: list[list] | None = None                     # per cell: "bad" | "ok" | None
    groups: list[str] | None = None                     # per row: a group heading (findings by dimension)
    print_rows: int | None = None                       # only these first rows print
    print_note: str | None = None                       # what the printout leaves out (HTML: print only)
    full_file: str | None = None                        # rows were cut: all of them are in this file beside the report
    widths: dict[int, float] = field(default_factory=dict)  # width caps (characters, CJK = 2) for wrapped columns
    css: dict[int, str] = field(default_factory=dict)       # HTML: a column's own class (sev: severity, ev: evidence)
    optional: list[int] = field(default_factory=list)       # HTML: columns a group of rows leaves out when all blank

    def format_of(self, row: int, col: int) -> str:
        """The format of one cell: its row's (``row_formats``) from ``row_formats_from`` on, else its column's."""
        base = self.formats[col]
        if self.row_formats and col >= self.row_formats_from and base != "text":
            return self.row_formats[row]
        return base

    def shown(self, rows: list[list]) -> list[int]:
        """The columns (from 1: column 0 is the group) that ``rows`` show: every column but
        an optional one that is blank in all of them."""
        return [i for i in range(1, len(self.columns))
                if i not in self.optional or any(i < len(r) and r[i] is not None for r in rows)]


@dataclass
class Section:
    anchor: str
    title: str
    tables: list = field(default_factory=list)
    note: str | None = None


@dataclass
class Line:
    """One line of a trend chart: a rate (0..1) per month, None where the month has none."""

    label: str
    values: list
    column: int            # the trend table's column holding these values
    provisional_name: str  # the name of its provisional stretch (a chart legend's entry)


@dataclass
class Trend:
    """The monthly trend: a table (one row per month) and the lines a chart draws from it.
    A ``provisional`` month still has open cases accepted in it (or is the as-of month):
    its numbers can change, and the chart draws it hollow and dashed, labelled ``provisional_label``."""

    title: str
    table: Table
    months: list[str]
    provisional: list[bool]
    lines: list[Line]
    provisional_label: str     # 未结
    provisional_legend: str    # what a hollow point means
    y_title: str


TREND_COLUMNS = [  # key in monitor.monthly's table, format; the first two are the chart's lines
    ("on_time_rate", "pct"), ("at_most_once_rate", "pct"), ("decided", "int"), ("open_late", "int"),
    ("accepted", "int"), ("open", "int")]


def monthly_trend(month: pd.DataFrame, t) -> Trend | None:
    """The trend of :func:`procmine.analysis.monitor.monthly`'s table (None without months):
    按时办结率 by month of 办结 (open cases past their limit counted late) and 最多跑一次率 by
    month of 受理, each month's counts beside."""
    if month is None or month.empty:
        return None
    label = t("trend.provisional")
    rows, months, provisional = [], [], []
    for rec in month.to_dict(orient="records"):
        p = bool(rec["provisional"])
        months.append(str(rec["month"]))
        provisional.append(p)
        rows.append([f"{rec['month']}（{label}）" if p and t.lang == "zh" else
                     f"{rec['month']} ({label})" if p else str(rec["month"])]
                    + [_v(rec.get(k)) for k, _ in TREND_COLUMNS])
    table = Table(t("sheet.trend"), [t("trend.col.month")] + [t(f"trend.col.{k}") for k, _ in TREND_COLUMNS], rows,
                  ["text"] + [f for _, f in TREND_COLUMNS], note=t("trend.note", provisional=label))
    lines = []
    for i, (key, _) in enumerate(TREND_COLUMNS[:2], start=1):
        values = [row[i] for row in rows]
        if any(v is not None for v in values):
            name = t(f"trend.col.{key}")
            lines.append(Line(name, values, i, f"{name}（{label}）" if t.lang == "zh" else f"{name} ({label})"))
    return Trend(t("section.trend"), table, months, provisional, lines, label,
                 t("trend.legend", provisional=label), t("trend.y"))


def _v(x):
    if x is None or x is pd.NA or x is pd.NaT or (isinstance(x, float) and x != x):
        return None
    if isinstance(x, pd.Timestamp):
        return x.tz_convert("Asia/Shanghai").tz_localize(None) if x.tzinfo else x
    return x.item() if hasattr(x, "item") else x


def supervision(log: pd.DataFrame, m: Measured, rules, t, mask, ind: dict | None = None) -> Section:
    """Red and yellow cards and the indicators (``ind``: :func:`procmine.analysis.monitor.indicators`'
    result for this measurement, reused when given)."""
    from ..analysis.monitor import INDICATORS, indicators, monitor

    r = monitor(log, rules, measured=m)
    a = r.alerts.head(200)
    rows = [[t.value(x.level), mask.ids([str(x.case_id)])[0], x.service, _v(x.department), _v(x.resource),
             _v(x.activity), _v(x.accept_time), _v(x.clock_days), _v(x.sla_days), _v(x.days_over), _v(x.days_left)]
            for x in a.itertuples(index=False)]
    cols = ["level", "case_id", "service", "department", "resource", "activity", "accept_time", "clock_days",
            "sla_days", "days_over", "days_left"]
    alerts = Table(t("sheet.supervision"), [t(f"sv.col.{c}") for c in cols], rows,
                   ["text", "text", "text", "text", "text", "text", "date", "days", "days", "days", "days"],
                   note=t("sv.alerts_note", as_of=f"{r.as_of:%Y-%m-%d}", red=r.red, yellow=r.yellow,
                          steps=r.steps_over, warn=t.num(rules.warn_days)), wrap=[2, 5])
    ind = ind if ind is not None else indicators(log, rules, measured=m)
    keys = [k for k, _, _ in INDICATORS]
    fmts = {"open_overdue": "int", "average_visits": "float"}
    irows = []
    for by in ("service", "department"):
        for rec in ind[by].to_dict(orient="records"):
            irows.append([t(f"sv.by.{by}"), rec[by], rec["cases"]] + [_v(rec.get(k)) for k in keys])
    indicators_table = Table(t("sheet.indicators"), [t("sv.col.by"), t("sv.col.group"), t("sv.col.cases")]
                             + [t(f"ind.{k}") for k in keys], irows,
                             ["text", "text", "int"] + [fmts.get(k, "pct") for k in keys],
                             note=t("sv.indicators_note"), wrap=[1])
    return Section("supervision", t("section.supervision"), [alerts, indicators_table])


def _drivers_table(drivers: list, t):
    """The audit's rating drivers (差评成因), each with its interval and how to read it: a
    possible cause, a pattern the opposite of a cause, or the same cases as another factor."""
    rows = []
    for f in drivers:
        d = f.details or {}
        ci = d.get("ci") or [None, None]
        reading = ("paradox" if d.get("paradoxical") else "same_groups" if d.get("same_groups_as") else "driver")
        rows.append([t(f"rt.factor.{d.get('factor')}"), t.value(d.get("high")), d.get("high_rate"),
                     t.value(d.get("low")), d.get("low_rate"), float(f.impact),
                     None if ci[0] is None else ci[0] * 100, None if ci[1] is None else ci[1] * 100,
                     t(f"rt.reading.{reading}", other=t(f"rt.factor.{d.get('same_groups_as')}")
                       if d.get("same_groups_as") else "")])
    cols = ["factor", "high", "high_rate", "low", "low_rate", "points", "points_low", "points_high", "reading"]
    return Table(t("sheet.rating_drivers"), [t(f"rt.col.{c}") for c in cols], rows,
                 ["text", "text", "pct", "text", "pct", "float", "float", "float", "text"],
                 note=t("rt.drivers_note"), wrap=[8], widths={8: 40})


def ratings(log: pd.DataFrame, m: Measured, rules, t, mask, drivers: list | None = None) -> Section:
    from ..analysis.ratings import analyse_ratings

    r = analyse_ratings(log, rules, measured=m)
    if r is None:
        return Section("ratings", t("section.ratings"), [], t("rt.none"))
    from ..analysis.ratings import paradoxical

    same_as = getattr(r, "same_as", None) or {}
    reading: dict[str, str] = {}  # per factor, said once (on its first row)
    if len(r.factors):
        for factor, g in r.factors.groupby("factor", sort=False):
            parts = []
            if factor in same_as:
                parts.append(t("rt.reading.same_groups", other=t(f"rt.factor.{same_as[factor]}")))
            if len(g) >= 2:
                order = g.sort_values(["bad_rate", "group"], ascending=[False, True])
                hi, lo = str(order["group"].iloc[0]), str(order["group"].iloc[-1])
                if paradoxical(str(factor), hi, lo):
                    parts.append(t("rt.reading.opposite", high=t.value(hi), low=t.value(lo)))
            reading[str(factor)] = "；".join(parts) if t.lang == "zh" else "; ".join(parts)
    frows, said = [], set()
    for x in r.factors.itertuples(index=False):
        first = x.factor not in said
        said.add(x.factor)
        frows.append([t(f"rt.factor.{x.factor}"), t.value(x.group), x.cases, x.bad, x.bad_rate, x.ci_low, x.ci_high,
                      (reading.get(str(x.factor)) or None) if first else None])
    factors = Table(t("sheet.ratings"), [t(f"rt.col.{c}") for c in ("factor", "group", "cases", "bad", "bad_rate",
                                                                     "ci_low", "ci_high", "reading")], frows,
                    ["text", "text", "int", "int", "pct", "pct", "pct", "text"], wrap=[7], widths={7: 40},
                    note=t("rt.note", rated=r.rated, unrated=r.unrated,
                           good="—" if r.good_rate is None else f"{r.good_rate:.1%}",
                           bad="—" if r.bad_rate is None else f"{r.bad_rate:.1%}"))
    drows = [[x.department, x.bad, x.rectified, x.rectified_rate, x.on_time, x.on_time_rate]
             for x in r.by_department.itertuples(index=False)]
    late = [[mask.ids([str(x.case_id)])[0], x.service, x.department, _v(x.rating_time), _v(x.days_since_rating)]
            for x in r.not_rectified.head(100).itertuples(index=False)]
    rect = Table(t("sheet.rectification"), [t(f"rt.col.{c}") for c in ("department", "bad", "rectified",
                                                                       "rectified_rate", "on_time", "on_time_rate")],
                 drows, ["text", "int", "int", "pct", "int", "pct"],
                 note=t("rt.rect_note", days=t.num(r.rectify_days), open=len(r.not_rectified),
                        late=len(r.rectified_late)))
    open_ = Table(t("sheet.not_rectified"), [t(f"rt.col.{c}") for c in ("case_id", "service", "department",
                                                                        "rating_time", "days_since")],
                  late, ["text", "text", "text", "date", "days"])
    tables = ([_drivers_table(drivers, t)] if drivers else []) + [factors, rect, open_]
    return Section("ratings", t("section.ratings"), tables)


def bundles(log: pd.DataFrame, m: Measured, rules, t, mask) -> Section:
    from ..analysis.bundles import applicant_key, bundle_instances, load_bundles

    if applicant_key(log) is None:
        return Section("bundles", t("section.bundles"), [], t("bd.none"))
    declared = rules.bundles.get("declared")
    r = bundle_instances(log, load_bundles(declared) if declared else [], rules, measured=m)
    rows = []
    promises = ["一次告知", "一表申请", "一套材料", "一窗受理", "一网办理"]
    if len(r.instances):
        for name, g in r.instances.groupby("bundle", sort=True):
            row = [name, len(g), float(g["intakes"].mean()),
                   None if g["trips"].isna().any() else float(g["trips"].astype(float).mean()),
                   int(g["repeated_documents"].sum()),
                   None if g["working_days"].isna().all() else float(g["working_days"].astype(float).median())]
            for p in promises:
                vals = g[p].dropna()
                row.append(None if vals.empty else float(vals.astype(bool).mean()))
            rows.append(row)
    inst = Table(t("sheet.bundles"), [t(f"bd.col.{c}") for c in ("bundle", "instances", "intakes", "trips",
                                                                 "repeated", "working_days")]
                 + [t(f"bd.promise.{i}") for i in range(5)], rows,
                 ["text", "int", "float", "float", "int", "days"] + ["pct"] * 5, note=t("bd.note"))
    crows = [[c.services, c.applicants, _v(c.trips), _v(c.extra_trips), c.repeated_documents]
             for c in r.candidates.itertuples(index=False)]
    cand = Table(t("sheet.bundle_candidates"), [t(f"bd.col.{c}") for c in ("services", "applicants", "trips",
                                                                           "extra_trips", "repeated")],
                 crows, ["text", "int", "int", "int", "int"], wrap=[0],
                 note=t("bd.cand_note", window=t.num(rules.bundles.get("window_days", 30)),
                        min=t.num(rules.bundles.get("min_applicants", 5))))
    return Section("bundles", t("section.bundles"), [inst, cand])


def build_sections(log: pd.DataFrame, m: Measured, rules, t, mask, drivers: list | None = None,
                   ind: dict | None = None) -> list[Section]:
    """督办 (its indicators ``ind`` when given), 好差评 (with the audit's rating drivers, ``drivers``) and 一件事."""
    return [supervision(log, m, rules, t, mask, ind), ratings(log, m, rules, t, mask, drivers),
            bundles(log, m, rules, t, mask)]
