"""Search over the bundled corpus: right passages, refusal, persistence, removal, helpers."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bot import PROJECT_ROOT
from bot.services.knowledge import Answer, KnowledgeBase, QuestionCode, validate_question
from bot.services.knowledge.confidence import (
    KINDS,
    MAX_WORDS,
    Calibration,
    Grade,
    Signals,
    asked_about,
    asked_kinds,
    asked_units,
    grade,
    is_place,
    question_numbers,
    unit_stated,
    unmet_ask,
)
from bot.services.knowledge.errors import UnknownDocumentError
from bot.services.knowledge.ranking import RankConfig, is_phrasing
from bot.services.knowledge.thesaurus import general_idf, synonyms_by_word
from bot.services.knowledge.tokenize import normalize

CORPUS = PROJECT_ROOT / "corpus"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the bundled corpus indexed once for the module."""
    folder = tmp_path_factory.mktemp("knowledge")
    KnowledgeBase(folder).ensure_corpus(CORPUS)
    return folder


@pytest.fixture(scope="module")
def kb(data_dir: Path) -> KnowledgeBase:
    """The indexed bundled corpus."""
    return KnowledgeBase(data_dir)


@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        ("民营企业搞技术的人够多少就得单独建科协？", "30人以上（含30人）"),
        ("报送落实情况那个通知，联系人电话是多少？", "0471-6939381"),
        ("“两中心”指的是哪两个中心？", "基层党群服务中心、新时代文明实践中心"),
        ("内蒙古一共配了多少辆科普大篷车？", "累计配备科普大篷车 119 辆"),
    ],
)
def test_the_answer_passage_comes_first(kb: KnowledgeBase, question: str, phrase: str) -> None:
    hits = kb.search(question, top_k=3)
    assert hits and phrase in hits[0].text


def test_hits_carry_their_source(kb: KnowledgeBase) -> None:
    hit = kb.search("民营企业搞技术的人够多少就得单独建科协？")[0]
    assert hit.doc == "001_2b194d99716c1ff7.txt"
    assert hit.title == "关于加强企业科协组织建设的意见"
    assert (hit.issuer, hit.date, hit.doc_number) == (
        "宁夏回族自治区科学技术协会",
        "2017-11-29",
        "宁科协发[2017]212号",
    )
    assert hit.section == "三、企业科协组织建设的方法措施 › （一）坚持组织建设模式创新"
    assert hit.passage_id == f"{hit.doc_id}:{hit.position}"
    looked_up = kb.passage(hit.passage_id)
    assert looked_up is not None and replace(looked_up, score=hit.score) == hit


@pytest.mark.parametrize(
    "question",
    ["科协会员证去哪里办理？", "企业科协的章程模板在哪能找到？", "科普信息员每个月有补贴吗？"],
)
def test_questions_the_documents_do_not_answer_get_low_confidence_answers(
    kb: KnowledgeBase, question: str
) -> None:
    answer = kb.answer(question)
    assert answer.hits and not answer.confident


def test_a_question_nothing_in_the_documents_relates_to_gets_no_passage(
    kb: KnowledgeBase,
) -> None:
    assert kb.answer("手把肉咋煮才嫩？") == Answer([], False)
    assert kb.search("手把肉咋煮才嫩？") == []
    assert kb.answer("企业科技人员多少人要单独成立科协？").confident


def test_which_documents_lists_each_document_once_first(kb: KnowledgeBase) -> None:
    hits = kb.search("哪些文件里提到了创新争先行动？", top_k=5)
    docs = [hit.doc for hit in hits[:2]]
    assert len(set(docs)) == 2


def test_section_passages_and_passage_lookup(kb: KnowledgeBase) -> None:
    hit = kb.search("落实情况报告最晚哪天要交上去？")[0]
    section = kb.section_passages(hit.doc_id, hit.section)
    assert hit.passage_id in [p.passage_id for p in section]
    assert [p.position for p in section] == sorted(p.position for p in section)
    assert kb.passage("nope:1") is None
    front = kb.section_passages(hit.doc_id, "")
    assert front and all(p.section == "" for p in front)
    assert any("2021年11月23日" in p.text for p in front)


