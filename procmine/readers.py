"""Readers: turn a file into raw tables (one per sheet) with exact source rows.

Excel is read with fastexcel (Rust calamine → Arrow): the header row is found
in a 30-row probe, then the sheet is loaded once with every column as text
except the case id (whose numeric-ness we need to spot ids Excel damaged).
Merged ranges are read from the sheet XML (``<mergeCells>``), which the fast
readers do not expose. CSV is sniffed for encoding (UTF-8 with or without BOM,
GB18030) and delimiter; XES goes through pm4py with DTDs refused.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, MappingError
from .mapping import Mapping, SheetMapping, header_score, load_mapping, map_columns

PROBE_ROWS = 30
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}


@dataclass
class RawSheet:
    """One table as read: text cells, the source row of each, and where from."""

    file: str
    sheet: str
    frame: pd.DataFrame
    rows: np.ndarray  # source row number (1-based, as the user sees it) per frame row
    mapping: Mapping
    numeric_columns: frozenset[str] = frozenset()
    kind: str = "excel"  # excel | csv | xes
    title: str | None = None  # text above the header, e.g. "食品经营许可办件明细表"
    sheet_mapping: SheetMapping | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class SkippedSheet:
    file: str
    sheet: str
    reason: str


def sniff_kind(path: Path) -> str:
    """What a file really is, by its first bytes (names lie)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise InputError(f"cannot open {path}: {exc.strerror}") from None
    if not head:
        raise InputError(f"{path} is empty (0 bytes)")
    if head[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as fh:
            try:
                inner = fh.read(4096)
            except (OSError, EOFError) as exc:
                raise InputError(f"{path} is a damaged gzip file: {exc}") from None
        name = path.name.lower()
        if name.endswith(".xes.gz") or inner.lstrip().startswith(b"<?xml") or b"<log" in inner[:2000]:
            return "xes"
        return "csv"
    if head[:4] == b"PK\x03\x04":
        return "xlsx"
    if head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "ole"  # legacy .xls, or an encrypted .xlsx
    low = head.lstrip(b"\xef\xbb\xbf \r\n\t").lower()
    if low.startswith((b"<html", b"<!doctype html", b"<table", b"<meta")) or b"<table" in low[:2048]:
        return "html"
    if low.startswith(b"<?xml") or low.startswith(b"<log"):
        return "xes"
    return "csv"


def read_tables(path: Path, mapping: Mapping | None = None) -> tuple[list[RawSheet], list[SkippedSheet]]:
    """Read every table of one file."""
    mapping = mapping or load_mapping()
    kind = sniff_kind(path)
    if kind in ("xlsx", "ole"):
        return _read_excel(path, kind, mapping)
    if kind == "html":
        raise InputError(f"{path} is an HTML page saved with a spreadsheet name, not an Excel workbook",
                         hint="open it in Excel or WPS and save it as .xlsx, or export CSV from the system")
    if kind == "xes":
        return [_read_xes(path)], []
    return [_read_csv(path, mapping)], []


# ---------------------------------------------------------------- Excel


def _open_excel(path: Path, kind: str):
    import fastexcel

    if kind == "ole":
        try:
            import olefile  # noqa: F401  (optional)
        except ImportError:
            pass
        with open(path, "rb") as fh:
            blob = fh.read(1 << 20)
        if b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00i\x00o\x00n\x00I\x00n\x00f\x00o" in blob:
            raise InputError(f"{path} is password-protected (encrypted)",
                             hint="open it in Excel, remove the password (File → Info → Protect Workbook), save, retry")
    if kind == "xlsx":
        _check_zip(path)
    try:
        return fastexcel.read_excel(str(path))
    except Exception as exc:  # fastexcel raises its own hierarchy; all mean "unreadable"
        raise InputError(f"{path} cannot be read as a spreadsheet: {str(exc).splitlines()[0]}",
                         hint="check that the file is a complete .xlsx/.xls (re-export or re-save it)") from None


MAX_UNZIPPED = 4 << 30  # 4 GiB of sheet XML ~ 10M+ rows


def _check_zip(path: Path, limit: int = MAX_UNZIPPED) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            bad = zf.testzip() if path.stat().st_size < (64 << 20) else None
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path} is a damaged .xlsx (the zip container is broken: {exc})",
                         hint="the file was probably cut off in download or copy; export it again") from None
    if bad:
        raise InputError(f"{path} is a damaged .xlsx ({bad} fails its checksum)", hint="export it again")
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
        if "EncryptedPackage" in names:
            raise InputError(f"{path} is password-protected")
        raise InputError(f"{path} is a zip file but not an Excel workbook (no xl/workbook.xml)")
    total = sum(i.file_size for i in infos)
    if total > limit:
        raise InputError(f"{path} unpacks to {total / 2**30:.1f} GiB, over the {limit / 2**30:.0f} GiB limit "
                         f"(a zip bomb, or a very large export)",
                         hint="split the export, or raise the limit with --max-unzipped-gb")


