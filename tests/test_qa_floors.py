"""The dev question set through the real `stabot ask --json` path: a ranking regression fails here.

Lexical only (the dense model's vectors take about 20 s of two cores to compute; the dense path
has its own tests in test_knowledge_dense.py). The floors are the dev targets of the README.
"""

from __future__ import annotations

import json

import pytest

from benchmarks.qa_eval import score
from bot import PROJECT_ROOT
from bot.commands.knowledge import answer_json, answer_question
from bot.services.knowledge import KnowledgeBase

DEV_SET = PROJECT_ROOT / "benchmarks" / "data" / "qa_dev.jsonl"
FLOORS = {"hit@1": 0.75, "hit@3": 0.90, "unanswerable_declined": 0.70}
CEILINGS = {"answerable_declined": 0.05, "answerable_no_answer": 0.03}


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    """The dev set's figures, computed from the JSON objects `stabot ask --json` prints."""
    kb = KnowledgeBase(tmp_path_factory.mktemp("knowledge"))
    kb.ensure_corpus(PROJECT_ROOT / "corpus")
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

