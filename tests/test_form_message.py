"""The form remembers which message shows it, so a new message takes the keyboard off the old."""

from __future__ import annotations

import json

import pytest

from bot.app import FORMS
from bot.flows import engine
from bot.services import orgs
from offline.updates import TgUser
from storage import conversations_repo, users_repo
from storage.db import transaction
from storage.models import Role
from tests.harness import running_bot

LI = TgUser(id=32001, first_name="小李")


@pytest.fixture
async def li(sessions, clock):
    async with transaction(sessions) as session:
        tree = {o.name: o for o in await orgs.create_demo_tree(session, now=clock.now())}
        row = await users_repo.upsert_user(
            session=session, telegram_id=LI.id, username=None, now=clock.now()
        )
        row.real_name, row.org_id, row.role = "李明", tree["青山区科协"].id, Role.LIAISON
        row.registered_at = clock.now()


async def saved(sessions) -> dict:
    async with transaction(sessions) as session:
        row = await conversations_repo.get_state(session=session, chat_id=LI.id, user_id=LI.id)
        return json.loads(row.data)


def with_keyboard(bot) -> list[int]:
    return [
        m["message_id"]
        for m in bot.api.sent_messages(LI.id)
        if (m.get("reply_markup") or {}).get("inline_keyboard")
    ]


async def test_the_form_message_id_survives_a_restart(settings, clock, sessions, li):
    async with running_bot(settings, clock) as first:
        await first.text(LI, "/log")
        await first.press(LI, "科普讲座")
        await first.text(LI, "科技助力乡村振兴")  # typed: a new message shows the form
        shown = first.keyboard_message(LI.id)["message_id"]
        assert (await saved(sessions))["message_id"] == shown
        assert with_keyboard(first) == [shown]
    async with running_bot(settings, clock, after=first) as second:
        form_message = first.keyboard_message(LI.id)
        second.api.observe_update({"update_id": 0, "message": form_message})
        await second.press(LI, "昨天", message=form_message)
        await second.text(LI, "青山区社区")
        newest = second.keyboard_message(LI.id)["message_id"]
        assert with_keyboard(second) == [newest]  # the form message before it lost its keyboard
        assert (await saved(sessions))["message_id"] == newest


async def test_a_state_changed_meanwhile_keeps_its_answers_and_gets_the_id(
    settings, clock, sessions, li
):
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, "/log")
        await bot.press(LI, "科普讲座")
        await bot.text(LI, "科技助力乡村振兴")
    state = await saved(sessions)
    state["data"]["title"] = "另一个标题"  # written by another worker after this update saved
    async with transaction(sessions) as session:
        row = await conversations_repo.get_state(session=session, chat_id=LI.id, user_id=LI.id)
        changed = json.dumps(state, ensure_ascii=False)
        assert await conversations_repo.replace_data(
            session=session, chat_id=LI.id, user_id=LI.id, old=row.data, new=changed
        )
    async with transaction(sessions) as session:
        await engine.remember_message(
            session, engine.by_name(FORMS), chat_id=LI.id, user_id=LI.id, message_id=4242
        )
    after = await saved(sessions)
    assert after["message_id"] == 4242 and after["data"]["title"] == "另一个标题"


async def test_a_finished_form_sends_the_menu_only_when_it_changed_it(settings, clock, li):
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, "/log")
        calls = await bot.press(LI, "取消")  # finished, and nothing the menu shows changed
        assert calls and "setMyCommands" not in [c.method for c in calls]


async def test_a_press_under_an_inaccessible_message_sends_the_step_anew(
    settings, clock, sessions, li
):
    async with running_bot(settings, clock) as bot:
        await bot.text(LI, "/log")
        shown = bot.keyboard_message(LI.id)
        data = shown["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        # Telegram sends an InaccessibleMessage (date 0) once the bot cannot see the message.
        gone = {"chat": shown["chat"], "message_id": shown["message_id"], "date": 0}
        calls = await bot.feed(bot.factory.forged_callback(LI, data, gone))
    methods = [c.method for c in calls]
    assert "editMessageText" not in methods and "sendMessage" in methods
    assert (await saved(sessions))["message_id"] == calls[methods.index("sendMessage")].result[
        "message_id"
    ]


async def _store(sessions, clock, step: str, raw: dict) -> None:
    async with transaction(sessions) as session:
        await conversations_repo.save_state(
            session=session,
            chat_id=LI.id,
            user_id=LI.id,
            flow="activity",
            step=step,
            data=json.dumps(raw, ensure_ascii=False),
            now=clock.now(),
        )


async def _step(sessions) -> str:
    async with transaction(sessions) as session:
        row = await conversations_repo.get_state(session=session, chat_id=LI.id, user_id=LI.id)
        return row.step


async def test_a_form_stored_by_the_code_before_resumes(settings, clock, sessions, li):
    # The state exactly as the engine wrote it before transitions were declared per form.
    before = {
        "data": {"type": "科普讲座"},
        "ctx": {},
        "options": [],
        "editing": False,
        "pending_cancel": False,
        "instance": "ab12",
        "counter": 2,
        "message_id": None,
        "fill_missing": False,
    }
    answered = {
        "type": "科普讲座",
        "title": "旧标题",
        "day": "2026-03-01",
        "place": "青山区",
        "org_id": 1,
        "participants": 30,
        "audience": [],
        "brief": None,
        "photos": [],
    }
    async with running_bot(settings, clock) as bot:
        await _store(sessions, clock, "title", before)
        await bot.text(LI, "科技助力乡村振兴")
        assert await _step(sessions) == "day"
        assert (await saved(sessions))["data"]["title"] == "科技助力乡村振兴"
        # Half-way through an edit from the summary: the new title leads back to the summary.
        await _store(sessions, clock, "title", {**before, "data": answered, "editing": True})
        await bot.text(LI, "新的活动标题")
        assert await _step(sessions) == "summary"
        assert (await saved(sessions))["editing"] is False
