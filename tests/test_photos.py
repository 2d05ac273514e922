"""Evidence photos seen again: albums from /mylogs, and /export's zip of a period's photos."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import pytest
from sqlmodel import select

from bot.services import photo_export
from bot.services.photo_export import Located, Photo
from bot.services.stats import Period, StatsError
from bot.telegram.handlers import exports as export_files
from offline.updates import TgUser
from storage import users_repo
from storage.activity_models import Activity
from storage.db import transaction
from storage.models import Role
from tests.conftest import START
from tests.harness import BeforeFirst, BotHarness, running_bot, sent_texts, toasts
from tests.test_activities import LI, make_member, stored, to_participants
from tests.test_stats import (  # noqa: F401 - fixtures
    HOHHOT_ADMIN,
    LIAISON,
    activity,
    logged,
    member,
    tree,
)

BAOTOU_ADMIN = TgUser(id=40004, first_name="包头管理员")
YEAR = "本年"  # the picker's button: 2026-01-01 to today, 2026-03-16


def photo_ids(bot: BotHarness, count: int, tag: str) -> list[str]:
    """Photos Telegram holds (their biggest size), with bytes ``<tag>-<n>``."""
    return photo_ids_of(bot.api, count, tag)


def photo_ids_of(api, count: int, tag: str) -> list[str]:
    return [api.register_file(f"{tag}-{n}".encode(), kind="photo")[-1]["file_id"]
            for n in range(count)]  # fmt: skip


async def add(sessions, *rows: Activity) -> list[int]:
    async with transaction(sessions) as session:
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


def media_groups(calls) -> list[list[dict]]:
    return [c.params["media"] for c in calls if c.method == "sendMediaGroup"]


# --- albums ----------------------------------------------------------------------------------


async def test_a_record_shows_the_photos_logged_with_it(settings, clock, sessions, tree):  # noqa: F811
    await make_member(sessions, clock, LI, tree["青山区科协"])
    async with running_bot(settings, clock) as bot:
        await to_participants(bot)
        await bot.text(LI, "120")
        await bot.press(LI, "青少年")
        await bot.press(LI, "完成")
        await bot.press(LI, "跳过")
        for number in range(3):
            await bot.feed(bot.factory.photo(LI, f"现场照片{number}".encode()))
        await bot.press(LI, "完成")
        await bot.press(LI, "确认提交")
        await bot.text(LI, "/mylogs")
        await bot.press(LI, "科技助力乡村振兴")
        assert "照片：3 张" in bot.last_text(LI.id)
        calls = await bot.press(LI, "查看照片（3 张）")
        [saved] = await stored(sessions)
        [album] = media_groups(calls)
        assert [item["media"] for item in album] == saved.photos
        assert [bot.api.file_bytes(item["media"]) for item in album] == [
            f"现场照片{n}".encode() for n in range(3)
        ]
        assert album[0]["caption"] == "<b>科技助力乡村振兴</b> · 2026-03-15 · 科普讲座/报告"
        assert [m.get("caption") for m in bot.api.sent_messages(LI.id)[-3:]] == [
            "科技助力乡村振兴 · 2026-03-15 · 科普讲座/报告",
            None,
            None,
        ]  # one caption, under the album
        assert "📷 查看照片（3 张）" in bot.button_texts(LI.id)  # the record stays as it was


async def test_twelve_photos_come_in_two_albums_for_the_admin_too(
    settings,
    clock,
    sessions,
    logged,  # noqa: F811
):
    await member(sessions, clock, BAOTOU_ADMIN, logged["包头市科协"], Role.ADMIN)
    async with running_bot(settings, clock) as bot:
        ids = photo_ids(bot, 12, "科普日")
        row = activity(logged["赛罕区科协"], date(2026, 3, 10), "science_day", 300)
        row.title, row.photos = "科普日广场活动", ids
        [record] = await add(sessions, row)
        await bot.text(HOHHOT_ADMIN, "/mylogs")
        await bot.press(HOHHOT_ADMIN, "本组织及下级的记录")
        await bot.press(HOHHOT_ADMIN, "科普日广场活动")
        calls = await bot.press(HOHHOT_ADMIN, "查看照片（12 张）")
        first, second = media_groups(calls)
        assert [len(first), len(second)] == [6, 6]
        assert [item["media"] for item in first + second] == ids
        caption = "<b>科普日广场活动</b> · 2026-03-10 · 全国科普日"
        assert (first[0]["caption"], second[0]["caption"]) == (
            f"{caption}（1/2）",
            f"{caption}（2/2）",
        )
        assert all("caption" not in item for item in first[1:] + second[1:])
        others = await bot.feed(_forged(bot, BAOTOU_ADMIN, f"log:photos:{record}"))
    assert toasts(others) == ["找不到这条记录（可能已删除）。"]  # a sibling subtree's record
    assert not media_groups(others)


def _forged(bot: BotHarness, user: TgUser, data: str) -> dict:
    """A press with callback data the bot never offered this user."""
    bot.api.register_chat(user.private_chat())
    keyboard = {"inline_keyboard": [[{"text": "x", "callback_data": data}]]}
    message = {"message_id": 1, "chat": user.private_chat(), "date": 0, "reply_markup": keyboard}
    return bot.factory.callback(user, data, message)


async def test_photos_telegram_no_longer_has_are_said_so(settings, clock, sessions, logged):  # noqa: F811
    async with running_bot(settings, clock) as bot:
        row = activity(logged["呼和浩特市科协"], date(2026, 3, 11), "lecture", 40)
        row.title, row.photos = "旧照片", ["AgACAgUAAxkBAAIgone1", "AgACAgUAAxkBAAIgone2"]
        await add(sessions, row)
        await bot.text(HOHHOT_ADMIN, "/mylogs")
        await bot.press(HOHHOT_ADMIN, "本组织及下级的记录")
        await bot.press(HOHHOT_ADMIN, "旧照片")
        calls = await bot.press(HOHHOT_ADMIN, "查看照片（2 张）")
    assert "有 2 个文件无法显示" in sent_texts(calls)[0]


# --- the zip of a period's photos ------------------------------------------------------------


@pytest.fixture
async def photographed(sessions, logged):  # noqa: F811
    """Photos on 呼和浩特's records (two of one day, type and title), 包钢's and a deleted one."""

    async def setup(bot: BotHarness) -> dict[str, list[str]]:
        ids = {tag: photo_ids(bot, n, tag) for tag, n in (("讲座", 2), ("展A", 1), ("展B", 1),
                                                         ("包钢", 2), ("删", 1))}  # fmt: skip
        ids["讲座"].append("AgACAgUAAxkBAAIunknown")  # a file Telegram no longer has
        lecture = activity(logged["赛罕区科协"], date(2026, 1, 10), "lecture", 80)
        lecture.title, lecture.photos = 'AI 讲座: "未来"/展望', ids["讲座"]
        show_a = activity(logged["伊利集团科协"], date(2026, 3, 5), "exhibition", 20)
        show_b = activity(logged["伊利集团科协"], date(2026, 3, 5), "exhibition", 30)
        show_a.title = show_b.title = "科技展"
        show_a.photos, show_b.photos = ids["展A"], ids["展B"]
        baogang = activity(logged["包钢集团科协"], date(2026, 2, 14), "volunteer", 5)
        baogang.photos = ids["包钢"]
        gone = activity(logged["赛罕区科协"], date(2026, 2, 1), "lecture", 9, deleted_at=START)
        gone.photos = ids["删"]
        await add(sessions, lecture, show_a, show_b, baogang, gone)
        return ids

    return setup


def _zip(call) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(call.files["document"]))


async def test_export_zips_the_subtrees_photos_named_after_their_activities(
    settings, clock, photographed
):
    async with running_bot(settings, clock) as bot:
        ids = await photographed(bot)
        await bot.text(HOHHOT_ADMIN, "/export")
        await bot.press(HOHHOT_ADMIN, "照片（zip）")
        assert "导出活动照片（zip）" in bot.last_text(HOHHOT_ADMIN.id)
        calls = await bot.press(HOHHOT_ADMIN, YEAR)
    wait = "正在准备 <b>呼和浩特市科协</b> 2026-01-01 至 2026-03-16 的活动照片……"
    assert sent_texts(calls)[0] == wait
    [sent] = [c for c in calls if c.method == "sendDocument"]
    document = sent.result["document"]
    assert document["file_name"] == "照片_呼和浩特市科协_20260101-20260316.zip"
    assert sent.params["caption"] == (
        "活动照片 4 张 · 呼和浩特市科协 · 2026-01-01 至 2026-03-16\n"
        "另有 1 张照片无法下载，见压缩包里的 缺失.txt。"
    )
    archive = _zip(sent)
    assert archive.namelist() == [
        "2026-01-10_科普讲座-报告_AI-讲座-未来-展望_1.jpg",
        "2026-01-10_科普讲座-报告_AI-讲座-未来-展望_2.jpg",
        "2026-03-05_展览展示_科技展_1.jpg",
        "2026-03-05_展览展示_科技展_2.jpg",
        "缺失.txt",
    ]
    contents = [archive.read(name) for name in archive.namelist()[:4]]
    assert contents == [name.encode() for name in ("讲座-0", "讲座-1", "展A-0", "展B-0")]
    assert archive.getinfo("2026-03-05_展览展示_科技展_1.jpg").date_time[:3] == (2026, 3, 5)
    missing = archive.read("缺失.txt").decode("utf-8-sig").splitlines()
    assert missing[0] == "以下 1 张照片无法从 Telegram 下载："
    name, source = missing[1].split("：", 1)
    assert name == "2026-01-10_科普讲座-报告_AI-讲座-未来-展望_3.jpg"
    assert source.startswith('2026-01-10 科普讲座/报告《AI 讲座: "未来"/展望》第 3 张（记录编号 ')
    assert ids["包钢"][0] not in str(archive.namelist())


async def test_a_sibling_admin_and_a_liaison_get_none_of_them(
    settings,
    clock,
    sessions,
    logged,  # noqa: F811
    photographed,
):
    await member(sessions, clock, BAOTOU_ADMIN, logged["包头市科协"], Role.ADMIN)
    async with running_bot(settings, clock) as bot:
        await photographed(bot)
        refused = await bot.text(LIAISON, "/export 照片 2026-01-01 至 2026-03-16")
        baotou = await bot.text(BAOTOU_ADMIN, "/export 照片 2026-01-01 至 2026-03-16")
        hohhot = str(logged["呼和浩特市科协"].id)
        forged = await bot.feed(_forged(bot, BAOTOU_ADMIN, f"stats:z:year:{hohhot}"))
        await bot.text(BAOTOU_ADMIN, "/export 照片")
        await bot.press(BAOTOU_ADMIN, "自定义")
        empty = await bot.text(BAOTOU_ADMIN, "2026-03-01 至 2026-03-16")
    assert "只有管理员可以导出" in sent_texts(refused)[0]
    [own] = [c for c in baotou if c.method == "sendDocument"]
    assert _zip(own).namelist() == [
        "2026-02-14_科技志愿服务_volunteer-2026-02-14_1.jpg",
        "2026-02-14_科技志愿服务_volunteer-2026-02-14_2.jpg",
    ]  # 包钢's, and nothing of 呼和浩特
    assert "这个组织不在你的管理范围内" in "\n".join(sent_texts(forged))
    assert "期间的活动没有照片" in "\n".join(sent_texts(empty))
    assert not [c for c in refused + forged + empty if c.method == "sendDocument"]


async def test_the_scope_is_checked_again_when_the_zip_is_written(
    settings,
    clock,
    sessions,
    logged,  # noqa: F811
    photographed,
):
    """The admin loses the role between the press and the zip's own read: no photo is fetched."""

    async def demote() -> None:
        async with transaction(sessions) as session:
            admin = await users_repo.get_user(session=session, telegram_id=HOHHOT_ADMIN.id)
            admin.role = Role.LIAISON

    async with running_bot(settings, clock) as bot:
        await photographed(bot)
        await bot.text(HOHHOT_ADMIN, "/export 照片")
        # The picker's answer ("正在准备…") goes after its transaction, before the zip's read.
        bot.app.bot.request.inner = BeforeFirst(bot.api, "sendMessage", demote)
        lost = await bot.press(HOHHOT_ADMIN, YEAR)
    assert "只有管理员可以导出" in "\n".join(sent_texts(lost))
    assert not [c for c in lost if c.method in ("sendDocument", "getFile")]