def _sheet_xml_paths(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → path of its XML part inside the .xlsx."""
    wb = zf.read("xl/workbook.xml").decode("utf-8", "replace")
    rels = zf.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
    targets = {m.group(1): m.group(2) for m in re.finditer(
        r'<Relationship\b[^>]*?Id="([^"]+)"[^>]*?Target="([^"]+)"', rels)}
    targets.update({m.group(2): m.group(1) for m in re.finditer(
        r'<Relationship\b[^>]*?Target="([^"]+)"[^>]*?Id="([^"]+)"', rels)})
    out = {}
    for m in re.finditer(r"<(?:\w+:)?sheet\b([^>]*)/?>", wb):
        attrs = m.group(1)
        name = re.search(r'\bname="([^"]*)"', attrs)
        rid = re.search(r'\br:id="([^"]+)"|\b\w+:id="([^"]+)"', attrs)
        if not name or not rid:
            continue
        target = targets.get(rid.group(1) or rid.group(2))
        if not target:
            continue
        target = target.lstrip("/")
        if not target.startswith("xl/"):
            target = "xl/" + target
        import html
        out[html.unescape(name.group(1))] = target
    return out


_MERGE_RE = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')


def _col_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n - 1


def merged_ranges(path: Path, sheet: str) -> list[tuple[int, int, int, int]]:
    """Merged ranges of an .xlsx sheet as (row0, col0, row1, col1), 0-based inclusive.

    Streams the sheet XML (the ranges sit after the cell data) without
    building a DOM, so a million-row sheet costs one decompression pass.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            part = _sheet_xml_paths(zf).get(sheet)
            if part is None or part not in zf.namelist():
                return []
            out = []
            tail = b""
            seen_merge = False
            with zf.open(part) as fh:
                while True:
                    chunk = fh.read(1 << 22)
                    if not chunk:
                        break
                    buf = tail + chunk
                    if not seen_merge and b"mergeCell" not in buf:
                        tail = buf[-64:]
                        continue
                    seen_merge = True
                    cut = buf.rfind(b"/>")
                    cut = len(buf) if cut < 0 else cut + 2
                    for m in _MERGE_RE.finditer(buf, 0, cut):
                        c0, r0, c1, r1 = m.group(1), int(m.group(2)), m.group(3) or m.group(1), int(m.group(4) or m.group(2))
                        out.append((r0 - 1, _col_index(c0), r1 - 1, _col_index(c1)))
                    tail = buf[cut:]
            return out
    except (KeyError, zipfile.BadZipFile):
        return []


def _merged_ranges_any(path: Path, kind: str, sheet: str) -> list[tuple[int, int, int, int]]:
    if kind == "xlsx":
        return merged_ranges(path, sheet)
    try:
        import python_calamine as pc

        wb = pc.CalamineWorkbook.from_path(str(path))
        ranges = wb.get_sheet_by_name(sheet).merged_cell_ranges or []
        return [(a[0], a[1], b[0], b[1]) for a, b in ranges]
    except Exception:
        return []


def _cell_text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and np.isnan(v):
        return None
    text = str(v).strip()
    return text or None


def find_header(rows: list[list[object]], mapping: Mapping) -> int | None:
    """Index of the row that is the header: the best-scoring row naming a case id."""
    best, best_score = None, 1
    for i, row in enumerate(rows):
        score, has_case = header_score(row, mapping)
        if has_case and score > best_score:
            best, best_score = i, score
    return best


def header_names(cells: list[object]) -> list[str]:
    """Header cells → unique column names (blank → 列N, repeats → name(2))."""
    names, seen = [], {}
    for i, cell in enumerate(cells):
        text = _cell_text(cell)
        name = re.sub(r"\s+", " ", text) if text else f"列{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}({seen[name]})"
        else:
            seen[name] = 1
        names.append(name)
    return names


def _duplicated_fields(cells: list[object], mapping: Mapping, where: str) -> None:
    from .mapping import FIELDS
    from .parsing import normalize_header

    counts: dict[str, int] = {}
    for c in cells:
        if _cell_text(c):
            n = normalize_header(c)
            counts[n] = counts.get(n, 0) + 1
    for fld in FIELDS:
        for name in mapping.names(fld):
            if counts.get(name, 0) > 1:
                raise MappingError(f"{where}the header has {counts[name]} columns named {name!r}",
                                   hint="rename them so each is unique, or map the right one with --mapping FILE")


def _read_excel(path: Path, kind: str, mapping: Mapping) -> tuple[list[RawSheet], list[SkippedSheet]]:
    reader = _open_excel(path, kind)
    tables, skipped = [], []
    for sheet_name in reader.sheet_names:
        where = f"{path.name} [{sheet_name}]: "
        try:
            probe = reader.load_sheet(sheet_name, header_row=None, skip_rows=0, n_rows=PROBE_ROWS, dtypes="string")
            probe_df = probe.to_pandas()
            first_col = probe.available_columns()[0].absolute_index if probe_df.shape[1] else 0
        except Exception as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if "empty" in msg.lower() or "no column" in msg.lower() or "not found" in msg.lower():
                skipped.append(SkippedSheet(str(path), sheet_name, "empty sheet"))
                continue
            raise InputError(f"{where}cannot be read: {msg}") from None
        if probe_df.empty or probe_df.shape[1] == 0:
            skipped.append(SkippedSheet(str(path), sheet_name, "empty sheet"))
            continue
        rows = probe_df.astype(object).where(probe_df.notna(), None).values.tolist()
        h = find_header(rows, mapping)
        if h is None:
            nonblank = [r for r in rows if any(_cell_text(c) for c in r)]
            if not nonblank:
                skipped.append(SkippedSheet(str(path), sheet_name, "empty sheet"))
                continue
            skipped.append(SkippedSheet(str(path), sheet_name,
                                        "no header row naming a case id (办件编号 …) in its first "
                                        f"{PROBE_ROWS} rows; first row: "
                                        + " | ".join(str(_cell_text(c) or "") for c in nonblank[0][:12])))
            continue
        header_cells = rows[h]
        _duplicated_fields(header_cells, mapping, where)
        names = header_names(header_cells)
        sheet_map = map_columns(names, mapping, where=where)
        case_idx = names.index(sheet_map.columns["case_id"])
        title = " ".join(str(_cell_text(c)) for r in rows[:h] for c in r if _cell_text(c)) or None
        try:
            # Everything as text but the case id, whose type tells us whether
            # Excel stored it as a number (and so may have cut its digits).
            loaded = reader.load_sheet(sheet_name, header_row=h, schema_sample_rows=None,
                                       dtypes={i: "string" for i in range(len(names)) if i != case_idx})
            cols = loaded.available_columns()
            df = loaded.to_pandas()
        except Exception as exc:
            raise InputError(f"{where}cannot be read: {str(exc).splitlines()[0]}") from None
        abs_idx = [c.absolute_index for c in cols]
        if len(df.columns) != len(names):
            names = (names + [f"列{i + 1}" for i in range(len(names), len(df.columns))])[: len(df.columns)]
        df.columns = names
        source_rows = np.arange(len(df), dtype=np.int64) + h + 2
        df, numeric_cols = _as_text(df)
        ranges = _merged_ranges_any(path, kind, sheet_name)
        if ranges:
            df = fill_merged(df, ranges, first_data_row=h + 1, abs_cols=abs_idx)
        blank = df.isna().all(axis=1).to_numpy()
        if blank.any():
            df = df.loc[~blank].reset_index(drop=True)
            source_rows = source_rows[~blank]
        tables.append(RawSheet(str(path), sheet_name, df, source_rows, mapping, kind="excel", title=title,
                               numeric_columns=frozenset(numeric_cols), sheet_mapping=sheet_map))
    return tables, skipped


def _as_text(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Every column as pandas string; numbers that are whole print without '.0'."""
    out = {}
    numeric = []
    for name in df.columns:
        col = df[name]
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            numeric.append(name)
            vals = col.astype("float64")
            whole = vals.notna() & (vals == np.floor(vals)) & (vals.abs() < 1e21)
            text = pd.Series(pd.NA, index=col.index, dtype="string")
            if whole.any():
                text[whole] = vals[whole].map(lambda v: f"{v:.0f}").astype("string")
            rest = vals.notna() & ~whole
            if rest.any():
                text[rest] = vals[rest].map(repr).astype("string")
            out[name] = text
        elif pd.api.types.is_datetime64_any_dtype(col.dtype):
            out[name] = col.dt.strftime("%Y-%m-%d %H:%M:%S").astype("string")
        else:
            s = col.astype("string")
            out[name] = s.mask(s.str.strip() == "")
    return pd.DataFrame(out, index=df.index), numeric


def fill_merged(df: pd.DataFrame, ranges: list[tuple[int, int, int, int]], *, first_data_row: int,
                abs_cols: list[int]) -> pd.DataFrame:
    """Copy each merged range's top-left value into all its cells (data area only).

    A merge that starts in or above the header is not data and is left alone.
    """
    pos = {a: j for j, a in enumerate(abs_cols)}
    n = len(df)
    groups: dict[tuple[int, int], list[np.ndarray]] = {}  # (target col, anchor col) -> row spans
    anchors: dict[tuple[int, int], list[np.ndarray]] = {}
    for r0, c0, r1, c1 in ranges:
        i0, i1 = r0 - first_data_row, min(r1 - first_data_row, n - 1)
        if i0 < 0 or i0 >= n or c0 not in pos:
            continue
        for c in range(c0, c1 + 1):
            j = pos.get(c)
            if j is None:
                continue
            lo = i0 + 1 if c == c0 else i0
            if lo > i1:
                continue
            groups.setdefault((j, pos[c0]), []).append(np.arange(lo, i1 + 1))
            anchors.setdefault((j, pos[c0]), []).append(np.full(i1 + 1 - lo, i0))
    if not groups:
        return df
    values = {j: df.iloc[:, j].to_numpy(dtype=object) for j in {a for _, a in groups}}
    out = df.copy()
    for (j, ja), spans in groups.items():
        target = np.concatenate(spans)
        source = np.concatenate(anchors[(j, ja)])
        col = out.iloc[:, j].to_numpy(dtype=object).copy()
        col[target] = values[ja][source]
        out[out.columns[j]] = pd.array(col, dtype="string")
    return out


# ---------------------------------------------------------------- CSV


def _decode(data: bytes, path: Path) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputError(f"{path} is neither UTF-8 nor GBK/GB18030 text",
                     hint="save it as CSV UTF-8, or as .xlsx")


def _read_csv(path: Path, mapping: Mapping) -> RawSheet:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputError(f"{path} is a damaged gzip file: {exc}") from None
    if b"\x00" in raw[:4096]:
        if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
            text = raw.decode("utf-16")
        else:
            raise InputError(f"{path} is a binary file, not CSV or Excel")
    else:
        text = _decode(raw, path)
    del raw
    head_lines = text[: 1 << 16].splitlines()[:PROBE_ROWS]
    sample = "\n".join(head_lines)
    delim = max([",", ";", "\t", "|"], key=lambda d: sum(line.count(d) for line in head_lines[:10]))
    try:
        probe = list(csv.reader(io.StringIO(sample), delimiter=delim))
    except csv.Error as exc:
        raise InputError(f"{path}: not readable as CSV: {exc}") from None
    h = find_header(probe, mapping)
    if h is None:
        raise MappingError(f"{path}: no header row naming a case id (办件编号 …) in its first {PROBE_ROWS} lines",
                           hint="first line: " + (head_lines[0][:200] if head_lines else "(empty)"))
    names = header_names(probe[h])
    _duplicated_fields(probe[h], mapping, f"{path.name}: ")
    try:
        df = pd.read_csv(io.StringIO(text), sep=delim, header=None, skiprows=h + 1, names=names, dtype=str,
                         keep_default_na=False, na_values=[""], skip_blank_lines=False, index_col=False,
                         on_bad_lines="error", engine="c")
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"{path}: CSV is malformed: {str(exc).splitlines()[0]}") from None
    del text
    rows = np.arange(len(df), dtype=np.int64) + h + 2
    df = df.astype("string")
    for name in df.columns:
        df[name] = df[name].mask(df[name].str.strip() == "")
    blank = df.isna().all(axis=1).to_numpy()
    if blank.any():
        df = df.loc[~blank].reset_index(drop=True)
        rows = rows[~blank]
    title = " ".join(c for r in probe[:h] for c in r if c.strip()) or None
    return RawSheet(str(path), "", df, rows, mapping, kind="csv", title=title)


# ---------------------------------------------------------------- XES


def _read_xes(path: Path) -> RawSheet:
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rb") as fh:
        head = fh.read(1 << 16)
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise InputError(f"{path} declares a DTD or entities; procmine refuses them in XES "
                         "(they can read local files or blow up memory)",
                         hint="remove the <!DOCTYPE …> block; XES does not need it")
    import warnings

    import pm4py

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            df = pm4py.read_xes(str(path), show_progress_bar=False)
        except TypeError:
            df = pm4py.read_xes(str(path))
        except Exception as exc:
            raise InputError(f"{path} is not a readable XES log: {str(exc).splitlines()[0]}") from None
    rows = np.arange(len(df), dtype=np.int64) + 1
    return RawSheet(str(path), "", df.reset_index(drop=True), rows, load_mapping("pm4py"), kind="xes")
