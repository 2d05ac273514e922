"""BM25 fields over passages (jieba words, character bigrams) and documents, via bm25s."""

from __future__ import annotations

import itertools
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

WORDS_DIR = "words"
BIGRAMS_DIR = "bigrams"
DOCS_DIR = "docs"
FLAGS_FILE = "flags.npy"
# Passages per block when mapping tokens to ids.
ID_BLOCK = 4096
# BM25 parameters; b below the usual 0.75 because passages are already length-capped.
K1 = 1.2
B = 0.5


def _bm25s() -> Any:
    """bm25s, imported on first use, with its debug logging (on by default) turned down."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def token_ids(docs: Sequence[str]) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Token ids of space-joined passages (all in one array), tokens per passage, vocabulary.

    Works a block of passages at a time: ``str.split`` and ``map`` over a vocabulary that
    numbers unseen tokens itself (``defaultdict`` with a counter) run in C, many times faster
    than a Python loop over 25 million tokens, without holding them all as strings at once.
    """
    vocab: defaultdict[str, int] = defaultdict(itertools.count().__next__)
    lengths = np.zeros(len(docs), dtype=np.int64)
    chunks: list[np.ndarray] = []
    for start in range(0, len(docs), ID_BLOCK):
        block = docs[start : start + ID_BLOCK]
        tokens = " ".join(block).split()
        chunks.append(np.fromiter(map(vocab.__getitem__, tokens), np.int64, len(tokens)))
        lengths[start : start + len(block)] = [doc.count(" ") + 1 if doc else 0 for doc in block]
    ids = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
    return ids, lengths, dict(vocab)


@dataclass(frozen=True, slots=True)
class TokenIds:
    """Some passages as ids into their own small vocabulary (one document's, say)."""

    ids: np.ndarray
    lengths: np.ndarray
    vocab: list[str]

    @classmethod
    def of(cls, docs: Sequence[str]) -> TokenIds:
        """Ids of space-joined passages."""
        return cls.of_tokens([doc.split() for doc in docs])

    @classmethod
    def of_tokens(cls, passages: Sequence[Sequence[str]]) -> TokenIds:
        """Ids of tokenised passages (the vocabulary numbers tokens as it first meets them)."""
        vocab: defaultdict[str, int] = defaultdict(itertools.count().__next__)
        tokens = list(itertools.chain.from_iterable(passages))
        ids = np.fromiter(map(vocab.__getitem__, tokens), np.int32, len(tokens))
        lengths = np.fromiter(map(len, passages), np.int32, len(passages))
        return cls(ids, lengths, list(vocab))


def merge_ids(parts: Sequence[TokenIds]) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """What :func:`token_ids` gives for all the parts' passages, from the parts' own ids.

    Only each part's vocabulary goes through a Python dict; the tokens are renumbered by numpy.
    So the worker processes that tokenise documents also number their tokens, and the parent
    handles a few thousand words per document instead of every token.
    """
    vocab: defaultdict[str, int] = defaultdict(itertools.count().__next__)
    ids, lengths = [], []
    for part in parts:
        remap = np.fromiter(map(vocab.__getitem__, part.vocab), np.int64, len(part.vocab))
        ids.append(remap[part.ids])
        lengths.append(part.lengths.astype(np.int64))
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), {}
    return np.concatenate(ids), np.concatenate(lengths), dict(vocab)


def build_scores(
    ids: np.ndarray, rows: np.ndarray, n_rows: int, n_vocab: int, k1: float, b: float
) -> dict[str, Any]:
    """Lucene BM25 score matrix in bm25s' CSC layout (bm25s' own formulas, numpy loops).

    ``ids[i]`` is a token of row ``rows[i]``. bm25s builds this with Python loops over every
    token (about 30 s and several GB for 100,000 passages here).
    """
    lengths = np.bincount(rows, minlength=n_rows)
    # Sorting token-major (token * n_rows + row) gives the CSC order bm25s stores.
    keys, tf = np.unique(ids * n_rows + rows, return_counts=True)
    token, row = keys // n_rows, keys % n_rows
    df = np.bincount(token, minlength=n_vocab)
    idf = np.log(1 + (n_rows - df + 0.5) / (df + 0.5))
    avg = float(lengths.mean()) if lengths.any() else 1.0
    tfc = term_frequency_component(tf, lengths[row], avg, k1, b)
    return {
        "data": (idf[token] * tfc).astype(np.float32),
        "indices": row.astype(np.int32),
        "indptr": np.concatenate([[0], np.cumsum(df)]).astype(np.int32),
        "num_docs": n_rows,
    }


def term_frequency_component(
    tf: np.ndarray, length: np.ndarray, avg_length: float, k1: float, b: float
) -> np.ndarray:
    """Lucene BM25's saturated, length-normalised term frequency (idf aside).

    Owned here rather than taken from bm25s' private scoring module, whose name may change;
    the expression is written as bm25s writes it, so stored scores are bit for bit the same.
    """
    return tf / (k1 * ((1 - b) + b * length / avg_length) + tf)


