"""Webhook mode: an HTTP endpoint that answers Telegram only once the update is stored.

Any number of workers may serve the endpoint behind a load balancer. Telegram's secret token
is checked on every request. Exactly one worker registers the webhook: the one holding a
PostgreSQL advisory lock (SQLite has one process), with retries when Telegram answers 429 or
the network fails, so a worker that starts second neither fights for setWebhook nor fails.
``GET <path>/healthz`` answers 200 for the load balancer's health checks.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from telegram import Update
from telegram.error import NetworkError, RetryAfter
from telegram.ext import Application
from tornado.httpserver import HTTPServer
from tornado.web import Application as WebApp
from tornado.web import RequestHandler

from bot.runtime import runtime_of
from bot.telegram.inbox.ingress import Ingress
from bot.telegram.sender import retry_seconds

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
REGISTRAR_LOCK = 0x5_7AB0_7002  # pg_try_advisory_lock key of the worker that registers
REGISTER_TRIES = 10
MAX_PAUSE = 30.0  # seconds between two setWebhook tries after network errors, at most


def derived_secret(token: str) -> str:
    """The webhook secret every worker of one bot computes alike when none is configured."""
    return hashlib.sha256(f"stabot-webhook:{token}".encode()).hexdigest()


class UpdateEndpoint(RequestHandler):
    """``POST <path>``: Telegram's update, stored before the 200."""

    def initialize(self, ingress: Ingress, bot_app: Application, secret: str) -> None:
        self.ingress = ingress
        self.bot_app = bot_app  # tornado's handlers have an ``application`` of their own
        self.secret = secret

    def check_xsrf_cookie(self) -> None:
        """Telegram sends no cookies; the secret token stands in."""

    async def post(self) -> None:
        """Check the secret, parse, store, then answer."""
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("webhook request without the right secret token refused")
            self.send_error(HTTPStatus.FORBIDDEN)
            return
        raw = self.request.body.decode("utf-8", errors="replace")
        try:
            update = Update.de_json(json.loads(raw), self.bot_app.bot)
        except Exception:
            log.warning("webhook body is not an update; refused")
            self.send_error(HTTPStatus.BAD_REQUEST)
            return
        if update is not None:
            try:
                await self.ingress.receive(update, raw=raw, wait=True)
            except Exception:  # not stored: Telegram delivers it again later
                self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR)
                return
        self.set_status(HTTPStatus.OK)
        self.finish()


class Health(RequestHandler):
    """``GET <path>/healthz``: the process is up and serving."""

    def get(self) -> None:
        """Answer ok."""
        self.finish("ok")


def make_server(application: Application, ingress: Ingress, path: str, secret: str) -> HTTPServer:
    """The HTTP server of the webhook (not yet listening)."""
    path = "/" + path.strip("/")
    routes = [
        (path, UpdateEndpoint, {"ingress": ingress, "bot_app": application, "secret": secret}),
        (path.rstrip("/") + "/healthz", Health),
    ]
    return HTTPServer(WebApp(routes))


async def register_webhook(
    application: Application,
    url: str,
    secret: str,
    allowed: Sequence[str],
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> AsyncConnection | None:
    """Register the webhook when this worker is the registrar; returns the lock's connection
    (keep it open while running, so that later workers leave the webhook alone). ``sleep``
    waits between tries (tests pass one that does not)."""
    engine = runtime_of(application).engine
    lock: AsyncConnection | None = None
    if engine.dialect.name == "postgresql":
        lock = await engine.connect()
        query = text("SELECT pg_try_advisory_lock(:key)")
        if not (await lock.execute(query, {"key": REGISTRAR_LOCK})).scalar():
            await lock.close()
            log.info("another worker registers the webhook")
            return None
    try:
        await _set_webhook(application, url, secret, allowed, sleep)
    except BaseException:
        await release_registrar(lock)
        raise
    return lock


async def release_registrar(lock: AsyncConnection | None) -> None:
    """Let another worker become the registrar (the connection goes back to the pool)."""
    if lock is not None:
        await lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": REGISTRAR_LOCK})
        await lock.close()


async def _set_webhook(
    application: Application,
    url: str,
    secret: str,
    allowed: Sequence[str],
    sleep: Callable[[float], Awaitable[object]],
) -> None:
    pause = 1.0
    for attempt in range(1, REGISTER_TRIES + 1):
        try:
            await application.bot.set_webhook(
                url=url, secret_token=secret, allowed_updates=list(allowed)
            )
            log.info("webhook registered: %s", url)
            return
        except RetryAfter as error:  # Telegram says when: wait exactly that long
            wait = retry_seconds(error)
        except NetworkError as error:  # TimedOut included
            wait, pause = pause, min(pause * 2, MAX_PAUSE)
            log.warning("setWebhook failed (%s), try %d of %d", error, attempt, REGISTER_TRIES)
        if attempt < REGISTER_TRIES:
            await sleep(wait)
    raise RuntimeError(f"could not register the webhook after {REGISTER_TRIES} tries")


@dataclass(frozen=True)
class WebhookOptions:
    """Where to listen, the public URL to register, its secret, and the updates wanted."""

    listen: str
    port: int
    url: str
    secret: str
    allowed: Sequence[str]


def run_webhook(application: Application, options: WebhookOptions) -> None:
    """Serve the webhook until SIGINT or SIGTERM, with the Application's whole life cycle."""
    asyncio.run(_serve(application, options))


async def _serve(application: Application, options: WebhookOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with webhook_running(application, options):
        await stop.wait()


@asynccontextmanager
async def webhook_running(
    application: Application, options: WebhookOptions
) -> AsyncIterator[Application]:
    """The Application started and its webhook served until the block ends (beside other
    channels in one process, bot/channels.py), then stopped and shut down."""
    from bot.telegram.inbox import inbox_of  # the package wires what this module serves

    await application.initialize()
    lock: AsyncConnection | None = None
    try:
        if application.post_init:
            await application.post_init(application)
        path = options.url.split("://", 1)[-1].partition("/")[2]
        server = make_server(application, inbox_of(application).ingress, path, options.secret)
        server.listen(options.port, address=options.listen)
        try:
            lock = await register_webhook(
                application, options.url, options.secret, options.allowed
            )
            await application.start()
            yield application
        finally:
            server.stop()
            if application.running:
                await application.stop()
            if application.post_stop:
                await application.post_stop(application)
    finally:
        await release_registrar(lock)
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)
