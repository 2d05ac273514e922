"""UpdateFactory builds Telegram's exact Update JSON and keeps the offline API in step."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot, TelegramObject, Update

from offline.bot_api import OfflineBotAPI
from offline.updates import TgUser, UpdateFactory, to_update

NOW = 1_764_000_000
USER = TgUser(id=4242, first_name="王", username="wang_sta")
SHARED_SPEC = Path(__file__).resolve().parents[2] / "shared" / "telegram-bot-api-spec" / "api.json"
SCALARS = {
    "Integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "String": lambda v: isinstance(v, str),
    "Boolean": lambda v: isinstance(v, bool),
    "True": lambda v: v is True,
}


@pytest.fixture
def api() -> OfflineBotAPI:
    return OfflineBotAPI(clock=lambda: NOW)


@pytest.fixture
def factory(api: OfflineBotAPI) -> UpdateFactory:
    return UpdateFactory(api)


@pytest.fixture
def bot(api: OfflineBotAPI) -> Bot:
    return Bot("123:TEST", request=api)


@cache
def spec_types() -> dict[str, Any]:
    return json.loads(SHARED_SPEC.read_text(encoding="utf-8"))["types"]


def shape_errors(value: Any, type_name: str, path: str = "update") -> list[str]:
    """Where ``value`` departs from the Bot API spec's ``type_name`` (empty when it fits)."""
    if type_name.startswith("Array of "):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        inner = type_name.removeprefix("Array of ")
        return [
            e for i, item in enumerate(value) for e in shape_errors(item, inner, f"{path}[{i}]")
        ]
    if type_name in SCALARS:
        return [] if SCALARS[type_name](value) else [f"{path}: not {type_name}"]
    spec = spec_types()[type_name]
    if spec.get("subtypes"):
        attempts = [shape_errors(value, sub, path) for sub in spec["subtypes"]]
        return [] if any(not a for a in attempts) else min(attempts, key=len)
    return _object_errors(value, spec, path)


