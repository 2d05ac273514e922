"""/stats: periods and ranges, SQL aggregates with strict subtree scoping, charts, the chat."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from matplotlib import font_manager, ft2font
from PIL import Image

from bot.flows import stats as flow
from bot.flows.base import FlowContext, Msg
from bot.flows.callback_data import StatsButton
from bot.services import charts, orgs
from bot.services import stats as svc
from bot.services.activities import unit_of
from bot.services.stats import Period, StatsError
from offline.updates import TgUser
from storage import conversations_repo, users_repo
from storage.activity_models import Activity
from storage.db import transaction
from storage.models import OrgLevel, Role
from tests.conftest import START, SUPERADMIN_ID
from tests.harness import running_bot, sent_texts

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 3, 16)  # the frozen clock's day in Asia/Shanghai
HOHHOT_ADMIN = TgUser(id=40001, first_name="呼市管理员")
LIAISON = TgUser(id=40002, first_name="小王")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def tree(sessions, clock):
    async with transaction(sessions) as session:
        return {org.name: org for org in await orgs.create_demo_tree(session, now=clock.now())}


async def member(sessions, clock, user, org, role):
    async with transaction(sessions) as session:
        row = await users_repo.upsert_user(
            session=session, telegram_id=user.id, username=None, now=clock.now()
        )
        row.real_name, row.org_id, row.role, row.registered_at = "王芳", org.id, role, clock.now()


def activity(org, day, kind="lecture", participants=50, amount=1, **extra) -> Activity:
    return Activity(
        type=kind, title=f"{kind} {day}", day=day, org_id=org.id, participants=participants,
        unit=unit_of(kind), amount=amount, created_by=LIAISON.id,
        created_at=START, **extra,
    )  # fmt: skip


@pytest.fixture
async def logged(sessions, clock, tree):
    """Two sibling subtrees: 呼和浩特 (3 orgs busy) and 包头 (its own, to be never seen)."""
    hohhot, saihan, yili = tree["呼和浩特市科协"], tree["赛罕区科协"], tree["伊利集团科协"]
    baotou, baogang = tree["包头市科协"], tree["包钢集团科协"]
    rows = [
        activity(saihan, date(2026, 1, 10), "lecture", 120),
        activity(saihan, date(2026, 2, 3), "training", 30),
        activity(yili, date(2026, 3, 2), "lecture", 80),
        activity(yili, date(2026, 3, 5), "exhibition", 200),
        activity(hohhot, date(2026, 3, 9), "push", None, amount=7),
        activity(yili, date(2026, 3, 3), "lecture", 999, deleted_at=START),  # deleted
        activity(saihan, date(2025, 12, 30), "lecture", 999),  # last year
        activity(baogang, date(2026, 2, 14), "volunteer", 5000),
        activity(baotou, date(2026, 3, 1), "lecture", 4000),
        activity(baotou, date(2026, 3, 1), "push", None, amount=40),
    ]
    async with transaction(sessions) as session:
        session.add_all(rows)
    await member(sessions, clock, HOHHOT_ADMIN, hohhot, Role.ADMIN)
    await member(sessions, clock, LIAISON, yili, Role.LIAISON)
    return tree


# --- periods and typed ranges ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "start"),
    [("month", date(2026, 3, 1)), ("quarter", date(2026, 1, 1)), ("year", date(2026, 1, 1))],
)
def test_periods_run_to_today(kind, start):
    assert svc.period_of(kind, TODAY) == Period(start, TODAY, kind)


def test_last_month_is_the_whole_calendar_month():
    assert svc.last_month(TODAY) == Period(date(2026, 2, 1), date(2026, 2, 28), "last_month")


# --- aggregates and scoping ------------------------------------------------------------------


async def test_figures_of_a_subtree_leave_out_its_sibling(sessions, clock, logged):
    quarter = svc.period_of("quarter", TODAY)
    async with transaction(sessions) as session:
        figures = await svc.compute(
            session, org=logged["呼和浩特市科协"], period=quarter, now=clock.now(), tz=TZ
        )
    assert (figures.activities, figures.participants, figures.pushes) == (4, 430, 7)
    assert [(t.type, t.count, t.amount, t.unit) for t in figures.by_type] == [
        ("lecture", 2, 2, "session"),
        ("training", 1, 1, "term"),
        ("exhibition", 1, 1, "session"),
    ]
    assert figures.by_month == {"2026-01": 1, "2026-02": 1, "2026-03": 2}
    top = [(o.name, o.count) for o in figures.top_orgs]
    assert top == [("赛罕区科协", 2), ("伊利集团科协", 2)]  # a tie goes to the older org
    # 呼和浩特 itself only pushed: active, but not among the orgs with activities.
    assert (figures.active_orgs, figures.orgs) == (3, 7)
    names = {o.name for o in figures.top_orgs} | {c for c in flow.charts(figures)[2].labels}
    assert not names & {"包头市科协", "包钢集团科协", "青山区科协"}


async def test_everything_for_a_superadmin_scope(sessions, clock, logged):
    quarter = svc.period_of("quarter", TODAY)
    async with transaction(sessions) as session:
        figures = await svc.compute(session, org=None, period=quarter, now=clock.now(), tz=TZ)
    assert (figures.activities, figures.pushes, figures.orgs) == (6, 47, 12)


async def test_an_org_outside_the_scope_is_refused(sessions, logged):
    async with transaction(sessions) as session:
        admin = await users_repo.get_user(session=session, telegram_id=HOHHOT_ADMIN.id)
        scope = await svc.people.admin_scope(session, admin, False)
        assert (await svc.org_in_scope(session, scope, logged["伊利集团科协"].id)).name
        with pytest.raises(StatsError, match=r"stats\.not_your_org"):
            await svc.org_in_scope(session, scope, logged["包钢集团科协"].id)


# --- charts ----------------------------------------------------------------------------------


def test_matplotlib_resolves_a_font_with_chinese_glyphs():
    name = charts.cjk_font()
    assert name is not None, "install fonts-noto-cjk (see README)"
    path = font_manager.findfont(
        font_manager.FontProperties(family=name), fallback_to_default=False
    )
    covered = ft2font.FT2Font(path).get_charmap()
    assert all(ord(ch) in covered for ch in "科普讲座按活动类型组织")


def test_a_chart_is_a_png_of_a_sensible_size():
    chart = charts.Chart(
        "barh", "活动最多的组织", ["伊利集团科协", "赛罕区科协"], [3, 2], "活动次数"
    )
    data = charts.render(chart)
    assert data.startswith(PNG) and 10_000 < len(data) < 500_000
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (960, 540)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR, after checking its signature, CRC and end."""
    assert data[:8] == PNG, "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    (crc,) = struct.unpack(">I", data[29:33])
    assert zlib.crc32(data[12:29]) == crc, "IHDR checksum"
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82", "no IEND at the end"
    with Image.open(io.BytesIO(data)) as image:
        image.verify()  # every chunk's CRC and the zlib stream
    return struct.unpack(">II", data[16:24])


