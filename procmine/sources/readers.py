"""Readers: turn a file into raw tables (one per sheet) with exact source rows.

Excel is read with fastexcel (Rust calamine → Arrow): the header row is found
in a 30-row probe, then the sheet is loaded once with every column as text
(the probe tells whether the case ids were numbers, to spot ids Excel damaged).
An .xlsx sheet larger than two pieces is loaded in pieces of rows
(:mod:`procmine.sources.xlsx_pieces`), so memory stays bounded however long or wide
it is. Merged ranges are read from the sheet XML (``<mergeCells>``), which the
fast readers do not expose. CSV is sniffed for encoding (UTF-8 with or without BOM,
GB18030) and delimiter; XES goes through pm4py with DTDs refused.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, MappingError
from .mapping import Mapping, SheetMapping, header_score, load_mapping, map_columns
from .xlsx_pieces import MERGE_RE, col_index

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
    if head[:4] == b"PAR1":
        return "parquet"
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


def read_tables(path: Path, mapping: Mapping | None = None, *, max_unzipped: int | None = None,
                progress=None) -> tuple[list[RawSheet], list[SkippedSheet]]:
    """Read every table of one file. ``progress(rows)``: called with the rows read
    so far of a sheet read in pieces, after each piece."""
    mapping = mapping or load_mapping()
    kind = sniff_kind(path)
    if kind in ("xlsx", "ole"):
        return _read_excel(path, kind, mapping, max_unzipped or MAX_UNZIPPED, progress)
    if kind == "html":
        raise InputError(f"{path} is an HTML page saved with a spreadsheet name, not an Excel workbook",
                         hint="open it in Excel or WPS and save it as .xlsx, or export CSV from the system")
    if kind == "xes":
        return [_read_xes(path)], []
    if kind == "parquet":
        return [concat_batches(list(iter_parquet_batches(path, mapping)))], []
    return [_read_csv(path, mapping)], []


# ---------------------------------------------------------------- Excel


# What to do about a sheet the spreadsheet reader cannot parse (calamine's "Range is
# missing the expected row component", a broken cell reference, bad XML …).
DAMAGED_SHEET_HINT = ("the sheet is damaged or was written by a tool Excel's format does not quite match: export it "
                      "again from the system, or open it in Excel/WPS, save it again as .xlsx (文件 → 另存为) and "
                      "import the saved copy")


def open_excel(path: Path, kind: str, max_unzipped: int = 0):
    import fastexcel

    if kind == "ole":
        with open(path, "rb") as fh:
            blob = fh.read(1 << 20)
        if b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00i\x00o\x00n\x00I\x00n\x00f\x00o" in blob:
            raise InputError(f"{path} is password-protected (encrypted)",
                             hint="open it in Excel, remove the password (File → Info → Protect Workbook), save, retry")
    if kind == "xlsx":
        _check_zip(path, max_unzipped or MAX_UNZIPPED)
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
            bad = None  # member CRCs are checked by the reader as it decompresses
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
                    for m in MERGE_RE.finditer(buf, 0, cut):
                        c0, r0, c1, r1 = m.group(1), int(m.group(2)), m.group(3) or m.group(1), int(m.group(4) or m.group(2))
                        out.append((r0 - 1, col_index(c0), r1 - 1, col_index(c1)))
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
    from ..log.parsing import normalize_header

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


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def probe_xlsx(path: Path, sheet: str, nrows: int = PROBE_ROWS) -> tuple[list[list[str | None]], list[list[bool]]]:
    """The first ``nrows`` rows of an .xlsx sheet as text, by absolute position,
    plus which cells are numbers — without parsing the rest of the sheet.

    Streams the sheet XML (and only as much of sharedStrings.xml as those rows
    use) with defusedxml, so the probe of a million-row sheet costs
    milliseconds.
    """
    from defusedxml.ElementTree import iterparse

    cells: dict[int, dict[int, tuple[str, str]]] = {}
    need: set[int] = set()
    with zipfile.ZipFile(path) as zf:
        part = _sheet_xml_paths(zf).get(sheet)
        if part is None:
            return [], []
        with zf.open(part) as fh:
            next_row = 0
            for _, el in iterparse(fh, events=("end",)):
                if _local(el.tag) != "row":
                    continue
                ref = el.get("r")
                r = int(ref) - 1 if ref and ref.isdigit() else next_row
                next_row = r + 1
                if r >= nrows:
                    break
                row: dict[int, tuple[str, str]] = {}
                next_col = 0
                for c in el:
                    if _local(c.tag) != "c":
                        continue
                    cref = c.get("r")
                    letters = re.match(r"[A-Z]+", cref).group(0).encode() if cref else None
                    col = col_index(letters) if letters else next_col
                    next_col = col + 1
                    kind = c.get("t", "n")
                    value = None
                    texts = []
                    for child in c.iter():
                        tag = _local(child.tag)
                        if tag == "v":
                            value = child.text
                        elif tag == "t" and child.text:
                            texts.append(child.text)
                    if kind == "s" and value is not None and value.strip().isdigit():
                        need.add(int(value))
                        row[col] = ("s", value.strip())
                    elif kind == "inlineStr":
                        row[col] = ("str", "".join(texts))
                    elif value is not None:
                        row[col] = ("num" if kind == "n" else "str", value)
                cells[r] = row
                el.clear()
        strings: dict[int, str] = {}
        if need and "xl/sharedStrings.xml" in zf.namelist():
            top = max(need)
            with zf.open("xl/sharedStrings.xml") as fh:
                i = 0
                for _, el in iterparse(fh, events=("end",)):
                    if _local(el.tag) != "si":
                        continue
                    if i in need:
                        strings[i] = "".join(t.text or "" for t in el.iter() if _local(t.tag) == "t")
                    el.clear()
                    i += 1
                    if i > top:
                        break
    if not cells:
        return [], []
    width = max((max(r) + 1 for r in cells.values() if r), default=0)
    height = max(cells) + 1
    grid: list[list[str | None]] = [[None] * width for _ in range(height)]
    numeric: list[list[bool]] = [[False] * width for _ in range(height)]
    for r, row in cells.items():
        for c, (kind, value) in row.items():
            text = strings.get(int(value)) if kind == "s" else value
            grid[r][c] = text
            numeric[r][c] = kind == "num"
    return grid, numeric


def probe_calamine(path: Path, sheet: str, nrows: int = PROBE_ROWS) -> tuple[list[list], list[list[bool]]]:
    """Probe for .xls/.xlsb/.ods (small files in practice) via python-calamine."""
    import python_calamine as pc

    try:
        sh = pc.CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet)
        data = sh.to_python(skip_empty_area=False, nrows=nrows)
    except Exception as exc:
        raise InputError(f"{path} [{sheet}] cannot be read: {str(exc).splitlines()[0]}",
                         hint=DAMAGED_SHEET_HINT) from None
    grid = [[(None if v == "" else (v if isinstance(v, str) else str(v))) for v in row] for row in data]
    numeric = [[isinstance(v, (int, float)) and not isinstance(v, bool) for v in row] for row in data]
    return grid, numeric


def _read_excel(path: Path, kind: str, mapping: Mapping,
                max_unzipped: int = 0, progress=None) -> tuple[list[RawSheet], list[SkippedSheet]]:
    import concurrent.futures as cf

    reader = open_excel(path, kind, max_unzipped)
    tables, skipped = [], []
    pool = cf.ThreadPoolExecutor(max_workers=1)
    try:
        for sheet_name in reader.sheet_names:
            table = _read_sheet(path, kind, reader, sheet_name, mapping, pool, skipped, progress)
            if table is not None:
                tables.append(table)
    finally:
        pool.shutdown(wait=True)
    return tables, skipped


def _read_sheet(path, kind, reader, sheet_name, mapping, pool, skipped, progress=None) -> RawSheet | None:
    where = f"{path.name} [{sheet_name}]: "
    try:
        rows, numeric = probe_xlsx(path, sheet_name) if kind == "xlsx" else probe_calamine(path, sheet_name)
    except (zipfile.BadZipFile, KeyError, ValueError, SyntaxError) as exc:
        raise InputError(f"{where}the sheet XML is damaged: {exc}", hint=DAMAGED_SHEET_HINT) from None
    except InputError:
        raise
    except Exception as exc:  # defusedxml refusals, expat errors
        raise InputError(f"{where}cannot be read: {type(exc).__name__}: {str(exc)[:200]}",
                         hint=DAMAGED_SHEET_HINT) from None
    if not any(any(c is not None and str(c).strip() for c in r) for r in rows):
        skipped.append(SkippedSheet(str(path), sheet_name, "empty sheet"))
        return None
    h = find_header(rows, mapping)
    if h is None:
        nonblank = next(r for r in rows if any(_cell_text(c) for c in r))
        skipped.append(SkippedSheet(str(path), sheet_name,
                                    "no header row naming a case id (办件编号 …) in its first "
                                    f"{PROBE_ROWS} rows; first row: "
                                    + " | ".join(str(_cell_text(c) or "") for c in nonblank[:12])))
        return None
    header_cells = rows[h]
    _duplicated_fields(header_cells, mapping, where)
    names_abs = header_names(header_cells)
    sheet_map = map_columns([n for n, c in zip(names_abs, header_cells) if _cell_text(c)] or names_abs,
                            mapping, where=where)
    case_abs = names_abs.index(sheet_map.columns["case_id"])
    case_numeric = any(r[case_abs] for r in numeric[h + 1:] if case_abs < len(r))
    title = " ".join(str(_cell_text(c)) for r in rows[:h] for c in r if _cell_text(c)) or None
    loaded = load_in_pieces(path, sheet_name, h, len(names_abs), where, progress) if kind == "xlsx" else None
    if loaded is not None:
        arrow, abs_idx, ranges = loaded
    else:
        merges = pool.submit(_merged_ranges_any, path, kind, sheet_name)
        arrow, abs_idx = _load_whole(reader, sheet_name, h, where)
        ranges = merges.result()
    del loaded
    names = [names_abs[a] if a < len(names_abs) else f"列{a + 1}" for a in abs_idx]
    df = arrow_to_text(arrow, names, blanks_are_null=True)
    del arrow
    source_rows = np.arange(len(df), dtype=np.int64) + h + 2
    if ranges:
        df = fill_merged(df, ranges, first_data_row=h + 1, abs_cols=abs_idx)
    blank = df.isna().all(axis=1).to_numpy()
    if blank.any():
        df = df.loc[~blank].reset_index(drop=True)
        source_rows = source_rows[~blank]
    numeric_cols = frozenset([sheet_map.columns["case_id"]] if case_numeric else [])
    return RawSheet(str(path), sheet_name, df, source_rows, mapping, kind="excel", title=title,
                    numeric_columns=numeric_cols, sheet_mapping=sheet_map)


def _load_whole(reader, sheet_name: str, h: int, where: str):
    """The sheet below header row ``h`` as one Arrow table, and each column's sheet index."""
    try:
        # blank and whitespace-only cells come back null (the same Unicode whitespace
        # as Arrow's utf8_trim_whitespace), so arrow_to_text need not look for them
        loaded = reader.load_sheet(sheet_name, header_row=h, dtypes="string", whitespace_as_null=True)
        abs_idx = [c.absolute_index for c in loaded.available_columns()]
        return loaded.to_arrow(), abs_idx
    except Exception as exc:
        raise InputError(f"{where}cannot be read: {str(exc).splitlines()[0]}", hint=DAMAGED_SHEET_HINT) from None


