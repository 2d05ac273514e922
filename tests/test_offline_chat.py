"""``stabot chat`` end to end: two sessions on one database both get answers."""

from __future__ import annotations

import io

from bot.offline_chat import run_offline_chat


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