def sensible(size: tuple[int, int]) -> bool:
    width, height = size
    return 640 <= width <= 2048 and 360 <= height <= 1536 and 1.2 <= width / height <= 2.2


@pytest.fixture
async def many_orgs(sessions, clock, logged):
    """Twelve enterprises under 赛罕 with 1 … 12 activities this quarter, beside 赛罕 and 伊利."""
    async with transaction(sessions) as session:
        for n in range(1, 13):
            org = await orgs.add_org(
                session, name=f"第{n}企业科协", level=OrgLevel.ENTERPRISE,
                parent_id=logged["赛罕区科协"].id, now=clock.now(),
            )  # fmt: skip
            session.add_all(activity(org, date(2026, 3, 1 + i % 10), "lecture", 10)
                            for i in range(n))  # fmt: skip
    return logged


async def test_top_orgs_are_the_ten_largest(sessions, clock, many_orgs):
    quarter = svc.period_of("quarter", TODAY)
    async with transaction(sessions) as session:
        figures = await svc.compute(
            session, org=many_orgs["呼和浩特市科协"], period=quarter, now=clock.now(), tz=TZ
        )
    expected = [(f"第{n}企业科协", n) for n in range(12, 2, -1)]
    assert [(o.name, o.count) for o in figures.top_orgs] == expected
    assert (figures.activities, figures.active_orgs) == (4 + 78, 3 + 12)  # all counted
    *_, top = flow.charts(figures)
    assert (top.kind, top.title) == ("barh", Msg("stats.chart.top_orgs", count=10))
    assert top.labels == [name for name, _ in expected] and top.values == list(range(12, 2, -1))
    assert sensible(png_size(charts.render(top)))


async def test_charts_in_the_chat_are_valid_pngs(settings, clock, many_orgs):
    async with running_bot(settings, clock) as bot:
        await bot.text(HOHHOT_ADMIN, "/stats")
        calls = await bot.press(HOHHOT_ADMIN, "本季度")
    text = "\n".join(sent_texts(calls))
    assert "活动 <b>82</b> 次" in text and "有记录的组织 15/19 个" in text
    images = _photos(calls)
    assert len(images) == 3
    sizes = [png_size(data) for data in images]
    assert all(sensible(size) for size in sizes)
    assert set(sizes) == {(round(charts.WIDTH * charts.DPI), round(charts.HEIGHT * charts.DPI))}


