#!/usr/bin/env python3
"""Candidate signals for the grade, beyond the committed ones, checked leave-one-set-out.

Collects, besides qa_confidence.collect()'s signals, per question: the cosines of the fused
best passages, the best cosine's margin over the second, and the best passages' text (for slot
checks), caches them (``--cache``; delete the file after changing the code), and prints the
held-out figures of each candidate family, by qa_confidence's criterion and folds: the
regression and the hand rule with the unmet check of the code it runs on, the regression with
dense signals added, with the unmet check widened by the ranker's question types, by the unit
check (confidence.asked_units; already in the check since issue 15), and by asked nouns learned
inside each fold (confidence.asked_about over the nouns that unanswerable questions of at least
2 or 3 training sets, and no answerable one, asked about without the best passages naming them).

The README's figures "on a6fe67f's checks" come from this script run with that commit's bot/
(its unmet check) and ``--everyday 8`` (its rarity bounds).

    python benchmarks/qa_confidence_extras.py [--cache /tmp/qa_sig.pkl] [--aim 0.08]
"""

from __future__ import annotations

import argparse
import pickle
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import qa_confidence as qc  # noqa: E402
from bot.services.knowledge import KnowledgeBase  # noqa: E402
from bot.services.knowledge.confidence import asked_about  # noqa: E402
from bot.services.knowledge.dense import BundledE5  # noqa: E402
from bot.services.knowledge.ranking import CUES, RankConfig  # noqa: E402
from bot.services.knowledge.seeds import SEEDS_DIR  # noqa: E402
from bot.services.knowledge.tokenize import normalize  # noqa: E402


def collect_extras() -> list[dict]:
    """Per question (committed ranker): cosines of the fused top 5 and of the dense top 5,
    the fused top 5 passages' text and flags, and the signals."""
    out = []
    with tempfile.TemporaryDirectory(prefix="stabot-extras-") as work:
        kb = KnowledgeBase(Path(work), embedder=BundledE5(),
                           seed_vectors=ROOT / "corpus" / SEEDS_DIR)
        kb.ensure_corpus(ROOT / "corpus")
        assert kb.embed_now(), "the bundled corpus has no vectors"
        state = kb.snapshot()
        for name, item in qc.load_items():
            assessed = kb._assess(item["q"])
            record: dict = {"set": name, "q": item["q"], "kind": item["kind"]}
            if assessed is not None:
                _, fused, signals = assessed
                cos = kb._vectors.cosines(state, item["q"])
                known = state.dense.known
                dense = np.where(known, cos, -1.0)
                order = np.argsort(-dense)[:5]
                rows = [row for row, _ in fused[:5]]
                record.update(
                    fused_cos=[float(dense[r]) for r in rows],
                    dense_top=[float(dense[r]) for r in order],
                    dense_rows=[int(r) for r in order],
                    rows=rows,
                    texts=[state.context(r) for r in rows],
                    flags=[int(state.index.flags[r]) for r in rows],
                    docs=[int(state.index.doc_of[r]) for r in rows],
                    unmet=signals.unmet,
                )
            out.append(record)
    return out


def load(cache: Path) -> tuple[qc.Data, list[dict]]:
    """The committed signals and the extras, from the cache when there is one."""
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    data = qc.collect()
    extras = collect_extras()
    cache.write_bytes(pickle.dumps((data, extras)))
    return data, extras


