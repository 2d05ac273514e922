"""Chunking of Chinese official documents: heading levels, inline headings, wrapped titles."""

from __future__ import annotations

from bot import PROJECT_ROOT
from bot.services.knowledge.chunking import MAX_CHARS, PassageKind, chunk_text, sentences
from bot.services.knowledge.lines import LineKind, logical_lines

CORPUS = PROJECT_ROOT / "corpus"

NOTICE = """关于开展2024年全国科普日
活动的通知
各盟市科协，各有关学会：
为做好全国科普日活动，现将有关事项通知如下。
一、活动内容
（一）大力开展科学技术普及工作
1.常态化开展科普传播活动。根据企业需求积极开展科普传播。
2.加强科普志愿者队伍建设。建设好科普传播专家队伍。
（1）组建专家团。每个盟市组建一支专家团。
（二）提高政治站位。各级科协要把科普日作为重要任务。
二、有关要求
请于9月1日前报送方案。
内蒙古自治区科学技术协会
2024年8月1日
"""


def by_section(text: str) -> dict[str, list[str]]:
    """Passage texts keyed by their heading path."""
    out: dict[str, list[str]] = {}
    for passage in chunk_text(text):
        out.setdefault(passage.section_label, []).append(passage.text)
    return out


def test_every_heading_level_nests_into_the_path() -> None:
    sections = by_section(NOTICE)
    path = "一、活动内容 › （一）大力开展科学技术普及工作 › 1.常态化开展科普传播活动"
    assert sections[path] == ["1.常态化开展科普传播活动。根据企业需求积极开展科普传播。"]
    deep = (
        "一、活动内容",
        "（一）大力开展科学技术普及工作",
        "2.加强科普志愿者队伍建设",
        "（1）组建专家团",
    )
    assert " › ".join(deep) in sections


def test_a_new_heading_closes_deeper_ones() -> None:
    sections = by_section(NOTICE)
    assert "一、活动内容 › （二）提高政治站位" in sections
    assert "二、有关要求" in sections


def test_inline_heading_keeps_its_paragraph_whole() -> None:
    sections = by_section(NOTICE)
    assert sections["一、活动内容 › （二）提高政治站位"] == [
        "（二）提高政治站位。各级科协要把科普日作为重要任务。"
    ]


def test_outline_passage_lists_sub_headings() -> None:
    outlines = [p for p in chunk_text(NOTICE) if p.kind == PassageKind.OUTLINE]
    first = next(p for p in outlines if p.section == ("一、活动内容",))
    assert first.text.splitlines() == [
        "一、活动内容",
        "（一）大力开展科学技术普及工作",
        "（二）提高政治站位",
    ]


def test_wrapped_title_is_rejoined() -> None:
    lines = logical_lines(NOTICE)
    assert lines[0].text == "关于开展2024年全国科普日活动的通知"
    assert lines[1].kind == LineKind.ADDRESSEE


def test_page_broken_paragraph_is_rejoined() -> None:
    text = "（四）开放科普资源。整合科普资源，建立区域合作机\n\n制，逐步形成资源互通共享的格局。\n"
    assert [ln.text for ln in logical_lines(text)] == [
        "（四）开放科普资源。整合科普资源，建立区域合作机制，逐步形成资源互通共享的格局。"
    ]


def test_signature_and_date_are_front_matter_not_the_last_section() -> None:
    meta = [p for p in chunk_text(NOTICE) if p.kind == PassageKind.META]
    assert meta[-1].section == ()
    assert "2024年8月1日" in meta[-1].text


def test_markdown_headings_and_chapter_articles() -> None:
    text = (
        "# 章程\n\n## 第一章 总则\n\n第一条 本会名称为某某学会。本会是学术性团体。\n\n"
        "第二条 本会宗旨是服务科技工作者。\n"
    )
    sections = by_section(text)
    assert "第一章 总则 › 第一条" in sections
    assert sections["第一章 总则 › 第二条"] == ["第二条 本会宗旨是服务科技工作者。"]


def test_long_paragraphs_split_at_sentence_ends() -> None:
    sentence = "各级科协要认真组织开展科普活动，扩大覆盖面，提升影响力。"
    text = "一、要求\n" + sentence * 30 + "\n"
    passages = [p for p in chunk_text(text) if p.kind == PassageKind.BODY]
    assert len(passages) > 1
    for passage in passages:
        assert len(passage.text) <= MAX_CHARS
        assert passage.text.endswith("。")


def test_sentences_keep_closing_quotes() -> None:
    assert sentences("坚持“请进来、走出去”。鼓励交流！要求是什么？") == [
        "坚持“请进来、走出去”。",
        "鼓励交流！",
        "要求是什么？",
    ]


def test_tiny_sibling_sections_join_with_their_headings() -> None:
    text = (CORPUS / "000_fe3cdc91cff56ffb.txt").read_text(encoding="utf-8")
    joined = next(p for p in chunk_text(text) if "2020年到2022年" in p.text)
    assert joined.section == ("一、总体要求",)
    assert joined.text.startswith("（二）活动主题")
    assert "（三）活动时间\n2020年到2022年。" in joined.text


def test_bundled_corpus_heading_path_example() -> None:
    text = (CORPUS / "000_fe3cdc91cff56ffb.txt").read_text(encoding="utf-8")
    labels = {p.section_label for p in chunk_text(text)}
    assert "二、活动内容 › （一）大力开展科学技术普及工作 › 1.常态化开展科普传播活动" in labels