async def test_count_charts_are_marked_in_whole_numbers(
    settings, clock, sessions, logged, tmp_path
):
    """Small counts (1 or 2 activities a type, a month, an org) on an axis of 0, 1, 2, never
    0.2, 0.4 …: the PNGs the bot sent are the charts whose axes are read here."""
    async with running_bot(settings, clock) as bot:
        await bot.text(HOHHOT_ADMIN, "/stats")
        calls = await bot.press(HOHHOT_ADMIN, "本季度")
    sent = _photos(calls)
    for number, data in enumerate(sent):  # real files, as a phone saves them
        (tmp_path / f"chart{number}.png").write_bytes(data)
        with Image.open(tmp_path / f"chart{number}.png") as image:
            assert image.format == "PNG" and image.size == (960, 540)
    quarter = svc.period_of("quarter", TODAY)
    async with transaction(sessions) as session:
        figures = await svc.compute(
            session, org=logged["呼和浩特市科协"], period=quarter, now=clock.now(), tz=TZ
        )
    drawn = [flow.localized(chart, "zh_CN") for chart in flow.charts(figures)]
    assert [charts.render(chart) for chart in drawn] == sent  # the very files sent
    for chart in drawn:
        assert max(chart.values) <= 2  # the small counts that showed 0.2 steps
        with charts.drawn(chart) as figure:
            figure.canvas.draw()
            axes = figure.axes[0]
            axis, (low, high) = (
                (axes.xaxis, axes.get_xlim()) if chart.kind == "barh" else
                (axes.yaxis, axes.get_ylim())
            )  # fmt: skip
            ticks = [tick for tick in axis.get_majorticklocs() if low <= tick <= high]
        assert ticks and all(float(tick).is_integer() for tick in ticks), (chart.kind, ticks)
        assert len(ticks) >= 2


# --- in the chat -----------------------------------------------------------------------------


def _photos(calls) -> list[bytes]:
    return [
        data
        for c in calls
        if c.method in ("sendPhoto", "sendMediaGroup")
        for data in c.files.values()
    ]


async def test_admin_picks_a_quarter_and_gets_text_and_three_charts(settings, clock, logged):
    async with running_bot(settings, clock) as bot:
        await bot.text(HOHHOT_ADMIN, "/stats")
        assert "呼和浩特市科协" in bot.last_text(HOHHOT_ADMIN.id)
        calls = await bot.press(HOHHOT_ADMIN, "本季度")
    text = "\n".join(sent_texts(calls))
    assert "活动 <b>4</b> 次" in text and "推送 <b>7</b> 篇次" in text
    assert "科普讲座/报告：2 场" in text and "包头" not in text and "包钢" not in text
    album = [c for c in calls if c.method == "sendMediaGroup"]
    assert len(album) == 1 and len(album[0].files) == 3
    assert all(png.startswith(PNG) for png in _photos(calls))


async def test_custom_range_is_typed_and_checked(settings, clock, logged, sessions):
    async with running_bot(settings, clock) as bot:
        await bot.text(HOHHOT_ADMIN, "/stats")
        await bot.press(HOHHOT_ADMIN, "自定义")
        assert "日期范围" in bot.last_text(HOHHOT_ADMIN.id)
        unclear = await bot.text(HOHHOT_ADMIN, "上个季度吧")  # no date: the form's own hint
        assert "没看懂这个日期范围" in "\n".join(sent_texts(unclear))
        refused = await bot.text(HOHHOT_ADMIN, "2026-03-01 至 2026-01-01")
        assert "早于开始日期" in "\n".join(sent_texts(refused)) and not _photos(refused)
        calls = await bot.text(HOHHOT_ADMIN, "2026-02-01 至 2026-02-28")
    text = "\n".join(sent_texts(calls))
    assert "2026-02-01 至 2026-02-28" in text and "活动 <b>1</b> 次" in text
    assert len(_photos(calls)) == 2  # by type and top orgs: one month draws no month chart
    async with transaction(sessions) as session:
        state = await conversations_repo.get_state(
            session=session, chat_id=HOHHOT_ADMIN.id, user_id=HOHHOT_ADMIN.id
        )
    assert state is None