async def test_a_big_export_is_split_with_progress(
    settings,
    clock,
    sessions,
    logged,  # noqa: F811
    monkeypatch,
):
    # Parts of ~40 KB stand for Telegram's 50 MB: 25 photos of 5 KB make five parts.
    monkeypatch.setattr(export_files, "DOCUMENT_LIMIT", 40_000)
    monkeypatch.setattr(photo_export, "PART_RESERVE", 4_000)
    async with running_bot(settings, clock) as bot:
        ids = [
            bot.api.register_file(bytes([n]) * 5000, kind="photo")[-1]["file_id"]
            for n in range(25)
        ]
        row = activity(logged["赛罕区科协"], date(2026, 3, 12), "training", 25)
        row.title, row.photos = "摄影培训", [*ids, "AgACAgUAAxkBAAIlost"]
        await add(sessions, row)
        await bot.text(HOHHOT_ADMIN, "/export 照片")
        calls = await bot.press(HOHHOT_ADMIN, YEAR)
    sent = [c for c in calls if c.method == "sendDocument"]
    names = [c.result["document"]["file_name"] for c in sent]
    assert names == [f"照片_呼和浩特市科协_20260101-20260316_第{n}部分.zip" for n in range(1, 6)]
    assert all(len(c.files["document"]) <= 40_000 for c in sent)
    entries = [name for c in sent for name in _zip(c).namelist()]
    names = [f"2026-03-12_科技培训_摄影培训_{n}.jpg" for n in range(1, 26)]
    assert entries == [*names, "缺失.txt"]
    first, last = sent[0].params["caption"], sent[-1].params["caption"]
    assert "第 1/5 个文件" in first and "第 5/5 个文件" in last
    assert "缺失" not in first and "另有 1 张照片无法下载" in last
    progress = [c.params["text"] for c in calls if c.method == "editMessageText"]
    assert progress[-1] == "正在从 Telegram 下载照片：26/26……"
    assert "正在从 Telegram 下载照片：0/26……" in sent_texts(calls)