def load_in_pieces(path: Path, sheet_name: str, h: int, header_width: int, where: str, progress=None):
    """A sheet whose XML is larger than two pieces, read piece by piece (see
    :mod:`procmine.sources.xlsx_pieces`): (Arrow table, sheet index per column, merged
    ranges), its row ``i`` being sheet row ``h + 2 + i``; None for a smaller
    sheet, or one that cannot be cut, which is read whole."""
    import fastexcel
    import pyarrow as pa

    from . import xlsx_pieces

    try:
        zf = zipfile.ZipFile(path)
        part = _sheet_xml_paths(zf).get(sheet_name)
    except (KeyError, zipfile.BadZipFile):  # not a workbook of XML parts (.xlsb): the whole read says why
        return None
    with zf:
        names = set(zf.namelist())
        # every piece parses the shared strings again: pieces of at least 4× their size
        # keep that under a quarter of the parse
        strings = zf.getinfo("xl/sharedStrings.xml").file_size if "xl/sharedStrings.xml" in names else 0
        piece_bytes = max(xlsx_pieces.PIECE_BYTES, 4 * strings)
        if part is None or part not in names or zf.getinfo(part).file_size <= 2 * piece_bytes:
            return None

    def load(piece):
        try:
            sheet = fastexcel.read_excel(str(piece.path)).load_sheet(
                0, header_row=piece.header, dtypes="string", whitespace_as_null=True)
            abs_idx = [c.absolute_index for c in sheet.available_columns()]
            table = sheet.to_arrow()
        except Exception as exc:
            raise InputError(f"{where}cannot be read (rows from {piece.first}): "
                             f"{str(exc).splitlines()[0]}",
                             hint="the sheet is damaged from about that row: export it again, or open "
                                  "and re-save it in Excel/WPS") from None
        if progress is not None:
            progress(piece.first + table.num_rows - (h + 2))  # the sheet's data rows up to this piece's end
        return abs_idx, table

    try:
        results, ranges = xlsx_pieces.read_pieces(path, part, h + 1, load, piece_bytes=piece_bytes)
    except xlsx_pieces.NotPieceable:
        return None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise InputError(f"{where}the sheet XML is damaged: {exc}",
                         hint="the file was probably cut off in download or copy; export it again") from None
    width = max([header_width, *(max(a, default=-1) + 1 for _, (a, _t) in results)])
    columns: dict[int, list] = {}
    expected = h + 2  # the sheet row the next piece should start at
    pieces = []
    for piece, (abs_idx, table) in results:
        if piece.first < expected:
            return None  # rows out of order: only a whole read places them
        gap = piece.first - expected
        pieces.append((gap, table.num_rows, dict(zip(abs_idx, table.columns))))
        expected = piece.first + table.num_rows
    del results
    for a in range(width):
        parts = []
        for gap, n, cols in pieces:
            if gap:
                parts.append(pa.nulls(gap, pa.string()))
            col = cols.pop(a, None)
            if col is None:
                parts.append(pa.nulls(n, pa.string()))
            else:
                parts.extend(c if c.type == pa.string() else c.cast(pa.string())
                             for c in (col.chunks if isinstance(col, pa.ChunkedArray) else [col]))
        columns[a] = pa.chunked_array(parts, type=pa.string())
    table = pa.table({str(a): col for a, col in columns.items()})
    return table, list(columns), ranges


