"""Which documents an index update adds, replaces or drops: documents are keyed by source.

A document's source is its path within the corpus folder, or the name of the file an admin
uploaded or ``stabot index`` was given. A file whose source is indexed with other content is
a new version and replaces the old one in place; the same content is never indexed twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.services.knowledge.errors import IngestCode, IngestError
from bot.services.knowledge.prepare import Prepared
from bot.services.knowledge.registry import DocumentInfo


@dataclass(slots=True)
class Changes:
    """What one index update did."""

    added: list[DocumentInfo] = field(default_factory=list)
    # (old version, new version)
    replaced: list[tuple[DocumentInfo, DocumentInfo]] = field(default_factory=list)
    dropped: list[DocumentInfo] = field(default_factory=list)
    errors: list[tuple[Path, IngestError]] = field(default_factory=list)

    @property
    def indexed(self) -> list[DocumentInfo]:
        """New documents, then new versions of indexed ones."""
        return [*self.added, *(new for _, new in self.replaced)]


class Batch:
    """The registry as one update changes it (nothing is written here)."""

    def __init__(
        self,
        docs: dict[str, DocumentInfo],
        *,
        removed: set[str] | None = None,
        replaceable: Callable[[DocumentInfo], bool] | None = None,
    ) -> None:
        self.docs = docs
        self.removed = removed or set()
        self.replaceable = replaceable or (lambda _doc: True)
        self.by_source = {doc.key: doc for doc in docs.values()}
        self.by_hash = {doc.sha256: doc for doc in docs.values()}
        self.new: dict[str, Prepared] = {}
        self.dropped: dict[str, DocumentInfo] = {}

    def drop(self, doc: DocumentInfo) -> None:
        """Take a document out (before offering files: its content may come back renamed)."""
        self.dropped[doc.doc_id] = doc
        self.by_source.pop(doc.key, None)
        self.by_hash.pop(doc.sha256, None)

    def offer(self, prepared: Prepared) -> None:
        """A file read: a new document or a new version; raises ``duplicate`` for known content.

        Content an admin removed is skipped, and so is a source the update may not replace.
        """
        info = prepared.info
        twin = self.by_hash.get(info.sha256)
        if twin is not None:
            raise IngestError(IngestCode.DUPLICATE, info.key, doc_id=twin.doc_id)
        old = self.by_source.get(info.key)
        if info.sha256 in self.removed or (old is not None and not self.replaceable(old)):
            return
        earlier = self.new.pop(info.key, None)
        if earlier is not None:
            # The same source twice in one batch: the later file wins.
            self.by_hash.pop(earlier.info.sha256, None)
        self.new[info.key] = prepared
        self.by_hash[info.sha256] = info

    @property
    def empty(self) -> bool:
        """Whether the update changes nothing."""
        return not self.new and not self.dropped

    def replaced(self) -> dict[str, DocumentInfo]:
        """Old versions by the doc id of the document replacing them."""
        out: dict[str, DocumentInfo] = {}
        for source, prepared in self.new.items():
            old = self.by_source.get(source)
            if old is not None:
                out[prepared.info.doc_id] = old
        return out

    def registry(self) -> dict[str, DocumentInfo]:
        """The documents after the update: new versions in their old place, new ones last."""
        out: dict[str, DocumentInfo] = {}
        for doc in self.docs.values():
            if doc.doc_id in self.dropped:
                continue
            # Only the document holding the source (an old registry may repeat a name).
            newer = self.new.get(doc.key) if self.by_source.get(doc.key) is doc else None
            info = newer.info if newer is not None else doc
            out[info.doc_id] = info
        for prepared in self.new.values():
            out.setdefault(prepared.info.doc_id, prepared.info)
        return out

    def changes(self) -> Changes:
        """The update's summary."""
        replaced = self.replaced()
        summary = Changes(dropped=list(self.dropped.values()))
        for prepared in self.new.values():
            old = replaced.get(prepared.info.doc_id)
            if old is None:
                summary.added.append(prepared.info)
            else:
                summary.replaced.append((old, prepared.info))
        return summary

    def stale(self) -> list[DocumentInfo]:
        """Old documents whose passages files go once the update is committed."""
        return [*self.dropped.values(), *self.replaced().values()]
