"""A loopback fake of WeCom's server API, and callbacks encrypted as WeCom sends them.

``FakeWeComAPI`` answers ``gettoken`` (tokens that expire by an injectable clock) and
``message/send`` (recorded; WeCom's errcodes for a missing, unknown or expired token, a wrong
agent id, unknown recipients, empty or over-long content) on 127.0.0.1, for tests and
``stabot chat`` to point ``WECOM_API_BASE_URL`` at. ``WeComCallbacks`` builds the URL check
and the encrypted message POSTs WeCom makes to an application's callback URL, with the
application's own crypto (bot/wecom/crypto.py), and reads the encrypted passive reply.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from bot.common.clock import Clock
from bot.wecom.crypto import EncryptedMessage, WeComCrypto
from bot.wecom.xmlfields import build_xml, parse_fields
from offline.faults import FaultModel

TOKEN_LIFE = timedelta(seconds=7200)
# WeCom's limits on message/send, in UTF-8 bytes (the API documents bytes, not characters).
CONTENT_LIMITS = {"text": 2048, "markdown": 2048}
TEXTCARD_LIMITS = {"title": 128, "description": 512}
MESSAGE_TYPES = frozenset({"text", "markdown", "textcard", "template_card"})


@dataclass(frozen=True)
class SentMessage:
    """One accepted message/send, as the fake recorded it."""

    msgid: str
    msgtype: str
    users: tuple[str, ...]
    body: Mapping[str, Any]
    at: datetime


@dataclass
class FakeWeComAPI:
    """WeCom's gettoken and message/send for one corp and one application."""

    corp_id: str
    secret: str
    agent_id: int
    clock: Clock
    users: set[str] = field(default_factory=set)
    token_life: timedelta = TOKEN_LIFE
    limits: WeComLimits | None = None  # enforce WeCom's sending limits (see WeComLimits)
    faults: WeComFaults | None = None  # fail a share of message/send calls (see WeComFaults)
    sent: list[SentMessage] = field(default_factory=list, init=False)
    # Accepted past a member's limit: WeCom answers ok and never delivers them.
    dropped: list[SentMessage] = field(default_factory=list, init=False)
    refused_45009: int = field(default=0, init=False)
    _quota: _Quotas = field(default_factory=lambda: _Quotas(), init=False)
    token_fetches: int = field(default=0, init=False)
    _tokens: dict[str, datetime] = field(default_factory=dict, init=False)
    _serial: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False)

    def revoke_tokens(self) -> None:
        """Every issued token becomes unknown, 40014 (as when the secret is reset)."""
        self._tokens.clear()

    def expire_tokens(self) -> None:
        """Every issued token expires now, 42001 (earlier than it said it would)."""
        now = self.clock.now()
        self._tokens = dict.fromkeys(self._tokens, now)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._fault_middleware()] if self.faults else [])
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/message/send", self._message_send)
        return app

    async def _gettoken(self, request: web.Request) -> web.Response:
        if request.query.get("corpid") != self.corp_id:
            return _error(40013, "invalid corpid")
        if request.query.get("corpsecret") != self.secret:
            return _error(40001, "invalid credential")
        self.token_fetches += 1
        token = f"fake-token-{next(self._serial)}"
        self._tokens[token] = self.clock.now() + self.token_life
        life = int(self.token_life.total_seconds())
        return _answer({"access_token": token, "expires_in": life})

    async def _message_send(self, request: web.Request) -> web.Response:
        refused = self._check_token(request.query.get("access_token"))
        if refused is not None:
            return refused
        try:
            payload = json.loads(await request.read())
        except ValueError:
            return _error(47001, "data format error")
        refused = self._check_message(payload)
        if refused is not None:
            return refused
        if self.limits is not None:
            return self._deliver_within_limits(payload, self.limits)
        return self._deliver(payload)

    def _check_token(self, token: str | None) -> web.Response | None:
        if not token:
            return _error(41001, "access_token missing")
        expires = self._tokens.get(token)
        if expires is None:
            return _error(40014, "invalid access_token")
        if self.clock.now() >= expires:
            return _error(42001, "access_token expired")
        return None

    def _check_message(self, payload: Mapping[str, Any]) -> web.Response | None:
        msgtype = payload.get("msgtype")
        if msgtype not in MESSAGE_TYPES:
            return _error(40008, "invalid message type")
        if payload.get("agentid") != self.agent_id:
            return _error(40056, "invalid agentid")
        body = payload.get(msgtype)
        if not isinstance(body, Mapping):
            return _error(44004, "empty content")
        return _content_error(msgtype, body)

    def _deliver(self, payload: Mapping[str, Any]) -> web.Response:
        wanted = [user for user in str(payload.get("touser", "")).split("|") if user]
        reached = tuple(user for user in wanted if user in self.users)
        invalid = "|".join(user for user in wanted if user not in self.users)
        if not reached:
            return _answer({"invaliduser": invalid}, 81013, "user & party & tag all invalid")
        msgid = f"msg-{next(self._serial)}"
        msgtype = payload["msgtype"]
        self.sent.append(SentMessage(msgid, msgtype, reached, payload[msgtype], self.clock.now()))
        answer = {"invaliduser": invalid, "msgid": msgid}
        if msgtype == "template_card":
            answer["response_code"] = f"response-{msgid}"
        return _answer(answer)

    # --- WeCom's sending limits and injected faults (kept apart: other endpoints join above) ---

    def _deliver_within_limits(
        self, payload: Mapping[str, Any], limits: WeComLimits
    ) -> web.Response:
        """message/send under WeCom's limits: past the application's minute or day, 45009 and
        the application blocked (a minute; the rest of the day); past a member's minute or
        hour, accepted and *dropped* (WeCom: "超过部分会被丢弃不下发"), never delivered."""
        now = self.clock.now().timestamp()
        wanted = [user for user in str(payload.get("touser", "")).split("|") if user]
        refused = self._quota.refuse(now, len(wanted), limits)
        if refused:
            self.refused_45009 += 1
            return _error(45009, "api freq out of limit")
        over = [user for user in wanted if not self._quota.member_admits(user, now, limits)]
        if not over:
            return self._deliver(payload)
        kept = "|".join(user for user in wanted if user not in over)
        if kept:
            answer = self._deliver({**payload, "touser": kept})
        else:  # WeCom says nothing of the drop: an ordinary answer
            answer = _answer({"invaliduser": "", "msgid": f"msg-{next(self._serial)}"})
        msgtype = payload["msgtype"]
        reached = tuple(user for user in over if user in self.users)
        at = self.clock.now()
        self.dropped.append(SentMessage("dropped", msgtype, reached, payload[msgtype], at))
        return answer

    def _fault_middleware(self) -> Any:
        faults = self.faults
        assert faults is not None

        @web.middleware
        async def fail_some(request: web.Request, handler: Any) -> web.StreamResponse:
            fault = faults.draw(request.path)
            if fault is None:
                return await handler(request)
            kind, when = fault
            faults.log[(kind, when)] += 1
            if when == "after":
                await handler(request)  # processed: the message went, the answer is lost
            if kind == "drop" and request.transport is not None:
                request.transport.close()  # no answer at all: the connection closes
                return web.Response(status=502)
            return web.json_response({"errcode": -1, "errmsg": "bad gateway"}, status=502)

        return fail_some

    def delivered_to(self) -> Counter[str]:
        """How many messages each member got (the benchmark's duplicates count here)."""
        return Counter(user for message in self.sent for user in message.users)


