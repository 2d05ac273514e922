#!/usr/bin/env python3
"""How "confident" is decided, checked by leave-one-set-out cross-validation.

For every question of the fourteen sets (qa_dev, qa_extra, qa_heldout_a … j, l, m) it takes the
grade's signals from the real code (``KnowledgeBase.signals``: the ranker's answerability, the
best cosine of the bundled model, its vectors from the seed file, what the question asks for
that the best passages cannot hold, and the kinds of question it is) under several rankers, then
compares ways of turning them into a grade. Each set is held out in turn; every parameter
(weights, thresholds, regularisation) is chosen on the other thirteen by one criterion, the issue's
targets: the least total shortfall over those sets of "answerable declined <= 0.08" (the issue's
0.10 less a margin for unseen questions; counting 1.5 times) and "unanswerable declined >=
0.75", ties broken by the mean of (unanswerable - answerable declined). Reported: answerable
declined / unanswerable declined of each held-out set, then the parameters the same criterion
picks on all fourteen (those committed in RankConfig).

    python benchmarks/qa_confidence.py

Rules compared:
  single factor   answerability + lam * (cosine - centre) >= t, a word no document uses always
                  weighing unseen_factor (the rule of 412fa74), lam and t chosen;
  by rarity       the same, the unseen word weighed by how rare it is in Chinese at large
                  (RankConfig.everyday_idf / rare_idf, chosen too);
  logistic        L2-regularised logistic regressions (numpy; every set's answerable and
                  unanswerable questions weigh alike) on a few signals, the regularisation and
                  the threshold chosen; "kinds" adds one 0/1 signal per kind of question
                  (confidence.KINDS: what a term means, how, when, who, where, how many,
                  now, yes or no, a contact, papers to hand in);
each of them also with the check that no score makes up for (confidence.unmet_ask: an amount
of money, a place or a number asked for that the best passages cannot hold declines the answer;
the regression is then fitted on the other questions), and the same without vectors (the
lexical path). Committed (confidence.py): the regression on the answerability by rarity 9-10,
the cosine (with vectors), the subject words and the kinds, with the check. The last lines
print them, chosen on all fourteen sets.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.services.knowledge import KnowledgeBase  # noqa: E402
from bot.services.knowledge.confidence import KINDS, MAX_WORDS, Calibration  # noqa: E402
from bot.services.knowledge.dense import BundledE5  # noqa: E402
from bot.services.knowledge.ranking import RankConfig  # noqa: E402
from bot.services.knowledge.seeds import SEEDS_DIR  # noqa: E402

SETS = (
    "qa_dev", "qa_extra", "qa_heldout_a", "qa_heldout_b", "qa_heldout_c", "qa_heldout_d",
    "qa_heldout_e", "qa_heldout_f", "qa_heldout_g", "qa_heldout_h", "qa_heldout_i",
    "qa_heldout_j", "qa_heldout_l", "qa_heldout_m",
)
# The target is 0.10 on questions nobody here has seen; a set held out declines more
# answerable questions than the sets a rule was chosen on (qa_heldout_e 0.21 against 0.16 fitted),
# so the rule aims lower (0.08: held out in turn, pooled 0.10 -> 0.09, unanswerable equal).
MAX_DECLINED_ANSWERABLE = 0.08
MIN_DECLINED_UNANSWERABLE = 0.75
# The issue makes "answerable declined <= 0.10" a must that other work may not break; each point
# over it costs more than one short of the unanswerable target (1.5: held out in turn, it kept
# qa_heldout_b's answerable declined at 0.12 rather than 0.19, every unanswerable share equal).
ANSWERABLE_WEIGHT = 1.5
LAMBDAS = (0.0, 2.5, 5.0, 7.5)
# (everyday_idf, rare_idf); SINGLE: every word is rare (general idf is never below 0).
RARITY = ((8.0, 9.0), (8.0, 10.0), (8.0, 11.0), (9.0, 10.0), (9.0, 11.0), (9.0, 12.0),
          (10.0, 11.0), (10.0, 12.0), (10.0, 13.0))
SINGLE = (-1.0, 0.0)
COMMITTED = (9.0, 10.0)
REGULARISATION = (1.0, 3.0, 10.0)
DENSE_SIGNALS = ("answerability", "cosine", "words")
LEXICAL_SIGNALS = ("answerability", "words")
DENSE_KINDS = (*DENSE_SIGNALS, *KINDS)
LEXICAL_KINDS = (*LEXICAL_SIGNALS, *KINDS)


@dataclass(frozen=True)
class Data:
    """Per question: its set, whether it is unanswerable, the cosine and answerabilities."""

    sets: np.ndarray
    unanswerable: np.ndarray
    cosine: np.ndarray
    # Subject words of the question (at most confidence.MAX_WORDS).
    words: np.ndarray
    # The question asks for something the best passages cannot hold (Signals.unmet).
    unmet: np.ndarray
    # By (everyday_idf, rare_idf).
    answerability: dict[tuple[float, float], np.ndarray]
    # By kind of question (confidence.KINDS): 1 where the question is of that kind.
    kinds: dict[str, np.ndarray]

    def feature(self, name: str) -> np.ndarray:
        """A signal by name: cosine, words, answerability (by rarity 9-10), single, or a kind."""
        if name == "answerability":
            return self.answerability[COMMITTED]
        if name == "single":
            return self.answerability[SINGLE]
        if name in self.kinds:
            return self.kinds[name]
        return getattr(self, name)


# A candidate rule: a label and a score per question (declined when below the threshold).
Scores = list[tuple[str, np.ndarray]]


def load_items() -> list[tuple[str, dict]]:
    """Every question of the sets, with its set's name."""
    folder = ROOT / "benchmarks" / "data"
    return [
        (name, json.loads(line))
        for name in SETS
        for line in (folder / f"{name}.jsonl").read_text("utf-8").splitlines()
        if line.strip()
    ]