def arrow_to_text(table, names: list[str], *, blanks_are_null: bool = False) -> pd.DataFrame:
    """Arrow columns → pandas (Arrow-backed) strings; blank/whitespace → NA
    (``blanks_are_null``: the reader has already made them null)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    import concurrent.futures as cf

    def clean(col):
        # one contiguous array whose value offsets start at 0: pandas 3.0.0 takes rows of a
        # sliced string array (a batch cut out of a larger read) from the wrong bytes
        parts = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
        if len(parts) != 1 or not _offsets_from_zero(parts[0]):
            col = pa.concat_arrays(parts) if parts else pa.array([], type=col.type)
        else:
            col = parts[0]
        if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
            col = pc.cast(col, pa.string())
        if not blanks_are_null:
            trimmed = pc.utf8_trim_whitespace(col)
            col = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, col.type), col)
        return pd.array(col, dtype="string")

    with cf.ThreadPoolExecutor(max_workers=2) as pool:  # Arrow kernels release the GIL
        data = dict(zip(names, pool.map(clean, table.columns)))
    return pd.DataFrame(data)


def _offsets_from_zero(arr) -> bool:
    """A string array whose first value offset is 0 (not a slice of a larger one)."""
    import pyarrow as pa

    if arr.offset or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)) or not len(arr):
        return False
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    return int(np.frombuffer(arr.buffers()[1], dtype=width, count=1)[0]) == 0


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


def _open_bytes(path: Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def _head(path: Path, size: int = 1 << 16) -> bytes:
    try:
        with _open_bytes(path) as fh:
            return fh.read(size)
    except (OSError, EOFError) as exc:
        raise InputError(f"{path} is a damaged gzip file: {exc}") from None


def has_blank_lines(path: Path) -> bool:
    """A blank line inside the data would shift pyarrow's row numbers."""
    tail = b""
    with _open_bytes(path) as fh:
        while True:
            chunk = fh.read(1 << 22)
            if not chunk:
                return False
            buf = tail + chunk
            if b"\n\n" in buf or b"\n\r\n" in buf:
                return True
            tail = buf[-2:]


