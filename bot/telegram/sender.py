"""The Telegram adapter of the pipeline: render and send an `Outgoing`, classify the answer.

How PTB 22 surfaces failures (telegram/request/_httpxrequest.py, _baserequest.py; our aiohttp
transport in bot/telegram/transport.py keeps the same meaning): a connect or pool timeout becomes
``TimedOut`` and every other transport error (a refused connection, a dropped one …) a
``NetworkError``, each raised *from* the library's error; a 5xx answer is a ``NetworkError``
with no cause; a 429 with ``retry_after`` is ``RetryAfter``. So "the connection was never
made" is read from the exception's cause chain (`bot.telegram.transport.never_sent`).
"""

from __future__ import annotations

import logging
import warnings
from datetime import timedelta

from telegram import Bot, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    RetryAfter,
)
from telegram.ext import Application
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.delivery.broadcasts import notice_outgoing
from bot.delivery.outcome import Outcome, Outgoing, Result
from bot.flows.base import Reply
from bot.telegram.render import render_markup, render_text
from bot.telegram.transport import AiohttpRequest, bot_api_request, never_sent
from storage.broadcast_models import Broadcast

log = logging.getLogger(__name__)
PERMANENT = (BadRequest, ChatMigrated, Conflict, InvalidToken)


def retry_seconds(error: RetryAfter) -> float:
    """A 429's retry_after in seconds (PTB 22 warns it becomes a timedelta; take both)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify(error: Exception) -> Result:
    """The outcome of a send that raised ``error``."""
    if isinstance(error, RetryAfter):
        return Result(Outcome.RETRY_AFTER, error="429", retry_after=retry_seconds(error))
    text = str(error)[:200]
    if isinstance(error, Forbidden):
        return Result(Outcome.BLOCKED, error=text)
    if isinstance(error, PERMANENT):  # chat not found, bad file id …: retrying will not help
        return Result(Outcome.FAILED, error=text)
    if never_sent(error):
        return Result(Outcome.NOT_SENT, error=text or type(error).__name__)
    # A timeout, a 5xx, a dropped connection, an unreadable answer: it may have arrived.
    return Result(Outcome.UNKNOWN, error=text or type(error).__name__)


async def send(bot: Bot, out: Outgoing) -> Message:
    """Render and send one message (text, photo or document) as HTML."""
    text = render_text(out.locale, out.reply)
    common: dict[str, object] = {
        "parse_mode": ParseMode.HTML,
        "reply_markup": render_markup(out.locale, out.reply.buttons),
    }
    if out.paid:
        common["allow_paid_broadcast"] = True
    if out.media_kind == "photo":
        return await bot.send_photo(out.chat_id, out.media_file_id, caption=text, **common)
    if out.media_kind == "document":
        return await bot.send_document(out.chat_id, out.media_file_id, caption=text, **common)
    return await bot.send_message(out.chat_id, text, **common)


async def send_notice(
    bot: Bot, chat_id: int, locale: str, broadcast: Broadcast, *, group: bool = False
) -> Message:
    """The notice exactly as recipients get it (the preview uses it too); ``group``: the copy
    posted in a work group."""
    return await send(bot, notice_outgoing(chat_id, locale, broadcast, group=group))


class TelegramSender:
    """Sends on the bulk lane's Bot and speaks to admins through the replies' Bot."""

    def __init__(self, lane: Bot, admin_bot: Bot) -> None:
        self.lane = lane
        self.admin_bot = admin_bot

    async def send(self, out: Outgoing) -> Result:
        """Send one message and classify what came back."""
        try:
            message = await send(self.lane, out)
        except Exception as error:  # every failure is classified, none ends the pipeline
            return classify(error)
        return Result(Outcome.SENT, message_id=message.message_id)

    async def post(self, chat_id: int, locale: str, reply: Reply) -> int | None:
        """A message to an admin (status, report); None when it could not be sent."""
        try:
            sent = await send(self.admin_bot, Outgoing(chat_id, locale, reply))
        except Exception as error:  # the admin's message must not stop the pipeline
            log.warning("message to admin %s failed: %s", chat_id, error)
            return None
        return sent.message_id

    async def edit(self, chat_id: int, message_id: int, locale: str, reply: Reply) -> None:
        """Edit an admin's status message ("not modified" and deleted messages are fine)."""
        try:
            await self.admin_bot.edit_message_text(
                render_text(locale, reply),
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=render_markup(locale, reply.buttons),
            )
        except Exception as error:  # "not modified", or the admin deleted it
            log.debug("status edit failed: %s", error)


def lane_bot(
    application: Application, *, pool_size: int, transport: str, base_url: str, file_url: str
) -> Bot:
    """The bulk lane's own Bot: its own connection pool, so replies never queue behind it."""
    request = application.bot.request
    inner = getattr(request, "inner", request)  # the reply policy's wrapped request
    if isinstance(inner, HTTPXRequest | AiohttpRequest):
        request = bot_api_request(transport, connections=pool_size + 4)
        updates_request = bot_api_request(transport, connections=1)
    else:  # an in-process API (offline chat, tests): the lane shares it
        request = updates_request = inner
    return Bot(
        application.bot.token,
        base_url=base_url,
        base_file_url=file_url,
        request=request,
        get_updates_request=updates_request,
    )