def collect() -> Data:
    """The signals of every question under each ranker configuration."""
    items = load_items()
    answerability: dict[tuple[float, float], list[float]] = {}
    cosine: list[float] = []
    words: list[int] = []
    unmet: list[bool] = []
    kinds: list[frozenset[str]] = []
    model = BundledE5()
    with tempfile.TemporaryDirectory(prefix="stabot-confidence-") as work:
        for everyday, rare in (SINGLE, *RARITY):
            config = replace(RankConfig(), everyday_idf=everyday, rare_idf=rare)
            kb = KnowledgeBase(Path(work), config=config, embedder=model,
                               seed_vectors=ROOT / "corpus" / SEEDS_DIR)
            kb.ensure_corpus(ROOT / "corpus")
            assert kb.embed_now(), "the bundled corpus has no vectors"
            signals = [kb.signals(item["q"]) for _, item in items]
            answerability[(everyday, rare)] = [s.answerability if s else 0.0 for s in signals]
            if not cosine:
                cosine = [s.best_cosine if s and s.best_cosine is not None else 0.0
                          for s in signals]
                words = [min(s.words, MAX_WORDS) if s else 0 for s in signals]
                unmet = [bool(s and s.unmet) for s in signals]
                kinds = [s.kinds if s else frozenset() for s in signals]
    return Data(
        sets=np.asarray([name for name, _ in items]),
        unanswerable=np.asarray([item["kind"] == "unanswerable" for _, item in items]),
        cosine=np.asarray(cosine) - float(BundledE5.center or 0.0),
        words=np.asarray(words, dtype=float),
        unmet=np.asarray(unmet, dtype=bool),
        answerability={k: np.asarray(v) for k, v in answerability.items()},
        kinds={kind: np.asarray([kind in ks for ks in kinds], dtype=float) for kind in KINDS},
    )


