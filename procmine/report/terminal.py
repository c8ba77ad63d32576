"""Text renderers for the CLI: they format results, they compute nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.cells import cell_len, set_cell_size

from ..sources.convert import ImportResult


def cell(value, width: int, align: str = "<") -> str:
    """``value`` as text exactly ``width`` terminal columns wide (East Asian wide
    characters count two), cut when longer, padded on the right (``<``) or left (``>``)."""
    text = str(value)
    if cell_len(text) > width:
        return set_cell_size(text, width)
    pad = " " * (width - cell_len(text))
    return text + pad if align == "<" else pad + text


def _finish(lines: list[str], notes: list[str], output) -> str:
    """Notes, then the file written, then the text."""
    lines = lines + [f"note: {n}" for n in notes] + ([f"wrote {output}"] if output else [])
    return "\n".join(lines)


class Progress:
    """Progress callback on stderr, once the work has taken a few seconds and then every
    few seconds (nothing for quick runs): ``progress(1_200_000)`` says "… 1,200,000 rows
    read (8 s)" for ``Progress("rows read")``; ``progress("per-case clock")`` says
    "… engine: per-case clock (14 s)" for ``Progress("engine")`` (a step's name)."""

    def __init__(self, what: str, *, after: float = 3.0, every: float = 5.0) -> None:
        import time

        self.what, self.after, self.every = what, after, every
        self.start = time.monotonic()
        self.last = self.start

    def __call__(self, done: int | str) -> None:
        import time

        import click

        now = time.monotonic()
        if now - self.start >= self.after and now - self.last >= self.every:
            self.last = now
            text = f"{done:,} {self.what}" if isinstance(done, int) else f"{self.what}: {done}"
            click.echo(f"… {text} ({now - self.start:.0f} s)", err=True)


def import_summary(result: ImportResult, output: Path | None, rejects_path: Path | None) -> str:
    lines = []
    head = f"{'file':<28} {'sheet':<14} {'layout':<6} {'read':>8} {'events':>8} {'dup':>6} {'rejected':>8}"
    lines.append(head)
    lines.append("-" * len(head))
    for s in result.sheets:
        lines.append(f"{cell(s.file, 28)} {cell(s.sheet or '-', 14)} {s.layout:<6} {s.rows_read:>8} "
                     f"{s.events:>8} {s.duplicates:>6} {s.rejected:>8}")
    lines.append("-" * len(head))
    total_rej = len(result.rejects)
    lines.append(f"{'total':<28} {'':<14} {'':<6} {result.rows_read:>8} {result.events:>8} "
                 f"{result.duplicates:>6} {total_rej:>8}")
    used = sum(s.rows_used for s in result.sheets)
    lines.append(f"rows read {result.rows_read} = used {used} + duplicates {result.duplicates} "
                 f"+ rejected {total_rej}; {result.cases} cases, {result.events} events")
    for s in result.sheets:
        lines.append(f"  {s.file} [{s.sheet or '-'}] {s.mapping}; service from {s.service_from}")
    if total_rej:
        reasons = result.rejects["reason"].str.replace(r"'[^']*'", "'…'", regex=True).value_counts().head(5)
        lines.append("rejected rows, most common reasons:")
        lines.extend(f"  {n:>6} × {r}" for r, n in reasons.items())
        if rejects_path:
            lines.append(f"every rejected row (file, sheet, row, reason): {rejects_path}")
    partitions = getattr(result, "partitions", None)
    if partitions:
        lines.append(f"partitioned dataset: {len(partitions)} partitions (service=…/month=…)")
    from ..labels import import_hint
    lines.extend(import_hint(result.log) if getattr(result, "log", None) is not None else [])
    return _finish(lines, result.notes, output)


def append_summary(result, rejects_path: Path | None) -> str:
    """``procmine import … --append``: what the append did to the dataset (procmine.sources.append.AppendResult)."""
    lines = [f"{'file':<28} {'sheet':<14} {'exported':<19} {'read':>8} {'dup':>6} {'rejected':>8}"]
    lines.append("-" * len(lines[0]))
    when = {(e["file"], e["sheet"]): e["export_time"] for e in result.exports}
    for s in result.sheets:
        t = when.get((s.file, s.sheet))
        lines.append(f"{s.file[:28]:<28} {(s.sheet or '-')[:14]:<14} {(t[:16].replace('T', ' ') if t else '-'):<19} "
                     f"{s.rows_read:>8} {s.duplicates:>6} {s.rejected:>8}")
    lines.append("-" * len(lines[0]))
    dup = f" (of them {result.duplicates} repeated within these exports)" if result.duplicates else ""
    lines.append(f"rows read {result.rows_read} = {result.new} new + {result.updated} updated + "
                 f"{result.present} already present{dup} + {result.rejected} rejected")
    lines.append(f"cases: {result.cases_new} new, {result.cases_updated} updated; the dataset has "
                 f"{result.events} events of {result.cases} cases")
    lines.append(("created the dataset, version " if result.created else "appended as version ") + str(result.version)
                 + " (read an earlier one with procmine.read_log(path, version=N))")
    if result.rejected:
        reasons = result.rejects["reason"].str.replace(r"'[^']*'", "'…'", regex=True).value_counts().head(5)
        lines.append("rejected rows, most common reasons:")
        lines.extend(f"  {n:>6} × {r}" for r, n in reasons.items())
        if rejects_path:
            lines.append(f"every rejected row (file, sheet, row, reason): {rejects_path}")
    return _finish(lines, result.notes, result.path)


def import_line(result: ImportResult, source: Path) -> str:
    """One export read in place of a canonical log: its row accounting, and how to keep the rejects."""
    used = sum(s.rows_used for s in result.sheets)
    line = (f"imported {source.name}: rows read {result.rows_read} = used {used} + duplicates {result.duplicates} "
            f"+ rejected {len(result.rejects)}; {result.cases} cases, {result.events} events")
    if len(result.rejects):
        line += (f"\n  {len(result.rejects)} rows were set aside; `procmine import {source.name} -o log.parquet` "
                 "writes them to log.rejects.csv (file, sheet, row, reason)")
    return line


def tables_list(infos, chosen: list[str], why: str | None) -> str:
    """A database's tables, the role each one's columns give it, and what an import without --table reads."""
    width = max([cell_len("table")] + [cell_len(i.name) for i in infos])
    key_width = max([cell_len("key")] + [cell_len(i.key or "-") for i in infos])
    lines = [f"{cell('table', width)}  {cell('role', 8)}  {cell('key', key_width)}  columns"]
    for i in infos:
        cols = ", ".join(i.columns[:8]) + (f" … ({len(i.columns)})" if len(i.columns) > 8 else "")
        lines.append(f"{cell(i.name, width)}  {cell(i.role or '-', 8)}  {cell(i.key or '-', key_width)}  {cols}")
    if chosen:
        lines.append(f"import without --table reads: {', '.join(chosen)}")
    else:
        lines.append(f"import needs --table NAME: {why}")
    return "\n".join(lines)


def cases_summary(table: pd.DataFrame, output: Path) -> str:
    lines = [f"{len(table)} cases, {table['service'].nunique()} services"]
    for service, g in table.groupby("service", sort=True):
        v = g["visits"].dropna()
        trips = f"visits ≤1: {(v <= 1).mean():.1%}" if len(v) else "visits unknown"
        clock = g.loc[g["status"] == "办结", "clock_days"].dropna()
        outcomes = ", ".join(f"{k} {n}" for k, n in g["outcome"].value_counts().sort_index().items())
        lines.append(f"  {service}: {len(g)} cases, {trips}, median clock "
                     f"{(f'{clock.median():g} working days' if len(clock) else '—')}; {outcomes}")
    lines.append(f"wrote {output}")
    return "\n".join(lines)


def audit_summary(result, output: Path | None, top: int, lang: str = "zh") -> str:
    """The audit on the terminal: one line per service, then the top findings, in ``lang``."""
    if lang != "zh":
        return _audit_summary_in(result, output, top, lang)
    lines = []
    for service, m in result.metrics.items():
        trips = ("跑零次率 —, 最多跑一次率 — (trips unknown)" if m.get("at_most_once_rate") is None else
                 f"跑零次率 {m['zero_trip_rate']:.1%}, 最多跑一次率 {m['at_most_once_rate']:.1%}, "
                 f"平均跑动 {m['average_visits']:.2f}")
        on_time = "" if m.get("on_time_rate") is None else f", 按时办结率 {m['on_time_rate']:.1%}"
        open_ = f", 在办 {m['open_cases']} (超期在办 {m['open_overdue']})" if m.get("open_cases") else ""
        clock = "—" if m.get("median_clock_days") is None else m["median_clock_days"]
        lines.append(f"{service}: {m['cases']} 件, {trips}, 中位 {clock} 个工作日{on_time}{open_}")
    lines.append("")
    lines.append(f"{len(result.findings)} findings; top {min(top, len(result.findings))} by impact:")
    for i, f in enumerate(result.findings[:top], 1):
        value = f"{f.impact:,.0f}" if f.impact >= 10 else f"{f.impact:g}"
        lines.append(f"{i:>3}. [{cell(f.severity, 6)}] {cell(f.kind, 18)} {value:>10} {cell(f.unit, 12)} {f.summary}")
    lines.extend(f"skipped {s['kind']}: {s['reason']}" for s in result.skipped)
    return _finish(lines, result.notes, output)


def _audit_summary_in(result, output: Path | None, top: int, lang: str) -> str:
    from ..analysis.kinds import say  # the shipped messages and the finding kinds'

    def label(key: str) -> str:
        return say(f"report.m.{key}", lang)

    lines = []
    for service, m in result.metrics.items():
        parts = [f"{m['cases']} {label('cases').lower()}"]
        if m.get("at_most_once_rate") is None:
            parts.append(f"{label('at_most_once_rate')} — (trips unknown)")
        else:
            parts += [f"{label('zero_trip_rate')} {m['zero_trip_rate']:.1%}",
                      f"{label('at_most_once_rate')} {m['at_most_once_rate']:.1%}",
                      f"{label('average_visits')} {m['average_visits']:.2f}"]
        clock = "—" if m.get("median_clock_days") is None else m["median_clock_days"]
        parts.append(f"{label('median_clock_days')} {clock}")
        if m.get("on_time_rate") is not None:
            parts.append(f"{label('on_time_rate')} {m['on_time_rate']:.1%}")
        if m.get("open_cases"):
            parts.append(f"open {m['open_cases']} ({label('open_overdue')} {m['open_overdue']})")
        lines.append(f"{service}: " + ", ".join(parts))
    lines.append("")
    lines.append(f"{len(result.findings)} findings; top {min(top, len(result.findings))} by impact:")
    for i, f in enumerate(result.findings[:top], 1):
        value = f"{f.impact:,.0f}" if f.impact >= 10 else f"{f.impact:g}"
        lines.append(f"{i:>3}. [{cell(f.severity, 6)}] {cell(say('kind.' + f.kind, lang), 32)} {value:>10} "
                     f"{cell(f.unit, 12)} {f.text(lang)}")
    lines.extend(f"skipped {s['kind']}: {s['reason']}" for s in result.skipped)
    return _finish(lines, result.notes, output)


def map_summary(pm, output: Path) -> str:
    h = pm.hidden or {}
    return (f"{pm.view} map: {len(pm.nodes)} nodes, {len(pm.edges)} edges, {pm.cases} cases"
            + (f"; hidden {h.get('nodes', 0)} nodes, {h.get('edges', 0)} edges ({h.get('edge_share', 0):.1%} of transitions)"
               if h else "") + f"\nwrote {output}")


def variants_table(table: pd.DataFrame, top: int) -> str:
    lines = [f"{len(table)} variants, {int(table['cases'].sum())} cases"]
    for i, r in enumerate(table.head(top).itertuples(), 1):
        lines.append(f"{i:>3}. {int(r.cases):>6} cases {r.share:6.1%}  median {r.median_lead_hours:8.1f} h  "
                     f"{r.variant_text}")
    return "\n".join(lines)


def conformance_summary(result) -> str:
    lines = [f"{result.reference}: {result.fitting}/{result.cases} cases fit "
             f"({result.fitting / max(result.cases, 1):.1%})"]
    for r in result.deviations.itertuples(index=False):
        lines.append(f"  {int(r.cases):>6} cases {r.share:6.1%}  {r.deviation}   e.g. {', '.join(r.examples[:3])}")
    return "\n".join(lines)


def demo_summary(files: dict) -> str:
    lines = ["procmine demo wrote:"]
    width = max(cell_len(str(k)) for k in files)
    for label, path in files.items():
        lines.append(f"  {cell(label, width)}  {path}")
    lines.append("open the HTML report in a browser, or the workbook in Excel/WPS.")
    return "\n".join(lines)


def redesign_summary(result, output) -> str:
    lines = [f"{result.plan}: 四减 (mean per case, before → after)"]
    for r in result.table.itertuples(index=False):
        pct = "" if r.change_pct is None or r.change_pct != r.change_pct else f" ({r.change_pct:+.1%})"
        lines.append(f"  {cell(r.service, 16)} {cell(r.measure, 22)} {r.before:>9.3f} → {r.after:>9.3f}  "
                     f"{r.change:+.3f}{pct}")
    lines.append(f"{len(result.still_failing)} cases would still miss 最多跑一次 or their time limit")
    for r in result.still_failing.head(3).itertuples(index=False):
        lines.append(f"  {r.case_id}: {r.reasons}")
    if output:
        lines.append(f"wrote {output}")
    return "\n".join(lines)


def compare_summary(result, output) -> str:
    names = list(result.periods)
    lines = [f"change ({names[1]} − {names[0]}) with 95% bootstrap interval; * = the interval excludes 0"]
    for name, p in result.periods.items():
        mark = " (provisional: cases still open, its numbers can change)" if p.get("provisional") else ""
        if "from" in p:
            lines.append(f"  {name} ({p['from']} to {p['to']}): {p['accepted']} accepted, {p['decided']} decided "
                         f"with a limit, {p['open_late']} open past their limit (late), {p['open']} of its "
                         f"accepted still open{mark}")
        else:
            lines.append(f"  {name}: {p['cases']} cases, {p.get('open', 0)} still open{mark}")
    if result.basis:
        lines.append("  counted: on-time rate and clock by the day of 办结 (open cases past their limit as late, "
                     "in the period their limit passed); trips and documents by the day of 受理")
    else:
        lines.append("  open cases past their limit count as late in the on-time rate; open ones within it are left out")
    for r in result.table.itertuples(index=False):
        if r.change is None or r.change != r.change:
            unknown = r.cases_before and r.cases_after  # cases in both, but no value: the log cannot tell
            lines.append(f"  {cell(r.service, 16)} {cell(r.metric, 16)} "
                         f"{'(not known: the log cannot tell for this service)' if unknown else '(no cases in one period)'}")
            continue
        star = "*" if r.significant else " "
        lines.append(f"{star} {cell(r.service, 16)} {cell(r.metric, 16)} {r.before:8.3f} → {r.after:8.3f}  {r.change:+.3f}  "
                     f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}]")
    if output:
        lines.append(f"wrote {output}")
    return "\n".join(lines)