class Field:
    """One bm25s index with weighted-query scoring and document frequencies."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.vocab: dict[str, int] = model.vocab_dict
        scores = model.scores
        self._data = np.asarray(scores["data"])
        self._indices = np.asarray(scores["indices"])
        self._indptr = np.asarray(scores["indptr"])
        self.n_docs = int(scores["num_docs"])

    @classmethod
    def build(cls, ids: np.ndarray, rows: np.ndarray, n_rows: int, vocab: dict[str, int]) -> Field:
        """A bm25s index whose rows hold the given token ids."""
        bm25s = _bm25s()
        model = bm25s.BM25(k1=K1, b=B)  # float32 scores, int32 indices: bm25s' defaults
        model.scores = build_scores(ids, rows, n_rows, len(vocab), K1, B)
        model.vocab_dict = vocab
        # What bm25s.BM25.index() sets besides scores and vocabulary.
        model.unique_token_ids_set = set(vocab.values())
        model.nonoccurrence_array = None
        return cls(model)

    @classmethod
    def from_passages(cls, parts: Sequence[TokenIds]) -> Field:
        """Index passages given as token ids."""
        ids, lengths, vocab = merge_ids(parts)
        rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        return cls.build(ids, rows, len(lengths), vocab)

    @classmethod
    def load(cls, folder: Path, *, mmap: bool = False) -> Field:
        """Load an index saved by :meth:`save`."""
        bm25s = _bm25s()
        return cls(bm25s.BM25.load(str(folder), mmap=mmap, show_progress=False))

    def save(self, folder: Path) -> None:
        """Persist the index (numpy arrays and the vocabulary)."""
        self.model.save(str(folder), show_progress=False)

    def scores(self, terms: dict[str, float]) -> np.ndarray:
        """BM25 score of every passage for weighted query terms."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        for term, weight in terms.items():
            token = self.vocab.get(term)
            if token is None:
                continue
            start, end = self._indptr[token], self._indptr[token + 1]
            # Postings of one term hold each passage once, so plain fancy indexing adds safely
            # (and is several times faster than bm25s' np.add.at).
            out[self._indices[start:end]] += weight * self._data[start:end]
        return out

    def scores_for(self, terms: dict[str, float], rows: np.ndarray) -> np.ndarray:
        """BM25 scores of the given rows only (postings are sorted, so binary search)."""
        out = np.zeros(len(rows), dtype=np.float32)
        for term, weight in terms.items():
            token = self.vocab.get(term)
            if token is None:
                continue
            start, end = int(self._indptr[token]), int(self._indptr[token + 1])
            postings = self._indices[start:end]
            found = np.minimum(np.searchsorted(postings, rows), len(postings) - 1)
            hit = postings[found] == rows
            out[hit] += weight * self._data[start + found[hit]]
        return out

    def postings(self, term: str) -> list[int]:
        """Rows (passages or documents) that contain ``term``."""
        token = self.vocab.get(term)
        if token is None:
            return []
        return self._indices[self._indptr[token] : self._indptr[token + 1]].tolist()

    def doc_freq(self, term: str) -> int:
        """How many passages contain ``term``."""
        token = self.vocab.get(term)
        return 0 if token is None else int(self._indptr[token + 1] - self._indptr[token])

    def idf(self, term: str) -> float:
        """BM25 idf of ``term``; unseen terms get the idf of a term seen once."""
        df = max(self.doc_freq(term), 1)
        return math.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))


class PassageIndex:
    """Word and bigram fields over passages, a word field over whole documents, and flags."""

    def __init__(
        self, words: Field, bigrams: Field, docs: Field, doc_of: np.ndarray, flags: np.ndarray
    ) -> None:
        self.words = words
        self.bigrams = bigrams
        self.docs = docs
        self.doc_of = doc_of
        self.flags = flags

    @property
    def size(self) -> int:
        """Number of indexed passages."""
        return self.words.n_docs

    @classmethod
    def build(
        cls,
        words: Sequence[TokenIds],
        bigrams: Sequence[TokenIds],
        doc_of: Sequence[int],
        flags: Sequence[int],
    ) -> PassageIndex:
        """Index passages given word and bigram ids, document numbers and flags."""
        doc_array = np.asarray(doc_of, dtype=np.int64)
        ids, lengths, vocab = merge_ids(words)
        passage_rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        n_docs = int(doc_array.max(initial=-1)) + 1
        return cls(
            Field.build(ids, passage_rows, len(lengths), vocab),
            Field.from_passages(bigrams),
            # The document field reuses the word ids: each token counts for its document.
            Field.build(ids, doc_array[passage_rows], n_docs, dict(vocab)),
            doc_array.astype(np.int32),
            np.asarray(flags, dtype=np.uint16),
        )

    def save(self, folder: Path) -> None:
        """Write the index into ``folder`` (which must not be in use)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.words.save(folder / WORDS_DIR)
        self.bigrams.save(folder / BIGRAMS_DIR)
        self.docs.save(folder / DOCS_DIR)
        np.save(folder / FLAGS_FILE, np.stack([self.flags.astype(np.int32), self.doc_of]))

    @classmethod
    def load(cls, folder: Path, *, mmap: bool = False) -> PassageIndex:
        """Read an index written by :meth:`save`."""
        flags, doc_of = np.load(folder / FLAGS_FILE)
        return cls(
            Field.load(folder / WORDS_DIR, mmap=mmap),
            Field.load(folder / BIGRAMS_DIR, mmap=mmap),
            Field.load(folder / DOCS_DIR, mmap=mmap),
            doc_of.astype(np.int32),
            flags.astype(np.uint16),
        )
