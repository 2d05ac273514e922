"""/mylogs with a keyword or a range of days: a liaison's own records, an admin's subtree."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import func, select

from bot.services import activity_search as search
from bot.services import when
from bot.services.activities import ActivityError, unit_of
from bot.services.activity_search import Query
from offline.updates import TgUser
from storage.activity_models import Activity, ActivitySearch
from storage.db import transaction
from storage.models import Role
from tests.conftest import START
from tests.harness import running_bot, sent_texts, toasts
from tests.test_activities import LI, ZHAO, make_member, tree  # noqa: F401 - fixtures

TODAY = date(2026, 3, 16)  # a Monday: 上周 is 03-09 … 03-15
MID_MARCH = date(2026, 3, 15)
BAOTOU_ADMIN = TgUser(id=30010, first_name="包头管理员")
HOHHOT_ADMIN = TgUser(id=30011, first_name="呼市管理员")
ENGLISH = TgUser(id=30012, first_name="Li", language_code="en")


def record(who: TgUser, org, day: date, kind: str, title: str, **extra) -> Activity:
    return Activity(type=kind, title=title, day=day, org_id=org.id, unit=unit_of(kind),
                    created_by=who.id, created_at=START, **extra)  # fmt: skip


@pytest.fixture
async def records(sessions, clock, tree):  # noqa: F811
    """李's records in 青山区 and 包钢 (包头's subtree), 赵's one, and 呼和浩特's one."""
    await make_member(sessions, clock, LI, tree["青山区科协"])
    await make_member(sessions, clock, ZHAO, tree["包钢集团科协"])
    await make_member(sessions, clock, BAOTOU_ADMIN, tree["包头市科协"], Role.ADMIN)
    await make_member(sessions, clock, HOHHOT_ADMIN, tree["呼和浩特市科协"], Role.ADMIN)
    qingshan, baogang = tree["青山区科协"], tree["包钢集团科协"]
    rows = [
        record(LI, qingshan, date(2026, 3, 10), "science_day", "主题宣传", place="青山区科技馆"),
        record(LI, qingshan, date(2026, 3, 12), "lecture", "节能讲座", summary="讲解了节能知识"),
        record(LI, baogang, date(2026, 2, 20), "training", "AI Workshop"),
        record(LI, qingshan, date(2026, 1, 15), "other", "100%达标_检查", type_other="检查"),
        record(LI, qingshan, date(2025, 12, 20), "exhibition", "年末展览"),
        record(LI, qingshan, date(2026, 3, 11), "lecture", "科普日筹备", deleted_at=START),
        record(ZHAO, baogang, date(2026, 3, 13), "science_day", "科普日进车间"),
        record(HOHHOT_ADMIN, tree["赛罕区科协"], date(2026, 3, 14), "science_day", "科普日"),
    ]
    async with transaction(sessions) as session:
        session.add_all(rows)
    return tree


def titles(bot, user) -> list[str]:
    """The records listed on the newest keyboard (their titles, without the day)."""
    return [b.split(" ", 1)[1] for b in bot.button_texts(user.id) if b[:2].isdigit()]


async def searches_kept(sessions) -> int:
    async with transaction(sessions) as session:
        return (await session.exec(select(func.count()).select_from(ActivitySearch))).one()


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("科普日", ["主题宣传"]),  # the type's name 全国科普日; not the deleted 科普日筹备
        ("科技馆", ["主题宣传"]),  # place
        ("节能知识", ["节能讲座"]),  # summary
        ("讲座", ["节能讲座"]),  # title, and the name 科普讲座/报告
        ("workshop", ["AI Workshop"]),  # Latin letters in any case
        ("包钢", ["AI Workshop"]),  # the org's name
        ("%", ["100%达标_检查"]),  # LIKE's wildcards are plain characters
        ("_", ["100%达标_检查"]),
        ("3月", ["节能讲座", "主题宣传"]),
        ("上周", ["节能讲座", "主题宣传"]),
        ("2026-03-01 至 2026-03-11", ["主题宣传"]),
        ("2025年", ["年末展览"]),
        ("十二月", ["年末展览"]),  # no year: the last December
        ("3月12日", ["节能讲座"]),
        ("本周", []),
    ],
)
async def test_a_liaison_searches_their_own_records(settings, clock, records, typed, found):
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(LI, f"/mylogs {typed}")
        listed = titles(bot, LI) if found else []
    text = sent_texts(calls)[0]
    assert listed == found
    if found:
        assert f"共 {len(found)} 条，第 1/1 页" in text
    else:
        assert "没有找到记录（2026-03-16）" in text  # 本周 on a Monday is one day


async def test_results_page_open_and_come_back_to_the_search(settings, clock, sessions, records):
    async with transaction(sessions) as session:
        qingshan = records["青山区科协"]
        days = [date(2026, 3, 1) + timedelta(days=n) for n in range(6)]
        session.add_all(
            record(LI, qingshan, day, "training", f"科普日培训{n}") for n, day in enumerate(days)
        )
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(LI, "/mylogs 科普日")
        assert "<b>我的活动记录</b>（含“科普日”）共 7 条，第 1/2 页" in sent_texts(calls)[0]
        calls = await bot.press(LI, "下一页")
        assert "共 7 条，第 2/2 页" in sent_texts(calls)[0]
        assert titles(bot, LI) == ["科普日培训1", "科普日培训0"]
        await bot.press(LI, "科普日培训0")
        calls = await bot.press(LI, "返回列表")
        assert "（含“科普日”）共 7 条，第 1/2 页" in sent_texts(calls)[0]
        calls = await bot.press(LI, "全部记录")
        assert "<b>我的活动记录</b>（第 1/3 页）" in sent_texts(calls)[0]


async def test_an_admin_searches_the_subtree_the_same_way(settings, clock, records):
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(BAOTOU_ADMIN, "/mylogs 科普日")
        assert "没有找到记录（含“科普日”）" in sent_texts(calls)[0]  # none of their own
        calls = await bot.press(BAOTOU_ADMIN, "本组织及下级的记录")
        head = sent_texts(calls)[0]
        assert "<b>本组织及下级的活动记录</b>（含“科普日”）共 2 条" in head
        assert titles(bot, BAOTOU_ADMIN) == ["科普日进车间", "主题宣传"]
        await bot.press(BAOTOU_ADMIN, "科普日进车间")
        assert "记录人" in bot.last_text(BAOTOU_ADMIN.id)
        calls = await bot.press(BAOTOU_ADMIN, "返回列表")
        assert "本组织及下级的活动记录</b>（含“科普日”）" in sent_texts(calls)[0]
        calls = await bot.press(BAOTOU_ADMIN, "只看我的记录")
        assert "没有找到记录（含“科普日”）" in sent_texts(calls)[0]
        await bot.press(BAOTOU_ADMIN, "本组织及下级的记录")
        calls = await bot.press(BAOTOU_ADMIN, "全部记录")
        assert "<b>本组织及下级的活动记录</b>（第 1/2 页）" in sent_texts(calls)[0]
        await bot.text(BAOTOU_ADMIN, "/mylogs 上周")
        await bot.press(BAOTOU_ADMIN, "本组织及下级的记录")
        assert titles(bot, BAOTOU_ADMIN) == ["科普日进车间", "节能讲座", "主题宣传"]
        await bot.text(HOHHOT_ADMIN, "/mylogs 包钢")
        calls = await bot.press(HOHHOT_ADMIN, "本组织及下级的记录")
        assert "没有找到记录（含“包钢”）" in sent_texts(calls)[0]  # a sibling city's org


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("2026-03-31 至 2026-03-01", "结束日期 2026-03-01 早于开始日期 2026-03-31"),
        ("2026-02-30 至 2026-03-31", "2月没有30日"),  # what does not exist, named
        ("2026-02-30", "2月没有30日"),
        ("0000年", "年份 0 不对"),
        ("13月", "没有13月"),
        ("科" * 300, "查找的内容太长：最多 50 字，你发了 300 字"),
        ("2026-04-01 至 2026-04-30", "开始日期 2026-04-01 还没到"),
    ],
)
async def test_bad_input_is_said_and_changes_nothing(
    settings, clock, sessions, records, typed, says
):
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(LI, f"/mylogs {typed}")
    [text] = sent_texts(calls)
    assert says in text
    assert not any(c.params.get("reply_markup") for c in calls if c.method == "sendMessage")
    assert await searches_kept(sessions) == 0


def _back_data(message: dict) -> str:
    return next(b["callback_data"] for row in message["reply_markup"]["inline_keyboard"]
                for b in row if b["callback_data"].startswith("logs:mine:0:"))  # fmt: skip


async def test_a_gone_or_someone_elses_search_is_said(settings, clock, sessions, records):
    gone = ["这次查找已过期，请重新发送 /mylogs 加关键词或日期。"]
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, "/mylogs 科普日")
        await bot.press(LI, "主题宣传")
        record = bot.keyboard_message(LI.id)  # its "back" leads to the search
        clock.advance(timedelta(days=31))
        await bot.text(LI, "/mylogs 讲座")  # drops 李's searches of 30 days ago
        calls = await bot.feed(bot.factory.callback(LI, _back_data(record), record))
        assert toasts(calls) == gone
        await bot.press(LI, "节能讲座")
        record = bot.keyboard_message(LI.id)
        update = bot.factory.callback(LI, _back_data(record), record)
        update["callback_query"]["from"] = ZHAO.to_dict()  # 赵 presses on 李's search
        calls = await bot.feed(update)
        assert toasts(calls) == gone
        calls = await bot.feed(bot.factory.callback(LI, _back_data(record), record))
        assert "（含“讲座”）共 1 条" in sent_texts(calls)[0]  # still 李's own
    assert await searches_kept(sessions) == 1


async def test_english_search_words(settings, clock, sessions, records):
    await make_member(sessions, clock, ENGLISH, records["青山区科协"])
    async with transaction(sessions) as session:
        session.add(record(ENGLISH, records["青山区科协"], date(2026, 3, 9), "lecture", "Talk"))
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(ENGLISH, "/mylogs last week")
        assert "<b>My activities</b> (2026-03-09 to 2026-03-15): 1 found" in sent_texts(calls)[0]
        calls = await bot.text(ENGLISH, "/mylogs lecture")  # the type's English name
        assert "(containing “lecture”): 1 found" in sent_texts(calls)[0]
        calls = await bot.text(ENGLISH, "/mylogs 2026-03-20 to 2026-03-01")
        reversed_range = "The end, 2026-03-01, comes before the start, 2026-03-20"
        assert reversed_range in sent_texts(calls)[0]


@pytest.mark.parametrize(
    ("typed", "query"),
    [
        ("科普日", Query("科普日")),
        ("  青山区   科技馆 ", Query("青山区 科技馆")),
        ("十周年", Query("十周年")),  # date characters, but no date
        ("3月", Query(None, date(2026, 3, 1), date(2026, 3, 31))),
        ("三月", Query(None, date(2026, 3, 1), date(2026, 3, 31))),
        ("12月", Query(None, date(2025, 12, 1), date(2025, 12, 31))),
        ("2026-02", Query(None, date(2026, 2, 1), date(2026, 2, 28))),
        ("2026年2月", Query(None, date(2026, 2, 1), date(2026, 2, 28))),
        ("上周", Query(None, date(2026, 3, 9), date(2026, 3, 15))),
        ("本周", Query(None, date(2026, 3, 16), date(2026, 3, 16))),
        ("本月", Query(None, date(2026, 3, 1), date(2026, 3, 16))),
        ("上个月", Query(None, date(2026, 2, 1), date(2026, 2, 28))),
        ("今年", Query(None, date(2026, 1, 1), date(2026, 3, 16))),
        ("去年", Query(None, date(2025, 1, 1), date(2025, 12, 31))),
        ("2025", Query(None, date(2025, 1, 1), date(2025, 12, 31))),
        ("昨天", Query(None, date(2026, 3, 15), date(2026, 3, 15))),
        ("上周五", Query(None, date(2026, 3, 13), date(2026, 3, 13))),
        ("1月1日-3月31日", Query(None, date(2026, 1, 1), date(2026, 3, 31))),
        ("２０２６－０３－０１至２０２６－０３－１５", Query(None, date(2026, 3, 1), MID_MARCH)),
        ("last month", Query(None, date(2026, 2, 1), date(2026, 2, 28))),
    ],
)  # fmt: skip
def test_reading_a_search(typed, query):
    assert search.read_query(typed, TODAY) == query


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("2026-03-31 至 2026-03-01", "when.reversed"),
        ("3月5日到", "when.unreadable.range"),
        ("2026-02-30", "when.no_day"),  # 2月没有30日
        ("13月", "when.no_month"),
        ("0000年", "when.no_year"),  # was a ValueError (the error handler's apology)
        ("0000", "when.no_year"),
        ("2026-04-01", "when.future_day"),
        ("2026-04", "when.future_start"),
    ],
)
def test_searches_refused_with_their_reason(typed, key):
    with pytest.raises(when.WhenError) as refusal:
        search.read_query(typed, TODAY)
    assert refusal.value.key == key


def test_a_keyword_over_fifty_characters_is_refused():
    with pytest.raises(ActivityError) as refusal:
        search.read_query("x" * 51, TODAY)
    assert refusal.value.key == "activity.search_too_long"


def test_type_names_in_both_languages_find_their_types():
    assert search.matching_types("科普日") == ("science_day",)
    assert search.matching_types("TALK") == ("lecture",)
    assert "lecture" in search.matching_types("讲座") and "push" in search.matching_types("推送")
