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
import pyarrow as pa
import pyarrow.compute as pc

TZ = "Asia/Shanghai"

# Excel's day 0 for serial numbers (the 1900 system, with its leap-year bug
# folded in, as every reader does).
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
# Serial numbers we accept as dates: 1960-01-01 .. 2099-12-31.
_SERIAL_MIN, _SERIAL_MAX = 21916.0, 73415.0


_DATE_RE = (  # RE2 syntax (Arrow)
    r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[ T]*(?P<ampm>上午|下午|AM|PM|am|pm)?[ ]*(?P<H>\d{1,2})"
    r"(?::(?P<M>\d{1,2})(?::(?P<S>\d{1,2})(?:\.(?P<f>\d{1,6}))?)?)?"
    r"[ ]*(?P<ampm2>AM|PM|am|pm)?)?$"
)

_FAST_RE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)?$"
_OFFSET_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$"


def arrow_strings(values: pd.Series) -> pa.Array:
    """A Series as an Arrow string array (zero-copy when already Arrow-backed)."""
    if not (isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
        values = values.astype("string")
    arr = pa.array(values.array)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def from_arrow(arr: pa.Array, index: pd.Index) -> pd.Series:
    return pd.Series(pd.array(arr, dtype="string"), index=index)


def normalize_text(values: pd.Series) -> pd.Series:
    """NFKC-normalise (full-width → half-width) and strip; empty → NA.

    A column that repeats its values (names of steps, departments, handlers;
    case ids repeated per event) is normalised once per distinct value.
    """
    arr = arrow_strings(values)
    if len(arr) >= _SAMPLE and len(pc.unique(arr.slice(0, _SAMPLE))) < _SAMPLE // 4:
        coded = pc.dictionary_encode(arr)
        return from_arrow(_normalized(coded.dictionary).take(coded.indices), values.index)
    return from_arrow(_normalized(arr), values.index)


_SAMPLE = 1 << 16  # rows looked at to decide whether a column repeats its values


def _normalized(arr: pa.Array) -> pa.Array:
    arr = trimmed(pc.utf8_normalize(arr, "NFKC"))
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)


# Unicode White_Space, as utf8_trim_whitespace trims it (RE2's \s is ASCII only)
_EDGE_SPACE = r"^[\t-\r\x{1c}-\x{1f}\x{85}\p{Z}]|[\t-\r\x{1c}-\x{1f}\x{85}\p{Z}]$"


def trimmed(arr: pa.Array) -> pa.Array:
    """utf8_trim_whitespace, without copying a column that has nothing to trim."""
    if not pc.any(pc.match_substring_regex(arr, _EDGE_SPACE)).as_py():
        return arr
    return pc.utf8_trim_whitespace(arr)


def str_match(values: pd.Series, pattern: str) -> np.ndarray:
    """Boolean array: the regex matches at the start of the value (NA → False)."""
    hit = pc.match_substring_regex(arrow_strings(values), "^(?:" + pattern.lstrip("^") + ")")
    return pc.fill_null(hit, False).to_numpy(zero_copy_only=False)


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
        arr = trimmed(arrow_strings(values))
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)
        text = from_arrow(arr, pd.RangeIndex(n))
        present = pc.is_valid(arr).to_numpy(zero_copy_only=False)
        todo = present.copy()
        # The fast path: what Excel datetimes look like as text
        # (YYYY-MM-DD[ HH:MM:SS[.fff]]), checked by one regex, parsed by Arrow.
        fast = pc.fill_null(pc.match_substring_regex(arr, _FAST_RE), False)
        fast_np = fast.to_numpy(zero_copy_only=False)
        if fast_np.any():
            where = np.flatnonzero(fast_np)
            sub = arr if len(where) == n else arr.filter(fast)
            try:  # Arrow's ISO 8601 cast, which refuses impossible dates; all or nothing
                ns = pc.cast(sub, pa.timestamp("ns")).cast(pa.int64()).to_numpy(zero_copy_only=False)
            except pa.ArrowInvalid:
                ns, ok = _fast_by_parts(sub)
            else:
                ok = np.ones(len(where), dtype=bool)
            out[where[ok]] = ns[ok].view("datetime64[ns]")
            todo[where[ok]] = False
        if todo.any():
            # ISO 8601 with an offset (XES/pm4py CSVs): an instant, shown in Shanghai time.
            where = np.flatnonzero(todo)
            sub = arr.take(pa.array(where))
            offset = pc.fill_null(pc.match_substring_regex(sub, _OFFSET_RE), False).to_numpy(zero_copy_only=False)
            if offset.any():
                parsed = pd.to_datetime(pd.Series(sub.filter(pa.array(offset)).to_pandas()), format="ISO8601",
                                        errors="coerce", utc=True)
                ok = parsed.notna().to_numpy()
                local = parsed.dt.tz_convert(TZ).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
                out[where[offset][ok]] = local[ok]
                todo[where[offset][ok]] = False
        num = np.full(n, np.nan)
        if todo.any():
            where = np.flatnonzero(todo)
            looks = pc.fill_null(pc.match_substring_regex(arr.take(pa.array(where)), r"^[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$"),
                                 False).to_numpy(zero_copy_only=False)
            where = where[looks]
            if len(where):
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
    # Shanghai has had no DST since 1991: localising is a fixed +08:00 shift.
    aware = pd.Series(out, index=index).dt.tz_localize(TZ, ambiguous="NaT", nonexistent="shift_forward")
    return aware, pd.Series(failed, index=index)


