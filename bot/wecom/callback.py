"""WeCom's callback URL: an aiohttp application.

- ``GET <path>``: the URL check when the URL is saved in WeCom's admin console: the signed
  ``echostr`` decrypted and answered as plain text.
- ``POST <path>``: a member's message or event: signature checked, decrypted, read, stored
  in the inbox (bot/wecom/inbox.py), and only then answered with an empty 200, at once:
  WeCom waits 5 s and retries an unanswered callback (three times), so nothing slow happens
  before the answer; the reply goes later through ``message/send``. A bad signature is 403
  and nothing is stored; an event delivered again is 200 and stored once; an event that
  could not be stored is 500, so that WeCom tries it again.
- ``GET <path>/healthz``: 200 for a load balancer.

Nothing of a callback's query, body or content is logged: the signature and the nonce are
WeCom's, the content the member's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.wecom.crypto import SignatureError, WeComCrypto, WeComCryptoError
from bot.wecom.events import WeComEvent, read_event
from bot.wecom.xmlfields import WeComXmlError

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024  # a callback is a few hundred bytes of XML; refuse floods of more
SIGNED = ("msg_signature", "timestamp", "nonce")

# What stores an event: True when it is new, False when it was stored before.
Store = Callable[[WeComEvent, str], Awaitable[bool]]


def callback_app(crypto: WeComCrypto, store: Store, path: str) -> web.Application:
    """The callback URL's application, serving ``path``."""
    path = "/" + path.strip("/")
    endpoint = _Endpoint(crypto, store)
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_get(path, endpoint.verify_url)
    app.router.add_post(path, endpoint.receive)
    app.router.add_get(path.rstrip("/") + "/healthz", _healthz)
    return app


class _Endpoint:
    def __init__(self, crypto: WeComCrypto, store: Store) -> None:
        self.crypto = crypto
        self.store = store

    async def verify_url(self, request: web.Request) -> web.Response:
        """The URL check: the decrypted echostr as plain text."""
        query = request.query
        if any(name not in query for name in (*SIGNED, "echostr")):
            return web.Response(status=400)
        try:
            echo = self.crypto.verify_url(*(query[name] for name in SIGNED), query["echostr"])
        except SignatureError:
            log.warning("wecom URL check with a wrong signature refused")
            return web.Response(status=403)
        except WeComCryptoError:
            log.warning("wecom URL check that does not decrypt refused")
            return web.Response(status=400)
        return web.Response(text=echo, content_type="text/plain")

    async def receive(self, request: web.Request) -> web.Response:
        """A message or event: checked, decrypted, stored, then an empty 200."""
        query = request.query
        if any(name not in query for name in SIGNED):
            return web.Response(status=400)
        body = await request.read()
        try:
            plain = self.crypto.decrypt_message(*(query[name] for name in SIGNED), body)
            event = read_event(plain)
        except SignatureError:
            log.warning("wecom callback with a wrong signature refused")
            return web.Response(status=403)
        except (WeComCryptoError, WeComXmlError):
            log.warning("wecom callback that does not decrypt or read refused")
            return web.Response(status=400)
        try:
            new = await self.store(event, plain)
        except Exception as error:  # not stored: WeCom delivers it again
            # The error's name only: a database error's text carries the statement's
            # parameters, and those the member's message.
            log.error("wecom callback (%s) not stored: %s", event.kind, type(error).__name__)
            return web.Response(status=500)
        if not new:
            log.info("wecom event %s delivered again; stored once", event.kind)
        return web.Response(status=200)


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")
