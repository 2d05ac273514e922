"""Hybrid ranking: the ranker's score, a plain BM25 and a dense cosine in one weighted sum;
and the grade of an answer (confident, low-confidence, or nothing in the documents relates).

Each signal is scaled to its best passage, so the weights (RankConfig) compare like with
like: the ranker's fused BM25 with boosts and coverage, a BM25 over the question's own words
with no boosts (it does better than a tuned ranker on questions unlike the tuning ones), and
the dense cosine over its best ``fusion_pool`` passages (cosines of unrelated passages sit
close together, so only the lead counts). Weights were chosen on the pooled question sets and
checked across them (README, "Policy answers").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from bot.services.knowledge.index import PassageIndex
from bot.services.knowledge.ranking import (
    DOCS_CUE,
    RankConfig,
    Ranking,
    one_per_doc_first,
    top_rows,
)
from bot.services.knowledge.tokenize import QueryTerms


class Grade(StrEnum):
    """How an answer is shown."""

    CONFIDENT = "confident"
    # The closest passages, under a sentence that they may not answer the question.
    LOW = "low"
    # Nothing in the documents relates: "not in the documents".
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Fused:
    """Rows best first with their fused scores, and the answer's grade."""

    rows: list[int]
    scores: list[float]
    grade: Grade


def plain_scores(index: PassageIndex, query: QueryTerms) -> np.ndarray:
    """BM25 of every passage over the question's own words (no expansions, no boosts)."""
    terms = {term: 1.0 for term, weight in query.words.items() if weight >= 1.0}
    return index.words.scores(terms)


def dense_part(cosines: np.ndarray, pool: int) -> np.ndarray:
    """Cosines rescaled to 0 at the ``pool``-th best passage and 1 at the best, 0 below."""
    if not len(cosines):
        return cosines
    lead = np.partition(cosines, len(cosines) - min(pool, len(cosines)))
    low = float(lead[len(cosines) - min(pool, len(cosines))])
    span = float(cosines.max()) - low
    if span <= 0:
        return np.zeros_like(cosines)
    return np.clip((cosines - low) / span, 0.0, None)


def fuse(
    question: str,
    ranking: Ranking,
    plain: np.ndarray,
    dense: np.ndarray | None,
    doc_of: np.ndarray,
    config: RankConfig,
) -> list[tuple[int, float]]:
    """Rows and fused scores, best first (the ranker's candidates and the leads of the rest)."""
    total = np.zeros(len(plain), dtype=np.float64)
    if ranking.candidates:
        best = max(c.score for c in ranking.candidates) or 1.0
        rows = np.asarray([c.row for c in ranking.candidates], dtype=np.int64)
        total[rows] += np.asarray([c.score for c in ranking.candidates]) / best
    top = float(plain.max(initial=0.0))
    if top > 0 and config.plain_weight:
        total += (config.plain_weight / top) * plain
    if dense is not None and config.dense_weight:
        total += config.dense_weight * dense_part(dense, config.fusion_pool)
    rows = top_rows(total, config.candidates)
    if DOCS_CUE.search(question):
        rows = one_per_doc_first(rows, lambda row: int(doc_of[row]))
    return [(row, float(total[row])) for row in rows]


def grade(
    ranking: Ranking,
    relates: bool,
    best_cosine: float | None,
    center: float | None,
    config: RankConfig,
) -> Grade:
    """Confident, low-confidence, or none (no word of the question occurs in any passage)."""
    if not relates or not ranking.candidates:
        return Grade.NONE
    sure = ranking.answerability
    threshold = config.confident_at
    if best_cosine is not None and center is not None:
        sure += config.dense_confidence * (best_cosine - center)
        threshold = config.dense_confident_at
    return Grade.CONFIDENT if sure >= threshold else Grade.LOW