def test_highlight_terms(kb: KnowledgeBase) -> None:
    hit = kb.search("民营企业搞技术的人够多少就得单独建科协？")[0]
    terms = kb.highlight_terms("民营企业搞技术的人够多少就得单独建科协？", hit.text)
    assert "民营企业" in terms and "科技人员" in terms
    assert all(term in normalize(hit.text) for term in terms)


def test_reload_uses_the_persisted_index(data_dir: Path) -> None:
    index_dirs = sorted(p.name for p in (data_dir / "index").iterdir())
    fresh = KnowledgeBase(data_dir)
    assert fresh.ensure_corpus(CORPUS) == []
    assert len(fresh.documents()) == 5
    assert fresh.search("内蒙古一共配了多少辆科普大篷车？")
    assert sorted(p.name for p in (data_dir / "index").iterdir()) == index_dirs


def test_removed_document_is_no_longer_returned(data_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "kb"
    shutil.copytree(data_dir, copy)
    kb = KnowledgeBase(copy)
    doc_id = kb.search("内蒙古一共配了多少辆科普大篷车？")[0].doc_id
    kb.remove(doc_id)
    assert doc_id not in [d.doc_id for d in kb.documents()]
    assert all(hit.doc_id != doc_id for hit in kb.search("内蒙古一共配了多少辆科普大篷车？"))
    # A changed corpus folder is re-scanned, but the removed document stays removed.
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    (corpus / "new.txt").write_text(
        "关于开展科普日活动的通知\n各旗县科协：\n请于9月前报送方案。\n"
    )
    assert [info.file_name for info in kb.ensure_corpus(corpus)] == ["new.txt"]
    with pytest.raises(UnknownDocumentError):
        kb.remove(doc_id)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", QuestionCode.EMPTY),
        ("   \n ", QuestionCode.EMPTY),
        ("科" * 501, QuestionCode.TOO_LONG),
        ("🙂🙂👍", QuestionCode.NO_WORDS),
        ("How do I register a member?", QuestionCode.NOT_CHINESE),
        ("企业科协怎么成立？", None),
        ("科普e站", None),
    ],
)
def test_validate_question(text: str, code: QuestionCode | None) -> None:
    assert validate_question(text) == code


def test_latin_words_the_documents_use_are_accepted(kb: KnowledgeBase) -> None:
    assert kb.validate_question("0471") is None
    assert kb.validate_question("hello world") == QuestionCode.NOT_CHINESE


def test_cutter_matches_python_jieba(kb: KnowledgeBase, tmp_path: Path) -> None:
    """jieba-rs with our words cuts the bundled corpus exactly as jieba 0.42 (HMM off) does."""
    import jieba

    reference = jieba.Tokenizer()
    reference.tmp_dir = str(tmp_path)  # not the shared /tmp/jieba.cache
    vocabulary = kb.analyzer.vocabulary
    for word, freq in vocabulary.words:
        reference.add_word(word, freq)
    for variant in (*vocabulary.canonical, *vocabulary.canonical.values()):
        reference.add_word(variant, 3000)
    words = re.compile(r"[\u4e00-\u9fff0-9a-z]")
    for path in sorted(CORPUS.glob("*.txt")):
        text = normalize(path.read_text(encoding="utf-8"))
        expected = [w for w in reference.lcut_for_search(text, HMM=False) if words.search(w)]
        assert kb.analyzer.cut(text) == expected, path.name


def test_a_word_no_document_uses_meets_its_thesaurus_synonym(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notice.txt").write_text(
        "关于做好企业科技人员工作的通知\n一、重点任务\n"
        "企业科技人员要重点研究新材料、现代装备制造等领域的关键技术。\n"
        "二、保障措施\n各单位要在12月9日前报送工作总结。\n",
        encoding="utf-8",
    )
    question = "科技人员钻研哪些技术？"  # 钻研: the documents say 研究
    assert "研究" in synonyms_by_word()["钻研"]
    plain = KnowledgeBase(tmp_path / "plain", config=RankConfig(related_max=0))
    plain.add_paths([folder])
    with_thesaurus = KnowledgeBase(tmp_path / "thesaurus")
    with_thesaurus.add_paths([folder])
    hits = with_thesaurus.search(question)
    assert hits and "重点研究新材料" in hits[0].text
    # Without the thesaurus 钻研 counts as a word the documents lack: the passage leads by less.
    before = plain.search(question)
    assert before[0].passage_id == hits[0].passage_id
    assert hits[0].score - hits[1].score > before[0].score - before[1].score


