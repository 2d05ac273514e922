"""A small streaming .xlsx writer: rows go straight into the zip, so memory stays flat.

Why not openpyxl's write-only mode: it builds a cell object and an XML element per cell, which
measured 70 s for 200,000 activity rows (17 columns) on the 2-core development machine, and
XlsxWriter's constant-memory mode was no faster; formatting each row as one string is about ten
times faster. The files are plain SpreadsheetML (inline strings, one number format per date
column, a bold header, a frozen first row); the tests read every one back with openpyxl.
"""

from __future__ import annotations

import contextlib
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import IO, Any
from xml.sax.saxutils import escape, quoteattr

Target = str | os.PathLike[str] | IO[bytes]
MAX_ROWS = 1_048_576  # Excel's limit of rows in one sheet
MAX_COLUMNS = 256  # more than any export here has; cells past it would be dropped
CELL_MAX = 32_767  # characters in one cell
EPOCH = date(1899, 12, 30)  # day 0 of Excel's 1900 date system (with its leap-year bug)
STYLE_DATE, STYLE_TIME, STYLE_BOLD = 1, 2, 3
# Characters XML 1.0 forbids; users paste them from other apps.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f]")
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL_NS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPES = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_STYLES = (
    f"{_HEAD}<styleSheet {_NS}>"
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


class SheetFull(ValueError):
    """More rows than one Excel sheet holds."""


def column_letter(index: int) -> str:
    """``0`` → ``A``, ``26`` → ``AA``."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def text(value: str) -> str:
    """A string as cell XML content: legal characters only, escaped, within Excel's limit."""
    if len(value) > CELL_MAX:
        value = value[:CELL_MAX]
    # Most cells need neither: one search instead of a sub and three replaces per cell.
    if _SPECIAL.search(value) is None:
        return value
    return escape(_ILLEGAL.sub("", value))


class Sheet:
    """One worksheet being written; rows are appended in order and never kept."""

    def __init__(self, stream: IO[bytes], widths: Sequence[float]) -> None:
        self._out = stream
        self._rows = 0
        self._letters = [column_letter(i) for i in range(MAX_COLUMNS)]
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
            for i, w in enumerate(widths, start=1)
        )
        self._out.write(
            f'{_HEAD}<worksheet {_NS} {_REL_NS}><sheetViews><sheetView workbookViewId="0">'
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            f"</sheetView></sheetViews>{f'<cols>{cols}</cols>' if cols else ''}"
            "<sheetData>".encode()
        )

    @property
    def rows_written(self) -> int:
        """How many rows the sheet has so far."""
        return self._rows

    def header(self, titles: Sequence[str]) -> None:
        """A bold row."""
        self._write([self._row(titles, bold=True)])

    def rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Append rows of str, int, float, bool, date, datetime or None (an empty cell)."""
        self._write([self._row(values) for values in rows])

    def columns(self, columns: Sequence[Sequence[bytes]]) -> None:
        """Append rows given column by column, as cell XML made by the ``*_cells`` functions.

        A big export renders each column with one list comprehension of a single cell kind
        instead of deciding every cell's kind on its own, and in bytes, so that the sheet's
        markup is not encoded again with every row. The cells carry no reference (``r``):
        SpreadsheetML places them in order, and ``EMPTY`` holds the place of an empty one.
        """
        first = self._rows + 1
        lines = [
            b'<row r="%d">%b</row>' % (number, cells)
            for number, cells in enumerate(map(b"".join, zip(*columns, strict=True)), first)
        ]
        self._rows += len(lines)
        if self._rows > MAX_ROWS:
            raise SheetFull(self._rows)
        self._out.write(b"".join(lines))

    def _write(self, lines: list[str]) -> None:
        if self._rows > MAX_ROWS:
            raise SheetFull(self._rows)
        self._out.write("".join(lines).encode())

    def _row(self, values: Sequence[Any], bold: bool = False) -> str:
        self._rows += 1
        number = self._rows
        style = f' s="{STYLE_BOLD}"' if bold else ""
        parts = [f'<row r="{number}">']
        add = parts.append
        # Strings and integers, most of an export's cells, are formatted inline: a function
        # call per cell is a fifth of the time of a big export.
        for letter, value in zip(self._letters, values, strict=False):
            kind = type(value)
            if kind is str:
                if value:
                    content = value if _SPECIAL.search(value) is None else text(value)
                    if len(content) > CELL_MAX:
                        content = text(value)
                    add(f'<c r="{letter}{number}" t="inlineStr"{style}><is>'
                        f'<t xml:space="preserve">{content}</t></is></c>')  # fmt: skip
            elif kind is int:
                add(f'<c r="{letter}{number}"{style}><v>{value}</v></c>')
            elif value is not None:
                add(_cell(f"{letter}{number}", value, style))
        add("</row>")
        return "".join(parts)

    def close(self) -> None:
        """End the sheet's XML."""
        self._out.write(b"</sheetData></worksheet>")
        self._out.close()


