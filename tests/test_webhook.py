"""Webhook mode: our endpoint on loopback checks Telegram's secret token and answers 200 only
once the update is stored in the inbox; a redelivery of a stored update is not handled again."""

from __future__ import annotations

import socket

import httpx

from bot.telegram.inbox.webhook import SECRET_HEADER, make_server
from tests.harness import inbox_bot
from tests.test_inbox import LI, members, rows, sends_to

__all__ = ["members"]  # the fixture, shared with test_inbox


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_the_webhook_answers_once_the_update_is_stored_and_checks_the_secret(
    settings, clock, sessions, members
):
    async with inbox_bot(settings, clock) as bot:
        server = make_server(bot.app, bot.inbox.ingress, "hook", "s3cret")
        port = _free_port()
        server.listen(port, address="127.0.0.1")
        url = f"http://127.0.0.1:{port}/hook"
        update = bot.factory.command(LI, "/me")
        try:
            async with httpx.AsyncClient() as client:
                assert (await client.post(url, json=update)).status_code == 403
                assert update["update_id"] not in await rows(sessions)
                secret = {SECRET_HEADER: "s3cret"}
                assert (await client.post(url, json=update, headers=secret)).status_code == 200
                assert update["update_id"] in await rows(sessions)  # stored before the 200
                assert (await client.post(url, json=update, headers=secret)).status_code == 200
                assert (await client.get(f"{url}/healthz")).status_code == 200
            await bot.settle()
        finally:
            server.stop()
    assert (await rows(sessions))[update["update_id"]].done_at is not None
    assert len(sends_to(bot, LI)) == 1  # Telegram's retry of a stored update is not handled