def sniff_csv(path: Path) -> tuple[str, str, list[str]]:
    """A CSV file's encoding (UTF-8 ± BOM, GB18030 or UTF-16), delimiter (, ; tab |)
    and first lines, from its head."""
    head = _head(path)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"
    elif b"\x00" in head[:4096]:
        raise InputError(f"{path} is a binary file, not CSV or Excel")
    else:
        cut = head[: head.rfind(b"\n") + 1] or head
        encoding = "utf-8"
        try:
            cut.decode("utf-8")
        except UnicodeDecodeError:
            try:
                cut.decode("gb18030")
                encoding = "gb18030"
            except UnicodeDecodeError:
                raise InputError(f"{path} is neither UTF-8 nor GBK/GB18030 text",
                                 hint="save it as CSV UTF-8, or as .xlsx") from None
    lines = head.decode(encoding, errors="ignore").lstrip("\ufeff").splitlines()[:PROBE_ROWS]
    delim = max([",", ";", "\t", "|"], key=lambda d: sum(line.count(d) for line in lines[:10]))
    return encoding, delim, lines


def _read_csv(path: Path, mapping: Mapping) -> RawSheet:
    """CSV (optionally gzipped) in UTF-8 ± BOM, GB18030 or UTF-16; header found in
    the first lines. The body is read by pyarrow (columnar, multi-threaded, no
    whole-file Python string); files with blank lines or ragged rows go through
    pandas so row numbers stay exact."""
    encoding, delim, h, names, title = csv_header(path, mapping)
    df = None
    if encoding != "utf-16" and not has_blank_lines(path):
        df = csv_arrow(path, encoding, delim, h, names)
    if df is None:
        df = csv_pandas(path, encoding, delim, h, names)
    rows = np.arange(len(df), dtype=np.int64) + h + 2
    blank = df.isna().all(axis=1).to_numpy()
    if blank.any():
        df = df.loc[~blank].reset_index(drop=True)
        rows = rows[~blank]
    return RawSheet(str(path), "", df, rows, mapping, kind="csv", title=title)