def _cell(ref: str, value: Any, style: str) -> str:
    kind = type(value)
    if kind is str:
        inline = f'<is><t xml:space="preserve">{text(value)}</t></is>'
        return f'<c r="{ref}" t="inlineStr"{style}>{inline}</c>'
    if kind is int or kind is float:
        return f'<c r="{ref}"{style}><v>{value}</v></c>'
    if kind is bool:
        return f'<c r="{ref}" t="b"{style}><v>{int(value)}</v></c>'
    if kind is datetime:
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        serial = (value.date() - EPOCH).days + seconds / 86400
        return f'<c r="{ref}" s="{STYLE_TIME}"><v>{serial!r}</v></c>'
    if kind is date:
        return f'<c r="{ref}" s="{STYLE_DATE}"><v>{(value - EPOCH).days}</v></c>'
    return _cell(ref, str(value), style)


EMPTY = b"<c/>"


def text_cell(value: str | None) -> bytes:
    """One inline string cell (escaped when it has to be); None and "" give an empty cell."""
    if value and (len(value) > CELL_MAX or _SPECIAL.search(value) is not None):
        value = text(value)
    if not value:
        return EMPTY
    if value[0].isspace() or value[-1].isspace():  # kept only when asked for (as openpyxl)
        return f'<c t="inlineStr"><is><t xml:space="preserve">{value}</t></is></c>'.encode()
    return f'<c t="inlineStr"><is><t>{value}</t></is></c>'.encode()


def text_cells(values: Sequence[str | None]) -> list[bytes]:
    """A column of inline string cells, for texts that seldom repeat (titles, summaries)."""
    return [text_cell(value) for value in values]


def number_cells(values: Sequence[int | None]) -> list[bytes]:
    """A column of integer cells."""
    return [EMPTY if value is None else b"<c><v>%d</v></c>" % value for value in values]


def date_cell(serial: int) -> bytes:
    """A date cell, given as an Excel day number (`date_serial`)."""
    return b'<c s="%d"><v>%d</v></c>' % (STYLE_DATE, serial)


def time_cells(serials: Sequence[float | None]) -> list[bytes]:
    """A column of date-times, given as Excel day numbers with a fraction."""
    cell = f'<c s="{STYLE_TIME}"><v>%r</v></c>'
    return [EMPTY if n is None else (cell % n).encode() for n in serials]


def date_serial(day: date) -> int:
    """A date as Excel counts it (days since 1899-12-30)."""
    return (day - EPOCH).days


class CellCache(dict[Any, bytes]):
    """The cell of each distinct value, rendered once: for columns that repeat a few values
    (types, units, org names, days), ``cells`` is a dictionary look-up per row."""

    def __init__(self, render: Callable[[Any], bytes]) -> None:
        super().__init__()
        self._render = render

    def __missing__(self, value: Any) -> bytes:
        cell = self[value] = self._render(value)
        return cell

    def cells(self, values: Iterable[Any]) -> list[bytes]:
        """The column of cells for ``values``."""
        return list(map(self.__getitem__, values))


