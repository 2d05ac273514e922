"""One policy for replies (everything sent through ``application.bot``).

- A reply to a private chat goes when the chat's slot allows (one message a second: waiting
  for it, at most a second, beats meeting a 429), and in its place in the bot's window, ahead
  of the bulk lane (`bot.delivery.budget`).
- A 429 is not an answer: the reply waits its ``retry_after`` and is sent again. A 429 for a
  chat that got a message under two seconds before holds only that chat; any other pauses
  every send of the bot (`SendBudget.refused` says which and why).
- A request that cannot duplicate anything when repeated (answerCallbackQuery, edits, deletes,
  setMyCommands, getFile …: every method that is not a send) is retried after a transient
  failure (a 5xx, a timeout, a dropped connection), a few times with a short backoff; when
  they run out, the error handler asks the user to try again.
- A send is repeated only when its connection was never made. Any other failure of a send may
  have reached the user, so it is not repeated: it raises `UnconfirmedSend`, and the error
  handler tells the user to try again (`ask_to_try_again`).
- That "please try again" is the one send that *is* repeated when unconfirmed, a bounded number
  of times: two short "please try again" are far better than silence.
Every send takes its place in the shared budget before it goes (replies go first; the bulk lane
fills what they leave).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import ApplicationBuilder
from telegram.request import BaseRequest, RequestData

from bot.delivery.budget import Place, SendBudget
from bot.delivery.settings import DeliverySettings
from bot.telegram.transport import bot_api_request, never_sent

log = logging.getLogger(__name__)
SENDS = frozenset(
    {
        "sendMessage", "sendPhoto", "sendDocument", "sendVideo", "sendAudio", "sendVoice",
        "sendAnimation", "sendSticker", "sendMediaGroup", "sendLocation", "sendVenue",
        "sendContact", "sendPoll", "sendDice", "sendVideoNote", "sendPaidMedia", "sendInvoice",
        "copyMessage", "copyMessages", "forwardMessage", "forwardMessages",
    }
)  # fmt: skip
NOT_REPLIES = frozenset({"getUpdates", "setWebhook", "deleteWebhook", "close", "logOut"})
MAX_429 = 5  # a reply waits out at most this many 429s in a row
BACKOFF = 0.25  # seconds before the first retry of a transient failure; doubles each time
REPLY_POOL = 256  # PTB's own default for the bot's connection pool
TRY_AGAIN_REPEATS = 2  # an unconfirmed "please try again" goes at most this many more times


class UnconfirmedSend(NetworkError):
    """A send failed in a way that may have reached the user (5xx, timeout, dropped)."""


def failed_in_transit(error: BaseException) -> bool:
    """Whether a call to Telegram failed on the way, past the policy's retries (a 5xx, a
    timeout, a connection dropped or never made), rather than being refused (400, 403, 429).
    PTB's BadRequest is a NetworkError too, so the type alone does not say it."""
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


async def ask_to_try_again(bot: Bot, chat_id: int, text: str) -> bool:
    """Send a "please try again" (``text``) so that it reaches the chat; whether Telegram
    confirmed one.

    Through the policy, a 429 waits its retry_after and a connection never made is retried.
    Unlike the reply it stands for, a "please try again" that may not have arrived (a 5xx, a
    connection dropped after sending) is sent again, up to TRY_AGAIN_REPEATS more times, each
    in the chat's next slot of the budget (a second apart in a private chat): at worst the
    user reads it twice, which is far better than silence after a reply that never came.
    """
    for attempt in range(1, TRY_AGAIN_REPEATS + 2):
        try:
            await bot.send_message(chat_id, text)
            return True
        except TelegramError as error:
            if not failed_in_transit(error):  # refused (blocked, 429s beyond MAX_429): no use
                log.warning("could not ask chat %s to try again: %s", chat_id, error)
                return False
            log.info("'try again' to chat %s, attempt %d: %s", chat_id, attempt, error)
    log.warning("could not ask chat %s to try again: %d attempts unconfirmed", chat_id, attempt)
    return False


