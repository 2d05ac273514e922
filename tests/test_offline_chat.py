"""``stabot chat`` end to end: two sessions on one database both get answers."""

from __future__ import annotations

import io

from offline.chat import run_offline_chat


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