def csv_header(path: Path, mapping: Mapping) -> tuple[str, str, int, list[str], str | None]:
    """A CSV file's encoding, delimiter, header line index (0-based), column names and
    the title text above the header, found in its first lines."""
    encoding, delim, head_lines = sniff_csv(path)
    try:
        probe = list(csv.reader(io.StringIO("\n".join(head_lines)), delimiter=delim))
    except csv.Error as exc:
        raise InputError(f"{path}: not readable as CSV: {exc}") from None
    h = find_header(probe, mapping)
    if h is None:
        raise MappingError(f"{path}: no header row naming a case id (办件编号 …) in its first {PROBE_ROWS} lines",
                           hint="first line: " + (head_lines[0][:200] if head_lines else "(empty)"))
    names = header_names(probe[h])
    _duplicated_fields(probe[h], mapping, f"{path.name}: ")
    title = " ".join(c for r in probe[:h] for c in r if c.strip()) or None
    return encoding, delim, h, names, title


class CsvRestart(Exception):
    """pyarrow could not stream this CSV (ragged rows, bad bytes): read it again
    with pandas, which reports exactly what is wrong (internal to streaming)."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path


def iter_csv_batches(path: Path, mapping: Mapping, batch_rows: int, *, exact: bool = False):
    """A CSV file as :class:`RawSheet` batches of about ``batch_rows`` rows, header
    found once; ``rows`` are the real line numbers across batches (as
    :func:`read_tables` gives them). pyarrow streams the body; UTF-16, files with
    blank lines, or ``exact=True`` go through pandas' chunked reader. Raises
    :class:`CsvRestart` when pyarrow fails part-way (use ``exact=True`` then)."""
    encoding, delim, h, names, title = csv_header(path, mapping)
    sheet_map = map_columns(names, mapping)
    if exact or encoding == "utf-16" or has_blank_lines(path):
        frames = _csv_pandas_chunks(path, encoding, delim, h, names, batch_rows)
    else:
        frames = _csv_arrow_chunks(path, encoding, delim, h, names, batch_rows)
    for df, rows in _numbered(frames, first=h + 2):
        yield RawSheet(str(path), "", df, rows, mapping, kind="csv", title=title, sheet_mapping=sheet_map)


def _numbered(frames, first: int):
    """Batches with the file's row number of each row (``first`` for the first row),
    blank rows left out (they are no data and count nowhere, as in one-shot reads)."""
    for df in frames:
        rows = np.arange(len(df), dtype=np.int64) + first
        first += len(df)
        blank = df.isna().all(axis=1).to_numpy()
        if blank.any():
            df = df.loc[~blank].reset_index(drop=True)
            rows = rows[~blank]
        yield df, rows


def _csv_arrow_chunks(path: Path, encoding: str, delim: str, h: int, names: list[str], batch_rows: int):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # blocks of at most 1 MiB, gathered into batches below: pyarrow reads several blocks
    # ahead, so a block of ~200 bytes per batch row (20 MB for 100,000) held ~200 MB more
    block = int(min(max(batch_rows * 200, 1 << 16), 1 << 20))
    pending, n = [], 0
    try:
        with _open_bytes(path) as fh:
            reader = pacsv.open_csv(
                fh,
                read_options=pacsv.ReadOptions(skip_rows=h + 1, column_names=names, encoding=encoding,
                                               block_size=block),
                parse_options=pacsv.ParseOptions(delimiter=delim, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in names},
                                                     strings_can_be_null=True, quoted_strings_can_be_null=True,
                                                     null_values=[""]))
            for batch in reader:
                pending.append(batch)
                n += batch.num_rows
                while n >= batch_rows:
                    table = pa.Table.from_batches(pending)
                    yield arrow_to_text(table.slice(0, batch_rows), names)
                    rest = table.slice(batch_rows)
                    pending, n = rest.to_batches(), rest.num_rows
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError, EOFError):
        raise CsvRestart(path) from None
    if n:
        yield arrow_to_text(pa.Table.from_batches(pending, schema=reader.schema), names)


def _csv_pandas_chunks(path: Path, encoding: str, delim: str, h: int, names: list[str], batch_rows: int):
    try:
        with _open_bytes(path) as fh:
            reader = pd.read_csv(fh, sep=delim, header=None, skiprows=h + 1, names=names, dtype=str,
                                 encoding="utf-8-sig" if encoding == "utf-8" else encoding, keep_default_na=False,
                                 na_values=[""], skip_blank_lines=False, index_col=False, on_bad_lines="error",
                                 engine="c", chunksize=batch_rows)
            for df in reader:
                df = df.astype("string")
                for name in df.columns:
                    df[name] = df[name].mask(df[name].str.strip() == "")
                yield df
    except UnicodeDecodeError:
        raise InputError(f"{path}: bytes that are not {encoding} text further down the file",
                         hint="re-save the file as CSV UTF-8") from None
    except (pd.errors.ParserError, ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: CSV is malformed: {str(exc).splitlines()[0]}") from None


# ---------------------------------------------------------------- Parquet


def iter_parquet_batches(path: Path, mapping: Mapping, batch_rows: int = 1 << 20):
    """A raw export saved as Parquet (any column names a CSV header may have) as
    :class:`RawSheet` batches, every column as text. ``rows`` are 1-based row
    numbers in the file (the first data row is 1)."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for damaged files
        raise InputError(f"{path} is not a readable Parquet file: {str(exc).splitlines()[0]}") from None
    raw_names = list(pf.schema_arrow.names)
    _duplicated_fields(raw_names, mapping, f"{path.name}: ")
    names = header_names(raw_names)
    sheet_map = map_columns(names, mapping, where=f"{path.name}: ")
    if pf.metadata.num_rows == 0:
        empty = pd.DataFrame({n: pd.Series([], dtype="string") for n in names})
        yield RawSheet(str(path), "", empty, np.zeros(0, np.int64), mapping, kind="parquet", sheet_mapping=sheet_map)
        return
    try:
        batches = pf.iter_batches(batch_size=max(int(batch_rows), 1))
        for df, rows in _numbered((arrow_to_text(_as_text(b), names) for b in batches), first=1):
            yield RawSheet(str(path), "", df, rows, mapping, kind="parquet", sheet_mapping=sheet_map)
    except OSError as exc:
        raise InputError(f"{path}: the Parquet file is damaged further in: {str(exc).splitlines()[0]}") from None


