"""The document registry: documents.json, the passages files, and the lock writers share.

Everything a knowledge base stores lives in one data directory, independent of the bot's
database; writers in any thread or process take the lock before changing it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.services.knowledge.files import read_json, write_json

REGISTRY_FILE = "documents.json"
PASSAGES_DIR = "passages"
LOCK_FILE = ".lock"
# Where a document came from: the corpus folder (kept in step with it), a file an admin sent
# in chat, a file given to `stabot index`.
ORIGIN_CORPUS = "corpus"
ORIGIN_UPLOAD = "upload"
ORIGIN_INDEX = "index"


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """An indexed document."""

    doc_id: str
    file_name: str
    title: str
    issuer: str | None
    date: str | None
    doc_number: str | None
    sha256: str
    passages: int
    added_at: str
    # The document's key (see versions.py): its path within the corpus folder, or the file
    # name it was uploaded or indexed under; empty in registries written before it was kept.
    source: str = ""
    # ORIGIN_CORPUS, ORIGIN_UPLOAD or ORIGIN_INDEX; empty in older registries.
    origin: str = ""

    @property
    def key(self) -> str:
        """The source a new version of this document comes under."""
        return self.source or self.file_name


class Registry:
    """The documents of ``data_dir``, the hashes of removed ones, and their passages files."""

    def __init__(self, data_dir: Path, lock: threading.RLock) -> None:
        self.data_dir = data_dir
        # Shared with the knowledge base, which also holds it while reloading its snapshot.
        self._lock = lock

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Serialise writers across threads and processes sharing the data dir."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._lock, (self.data_dir / LOCK_FILE).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def load(self) -> dict[str, DocumentInfo]:
        """Documents from documents.json (empty when absent)."""
        path = self.data_dir / REGISTRY_FILE
        if not path.is_file():
            return {}
        rows = json.loads(path.read_text(encoding="utf-8"))["documents"]
        return {row["doc_id"]: DocumentInfo(**row) for row in rows}

    def save(self, docs: dict[str, DocumentInfo], *, removed: Sequence[str] | None = None) -> None:
        """Write documents.json atomically (with the hashes of removed documents)."""
        kept = self.removed() if removed is None else list(removed)
        present = {info.sha256 for info in docs.values()}
        payload = {
            "version": 1,
            "documents": [asdict(info) for info in docs.values()],
            "removed": sorted(set(kept) - present),
        }
        write_json(self.data_dir / REGISTRY_FILE, payload)

    def removed(self) -> list[str]:
        """Content hashes of documents an admin removed."""
        payload = read_json(self.data_dir / REGISTRY_FILE)
        return list(payload.get("removed", [])) if isinstance(payload, dict) else []

    def passages_file(self, doc_id: str) -> Path:
        """Where a document's passages (and their analysis) are stored."""
        return self.data_dir / PASSAGES_DIR / f"{doc_id}.json"
