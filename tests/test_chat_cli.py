"""The terminal chat engine, driven through in-memory stdin/stdout against a real Application."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.common.i18n import t
from bot.services import orgs, people
from offline.bot_api import OfflineBotAPI
from offline.terminal import TerminalChat, run_terminal_chat
from offline.updates import TgUser
from storage.activity_models import Activity
from storage.db import transaction
from tests.harness import running_bot

USER = TgUser(id=4242, first_name="王", last_name="科协")
PNG = b"\x89PNG\r\n\x1a\n"
CANCEL = InlineKeyboardButton("取消", callback_data="cancel")
ADMIN_CHAT = {"id": 9001, "type": "private", "first_name": "管理员"}


@pytest.fixture
def api() -> OfflineBotAPI:
    return OfflineBotAPI(clock=lambda: 1_764_000_000)


@pytest.fixture
def seen() -> dict[str, list[Any]]:
    """What the handlers received, for assertions."""
    return {"callbacks": [], "photos": [], "documents": [], "texts": [], "hooks": []}


@pytest.fixture
def app(api: OfflineBotAPI, seen: dict[str, list[Any]]) -> Application:
    async def post_init(application: Application) -> None:
        seen["hooks"].append("post_init")

    async def post_shutdown(application: Application) -> None:
        seen["hooks"].append("post_shutdown")

    application = (
        ApplicationBuilder()
        .token("123:TEST")
        .request(api)
        .get_updates_request(api)
        .updater(None)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    for handler in handlers(seen):
        application.add_handler(handler)
    return application


def handlers(seen: dict[str, list[Any]]) -> list[Any]:
    async def day(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("今天", callback_data="day:0"),
                    InlineKeyboardButton("昨天", callback_data="day:1"),
                ],
                [InlineKeyboardButton("通知原文", url="https://kx.example/n/1")],
                [
                    InlineKeyboardButton("下一步", callback_data="next"),
                    InlineKeyboardButton("青少年", callback_data="relabel"),
                ],
            ]
        )
        await update.message.reply_text(
            "<b>活动日期？</b>\n请选择", parse_mode="HTML", reply_markup=keyboard
        )

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen["callbacks"].append(update.callback_query.data)
        await update.callback_query.answer("已记录")
        await update.callback_query.edit_message_text(f"日期：{update.callback_query.data}")

    async def confirm(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        markup = ReplyKeyboardMarkup([["确认", "取消"]], one_time_keyboard=True)
        await update.message.reply_text("提交吗？", reply_markup=markup)

    async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen["texts"].append(update.message.text)
        reply = ReplyKeyboardRemove() if update.message.text == "确认" else None
        await update.message.reply_text(f"收到：{update.message.text}", reply_markup=reply)

    async def photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        file = await update.message.photo[-1].get_file()
        seen["photos"].append(bytes(await file.download_as_bytearray()))
        await update.message.reply_photo(seen["photos"][-1], caption="已存档")

    async def document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen["documents"].append(update.message.document)
        await update.message.reply_document(update.message.document.file_id)

    async def broken(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text("")

    async def notify(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        sent = await context.bot.send_message(ADMIN_CHAT["id"], "新报送：王科协")
        await context.bot.delete_message(ADMIN_CHAT["id"], sent.message_id)

    async def album(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        media = [InputMediaPhoto(PNG + bytes([n])) for n in range(2)]
        media[0] = InputMediaPhoto(PNG + b"\x00", caption="现场照片")
        await update.message.reply_media_group(media)
        await update.message.reply_document(b"PK\x03\x04", filename="活动明细.xlsx")

    async def next_step(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        # As a form does: the next step in a new message, the old one's buttons taken off.
        old = update.callback_query.message
        await update.callback_query.answer()
        await old.reply_text("活动名称？", reply_markup=InlineKeyboardMarkup([[CANCEL]]))
        await old.edit_reply_markup(None)

    async def relabel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer()
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("✅ 青少年", callback_data="n")]])
        await update.callback_query.edit_message_reply_markup(markup)

    return [
        CommandHandler("day", day),
        CommandHandler("confirm", confirm),
        CommandHandler("broken", broken),
        CommandHandler("notify", notify),
        CommandHandler("album", album),
        CallbackQueryHandler(next_step, pattern="^next$"),
        CallbackQueryHandler(relabel, pattern="^relabel$"),
        CallbackQueryHandler(pressed),
        MessageHandler(filters.PHOTO, photo),
        MessageHandler(filters.Document.ALL, document),
        MessageHandler(filters.TEXT, text),
    ]


async def chat(
    app: Application, api: OfflineBotAPI, lines: str, files_dir: Path | None = None
) -> list[str]:
    """Run a whole session and return its transcript after the banner."""
    stdout = io.StringIO()
    await run_terminal_chat(
        app, api, USER, stdin=io.StringIO(lines), stdout=stdout, files_dir=files_dir
    )
    transcript = stdout.getvalue().splitlines()
    return transcript[3:]


async def test_buttons_are_numbered_and_a_number_presses_one(
    app: Application, api: OfflineBotAPI, seen: dict[str, list[Any]]
) -> None:
    transcript = await chat(app, api, "/day\n2\n")
    assert transcript == [
        "you> /day",
        "bot> 活动日期？",
        "     请选择",
        "     [1] 今天  [2] 昨天",
        "     [3] 通知原文 ↗",
        "     [4] 下一步  [5] 青少年",
        "you> 2",
        "     💬 已记录",
        "bot (已编辑 #2)> 日期：day:1",
        "you> ",
    ]
    assert seen["callbacks"] == ["day:1"]


async def test_url_button_and_out_of_range_numbers(
    app: Application, api: OfflineBotAPI, seen: dict[str, list[Any]]
) -> None:
    transcript = await chat(app, api, "/day\n3\n7\n\\1\n")
    assert "(打开链接 / opens https://kx.example/n/1)" in transcript
    assert seen["texts"] == ["7", "1"]  # beyond the keyboard, and escaped, numbers are text
    assert seen["callbacks"] == []


async def test_reply_keyboard_sends_the_button_text_once(
    app: Application, api: OfflineBotAPI, seen: dict[str, list[Any]]
) -> None:
    transcript = await chat(app, api, "/confirm\n1\n2\n")
    assert "     ⌨ [1] 确认  [2] 取消" in transcript
    # The one-time keyboard is gone after the first press, so "2" is plain text.
    assert seen["texts"] == ["确认", "2"]


async def test_files_are_sent_as_photo_or_document(
    app: Application, api: OfflineBotAPI, seen: dict[str, list[Any]], tmp_path: Path
) -> None:
    image = tmp_path / "现场.PNG"
    image.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    sheet = tmp_path / "统计.xlsx"
    sheet.write_bytes(b"PK\x03\x04")
    transcript = await chat(app, api, f"/file {image}\n/file {sheet}\n/file {tmp_path}/无\n")
    assert seen["photos"] == [b"\x89PNG\r\n\x1a\nfake"]
    document = seen["documents"][0]
    assert document.file_name == "统计.xlsx"
    assert (
        document.mime_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert "bot> [photo]" in transcript and "     已存档" in transcript
    assert "bot> [document 统计.xlsx]" in transcript
    assert f"(没有这个文件 / no such file: {tmp_path}/无)" in transcript


async def test_quit_stops_reading_and_the_app_is_shut_down(
    app: Application, api: OfflineBotAPI, seen: dict[str, list[Any]]
) -> None:
    transcript = await chat(app, api, "你好\n/quit\n不会处理\n")
    assert seen["texts"] == ["你好"]
    assert transcript[-1] == "you> /quit"
    assert seen["hooks"] == ["post_init", "post_shutdown"]
    assert not app.running


async def test_errors_other_chats_and_deletions_are_shown(
    app: Application, api: OfflineBotAPI
) -> None:
    api.register_chat(ADMIN_CHAT)
    transcript = await chat(app, api, "/broken\n/notify\n")
    assert (
        "(Bot API 错误 / error in sendMessage: Bad Request: message text is empty)" in transcript
    )
    assert "bot> [→ 管理员] 新报送：王科协" in transcript
    assert "(消息 #1 已删除 / deleted)" in transcript


async def test_output_between_turns_is_flushed(app: Application, api: OfflineBotAPI) -> None:
    stdout = io.StringIO()
    async with app:
        terminal = TerminalChat(app, api, USER, stdin=io.StringIO(""), stdout=stdout)
        await app.bot.send_message(USER.id, "提醒：12月9日前报送", parse_mode="HTML")
        terminal.flush()
        terminal.flush()
    assert stdout.getvalue() == "bot> 提醒：12月9日前报送\n"


async def test_app_managed_by_the_caller_stays_running(
    app: Application, api: OfflineBotAPI, seen: dict[str, list[Any]]
) -> None:
    async with app:
        stdout = io.StringIO()
        await run_terminal_chat(
            app, api, USER, stdin=io.StringIO("hi\n"), stdout=stdout, manage_lifecycle=False
        )
        assert seen["texts"] == ["hi"] and seen["hooks"] == []
        assert "bot> 收到：hi" in stdout.getvalue()


async def test_an_app_started_by_the_caller_is_left_running(
    app: Application, api: OfflineBotAPI, seen: dict[str, list[Any]]
) -> None:
    async with app:
        await app.start()
        await run_terminal_chat(app, api, USER, stdin=io.StringIO("hi\n"), stdout=io.StringIO())
        assert app.running and seen["texts"] == ["hi"]
        await app.stop()


# --- edits: shown as edits, only what changed ------------------------------------------------


async def test_an_older_prompt_whose_buttons_go_is_not_printed_again(
    app: Application, api: OfflineBotAPI
) -> None:
    transcript = await chat(app, api, "/day\n4\n")
    after = transcript[transcript.index("you> 4") + 1 :]
    # The new step, and nothing of the old prompt: its buttons went away quietly.
    assert after == ["bot> 活动名称？", "     [1] 取消", "you> "]
    assert not any("活动日期" in line for line in after)


async def test_changed_buttons_are_printed_without_the_text_again(
    app: Application, api: OfflineBotAPI
) -> None:
    transcript = await chat(app, api, "/day\n5\n")
    after = transcript[transcript.index("you> 5") + 1 :]
    assert after == ["bot (已编辑 #2)> （按钮已更新）", "     [1] ✅ 青少年", "you> "]


async def test_an_edit_is_labelled_in_the_user_s_language(api: OfflineBotAPI, seen) -> None:
    application = ApplicationBuilder().token("123:TEST").request(api).updater(None).build()
    application.add_handlers(handlers(seen))
    stdout = io.StringIO()
    english = TgUser(id=4243, first_name="Wang", language_code="en")
    await run_terminal_chat(
        application, api, english, stdin=io.StringIO("/day\n1\n"), stdout=stdout
    )
    assert "bot (edited #2)> 日期：day:0" in stdout.getvalue().splitlines()


# --- files the bot sends are saved --------------------------------------------------------------


async def test_photos_albums_and_documents_are_saved_with_their_paths(
    app: Application, api: OfflineBotAPI, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "data" / "chat-files"
    transcript = await chat(app, api, "/album\n/album\n", files_dir=folder)
    saved = sorted(p.name for p in folder.iterdir())
    assert len(saved) == 6
    photos = sorted(p for p in folder.iterdir() if p.suffix == ".png")
    assert sorted(p.read_bytes() for p in photos) == sorted([PNG + b"\x00", PNG + b"\x01"] * 2)
    # A second file of the same name keeps the first.
    assert {"活动明细.xlsx", "活动明细 (2).xlsx"} <= set(saved)
    assert (folder / "活动明细 (2).xlsx").read_bytes() == b"PK\x03\x04"
    shown = [line.strip() for line in transcript if "📎" in line]
    assert len(shown) == 6 and "📎 已保存：data/chat-files/活动明细.xlsx" in shown
    assert all((tmp_path / line.split("：", 1)[1]).is_file() for line in shown)
    assert transcript[transcript.index("you> /album") + 1] == "bot> [photo]"


async def test_without_a_folder_nothing_is_saved(
    app: Application, api: OfflineBotAPI, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    transcript = await chat(app, api, "/album\n")
    assert not any("📎" in line for line in transcript) and list(tmp_path.iterdir()) == []


# --- the real bot in the terminal chat -----------------------------------------------------------


@pytest.fixture
async def city_admin(sessions, clock) -> TgUser:
    """An admin of 呼和浩特市科协 whose subtree logged two lectures this month."""
    admin = TgUser(id=4301, first_name="呼市管理员")
    async with transaction(sessions) as session:
        tree = {o.name: o for o in await orgs.create_demo_tree(session, now=clock.now())}
        await people.grant_admin(
            session, telegram_id=admin.id, org_id=tree["呼和浩特市科协"].id, now=clock.now()
        )
        for org in ("赛罕区科协", "伊利集团科协"):
            session.add(
                Activity(type="lecture", title="讲座", day=date(2026, 3, 2), org_id=tree[org].id,
                         participants=50, unit="session", amount=1, created_by=admin.id,
                         created_at=clock.now())
            )  # fmt: skip
    return admin


def strip_tags(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text)


def button_number(bot, user: TgUser, label: str) -> str:
    return str(next(n for n, text in enumerate(bot.button_texts(user.id), 1) if label in text))


async def test_the_bot_s_charts_and_export_are_saved_from_the_chat(
    settings, clock, city_admin, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "files"
    stdout = io.StringIO()
    async with running_bot(settings, clock) as bot:
        terminal = TerminalChat(
            bot.app, bot.api, city_admin, stdin=io.StringIO(), stdout=stdout,
            factory=bot.factory, files_dir=folder,
        )  # fmt: skip
        await terminal.handle_line("/stats")
        await terminal.handle_line(button_number(bot, city_admin, "本月"))
        await terminal.handle_line("/export")
        await terminal.handle_line(button_number(bot, city_admin, "本月"))
        terminal.flush()
    charts = sorted(folder.glob("photo_*.png"))
    assert len(charts) == 2  # by type and the top orgs (one month draws no month chart)
    assert all(p.read_bytes().startswith(PNG) for p in charts)
    (workbook,) = folder.glob("*.xlsx")
    assert workbook.read_bytes().startswith(b"PK")
    printed = [line.strip() for line in stdout.getvalue().splitlines() if "📎" in line]
    assert printed == [f"📎 已保存：files/{p.name}" for p in [*charts, workbook]]


async def test_a_form_in_the_chat_does_not_ask_an_old_step_again(settings, clock, city_admin):
    stdout = io.StringIO()
    async with running_bot(settings, clock) as bot:
        terminal = TerminalChat(
            bot.app, bot.api, city_admin, stdin=io.StringIO(), stdout=stdout, factory=bot.factory
        )
        await terminal.handle_line("/log")
        await terminal.handle_line(button_number(bot, city_admin, "科普讲座"))
        await terminal.handle_line("青少年科技讲座")  # typed: a new message for the next step
        terminal.flush()
    transcript = stdout.getvalue()
    title_prompt = t("zh_CN", "activity.ask_title", limit=60).split("（")[0]
    assert transcript.count(strip_tags(title_prompt)) == 1
    assert transcript.count(strip_tags(t("zh_CN", "activity.ask_type")).split("：")[0]) == 1