async def test_a_mistyped_range_after_the_command_leaves_no_form_open(
    settings, clock, logged, sessions
):
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(HOHHOT_ADMIN, "/stats 2026-13-01 至 2026-14-01")
        said = "\n".join(sent_texts(calls))
        assert "没有13月" in said and "/stats 2026-03-01 至 2026-03-16" in said  # this month
        assert "本季度" in bot.button_texts(HOHHOT_ADMIN.id)  # the picker, to choose instead
        async with transaction(sessions) as session:
            state = await conversations_repo.get_state(
                session=session, chat_id=HOHHOT_ADMIN.id, user_id=HOHHOT_ADMIN.id
            )
        assert state is None
        # The next message is not eaten by a hidden form: it goes where any text goes.
        calls = await bot.text(HOHHOT_ADMIN, "2026-02-01 至 2026-02-28")
        assert not _photos(calls)
        calls = await bot.text(HOHHOT_ADMIN, "/stats 2026-02-01 至 2026-02-28")
    assert "活动 <b>1</b> 次" in "\n".join(sent_texts(calls))


async def test_drilling_down_stays_in_the_subtree(settings, clock, logged):
    async with running_bot(settings, clock) as bot:
        await bot.text(HOHHOT_ADMIN, "/stats")
        await bot.press(HOHHOT_ADMIN, "下级组织")
        assert "包头市科协" not in bot.button_texts(HOHHOT_ADMIN.id)
        await bot.press(HOHHOT_ADMIN, "赛罕区科协")
        calls = await bot.press(HOHHOT_ADMIN, "本年")
    assert "活动 <b>2</b> 次" in "\n".join(sent_texts(calls))


async def test_a_button_naming_a_sibling_org_shows_nothing(sessions, clock, logged):
    # Telegram only returns data of buttons we sent, but an old picker may outlive a demotion
    # or a move: every press checks the scope again.
    async with transaction(sessions) as session:
        admin = await users_repo.get_user(session=session, telegram_id=HOHHOT_ADMIN.id)
        ctx = FlowContext(session, clock.now(), TZ, admin.telegram_id, admin.telegram_id, admin)
        sibling = logged["包头市科协"].id
        for action in ("year", "children", "pick", "custom"):
            outcome = await flow.on_button(ctx, StatsButton("s", action, sibling))
            assert outcome.reply.texts == [Msg("stats.not_your_org")]
            assert not outcome.charts and outcome.export is None
        outcome = await flow.on_button(ctx, StatsButton("e", "year", sibling))
        assert outcome.export is None
        liaison = await users_repo.get_user(session=session, telegram_id=LIAISON.id)
        ctx = FlowContext(session, clock.now(), TZ, LIAISON.id, LIAISON.id, liaison)
        # The task list is for admins only.
        outcome = await flow.on_button(ctx, StatsButton("e", "tasks", 0, 0))
        assert outcome.reply.texts == [Msg("stats.admins_only")] and not outcome.reply.buttons


async def test_an_empty_period_says_so_without_charts(settings, clock, logged):
    clock.advance(timedelta(days=60))  # May: nothing logged this month
    async with running_bot(settings, clock) as bot:
        await bot.text(HOHHOT_ADMIN, "/stats")
        calls = await bot.press(HOHHOT_ADMIN, "本月")
    assert "没有活动记录" in "\n".join(sent_texts(calls)) and not _photos(calls)


async def test_liaison_sees_this_month_against_last(settings, clock, logged):
    async with running_bot(settings, clock) as bot:
        calls = await bot.text(LIAISON, "/stats")
    text = "\n".join(sent_texts(calls))
    assert "伊利集团科协" in text and "活动 <b>2</b> 次（上月 0）" in text
    # Each type in its unit and its participants, like the admin's summary.
    assert "科普讲座/报告：1 场，80 人次（上月 0 场，0 人次）" in text
    assert "展览展示：1 场，200 人次（上月 0 场，0 人次）" in text
    assert [c.method for c in calls if c.files] == ["sendPhoto"]


async def test_liaison_month_counts_in_units_in_both_languages(settings, clock, sessions, logged):
    yili = logged["伊利集团科协"]
    async with transaction(sessions) as session:
        session.add_all(
            [
                activity(yili, date(2026, 2, 10), "training", 25, amount=2),
                activity(yili, date(2026, 3, 10), "training", 1),
                activity(yili, date(2026, 3, 11), "push", None, amount=1),
            ]
        )
    english = TgUser(id=LIAISON.id, first_name="Wang", language_code="en")
    async with running_bot(settings, clock) as bot:
        chinese = "\n".join(sent_texts(await bot.text(LIAISON, "/stats")))
        text = "\n".join(sent_texts(await bot.text(english, "/stats")))
    assert "科技培训：1 期，1 人次（上月 2 期，25 人次）" in chinese
    assert "科普信息推送 <b>1</b> 篇次（上月 0）" in chinese
    training = "Technical training: 1 course, 1 participant (last month 2 courses, 25 participants"
    lecture = "Lecture / talk: 1 session, 80 participants (last month 0 sessions, 0 participants)"
    assert training in text and lecture in text
    assert "(s)" not in text