async def test_no_photos_and_too_many_photos_are_said(
    settings,
    clock,
    sessions,
    logged,  # noqa: F811
    monkeypatch,
):
    async with running_bot(settings, clock) as bot:
        none = await bot.text(HOHHOT_ADMIN, "/export 照片 2026-01-01 至 2026-03-16")
        row = activity(logged["赛罕区科协"], date(2026, 3, 12), "training", 25)
        row.photos = photo_ids(bot, 4, "多")
        await add(sessions, row)
        monkeypatch.setattr(photo_export, "PHOTOS_MAX", 3)
        many = await bot.text(HOHHOT_ADMIN, "/export 照片 2026-01-01 至 2026-03-16")
    assert "期间的活动没有照片，没有可导出的内容" in sent_texts(none)[-1]
    assert "共有 4 张照片，超过一次导出的上限 3 张" in sent_texts(many)[-1]
    assert not [c for c in none + many if c.method in ("sendDocument", "getFile")]


async def test_the_workbook_and_the_zip_switch_in_the_picker(settings, clock, logged):  # noqa: F811
    async with running_bot(settings, clock) as bot:
        await bot.text(HOHHOT_ADMIN, "/export")
        await bot.press(HOHHOT_ADMIN, "照片（zip）")
        await bot.press(HOHHOT_ADMIN, "选择下级组织")
        await bot.press(HOHHOT_ADMIN, "赛罕区科协")
        assert "导出活动照片（zip）· 赛罕区科协" in bot.last_text(HOHHOT_ADMIN.id)
        await bot.press(HOHHOT_ADMIN, "活动明细（.xlsx）")
        assert "导出活动明细 · 赛罕区科协" in bot.last_text(HOHHOT_ADMIN.id)
        calls = await bot.press(HOHHOT_ADMIN, YEAR)
    [sent] = [c for c in calls if c.method == "sendDocument"]
    assert sent.result["document"]["file_name"].endswith(".xlsx")


