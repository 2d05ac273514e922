"""Activity logging through the real Application: the form, quick log, /pushed, /mylogs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from bot.common.i18n import t
from bot.flows.menu import commands_for
from bot.services import activities as svc
from bot.services import orgs
from offline.updates import TgUser
from storage import conversations_repo, users_repo
from storage.activity_models import Activity
from storage.db import transaction
from storage.models import Role
from tests.harness import running_bot, sent_texts, toasts

LI = TgUser(id=30001, first_name="小李")
ZHAO = TgUser(id=30002, first_name="小赵")
GUEST = TgUser(id=30009, first_name="路人")
QUICK = "昨天在青山区社区开展科普讲座，约120人参加"


@pytest.fixture
async def tree(sessions, clock):
    async with transaction(sessions) as session:
        return {org.name: org for org in await orgs.create_demo_tree(session, now=clock.now())}


async def make_member(sessions, clock, user, org, role=Role.LIAISON):
    async with transaction(sessions) as session:
        row = await users_repo.upsert_user(
            session=session, telegram_id=user.id, username=None, now=clock.now()
        )
        row.real_name, row.org_id, row.role, row.registered_at = "李明", org.id, role, clock.now()
        return row


@pytest.fixture
async def li(sessions, clock, tree):
    return await make_member(sessions, clock, LI, tree["青山区科协"])


async def stored(sessions) -> list[Activity]:
    async with transaction(sessions) as session:
        query = select(Activity).where(Activity.deleted_at == None).order_by(Activity.id)  # noqa: E711
        return list((await session.exec(query)).all())


async def form_step(sessions, user) -> str | None:
    async with transaction(sessions) as session:
        row = await conversations_repo.get_state(session=session, chat_id=user.id, user_id=user.id)
        return row.step if row else None


async def to_participants(bot, user=LI):
    """/log up to the participants step: lecture, title, yesterday, place, own org."""
    await bot.text(user, "/log")
    await bot.press(user, "科普讲座")
    await bot.text(user, "科技助力乡村振兴")
    await bot.press(user, "昨天")
    await bot.text(user, "青山区社区")
    await bot.press(user, "青山区科协")


async def to_summary(bot, user=LI):
    await to_participants(bot, user)
    await bot.text(user, "约120人")
    await bot.press(user, "社区居民")
    await bot.press(user, "企业职工")
    await bot.press(user, "完成")
    await bot.text(user, "讲解了节能知识。")
    return await bot.press(user, "跳过")


async def test_whole_form_is_stored_only_on_confirm(settings, clock, sessions, li, tree):
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(LI, "/log")
        assert "活动类型" in sent_texts(calls)[0]
        assert "创新型班组/岗位创建" in bot.button_texts(LI.id)
        calls = await to_summary(bot)
        summary = sent_texts(calls)[0]
        for part in ("科普讲座/报告", "2026-03-15", "青山区社区", "120 人", "社区居民、企业职工"):
            assert part in summary
        assert "计 1 场" in summary
        assert "修改参加人数" in bot.button_texts(LI.id)
        assert await stored(sessions) == []
        calls = await bot.press(LI, "确认提交")
        assert "已记录" in sent_texts(calls)[0]
    [activity] = await stored(sessions)
    assert (activity.type, activity.title, activity.day.isoformat()) == (
        "lecture",
        "科技助力乡村振兴",
        "2026-03-15",
    )
    assert (activity.place, activity.org_id, activity.participants) == (
        "青山区社区",
        tree["青山区科协"].id,
        120,
    )
    assert activity.audience == ["residents", "workers"]
    assert (activity.summary, activity.photos, activity.unit) == (
        "讲解了节能知识。",
        [],
        "session",
    )
    assert (activity.created_by, activity.created_at) == (LI.id, clock.now())


async def test_other_type_typed_date_numerals_and_org_search(settings, clock, sessions, li, tree):
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, "/log")
        await bot.press(LI, "其他")
        calls = await bot.text(LI, "科技馆开放日")
        assert "活动名称" in sent_texts(calls)[0]
        await bot.text(LI, "开放日")
        await bot.text(LI, "上周五")
        await bot.text(LI, "科技馆")
        calls = await bot.text(LI, "赛罕")  # another city's county: not in the user's subtree
        assert "没有名称含“赛罕”" in sent_texts(calls)[0]
        await bot.text(LI, "包钢")
        await bot.press(LI, "包钢集团科协")
        await bot.text(LI, "一百二十")
        await bot.press(LI, "青少年")
        await bot.press(LI, "完成")
        await bot.press(LI, "跳过")
        calls = await bot.press(LI, "跳过")
        assert "计 1 项" in sent_texts(calls)[0]
        await bot.press(LI, "确认提交")
    [activity] = await stored(sessions)
    assert (activity.type, activity.type_other, activity.day.isoformat()) == (
        "other",
        "科技馆开放日",
        "2026-03-13",
    )
    assert (activity.org_id, activity.participants) == (tree["包钢集团科协"].id, 120)


async def test_quick_log_asks_only_what_is_missing(settings, clock, sessions, li, tree):
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(LI, QUICK)
        text = sent_texts(calls)[0]
        assert "我理解的是" in text and "青山区社区" in text and "120 人" in text
        assert "2026-03-15" in text and "活动名称" in text
        calls = await bot.text(LI, "社区科普讲座")
        assert "活动对象" in sent_texts(calls)[0]  # date, place, org, participants known
        await bot.press(LI, "社区居民")
        await bot.press(LI, "完成")
        await bot.press(LI, "跳过")
        calls = await bot.press(LI, "跳过")
        assert "请核对" in sent_texts(calls)[0]
        await bot.press(LI, "确认提交")
        calls = await bot.text(LI, "/log 上周五在包钢集团举办科技培训，共80名职工参加")
        assert "科技培训" in sent_texts(calls)[0] and "包钢集团" in sent_texts(calls)[0]
    [activity, *_] = await stored(sessions)
    assert (activity.type, activity.place, activity.participants, activity.org_id) == (
        "lecture",
        "青山区社区",
        120,
        tree["青山区科协"].id,
    )


@pytest.mark.parametrize("text", ["科普讲座怎么统计？", "你好", "今天天气不错"])
async def test_quick_log_leaves_other_texts_alone(settings, clock, sessions, li, text):
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, text)
    assert await form_step(sessions, LI) is None


async def test_guest_cannot_log(settings, clock, sessions, tree):
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(GUEST, "/log")
        assert "邀请链接注册" in sent_texts(calls)[0]
        await bot.text(GUEST, QUICK)
    assert await form_step(sessions, GUEST) is None


async def test_back_skip_edit_and_cancel(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, "/log")
        await bot.press(LI, "科技培训")
        calls = await bot.press(LI, "上一步")
        assert "活动类型" in sent_texts(calls)[0]
        await bot.press(LI, "科普讲座")
        assert "跳过" not in bot.button_texts(LI.id)  # the title is not optional
        await to_summary_from_title(bot)
        await bot.press(LI, "修改参加人数")
        calls = await bot.text(LI, "300")
        assert "请核对" in sent_texts(calls)[0] and "300 人" in sent_texts(calls)[0]
        calls = await bot.press(LI, "取消")
        assert "确定取消吗" in sent_texts(calls)[0]
        calls = await bot.press(LI, "继续填写")
        assert "请核对" in sent_texts(calls)[0]
        await bot.press(LI, "取消")
        calls = await bot.press(LI, "确定取消")
        assert "已取消" in sent_texts(calls)[0]
    assert await stored(sessions) == []
    assert await form_step(sessions, LI) is None


async def to_summary_from_title(bot):
    await bot.text(LI, "讲座")
    await bot.press(LI, "今天")
    await bot.text(LI, "礼堂")
    await bot.press(LI, "青山区科协")
    await bot.text(LI, "50")
    await bot.press(LI, "青少年")
    await bot.press(LI, "完成")
    await bot.press(LI, "跳过")
    await bot.press(LI, "跳过")


async def test_old_button_says_the_form_moved_on(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, "/log")
        first = bot.keyboard_message(LI.id)
        await bot.press(LI, "科普讲座")
        await bot.text(LI, "讲座")
        calls = await bot.press(LI, "科技培训", message=first)
        assert toasts(calls) == [t("zh_CN", "form.stale")]


async def at_title(bot):
    await bot.text(LI, "/log")
    await bot.press(LI, "科普讲座")


async def _at_day(bot):
    await at_title(bot)
    await bot.text(LI, "讲座")


async def _at_place(bot):
    await _at_day(bot)
    await bot.press(LI, "今天")


BAD_INPUTS = [
    (_at_day, "2026-03-20", "还没到（今天是 2026-03-16）", "活动日期"),
    (_at_day, "1999-12-31", "不能早于 2000-01-01", "活动日期"),
    (_at_day, "下下个月", "没看懂这个日期", "活动日期"),
    (to_participants, "-5", "不能是负数", "参加人数"),
    (to_participants, "0", "不能为 0", "参加人数"),
    (to_participants, "1000001", "超过 1000000", "参加人数"),
    (to_participants, "很多人", "没有看懂人数", "参加人数"),
    (at_title, "长" * 5000, "最多 200 字，你发了 5000 字", "活动名称"),
    (_at_place, "地" * 201, "最多 200 字，你发了 201 字", "活动地点"),
]


@pytest.mark.parametrize(("walk", "text", "hint", "prompt"), BAD_INPUTS)
async def test_bad_text_gets_a_hint_and_the_step_repeats(
    settings, clock, sessions, li, walk, text, hint, prompt
):
    async with running_bot(settings, clock) as bot:
        await walk(bot)
        step = await form_step(sessions, LI)
        calls = await bot.text(LI, text)
        reply = sent_texts(calls)[0]
        assert hint in reply and prompt in reply
        assert await form_step(sessions, LI) == step
    assert await stored(sessions) == []


async def test_sticker_and_photo_where_text_is_expected(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await to_participants(bot)
        calls = await bot.feed(bot.factory.sticker(LI))
        assert "贴纸不能当作人数" in sent_texts(calls)[0]
        await bot.press(LI, "上一步")
        await bot.press(LI, "上一步")
        calls = await bot.feed(bot.factory.photo(LI, b"photo-bytes"))
        assert "照片请在最后" in sent_texts(calls)[0] and "活动地点" in sent_texts(calls)[0]
    assert await stored(sessions) == []


async def test_nine_photos_then_a_tenth_is_refused(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await to_participants(bot)
        await bot.text(LI, "120")
        await bot.press(LI, "青少年")
        await bot.press(LI, "完成")
        calls = await bot.press(LI, "跳过")
        assert "活动照片" in sent_texts(calls)[0]
        calls = await bot.text(LI, "照片马上发")
        assert "请发送照片" in sent_texts(calls)[0]
        for number in range(9):
            calls = await bot.feed(bot.factory.photo(LI, f"photo-{number}".encode()))
        assert "已收到 9/9" in sent_texts(calls)[0]
        calls = await bot.feed(bot.factory.photo(LI, b"photo-10"))
        assert "最多 9 张照片" in sent_texts(calls)[0]
        calls = await bot.press(LI, "完成")
        assert "照片：9 张" in sent_texts(calls)[0]
        assert await stored(sessions) == []
        await bot.press(LI, "确认提交")
    [activity] = await stored(sessions)
    assert len(activity.photos) == 9 and len(set(activity.photos)) == 9


async def test_restart_in_the_middle_continues(settings, clock, sessions, li):
    async with running_bot(settings, clock) as first:
        await to_participants(first)
    async with running_bot(settings, clock, after=first) as second:
        calls = await second.text(LI, "八十")
        assert "活动对象" in sent_texts(calls)[0]
        await second.press(LI, "农牧民")
        await second.press(LI, "完成")
        await second.press(LI, "跳过")
        calls = await second.press(LI, "跳过")
        summary = sent_texts(calls)[0]
        assert "科技助力乡村振兴" in summary and "青山区社区" in summary and "80 人" in summary
        await second.press(LI, "确认提交")
    [activity] = await stored(sessions)
    assert (activity.title, activity.participants) == ("科技助力乡村振兴", 80)


async def test_pushed_adds_up_on_the_same_day(settings, clock, sessions, tree):
    await make_member(sessions, clock, ZHAO, tree["青山区科协"], Role.INFO_OFFICER)
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(ZHAO, "/pushed 5")
        assert "今日转载推送科普信息 <b>5</b> 篇次" in sent_texts(calls)[0]
        calls = await bot.text(ZHAO, "/pushed")
        calls = await bot.press(ZHAO, "3")
        assert "今天已记过 5 篇次" in sent_texts(calls)[0] and "<b>8</b>" in sent_texts(calls)[0]
        calls = await bot.text(ZHAO, "/pushed 0")
        assert "1–10000" in sent_texts(calls)[0]
        clock.advance(timedelta(days=1))
        await bot.text(ZHAO, "/pushed 2")
    counts = [(a.day.isoformat(), a.amount, a.unit) for a in await stored(sessions)]
    assert counts == [("2026-03-16", 8, "piece"), ("2026-03-17", 2, "piece")]


def test_menu_offers_the_commands_by_role():
    assert {"log", "mylogs", "pushed"} <= {c.command for c in commands_for("info_officer")}
    assert "pushed" not in {c.command for c in commands_for("liaison")}
    assert "log" not in {c.command for c in commands_for("guest")}


async def test_same_as_last_time_prefills_place_org_audience(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await to_summary(bot)
        await bot.press(LI, "确认提交")
        calls = await bot.press(LI, "同上次")
        text = sent_texts(calls)[0]
        assert "已沿用上次" in text and "青山区社区" in text and "社区居民" in text
        await bot.press(LI, "展览展示")
        await bot.text(LI, "节能展")
        calls = await bot.press(LI, "今天")
        assert "参加人数" in sent_texts(calls)[0]  # place and org were taken over
        calls = await bot.text(LI, "60")
        assert "活动简介" in sent_texts(calls)[0]  # so was the audience
        await bot.press(LI, "跳过")
        await bot.press(LI, "跳过")
        await bot.press(LI, "确认提交")
        calls = await bot.text(LI, "/log")
        assert "同上次" in " ".join(bot.button_texts(LI.id))
    second = (await stored(sessions))[1]
    assert (second.type, second.place, second.audience, second.unit) == (
        "exhibition",
        "青山区社区",
        ["residents", "workers"],
        "session",
    )


async def log_many(sessions, clock, user, org, count):
    async with transaction(sessions) as session:
        actor = await users_repo.get_user(session=session, telegram_id=user.id)
        for number in range(count):
            fields = svc.ActivityFields(
                type="training",
                title=f"培训{number + 1:02d}",
                day=clock.now().date() - timedelta(days=count - number),
                org_id=org.id,
                participants=10,
                audience=["workers"],
            )
            await svc.create_activity(session, actor=actor, fields=fields, now=clock.now())


async def test_mylogs_pages_open_edit_and_delete(settings, clock, sessions, li, tree):
    await log_many(sessions, clock, LI, tree["青山区科协"], 7)
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(LI, "/mylogs")
        assert "第 1/2 页" in sent_texts(calls)[0]
        buttons = bot.button_texts(LI.id)
        assert next(b for b in buttons if "培训" in b).endswith("培训07")
        calls = await bot.press(LI, "下一页")
        assert "第 2/2 页" in sent_texts(calls)[0]
        assert [b for b in bot.button_texts(LI.id) if "培训" in b] == [
            "03-10 培训02",
            "03-09 培训01",
        ]
        calls = await bot.press(LI, "培训02")
        assert "计 1 期" in sent_texts(calls)[0]
        calls = await bot.press(LI, "修改")
        assert "正在修改已保存的记录" in sent_texts(calls)[0]
        await bot.press(LI, "修改名称")
        await bot.text(LI, "培训二期")
        # Replies to one chat go a second apart, so the frozen clock moves as the test goes on.
        confirmed_at = clock.now()
        calls = await bot.press(LI, "确认提交")
        assert "已更新" in sent_texts(calls)[0]
        await bot.text(LI, "/mylogs")
        await bot.press(LI, "下一页")
        await bot.press(LI, "培训01")
        await bot.press(LI, "删除")
        calls = await bot.press(LI, "确定删除")
        assert "已删除" in sent_texts(calls)[0]
    titles = [a.title for a in await stored(sessions)]
    assert "培训01" not in titles and "培训二期" in titles and len(titles) == 6
    edited = next(a for a in await stored(sessions) if a.title == "培训二期")
    assert (edited.updated_by, edited.updated_at) == (LI.id, confirmed_at)


async def test_edit_window_closes_after_30_days(settings, clock, sessions, li, tree):
    await log_many(sessions, clock, LI, tree["青山区科协"], 1)
    clock.advance(timedelta(days=31))
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, "/mylogs")
        calls = await bot.press(LI, "培训01")
        assert "不能再修改或删除" in sent_texts(calls)[0]
        assert "删除" not in bot.button_texts(LI.id)


async def test_admins_change_their_subtree_only(sessions, clock, li, tree):
    await log_many(sessions, clock, LI, tree["包钢集团科协"], 1)
    baotou = await make_member(sessions, clock, ZHAO, tree["包头市科协"], Role.ADMIN)
    hohhot = await make_member(
        sessions, clock, TgUser(id=30003, first_name="呼市"), tree["呼和浩特市科协"], Role.ADMIN
    )
    [activity] = await stored(sessions)
    later = clock.now() + timedelta(days=400)
    async with transaction(sessions) as session:
        assert await svc.modifiable(session, activity.id, baotou, later)
        with pytest.raises(svc.ActivityError):
            await svc.modifiable(session, activity.id, hohhot, clock.now())
        assert await svc.modifiable(session, activity.id, None, later, superadmin=True)


@pytest.mark.parametrize(
    ("type_key", "unit"),
    [("lecture", "session"), ("exhibition", "session"), ("training", "term"), ("advice", "item")],
)
def test_each_type_has_its_statistical_unit(type_key, unit):
    assert svc.unit_of(type_key) == unit


def test_every_type_audience_and_unit_is_translated():
    from bot.common.i18n import load_catalog

    for locale in ("zh_CN", "en"):
        catalog = load_catalog(locale)
        keys = [f"activity.type.{k}" for k in svc.BY_KEY]
        keys += [f"activity.audience.{a}" for a in svc.AUDIENCES]
        keys += [f"activity.unit.{u}" for u in svc.UNITS]
        assert [k for k in keys if k not in catalog] == []


TODAY = date(2026, 3, 16)  # a Monday


@pytest.mark.parametrize(
    ("typed", "count"),
    [("120", 120), ("约120人", 120), ("一百二十", 120), ("１２０人", 120), ("1,200余人", 1200)],
)
def test_head_counts(typed, count):
    assert svc.parse_participants(typed) == count


async def test_english_user_gets_english_form(settings, clock, sessions, tree):
    wang = TgUser(id=30004, first_name="Wang", language_code="en")
    await make_member(sessions, clock, wang, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(wang, "/log")
        assert "Type of activity" in sent_texts(calls)[0]
        calls = await bot.text(wang, "lecture")
        assert "Title" in sent_texts(calls)[0]
        await bot.text(wang, "Energy saving")
        calls = await bot.text(wang, "2026-03-20")
        assert "2026-03-20 is still ahead (today is 2026-03-16)" in sent_texts(calls)[0]


async def test_log_in_a_group_points_to_the_private_chat(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        group = bot.factory.group()
        calls = await bot.feed(bot.factory.command(LI, "log", None, group))
        assert "私聊" in sent_texts(calls)[0]
    assert await form_step(sessions, LI) is None


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_activity_messages_are_valid_telegram_html(locale):
    from bot.common.i18n import load_catalog, placeholders
    from offline.formatting import parse_html

    for key, text in load_catalog(locale).items():
        if key.startswith("activity."):
            parse_html(text.format(**{name: "x" for name in placeholders(text)}))


def test_cli_lists_and_counts(li, monkeypatch, database_url, tmp_path, capsys):
    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    assert main(["activity", "pushed", "--user", str(LI.id), "4"]) == 0
    assert main(["activity", "pushed", "--user", str(LI.id), "三"]) == 0
    assert capsys.readouterr().out.split()[-1] == "7"
    assert main(["activity", "list", "--user", str(LI.id)]) == 0
    assert "转载推送科普信息\t\t\t7 篇次" in capsys.readouterr().out
    assert main(["activity", "units"]) == 0
    assert "lecture\t科普讲座/报告\tsession" in capsys.readouterr().out


async def test_an_update_delivered_twice_is_handled_once(settings, clock, sessions, li):
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, "/log")
        update = bot.factory.callback(
            LI,
            bot.keyboard_message(LI.id)["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
            bot.keyboard_message(LI.id),
        )
        assert sent_texts(await bot.feed(update))
        assert await bot.feed(update) == []
        assert await form_step(sessions, LI) == "title"
