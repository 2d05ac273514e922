"""Typed errors of the knowledge engine; callers map ``code`` to a localised message."""

from __future__ import annotations

from enum import StrEnum


class IngestCode(StrEnum):
    """Why a document could not be indexed."""

    NOT_FOUND = "not_found"
    UNSUPPORTED_TYPE = "unsupported_type"
    TOO_LARGE = "too_large"
    EMPTY_FILE = "empty_file"
    BROKEN_FILE = "broken_file"
    NO_TEXT = "no_text"
    DUPLICATE = "duplicate"


class QuestionCode(StrEnum):
    """Why a question cannot be searched."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    NO_WORDS = "no_words"
    NOT_CHINESE = "not_chinese"


class KnowledgeError(Exception):
    """Base class of the engine's errors."""


class IngestError(KnowledgeError):
    """A file was refused; ``code`` says why, ``detail`` is for logs only."""

    def __init__(self, code: IngestCode, detail: str = "", *, doc_id: str | None = None) -> None:
        super().__init__(f"{code}: {detail}" if detail else str(code))
        self.code = code
        self.detail = detail
        # For ``duplicate``: the document that already holds this content.
        self.doc_id = doc_id

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle with the code (ingestion runs in worker processes)."""
        return (_rebuild_ingest_error, (str(self.code), self.detail, self.doc_id))


def _rebuild_ingest_error(code: str, detail: str, doc_id: str | None) -> IngestError:
    """Unpickle an IngestError."""
    return IngestError(IngestCode(code), detail, doc_id=doc_id)


class UnknownDocumentError(KnowledgeError):
    """No indexed document has this id."""

    def __init__(self, doc_id: str) -> None:
        super().__init__(doc_id)
        self.doc_id = doc_id
