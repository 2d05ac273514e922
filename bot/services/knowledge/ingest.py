"""Read .txt, .md, .docx and .pdf files into plain text, refusing bad input with typed errors."""

from __future__ import annotations

import hashlib
import itertools
import re
from pathlib import Path

from bot.services.knowledge.errors import IngestCode, IngestError
from bot.services.knowledge.tokenize import nfkc

MAX_BYTES = 20 * 1024 * 1024
TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | {".docx", ".pdf"}
# Below this many letters a PDF is a scan (images) or a form without text.
MIN_TEXT_CHARS = 20
_LETTER_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fffA-Za-z0-9]")
_SPACE_RE = re.compile(r"\s+")


def read_document(path: Path, *, max_bytes: int = MAX_BYTES) -> str:
    """The text of a supported file; raises IngestError before reading anything too large."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(IngestCode.UNSUPPORTED_TYPE, suffix or path.name)
    try:
        size = path.stat().st_size
    except FileNotFoundError as error:
        raise IngestError(IngestCode.NOT_FOUND, str(path)) from error
    if size > max_bytes:
        raise IngestError(IngestCode.TOO_LARGE, f"{size} > {max_bytes} bytes")
    if size == 0:
        raise IngestError(IngestCode.EMPTY_FILE, path.name)
    if suffix in TEXT_SUFFIXES:
        text = _decode(path.read_bytes())
    elif suffix == ".docx":
        text = _read_docx(path)
    else:
        text = _read_pdf(path)
    # Count only as far as needed: a whole document's letters would be a long list.
    if len(list(itertools.islice(_LETTER_RE.finditer(text), MIN_TEXT_CHARS))) < MIN_TEXT_CHARS:
        raise IngestError(IngestCode.NO_TEXT, path.name)
    return text


def _decode(data: bytes) -> str:
    """Decode UTF-8 (with or without BOM), falling back to GB18030 as Chinese offices still use."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise IngestError(IngestCode.BROKEN_FILE, "undecodable text")


def _read_docx(path: Path) -> str:
    """Paragraphs and table cells of a .docx; Word headings become Markdown headings."""
    from docx import Document

    try:
        document = Document(str(path))
        lines = [_docx_paragraph(p) for p in document.paragraphs]
        for table in document.tables:
            for row in table.rows:
                cells = dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip())
                lines.append(" ".join(cells))
    # An uploaded file is untrusted input: python-docx and lxml fail on malformed parts with
    # many exception types (BadZipFile, KeyError, AttributeError, XMLSyntaxError …).
    except Exception as error:
        raise IngestError(IngestCode.BROKEN_FILE, f"docx: {error!r}") from error
    return "\n".join(lines)


def _docx_paragraph(paragraph: object) -> str:
    """One paragraph; a "Heading N" style is kept as N Markdown hashes for the chunker."""
    text: str = paragraph.text  # type: ignore[attr-defined]
    style = getattr(getattr(paragraph, "style", None), "name", "") or ""
    match = re.fullmatch(r"(?:Heading|标题)\s*(\d)", style)
    if match and text.strip():
        return "#" * int(match.group(1)) + " " + text.strip()
    return text


def _read_pdf(path: Path) -> str:
    """Text of every page of a PDF (pages joined by blank lines)."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(IngestCode.BROKEN_FILE, "encrypted pdf")
        pages = [page.extract_text() or "" for page in reader.pages]
    except IngestError:
        raise
    # As for .docx: a malformed PDF can make pypdf raise almost anything.
    except Exception as error:
        raise IngestError(IngestCode.BROKEN_FILE, f"pdf: {error!r}") from error
    return "\n\n".join(pages)


def content_hash(text: str) -> str:
    """sha256 of the text with width folded and all whitespace removed."""
    normalised = _SPACE_RE.sub("", nfkc(text))
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()