def _as_text(batch):
    """Every column of an Arrow batch as strings (times as ISO text, numbers as written)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = []
    for col in batch.columns:
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            cols.append(col)
            continue
        if ((pa.types.is_list(col.type) or pa.types.is_large_list(col.type))
                and (pa.types.is_string(col.type.value_type) or pa.types.is_large_string(col.type.value_type))):
            # a list of names (a canonical log's documents): one per line, as a cell lists them
            # (split_materials reads it back); a missing name is left out
            lengths = pc.fill_null(pc.list_value_length(col), 0).to_numpy(zero_copy_only=False)
            offsets = pa.array(np.concatenate(([0], np.cumsum(lengths))).astype(np.int64))
            dense = pa.LargeListArray.from_arrays(offsets, pc.fill_null(pc.list_flatten(col), ""))
            cols.append(pc.if_else(col.is_null(), pa.scalar(None, pa.large_string()),
                                   pc.cast(pc.binary_join(dense, "\n"), pa.large_string())))
            continue
        try:
            cols.append(pc.cast(col, pa.string()))
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # lists, structs, binary
            cols.append(pa.array([None if v is None else str(v) for v in col.to_pylist()], pa.string()))
    return pa.Table.from_arrays(cols, names=[f"c{i}" for i in range(len(cols))])


def concat_batches(batches: list[RawSheet]) -> RawSheet:
    """Batches of one table → the whole table (the in-memory path)."""
    first = batches[0]
    frame = pd.concat([b.frame for b in batches], ignore_index=True) if len(batches) > 1 else first.frame
    rows = np.concatenate([b.rows for b in batches]) if len(batches) > 1 else first.rows
    return RawSheet(first.file, first.sheet, frame, rows, first.mapping, numeric_columns=first.numeric_columns,
                    kind=first.kind, title=first.title, sheet_mapping=first.sheet_mapping)


def csv_arrow(path: Path, encoding: str, delim: str, h: int, names: list[str]) -> pd.DataFrame | None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        with _open_bytes(path) as fh:
            table = pacsv.read_csv(
                fh,
                read_options=pacsv.ReadOptions(skip_rows=h + 1, column_names=names, encoding=encoding,
                                               block_size=1 << 24),
                parse_options=pacsv.ParseOptions(delimiter=delim, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                     strings_can_be_null=True, quoted_strings_can_be_null=True,
                                                     null_values=[""]))
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError, EOFError):
        return None  # ragged rows, bad bytes: let the exact path report it
    return arrow_to_text(table, names)


def csv_pandas(path: Path, encoding: str, delim: str, h: int, names: list[str]) -> pd.DataFrame:
    try:
        with _open_bytes(path) as fh:
            df = pd.read_csv(fh, sep=delim, header=None, skiprows=h + 1, names=names, dtype=str,
                             encoding="utf-8-sig" if encoding == "utf-8" else encoding, keep_default_na=False,
                             na_values=[""], skip_blank_lines=False, index_col=False, on_bad_lines="error",
                             engine="c")
    except UnicodeDecodeError:
        raise InputError(f"{path}: bytes that are not {encoding} text further down the file",
                         hint="re-save the file as CSV UTF-8") from None
    except (pd.errors.ParserError, ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: CSV is malformed: {str(exc).splitlines()[0]}") from None
    df = df.astype("string")
    for name in df.columns:
        df[name] = df[name].mask(df[name].str.strip() == "")
    return df


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


# The old private spellings of names other modules use, for code written before they
# became public (issue 26, while several branches are merged); the import-graph test
# (tests/test_layout.py) fails on any new use of them. To be removed with the package moves.
_arrow_to_text = arrow_to_text
_csv_arrow = csv_arrow
_csv_pandas = csv_pandas
_has_blank_lines = has_blank_lines
_load_in_pieces = load_in_pieces
_open_excel = open_excel
