"""Hybrid ranking: the ranker's score, a plain BM25 and a dense cosine in one weighted sum.

Each signal is scaled to its best passage, so the weights (RankConfig) compare like with
like: the ranker's fused BM25 with boosts and coverage, a BM25 over the question's own words
with no boosts (it does better than a tuned ranker on questions unlike the tuning ones), and
the dense cosine over its best ``fusion_pool`` passages (cosines of unrelated passages sit
close together, so only the lead counts). The plain BM25 scores the candidates of the other
two only. Weights were chosen on the pooled question sets and
checked across them (README, "Policy answers").
"""

from __future__ import annotations

import numpy as np

from bot.services.knowledge.index import PassageIndex
from bot.services.knowledge.ranking import DOCS_CUE, RankConfig, Ranking, one_per_doc_first
from bot.services.knowledge.tokenize import QueryTerms


def plain_scores(index: PassageIndex, query: QueryTerms, rows: np.ndarray) -> np.ndarray:
    """BM25 of the given passages over the question's own words (no expansions, no boosts)."""
    terms = {term: 1.0 for term, weight in query.words.items() if weight >= 1.0}
    return index.words.scores_for(terms, rows)


def dense_lead(cosines: np.ndarray, pool: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``pool`` best passages by cosine, rescaled to 1 at the best and 0 at the last."""
    count = min(pool, len(cosines))
    if count <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    rows = np.argpartition(-cosines, count - 1)[:count]
    lead = cosines[rows].astype(np.float64)
    span = float(lead.max() - lead.min())
    scaled = (lead - lead.min()) / span if span > 0 else np.zeros(count)
    return rows.astype(np.int64), scaled


def fuse(
    question: str,
    ranking: Ranking,
    index: PassageIndex,
    query: QueryTerms,
    cosines: np.ndarray | None,
    config: RankConfig,
) -> list[tuple[int, float]]:
    """Rows and fused scores, best first: the ranker's candidates and the dense signal's lead.

    Only those rows are scored (a passage in neither list cannot reach the answers), so the
    cost does not grow with the index.
    """
    total: dict[int, float] = {}
    if ranking.candidates:
        best = max(c.score for c in ranking.candidates) or 1.0
        for cand in ranking.candidates:
            total[cand.row] = cand.score / best
    if cosines is not None and config.dense_weight:
        rows, scaled = dense_lead(cosines, config.fusion_pool)
        for row, value in zip(rows.tolist(), scaled.tolist(), strict=True):
            total[row] = total.get(row, 0.0) + config.dense_weight * value
    if not total:
        return []
    rows = np.fromiter(total, dtype=np.int64, count=len(total))
    plain = plain_scores(index, query, rows)
    top = float(plain.max(initial=0.0))
    if top > 0 and config.plain_weight:
        for row, value in zip(rows.tolist(), plain.tolist(), strict=True):
            total[row] += config.plain_weight * value / top
    ordered = sorted(total, key=lambda row: -total[row])[: config.candidates]
    if DOCS_CUE.search(question):
        ordered = one_per_doc_first(ordered, lambda row: int(index.doc_of[row]))
    return [(row, total[row]) for row in ordered]