# --- the service on its own ------------------------------------------------------------------


def _located(sizes: list[int]) -> list[tuple[Photo, Located]]:
    day = date(2026, 3, 1)
    return [(Photo(f"p{n}.jpg", f"id{n}", day, ""), Located(size, None))
            for n, size in enumerate(sizes)]  # fmt: skip


def test_parts_are_planned_from_the_sizes_telegram_reports():
    reserve = photo_export.PART_RESERVE
    limit = reserve + 3 * (1000 + photo_export.ENTRY_OVERHEAD + 2 * len(b"p0.jpg"))
    plan = photo_export.plan_parts(_located([1000] * 7), limit)
    assert [len(part) for part in plan] == [3, 3, 1]
    assert [len(part) for part in photo_export.plan_parts(_located([1000] * 7), None)] == [7]
    assert photo_export.plan_parts([], limit) == [[]]  # a part for 缺失.txt alone


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [('AI 讲座: "未来"/展望', "AI-讲座-未来-展望"), ("  ..隐藏.. ", "隐藏"), ("a\tb\nc", "a-b-c"),
     ("很" * 50, "很" * 40), ("???", "")],
)  # fmt: skip
def test_file_name_parts_are_safe(text, cleaned):
    assert photo_export.safe_name(text) == cleaned


