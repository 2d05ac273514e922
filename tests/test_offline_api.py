"""The offline Bot API under a real Application: answers, state, and Telegram's refusals."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from telegram import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    MenuButtonCommands,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, Conflict, EndPointNotFound, Forbidden, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from offline.bot_api import BOT_ID, SPEC_PATH, OfflineBotAPI
from offline.formatting import parse_text, utf16_len
from offline.updates import TgUser, UpdateFactory, to_update

NOW = 1_764_000_000
USER = TgUser(id=4242, first_name="王", last_name="科协", username="wang_sta")
Action = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[Any]]
KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("今天", callback_data="day:0"),
            InlineKeyboardButton("昨天", callback_data="day:1"),
        ]
    ]
)


# --- fixtures (tests/conftest.py belongs to another module; these stay local) -----------------


@pytest.fixture
def api() -> OfflineBotAPI:
    return OfflineBotAPI(clock=lambda: NOW)


@pytest.fixture
def factory(api: OfflineBotAPI) -> UpdateFactory:
    return UpdateFactory(api)


@pytest.fixture
def errors() -> list[BaseException]:
    return []


@pytest.fixture
async def app(api: OfflineBotAPI, errors: list[BaseException]) -> AsyncIterator[Application]:
    """A real Application with tiny handlers; ``/try`` runs ``bot_data["action"]``."""
    application = (
        ApplicationBuilder()
        .token("123:TEST")
        .request(api)
        .get_updates_request(api)
        .updater(None)
        .build()
    )

    async def try_action(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await context.bot_data["action"](update, context)

    async def keyboard(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(
            "<b>哪天？</b>", parse_mode="HTML", reply_markup=KEYBOARD
        )

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer(f"选了 {query.data}")
        await query.edit_message_text(f"已选 {query.data}")

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(update.effective_message.text)

    async def collect(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    application.add_handler(CommandHandler("try", try_action))
    application.add_handler(CommandHandler("day", keyboard))
    application.add_handler(CallbackQueryHandler(pressed))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    application.add_error_handler(collect)
    async with application:
        yield application


async def feed(app: Application, update: dict[str, Any]) -> None:
    await app.process_update(to_update(update, app.bot))


async def run_action(app: Application, factory: UpdateFactory, action: Action) -> None:
    """Run ``action`` inside a real handler (so PTB raises from the HTTP answer)."""
    app.bot_data["action"] = action
    await feed(app, factory.command(USER, "/try"))


def assert_refused(
    api: OfflineBotAPI, errors: list[BaseException], kind: type[TelegramError], description: str
) -> None:
    """The handler got ``kind`` with Telegram's description, and the call log has it verbatim."""
    assert len(errors) == 1, errors
    assert type(errors[0]) is kind
    # PTB strips "Bad Request: " and capitalizes what is left.
    expected = description.removeprefix("Bad Request: ")
    if expected != description:
        expected = expected.capitalize()
    assert errors[0].message == expected
    failed = [call for call in api.calls if not call.ok]
    assert failed[-1].error == {
        "ok": False,
        "error_code": kind_code(kind),
        "description": description,
    }


@contextmanager
def refused(api: OfflineBotAPI, kind: type[TelegramError], description: str) -> Iterator[None]:
    """The block raises ``kind`` and the API answered exactly ``description``."""
    with pytest.raises(kind):
        yield
    assert api.calls[-1].error["description"] == description


def kind_code(kind: type[TelegramError]) -> int:
    return {BadRequest: 400, Forbidden: 403, Conflict: 409}[kind]


def png(width: int, height: int) -> bytes:
    image_module = pytest.importorskip("PIL.Image")
    buffer = io.BytesIO()
    image_module.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


# --- getMe, ids, dates, recording -------------------------------------------------------------


async def test_get_me_identifies_the_bot(app: Application) -> None:
    assert app.bot.id == BOT_ID
    assert app.bot.username == "stabot_bot"
    assert (await app.bot.get_me()).can_join_groups is True


async def test_username_is_configurable() -> None:
    api = OfflineBotAPI(bot_username="kexie_test_bot")
    bot_app = (
        ApplicationBuilder()
        .token("1:X")
        .request(api)
        .get_updates_request(api)
        .updater(None)
        .build()
    )
    async with bot_app:
        assert bot_app.bot.username == "kexie_test_bot"