def monitor_summary(result, alerts, output) -> str:
    lines = [f"as of {result.as_of:%Y-%m-%d}: {result.red} red (超期在办), {result.yellow} yellow (临期), "
             f"{result.steps_over} steps over their own limit"]
    def text(v) -> str:
        return "-" if v is None or v is pd.NA or v != v else str(v)

    for r in alerts.head(15).itertuples(index=False):
        over = r.days_over is not None and r.days_over is not pd.NA and r.days_over == r.days_over
        when = f"{r.days_over:g} days over" if over else f"{r.days_left:g} days left"
        lines.append(f"  {r.level} {r.case_id} {text(r.service)} [{text(r.department)} / {text(r.resource)}] "
                     f"{text(r.activity)}: {when}")
    if len(alerts) > 15:
        lines.append(f"  … {len(alerts) - 15} more")
    return _finish(lines, result.notes, output)


def card_history_summary(history) -> str:
    """``procmine monitor --history``: the card history as of the run (procmine.analysis.cards.CardHistory)."""
    def show(frame, what) -> list[str]:
        out = []
        for r in frame.head(15).to_dict(orient="records"):
            dept = r.get("department")
            dept = "-" if dept is None or dept != dept else dept
            out.append(f"    {r['case_id']} [{dept}] " + ", ".join(what(r)))
        if len(frame) > 15:
            out.append(f"    … {len(frame) - 15} more")
        return out

    h = history
    lines = [f"card history as of {h.as_of} ({h.runs} runs recorded; previous run {h.previous or '—'}):"]
    lines.append(f"  new cards: {len(h.new)}")
    lines += show(h.new, lambda r: [r["level"]])
    lines.append(f"  escalated (yellow → red): {len(h.escalated)}")
    lines += show(h.escalated, lambda r: [f"carded since {r['raised']}"])
    lines.append(f"  red for at least {h.long_days} working days: {len(h.long_open)}")
    lines += show(h.long_open, lambda r: [f"red since {r['red_since']} ({r['red_days']:g} working days)"])
    lines.append(f"  closed: {len(h.closed)}")
    lines += show(h.closed, lambda r: [f"{r['level']}, carded since {r['raised']}", str(r["reason"])]
                  + ([f"{r['card_days']:g} working days to decision"] if r["card_days"] == r["card_days"] else []))
    if len(h.by_department):
        lines.append("  working days from card to decision, by holding department (median, decided cards):")
        for r in h.by_department.to_dict(orient="records"):
            lines.append(f"    {r['department']}: {r['median_days']:g} ({r['cards']} cards)")
    return "\n".join(lines)


