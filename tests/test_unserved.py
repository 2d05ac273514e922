"""Updates the bot does not serve are set aside quietly; buttons of no family get a toast."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import func, select

from offline.updates import TgUser
from storage.db import transaction
from storage.inbox_models import InboxUpdate
from storage.models import User
from tests.harness import inbox_bot, running_bot, toasts
from tests.update_strategies import ANONYMOUS_ADMIN, SERVICE_USER

LI = TgUser(id=71001, first_name="联络员")
EN = TgUser(id=71002, first_name="Officer", language_code="en")
CHANNEL = {"id": -1001000000202, "type": "channel", "title": "科协通知"}
GROUP = {"id": -4000000101, "type": "group", "title": "科协工作群"}


def _message(text: str, chat: dict, **fields) -> dict:
    entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {
        "message_id": 7,
        "date": 1773626400,
        "chat": chat,
        "text": text,
        "entities": entities if text.startswith("/") else [],
        **fields,
    }


UNSERVED = {
    "channel post": {"channel_post": _message("/help", CHANNEL, sender_chat=CHANNEL)},
    "edited channel post": {
        "edited_channel_post": _message("/stats", CHANNEL, sender_chat=CHANNEL, edit_date=1)
    },
    "anonymous group admin": {
        "message": _message("/help", GROUP, sender_chat=GROUP, **{"from": ANONYMOUS_ADMIN})
    },
    "channel's automatic forward": {
        "message": _message(
            "/tasks",
            GROUP,
            sender_chat=CHANNEL,
            is_automatic_forward=True,
            **{"from": SERVICE_USER},
        )
    },
    "message without a sender": {"message": _message("/me", GROUP)},
    "members joined": {
        "message": {
            "message_id": 8,
            "date": 1,
            "chat": GROUP,
            "from": LI.to_dict(),
            "new_chat_members": [LI.to_dict()],
        }
    },
    "pinned in private": {
        "message": {
            "message_id": 9,
            "date": 1,
            "chat": LI.private_chat(),
            "from": LI.to_dict(),
            "pinned_message": {"chat": LI.private_chat(), "message_id": 3, "date": 0},
        }
    },
    "inline query": {
        "inline_query": {"id": "1", "from": LI.to_dict(), "query": "x", "offset": ""}
    },
    "join request": {
        "chat_join_request": {
            "chat": GROUP,
            "from": LI.to_dict(),
            "user_chat_id": LI.id,
            "date": 1,
        }
    },
    "reaction": {
        "message_reaction": {
            "chat": GROUP,
            "message_id": 1,
            "user": LI.to_dict(),
            "date": 1,
            "old_reaction": [],
            "new_reaction": [{"type": "emoji", "emoji": "👍"}],
        }
    },
    "poll answer": {
        "poll_answer": {
            "poll_id": "p",
            "user": LI.to_dict(),
            "option_ids": [0],
            "option_persistent_ids": ["a"],
        }
    },
}


async def _counts(sessions) -> tuple[int, int]:
    async with transaction(sessions) as session:
        users = (await session.exec(select(func.count()).select_from(User))).one()
        seen = (await session.exec(select(func.count()).select_from(InboxUpdate))).one()
    return users, seen


@pytest.mark.parametrize("kind", sorted(UNSERVED))
async def test_unserved_updates_are_set_aside_quietly(settings, clock, sessions, caplog, kind):
    caplog.set_level(logging.DEBUG)
    async with running_bot(settings, clock) as bot:
        bot.api.register_chat(GROUP)
        bot.api.register_chat(CHANNEL)
        calls = await bot.feed({"update_id": 500, **UNSERVED[kind]})
    assert calls == []
    assert await _counts(sessions) == (0, 0)  # no user row, not even the update id
    noted = [r for r in caplog.records if r.name == "bot.telegram.handlers.unserved"]
    assert [r.levelno for r in noted] == [logging.DEBUG]
    assert not [
        r for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("bot")
    ]


@pytest.mark.parametrize(
    ("user", "toast"), [(LI, "这个按钮已失效。"), (EN, "This button no longer works.")]
)
async def test_button_under_an_inline_message_gets_the_stale_toast(
    settings, clock, sessions, user, toast
):
    async with running_bot(settings, clock) as bot:
        calls = await bot.feed(bot.factory.forged_callback(user, "ask-more:1"))
    assert toasts(calls) == [toast]
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert await _counts(sessions) == (0, 0)


@pytest.mark.parametrize(
    "data",
    [
        "ask-more:x",
        "ask-section:",
        "zzz",
        "task:zzz:1",
        "task:submission:1",
        "task:fill:1:2",
        "reminder-delete:99999999999999999999",
        "read:" + "9" * 59,
        "bca|" + "9" * 60,  # a family's data from before the typed families, forged
        "log:open:²",
        "stats:s:month:99999999999",
        "notice:1:zz",
        "lang:xx",
        "doc",
        "doc:remove",
        "access:1:maybe",
        "members:1:x:0",
        # Buttons sent before the typed families, still in chats: old, not an error.
        "st|req",
        "f|abcd0|c|0",
        "act|page|0",
        "bc|1|w",
        "rmd|1",
    ],
)
async def test_forged_data_of_any_family_gets_the_stale_toast(settings, clock, sessions, data):
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, "/lang")  # any message of the bot's will do to press under
        message = bot.keyboard_message(LI.id)
        calls = await bot.feed(bot.factory.forged_callback(LI, data, message))
    assert toasts(calls) == ["这个按钮已失效。"]
    assert [c.method for c in calls] == ["answerCallbackQuery"]


@pytest.mark.parametrize("kind", ["channel post", "anonymous group admin", "inline query"])
async def test_unserved_updates_through_the_inbox_are_marked_done(
    settings, clock, sessions, caplog, kind
):
    # In `stabot run` the dispatcher marks an update done once its handlers end, so one the
    # bot sets aside never stays pending (and never blocks its chat).
    caplog.set_level(logging.DEBUG)
    async with inbox_bot(settings, clock) as bot:
        bot.api.register_chat(GROUP)
        bot.api.register_chat(CHANNEL)
        before = len(bot.api.calls)  # start-up calls (getMe, the command menus)
        await bot.receive({"update_id": 501, **UNSERVED[kind]})
        await bot.settle()
        calls = bot.api.calls[before:]
    async with transaction(sessions) as session:
        row = await session.get(InboxUpdate, 501)
        users = (await session.exec(select(func.count()).select_from(User))).one()
    assert row is not None and row.done_at is not None and not row.gave_up
    assert users == 0 and calls == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