def declined_shares(data: Data, declined: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Answerable declined, unanswerable declined, among the questions of ``mask``."""
    answerable, unanswerable = mask & ~data.unanswerable, mask & data.unanswerable
    return float(declined[answerable].mean()), float(declined[unanswerable].mean())


def criterion(data: Data, declined: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Larger is better: minus the targets' total shortfall over the sets (answerable declined
    counting ANSWERABLE_WEIGHT times), then the mean margin."""
    shares = [declined_shares(data, declined, mask & (data.sets == s))
              for s in SETS if (mask & (data.sets == s)).any()]
    shortfall = sum(
        ANSWERABLE_WEIGHT * max(0.0, a - MAX_DECLINED_ANSWERABLE)
        + max(0.0, MIN_DECLINED_UNANSWERABLE - u)
        for a, u in shares
    )
    return -shortfall, float(np.mean([u - a for a, u in shares]))


def best_rule(data: Data, scores: Scores, mask: np.ndarray) -> tuple[str, np.ndarray, float]:
    """The rule and threshold the criterion prefers on ``mask``."""
    best: tuple[tuple[float, float], str, np.ndarray, float] | None = None
    for label, score in scores:
        values = np.unique(score[mask])
        # Thresholds halfway between neighbouring scores, and past both ends.
        for threshold in np.r_[values[0] - 1, (values[1:] + values[:-1]) / 2, values[-1] + 1]:
            key = criterion(data, score < threshold, mask)
            if best is None or key > best[0]:
                best = (key, label, score, float(threshold))
    assert best is not None
    return best[1], best[2], best[3]


def hand_rules(
    data: Data, rarities: tuple[tuple[float, float], ...], lambdas: tuple[float, ...] = LAMBDAS
) -> Scores:
    """answerability + lam * (cosine - centre), for each ranker configuration and lam."""
    return [
        (f"everyday {e:g} rare {r:g} lam {lam:g}", data.answerability[(e, r)] + lam * data.cosine)
        for (e, r), lam in itertools.product(rarities, lambdas)
    ]


def logistic_fit(
    data: Data, names: tuple[str, ...], train: np.ndarray, strength: float
) -> tuple[float, np.ndarray]:
    """Bias and coefficients, in the signals' own units, of a regression fitted on ``train``."""
    features = np.column_stack([data.feature(name) for name in names])
    mean, std = features[train].mean(axis=0), features[train].std(axis=0) + 1e-9
    design = np.column_stack([np.ones(len(features)), (features - mean) / std])
    coef = fit_logistic(design[train], (~data.unanswerable[train]).astype(float),
                        _set_weights(data, train)[train], strength)
    weights = coef[1:] / std
    return float(coef[0] - weights @ mean), weights


def logistic_rules(
    data: Data, names: tuple[str, ...], *, checked: bool = False
) -> Callable[[np.ndarray], Scores]:
    """Logits of regressions on ``names`` fitted on the training questions, per strength;
    ``checked``: fitted on those the unmet check leaves, which it declines."""

    def make(train: np.ndarray) -> Scores:
        features = np.column_stack([data.feature(name) for name in names])
        fitted = train & ~data.unmet if checked else train
        out = []
        for strength in REGULARISATION:
            bias, weights = logistic_fit(data, names, fitted, strength)
            out.append((f"logistic C {strength:g}", bias + features @ weights))
        return with_check(data, out) if checked else out

    return make


def with_check(data: Data, scores: Scores) -> Scores:
    """The same rules, with every question the unmet check flags declined."""
    return [(label, np.where(data.unmet, -np.inf, score)) for label, score in scores]


def _set_weights(data: Data, train: np.ndarray) -> np.ndarray:
    """Each training set's answerable and unanswerable questions weigh alike."""
    weights = np.zeros(len(data.sets))
    for name, label in itertools.product(SETS, (True, False)):
        group = train & (data.sets == name) & (data.unanswerable == label)
        if group.any():
            weights[group] = 1.0 / group.sum()
    return weights * train.sum() / weights.sum()


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, strength: float) -> np.ndarray:
    """Newton's method on the weighted log-loss plus strength * |coef|^2 / 2 (bias free)."""
    coef = np.zeros(x.shape[1])
    penalty = strength * np.diag(np.r_[0.0, np.ones(x.shape[1] - 1)])
    for _ in range(50):
        p = 1 / (1 + np.exp(-x @ coef))
        gradient = x.T @ (w * (p - y)) + penalty @ coef
        hessian = x.T @ (x * (w * p * (1 - p))[:, None]) + penalty
        coef -= np.linalg.solve(hessian, gradient)
    return coef


def held_out(data: Data, make: Callable[[np.ndarray], Scores]) -> Iterator[tuple[str, str]]:
    """Each set held out: the figures of the rule chosen on the others, and that rule."""
    everything = np.ones(len(data.sets), dtype=bool)
    declined = np.zeros(len(data.sets), dtype=bool)
    for name in SETS:
        test = data.sets == name
        label, score, threshold = best_rule(data, make(~test), ~test)
        declined[test] = score[test] < threshold
        a, u = declined_shares(data, declined, test)
        yield name, f"{a:.2f} / {u:.2f}  ({label}, t {threshold:.3f})"
    a, u = declined_shares(data, declined, everything)
    label, _, threshold = best_rule(data, make(everything), everything)
    yield "pooled", f"{a:.3f} / {u:.3f}"
    yield "chosen on all", f"{label}, t {threshold:.3f}"