def indicators_summary(tables, output) -> str:
    t = tables["service"]
    lines = [f"{len(t)} services, {len(tables['department'])} departments"]
    for r in t.to_dict(orient="records"):
        def pct(k):
            v = r.get(k)
            return "—" if v is None or v != v else f"{v:.1%}"
        lines.append(f"  {r['service']}: 按时办结率 {pct('on_time_rate')}, 超期在办 {r.get('open_overdue')}, "
                     f"最多跑一次率 {pct('at_most_once_rate')}, 全程网办率 {pct('fully_online_rate')}, "
                     f"好评率 {pct('good_rating_rate')}, 差评整改率 {pct('bad_rectified_rate')}")
    if "month" in tables:
        def pc(v):
            return "—" if v is None or v != v else f"{v:.1%}"
        lines.append("by month (按时办结率 by month of 办结, open cases past their limit counted late in the month "
                     "it passed; 最多跑一次率 by month of 受理):")
        for r in tables["month"].to_dict(orient="records"):
            lines.append(f"  {r['month']}{' (provisional)' if r['provisional'] else ''}: 按时办结率 "
                         f"{pc(r['on_time_rate'])} ({r['decided']} decided + {r['open_late']} open late), "
                         f"受理 {r['accepted']} (still open {r['open']}, of them overdue {r['open_overdue']}), "
                         f"最多跑一次率 {pc(r['at_most_once_rate'])}")
    notes = [f"{r.indicator}: {r.reason}" for r in tables["reasons"].itertuples(index=False)]
    return _finish(lines, notes, output)


