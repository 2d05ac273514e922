"""Passage vectors of the current snapshot, and a question's cosine with each of them.

A snapshot's vectors come from the cache (and the bundled seed file); the rest are embedded
by a background worker, a document at a time. Until every passage has its vector, searches
answer lexically. Loaded only when an embedder is configured (numpy comes with it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.services.knowledge.dense import (
    VECTORS_DIR,
    DenseRows,
    DenseWorker,
    Embedder,
    VectorCache,
    text_hash,
)
from bot.services.knowledge.search import Snapshot
from bot.services.knowledge.seeds import seed_file

log = logging.getLogger(__name__)


class Vectors:
    """The embedder, its cache in ``data_dir`` and its worker, for the snapshot ``current``."""

    def __init__(
        self,
        embedder: Embedder,
        data_dir: Path,
        seed_vectors: Path | None,
        current: Callable[[], Snapshot],
    ) -> None:
        # ``seed_vectors``: the folder of the bundled corpus's seed files (seeds.py).
        seeds = seed_file(seed_vectors, embedder.key) if seed_vectors is not None else None
        cache = VectorCache(data_dir / VECTORS_DIR / embedder.key, seeds)
        self.embedder = embedder
        self.worker = DenseWorker(embedder, cache)
        self._current = current
        self._query_failed = False

    def rows_for(self, snapshot: Snapshot) -> DenseRows:
        """The snapshot's vectors from the cache; the rest are embedded in the background."""
        hashes = text_hashes(snapshot)
        cached = self.worker.cache.load()
        dim = next((len(v) for v in cached.values()), 0) or self._dim()
        dense = DenseRows.empty(hashes, dim)
        dense.fill(cached)
        if dense.complete and self.worker.cache.holds_others(cached, hashes):
            # Documents were removed or replaced: their passages' vectors go too.
            self.worker.save_for(dense, cached)
        return dense

    def start(self) -> None:
        """Embed the current snapshot's missing passages in the background (if any)."""
        self.worker.start(self._job)

    def embed_now(self, timeout: float | None = None) -> bool:
        """Compute the missing passage vectors and wait for them; whether they are ready."""
        # A worker that was just finishing an older index may have ended before this one
        # was published: start it again (each pass leaves the index it saw complete).
        for _ in range(3):
            self.start()
            self.worker.join(timeout)
            dense = self._current().dense
            if dense is not None and dense.complete:
                return True
        return False

    def cosines(self, state: Snapshot, question: str) -> Any:
        """Cosine of every passage with the question, or None while vectors are not ready."""
        dense = state.dense
        if dense is None or not dense.complete:
            return None
        try:
            vector = self.embedder.query(question)
        except Exception:  # a broken model must not take the lexical answer with it
            if not self._query_failed:
                self._query_failed = True
                log.exception("embedding a question failed; answering lexically")
            return None
        return dense.scores(vector)

    def _dim(self) -> int:
        """The embedder's vector size (asks the model once when the cache is empty)."""
        dim = getattr(self.embedder, "dim", None)
        return int(dim) if dim else len(self.embedder.query("科协"))

    def _job(self) -> tuple[DenseRows, list[str], list[str]] | None:
        """The current snapshot's vectors still to compute, or None when there are none."""
        state = self._current()
        dense = state.dense
        if dense is None or dense.complete:
            return None
        texts = [state.embedded_text(i) for i in range(len(state.rows))]
        return dense, texts, [row.doc_id for row in state.rows]


def text_hashes(snapshot: Snapshot) -> list[str]:
    """The cache key of each passage: the hash of its embedded text."""
    return [text_hash(snapshot.embedded_text(i)) for i in range(len(snapshot.rows))]