@dataclass
class WeComLimits:
    """WeCom's sending limits for one application (访问频率限制): to one member at most 30
    messages a minute and 1,000 an hour, the excess dropped; the application at most the
    account cap × 200 a day (``app_per_day``); ``app_per_minute`` stands for the frequency
    limits of the API (message/send is outside the 10,000 calls/min base frequency: None)."""

    member_per_minute: int = 30
    member_per_hour: int = 1000
    app_per_day: int | None = None
    app_per_minute: int | None = None


@dataclass
class WeComFaults(FaultModel):
    """A share of message/send calls answered 502 and a share whose connection drops, each
    before or after the message went (offline/faults.py, the model of the Telegram fake's)."""

    paths: frozenset[str] = frozenset({"/cgi-bin/message/send"})
    log: Counter[tuple[str, str]] = field(default_factory=Counter)

    def draw(self, path: str) -> tuple[str, str] | None:
        """None, or (``5xx`` | ``drop``, ``before`` | ``after``) for one call."""
        return self.roll() if path in self.paths else None


@dataclass
class _Quotas:
    """The counts behind WeComLimits: sliding windows of accepted person-times."""

    app_minute: deque[float] = field(default_factory=deque)
    app_day: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0
    members: dict[str, deque[float]] = field(default_factory=dict)

    def refuse(self, now: float, people: int, limits: WeComLimits) -> bool:
        """Whether the application is over a limit (then blocked as WeCom blocks it)."""
        if now < self.blocked_until:
            return True
        for window, seconds, limit in (
            (self.app_minute, 60.0, limits.app_per_minute),
            (self.app_day, 86_400.0, limits.app_per_day),
        ):
            _slide(window, now, seconds)
            if limit is not None and len(window) + people > limit:
                self.blocked_until = now + seconds  # a minute; a day (WeCom: the natural day)
                return True
        for window in (self.app_minute, self.app_day):
            window.extend([now] * people)
        return False

    def member_admits(self, user: str, now: float, limits: WeComLimits) -> bool:
        """Count one message to the member; False when it is past their minute or hour."""
        times = self.members.setdefault(user, deque())
        _slide(times, now, 3600.0)
        in_minute = sum(1 for at in times if at > now - 60.0)
        if in_minute >= limits.member_per_minute or len(times) >= limits.member_per_hour:
            return False
        times.append(now)
        return True


