"""The grade of an answer: confident, low-confidence, or nothing in the documents relates.

A logistic regression on three signals decides "confident": the ranker's answerability (how much
of the question the best passages cover, a word no document uses weighing by its rarity), the
best passage's cosine with the question, and how many words name the question's subject (a
share of a long question is smaller for the same answer). Its coefficients were fitted by
``benchmarks/qa_confidence.py`` on the six question sets and beat hand-set thresholds with each
set held out in turn (README, "Policy answers").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Subject words counted at most: few questions have more, and the fit saw fewer.
MAX_WORDS = 10


class Grade(StrEnum):
    """How an answer is shown."""

    CONFIDENT = "confident"
    # The closest passages, under a sentence that they may not answer the question.
    LOW = "low"
    # Nothing in the documents relates: "not in the documents".
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Signals:
    """What the grade of an answer is decided on."""

    # The ranker's: how much of the question the best passages cover (ranking.answerability).
    answerability: float
    # Some content word of the question (or a variant) occurs in some passage.
    relates: bool
    # Content words of the question that name its subject (its phrasing left out).
    words: int
    # The best passage's cosine with the question; None while vectors are not ready.
    best_cosine: float | None
    # The cosine at which the model's best passage starts to count (Embedder.center); None for
    # a model whose cosines were never calibrated (its answers are graded lexically).
    center: float | None

    @property
    def cosine(self) -> float | None:
        """The best cosine relative to the model's centre; None when it cannot take part."""
        if self.best_cosine is None or self.center is None:
            return None
        return self.best_cosine - self.center


@dataclass(frozen=True, slots=True)
class Calibration:
    """Confident when bias + answerability * a + (cosine - centre) * c + words * w >= 0."""

    bias: float
    answerability: float
    cosine: float
    words: float

    def confident(self, signals: Signals) -> bool:
        """Whether the signals make a confident answer."""
        total = (
            self.bias
            + self.answerability * signals.answerability
            + self.cosine * (signals.cosine or 0.0)
            + self.words * min(signals.words, MAX_WORDS)
        )
        return total >= 0.0


# Fitted by benchmarks/qa_confidence.py (its last lines print these).
DENSE = Calibration(bias=-4.1215, answerability=6.4773, cosine=8.4932, words=0.2677)
LEXICAL = Calibration(bias=-6.3335, answerability=9.2307, cosine=0.0, words=0.4396)


def grade(signals: Signals, dense: Calibration, lexical: Calibration) -> Grade:
    """Confident, low-confidence, or none (no word of the question occurs in any passage)."""
    if not signals.relates:
        return Grade.NONE
    calibration = lexical if signals.cosine is None else dense
    return Grade.CONFIDENT if calibration.confident(signals) else Grade.LOW