async def test_message_ids_per_chat_are_shared_with_users_and_dates_use_the_clock(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory
) -> None:
    other = TgUser(id=77, first_name="李")
    await feed(app, factory.message(USER, "一"))
    await feed(app, factory.message(other, "二"))
    await feed(app, factory.message(USER, "三"))
    sent = api.calls_to("sendMessage")
    assert [(c.params["chat_id"], c.result["message_id"]) for c in sent] == [
        (USER.id, 2),
        (77, 2),
        (USER.id, 4),
    ]
    assert {c.result["date"] for c in sent} == {NOW}
    assert api.last_message(USER.id)["text"] == "三"
    assert [m["text"] for m in api.sent_messages(USER.id)] == ["一", "三"]


async def test_calls_record_json_decoded_params(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory
) -> None:
    await feed(app, factory.command(USER, "/day"))
    call = api.calls_to("sendMessage")[-1]
    assert call.params["reply_markup"] == json.loads(KEYBOARD.to_json())
    assert call.params["chat_id"] == USER.id and call.ok
    api.clear_calls()
    assert api.calls == [] and api.last_message(USER.id) is not None


async def test_html_is_stored_as_text_plus_utf16_entities(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory
) -> None:
    async def action(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await context.bot.send_message(
            USER.id,
            '😀 <b>加粗</b> &lt;a&gt; <a href="https://kx.example/x">链接</a>',
            parse_mode="HTML",
        )

    await run_action(app, factory, action)
    message = api.last_message(USER.id)
    assert message["text"] == "😀 加粗 <a> 链接"
    assert message["entities"] == [
        {"type": "bold", "offset": 3, "length": 2},
        {"type": "text_link", "offset": 10, "length": 2, "url": "https://kx.example/x"},
    ]


# --- Telegram's refusals, raised by PTB inside handlers ----------------------------------------


def send(text: str, **kwargs: Any) -> Action:
    async def action(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await context.bot.send_message(update.effective_chat.id, text, **kwargs)

    return action


@pytest.mark.parametrize(
    ("action", "description"),
    [
        (send(""), "Bad Request: message text is empty"),
        (send("  \n "), "Bad Request: message text is empty"),
        (send("x" * 4097), "Bad Request: message is too long"),
        (send("😀" * 4097), "Bad Request: message is too long"),
        (send("<b>" + "x" * 4097 + "</b>", parse_mode="HTML"), "Bad Request: message is too long"),
        (
            send("<b>未闭合", parse_mode="HTML"),
            "Bad Request: can't parse entities: "
            'Can\'t find end tag corresponding to start tag "b"',
        ),
        (
            send("1 < 2", parse_mode="HTML"),
            'Bad Request: can\'t parse entities: Unsupported start tag "" at byte offset 2',
        ),
        (
            send("截止 12.9", parse_mode="MarkdownV2"),
            "Bad Request: can't parse entities: Character '.' is reserved and must be escaped "
            "with the preceding '\\'",
        ),
        (send("hi", parse_mode="BBCode"), "Bad Request: unsupported parse_mode"),
        (
            send(
                "hi",
                reply_markup=InlineKeyboardMarkup(
                    [[InlineKeyboardButton("x", callback_data="数" * 22)]]
                ),
            ),
            "Bad Request: BUTTON_DATA_INVALID",
        ),
    ],
    ids=[
        "empty",
        "blank",
        "too-long",
        "too-long-astral",
        "too-long-after-parsing",
        "unclosed-tag",
        "bare-lt",
        "markdown-reserved",
        "parse-mode",
        "callback-data-66-bytes",
    ],
)
async def test_send_message_refusals(
    app: Application,
    api: OfflineBotAPI,
    factory: UpdateFactory,
    errors: list[BaseException],
    action: Action,
    description: str,
) -> None:
    await run_action(app, factory, action)
    assert_refused(api, errors, BadRequest, description)
    assert api.sent_messages(USER.id) == []


@pytest.mark.parametrize(
    "text",
    ["x" * 4096, "😀" * 4096, "<b>" + "x" * 4096 + "</b>", "&amp;" * 4096],
    ids=["plain", "astral", "tags", "entities"],
)
async def test_limit_counts_characters_after_parsing(
    app: Application,
    api: OfflineBotAPI,
    factory: UpdateFactory,
    errors: list[BaseException],
    text: str,
) -> None:
    await run_action(app, factory, send(text, parse_mode="HTML"))
    assert errors == []
    assert len(api.last_message(USER.id)["text"]) == 4096


async def test_caption_over_1024_is_refused(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory, errors: list[BaseException]
) -> None:
    async def action(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await context.bot.send_photo(USER.id, b"img", caption="图" * 1025)

    await run_action(app, factory, action)
    assert_refused(api, errors, BadRequest, "Bad Request: message caption is too long")


async def test_unknown_chat_is_not_found(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory, errors: list[BaseException]
) -> None:
    async def action(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await context.bot.send_message(999_999, "hello")

    await run_action(app, factory, action)
    assert_refused(api, errors, BadRequest, "Bad Request: chat not found")


async def test_user_seen_only_in_a_group_cannot_be_messaged_first(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory
) -> None:
    stranger = TgUser(id=606, first_name="周")
    await feed(app, factory.message(stranger, "hi", chat=factory.group()))
    with refused(api, Forbidden, "Forbidden: bot can't initiate conversation with a user"):
        await app.bot.send_message(stranger.id, "私聊")


async def test_registered_chat_is_known(app: Application, api: OfflineBotAPI) -> None:
    api.register_chat({"id": 555, "type": "private", "first_name": "赵"})
    message = await app.bot.send_message(555, "通知")
    assert message.chat.first_name == "赵" and message.message_id == 1


async def test_blocked_user_gives_forbidden(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory, errors: list[BaseException]
) -> None:
    api.register_chat(TgUser(id=31, first_name="陈").private_chat())
    api.block(31)

    async def action(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await context.bot.send_message(31, "提醒")

    await run_action(app, factory, action)
    assert_refused(api, errors, Forbidden, "Forbidden: bot was blocked by the user")
    api.unblock(31)
    assert (await app.bot.send_message(31, "提醒")).text == "提醒"


async def test_kicked_from_group_gives_forbidden(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory
) -> None:
    group = factory.group("盟市科协", supergroup=True)
    api.block(group["id"])
    with refused(api, Forbidden, "Forbidden: bot was kicked from the supergroup chat"):
        await app.bot.send_message(group["id"], "hi")


async def test_edit_to_identical_content_is_not_modified(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory, errors: list[BaseException]
) -> None:
    await feed(app, factory.command(USER, "/day"))
    sent = api.last_message(USER.id)

    async def action(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        # Same text after parsing and the same keyboard: Telegram compares parsed content.
        await context.bot.edit_message_text(
            "<b>哪天？</b>", USER.id, sent["message_id"], parse_mode="HTML", reply_markup=KEYBOARD
        )

    await run_action(app, factory, action)
    assert_refused(
        api,
        errors,
        BadRequest,
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message",
    )


async def test_edit_without_markup_removes_the_keyboard(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory
) -> None:
    await feed(app, factory.command(USER, "/day"))
    sent = api.last_message(USER.id)
    edited = await app.bot.edit_message_text(
        "<b>哪天？</b>", USER.id, sent["message_id"], parse_mode="HTML"
    )
    assert edited.reply_markup is None
    stored = api.messages[(USER.id, sent["message_id"])]
    assert "reply_markup" not in stored and stored["edit_date"] == NOW


async def test_edit_missing_or_deleted_message_is_not_found(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory, errors: list[BaseException]
) -> None:
    await feed(app, factory.message(USER, "hello"))
    sent = api.last_message(USER.id)
    assert await app.bot.delete_message(USER.id, sent["message_id"]) is True
    assert api.messages[(USER.id, sent["message_id"])]["deleted"] is True
    assert api.last_message(USER.id) is None

    async def action(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await context.bot.edit_message_text("new", USER.id, sent["message_id"])

    await run_action(app, factory, action)
    assert_refused(api, errors, BadRequest, "Bad Request: message to edit not found")
    with refused(api, BadRequest, "Bad Request: message to delete not found"):
        await app.bot.delete_message(USER.id, sent["message_id"])
    with refused(api, BadRequest, "Bad Request: message to edit not found"):
        await app.bot.edit_message_reply_markup(USER.id, 999)


async def test_user_messages_cannot_be_edited_by_the_bot(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory
) -> None:
    incoming = factory.message(USER, "我的消息")["message"]
    with refused(api, BadRequest, "Bad Request: message can't be edited"):
        await app.bot.edit_message_text("改", USER.id, incoming["message_id"])


async def test_editing_text_of_a_photo_and_caption_of_a_text(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory
) -> None:
    api.register_chat(USER.private_chat())
    photo = await app.bot.send_photo(USER.id, b"img", caption="旧")
    text = await app.bot.send_message(USER.id, "文字")
    with refused(api, BadRequest, "Bad Request: there is no text in the message to edit"):
        await app.bot.edit_message_text("x", USER.id, photo.message_id)
    with refused(api, BadRequest, "Bad Request: there is no caption in the message to edit"):
        await app.bot.edit_message_caption(USER.id, text.message_id, caption="x")
    edited = await app.bot.edit_message_caption(
        USER.id, photo.message_id, caption="<i>新</i>", parse_mode="HTML"
    )
    assert edited.caption == "新" and edited.caption_entities[0].type == "italic"


async def test_unknown_or_twice_answered_callback_query(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory, errors: list[BaseException]
) -> None:
    async def action(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await context.bot.answer_callback_query("123456")

    await run_action(app, factory, action)
    assert_refused(
        api,
        errors,
        BadRequest,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    )
    await feed(app, factory.command(USER, "/day"))
    update = factory.callback(USER, "day:0", api.last_message(USER.id))
    await feed(app, update)
    with refused(
        api,
        BadRequest,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    ):
        await app.bot.answer_callback_query(update["callback_query"]["id"])


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBUserWarning")
async def test_strict_check_rejects_missing_and_unknown_parameters(
    app: Application, api: OfflineBotAPI
) -> None:
    api.register_chat(USER.private_chat())
    with refused(api, BadRequest, "Bad Request: message text is empty"):
        await app.bot.do_api_request("send_message", api_kwargs={"chat_id": USER.id})
    with refused(api, BadRequest, "Bad Request: chat_id is empty"):
        await app.bot.do_api_request("send_message", api_kwargs={"text": "x"})
    with refused(
        api,
        BadRequest,
        'Bad Request: unknown parameter "colour" for sendMessage (offline API strict check)',
    ):
        await app.bot.send_message(USER.id, "x", api_kwargs={"colour": "red"})
    with refused(
        api,
        BadRequest,
        'Bad Request: parameter "message_id" must be Integer (offline API strict check)',
    ):
        await app.bot.do_api_request(
            "delete_message", api_kwargs={"chat_id": USER.id, "message_id": "one"}
        )
    assert api.calls[-1].error["description"].startswith('Bad Request: parameter "message_id"')


async def test_unknown_method_is_404(app: Application, api: OfflineBotAPI) -> None:
    with pytest.raises(EndPointNotFound):
        await app.bot.do_api_request("frobnicate_chat")
    assert api.calls[-1].error == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_spec_method_without_offline_support_is_a_clear_400(
    app: Application, api: OfflineBotAPI
) -> None:
    with refused(
        api,
        BadRequest,
        "Bad Request: method getChatAdministrators is not supported by the offline Bot API",
    ):
        await app.bot.get_chat_administrators(USER.id)


# --- replies, groups, keyboards -------------------------------------------------------------


async def test_group_replies_quote_the_incoming_message(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory
) -> None:
    group = factory.group()
    update = factory.message(USER, "大家好", chat=group)
    await feed(app, update)
    reply = api.last_message(group["id"])
    assert group["id"] < 0 and reply["chat"]["type"] == "group"
    assert reply["reply_to_message"]["message_id"] == update["message"]["message_id"]
    assert reply["reply_to_message"]["from"]["id"] == USER.id


async def test_reply_to_a_missing_message(app: Application, api: OfflineBotAPI) -> None:
    api.register_chat(USER.private_chat())
    with refused(api, BadRequest, "Bad Request: message to be replied not found"):
        await app.bot.send_message(USER.id, "x", reply_to_message_id=77)
    sent = await app.bot.send_message(
        USER.id, "x", reply_to_message_id=77, allow_sending_without_reply=True
    )
    assert sent.reply_to_message is None


async def test_reply_keyboard_is_tracked_until_removed(
    app: Application, api: OfflineBotAPI
) -> None:
    api.register_chat(USER.private_chat())
    sent = await app.bot.send_message(
        USER.id, "确认？", reply_markup=ReplyKeyboardMarkup([["是", "否"]])
    )
    assert sent.reply_markup is None  # Telegram echoes only inline keyboards
    assert api.reply_keyboards[USER.id][0] == sent.message_id
    await app.bot.send_message(USER.id, "好", reply_markup={"remove_keyboard": True})
    assert USER.id not in api.reply_keyboards


async def test_text_only_inline_button_is_refused(app: Application, api: OfflineBotAPI) -> None:
    api.register_chat(USER.private_chat())
    with refused(
        api,
        BadRequest,
        "Bad Request: can't parse inline keyboard button: "
        "Text buttons are unallowed in the inline keyboard",
    ):
        await app.bot.send_message(
            USER.id, "x", reply_markup={"inline_keyboard": [[{"text": "光"}]]}
        )


async def test_callback_button_round_trip(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory
) -> None:
    await feed(app, factory.command(USER, "/day"))
    await feed(app, factory.callback(USER, "day:1", api.last_message(USER.id)))
    answer = api.calls_to("answerCallbackQuery")[-1]
    assert answer.ok and answer.params["text"] == "选了 day:1"
    assert api.last_message(USER.id)["text"] == "已选 day:1"


# --- files ----------------------------------------------------------------------------------


async def test_uploaded_photo_downloads_to_the_same_bytes(
    app: Application, api: OfflineBotAPI, tmp_path: Path
) -> None:
    api.register_chat(USER.private_chat())
    data = png(1600, 1200)
    message = await app.bot.send_photo(USER.id, data, caption="活动照片")
    assert api.calls_to("sendPhoto")[-1].files == {"photo": data}
    sizes = message.photo
    assert [(s.width, s.height) for s in sizes] == [(90, 68), (320, 240), (800, 600), (1280, 960)]
    assert all(s.file_size == len(data) for s in sizes)
    file = await app.bot.get_file(sizes[-1].file_id)
    assert file.file_path.endswith(".jpg")
    assert bytes(await file.download_as_bytearray()) == data
    target = await file.download_to_drive(tmp_path / "p.jpg")
    assert target.read_bytes() == data
    buffer = io.BytesIO()
    await file.download_to_memory(buffer)
    assert buffer.getvalue() == data


async def test_small_image_keeps_its_size(app: Application, api: OfflineBotAPI) -> None:
    api.register_chat(USER.private_chat())
    message = await app.bot.send_photo(USER.id, png(60, 40))
    assert [(s.width, s.height) for s in message.photo] == [(60, 40)]


async def test_document_upload_keeps_name_and_type_and_can_be_resent(
    app: Application, api: OfflineBotAPI
) -> None:
    api.register_chat(USER.private_chat())
    first = await app.bot.send_document(USER.id, io.BytesIO(b"%PDF-1.4"), filename="报告.pdf")
    document = first.document
    assert (document.file_name, document.mime_type, document.file_size) == (
        "报告.pdf",
        "application/pdf",
        8,
    )
    again = await app.bot.send_document(USER.id, document.file_id)
    assert again.document.file_id == document.file_id
    assert bytes(await (await again.document.get_file()).download_as_bytearray()) == b"%PDF-1.4"
    with refused(api, BadRequest, "Bad Request: type of file mismatch"):
        await app.bot.send_photo(USER.id, document.file_id)
    with refused(api, BadRequest, "Bad Request: wrong file identifier/HTTP URL specified"):
        await app.bot.send_document(USER.id, "no-such-file-id")
    with refused(api, BadRequest, "Bad Request: failed to get HTTP URL content"):
        await app.bot.send_photo(USER.id, "https://example.org/x.jpg")
    with refused(api, BadRequest, "Bad Request: invalid file_id"):
        await app.bot.get_file("no-such-file-id")


async def test_incoming_photo_can_be_downloaded_by_a_handler(
    api: OfflineBotAPI, factory: UpdateFactory
) -> None:
    received: list[bytes] = []
    application = ApplicationBuilder().token("123:TEST").request(api).updater(None).build()

    async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        file = await update.message.photo[-1].get_file()
        received.append(bytes(await file.download_as_bytearray()))
        await update.message.reply_document(received[-1], filename="back.jpg")

    application.add_handler(MessageHandler(filters.PHOTO, on_photo))
    async with application:
        await feed(application, factory.photo(USER, b"\xff\xd8fake-jpeg", caption="签到"))
    assert received == [b"\xff\xd8fake-jpeg"]
    assert api.calls_to("sendDocument")[-1].files == {"document": b"\xff\xd8fake-jpeg"}


async def test_media_group_makes_one_message_per_item(
    app: Application, api: OfflineBotAPI
) -> None:
    api.register_chat(USER.private_chat())
    messages = await app.bot.send_media_group(
        USER.id, [InputMediaPhoto(b"a", caption="一"), InputMediaPhoto(b"b")]
    )
    assert [m.message_id for m in messages] == [1, 2]
    assert messages[0].media_group_id == messages[1].media_group_id
    assert messages[0].caption == "一"
    file = await app.bot.get_file(messages[1].photo[-1].file_id)
    assert bytes(await file.download_as_bytearray()) == b"b"


# --- other methods --------------------------------------------------------------------------


async def test_commands_are_stored_per_scope_and_language(
    app: Application, api: OfflineBotAPI
) -> None:
    scope = BotCommandScopeAllPrivateChats()
    await app.bot.set_my_commands([BotCommand("start", "开始")])
    await app.bot.set_my_commands(
        [BotCommand("report", "Report")], scope=scope, language_code="en"
    )
    assert [c.command for c in await app.bot.get_my_commands()] == ["start"]
    assert [c.command for c in await app.bot.get_my_commands(scope=scope, language_code="en")] == [
        "report"
    ]
    assert await app.bot.get_my_commands(scope=scope) == ()
    assert api.my_commands({"type": "all_private_chats"}, "en") == [
        {"command": "report", "description": "Report"}
    ]
    await app.bot.delete_my_commands(scope=scope, language_code="en")
    assert api.my_commands({"type": "all_private_chats"}, "en") == []
    with refused(api, BadRequest, "Bad Request: BOT_COMMAND_INVALID"):
        await app.bot.set_my_commands([BotCommand("Start", "x")])
    with refused(api, BadRequest, "Bad Request: command description must be non-empty"):
        await app.bot.set_my_commands([BotCommand("start", " ")])


async def test_get_updates_honours_offset_and_never_blocks(
    app: Application, api: OfflineBotAPI
) -> None:
    factory = UpdateFactory(api)
    for text in ("一", "二", "三"):
        api.enqueue_update(factory.message(USER, text))
    updates = await app.bot.get_updates(timeout=30)
    assert [u.message.text for u in updates] == ["一", "二", "三"]
    later = await app.bot.get_updates(offset=updates[1].update_id + 1)
    assert [u.message.text for u in later] == ["三"]
    assert await app.bot.get_updates(offset=later[0].update_id + 1, timeout=50) == ()
    assert (await app.bot.get_webhook_info()).pending_update_count == 0


async def test_webhook_blocks_get_updates(app: Application, api: OfflineBotAPI) -> None:
    assert await app.bot.set_webhook("https://bot.example/hook")
    info = await app.bot.get_webhook_info()
    assert info.url == "https://bot.example/hook"
    with refused(
        api,
        Conflict,
        "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first",
    ):
        await app.bot.get_updates()
    assert await app.bot.delete_webhook()
    assert (await app.bot.get_webhook_info()).url == ""
    assert await app.bot.close() is True and await app.bot.log_out() is True


async def test_copy_forward_pin_chat_and_menu(
    app: Application, api: OfflineBotAPI, factory: UpdateFactory
) -> None:
    source = factory.message(USER, "原文")["message"]
    admin = TgUser(id=8, first_name="管理员")
    api.register_chat(admin.private_chat())
    copied = await app.bot.copy_message(admin.id, USER.id, source["message_id"])
    assert api.messages[(admin.id, copied.message_id)]["text"] == "原文"
    forwarded = await app.bot.forward_message(admin.id, USER.id, source["message_id"])
    assert forwarded.forward_origin.sender_user.id == USER.id
    with refused(api, BadRequest, "Bad Request: message to copy not found"):
        await app.bot.copy_message(admin.id, USER.id, 999)
    assert await app.bot.pin_chat_message(admin.id, forwarded.message_id)
    assert api.pinned[admin.id] == forwarded.message_id
    chat = await app.bot.get_chat(USER.id)
    assert (chat.id, chat.type, chat.username) == (USER.id, "private", "wang_sta")
    assert await app.bot.set_chat_menu_button(USER.id, MenuButtonCommands())
    assert (await app.bot.get_chat_menu_button(USER.id)).type == "commands"
    assert await app.bot.send_chat_action(USER.id, "typing")
    with refused(api, BadRequest, "Bad Request: wrong parameter action in request"):
        await app.bot.send_chat_action(USER.id, "dancing")


async def test_method_names_are_case_insensitive_like_telegram(
    app: Application, api: OfflineBotAPI
) -> None:
    status, payload = await api.do_request("https://api.telegram.org/bot1:X/GETME", "POST")
    assert status == 200 and json.loads(payload)["result"]["id"] == BOT_ID


# --- concurrency ----------------------------------------------------------------------------


async def test_concurrent_senders_get_unique_ids(app: Application, api: OfflineBotAPI) -> None:
    api.register_chat(USER.private_chat())
    messages = await asyncio.gather(*(app.bot.send_message(USER.id, str(n)) for n in range(60)))
    assert sorted(m.message_id for m in messages) == list(range(1, 61))


def test_threads_share_one_consistent_state() -> None:
    api = OfflineBotAPI()
    api.register_chat(USER.private_chat())

    def worker() -> None:
        for _ in range(50):
            api.next_message_id(USER.id)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert api.next_message_id(USER.id) == 401


async def test_concurrent_updates_application(api: OfflineBotAPI, factory: UpdateFactory) -> None:
    application = (
        ApplicationBuilder()
        .token("123:TEST")
        .request(api)
        .updater(None)
        .concurrent_updates(True)
        .build()
    )

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(update.message.text)

    application.add_handler(MessageHandler(filters.TEXT, echo))
    users = [TgUser(id=100 + n, first_name=f"u{n}") for n in range(10)]
    async with application:
        await asyncio.gather(*(feed(application, factory.message(u, f"m{u.id}")) for u in users))
    assert sorted(api.last_message(u.id)["text"] for u in users) == sorted(
        f"m{u.id}" for u in users
    )


# --- the spec table and the formatter -------------------------------------------------------


def test_committed_spec_table_matches_the_generator() -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "telegram-bot-api-spec" / "api.json"
    if not shared.is_file():
        pytest.skip("shared spec not present")
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "gen_bot_api_spec", Path(__file__).resolve().parents[1] / "scripts" / "gen_bot_api_spec.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = module.compact(json.loads(shared.read_text(encoding="utf-8")))
    assert SPEC_PATH.read_text(encoding="utf-8") == module.render(table)
    assert len(table["methods"]) == 180


@pytest.mark.parametrize(
    ("text", "mode", "plain", "entities"),
    [
        ("<i>a</i><b>😀b</b>", "HTML", "a😀b", [("italic", 0, 1), ("bold", 1, 3)]),
        ('<pre><code class="language-py">x</code></pre>', "HTML", "x", [("pre", 0, 1)]),
        ("*粗* _斜_ \\(括号\\)", "MarkdownV2", "粗 斜 (括号)", [("bold", 0, 1), ("italic", 2, 1)]),
        ("[链接](https://a.example)", "MarkdownV2", "链接", [("text_link", 0, 2)]),
        ("*粗* `码`", "Markdown", "粗 码", [("bold", 0, 1), ("code", 2, 1)]),
        ("  <b> 前后 </b>  ", "HTML", "前后", [("bold", 0, 2)]),
    ],
)
def test_parse_text(
    text: str, mode: str, plain: str, entities: list[tuple[str, int, int]]
) -> None:
    got_plain, got_entities = parse_text(text, mode)
    assert got_plain == plain
    assert [(e["type"], e["offset"], e["length"]) for e in got_entities] == entities
    assert all(e["offset"] + e["length"] <= utf16_len(got_plain) for e in got_entities)