def _fast_by_parts(sub: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Y-M-D[ H:M:S[.f]] strings → (ns since the epoch, valid) when some date does not exist."""
    date_only = pc.equal(pc.utf8_length(sub), 10)
    stamp = pc.if_else(date_only,
                       pc.binary_join_element_wise(sub, pa.scalar(" 00:00:00", sub.type), pa.scalar("", sub.type)),
                       pc.utf8_slice_codeunits(sub, 0, 19))
    stamp = pc.replace_substring(stamp, "T", " ")
    parsed = pc.strptime(stamp, format="%Y-%m-%d %H:%M:%S", unit="ns", error_is_null=True)
    # Arrow rolls 2024-02-30 over to 03-01: keep only days that survive.
    same_day = pc.equal(pc.day(parsed), pc.cast(pc.utf8_slice_codeunits(sub, 8, 10), pa.int64()))
    ok = pc.fill_null(same_day, False).to_numpy(zero_copy_only=False)
    ns = parsed.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    digits = pc.utf8_slice_codeunits(sub, 20, 29)
    if pc.max(pc.utf8_length(digits)).as_py():
        frac = pc.utf8_rpad(digits, 9, "0")
        frac = pc.if_else(pc.equal(digits, ""), pa.scalar("0", frac.type), frac)
        ns = ns + pc.cast(frac, pa.int64()).to_numpy(zero_copy_only=False)
    return ns, ok


_DIALECT_STEPS = (  # Arrow (RE2) rewrites that bring the rarer spellings to Y-M-D H:M:S
    (r"^(\d{4})\.(\d{1,2})\.(\d{1,2})", r"\1-\2-\3"),
    (r"[年月/]", "-"),
    (r"[日号]", " "),
    (r"[时点分]", ":"),
    (r"秒", ""),
    (r"\s+", " "),
)


def _parse_dialects(text: pd.Series) -> np.ndarray:
    """Slow path for the rarer spellings, vectorised in Arrow; NaT = failed."""
    out = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")
    arr = pc.utf8_normalize(arrow_strings(text), "NFKC")
    iso_tz = pc.fill_null(pc.match_substring_regex(arr, r"T\d.*(?:Z|[+-]\d{2}:?\d{2})$"), False)
    iso_np = iso_tz.to_numpy(zero_copy_only=False)
    if iso_np.any():
        parsed = pd.to_datetime(pd.Series(arr.filter(iso_tz).to_pandas()), format="ISO8601", errors="coerce", utc=True)
        out[iso_np] = parsed.dt.tz_convert(TZ).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    quick = _quick_dialects(arr, iso_np)
    left = ~iso_np
    if quick is not None:
        done, stamps = quick
        out[done] = stamps
        left &= ~done
    if left.any():
        where = np.flatnonzero(left)
        out[where] = _rewritten(arr if len(where) == len(arr) else arr.take(pa.array(where)))
    return out


def _rewritten(arr: pa.Array) -> np.ndarray:
    """Any spelling _DATE_RE reads once _DIALECT_STEPS have rewritten it; NaT = failed."""
    out = np.full(len(arr), np.datetime64("NaT"), dtype="datetime64[ns]")
    for pattern, repl in _DIALECT_STEPS:
        arr = pc.replace_substring_regex(arr, pattern, repl)
    arr = pc.utf8_trim(arr, " -:")
    parts = pc.extract_regex(arr, _DATE_RE)
    ok = (pc.fill_null(pc.is_valid(parts), False).to_numpy(zero_copy_only=False)
          & pc.fill_null(pc.is_valid(arr), False).to_numpy(zero_copy_only=False))
    if ok.any():
        parts = parts.filter(pa.array(ok))

        def num(name: str) -> np.ndarray:
            field = pc.struct_field(parts, name)
            field = pc.if_else(pc.equal(field, ""), pa.scalar(None, pa.string()), field)
            return pc.fill_null(pc.cast(field, pa.int64()), 0).to_numpy(zero_copy_only=False)

        ampm = pc.utf8_lower(pc.binary_join_element_wise(pc.struct_field(parts, "ampm"),
                                                          pc.struct_field(parts, "ampm2"),
                                                          pa.scalar("", pc.struct_field(parts, "ampm").type)))
        ampm = ampm.to_numpy(zero_copy_only=False).astype(str)
        frac = pc.utf8_rpad(pc.struct_field(parts, "f"), 6, "0")
        frac = pc.if_else(pc.equal(frac, "000000"), "0", frac)
        y, m, d, hh, mm, ss = (num(k) for k in ("y", "m", "d", "H", "M", "S"))
        us = pc.fill_null(pc.cast(frac, pa.int64()), 0).to_numpy(zero_copy_only=False)
        hh = hh + 12 * (np.isin(ampm, ["下午", "pm"]) & (hh < 12)) - 12 * (np.isin(ampm, ["上午", "am"]) & (hh == 12))
        out[ok] = assemble_times(y, m, d, hh, mm, ss, us)
    return out


# The commonest other spellings, parsed by Arrow's strptime once a strict pattern
# has vouched for their shape (strptime alone would also take "2024/ 3/5").
_QUICK_RE = (r"^\d{4}(?:(?:/\d{1,2}/\d{1,2}|\.\d{1,2}\.\d{1,2}|-\d{1,2}-\d{1,2})(?: \d{1,2}:\d{1,2}(?::\d{1,2})?)?"
             r"|年\d{1,2}月\d{1,2}日(?: ?\d{1,2}:\d{1,2}(?::\d{1,2})?)?)$")
_QUICK_FORMATS = tuple(f"%Y{a}%m{b}%d{c}{t}" for a, b, c in (("/", "/", ""), ("年", "月", "日"), (".", ".", ""),
                                                            ("-", "-", ""))
                       for t in (" %H:%M:%S", " %H:%M", ""))


def _quick_dialects(arr: pa.Array, skip: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows parsed, their datetime64[ns]) for the plain Y/M/D spellings, or None.

    strptime rolls impossible dates over (2月30日 → 3月1日, second 60 → the next
    minute): a result on day 1–3 of a month, or in second 0–1 when seconds were
    given, is left to the slow path, which checks every part.
    """
    shaped = pc.fill_null(pc.match_substring_regex(arr, _QUICK_RE), False).to_numpy(zero_copy_only=False) & ~skip
    if not shaped.any():
        return None
    where = np.flatnonzero(shaped)
    sub = arr.take(pa.array(where))
    got = np.full(len(where), np.datetime64("NaT"), dtype="datetime64[ns]")
    for fmt in _QUICK_FORMATS:
        todo = np.isnat(got)
        if not todo.any():
            break
        part = sub if todo.all() else sub.filter(pa.array(todo))
        parsed = pc.strptime(part, format=fmt, unit="ns", error_is_null=True)
        if parsed.null_count == len(parsed):
            continue
        ok = (pc.fill_null(pc.greater(pc.day(parsed), 3), False).to_numpy(zero_copy_only=False)
              & pc.fill_null(pc.and_(pc.greater_equal(pc.year(parsed), 1900), pc.less_equal(pc.year(parsed), 2200)),
                             False).to_numpy(zero_copy_only=False))
        if "%S" in fmt:
            ok &= pc.fill_null(pc.greater(pc.second(parsed), 1), False).to_numpy(zero_copy_only=False)
        values = parsed.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False).view("datetime64[ns]")
        slots = np.flatnonzero(todo)
        got[slots[ok]] = values[ok]
    done = ~np.isnat(got)
    rows = np.zeros(len(arr), dtype=bool)
    rows[where[done]] = True
    return rows, got[done]


