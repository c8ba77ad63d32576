"""Text renderers for the CLI: they format results, they compute nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .importer import ImportResult


def _finish(lines: list[str], notes: list[str], output) -> str:
    """Notes, then the file written, then the text."""
    lines = lines + [f"note: {n}" for n in notes] + ([f"wrote {output}"] if output else [])
    return "\n".join(lines)


def import_summary(result: ImportResult, output: Path | None, rejects_path: Path | None) -> str:
    lines = []
    head = f"{'file':<28} {'sheet':<14} {'layout':<6} {'read':>8} {'events':>8} {'dup':>6} {'rejected':>8}"
    lines.append(head)
    lines.append("-" * len(head))
    for s in result.sheets:
        lines.append(f"{s.file[:28]:<28} {(s.sheet or '-')[:14]:<14} {s.layout:<6} {s.rows_read:>8} "
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
    from .labels import import_hint
    lines.extend(import_hint(result.log) if getattr(result, "log", None) is not None else [])
    return _finish(lines, result.notes, output)


def cases_summary(table: pd.DataFrame, output: Path) -> str:
    lines = [f"{len(table)} cases, {table['service'].nunique()} services"]
    for service, g in table.groupby("service", sort=True):
        lines.append(f"  {service}: {len(g)} cases, visits ≤1: {(g['visits'] <= 1).mean():.1%}, "
                     f"median working days {g['working_days'].median():g}")
    lines.append(f"wrote {output}")
    return "\n".join(lines)


def audit_summary(result, output: Path | None, top: int) -> str:
    lines = []
    for service, m in result.metrics.items():
        trips = ("跑零次率 —, 最多跑一次率 — (trips unknown)" if m.get("at_most_once_rate") is None else
                 f"跑零次率 {m['zero_trip_rate']:.1%}, 最多跑一次率 {m['at_most_once_rate']:.1%}, "
                 f"平均跑动 {m['average_visits']:.2f}")
        over = "" if m.get("over_sla_share") is None else f", 超时限 {m['over_sla_share']:.1%}"
        lines.append(f"{service}: {m['cases']} 件, {trips}, 中位 {m['median_working_days']} 个工作日{over}")
    lines.append("")
    lines.append(f"{len(result.findings)} findings; top {min(top, len(result.findings))} by impact:")
    for i, f in enumerate(result.findings[:top], 1):
        value = f"{f.impact:,.0f}" if f.impact >= 10 else f"{f.impact:g}"
        lines.append(f"{i:>3}. [{f.severity:<6}] {f.kind:<18} {value:>10} {f.unit:<12} {f.summary}")
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
    width = max(len(k) for k in files)
    for label, path in files.items():
        lines.append(f"  {label:<{width}}  {path}")
    lines.append("open the HTML report in a browser, or the workbook in Excel/WPS.")
    return "\n".join(lines)


def redesign_summary(result, output) -> str:
    lines = [f"{result.plan}: 四减 (mean per case, before → after)"]
    for r in result.table.itertuples(index=False):
        pct = "" if r.change_pct is None or r.change_pct != r.change_pct else f" ({r.change_pct:+.1%})"
        lines.append(f"  {r.service:<10} {r.measure:<14} {r.before:>9.3f} → {r.after:>9.3f}  {r.change:+.3f}{pct}")
    lines.append(f"{len(result.still_failing)} cases would still miss 最多跑一次 or their time limit")
    for r in result.still_failing.head(3).itertuples(index=False):
        lines.append(f"  {r.case_id}: {r.reasons}")
    if output:
        lines.append(f"wrote {output}")
    return "\n".join(lines)


def compare_summary(result, output) -> str:
    lines = ["change (after − before) with 95% bootstrap interval; * = the interval excludes 0"]
    for r in result.table.itertuples(index=False):
        if r.change is None or r.change != r.change:
            lines.append(f"  {r.service:<10} {r.metric:<12} (no cases in one period)")
            continue
        star = "*" if r.significant else " "
        lines.append(f"{star} {r.service:<10} {r.metric:<12} {r.before:8.3f} → {r.after:8.3f}  {r.change:+.3f}  "
                     f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}]")
    if output:
        lines.append(f"wrote {output}")
    return "\n".join(lines)