def bundles_summary(instances, candidates, output) -> str:
    lines = [f"{len(instances)} bundle instances"]
    if len(instances):
        for b, g in instances.groupby("bundle", sort=True):
            t = g["trips"].dropna()
            lines.append(f"  {b}: {len(g)} instances, {g['intakes'].mean():.1f} separate intakes on average, "
                         + (f"{t.mean():.1f} trips, " if len(t) else "trips unknown, ")
                         + f"{int(g['repeated_documents'].sum())} documents handed over again")
    lines.append(f"{len(candidates)} candidate bundles (services the same applicants apply for together):")
    for r in candidates.head(10).itertuples(index=False):
        lines.append(f"  {r.services}: {r.applicants} applicants, {r.repeated_documents} documents handed over again"
                     + ("" if r.extra_trips is None else f", {r.extra_trips} extra trips"))
    return _finish(lines, [], output)


def ratings_summary(r, output) -> str:
    def pct(x):
        return "—" if x is None else f"{x:.1%}"
    lines = [f"{r.rated} cases rated ({r.unrated} unrated, not counted as satisfied): 好评率 {pct(r.good_rate)}, "
             f"差评率 {pct(r.bad_rate)}"]
    for d in r.drivers.itertuples(index=False):
        star = "*" if d.significant else " "
        lines.append(f"{star} {cell(d.factor, 12)} {d.high} {d.high_rate:.1%} vs {d.low} {d.low_rate:.1%} "
                     f"[{d.ci_low:+.1%}, {d.ci_high:+.1%}]")
    lines.append(f"差评 to rectify within {r.rectify_days:g} working days: {len(r.not_rectified)} not rectified, "
                 f"{len(r.rectified_late)} rectified late")
    return _finish(lines, [f"rating texts not understood: {r.unread}"] if r.unread else [], output)
