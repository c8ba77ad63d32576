"""Read a large .xlsx sheet in pieces of rows, so memory stays bounded.

calamine (through fastexcel) builds a sheet as one dense range of cells. For a
million-row sheet it holds every cell twice at one moment: the cells as parsed
and the dense grid they are moved into: about 1 GB for a million rows of 11
columns, growing with the sheet's rows × columns. Here the sheet XML is decompressed as a stream and
cut at row boundaries into pieces of about ``piece_bytes``. Each piece is
written, uncompressed, as a one-sheet workbook (the original styles, shared
strings and date system) to a temporary file, and fastexcel reads that. A
thread builds the next piece while fastexcel, which releases the GIL, parses
the current one.

Every piece starts with one marker row placed just above its first data row.
The marker pins where fastexcel's range begins, so a piece's row ``i`` is sheet
row ``first + i`` exactly, and blank rows inside a piece keep their places.
Columns come back by their absolute sheet index. The merged ranges after
``</sheetData>`` are collected on the way.

Sheets whose rows carry no ``r="…"`` numbers (allowed, rare in exports) cannot
be placed this way: :class:`NotPieceable` tells the caller to read the sheet
whole.
"""

from __future__ import annotations

import queue
import re
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PIECE_BYTES = 64 << 20  # uncompressed sheet XML per piece (about 90k rows of 11 columns)

# a merged range in sheet XML (any namespace prefix, dots or dashes in it), and a column's letters → index
MERGE_RE = re.compile(rb'<(?:[\w.-]+:)?mergeCell\s+ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')


def col_index(letters: bytes) -> int:
    """Column letters → 0-based index: b"A" → 0, b"Z" → 25, b"AA" → 26."""
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n - 1


_ROOT_RE = re.compile(rb"<((?:[\w.-]+:)?)worksheet\b[^>]*>")
_ROW_RE = re.compile(rb"<(?:[\w.-]+:)?row\b([^>]*?)(/?)>")
_ROW_R_RE = re.compile(rb'\br\s*=\s*["\'](\d+)["\']')

_CT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
       '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
       '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
       '<Default Extension="xml" ContentType="application/xml"/>'
       '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument'
       '.spreadsheetml.sheet.main+xml"/>'
       '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
       'officedocument.spreadsheetml.worksheet+xml"/>'
       '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument'
       '.spreadsheetml.styles+xml"/>'
       '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
       'officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
         '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
_WB_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{_R}worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_R}styles" Target="styles.xml"/>'
            f'<Relationship Id="rId3" Type="{_R}sharedStrings" Target="sharedStrings.xml"/>'
            '</Relationships>')
_EMPTY_SST = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="http://schemas.'
              'openxmlformats.org/spreadsheetml/2006/main" count="0" uniqueCount="0"/>')
_EMPTY_STYLES = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><styleSheet xmlns="http://schemas.'
                 'openxmlformats.org/spreadsheetml/2006/main"/>')


class NotPieceable(Exception):
    """The sheet cannot be cut into placed pieces; read it whole."""


@dataclass
class Piece:
    path: Path   # a one-sheet workbook holding the piece
    first: int   # sheet row number (1-based) of the piece's first data row
    header: int  # fastexcel header_row (0-based, absolute) of the piece's marker row


@dataclass
class _Parts:
    styles: bytes
    strings: bytes
    date1904: bool
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)


def _workbook_parts(zf: zipfile.ZipFile) -> _Parts:
    """The parts a piece needs from the original workbook."""
    names = set(zf.namelist())
    wb = zf.read("xl/workbook.xml")
    rels = zf.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace") \
        if "xl/_rels/workbook.xml.rels" in names else ""

    def target(kind: str, default: str) -> str:
        for m in re.finditer(r"<Relationship\b[^>]*>", rels):
            tag = m.group(0)
            if re.search(rf'Type="[^"]*/{kind}"', tag):
                t = re.search(r'Target="([^"]+)"', tag)
                if t:
                    path = t.group(1).lstrip("/")
                    return path if path.startswith("xl/") else "xl/" + path
        return default

    styles, strings = target("styles", "xl/styles.xml"), target("sharedStrings", "xl/sharedStrings.xml")
    date1904 = re.search(rb'<(?:[\w.-]+:)?workbookPr\b[^>]*\bdate1904\s*=\s*["\'](1|true)["\']', wb) is not None
    return _Parts(styles=zf.read(styles) if styles in names else _EMPTY_STYLES.encode(),
                  strings=zf.read(strings) if strings in names else _EMPTY_SST.encode(),
                  date1904=date1904)


def _write_piece(path: Path, parts: _Parts, sheet_xml: list[bytes]) -> None:
    wb = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
          '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
          f'xmlns:r="{_R[:-1]}">'
          + ('<workbookPr date1904="1"/>' if parts.date1904 else "")
          + '<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("[Content_Types].xml", _CT)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", wb)
        z.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        z.writestr("xl/styles.xml", parts.styles)
        z.writestr("xl/sharedStrings.xml", parts.strings)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            for block in sheet_xml:
                fh.write(block)


