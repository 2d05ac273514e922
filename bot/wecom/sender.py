"""The WeCom adapter of the delivery pipeline: render an `Outgoing` as WeCom messages, send
them with message/send to the member behind the address, and classify WeCom's answer.

WeCom's answers, in the pipeline's words (WeCom's 全局错误码 page and its 访问频率限制 page):
- **sent**: errcode 0, unless ``invaliduser`` names the member (then **failed**: WeCom took
  the call and dropped that member);
- **retry** (WeCom refused the request, so it provably did not go): 45009 (a frequency limit:
  the application is blocked for a minute, ``pause``) and 45033 (too many concurrent calls: a
  second); 40014/42001 (the token was rejected) after the client fetched a new one and the
  second call met the same; a connection never made;
- **unknown**: a timeout, a 5xx, a connection dropped after the request went, an answer that
  is not JSON, and -1 (系统繁忙: WeCom does not say whether it went);
- **failed** (permanent): any other errcode, among them 40003 (invalid UserID), 81013 (the
  member is not in the application's visible range, or left), 60020 (this server's IP is not
  trusted), 60011 (no privilege), 44004/45002 (empty or too long content), 40008, 40056.

A message split in parts (a text and a card) that stops after a part went is **unknown**:
sending it all again would repeat that part.

Rendering is injected (``Renderer``: bot/wecom/render.py's ``render``, Reply → WeCom
messages); a notice's 已阅 button keeps its callback data as the card button's key, so its
press comes back as a template_card_event to the dispatcher. WeCom messages cannot be edited,
so an admin's status message is posted once and the final report is posted on its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from bot.delivery.budget import SendBudget, Sleep
from bot.delivery.outcome import Outcome, Outgoing, Result
from bot.flows.base import Album, Reply
from bot.wecom.client import (
    TOKEN_REJECTED,
    Message,
    Recipients,
    SendResult,
    WeComClient,
    WeComErrcode,
    WeComTokenError,
    WeComTransportError,
)
from storage import identities_repo
from storage.db import SessionFactory, transaction
from storage.identity_models import Channel

log = logging.getLogger(__name__)
Renderer = Callable[[str, Reply], Sequence[Message]]
# A reply's albums as WeCom messages, files fetched from wherever they are held
# (bot/wecom/outcomes.py's ``albums`` with the runtime's media store and file sources).
Attacher = Callable[[str, list[Album]], Awaitable[list[Message]]]
ATTACHED_KEPT = 8  # notices whose attachments are kept: one fetch per notice, not per member
SYSTEM_BUSY = -1
TOO_MANY_CONCURRENT = 45033
CONCURRENT_PAUSE = 1.0  # seconds a 45033 holds the lane: calls in flight end within it
# Refusals that say nothing about the message: WeCom did not take it, so it may go again.
NOT_TAKEN = frozenset({*TOKEN_REJECTED, 6000})  # 6000: a data version conflict, "retry later"
NOT_DELIVERED = (Outcome.RETRY_AFTER, Outcome.NOT_SENT)  # WeCom provably did not take these
MAX_REFUSALS = 5  # a reply waits out at most this many 45009/45033 in a row
BACKOFF = 0.25  # seconds before re-making a connection that was never made; doubles each time


def classify(answer: SendResult, userid: str, *, pause: float) -> Result:
    """The outcome of a message/send to one member that WeCom answered."""
    code = answer.errcode
    error = f"{code} {answer.errmsg}"[:200]
    if code == WeComErrcode.OK:
        if userid in answer.invalid_users:
            return Result(Outcome.FAILED, error=f"invaliduser {userid}"[:200])
        return Result(Outcome.SENT)
    if code == WeComErrcode.API_RATE_LIMITED:
        return Result(Outcome.RETRY_AFTER, error=error, retry_after=pause)
    if code == TOO_MANY_CONCURRENT:
        return Result(Outcome.RETRY_AFTER, error=error, retry_after=CONCURRENT_PAUSE)
    if code in NOT_TAKEN:
        return Result(Outcome.NOT_SENT, error=error)
    if code == SYSTEM_BUSY:
        return Result(Outcome.UNKNOWN, error=error)
    return Result(Outcome.FAILED, error=error)


def classify_error(error: Exception, *, pause: float) -> Result:
    """The outcome of a message/send that got no answer (or no token)."""
    if isinstance(error, WeComTokenError):  # gettoken refused: nothing was sent
        if error.errcode == WeComErrcode.API_RATE_LIMITED:
            return Result(Outcome.RETRY_AFTER, error="gettoken 45009", retry_after=pause)
        return Result(Outcome.NOT_SENT, error=f"gettoken {error.errcode}")
    if isinstance(error, WeComTransportError) and error.never_sent:
        return Result(Outcome.NOT_SENT, error=str(error)[:200])
    return Result(Outcome.UNKNOWN, error=(str(error) or type(error).__name__)[:200])


class WeComSender:
    """Sends the pipeline's messages to WeCom members and speaks to WeCom admins."""

    def __init__(
        self,
        client: WeComClient,
        render: Renderer,
        *,
        sessions: SessionFactory,
        pause: float = 60.0,
        attach: Attacher | None = None,
    ) -> None:
        self.client, self.render, self.sessions, self.pause = client, render, sessions, pause
        self.attach = attach  # None: albums rendered by ``render`` (made and kept files only)
        self._userids: dict[int, str | None] = {}  # address → UserID (identities never move)
        self._attached: dict[tuple[str, tuple[str, ...]], list[Message]] = {}

    async def send(self, out: Outgoing) -> Result:
        """Render, send each part, classify; see the module doc for the outcomes."""
        userid = await self.userid(out.chat_id)
        if userid is None:
            return Result(Outcome.FAILED, error="no WeCom member at this address")
        parts = await self._parts(out.locale, out.reply)
        for number, message in enumerate(parts):
            result = await self._send_one(message, userid)
            if result.outcome is Outcome.SENT:
                continue
            if number == 0:
                return result
            # An earlier part went: sending again would repeat it; what came of it is open.
            return Result(Outcome.UNKNOWN, error=f"part {number + 1}/{len(parts)}: {result.error}")
        return Result(Outcome.SENT)

    async def _parts(self, locale: str, reply: Reply) -> list[Message]:
        """The reply's messages; its attachments (a notice's file, held by Telegram) fetched
        once per notice and language, however many members it goes to."""
        if self.attach is None or not reply.albums:
            return list(self.render(locale, reply))
        key = (locale, tuple(item.file_id for album in reply.albums for item in album.items))
        if key not in self._attached:
            if len(self._attached) >= ATTACHED_KEPT:
                self._attached.pop(next(iter(self._attached)))
            self._attached[key] = await self.attach(locale, reply.albums)
        text = replace(reply, albums=[])
        return [*self.render(locale, text), *self._attached[key]]

    async def _send_one(self, message: Message, userid: str) -> Result:
        result, _ = await send_classified(self.client, message, userid, pause=self.pause)
        return result

    async def userid(self, address: int) -> str | None:
        """The WeCom UserID behind an address (None: not a WeCom identity)."""
        if address not in self._userids:
            async with transaction(self.sessions) as session:
                identity = await identities_repo.identity_at(session, address)
            known = identity is not None and identity.channel == Channel.WECOM
            self._userids[address] = identity.external_id if known else None  # type: ignore[union-attr]
        return self._userids[address]

    async def post(self, chat_id: int, locale: str, reply: Reply) -> int | None:
        """A message to an admin; WeCom has no message to edit later, so None either way."""
        result = await self.send(Outgoing(chat_id, locale, reply))
        if result.outcome is not Outcome.SENT:
            log.warning("message to WeCom admin %s: %s", chat_id, result.error)
        return None

    async def edit(self, chat_id: int, message_id: int, locale: str, reply: Reply) -> None:
        """WeCom messages cannot be edited (post returned no id, so this is not called)."""