def _object_errors(value: Any, spec: dict[str, Any], path: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: expected an object"]
    fields = {f["name"]: f for f in spec.get("fields", [])}
    errors = [f"{path}.{key}: not in the spec" for key in value if key not in fields]
    errors += [
        f"{path}.{n}: missing" for n, f in fields.items() if f["required"] and n not in value
    ]
    for key, item in value.items():
        if key in fields:
            attempts = [shape_errors(item, t, f"{path}.{key}") for t in fields[key]["types"]]
            if all(attempts):
                errors += min(attempts, key=len)
    return errors


def unknown_fields(obj: TelegramObject) -> list[str]:
    """Fields PTB did not recognise anywhere in a parsed object (PTB keeps them in api_kwargs)."""
    found = [f"{type(obj).__name__}: {sorted(obj.api_kwargs)}"] if obj.api_kwargs else []
    for name in obj.__slots__ if hasattr(obj, "__slots__") else ():
        value = getattr(obj, name, None)
        children = value if isinstance(value, tuple) else (value,)
        for child in children:
            if isinstance(child, TelegramObject):
                found += unknown_fields(child)
    return found


def every_kind(factory: UpdateFactory, api: OfflineBotAPI) -> list[dict[str, Any]]:
    """One update of each kind the factory makes."""
    group = factory.group("盟市科协", supergroup=True)
    api.register_chat(USER.private_chat())
    api.messages[(USER.id, 99)] = {
        "message_id": 99,
        "from": {"id": 7000000001, "is_bot": True, "first_name": "stabot"},
        "chat": USER.private_chat(),
        "date": NOW,
        "text": "选",
        "reply_markup": {"inline_keyboard": [[{"text": "甲", "callback_data": "a"}]]},
    }
    first = factory.message(USER, "你好")
    return [
        first,
        factory.command(USER, "/start", args="abc"),
        factory.command(USER, "report", args=["2024", "12"], chat=group, mention=True),
        factory.message(USER, "大家好", chat=factory.group()),
        factory.edited_message(USER, first, "你好！"),
        factory.photo(USER, b"\x89PNG", caption="现场"),
        factory.document(USER, b"%PDF", "总结.pdf", "application/pdf"),
        factory.sticker(USER),
        factory.callback(USER, "a", api.messages[(USER.id, 99)]),
        factory.message(USER, "回复", reply_to=first["message"]),
        factory.my_chat_member(USER),
    ]


def test_updates_match_the_bot_api_spec(factory: UpdateFactory, api: OfflineBotAPI) -> None:
    if not SHARED_SPEC.is_file():
        pytest.skip("shared spec not present")
    for update in every_kind(factory, api):
        assert shape_errors(update, "Update") == [], update


def test_ptb_parses_every_field(factory: UpdateFactory, api: OfflineBotAPI, bot: Bot) -> None:
    for data in every_kind(factory, api):
        update = to_update(data, bot)
        assert unknown_fields(update) == [], data
        assert update.effective_user.id == USER.id


def test_update_and_message_ids_increase(factory: UpdateFactory) -> None:
    other = TgUser(id=7, first_name="李")
    updates = [factory.message(USER, "1"), factory.message(other, "2"), factory.message(USER, "3")]
    assert [u["update_id"] for u in updates] == [1, 2, 3]
    assert [u["message"]["message_id"] for u in updates] == [1, 1, 2]
    assert {u["message"]["date"] for u in updates} == {NOW}


def test_message_ids_continue_after_the_bot_spoke(
    factory: UpdateFactory, api: OfflineBotAPI
) -> None:
    factory.message(USER, "1")
    assert api.next_message_id(USER.id) == 2  # the bot's reply
    assert factory.message(USER, "3")["message"]["message_id"] == 3


def test_user_and_private_chat_omit_absent_fields() -> None:
    user = TgUser(id=1, first_name="张", language_code=None)
    assert user.to_dict() == {"id": 1, "is_bot": False, "first_name": "张"}
    assert user.private_chat() == {"id": 1, "type": "private", "first_name": "张"}


def test_command_entity_counts_utf16(factory: UpdateFactory) -> None:
    message = factory.command(USER, "/start", args="报送 😀")["message"]
    assert message["text"] == "/start 报送 😀"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    plain = factory.message(USER, "/help@stabot_bot 一下")["message"]
    assert plain["entities"] == [{"type": "bot_command", "offset": 0, "length": 16}]
    assert "entities" not in factory.message(USER, "不是 /命令")["message"]


def test_group_commands_mention_the_bot(factory: UpdateFactory, bot: Bot) -> None:
    group = factory.group()
    supergroup = factory.group("大群", supergroup=True)
    assert group["type"] == "group" and group["id"] < 0
    assert supergroup["type"] == "supergroup" and str(supergroup["id"]).startswith("-100")
    data = factory.command(USER, "/report", chat=group, mention=True)
    assert data["message"]["text"] == "/report@stabot_bot"
    assert data["message"]["entities"][0]["length"] == len("/report@stabot_bot")
    assert to_update(data, bot).effective_chat.type == "group"


def test_factory_registers_chats_with_the_api(factory: UpdateFactory, api: OfflineBotAPI) -> None:
    group = factory.group()
    factory.message(USER, "hi")
    assert api.chats[USER.id]["type"] == "private"
    assert api.chats[group["id"]]["title"] == "科协工作群"


async def test_callback_query_is_answerable_once(
    factory: UpdateFactory, api: OfflineBotAPI, bot: Bot
) -> None:
    factory.message(USER, "/start")
    async with bot:
        sent = await bot.send_message(
            USER.id,
            "选",
            reply_markup={"inline_keyboard": [[{"text": "甲", "callback_data": "pick:a"}]]},
        )
        data = factory.callback(USER, "pick:a", api.messages[(USER.id, sent.message_id)])
        query = data["callback_query"]
        assert query["message"]["message_id"] == sent.message_id
        assert query["from"]["id"] == USER.id and query["data"] == "pick:a"
        assert await bot.answer_callback_query(query["id"], text="好")


def test_callback_refuses_data_the_message_does_not_offer(
    factory: UpdateFactory, api: OfflineBotAPI
) -> None:
    message = {
        "message_id": 5,
        "chat": USER.private_chat(),
        "date": NOW,
        "text": "x",
        "reply_markup": {"inline_keyboard": [[{"text": "甲", "callback_data": "a"}]]},
    }
    with pytest.raises(ValueError, match="no button with callback_data 'b'"):
        factory.callback(USER, "b", message)
    with pytest.raises(ValueError, match="deleted"):
        factory.callback(USER, "a", message | {"deleted": True})


async def test_user_files_download_through_the_bot(factory: UpdateFactory, bot: Bot) -> None:
    photo = factory.photo(USER, b"\x89PNG-bytes")["message"]["photo"]
    document = factory.document(USER, b"%PDF", "总结.pdf", "application/pdf")["message"][
        "document"
    ]
    assert document["file_name"] == "总结.pdf" and document["mime_type"] == "application/pdf"
    async with bot:
        for file_id, expected in (
            (photo[-1]["file_id"], b"\x89PNG-bytes"),
            (document["file_id"], b"%PDF"),
        ):
            file = await bot.get_file(file_id)
            assert bytes(await file.download_as_bytearray()) == expected


def test_edited_message_keeps_id_and_sets_edit_date(factory: UpdateFactory) -> None:
    original = factory.message(USER, "旧")
    edited = factory.edited_message(USER, original, "新")["edited_message"]
    assert edited["message_id"] == original["message"]["message_id"]
    assert (edited["text"], edited["edit_date"]) == ("新", NOW)


def test_my_chat_member_blocks_and_unblocks(factory: UpdateFactory, api: OfflineBotAPI) -> None:
    update = factory.my_chat_member(USER)["my_chat_member"]
    assert update["new_chat_member"]["status"] == "kicked" and USER.id in api.blocked
    factory.my_chat_member(USER, blocked=False)
    assert USER.id not in api.blocked


def test_factory_works_without_an_api(bot: Bot) -> None:
    factory = UpdateFactory(clock=lambda: NOW)
    data = factory.photo(USER, b"img")
    assert data["message"]["message_id"] == 1
    assert to_update(data, bot).message.photo[-1].file_id.startswith("AgAC")


def test_to_update_returns_a_ptb_update(factory: UpdateFactory, bot: Bot) -> None:
    update = to_update(factory.command(USER, "/start", args="abc"), bot)
    assert isinstance(update, Update)
    assert update.message.text == "/start abc" and update.message.get_bot() is bot


def test_formatting_from_the_app_reaches_forms_as_html():
    from bot.telegram.handlers.forms import to_input

    factory = UpdateFactory()
    user = TgUser(id=7, first_name="A")
    plain = to_update(factory.message(user, "通知 <b>重要</b>"), None).message
    styled = to_update(factory.message(user, "请按时报送", entities=[
        {"type": "bold", "offset": 2, "length": 2}]), None).message
    assert to_input(plain).html is None and to_input(plain).text == "通知 <b>重要</b>"
    assert to_input(styled).html == "请按<b>时报</b>送"
