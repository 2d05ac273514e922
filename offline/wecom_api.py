"""A loopback fake of WeCom's server API, and callbacks encrypted as WeCom sends them.

``FakeWeComAPI`` answers ``gettoken`` (tokens that expire by an injectable clock),
``message/send`` (recorded; WeCom's errcodes for a missing, unknown or expired token, a wrong
agent id, unknown recipients, empty or over-long content), ``message/update_template_card``
(a response code works once; ``press_code`` makes the one a card event carries), with
WeCom's checks of a template card (at most 6 buttons of at most 10 characters, keys of at
most 1024 bytes, a task id of 1-128 bytes that no earlier card used), ``media/upload``
(WeCom's formats and size limits) and ``media/get`` (40007 for an unknown media id) on
127.0.0.1, for tests and benchmarks to point ``WECOM_API_BASE_URL`` at; ``fail_next`` makes
the next calls answer an errcode such as 45009; ``log`` keeps what members were shown.
``WeComCallbacks`` builds the URL check and the encrypted message and event POSTs WeCom
makes to an application's callback URL (text, image, file, a template card's button, a
scanned code), with the application's own crypto (bot/wecom/crypto.py), and reads the
encrypted reply.
"""

from __future__ import annotations

import itertools
import json
import mimetypes
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
from bot.wecom.xmlfields import Value, build_xml, parse_fields
from offline.faults import FaultModel

TOKEN_LIFE = timedelta(seconds=7200)
# WeCom's limits on message/send, in UTF-8 bytes (the API documents bytes, not characters).
CONTENT_LIMITS = {"text": 2048, "markdown": 2048}
TEXTCARD_LIMITS = {"title": 128, "description": 512}
MESSAGE_TYPES = frozenset({"text", "markdown", "textcard", "template_card", "image", "file"})
MB = 1024 * 1024
# media/upload: the largest file of each type, and the formats WeCom takes for it.
MEDIA_LIMITS = {"image": 10 * MB, "voice": 2 * MB, "video": 10 * MB, "file": 20 * MB}
MEDIA_FORMATS = {"image": {"jpg", "jpeg", "png"}, "voice": {"amr"}, "video": {"mp4"}}
MEDIA_SIZE_ERRORS = {"image": 40009, "voice": 40010, "video": 40011, "file": 40006}
MIN_MEDIA_BYTES = 6  # WeCom: every file larger than 5 bytes
# A template card (消息推送 / 模板卡片): WeCom's own figures, kept apart from the renderer's
# so that the fake checks the renderer instead of agreeing with it.
CARD_BUTTONS = range(1, 7)  # button_interaction: 1 to 6 buttons
CARD_BUTTON_TEXT = 10  # characters
CARD_BUTTON_KEY_BYTES = 1024
CARD_TASK_ID_BYTES = 128
OPTIONAL_TASK_ID = frozenset({"text_notice", "news_notice"})  # every other card needs one


@dataclass(frozen=True)
class SentMessage:
    """One accepted message/send, as the fake recorded it."""

    msgid: str
    msgtype: str
    users: tuple[str, ...]
    body: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True)
class ShownMessage:
    """What a member saw: a message sent, or a pressed card replaced (``updated``)."""

    msgtype: str
    body: Mapping[str, Any]
    users: tuple[str, ...]
    updated: bool = False


@dataclass(frozen=True)
class StoredMedia:
    """A file WeCom holds by media id: uploaded by the application, or sent by a member."""

    content: bytes
    file_name: str
    kind: str
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class CardUpdateCall:
    """One accepted update_template_card."""

    response_code: str
    users: tuple[str, ...]
    button: Mapping[str, Any] | None
    card: Mapping[str, Any] | None
    at: datetime


