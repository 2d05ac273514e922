"""Document metadata (title, issuer, date, number) from metadata.json or from the text itself."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from bot.services.knowledge.lines import (
    ORG_SUFFIX_RE,
    Line,
    LineKind,
    ends_sentence,
    find_doc_number,
    parse_date,
)

METADATA_FILE = "metadata.json"
# Official titles rarely exceed this; a longer "title" is a paragraph we misread.
MAX_TITLE = 120
# Where the header of a notice ends: the addressee line is among its first lines.
HEAD_LINES = 15
_ISSUER_IN_TITLE_RE = re.compile(r"^(.{2,30}?)(?:关于|印发|转发)")


@dataclass(frozen=True, slots=True)
class Metadata:
    """What a document says about itself; every field may be unknown."""

    title: str | None = None
    issuer: str | None = None
    date: str | None = None
    doc_number: str | None = None

    def merged(self, override: Metadata) -> Metadata:
        """Fields of ``override`` that are set win over ours; an empty string clears ours.

        None means "not known", so the text's reading stays; "" is an admin who removed a
        wrongly read value (a date or document number) at the upload's confirmation.
        """
        values = {k: v or None for k, v in _fields(override).items() if v is not None}
        return replace(self, **values)


def _fields(meta: Metadata) -> dict[str, str | None]:
    """The metadata as a plain dict."""
    return {
        "title": meta.title,
        "issuer": meta.issuer,
        "date": meta.date,
        "doc_number": meta.doc_number,
    }


def load_metadata_file(folder: Path) -> dict[str, Metadata]:
    """Read ``metadata.json`` in ``folder`` (a list of objects keyed by "file"), if present."""
    path = folder / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        # A broken sidecar must not block indexing: the text still carries the metadata.
        return {}
    if isinstance(rows, dict):
        rows = [{"file": name, **row} for name, row in rows.items() if isinstance(row, dict)]
    return {
        str(row["file"]): _from_row(row) for row in rows if isinstance(row, dict) and "file" in row
    }


def _from_row(row: dict[str, object]) -> Metadata:
    """One metadata.json entry; the date is normalised to ISO when it parses."""

    def text(key: str) -> str | None:
        value = row.get(key)
        return str(value).strip() or None if value else None

    date = text("date")
    if date and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        date = parse_date(date) or date
    return Metadata(text("title"), text("issuer"), date, text("doc_number"))


def extract_metadata(lines: list[Line]) -> Metadata:
    """Guess title, issuer, date and document number from a document's logical lines."""
    issuer, date = _signature(lines)
    title = _title(lines)
    if issuer is None and title:
        issuer = _issuer_from_title(title)
    if date is None:
        date = next((parse_date(ln.text) for ln in lines if ln.kind == LineKind.DATE), None)
    return Metadata(title, issuer, date, find_doc_number(lines[:HEAD_LINES]))


def _title(lines: list[Line]) -> str | None:
    """A leading H1, else the line just before the addressee, else the first short line."""
    head = lines[:HEAD_LINES]
    if head and head[0].kind == LineKind.HEADING and head[0].md_level == 1:
        return head[0].text
    for index, line in enumerate(head):
        if line.kind == LineKind.ADDRESSEE and index > 0:
            before = head[index - 1]
            if _title_like(before):
                return before.text
            break
    return next((ln.text for ln in head if _title_like(ln)), None)


def _title_like(line: Line) -> bool:
    """A text line short enough and unfinished enough to be a title."""
    return (
        line.kind in (LineKind.TEXT, LineKind.HEADING)
        and len(line.text) <= MAX_TITLE
        and not ends_sentence(line.text)
    )


def _signature(lines: list[Line]) -> tuple[str | None, str | None]:
    """The first signature line that sits next to a date line: the issuer and its date."""
    for index, line in enumerate(lines):
        if line.kind != LineKind.SIGNATURE:
            continue
        for other in (index + 1, index - 1):
            if 0 <= other < len(lines) and lines[other].kind == LineKind.DATE:
                return line.text, parse_date(lines[other].text)
    return None, None


def _issuer_from_title(title: str) -> str | None:
    """``河南省科协关于印发…`` names its issuer before 关于; expand 科协 to the full name."""
    match = _ISSUER_IN_TITLE_RE.match(title)
    if not match or not ORG_SUFFIX_RE.search(match.group(1)):
        return None
    issuer = match.group(1)
    if issuer.endswith("科协"):
        issuer = issuer[: -len("科协")] + "科学技术协会"
    return issuer
