"""Vectorised parsers for the values real approval-system exports contain.

Every parser takes a pandas Series and returns a new Series (the input is never
modified) plus, where values can fail, a boolean mask of the failures so the
caller can reject or report them. Nothing here drops a value silently.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

TZ = "Asia/Shanghai"

# Excel's day 0 for serial numbers (the 1900 system, with its leap-year bug
# folded in, as every reader does).
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
# Serial numbers we accept as dates: 1960-01-01 .. 2099-12-31.
_SERIAL_MIN, _SERIAL_MAX = 21916.0, 73415.0

_FAST_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d")

_DATE_RE = (
    r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[ T]*(?P<ampm>上午|下午|AM|PM|am|pm)?[ ]*(?P<H>\d{1,2})"
    r"(?::(?P<M>\d{1,2})(?::(?P<S>\d{1,2})(?:\.(?P<f>\d{1,6}))?)?)?"
    r"[ ]*(?P<ampm2>AM|PM|am|pm)?)?$"
)

_OFFSET_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$"

_TRANS = str.maketrans({"年": "-", "月": "-", "日": " ", "号": " ", "时": ":", "点": ":", "分": ":",
                        "秒": "", "/": "-", ".": "-", "\u3000": " ", "：": ":"})


def normalize_text(values: pd.Series) -> pd.Series:
    """NFKC-normalise (full-width → half-width) and strip; empty → NA."""
    s = values.astype("string")
    s = s.map(lambda v: unicodedata.normalize("NFKC", v).strip(), na_action="ignore").astype("string")
    return s.mask(s == "")


def normalize_header(name: object) -> str:
    """A header as it is compared with the aliases: NFKC, no spaces, no '*', no '(必填)'."""
    text = unicodedata.normalize("NFKC", str(name or "")).strip()
    text = re.sub(r"[\s*＊:：]", "", text)
    text = re.sub(r"\((必填|选填|必选|可选|[a-zA-Z_]+)\)$", "", text)
    return text.lower()


def parse_times(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse a column of mixed timestamps into tz-aware Asia/Shanghai datetimes.

    Accepts real datetimes, Excel serial numbers, ``2024-03-05 14:05:00``,
    ``2024/3/5 9:12``, ``2024年3月5日 14:05``, ``2024.03.05``, ``20240305``,
    ISO 8601 with an offset (converted), Unix epoch seconds/milliseconds, and
    ``上午/下午`` hours — mixed within one column.

    Returns ``(times, failed)``: ``failed`` is True where a non-empty value could
    not be parsed (its time is NaT).

    >>> t, bad = parse_times(pd.Series(["2024/3/5 9:12", "45356.5", "x", None]))
    >>> list(bad)
    [False, False, True, False]
    """
    index = values.index
    n = len(values)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert(TZ).astype(f"datetime64[ns, {TZ}]"), pd.Series(False, index=index)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        local = values.astype("datetime64[ns]").dt.tz_localize(TZ, ambiguous="NaT", nonexistent="shift_forward")
        return local, pd.Series(False, index=index)

    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        num = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        present = ~np.isnan(num)
        text = None
    else:
        text = values.astype("string").str.strip()
        text = text.mask(text == "")
        present = text.notna().to_numpy()
        todo = present.copy()
        # The fast path: what Excel datetimes look like when read as text.
        for fmt in _FAST_FORMATS:
            if not todo.any():
                break
            where = np.flatnonzero(todo)
            parsed = pd.to_datetime(text.iloc[where], format=fmt, errors="coerce")
            ok = parsed.notna().to_numpy()
            out[where[ok]] = parsed.to_numpy(dtype="datetime64[ns]")[ok]
            todo[where[ok]] = False
        if todo.any():
            # ISO 8601 with an offset (XES/pm4py CSVs): an instant, shown in Shanghai time.
            where = np.flatnonzero(todo)
            offset = text.iloc[where].str.contains(_OFFSET_RE, regex=True, na=False).to_numpy()
            if offset.any():
                parsed = pd.to_datetime(text.iloc[where[offset]], format="ISO8601", errors="coerce", utc=True)
                ok = parsed.notna().to_numpy()
                local = parsed.dt.tz_convert(TZ).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
                out[where[offset][ok]] = local[ok]
                todo[where[offset][ok]] = False
        num = np.full(n, np.nan)
        if todo.any():
            where = np.flatnonzero(todo)
            num[where] = pd.to_numeric(text.iloc[where], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    # Numbers: Excel serials, yyyymmdd, Unix epochs.
    is_num = ~np.isnan(num) & np.isnat(out)
    if is_num.any():
        with np.errstate(invalid="ignore"):
            serial = is_num & (num >= _SERIAL_MIN) & (num <= _SERIAL_MAX)
            ymd = is_num & (num >= 19600101) & (num <= 20991231) & (num == np.floor(num))
            epoch_s = is_num & (num >= 1e9) & (num < 5e9)
            epoch_ms = is_num & (num >= 1e12) & (num < 5e12)
        if serial.any():
            secs = np.round(num[serial] * 86400).astype("int64")
            out[serial] = np.datetime64("1899-12-30T00:00:00", "ns") + secs.astype("timedelta64[s]")
        if ymd.any():
            out[ymd] = pd.to_datetime(pd.Series(num[ymd].astype("int64").astype(str)), format="%Y%m%d",
                                      errors="coerce").to_numpy(dtype="datetime64[ns]")
        for mask, unit in ((epoch_s, "s"), (epoch_ms, "ms")):
            if mask.any():
                utc = pd.to_datetime(pd.Series(num[mask]), unit=unit, utc=True)
                out[mask] = utc.dt.tz_convert(TZ).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    # Text in the other dialects.
    if text is not None:
        rest = present & np.isnat(out) & np.isnan(num)
        if rest.any():
            where = np.flatnonzero(rest)
            out[where] = _parse_dialects(text.iloc[where])
    failed = present & np.isnat(out)
    aware = pd.Series(out, index=index).dt.tz_localize(TZ, ambiguous="NaT", nonexistent="shift_forward")
    return aware, pd.Series(failed, index=index)


def _parse_dialects(text: pd.Series) -> np.ndarray:
    """Slow path for the rarer spellings; returns datetime64[ns] (NaT = failed)."""
    out = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")
    text = text.reset_index(drop=True)
    norm = text.map(lambda v: unicodedata.normalize("NFKC", v), na_action="ignore").astype("string")
    iso_tz = norm.str.contains(r"T\d.*(?:Z|[+-]\d{2}:?\d{2})$", regex=True, na=False).to_numpy()
    if iso_tz.any():
        parsed = pd.to_datetime(norm[iso_tz], format="ISO8601", errors="coerce", utc=True)
        out[iso_tz] = parsed.dt.tz_convert(TZ).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    flat = norm.str.translate(_TRANS).str.replace(r"\s+", " ", regex=True).str.strip(" -:")
    parts = flat.str.extract(_DATE_RE)
    ok = (parts["y"].notna() & ~pd.Series(iso_tz)).to_numpy()
    if ok.any():
        p = parts[ok]
        hour = pd.to_numeric(p["H"], errors="coerce").fillna(0)
        ampm = p["ampm"].fillna(p["ampm2"]).fillna("").str.lower()
        pm = ampm.isin(["下午", "pm"]) & (hour < 12)
        am12 = ampm.isin(["上午", "am"]) & (hour == 12)
        hour = hour + 12 * pm - 12 * am12
        frac = p["f"].fillna("0").str.ljust(6, "0").astype("int64")
        frame = pd.DataFrame({
            "year": p["y"].astype("int64"), "month": p["m"].astype("int64"), "day": p["d"].astype("int64"),
            "hour": hour.astype("int64"),
            "minute": pd.to_numeric(p["M"], errors="coerce").fillna(0).astype("int64"),
            "second": pd.to_numeric(p["S"], errors="coerce").fillna(0).astype("int64"),
            "microsecond": frac,
        })
        valid = (frame["month"].between(1, 12) & frame["day"].between(1, 31) & frame["hour"].between(0, 23)
                 & frame["minute"].between(0, 59) & frame["second"].between(0, 59)).to_numpy()
        vals = np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[ns]")
        if valid.any():
            vals[valid] = pd.to_datetime(frame[valid], errors="coerce").to_numpy(dtype="datetime64[ns]")
        out[ok] = vals
    return out


_TRUE = {"是", "y", "yes", "true", "t", "1", "√", "✓", "✔", "有", "到场", "现场", "现场办理", "需要", "需到场", "对", "1.0"}
_FALSE = {"否", "n", "no", "false", "f", "0", "×", "✗", "✘", "x", "无", "不到场", "未到场", "非现场", "不需要",
          "无需到场", "线上", "网上", "网上办理", "0.0", "错"}


def parse_bool(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """是/否, Y/N, √/×, 1/0, true/false … → nullable boolean.

    Returns ``(flags, failed)``; ``failed`` marks non-empty values not understood
    (left as NA, i.e. unknown).
    """
    s = normalize_text(values).str.lower()
    flags = pd.Series(pd.NA, index=values.index, dtype="boolean")
    flags[s.isin(_TRUE).fillna(False).astype(bool)] = True
    flags[s.isin(_FALSE).fillna(False).astype(bool)] = False
    failed = s.notna() & flags.isna()
    return flags, failed


_MAT_SPLIT = re.compile(r"[、，,；;\n\r]+")
_MAT_ENUM = re.compile(r"^\s*(?:[\(（]?\d{1,2}[\)）\.、．:：]|[①-⑳])\s*")


def split_materials(values: pd.Series) -> pd.Series:
    """One cell of document names → a list of names (order kept, blanks dropped).

    Separators: 、 ， , ； ; and newlines; full-width spaces, 《》 and leading
    enumeration (``1.``, ``(2)``, ``③``) are removed.

    >>> split_materials(pd.Series(["1.营业执照、 身份证；\\n《章程》"])).iloc[0]
    ['营业执照', '身份证', '章程']
    """
    def one(cell: object) -> list[str]:
        if cell is None or (isinstance(cell, float) and np.isnan(cell)) or cell is pd.NA:
            return []
        text = unicodedata.normalize("NFKC", str(cell))
        names = []
        for part in _MAT_SPLIT.split(text):
            part = _MAT_ENUM.sub("", part).strip().strip("《》\"'“”").strip()
            if part and part not in {"无", "-", "/"}:
                names.append(part)
        return names

    uniq = pd.unique(values.to_numpy(dtype=object))
    lookup = {u: one(u) for u in uniq if not (isinstance(u, float) and np.isnan(u)) and u is not pd.NA and u is not None}
    return pd.Series([lookup.get(v, []) if isinstance(v, str) or v in lookup else [] for v in values.to_numpy(dtype=object)],
                     index=values.index, dtype=object)


_SLA_RE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?:个)?\s*(?P<unit>工作日|working ?days?|自然日|日历日|天|日|days?|d)?$", re.I)
_SLA_ZERO = {"即办", "即办件", "当场办结", "立即办结", "当即办结", "当场", "即时办结"}


def parse_sla(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """承诺时限 values → (working days, calendar days, failed).

    ``10``, ``10个工作日``, ``10工作日`` → 10 working days; ``即办`` → 0;
    ``15天``/``15个自然日`` → 15 calendar days (kept apart, not converted).
    """
    s = normalize_text(values)
    uniq = s.dropna().unique()
    work: dict[str, float] = {}
    cal: dict[str, float] = {}
    for u in uniq:
        text = str(u).strip()
        if text in _SLA_ZERO:
            work[u] = 0.0
            continue
        m = _SLA_RE.match(text)
        if not m:
            continue
        unit = (m.group("unit") or "").lower()
        if unit in ("自然日", "日历日", "天", "日", "day", "days", "d"):
            cal[u] = float(m.group("n"))
        else:
            work[u] = float(m.group("n"))
    working = s.map(work).astype("Float64")
    calendar = s.map(cal).astype("Float64")
    failed = s.notna() & working.isna() & calendar.isna()
    return working, calendar, failed


_SCI = re.compile(r"^\d(?:\.\d+)?[eE]\+?\d+$")


def damaged_ids(values: pd.Series, numeric: bool) -> pd.Series:
    """Case ids that Excel turned into numbers and so may have lost digits.

    Excel keeps 15 significant digits: an id of 16+ digits stored as a number,
    or shown in scientific notation (``3.10101E+17``), can no longer tell two
    cases apart.
    """
    s = values.astype("string").str.strip()
    sci = s.str.match(_SCI.pattern, na=False)
    if numeric:
        digits = s.str.replace(r"\.0+$", "", regex=True).str.len()
        return sci | (digits >= 16).fillna(False)
    return sci