def _pieces(src: Path, sheet_part: str, header_row: int, piece_bytes: int, tmp: Path,
            parts_out: list) -> Iterator[Piece]:
    """Write the data rows below ``header_row`` (1-based) as piece workbooks, in order."""
    block_size = min(8 << 20, piece_bytes)
    with zipfile.ZipFile(src) as zf:
        parts = _workbook_parts(zf)
        parts_out.append(parts)
        with zf.open(sheet_part) as fh:
            buf = bytearray()
            eof = False

            def more() -> bool:
                nonlocal eof
                block = fh.read(block_size)
                if not block:
                    eof = True
                    return False
                buf.extend(block)
                return True

            while True:  # the root element and <sheetData>
                root = _ROOT_RE.search(buf)
                p = root.group(1) if root else b""
                data = re.search(rb"<" + re.escape(p) + rb"sheetData\b[^>]*?(/?)>", buf) if root else None
                if data or not more():
                    break
            if root is None or data is None:
                raise NotPieceable("no <sheetData> in the sheet XML")
            head = bytes(buf[root.start():root.end()]) + b"<" + p + b"sheetData>"
            foot = b"</" + p + b"sheetData></" + p + b"worksheet>"
            row_end = b"</" + p + b"row>"
            data_end = b"</" + p + b"sheetData>"
            if data.group(1):  # <sheetData/>: no rows at all
                return
            del buf[:data.end()]
            # drop the rows down to the header (they are within the first blocks)
            while True:
                m = _ROW_RE.search(buf)
                if m is None or (data_end in buf and buf.find(data_end) < m.start()):
                    if buf.find(data_end) >= 0 or not more():
                        break
                    continue
                r = _ROW_R_RE.search(m.group(1))
                if r is None:
                    raise NotPieceable("a row without its r number")
                if int(r.group(1)) > header_row:
                    del buf[:m.start()]
                    break
                if m.group(2):
                    del buf[:m.end()]
                    continue
                close = buf.find(row_end, m.end())
                if close < 0:
                    if not more():
                        raise NotPieceable("the sheet XML ends inside a row")
                    continue
                del buf[:close + len(row_end)]
            k = 0
            while True:
                while len(buf) < piece_bytes and not eof:
                    more()
                end = buf.find(data_end)
                final = False
                if 0 <= end <= piece_bytes:
                    cut, final = end, True
                else:
                    limit = end if end >= 0 else len(buf)
                    cut = buf.rfind(row_end, 0, min(limit, piece_bytes))
                    if cut < 0:  # a row longer than a piece: it goes whole
                        cut = buf.find(row_end, 0, limit)
                    if cut >= 0:
                        cut += len(row_end)
                    elif end >= 0:
                        cut, final = end, True
                    elif eof:
                        raise NotPieceable("the sheet XML has no </sheetData>")
                    else:
                        more()
                        continue
                m = _ROW_RE.search(buf, 0, cut)
                if m is not None:
                    r = _ROW_R_RE.search(m.group(1))
                    if r is None:
                        raise NotPieceable("a row without its r number")
                    first = int(r.group(1))
                    if first < 2:
                        raise NotPieceable("a data row numbered 1")
                    n = str(first - 1).encode()
                    mark = (b"<" + p + b'row r="' + n + b'"><' + p + b'c r="A' + n + b'" t="inlineStr"><'
                            + p + b"is><" + p + b"t>c0</" + p + b"t></" + p + b"is></" + p + b"c></" + p + b"row>")
                    path = tmp / f"piece{k}.xlsx"
                    with memoryview(buf) as view:
                        _write_piece(path, parts, [head, mark, view[:cut], foot])
                    k += 1
                    yield Piece(path, first, first - 2)
                del buf[:cut]
                if final:
                    break
            # merged ranges sit after </sheetData>
            while True:
                last = 0
                for m in MERGE_RE.finditer(buf):
                    c0, r0 = m.group(1), int(m.group(2))
                    c1, r1 = m.group(3) or c0, int(m.group(4) or m.group(2))
                    parts.merges.append((r0 - 1, col_index(c0), r1 - 1, col_index(c1)))
                    last = m.end()
                cut = max(last, buf.rfind(b">") + 1)
                del buf[:cut]
                if not more():
                    break


def read_pieces(src: Path, sheet_part: str, header_row: int, load, *,
                piece_bytes: int = PIECE_BYTES) -> tuple[list, list[tuple[int, int, int, int]]]:
    """``load(piece)`` for every piece, in sheet order, while the next is built.

    Returns (piece, result) pairs and the sheet's merged ranges (0-based, inclusive).
    Raises :class:`NotPieceable` when the sheet cannot be cut (the caller then
    reads it whole); the pieces' files are gone either way.
    """
    results = []
    with tempfile.TemporaryDirectory(prefix="procmine-xlsx-") as tmp:
        ready: queue.Queue = queue.Queue(maxsize=1)
        parts_out: list[_Parts] = []
        stop = threading.Event()

        def produce():
            try:
                for piece in _pieces(src, sheet_part, header_row, piece_bytes, Path(tmp), parts_out):
                    while not stop.is_set():
                        try:
                            ready.put(piece, timeout=0.2)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                ready.put(None)
            except BaseException as exc:  # handed to the consumer, raised there
                ready.put(exc)

        worker = threading.Thread(target=produce, name="procmine-xlsx-pieces", daemon=True)
        worker.start()
        try:
            while True:
                item = ready.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                results.append((item, load(item)))
                item.path.unlink()
        finally:
            stop.set()
            while worker.is_alive():  # let it finish writing before the directory goes
                try:
                    ready.get(timeout=0.2)
                except queue.Empty:
                    pass
            worker.join()
    return results, (parts_out[0].merges if parts_out else [])