async def send_classified(
    client: WeComClient, message: Message, userid: str, *, pause: float
) -> tuple[Result, bool]:
    """One message/send to one member: its answer (or its failure) as the pipeline's outcome,
    and whether the connection was never made. The client has already fetched a new token and
    tried once more on 40014/42001."""
    try:
        answer = await client.send(message, Recipients(users=(userid,)))
    except (WeComTransportError, WeComTokenError) as error:
        never_made = isinstance(error, WeComTransportError) and error.never_sent
        return classify_error(error, pause=pause), never_made
    return classify(answer, userid, pause=pause), False


class WeComReplies:
    """Replies and direct notices to WeCom members, in WeCom's budget like the pipeline's bulk
    (its lane, ``SendBudget.reply``: the application's pace, shared between processes, and
    the member's bucket, minute and hour), ahead of the bulk, as Telegram's replies are.

    - 45009/45033 (WeCom refused: not sent): the lane pauses as told, the reply goes after;
    - 40014/42001: the client fetched a new token and tried once more (bot/wecom/client.py);
    - a connection never made: made again, a few times, with a short backoff;
    - a timeout, a 5xx, a dropped connection after sending, -1: unknown, not repeated (that
      could show the member the message twice), logged without its content.
    Without a lane (a dispatcher built bare, as in benchmarks), replies go at once and a
    refusal is slept out here.
    """

    def __init__(
        self,
        client: WeComClient,
        lane: SendBudget | None = None,
        *,
        pause: float = 60.0,
        retries: int = 3,
        sleep: Sleep | None = None,
    ) -> None:
        self.client, self.lane, self.pause, self.retries = client, lane, pause, retries
        self._sleep = sleep

    @property
    def sleep(self) -> Sleep:
        """The lane's sleep (the pipeline sets it; tests make it move their clock)."""
        if self._sleep is not None:
            return self._sleep
        return self.lane.sleep if self.lane is not None else asyncio.sleep

    async def send(self, message: Message, userid: str, address: int) -> Result:
        """Send one message to the member at ``address`` (UserID ``userid``)."""
        refused = remade = 0
        while True:
            place = await self.lane.reply(address) if self.lane is not None else None
            result, never_made = await send_classified(
                self.client, message, userid, pause=self.pause
            )
            if self.lane is not None:
                self.lane.settle(place, taken=result.outcome not in NOT_DELIVERED)
            if result.outcome is Outcome.RETRY_AFTER and refused < MAX_REFUSALS:
                refused += 1
                await self._refused(result.retry_after or self.pause)
                continue
            if never_made and remade < self.retries:
                remade += 1
                await self.sleep(BACKOFF * 2 ** (remade - 1))
                continue
            if result.outcome is not Outcome.SENT:
                log.warning(
                    "WeCom %s to address %s %s (%s)%s",
                    message.msgtype,
                    address,
                    result.outcome.value,
                    result.error,
                    "; not repeated" if result.outcome is Outcome.UNKNOWN else "",
                )
            return result

    async def _refused(self, seconds: float) -> None:
        log.info("WeCom refused a reply (45009/45033): every send waits %.0f s", seconds)
        if self.lane is None:
            await self.sleep(seconds)
        else:  # the whole application is held (in every process, on a shared budget)
            await self.lane.pause(seconds)
