"""The dev question set through the real `stabot ask --json` path: a ranking regression fails here.

Both paths: lexical (KNOWLEDGE_EMBEDDINGS=none) and the bundled model as shipped, whose vectors
of the bundled corpus come from the seed file (nothing is embedded here). The floors are the dev
targets of the README.
"""

from __future__ import annotations

import json

import pytest

from benchmarks.qa_eval import score
from bot import PROJECT_ROOT
from bot.commands.knowledge import answer_json, answer_question
from bot.services.knowledge import KnowledgeBase
from bot.services.knowledge.dense import load_embedder
from bot.services.knowledge.seeds import SEEDS_DIR

DEV_SET = PROJECT_ROOT / "benchmarks" / "data" / "qa_dev.jsonl"
FLOORS = {"hit@1": 0.75, "hit@3": 0.90, "unanswerable_declined": 0.70}
CEILINGS = {"answerable_declined": 0.05, "answerable_no_answer": 0.03}


@pytest.fixture(scope="module", params=["none", "bundled"])
def figures(tmp_path_factory: pytest.TempPathFactory, request) -> dict[str, float]:
    """The dev set's figures, computed from the JSON objects `stabot ask --json` prints."""
    corpus = PROJECT_ROOT / "corpus"
    kb = KnowledgeBase(tmp_path_factory.mktemp("knowledge"), embedder=load_embedder(request.param),
                       seed_vectors=corpus / SEEDS_DIR)
    kb.ensure_corpus(corpus)
    assert kb.vectors_missing() == 0
    items = [json.loads(line) for line in DEV_SET.read_text("utf-8").splitlines() if line]
    rows = []
    for item in items:
        _, answer = answer_question(kb, item["q"], 5)
        # Through JSON and back, as the scorer reads it.
        rows.append(json.loads(json.dumps(answer_json(item["q"], answer), ensure_ascii=False)))
    return score(items, rows)


@pytest.mark.parametrize(("name", "floor"), FLOORS.items())
def test_the_dev_set_stays_above_its_floor(figures: dict[str, float], name: str,
                                           floor: float) -> None:
    assert figures[name] >= floor, figures


@pytest.mark.parametrize(("name", "ceiling"), CEILINGS.items())
def test_the_dev_set_stays_below_its_ceiling(figures: dict[str, float], name: str,
                                             ceiling: float) -> None:
    assert figures[name] <= ceiling, figures