def with_reply_policy(
    builder: ApplicationBuilder,
    request: BaseRequest | None,
    config: DeliverySettings,
    *,
    transport: str,
    polling: bool = False,
) -> ApplicationBuilder:
    """The builder with ``application.bot`` behind the reply policy, around ``request`` or a
    new ``transport`` (BOT_API_TRANSPORT); getUpdates stays bare (the inbox's gate when
    polling, else ``request`` itself)."""
    inner = request if request is not None else bot_api_request(transport, connections=REPLY_POOL)
    builder = builder.request(ReplyPolicy(inner, retries=config.reply_retries))
    if request is not None and not polling:
        builder = builder.get_updates_request(request)
    return builder


class ReplyPolicy(BaseRequest):
    """Wraps the bot's request object with the policy above."""

    def __init__(self, inner: BaseRequest, *, retries: int = 3) -> None:
        self.inner = inner
        self.retries = retries
        self.budget: SendBudget | None = None  # set when the delivery service starts
        self.sleep = asyncio.sleep

    @property
    def read_timeout(self) -> float | None:
        """The wrapped request's."""
        return self.inner.read_timeout

    async def initialize(self) -> None:
        """Initialise the wrapped request."""
        await self.inner.initialize()

    async def shutdown(self) -> None:
        """Shut the wrapped request down."""
        await self.inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[int, bytes]:
        """Send with the reply policy."""
        api = url.rsplit("/", 1)[-1]
        if api in NOT_REPLIES:
            return await self.inner.do_request(url, method, request_data, *args, **kwargs)
        send = api in SENDS
        chat_id = _chat_id(request_data)
        limited = transient = 0
        while True:
            place = await self._before(send, chat_id)
            try:
                code, payload = await self._attempt(place, url, method, request_data, args, kwargs)
            except TelegramError as error:
                if (not send or never_sent(error)) and transient < self.retries:
                    transient += 1
                    await self._back_off(api, transient, error)
                    continue
                if send and not never_sent(error):
                    raise UnconfirmedSend(f"{api}: {error}") from error
                raise
            if code == 429 and limited < MAX_429:
                limited += 1
                await self._refused(chat_id, payload, place, send)
                continue
            if code >= 500:
                if not send and transient < self.retries:
                    transient += 1
                    await self._back_off(api, transient, f"HTTP {code}")
                    continue
                if send:
                    raise UnconfirmedSend(f"{api}: HTTP {code}")
            return code, payload

    async def _attempt(
        self,
        place: Place | None,
        url: str,
        method: str,
        request_data: RequestData | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> tuple[int, bytes]:
        """One request; its place in the budget is settled however it ends, so that no send
        stays "in flight" in the window."""
        taken = True
        try:
            code, payload = await self.inner.do_request(url, method, request_data, *args, **kwargs)
            taken = code != 429
            return code, payload
        except TelegramError as error:
            taken = not never_sent(error)
            raise
        finally:
            self._after(place, taken=taken)

    async def _before(self, send: bool, chat_id: int | None) -> Place | None:
        """A send waits for its place in the budget; any other request goes at once (edits and
        answers are not counted as messages)."""
        if self.budget is None or not send:
            return None
        return await self.budget.reply(chat_id)

    def _after(self, place: Place | None, *, taken: bool) -> None:
        """The send's answer came (it arrived, if at all, before now); one Telegram did not
        take (a 429, a connection never made) gives its place and its chat's slot back."""
        if self.budget is not None:
            self.budget.settle(place, taken=taken)

    async def _back_off(self, api: str, attempt: int, error: object) -> None:
        log.info("%s failed (%s); retry %d", api, error, attempt)
        await self.sleep(BACKOFF * 2 ** (attempt - 1))

    async def _refused(
        self, chat_id: int | None, payload: bytes, place: Place | None, send: bool
    ) -> None:
        seconds = _retry_after(payload)
        if self.budget is None:
            await self.sleep(seconds)
            return
        if place is not None:
            previous = place.previous
        else:  # no send: did the chat get a message just before?
            previous = self.budget.chats.last(chat_id) if chat_id is not None else None
        await self.budget.refused(chat_id, seconds, previous)
        if not send:  # a send waits it out in its next `reply`
            await self.budget.wait_out(chat_id)


def _chat_id(request_data: RequestData | None) -> int | None:
    if request_data is None:
        return None
    value = request_data.parameters.get("chat_id")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):  # a channel's @username
        return None


def _retry_after(payload: bytes) -> float:
    try:
        return float(json.loads(payload)["parameters"]["retry_after"])
    except (ValueError, KeyError, TypeError):
        return 1.0
