"""Plain tables out: JSON, a printable workbook, or a standalone HTML page.

For the supervision, ratings, 一件事 and indicator lists: each DataFrame becomes the
report's :class:`~procmine.report.sections.Table` and goes through the report's own
xlsx and HTML renderers. Renders only: callers pass finished tables; masking is
applied by the caller before (``procmine.privacy``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import UsageError
from ..log.eventlog import write_atomic
from .html import render_tables_html
from .sections import Table
from .xlsx import render_tables_xlsx


def _cell(v):
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.tz_convert("Asia/Shanghai").tz_localize(None).to_pydatetime() if v.tzinfo else v.to_pydatetime()
    if hasattr(v, "item"):
        return v.item()
    return v


def frame_table(name: str, frame: pd.DataFrame) -> Table:
    """A DataFrame as the report's :class:`Table`: plain values (times in 北京时间, no time
    zone), a format per column from its type, long text columns wrapped."""
    columns = [str(c) for c in frame.columns]
    formats, wrap = [], []
    for i, c in enumerate(frame.columns):
        col = frame[c]
        if pd.api.types.is_bool_dtype(col):
            formats.append("text")
        elif pd.api.types.is_datetime64_any_dtype(col):
            formats.append("date")
        elif pd.api.types.is_integer_dtype(col):
            formats.append("int")
        elif pd.api.types.is_float_dtype(col):
            formats.append("float")
        else:
            formats.append("text")
            sample = col.dropna().astype(str).head(2000)
            if len(sample) and sample.str.len().max() > 30:
                wrap.append(i)
    rows = [[_cell(v) for v in r] for r in frame.itertuples(index=False)]
    return Table(str(name), columns, rows, formats, wrap=wrap)


def write_tables(output: str | Path, title: str, tables: dict[str, pd.DataFrame], data: dict | None = None,
                 notes: list[str] | None = None) -> Path:
    """Write ``tables`` to ``output`` by its suffix: .json (``data``), or through the report's own
    renderers, .xlsx or .html — one rendering stack for every output."""
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix == ".json":
        text = json.dumps(data if data is not None else {k: t.to_dict(orient="records") for k, t in tables.items()},
                          ensure_ascii=False, indent=2, default=str) + "\n"
        return write_atomic(output, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    if suffix not in (".xlsx", ".html", ".htm"):
        raise UsageError(f"cannot write {output.name}: use .json, .xlsx or .html")
    plain = [frame_table(name, t) for name, t in tables.items()]
    if suffix == ".xlsx":
        return render_tables_xlsx(title, plain, notes or [], output)
    return render_tables_html(title, plain, notes or [], output)