def _slide(window: deque[float], now: float, seconds: float) -> None:
    while window and window[0] <= now - seconds:
        window.popleft()


def _content_error(msgtype: str, body: Mapping[str, Any]) -> web.Response | None:
    if msgtype in CONTENT_LIMITS:
        return _sized(str(body.get("content", "")), CONTENT_LIMITS[msgtype])
    if msgtype == "textcard":
        for name, limit in TEXTCARD_LIMITS.items():
            refused = _sized(str(body.get(name, "")), limit)
            if refused is not None:
                return refused
    return None


def _sized(text: str, limit: int) -> web.Response | None:
    if not text:
        return _error(44004, "empty content")
    if len(text.encode()) > limit:
        return _error(45002, "content size out of limit")
    return None


def _answer(data: Mapping[str, Any], errcode: int = 0, errmsg: str = "ok") -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": errmsg, **data})


def _error(errcode: int, errmsg: str) -> web.Response:
    return _answer({}, errcode, errmsg)


@asynccontextmanager
async def serving(app: web.Application, path: str = "/cgi-bin") -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port; yields its URL and ``path`` (the fake API's
    ``WECOM_API_BASE_URL`` by default)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}{path}"
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class CallbackRequest:
    """One request WeCom makes to a callback URL: its query, and its body (POST) or none."""

    query: Mapping[str, str]
    body: str | None = None


@dataclass
class WeComCallbacks:
    """The callbacks WeCom makes to one application, encrypted with its token and AES key."""

    corp_id: str
    agent_id: int
    crypto: WeComCrypto
    clock: Clock
    _nonces: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False)

    def url_check(self, echo: str) -> CallbackRequest:
        """The GET that verifies the URL when it is saved in WeCom's admin console."""
        signed = self.crypto.encrypt_message(echo, self._timestamp(), self._nonce())
        return CallbackRequest({**_signed_query(signed), "echostr": signed.encrypt})

    def message(self, fields: Mapping[str, str | int]) -> CallbackRequest:
        """A POST carrying ``fields`` (ToUserName, AgentID and CreateTime added) encrypted."""
        plain = {
            "ToUserName": self.corp_id,
            "CreateTime": int(self.clock.now().timestamp()),
            **fields,
            "AgentID": self.agent_id,
        }
        signed = self.crypto.encrypt_message(build_xml(plain), self._timestamp(), self._nonce())
        body = build_xml(
            {"ToUserName": self.corp_id, "Encrypt": signed.encrypt, "AgentID": self.agent_id}
        )
        return CallbackRequest(_signed_query(signed), body)

    def text(self, from_user: str, content: str, msg_id: int) -> CallbackRequest:
        """A user's text message to the application."""
        fields = {"FromUserName": from_user, "MsgType": "text", "Content": content}
        return self.message({**fields, "MsgId": msg_id})

    def read_reply(self, reply: str) -> dict[str, str]:
        """A passive reply's fields, after checking its signature as WeCom does."""
        fields = parse_fields(reply)
        plain = self.crypto.decrypt_message(
            fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"], reply
        )
        return parse_fields(plain)

    async def deliver(
        self, session: aiohttp.ClientSession, url: str, request: CallbackRequest
    ) -> tuple[int, str]:
        """Make ``request`` to the callback ``url``: its status and body."""
        verb = "GET" if request.body is None else "POST"
        data = None if request.body is None else request.body.encode()
        async with session.request(verb, url, params=request.query, data=data) as response:
            return response.status, await response.text()

    def _timestamp(self) -> str:
        return str(int(self.clock.now().timestamp()))

    def _nonce(self) -> str:
        return str(next(self._nonces))


def _signed_query(signed: EncryptedMessage) -> dict[str, str]:
    return {
        "msg_signature": signed.msg_signature,
        "timestamp": signed.timestamp,
        "nonce": signed.nonce,
    }