async def test_list_refuses_more_photos_than_one_export_takes(sessions, logged, monkeypatch):  # noqa: F811
    row = activity(logged["赛罕区科协"], date(2026, 3, 12), "training", 25)
    row.photos = ["a", "b", "c"]
    await add(sessions, row)
    monkeypatch.setattr(photo_export, "PHOTOS_MAX", 2)
    period = Period(date(2026, 1, 1), date(2026, 3, 16))
    async with transaction(sessions) as session:
        with pytest.raises(StatsError) as refusal:
            await photo_export.list_photos(
                session, org=logged["呼和浩特市科协"], period=period, locale="en"
            )
        total = await photo_export.count_photos(session, org=None, period=period)
        rows = (await session.exec(select(Activity))).all()
    assert (refusal.value.key, refusal.value.params) == (
        "stats.photos_too_many",
        {"count": 3, "limit": 2},
    )
    assert total == 3 == sum(len(r.photos) for r in rows)


# --- the command line ------------------------------------------------------------------------


async def test_cli_downloads_the_subtrees_photos_into_one_zip(
    monkeypatch,
    database_url,
    tmp_path,
    sessions,
    logged,  # noqa: F811
    capsys,
):
    import asyncio

    from bot.cli import main
    from offline.bot_api import OfflineBotAPI
    from tests.loopback_api import serving

    api = OfflineBotAPI()
    ids = photo_ids_of(api, 3, "命令行")
    row = activity(logged["赛罕区科协"], date(2026, 2, 3), "training", 30)
    row.title, row.photos = "无人机培训", [*ids, "AgACAgUAAxkBAAIcli-gone"]
    elsewhere = activity(logged["包钢集团科协"], date(2026, 2, 3), "training", 30)
    elsewhere.photos = photo_ids_of(api, 1, "包钢")
    await add(sessions, row, elsewhere)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    output = tmp_path / "photos.zip"
    hohhot = str(logged["呼和浩特市科协"].id)
    argv = ["export", "photos", "--org", hohhot, "--from", "2026-01-01", "--to", "2026-03-16",
            "-o", str(output)]  # fmt: skip
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    assert await asyncio.to_thread(main, argv) == 2  # offline: nowhere to download from
    assert "请先设置 BOT_TOKEN" in capsys.readouterr().err
    async with serving(api) as base_url:
        monkeypatch.setenv("BOT_TOKEN", "123456:loopback-test-token")
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", base_url)
        assert await asyncio.to_thread(main, argv) == 0
    assert capsys.readouterr().out == f"3\t1\t{output}\n"
    archive = zipfile.ZipFile(output)
    names = [f"2026-02-03_科技培训_无人机培训_{n}.jpg" for n in (1, 2, 3)]
    assert archive.namelist() == [*names, "缺失.txt"]
    assert [archive.read(name) for name in names] == [f"命令行-{n}".encode() for n in range(3)]
    assert "无人机培训》第 4 张" in archive.read("缺失.txt").decode("utf-8-sig")
    assert [c.method for c in api.calls].count("getFile") == 4