@dataclass
class FakeWeComAPI:
    """WeCom's gettoken and message/send for one corp and one application."""

    corp_id: str
    secret: str
    agent_id: int
    clock: Clock
    users: set[str] = field(default_factory=set)
    every_user: bool = False  # every UserID is a member (the terminal chat's directory)
    token_life: timedelta = TOKEN_LIFE
    limits: WeComLimits | None = None  # enforce WeCom's sending limits (see WeComLimits)
    faults: WeComFaults | None = None  # fail a share of message/send calls (see WeComFaults)
    sent: list[SentMessage] = field(default_factory=list, init=False)
    # Accepted past a member's limit: WeCom answers ok and never delivers them.
    dropped: list[SentMessage] = field(default_factory=list, init=False)
    refused_45009: int = field(default=0, init=False)
    _quota: _Quotas = field(default_factory=lambda: _Quotas(), init=False)
    card_updates: list[CardUpdateCall] = field(default_factory=list, init=False)
    # What members were shown, in order: each accepted send, and each card replaced by an
    # update_template_card, as (msgtype, body, users).
    log: list[ShownMessage] = field(default_factory=list, init=False)
    task_ids: set[str] = field(default_factory=set, init=False)  # of the cards sent
    media: dict[str, StoredMedia] = field(default_factory=dict, init=False)
    token_fetches: int = field(default=0, init=False)
    _response_codes: set[str] = field(default_factory=set, init=False)
    _failures: list[tuple[int, str]] = field(default_factory=list, init=False)
    _tokens: dict[str, datetime] = field(default_factory=dict, init=False)
    _serial: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False)

    def revoke_tokens(self) -> None:
        """Every issued token becomes unknown, 40014 (as when the secret is reset)."""
        self._tokens.clear()

    def expire_tokens(self) -> None:
        """Every issued token expires now, 42001 (earlier than it said it would)."""
        now = self.clock.now()
        self._tokens = dict.fromkeys(self._tokens, now)

    def fail_next(self, errcode: int, errmsg: str = "api freq out of limit", times: int = 1):
        """The next ``times`` calls (gettoken aside) answer ``errcode``, e.g. 45009."""
        self._failures.extend([(errcode, errmsg)] * times)

    def knows(self, user: str) -> bool:
        """Whether the UserID is a member of the corp."""
        return self.every_user or user in self.users

    def press_code(self) -> str:
        """The response code WeCom puts in a card event (good for one update_template_card)."""
        code = f"press-{next(self._serial)}"
        self._response_codes.add(code)
        return code

    def add_media(self, content: bytes, file_name: str, kind: str = "image") -> str:
        """Hold a file as if a member had sent it; its media id (for media/get)."""
        media_id = f"media-{next(self._serial)}"
        self.media[media_id] = StoredMedia(content, file_name, kind, _content_type(file_name))
        return media_id

    def app(self) -> web.Application:
        # WeCom takes uploads of up to 20 MB; aiohttp's default body limit is 1 MB.
        app = web.Application(
            middlewares=[self._fault_middleware()] if self.faults else [],
            client_max_size=MEDIA_LIMITS["file"] + MB,
        )
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/message/send", self._message_send)
        app.router.add_post("/cgi-bin/message/update_template_card", self._update_card)
        app.router.add_post("/cgi-bin/media/upload", self._media_upload)
        app.router.add_get("/cgi-bin/media/get", self._media_get)
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

    async def _json_call(self, request: web.Request) -> Mapping[str, Any] | web.Response:
        """The POSTed JSON of a call with a valid token, or WeCom's refusal."""
        refused = self._check_token(request.query.get("access_token"))
        if refused is not None:
            return refused
        try:
            payload = json.loads(await request.read())
        except ValueError:
            return _error(47001, "data format error")
        return payload if isinstance(payload, Mapping) else _error(47001, "data format error")

    async def _message_send(self, request: web.Request) -> web.Response:
        payload = await self._json_call(request)
        if isinstance(payload, web.Response):
            return payload
        refused = self._check_message(payload)
        if refused is not None:
            return refused
        if self.limits is not None:
            return self._deliver_within_limits(payload, self.limits)
        return self._deliver(payload)

    async def _update_card(self, request: web.Request) -> web.Response:
        payload = await self._json_call(request)
        if isinstance(payload, web.Response):
            return payload
        if payload.get("agentid") != self.agent_id:
            return _error(40056, "invalid agentid")
        code = payload.get("response_code")
        button, card = payload.get("button"), payload.get("template_card")
        if code not in self._response_codes or (button is None) == (card is None):
            return _error(40058, "invalid response_code or card")
        refused = None if card is None else self._card_error(card, new=False)
        if refused is not None:
            return refused
        self._response_codes.discard(code)  # a response code changes a card once
        wanted = [str(user) for user in payload.get("userids") or ()]
        invalid = [user for user in wanted if not self.knows(user)]
        reached = tuple(user for user in wanted if self.knows(user))
        self.card_updates.append(CardUpdateCall(code, reached, button, card, self.clock.now()))
        if card is not None:
            self.log.append(ShownMessage("template_card", card, reached, updated=True))
        return _answer({"invaliduser": invalid})

    async def _media_upload(self, request: web.Request) -> web.Response:
        refused = self._check_token(request.query.get("access_token"))
        if refused is not None:
            return refused
        kind = request.query.get("type", "")
        if kind not in MEDIA_LIMITS:
            return _error(40004, "invalid media type")
        part = await _media_part(request)
        if part is None:
            return _error(41006, "media_id missing")  # WeCom's answer to a body without one
        file_name, content = part
        refused = _media_error(kind, file_name, content)
        if refused is not None:
            return refused
        media_id = f"media-{next(self._serial)}"
        self.media[media_id] = StoredMedia(content, file_name, kind, _content_type(file_name))
        created = int(self.clock.now().timestamp())
        return _answer({"type": kind, "media_id": media_id, "created_at": str(created)})

    async def _media_get(self, request: web.Request) -> web.Response:
        refused = self._check_token(request.query.get("access_token"))
        if refused is not None:
            return refused
        stored = self.media.get(request.query.get("media_id", ""))
        if stored is None:
            return _error(40007, "invalid media_id")
        # WeCom writes the name in UTF-8 as it is, not RFC 6266's filename*.
        headers = {"Content-Disposition": f'attachment; filename="{stored.file_name}"'}
        return web.Response(body=stored.content, content_type=stored.content_type, headers=headers)

    def _check_token(self, token: str | None) -> web.Response | None:
        if self._failures:  # fail_next: WeCom refused before looking at anything else
            return _error(*self._failures.pop(0))
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
        if msgtype == "template_card":
            return self._card_error(body, new=True)
        if msgtype in ("image", "file") and body.get("media_id") not in self.media:
            return _error(40007, "invalid media_id")  # never uploaded (or forgotten)
        return _content_error(msgtype, body)

    def _card_error(self, card: Mapping[str, Any], *, new: bool) -> web.Response | None:
        """WeCom's refusal of a card: its buttons, or its task id (a new card's must be new;
        an update keeps the pressed card's)."""
        buttons = card.get("button_list") or []
        if card.get("card_type") == "button_interaction" and len(buttons) not in CARD_BUTTONS:
            return _error(40058, "button_list size out of limit")
        for button in buttons:
            if len(str(button.get("text", ""))) > CARD_BUTTON_TEXT:
                return _error(40058, "button text too long")
            if len(str(button.get("key", "")).encode()) > CARD_BUTTON_KEY_BYTES:
                return _error(40058, "button key too long")
        task_id = str(card.get("task_id") or "")
        if not task_id and card.get("card_type") in OPTIONAL_TASK_ID:
            return None
        if not task_id or len(task_id.encode()) > CARD_TASK_ID_BYTES:
            return _error(40058, "invalid task_id")
        if new and task_id in self.task_ids:
            return _error(40058, "task_id already used")
        return None

    def _deliver(self, payload: Mapping[str, Any]) -> web.Response:
        wanted = [user for user in str(payload.get("touser", "")).split("|") if user]
        reached = tuple(user for user in wanted if self.knows(user))
        invalid = "|".join(user for user in wanted if not self.knows(user))
        if not reached:
            return _answer({"invaliduser": invalid}, 81013, "user & party & tag all invalid")
        msgid = f"msg-{next(self._serial)}"
        msgtype = payload["msgtype"]
        self.sent.append(SentMessage(msgid, msgtype, reached, payload[msgtype], self.clock.now()))
        self.log.append(ShownMessage(msgtype, payload[msgtype], reached))
        answer = {"invaliduser": invalid, "msgid": msgid}
        if msgtype == "template_card" and payload[msgtype].get("task_id"):
            self.task_ids.add(str(payload[msgtype]["task_id"]))
            answer["response_code"] = f"response-{msgid}"
            self._response_codes.add(answer["response_code"])
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
        reached = tuple(user for user in over if self.knows(user))
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


