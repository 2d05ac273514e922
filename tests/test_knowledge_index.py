"""The BM25 score matrix is built here, not by bm25s: it must stay what bm25s would build."""

from __future__ import annotations

import math

import bm25s
import numpy as np

from bot.services.knowledge.index import K1, B, build_scores, term_frequency_component

# Token ids per passage; token 3 appears twice in the second passage, token 4 only once.
PASSAGES = [[0, 1, 2], [1, 3, 3, 0, 2], [2, 0], [4, 1, 0, 2, 2, 2]]


def test_term_frequency_component_is_lucene_bm25() -> None:
    tf = np.array([1, 2, 3])
    length = np.array([4, 8, 2])
    expected = [t / (K1 * (1 - B + B * n / 5.0) + t) for t, n in zip(tf, length, strict=True)]
    got = term_frequency_component(tf, length, 5.0, K1, B)
    assert got.tolist() == expected


def test_build_scores_matches_bm25s_lucene_index() -> None:
    """bm25s' own (slow) indexing gives the same matrix: a change in its formulas or its
    stored layout, which Field.load reads, fails here."""
    vocab = {str(i): i for i in range(5)}
    model = bm25s.BM25(k1=K1, b=B, method="lucene")
    model.index((PASSAGES, vocab), create_empty_token=False, show_progress=False)
    ids = np.concatenate([np.array(p) for p in PASSAGES])
    rows = np.repeat(np.arange(len(PASSAGES)), [len(p) for p in PASSAGES])
    ours = build_scores(ids, rows, len(PASSAGES), len(vocab), K1, B)
    theirs = model.scores
    assert ours["num_docs"] == theirs["num_docs"] == len(PASSAGES)
    np.testing.assert_array_equal(ours["indptr"], theirs["indptr"])
    np.testing.assert_array_equal(ours["indices"], theirs["indices"])
    np.testing.assert_allclose(ours["data"], theirs["data"], rtol=1e-6)
    # One value by hand: token 3 (df 1, tf 2) in the second passage (5 tokens; mean 4).
    idf = math.log(1 + (4 - 1 + 0.5) / (1 + 0.5))
    tfc = 2 / (K1 * (1 - B + B * 5 / 4) + 2)
    start = int(ours["indptr"][3])
    assert math.isclose(float(ours["data"][start]), idf * tfc, rel_tol=1e-6)