class Workbook:
    """An .xlsx file written sheet by sheet into ``target`` (a path or a binary file)."""

    def __init__(self, target: Target, *, compresslevel: int = 1) -> None:
        # Level 1 deflates several times faster than the default and the file stays small:
        # the XML repeats itself a lot.
        self._zip = zipfile.ZipFile(
            target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
        )
        self._names: list[str] = []
        self._open: Sheet | None = None
        self._shared: dict[str, int] = {}

    def shared_cell(self, value: str | None) -> bytes:
        """A cell showing ``value`` from the shared-string table: a repeated text (an org's
        path on every one of its rows) is stored once, and each cell holds its number."""
        if value and (len(value) > CELL_MAX or _SPECIAL.search(value) is not None):
            value = text(value)
        if not value:
            return EMPTY
        index = self._shared.setdefault(value, len(self._shared))
        return b'<c t="s"><v>%d</v></c>' % index

    def sheet(self, name: str, widths: Sequence[float] = ()) -> Sheet:
        """Start the next sheet (the previous one is closed first)."""
        self._close_sheet()
        self._names.append(name[:31])
        part = f"xl/worksheets/sheet{len(self._names)}.xml"
        self._open = Sheet(self._zip.open(part, "w", force_zip64=True), widths)
        return self._open

    def _close_sheet(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None

    def abort(self) -> None:
        """Give up after a failure: release the file without finishing the workbook."""
        with contextlib.suppress(Exception):
            if self._open is not None:
                self._open._out.close()
        with contextlib.suppress(Exception):
            self._zip.close()

    def close(self) -> None:
        """Write the workbook parts and finish the zip."""
        self._close_sheet()
        count = len(self._names)
        sheets = "".join(
            f'<sheet name={quoteattr(_ILLEGAL.sub("", name))} sheetId="{i}" r:id="rId{i}"/>'
            for i, name in enumerate(self._names, start=1)
        )
        parts = {
            "[Content_Types].xml": _content_types(count, bool(self._shared)),
            "_rels/.rels": f'{_HEAD}<Relationships xmlns="{_PACKAGE_RELS}">'
            f'<Relationship Id="rId1" Type="{_RELS}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>",
            "xl/workbook.xml": f"{_HEAD}<workbook {_NS} {_REL_NS}><sheets>{sheets}</sheets>"
            "</workbook>",
            "xl/_rels/workbook.xml.rels": _workbook_rels(count, bool(self._shared)),
            "xl/styles.xml": _STYLES,
        }
        if self._shared:
            parts["xl/sharedStrings.xml"] = _shared_strings(self._shared)
        for name, xml in parts.items():
            self._zip.writestr(name, xml)
        self._zip.close()


def _content_types(count: int, shared: bool) -> str:
    sheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_TYPES}.worksheet+xml"/>'
        for i in range(1, count + 1)
    )
    if shared:
        sheets += (
            '<Override PartName="/xl/sharedStrings.xml" '
            f'ContentType="{_TYPES}.sharedStrings+xml"/>'
        )
    return (
        f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPES}.sheet.main+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{_TYPES}.styles+xml"/>{sheets}</Types>'
    )


def _workbook_rels(count: int, shared: bool) -> str:
    links = "".join(
        f'<Relationship Id="rId{i}" Type="{_RELS}/worksheet" '
        f'Target="/xl/worksheets/sheet{i}.xml"/>'
        for i in range(1, count + 1)
    )
    links += f'<Relationship Id="rId{count + 1}" Type="{_RELS}/styles" Target="/xl/styles.xml"/>'
    if shared:
        links += (
            f'<Relationship Id="rId{count + 2}" Type="{_RELS}/sharedStrings" '
            'Target="/xl/sharedStrings.xml"/>'
        )
    return f'{_HEAD}<Relationships xmlns="{_PACKAGE_RELS}">{links}</Relationships>'


def _shared_strings(table: dict[str, int]) -> str:
    # Dictionaries keep insertion order, which is the order of the numbers.
    items = "".join(
        f'<si><t xml:space="preserve">{value}</t></si>'
        if value[0].isspace() or value[-1].isspace()
        else f"<si><t>{value}</t></si>"
        for value in table
    )
    count = len(table)
    return f'{_HEAD}<sst {_NS} count="{count}" uniqueCount="{count}">{items}</sst>'
