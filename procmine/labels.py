"""Readable step names for logs whose activity column holds codes.

Some exports (BPIC15: ``01_HOOFD_010`` beside ``event_activityNameEN`` =
"register submission date request") carry the step's name in another column.
:func:`label_columns` finds such columns; :func:`apply_labels` gives a copy of
the log whose ``activity`` shows the names, so a report reads in words while the
stored log keeps its codes.
"""

from __future__ import annotations

import re

import pandas as pd

from .errors import UsageError

# columns of the canonical log that are never names of steps
_SKIP = {"case_id", "service", "activity", "department", "resource", "channel", "source_file", "source_sheet",
         "status", "applicant", "applicant_id"}
_CODE = re.compile(r"^[\W_]*[A-Za-z]{0,6}[\W_]*\d[\w.\-/]*$")


def _looks_like_code(text: str) -> bool:
    t = str(text).strip()
    return bool(_CODE.match(t)) and " " not in t


def _looks_like_words(text: str) -> bool:
    t = str(text).strip()
    if not t or _looks_like_code(t):
        return False
    cjk = sum(1 for ch in t if "\u4e00" <= ch <= "\u9fff")
    letters = sum(1 for ch in t if ch.isalpha())
    return cjk >= 2 or (letters >= 4 and (" " in t or letters >= 0.7 * len(t)))


def label_columns(log: pd.DataFrame, *, min_consistency: float = 0.95) -> list[dict]:
    """Columns that name the activity codes: one name per code (for ``min_consistency``
    of the events), names that look like words, codes that look like codes.

    Returns ``[{"column", "codes", "named", "examples": [(code, name), …]}]``, best first.
    """
    if "activity" not in log or log.empty:
        return []
    acts = log["activity"].dropna().astype(str)
    codes = acts.unique()
    if len(codes) == 0 or sum(_looks_like_code(c) for c in codes) < 0.6 * len(codes):
        return []
    out = []
    for col in log.columns:
        if col in _SKIP or not (pd.api.types.is_string_dtype(log[col]) or log[col].dtype == object):
            continue
        pairs = log[["activity", col]].dropna()
        if pairs.empty:
            continue
        pairs = pairs.astype(str)
        if pairs[col].map(lambda v: v.startswith("[")).mean() > 0.5:  # lists, not names
            continue
        per_code = pairs.groupby("activity")[col].nunique()
        top = pairs.groupby(["activity", col]).size().groupby(level=0).max()
        consistent = float(top.sum() / len(pairs))  # events whose name is their code's usual name
        names = pairs[col].unique()
        if consistent < min_consistency or len(per_code) < 0.8 * len(codes) or len(names) < 2:
            continue
        if sum(_looks_like_words(n) for n in names) < 0.8 * len(names):
            continue
        mapping = pairs.drop_duplicates("activity").set_index("activity")[col]
        out.append({"column": col, "codes": int(len(codes)), "named": int(len(per_code)),
                    "examples": [(str(k), str(v)) for k, v in mapping.sort_index().head(3).items()]})
    return sorted(out, key=lambda d: (-d["named"], d["column"]))


def label_map(log: pd.DataFrame, column: str) -> dict[str, str]:
    """code → readable name; a name shared by several codes keeps its code in brackets."""
    if column not in log.columns:
        raise UsageError(f"the log has no column {column!r} for step names",
                         hint="see the import summary for columns that name the steps")
    pairs = log[["activity", column]].dropna().astype(str)
    mapping = pairs.groupby("activity")[column].agg(lambda s: s.value_counts().index[0])
    shared = mapping.map(mapping.value_counts()) > 1
    return {code: (f"{name} [{code}]" if shared[code] else name) for code, name in mapping.items()}


def apply_labels(log: pd.DataFrame, column: str | None) -> pd.DataFrame:
    """A copy of the log showing names in ``activity`` (codes without a name stay)."""
    if not column:
        return log
    mapping = label_map(log, column)
    out = log.copy()
    act = out["activity"].astype("string")
    out["activity"] = act.map(lambda a: mapping.get(a, a) if a is not pd.NA else a).astype("string")
    return out


def import_hint(log: pd.DataFrame) -> list[str]:
    """Lines for the import summary: which column names the step codes and how to use it."""
    lines = []
    for c in label_columns(log)[:2]:
        ex = "; ".join(f"{k} = {v}" for k, v in c["examples"][:2])
        lines.append(f"step codes have names in column {c['column']!r} ({c['named']}/{c['codes']} codes; {ex}): "
                     f"show them with `procmine report|discover … --activity-label {c['column']}` (the log keeps "
                     f"the codes), or store names instead of codes with the mapping line "
                     f"`fields: {{activity: {c['column']}}}` (procmine import --mapping FILE)")
    return lines