def assemble_times(y, m, d, hh, mm, ss, us) -> np.ndarray:
    """datetime64[ns] from component arrays; NaT where the date does not exist."""
    valid = (m >= 1) & (m <= 12) & (d >= 1) & (hh >= 0) & (hh <= 23) & (mm <= 59) & (ss <= 59) & (y >= 1900) & (y <= 2200)
    months = np.where(valid, (y - 1970) * 12 + (m - 1), 0)
    start = months.astype("datetime64[M]").astype("datetime64[D]")
    days_in_month = ((months + 1).astype("datetime64[M]").astype("datetime64[D]") - start).astype(np.int64)
    valid &= d <= days_in_month
    ts = (start.astype("datetime64[ns]") + (d - 1).astype("timedelta64[D]") + hh.astype("timedelta64[h]")
          + mm.astype("timedelta64[m]") + ss.astype("timedelta64[s]") + us.astype("timedelta64[us]"))
    return np.where(valid, ts, np.datetime64("NaT", "ns"))


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
    codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
    lists = [_split_one(u) for u in uniques] + [[]]
    table = pa.array(lists, type=MATERIALS_TYPE)
    idx = np.where(codes < 0, len(lists) - 1, codes)
    return pd.Series(pd.array(table.take(pa.array(idx)), dtype=MATERIALS_DTYPE), index=values.index)


