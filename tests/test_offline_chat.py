"""``stabot chat`` end to end: two sessions on one database both get answers."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

import pytest

from bot.runtime import runtime_of
from bot.scheduler import DISPATCH_JOB
from offline.bot_api import ApiCall
from offline.chat import chat_settings, run_offline_chat
from tests.harness import running_bot
from tests.test_reminders_remind import LIAISON, member  # noqa: F401 - member is a fixture
from tests.test_scheduler import empty_job_store


async def test_a_second_chat_session_is_not_mistaken_for_duplicates(settings):
    # run_offline_chat turns the delivery pipeline on unless the settings say otherwise.
    delivery = settings.delivery.model_copy(update={"autostart": False})
    settings = settings.model_copy(update={"delivery": delivery})
    outputs = []
    for _ in range(2):
        stdout = io.StringIO()
        await run_offline_chat(settings, user_id=10001, name="联络员", language="zh-hans",
                               stdin=io.StringIO("/help\n/quit\n"), stdout=stdout)
        outputs.append(stdout.getvalue())
    assert all("/help — 帮助" in output for output in outputs)


async def test_a_resumed_session_shows_the_last_message_and_its_buttons_still_work(
    settings, monkeypatch, tmp_path
):
    monkeypatch.setenv("BROADCAST_AUTOSTART", "0")
    history = tmp_path / "history" / "10001.json"

    async def session(lines: str) -> str:
        stdout = io.StringIO()
        await run_offline_chat(settings, user_id=10001, name="联络员", language="zh-hans",
                               stdin=io.StringIO(lines), stdout=stdout, history=history)
        return stdout.getvalue()

    first = await session("/lang\n/quit\n")
    second = await session("2\n/quit\n")

    assert "上次的对话" not in first
    resumed = second.split("you>")[0]
    assert "上次的对话" in resumed and "[2]" in resumed
    assert "Bot API" not in second  # the old message is still there to edit
    assert "Language set to English." in second  # button 2 of the old message, pressed


@pytest.mark.usefixtures("member")
async def test_the_chat_runs_the_scheduler_and_a_due_reminder_arrives(settings, clock):
    """Without a token `stabot chat` still starts what `stabot run` would: the scheduler's
    stored per-minute job hands the due /remind over and the pipeline sends it to the chat."""
    empty_job_store(settings)
    async with running_bot(chat_settings(settings), clock) as bot:
        service = runtime_of(bot.app).reminders
        assert service.scheduler is not None and service.scheduler.running
        assert runtime_of(bot.app).delivery.running
        await bot.text(LIAISON, "/remind 1分钟后 交表")
        arrived: asyncio.Future[ApiCall] = asyncio.get_running_loop().create_future()
        loop = asyncio.get_running_loop()

        def listener(call: ApiCall) -> None:
            if call.method == "sendMessage" and "交表" in call.params.get("text", ""):
                loop.call_soon_threadsafe(lambda: arrived.done() or arrived.set_result(call))

        bot.api.add_listener(listener)
        clock.advance(timedelta(minutes=2))
        # APScheduler wakes on the wall clock: due now instead of at the next minute.
        service.scheduler.modify_job(DISPATCH_JOB, next_run_time=datetime.now(UTC))
        call = await asyncio.wait_for(arrived, timeout=10)
        await bot.app.post_shutdown(bot.app)
    assert call.params["chat_id"] == LIAISON.id


def test_settings_set_explicitly_are_kept(settings):
    settings.reminders.scheduler = False
    settings.delivery.autostart = False
    chosen = chat_settings(settings)
    assert (chosen.reminders.scheduler, chosen.delivery.autostart) == (False, False)
