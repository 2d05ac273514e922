"""The terminal chat engine, driven through in-memory stdin/stdout against a real Application."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
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

from bot.chat_cli import TerminalChat, run_terminal_chat
from bot.offline_api import OfflineBotAPI
from bot.updates import TgUser

USER = TgUser(id=4242, first_name="王", last_name="科协")
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

    return [
        CommandHandler("day", day),
        CommandHandler("confirm", confirm),
        CommandHandler("broken", broken),
        CommandHandler("notify", notify),
        CallbackQueryHandler(pressed),
        MessageHandler(filters.PHOTO, photo),
        MessageHandler(filters.Document.ALL, document),
        MessageHandler(filters.TEXT, text),
    ]


async def chat(app: Application, api: OfflineBotAPI, lines: str) -> list[str]:
    """Run a whole session and return its transcript after the banner."""
    stdout = io.StringIO()
    await run_terminal_chat(app, api, USER, stdin=io.StringIO(lines), stdout=stdout)
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
        "you> 2",
        "     💬 已记录",
        "bot> (已编辑 #2 / edited) 日期：day:1",
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