def test_the_phrasing_of_a_question_weighs_less_than_its_subject(kb: KnowledgeBase) -> None:
    query = kb.analyzer.query("企业科协到底是个啥性质的组织，咋建比较合适？")
    assert query.tags["咋"] == "r" and query.tags["比较"] == "d" and query.tags["性质"] == "n"
    assert is_phrasing("r") and is_phrasing("uj") and not is_phrasing("n")
    assert not is_phrasing("v")


def test_a_word_no_document_uses_counts_by_how_rare_it_is(kb: KnowledgeBase) -> None:
    """An everyday word (找) is how the asker talks; a rare one (会费) is what they ask about."""
    assert general_idf("找") <= 8.0 < 10.0 <= general_idf("开会") < general_idf("会费") == 12.0
    ranker = kb.snapshot().ranker

    def answerability(question: str) -> float:
        return ranker.rank(question, kb.analyzer.query(question)).answerability

    base = "企业科技人员多少人要单独成立科协，"
    assert answerability(base + "要找谁吗？") > 0.9 > 0.5 > answerability(base + "要交会费吗？")


def test_a_phone_spelling_or_an_english_word_is_not_rare() -> None:
    """厂里 and 咋办 are not in jieba's dictionary but 厂 and 办 are; English it cannot judge."""
    assert general_idf("厂里") == general_idf("厂") < 10.0
    assert general_idf("咋办") == general_idf("办") < 10.0
    assert general_idf("company") == general_idf("Ningxia") == 0.0
    # A rare word stays rare, affix or not: 会费 is not 会 + 费, 会费里 is as rare as 会费.
    assert general_idf("会费里") == general_idf("会费") == 12.0
    assert general_idf("4105") == 12.0


def test_the_grade_weighs_answerability_cosine_and_subject_words() -> None:
    calibration = Calibration(bias=-4.0, answerability=6.0, cosine=10.0, words=0.25)
    lexical = Calibration(bias=-3.0, answerability=6.0, cosine=0.0, words=0.0)

    def signals(answerability: float, words: int, cosine: float | None = 0.9) -> Signals:
        return Signals(answerability, True, words, cosine, 0.9)

    # 6 * 0.5 + 0.25 * 4 = 4: just confident; one word less is not, a better cosine is.
    assert grade(signals(0.5, 4), calibration, lexical) is Grade.CONFIDENT
    assert grade(signals(0.5, 3), calibration, lexical) is Grade.LOW
    assert grade(signals(0.5, 3, 0.93), calibration, lexical) is Grade.CONFIDENT
    # Rambling past MAX_WORDS earns nothing more.
    assert grade(signals(0.2, MAX_WORDS), calibration, lexical) is grade(
        signals(0.2, 40), calibration, lexical)
    # No cosine (vectors not ready, or a model without a centre): the lexical calibration.
    assert grade(signals(0.5, 0, None), calibration, lexical) is Grade.CONFIDENT
    assert grade(replace(signals(0.9, 9), relates=False), calibration, lexical) is Grade.NONE
    # Something asked for that the best passages cannot hold: never confident, whatever the score.
    assert grade(replace(signals(1.0, 9), unmet="money"), calibration, lexical) is Grade.LOW
    # The kinds of question weigh too: asking what a term means lifts, asking when lowers.
    kinds = replace(calibration, kinds=(("meaning", 0.5), ("when", -2.0)))
    assert grade(replace(signals(0.5, 2), kinds=frozenset({"meaning"})), kinds, lexical) is (
        Grade.CONFIDENT)
    assert grade(signals(0.5, 2), kinds, lexical) is Grade.LOW
    assert grade(replace(signals(0.5, 6), kinds=frozenset({"when"})), kinds, lexical) is (
        Grade.LOW)


