"""Phone typos of the documents' words (a character typed for one read the same) are read as
the word before a question is searched; real words and the question's grammar are left alone."""

from __future__ import annotations

import pytest

from bot import PROJECT_ROOT
from bot.services.knowledge import KnowledgeBase
from bot.services.knowledge.respell import Lexicon, respell
from offline.updates import TgUser
from tests.harness import running_bot, sent_texts

CORPUS = PROJECT_ROOT / "corpus"
LI = TgUser(id=50101, first_name="小李")


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """The bundled corpus, indexed once for the module."""
    folder = tmp_path_factory.mktemp("respell")
    KnowledgeBase(folder).ensure_corpus(CORPUS)
    return KnowledgeBase(folder)


@pytest.mark.parametrize(
    ("question", "word"),
    [
        ("全区科普大蓬车一共配了多少辆", "科普大篷车"),
        ("企业科写到底算啥性质的组织", "企业科协"),
        ("除州市科协电话多少", "滁州市"),
        ("企科协加入一业一汇以后能办哪些事", "一业一会"),
        ("要派联落员吗", "联络员"),
    ],
)
def test_a_slip_for_a_documents_word_is_read_as_the_word(
    kb: KnowledgeBase, question: str, word: str
) -> None:
    assert word in kb.respelled(question)


@pytest.mark.parametrize(
    "question",
    [
        "会费多少",  # a real word no document uses: the sign of a question they do not answer
        "在企业科协干活的人评职称能加分不",  # 分不 is grammar (or not), not 分布
        "学会承接政府转移职能先从哪些事试起",  # 事试 sounds like three words: none is chosen
        "What is 两翼?",
        "企业科技人员多少人要单独成立科协？",
    ],
)
def test_real_words_and_grammar_are_left_alone(kb: KnowledgeBase, question: str) -> None:
    assert kb.respelled(question) == question


def test_a_slip_sounding_like_two_document_words_is_left_alone() -> None:
    def fixed(known: set[str]) -> str:
        lexicon = Lexicon(lambda run: [run[:2], run[2:]], lambda word: False,
                          known.__contains__, frozenset())
        return respell("科普大蓬车", lexicon)

    assert fixed({"大篷车", "大棚车"}) == "科普大蓬车"
    assert fixed({"大篷车"}) == "科普大篷车"


def test_the_answer_to_a_misspelt_question_comes_first(kb: KnowledgeBase) -> None:
    hits = kb.search("科普大蓬车全区一共配了多少辆")
    assert "累计配备科普大篷车 119 辆" in hits[0].text


async def test_a_misspelt_question_in_chat_bolds_the_documents_word(kb_settings, clock) -> None:
    async with running_bot(kb_settings, clock) as bot:
        calls = await bot.text(LI, "/ask 全区科普大蓬车一共配了多少辆")
    text = sent_texts(calls)[0]
    assert "<b>科普大篷车</b>" in text
    assert "119 辆" in text
