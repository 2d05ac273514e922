"""How a report task is linked to an indexed document (bot/services/task_links.py)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.services.passage_dates import issued_on, passed_date
from bot.services.task_links import DocumentRef, leads_to_report, names_document, title_parts
from storage.task_models import ReportTask

NOTICE = DocumentRef(
    "000_fe3cdc91cff56ffb.txt",
    "关于报送《关于在全区企业科协组织开展“提升科技服务能力，推动企业创新驱动发展”主题活动方案》"
    "落实情况报告的通知",
)
OPINION = DocumentRef("001_2b194d99716c1ff7.txt", "关于加强企业科协组织建设的意见",
                      "宁科协发[2017]212号")
UPLOADED = DocumentRef("通知.docx", "关于开展2026年科技志愿服务月活动的通知",
                       "内科协发〔2026〕58号")


def task(title: str, *files: str, description: str = "") -> ReportTask:
    attachments = [{"file_id": f"f{n}", "kind": "document", "name": name}
                   for n, name in enumerate(files)]
    return ReportTask(title=title, description=description, attachments=attachments)


@pytest.mark.parametrize(
    ("item", "doc", "linked"),
    [
        # The attachment is the indexed file: the same name, or the same but for the suffix.
        (task("一季度", "000_fe3cdc91cff56ffb.txt"), NOTICE, True),
        (task("一季度", "000_FE3CDC91CFF56FFB.PDF"), NOTICE, True),
        (task("一季度", "001_2b194d99716c1ff7.txt"), NOTICE, False),
        # A name many files carry links nothing, even when equal.
        (task("一季度", "通知.docx"), UPLOADED, False),
        (task("一季度", "附件1.pdf"), DocumentRef("附件1.pdf", "某某方案"), False),
        # The 文号 in any bracket spelling, with or without 第 and spaces; the description too.
        (task("宁科协发〔2017〕第212号落实情况"), OPINION, True),
        (task("落实情况", description="根据宁科协发（2017） 212号文件要求报送。"), OPINION, True),
        (task("宁科协发〔2017〕213号落实情况"), OPINION, False),
        (task("季度报送", "内科协发﹝2026﹞58号.pdf"), UPLOADED, True),
        # The title, without 关于 … 的通知, or a part quoted in it.
        (task("《关于加强企业科协组织建设的意见》落实情况"), OPINION, True),
        (task("提升科技服务能力、推动企业创新驱动发展主题活动总结"), NOTICE, True),
        (task("一季度", "关于开展2026年科技志愿服务月活动的通知.pdf"), UPLOADED, True),
        (task("开展2026年科技志愿服务月活动情况报送"), UPLOADED, True),
        # A task title that is a long part of the document's title.
        (task("关于加强企业科协组织建设"), OPINION, True),
        # Words shared with many documents do not link.
        (task("落实情况报告"), NOTICE, False),
        (task("企业科协组织建设"), OPINION, False),
        (task("2026年一季度科普工作落实情况"), NOTICE, False),
    ],
)
def test_names_document(item: ReportTask, doc: DocumentRef, linked: bool) -> None:
    assert names_document(item, doc) is linked


def test_title_parts_are_the_title_its_core_and_its_quotes() -> None:
    assert title_parts(NOTICE.title) >= {
        "关于在全区企业科协组织开展提升科技服务能力推动企业创新驱动发展主题活动方案",
        "提升科技服务能力推动企业创新驱动发展",
    }
    assert title_parts("关于开展评比的通知") == {"关于开展评比的通知"}


@pytest.mark.parametrize(
    ("question", "passage", "leads"),
    [
        ("落实情况报告什么时候交？", "于12月9日前报送自治区科协。", True),
        ("报告最晚哪天交", "于12月9日前报送自治区科协。", True),
        ("总结要写哪些方面", "重点总结工作抓手、有效措施和实际成效。", True),
        ("截止日期是哪天", "2021年11月23日", True),
        ("主题活动的活动主题是什么", "于12月9日前报送自治区科协。", False),
        ("学术交流怎么开展", "搭建学术交流平台。", False),
        ("什么时候交", "搭建学术交流平台，活跃学术氛围。", False),
    ],
)
def test_leads_to_report(question: str, passage: str, leads: bool) -> None:
    assert leads_to_report(question, passage) is leads


TODAY = date(2026, 3, 16)


@pytest.mark.parametrize(
    ("passage", "issued", "said", "day"),
    [
        # A day without a year is the next one after the document's date.
        ("于12月9日前报送自治区科协。", "2021-11-23", "12月9日", "2021-12-09"),
        ("请于1月15日前报送总结。", "2021-11-23", "1月15日", "2022-01-15"),
        # The latest date the document sets; its history (2020年4月8日，…印发) is none.
        ("2020年4月8日，自治区科协印发《方案》。请于12月1日前报送，12月9日前汇总。", "2021-11-23",
         "12月9日", "2021-12-09"),
        ("请于2016年10月20日前将总结报送市科协。", "2016-09-05", "2016年10月20日", "2016-10-20"),
        # Still ahead, no date it sets, the signature's own date, an undated document.
        ("请于6月10日前报送活动总结。", "2026-03-01", None, None),
        ("2020年4月8日，自治区科协印发《方案》。", "2021-11-23", None, None),
        ("内蒙古自治区科学技术协会\n2021年11月23日", "2021-11-23", None, None),
        ("于12月9日前报送。", None, None, None),
    ],
)
def test_the_date_a_passage_sets_and_whether_it_has_passed(passage, issued, said, day):
    start = issued_on(issued)
    found = passed_date(passage, start, TODAY) if start is not None else None
    assert (found.said if found else None) == said
    assert (found.day.isoformat() if found and found.day else None) == day