def main() -> int:
    """Collect (or load) and print each family's held-out figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "qa_sig.pkl")
    parser.add_argument("--aim", type=float, default=qc.MAX_DECLINED_ANSWERABLE,
                        help="answerable declined the criterion aims at")
    parser.add_argument("--only", default="", help="families whose name contains this")
    parser.add_argument("--everyday", type=float, default=qc.COMMITTED[0],
                        help="everyday_idf of the answerability the rules use (rare_idf 10)")
    args = parser.parse_args()
    qc.MAX_DECLINED_ANSWERABLE = args.aim
    qc.COMMITTED = (args.everyday, 10.0)
    data, extras = load(args.cache)
    families = candidate_families(data, extras)
    print("answerable declined / unanswerable declined, each set held out in turn")
    print("family | " + " | ".join(qc.SETS) + " | pooled")
    for family, (fdata, make) in families.items():
        if args.only not in family:
            continue
        shares, pooled = held_out_shares(fdata, make)
        cells = " | ".join(f"{a:.2f} / {u:.2f}" for a, u in shares)
        print(f"{family} | {cells} | {pooled[0]:.3f} / {pooled[1]:.3f}")
    return 0


def held_out_shares(
    data: qc.Data, make: Callable[[np.ndarray], qc.Scores]
) -> tuple[list[tuple[float, float]], tuple[float, float]]:
    """Each set held out: its figures under the rule chosen on the others; then pooled."""
    declined = np.zeros(len(data.sets), dtype=bool)
    shares = []
    for name in qc.SETS:
        test = data.sets == name
        _, score, threshold = qc.best_rule(data, make(~test), ~test)
        declined[test] = score[test] < threshold
        shares.append(qc.declined_shares(data, declined, test))
    everything = np.ones(len(data.sets), dtype=bool)
    return shares, qc.declined_shares(data, declined, everything)



@dataclass(frozen=True)
class More(qc.Data):
    """qa_confidence's signals and the candidates (cosines relative to the model's centre)."""

    # Cosine of the fused ranking's first passage.
    fused_cos: np.ndarray
    # The best cosine's margin over the second best (dense ranking).
    dense_margin: np.ndarray
    # The fused first passage's cosine less the best cosine of the fused 2nd-5th.
    fused_margin: np.ndarray


def with_extras(data: qc.Data, extras: list[dict]) -> More:
    """The data with the candidate signals added."""
    centre = float(BundledE5.center or 0.0)
    fused = [e.get("fused_cos") or [centre] for e in extras]
    dense = [e.get("dense_top") or [centre, centre] for e in extras]
    return More(
        **{f: getattr(data, f) for f in qc.Data.__dataclass_fields__},
        fused_cos=np.asarray([f[0] for f in fused]) - centre,
        dense_margin=np.asarray([d[0] - d[1] for d in dense]),
        fused_margin=np.asarray([f[0] - max(f[1:], default=f[0]) for f in fused]),
    )


def candidate_families(
    data: qc.Data, extras: list[dict]
) -> dict[str, tuple[qc.Data, Callable[[np.ndarray], qc.Scores]]]:
    """Each family of rules: the data it runs on and its rules per training mask."""
    more = with_extras(data, extras)
    dense = qc.DENSE_SIGNALS
    lexical = qc.LEXICAL_SIGNALS
    out: dict[str, tuple[qc.Data, Callable[[np.ndarray], qc.Scores]]] = {
        "regression, checked": (more, qc.logistic_rules(more, dense, checked=True)),
        "hand rule, checked (committed)": (
            more, lambda _t: qc.with_check(more, qc.hand_rules(more, (qc.COMMITTED,)))),
        "by rarity, checked": (
            more, lambda _t: qc.with_check(more, qc.hand_rules(more, qc.RARITY))),
        "lexical regression, checked (committed)": (
            more, qc.logistic_rules(more, lexical, checked=True)),
        "lexical, by rarity, checked": (
            more, lambda _t: qc.with_check(more, qc.hand_rules(more, qc.RARITY, (0.0,)))),
    }
    for extra in (("fused_cos",), ("dense_margin",), ("fused_margin",),
                  ("fused_cos", "dense_margin"), ("fused_cos", "dense_margin", "fused_margin")):
        out[f"+ {', '.join(extra)}"] = (
            more, qc.logistic_rules(more, (*dense, *extra), checked=True))
    for label, flags in slot_checks(extras).items():
        widened = replace(more, unmet=more.unmet | flags)
        out[f"unmet + {label}"] = (widened, qc.logistic_rules(widened, dense, checked=True))
        out[f"lexical, unmet + {label}"] = (
            widened, qc.logistic_rules(widened, lexical, checked=True))
    units = slot_checks(extras)["asked unit"]
    with_units = replace(more, unmet=more.unmet | units)
    for min_sets in (2, 3):
        for label, names in (("", dense), ("lexical, ", lexical)):
            out[f"{label}unmet + asked unit + heads learned (>= {min_sets} sets)"] = (
                with_units, head_rules(with_units, names, extras, min_sets))
    for extra in (("fused_cos", "dense_margin"), ("dense_margin",)):
        out[f"unmet + asked unit, + {', '.join(extra)}"] = (
            with_units, qc.logistic_rules(with_units, (*dense, *extra), checked=True))
    return out


def slot_checks(extras: list[dict]) -> dict[str, np.ndarray]:
    """Widened unmet checks: the question asks for a kind of value none of the best passages
    (the answer window) holds."""
    window = RankConfig().answer_window
    out: dict[str, np.ndarray] = {}
    for cue in CUES:
        if cue.required:
            out[cue.name] = np.asarray([
                bool(e.get("flags")) and bool(cue.pattern.search(e["q"]))
                and not any(cue.satisfied(f) for f in e["flags"][:window])
                for e in extras
            ])
    out["any cue"] = np.logical_or.reduce(list(out.values()))
    out["asked unit"] = np.asarray([
        bool(e.get("texts")) and unit_unmet(normalize(e["q"]), e["texts"][:window])
        for e in extras
    ])
    return out


_UNITS = "名家人元万年天岁页份周月次届"
_UNIT_ASKED = re.compile(rf"(?<![哪好没那这])(?:多少|几)([{_UNITS}])")
_NUM = r"(?:\d+(?:\.\d+)?|[一二三四五六七八九十两百千万]+)"


def asked_units(question: str) -> set[str]:
    """Units the question asks a count or a date in (多少家, 几名, 几月几号 -> day, 比例 -> %)."""
    out = set()
    for match in _UNIT_ASKED.finditer(question):
        out.add(match.group(1))
    if re.search(r"几号|哪天|哪一天|几月几", question):
        out.discard("月")
        out.add("day")
    if re.search(r"比例|百分之|百分比", question):
        out.add("%")
    return out


def unit_stated(unit: str, text: str) -> bool:
    """Whether a passage states a value in ``unit``."""
    if unit == "day":
        return bool(re.search(r"\d{1,2}\s*月\s*\d{1,2}\s*日|\d{1,2}日", text))
    if unit == "%":
        return bool(re.search(r"%|百分之|\d+成", text))
    return bool(re.search(_NUM + r"\s*(?:[多余]|以上|以下|左右)?\s*" + unit, text))


def unit_unmet(question: str, passages: list[str]) -> bool:
    """The question asks a value in a unit that none of the passages states."""
    return any(not any(unit_stated(u, t) for t in passages) for u in asked_units(question))



# Words that ask which one or what (哪些材料, 啥条件), and what follows a noun to ask about it
# (评选条件是啥).
_WH = ("哪", "什么", "啥", "几", "多少")
_ASK_AFTER = frozenset({"是啥", "是什么", "有哪些", "是哪些", "是多少", "有啥", "是哪", "是"})


def asked_heads(question: str) -> list[str]:
    """Nouns the question asks about: the one after a wh-word (哪些申请材料, 啥流程) and the one
    before 是啥 / 有哪些 (评选条件是啥)."""
    import jieba.posseg as pseg

    tokens = [(p.word, p.flag) for p in pseg.cut(normalize(question))]
    out = []
    for i, (word, _) in enumerate(tokens):
        if word.startswith(_WH) and len(word) <= 3:
            noun = next((w for w, t in tokens[i + 1 : i + 3] if t.startswith("n") and len(w) >= 2),
                        None)
            if noun:
                out.append(noun)
        if word in _ASK_AFTER and i > 0 and i + 1 <= len(tokens):
            prev, tag = tokens[i - 1]
            if tag.startswith("n") and len(prev) >= 2 and (
                word != "是" or (i + 1 < len(tokens) and tokens[i + 1][0].startswith(_WH))
            ):
                out.append(prev)
    return out


def missing_heads(extras: list[dict]) -> list[set[str]]:
    """Per question: the asked-about nouns none of the best passages (answer window) holds."""
    window = RankConfig().answer_window
    return [
        {h for h in asked_heads(e["q"]) if not any(h in t for t in e["texts"][:window])}
        if e.get("texts") else set()
        for e in extras
    ]


def learned_heads(data: qc.Data, missing: list[set[str]], train: np.ndarray,
                  min_sets: int) -> set[str]:
    """Nouns missing from the window in unanswerable questions of at least ``min_sets`` training
    sets and in no answerable training question."""
    sets_of: dict[str, set[str]] = {}
    answered: set[str] = set()
    for i in np.flatnonzero(train).tolist():
        for head in missing[i]:
            if data.unanswerable[i]:
                sets_of.setdefault(head, set()).add(str(data.sets[i]))
            else:
                answered.add(head)
    return {h for h, s in sets_of.items() if len(s) >= min_sets and h not in answered}


def head_rules(
    data: qc.Data, names: tuple[str, ...], extras: list[dict], min_sets: int
) -> Callable[[np.ndarray], qc.Scores]:
    """The committed regression, the unmet check widened by confidence.asked_about over the
    nouns learned on the training sets (the committed list's own flags left out)."""
    missing = missing_heads(extras)
    window = RankConfig().answer_window
    base = data.unmet & np.asarray([e.get("unmet") != "asked" for e in extras])

    def make(train: np.ndarray) -> qc.Scores:
        heads = sorted(learned_heads(data, missing, train, min_sets))
        asked = np.asarray([
            bool(e.get("texts")) and any(
                not any(word in t for t in e["texts"][:window])
                for word in asked_about(normalize(e["q"]), heads))
            for e in extras
        ])
        widened = replace(data, unmet=base | asked)
        return qc.logistic_rules(widened, names, checked=True)(train)

    return make


if __name__ == "__main__":
    raise SystemExit(main())