async def _media_part(request: web.Request) -> tuple[str, bytes] | None:
    """The uploaded ``media`` part's file name and bytes (multipart/form-data)."""
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError):  # not multipart at all
        return None
    async for part in reader:
        if isinstance(part, aiohttp.BodyPartReader) and part.name == "media":
            return part.filename or "", bytes(await part.read())
    return None


def _media_error(kind: str, file_name: str, content: bytes) -> web.Response | None:
    extension = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    if kind in MEDIA_FORMATS and extension not in MEDIA_FORMATS[kind]:
        return _error(40005, "invalid file type")
    if len(content) < MIN_MEDIA_BYTES or len(content) > MEDIA_LIMITS[kind]:
        return _error(MEDIA_SIZE_ERRORS[kind], f"invalid {kind} size")
    return None


def _content_type(file_name: str) -> str:
    return mimetypes.guess_type(file_name)[0] or "application/octet-stream"


def _content_error(msgtype: str, body: Mapping[str, Any]) -> web.Response | None:
    if msgtype in ("image", "file"):
        return None if body.get("media_id") else _error(40007, "invalid media_id")
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

    def message(self, fields: Mapping[str, Value]) -> CallbackRequest:
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

    def image(
        self, from_user: str, media_id: str, msg_id: int, pic_url: str = ""
    ) -> CallbackRequest:
        """A member's photo: its MediaId (for media/get) and PicUrl."""
        pic_url = pic_url or f"https://wework.qpic.cn/fake/{media_id}/0"
        fields = {"FromUserName": from_user, "MsgType": "image", "PicUrl": pic_url}
        return self.message({**fields, "MediaId": media_id, "MsgId": msg_id})

    def file(self, from_user: str, media_id: str, file_name: str, msg_id: int) -> CallbackRequest:
        """A member's file: its MediaId (for media/get) and name."""
        fields = {"FromUserName": from_user, "MsgType": "file", "MediaId": media_id}
        return self.message({**fields, "FileName": file_name, "MsgId": msg_id})

    def card_event(
        self,
        from_user: str,
        event_key: str,
        task_id: str,
        response_code: str,
        card_type: str = "button_interaction",
    ) -> CallbackRequest:
        """A press of a template card's button (template_card_event; events have no MsgId)."""
        return self.message(
            {
                "FromUserName": from_user,
                "MsgType": "event",
                "Event": "template_card_event",
                "EventKey": event_key,
                "TaskId": task_id,
                "CardType": card_type,
                "ResponseCode": response_code,
            }
        )

    def scan(
        self, from_user: str, result: str, event: str = "scancode_waitmsg", key: str = "scan"
    ) -> CallbackRequest:
        """A code scanned through a scan menu item (scancode_waitmsg or scancode_push): its
        content in ScanCodeInfo's ScanResult (events have no MsgId)."""
        info = {"ScanType": "qrcode", "ScanResult": result}
        fields = {"FromUserName": from_user, "MsgType": "event", "Event": event}
        return self.message({**fields, "EventKey": key, "ScanCodeInfo": info})

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