def test_the_kinds_of_a_question() -> None:
    assert asked_kinds("两翼啥意思") == {"meaning"}
    assert asked_kinds("江淮双创汇每年啥时候办") == {"when"}
    assert asked_kinds("今年计划搞多少场？是不是比去年多") == {"now", "count", "yes_no"}
    assert asked_kinds("领导小组组长是谁，咋联系") == {"who", "how"}
    assert asked_kinds("企业科协的经费由企业提供") == frozenset()
    assert asked_kinds("年会在哪个城市开，联系人电话多少") == {"where", "contact", "count"}
    assert asked_kinds("要交啥材料，有模板没") == {"materials", "yes_no"}
    assert set(KINDS) == {
        "meaning", "now", "yes_no", "how", "when", "who", "count", "where", "contact",
        "materials",
    }


def test_asking_for_what_the_best_passages_cannot_hold_is_unmet() -> None:
    passages = ["企业科协开展工作所需经费由企业提供", "2021年配备科普大篷车119辆，投入40万元"]
    named = {"内蒙古", "宁夏", "2021"}.__contains__

    def unmet(question: str, places: list[tuple[str, ...]] = (), texts: list[str] = passages):
        return unmet_ask(question, places, texts, named)

    # An amount of money: unmet unless a passage states one.
    assert unmet("企业科协会员一年交多少钱") is None
    assert unmet("企业科协会员一年交多少钱", texts=passages[:1]) == "money"
    assert unmet("企业科协的经费由谁提供？", texts=passages[:1]) is None
    # A place none of their documents names; 内蒙 comes with its variant 内蒙古.
    assert unmet("广东企业科协要多少辆大篷车？", [("广东",)]) == "place"
    assert unmet("内蒙企业科协要多少辆大篷车？", [("内蒙", "内蒙古")]) is None
    assert is_place("广东", "ns") and is_place("滁州市", "ns") and is_place("宁夏", "")
    assert not is_place("东西", "ns") and not is_place("新建", "ns")
    # A number (a two-digit year read as 20xx) that neither they nor their documents use.
    assert question_numbers("23年和2021年的119辆") == {"2023", "2021", "119"}
    assert unmet("23年配了多少辆大篷车") == "number"
    assert unmet("21年配了119辆大篷车吗") is None
    # A rule book none of them names.
    assert unmet("科普大篷车管理办法里考核咋考") == "rule book"
    assert unmet("企业科协规范化建设抓什么") is None
    # A count or a date in a unit none of them states a value in.
    assert asked_units("最少要多少家会员单位，几月几号交，占多少比例") == {"家", "day", "%"}
    assert asked_units("哪几家单位发的，好几家厂子，没几个人") == set()
    assert unmet("2021年配了多少辆大篷车") is None
    assert unmet("企业科协联合会最少要多少家会员单位") == "unit"
    assert unmet("科技工作者日是几月几号") == "unit"
    assert unit_stated("day", "12月9日前报送") and not unit_stated("day", "2021年")
    assert unit_stated("家", "30家以上企业") and unit_stated("%", "50%以上的省级学会")
    assert not unit_stated("家", "企业科协联合会")
    # A thing that unanswered questions ask about (啥条件), none of them names.
    assert asked_about("评选条件是啥，一年交多少会费") == ["条件", "会费"]
    assert asked_about("有条件的企业要建科协吗") == []
    assert unmet("院士专家工作站建站要满足啥条件") == "asked"
    assert unmet("院士专家工作站建站要满足啥条件", texts=["提供必要的工作条件"]) is None


@pytest.mark.parametrize(
    "question",
    ["广东省科协对企业科协组建有啥人数要求", "2023年内蒙科协全委会定的重点任务有哪些"],
)
def test_an_unmet_ask_makes_a_low_confidence_answer(kb: KnowledgeBase, question: str) -> None:
    answer = kb.answer(question)
    assert answer.hits and not answer.confident
    signals = kb.signals(question)
    assert signals is not None and signals.unmet in {"place", "number"}