MATERIALS_TYPE = pa.list_(pa.string())
MATERIALS_DTYPE = pd.ArrowDtype(MATERIALS_TYPE)


def _split_one(cell: object) -> list[str]:
    text = unicodedata.normalize("NFKC", str(cell))
    names = []
    for part in _MAT_SPLIT.split(text):
        part = _MAT_ENUM.sub("", part).strip().strip("《》\"'“”").strip()
        if part and part not in {"无", "-", "/"}:
            names.append(part)
    return names


# Time limits as platforms write them. Units: 工作日 (and a bare number, and 日 —
# 行政许可法 §82: 期限以工作日计算), 天/自然日/日历日 (calendar days, kept apart),
# 月/年 (calendar months: 民法典 §201–§203, a year is 12 months; never converted to
# working days), 即办 (0), 无期限 (no limit).
_SLA_RE = re.compile(r"^(?:承诺|法定)?(?:时限|期限)?[:：]?\s*(?P<n>\d+(?:\.\d+)?)\s*(?:个)?\s*"
                     r"(?P<unit>工作日|working ?days?|自然日|日历日|天|日|days?|d|月|months?|年|years?)?\s*"
                     r"(?:内|以内|之内)?$", re.I)
_SLA_ZERO = {"即办", "即办件", "当场办结", "立即办结", "当即办结", "当场", "即时办结", "当场办理", "立即办理", "即时"}
_SLA_NONE = {"无期限", "无时限", "不限", "无", "长期", "无办理时限", "无承诺时限", "/", "-", "—", "不适用"}
_UNIT_CODES = {"1": "工作日", "2": "月", "3": "年", "4": "天", "0": "工作日"}  # 前置库 PROMISETYPE
_WORK_UNITS = {"", "工作日", "working day", "working days", "workingday", "workingdays", "日"}
_CAL_UNITS = {"自然日", "日历日", "天", "day", "days", "d"}
_MONTH_UNITS = {"月", "month", "months"}
_YEAR_UNITS = {"年", "year", "years"}


def _unit_text(unit: object) -> str | None:
    if unit is None or (isinstance(unit, float) and np.isnan(unit)) or unit is pd.NA:
        return None
    text = unicodedata.normalize("NFKC", str(unit)).strip().lower()
    if text.endswith(".0"):
        text = text[:-2]
    text = _UNIT_CODES.get(text, text)
    return text.removeprefix("个")


