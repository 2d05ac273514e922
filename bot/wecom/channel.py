"""The WeCom channel of one process: the callback server and the inbox's workers, started and
stopped together (``stabot run``, bot/channels.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from bot.common.clock import Clock
from bot.wecom.callback import callback_app
from bot.wecom.crypto import WeComCrypto
from bot.wecom.events import EventHandler
from bot.wecom.inbox import WeComInbox
from bot.wecom.settings import WeComSettings
from storage.db import SessionFactory

log = logging.getLogger(__name__)


def crypto_of(settings: WeComSettings) -> WeComCrypto:
    """The callback crypto of the configured application (``settings.can_receive``)."""
    if not settings.can_receive or settings.token is None or settings.aes_key is None:
        raise ValueError("WECOM_CORP_ID, WECOM_TOKEN and WECOM_AES_KEY are needed")
    return WeComCrypto(
        settings.token.get_secret_value(),
        settings.aes_key.get_secret_value(),
        settings.corp_id or "",
    )


@asynccontextmanager
async def wecom_running(
    settings: WeComSettings, sessions: SessionFactory, clock: Clock, handler: EventHandler
) -> AsyncIterator[WeComInbox]:
    """The callback server listening and the workers running, until the block ends; then
    no new callback is taken, the events being handled finish, and the rest stays stored."""
    inbox = WeComInbox(sessions, clock, handler)
    runner = web.AppRunner(
        callback_app(crypto_of(settings), inbox.receive, settings.callback_path), access_log=None
    )  # the access log would show each query: nonces
    await inbox.start()  # first: events stored before this start are taken up
    try:
        await runner.setup()
        host, port = settings.listen_address
        await web.TCPSite(runner, host, port).start()
        log.info("wecom callback listening on %s:%d%s", host, port, settings.callback_path)
        yield inbox
    finally:
        await runner.cleanup()
        await inbox.stop()