def main() -> int:
    """Collect the signals, cross-validate each family of rules, print the figures."""
    data = collect()
    families: dict[str, Callable[[np.ndarray], Scores]] = {
        "single factor": lambda _train: hand_rules(data, (SINGLE,)),
        "by rarity": lambda _train: hand_rules(data, RARITY),
        "by rarity, checked": lambda _train: with_check(data, hand_rules(data, RARITY)),
        "by rarity 9-10, checked (committed)": lambda _train: with_check(
            data, hand_rules(data, (COMMITTED,))),
        "logistic: both answerabilities, cosine": logistic_rules(
            data, ("single", "answerability", "cosine")),
        "logistic: answerability, cosine, words": logistic_rules(data, DENSE_SIGNALS),
        "logistic: answerability, cosine, words, checked": logistic_rules(
            data, DENSE_SIGNALS, checked=True),
        # Without vectors (KNOWLEDGE_EMBEDDINGS=none, or while they are computed).
        "lexical path, single factor": lambda _train: hand_rules(data, (SINGLE,), (0.0,)),
        "lexical path, by rarity 9-10": lambda _train: hand_rules(data, (COMMITTED,), (0.0,)),
        "lexical path, by rarity 9-10, checked": lambda _train: with_check(
            data, hand_rules(data, (COMMITTED,), (0.0,))),
        "lexical path, logistic: answerability, words": logistic_rules(data, LEXICAL_SIGNALS),
        "lexical path, logistic: answerability, words, checked": logistic_rules(
            data, LEXICAL_SIGNALS, checked=True),
        "logistic: answerability, cosine, words, kinds, checked (committed)": logistic_rules(
            data, DENSE_KINDS, checked=True),
        "lexical path, logistic: answerability, words, kinds, checked (committed)":
            logistic_rules(data, LEXICAL_KINDS, checked=True),
    }
    print("answerable declined / unanswerable declined, each set held out in turn\n")
    for family, make in families.items():
        print(f"{family}:")
        for name, figures in held_out(data, make):
            print(f"  {name:<18}{figures}")
    print("\ncommitted (bot/services/knowledge/confidence.py):")
    for label, names in (("DENSE", DENSE_KINDS), ("LEXICAL", LEXICAL_KINDS)):
        chosen = calibration(data, names)
        print(f"{label} = {chosen!r}")
        declined = in_sample(data, chosen, dense=label == "DENSE")
        print("  on every set: " + ", ".join(
            "{} {:.2f} / {:.2f}".format(name, *declined_shares(data, declined, data.sets == name))
            for name in SETS))
    return 0


def in_sample(data: Data, chosen: Calibration, *, dense: bool) -> np.ndarray:
    """Which questions the calibration declines (the unmet check first)."""
    total = (chosen.bias + chosen.answerability * data.feature("answerability")
             + chosen.words * data.words
             + sum(weight * data.kinds[kind] for kind, weight in chosen.kinds))
    if dense:
        total = total + chosen.cosine * data.cosine
    return (total < 0) | data.unmet


def calibration(data: Data, names: tuple[str, ...]) -> Calibration:
    """The regression on ``names`` the criterion picks on all the sets (with the unmet check),
    threshold folded in."""
    everything = np.ones(len(data.sets), dtype=bool)
    rules = logistic_rules(data, names, checked=True)(everything)
    label, _, threshold = best_rule(data, rules, everything)
    strength = float(label.rsplit(" ", 1)[1])
    bias, weights = logistic_fit(data, names, everything & ~data.unmet, strength)
    coef = dict(zip(names, (round(float(w), 4) for w in weights), strict=True))
    return Calibration(
        bias=round(bias - threshold, 4),
        answerability=coef.get("answerability", 0.0),
        cosine=coef.get("cosine", 0.0),
        words=coef.get("words", 0.0),
        kinds=tuple((kind, coef[kind]) for kind in KINDS if kind in coef),
    )


if __name__ == "__main__":
    raise SystemExit(main())