def parse_limit(text: object, unit: object = None) -> tuple[str, float | None]:
    """One time-limit value → (kind, number): kind is ``work`` (working days),
    ``calendar`` (calendar days), ``month`` (calendar months; a year is 12),
    ``none`` (无期限), ``empty`` or ``failed``.

    >>> parse_limit("20个工作日内"), parse_limit("15天"), parse_limit("1个月"), parse_limit(2, "1")
    (('work', 20.0), ('calendar', 15.0), ('month', 1.0), ('work', 2.0))
    """
    if text is None or text is pd.NA or (isinstance(text, float) and np.isnan(text)):
        return "empty", None
    s = unicodedata.normalize("NFKC", str(text)).strip()
    if not s:
        return "empty", None
    if s in _SLA_ZERO:
        return "work", 0.0
    if s in _SLA_NONE:
        return "none", None
    m = _SLA_RE.match(s)
    if not m:
        return "failed", None
    n = float(m.group("n"))
    written = (m.group("unit") or "").lower()
    column_unit = _unit_text(unit)
    if written and column_unit and written not in (column_unit,) and not (
            written in _WORK_UNITS and column_unit in _WORK_UNITS):
        return "failed", None  # "10天" under a 期限单位 of 工作日: contradictory
    u = written or column_unit or ""
    if u in _WORK_UNITS:
        return "work", n
    if u in _CAL_UNITS:
        return "calendar", n
    if u in _MONTH_UNITS:
        return "month", n
    if u in _YEAR_UNITS:
        return "month", n * 12
    return "failed", None


def parse_sla(values: pd.Series, units: pd.Series | None = None
              ) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """Time limits → (working days, calendar days, failed, months). ``units`` is a
    期限单位 column (工作日/天/月/年 or 前置库 codes 1–4) when the export has one.

    ``10``, ``10个工作日``, ``20个工作日内``, ``20日`` → working days (§82);
    ``即办`` → 0; ``15天``/``15个自然日`` → calendar days (kept apart);
    ``1个月``/``1年`` → 1/12 calendar months (counted as the calendar counts them, 民法典 §201–§203);
    ``无期限`` → no limit (none of them, not failed).
    """
    if units is None:
        keys = normalize_text(values.astype("string") if values.dtype == object else values)
        pairs = keys
    else:
        a = normalize_text(values.astype("string"))
        b = normalize_text(units.astype("string"))
        pairs = (a.fillna("\x00") + "\x1f" + b.fillna("\x00")).where(a.notna())
    codes, uniq = pd.factorize(pairs, use_na_sentinel=True)
    w = np.full(len(uniq) + 1, np.nan)
    c = np.full(len(uniq) + 1, np.nan)
    mo = np.full(len(uniq) + 1, np.nan)
    bad = np.zeros(len(uniq) + 1, dtype=bool)
    for i, u in enumerate(uniq):
        if units is None:
            text, unit = u, None
        else:
            text, unit = u.split("\x1f")
            unit = None if unit == "\x00" else unit
        kind, n = parse_limit(text, unit)
        if kind == "work":
            w[i] = n
        elif kind == "calendar":
            c[i] = n
        elif kind == "month":
            mo[i] = n
        elif kind == "failed":
            bad[i] = True
    idx = np.where(codes < 0, len(uniq), codes)
    working = pd.Series(w[idx], index=values.index).astype("Float64")
    calendar = pd.Series(c[idx], index=values.index).astype("Float64")
    failed = pd.Series(bad[idx], index=values.index)
    months = pd.Series(mo[idx], index=values.index).astype("Float64")
    return working, calendar, failed, months


def parse_extension(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """A 延期 (§42) length column → (working days, calendar days, failed, months), as
    :func:`parse_sla` reads a limit, except that 天 is a working day here: the column
    counts the days §42 extends by (延长十日, working days by §82); 自然日/日历日 are
    calendar days, 月/年 calendar months.

    >>> [x.tolist() for x in parse_extension(pd.Series(["10天", "30个自然日", "1个月"]))[::3]]
    [[10.0, <NA>, <NA>], [<NA>, <NA>, 1.0]]
    """
    text = values.astype("string").str.replace(r"^(\s*\d+(?:\.\d+)?\s*(?:个)?\s*)天", r"\1日", regex=True)
    return parse_sla(text.where(values.notna(), pd.NA))


_SCI = re.compile(r"^\d(?:\.\d+)?[eE]\+?\d+$")


def damaged_ids(values: pd.Series, numeric: bool) -> pd.Series:
    """Case ids that Excel turned into numbers and so may have lost digits.

    Excel keeps 15 significant digits: an id of 16+ digits stored as a number,
    or shown in scientific notation (``3.10101E+17``), can no longer tell two
    cases apart.
    """
    bad = str_match(values, _SCI.pattern.strip("^$") + "$")
    if numeric:
        bad |= str_match(values, r"\d{16,}(?:\.0+)?$")
    return pd.Series(bad, index=values.index)
