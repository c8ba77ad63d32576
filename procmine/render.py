"""Text renderers for the CLI: they format results, they compute nothing."""

from __future__ import annotations

from pathlib import Path

from .importer import ImportResult


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
    for note in result.notes:
        lines.append(f"note: {note}")
    if output:
        lines.append(f"wrote {output}")
    return "\n".join(lines)
