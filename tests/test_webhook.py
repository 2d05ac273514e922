"""Webhook mode: the real PTB webhook server on loopback checks Telegram's secret token."""

from __future__ import annotations

import socket

import httpx

from bot.app import build_application
from bot.offline_api import OfflineBotAPI
from bot.updates import TgUser, UpdateFactory

SECRET = "s3cret-token_for-test"
USER = TgUser(id=30001, first_name="测试")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_webhook_rejects_missing_secret_and_handles_real_updates(settings, clock):
    api = OfflineBotAPI(bot_username=settings.bot_username)
    app = build_application(settings, request=api, clock=clock, polling=True, migrate=False)
    factory = UpdateFactory(api)
    port = _free_port()
    async with app:
        await app.post_init(app)
        await app.updater.start_webhook(listen="127.0.0.1", port=port, url_path="hook",
                                        webhook_url="https://bot.example.org/hook",
                                        secret_token=SECRET)
        await app.start()
        try:
            assert api.calls_to("setWebhook")[-1].params["secret_token"] == SECRET
            url = f"http://127.0.0.1:{port}/hook"
            async with httpx.AsyncClient() as client:
                forged = await client.post(url, json=factory.command(USER, "/start"))
                real = await client.post(url, json=factory.command(USER, "/start"),
                                         headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
            assert forged.status_code == 403
            assert real.status_code == 200
            # The update goes through the queue; stopping the app drains it.
        finally:
            await app.updater.stop()
            await app.stop()
    texts = [c.params["text"] for c in api.calls_to("sendMessage")]
    assert len(texts) == 1 and "stabot" in texts[0]