async def test_admin_summary_speaks_english_plurals(settings, clock, logged):
    boss = TgUser(id=HOHHOT_ADMIN.id, first_name="Boss", language_code="en")
    async with running_bot(settings, clock) as bot:
        await bot.text(boss, "/stats")
        calls = await bot.press(boss, "This quarter")
    text = "\n".join(sent_texts(calls))
    assert "Lecture / talk: 2 sessions, 200 participants" in text
    assert "Technical training: 1 course, 30 participants" in text and "(s)" not in text


@pytest.fixture
async def reports(sessions, logged):
    """A task of the province to 赛罕, 伊利 and 包钢: one cycle due on 3月10日, one ahead."""
    from datetime import datetime

    from storage.task_models import ReportSubmission, ReportTask, TaskCycle, TaskTarget

    saihan, yili, baogang = (logged[n] for n in ("赛罕区科协", "伊利集团科协", "包钢集团科协"))
    async with transaction(sessions) as session:
        task = ReportTask(title="落实情况", org_id=logged["内蒙古自治区科协"].id, created_by=1,
                          sections=["工作抓手"], created_at=START, updated_at=START)  # fmt: skip
        session.add(task)
        await session.flush()
        session.add_all(TaskTarget(task_id=task.id, org_id=o.id) for o in (saihan, yili, baogang))
        due = TaskCycle(
            task_id=task.id,
            seq=1,
            period_start=date(2026, 1, 1),
            period_end=date(2026, 3, 31),
            deadline=datetime(2026, 3, 10, tzinfo=TZ),
        )
        ahead = TaskCycle(
            task_id=task.id,
            seq=2,
            period_start=date(2026, 1, 1),
            period_end=date(2026, 3, 31),
            deadline=datetime(2026, 3, 31, tzinfo=TZ),
        )
        session.add_all([due, ahead])
        await session.flush()

        def report(org, late, superseded=None):
            return ReportSubmission(cycle_id=due.id, org_id=org.id, submitted_by=1,
                                    submitted_at=START, late=late, superseded_at=superseded,
                                    sections={"工作抓手": f"{org.name}的抓手"})  # fmt: skip

        session.add_all([report(saihan, False), report(yili, False, START), report(yili, True)])
        return task.id


async def test_report_completion_counts_due_cycles_of_the_subtree(
    sessions, clock, logged, reports
):
    quarter = svc.period_of("quarter", TODAY)
    async with transaction(sessions) as session:
        hohhot = await svc.task_rates(
            session, org=logged["呼和浩特市科协"], period=quarter, now=clock.now(), tz=TZ
        )
        everything = await svc.task_rates(
            session, org=None, period=quarter, now=clock.now(), tz=TZ
        )
    assert (hohhot.cycles, hohhot.expected, hohhot.on_time, hohhot.late, hohhot.missing) == (
        1, 2, 1, 1, 0
    )  # fmt: skip
    assert (everything.expected, everything.missing, round(everything.rate, 2)) == (3, 1, 0.67)


async def test_only_pushes_give_text_without_charts(sessions, clock, tree):
    async with transaction(sessions) as session:
        session.add(activity(tree["青山区科协"], date(2026, 3, 10), "push", None, amount=12))
    async with transaction(sessions) as session:
        figures = await svc.compute(
            session, org=tree["包头市科协"], period=svc.period_of("month", TODAY),
            now=clock.now(), tz=TZ,
        )  # fmt: skip
    assert (figures.empty, figures.pushes, figures.activities) == (False, 12, 0)
    assert flow.charts(figures) == []


async def test_superadmin_sees_everything_and_climbs_back_up(settings, clock, logged):
    boss = TgUser(id=SUPERADMIN_ID, first_name="超管")
    async with running_bot(settings, clock) as bot:
        await bot.text(boss, "/stats")
        assert "全部组织" in bot.last_text(boss.id)
        calls = await bot.press(boss, "本季度")
        assert "活动 <b>6</b> 次" in "\n".join(sent_texts(calls))
        await bot.press(boss, "下级组织")
        await bot.press(boss, "内蒙古自治区科协")
        assert "上级组织" in " ".join(bot.button_texts(boss.id))
        await bot.press(boss, "上级组织")
        assert "全部组织" in bot.keyboard_message(boss.id)["text"]  # the picker, edited
