"""A loopback fake Telegram Bot API server that enforces Telegram's sending limits with 429s.

Enough of the Bot API for ``stabot run`` in long-polling mode: getMe, getUpdates (long poll,
fed by `FakeBotApi.push_update`), sendMessage / editMessageText and friends. Every send counts
against a global limit (30 per sliding second) and a per-chat limit (1 per second); a send over
either gets ``429 Too Many Requests`` with ``retry_after``, as Telegram answers. A send with
``allow_paid_broadcast`` counts against the paid limit instead (1,000 per sliding second).

`Faults` injects failures, from a seeded random generator: a share of requests answered 500 or
502, and a share whose connection is dropped without an answer; each either *before* the
request is processed (nothing was sent) or *after* (the message went out, the answer is lost),
which is exactly what a client cannot tell apart. Which share of each kind strikes after
processing is the fault *model*, set per kind (``after_5xx``, ``after_drop``). The defaults:
- a 5xx strikes before processing (``after_5xx = 0``): a 500/502 from Telegram's front (its
  nginx) is generally an answer given because the request could not be handed to, or was
  refused by, the server behind it, so nothing was done;
- a dropped connection is either (``after_drop = 0.5``): the network may fail on the way there
  (nothing done) or on the way back (done, answer lost), and nothing tells which.
The earlier model struck half of both kinds after processing (``after_5xx = 0.5``).

The messages the bot sent are kept per chat with their keyboards (edits change them in place),
so scripted users can press the buttons of the newest one; `FakeBotApi.wait_for` lets them wait
for the bot's answer. setWebhook / getWebhookInfo / deleteWebhook keep one webhook URL.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler

from offline.faults import FaultModel

EDITS = frozenset({"editMessageText", "editMessageReplyMarkup", "editMessageCaption"})
_TAGS = re.compile(r"<[^>]+>")
SENDS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "copyMessage", "forwardMessage"})
FAULTY = SENDS | EDITS | {"answerCallbackQuery", "deleteMessage"}
BOT_USER = {"id": 7_000_000_001, "is_bot": True, "first_name": "stabot", "username": "bench_bot"}


@dataclass
class Limits:
    """Telegram's documented sending limits."""

    per_second: int = 30
    per_chat_interval: float = 1.0
    retry_after: int = 1
    paid_per_second: int = 1000


@dataclass
class Faults(FaultModel):
    """Which share of requests fail, and how (see the module doc), on these methods."""

    methods: frozenset[str] = FAULTY

    def draw(self, method: str) -> tuple[str, str] | None:
        """None, or (``5xx`` | ``drop``, ``before`` | ``after``) for one request."""
        return self.roll() if method in self.methods else None


def parse_faults(spec: str | None, seed: int, after: str | None = None) -> Faults:
    """``0.10,0.03``: the share answered 500/502 and the share of dropped connections;
    ``after`` (``0,0.5``): of each, the share that strikes after processing (the defaults)."""
    faults = Faults(seed=seed)
    if spec:
        faults.error_5xx, faults.drop = (float(v) for v in spec.split(","))
    if after:
        faults.after_5xx, faults.after_drop = (float(v) for v in after.split(","))
    return faults


@dataclass
class FakeBotApi:
    """The server's state: limits, what was sent, and the update queue."""

    limits: Limits = field(default_factory=Limits)
    faults: Faults = field(default_factory=Faults)
    fault_log: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # method,kind,when
    sends: deque[float] = field(default_factory=deque)  # accepted send times, last second
    paid_sends: deque[float] = field(default_factory=deque)  # the same for paid sends
    chat_last: dict[int, float] = field(default_factory=dict)
    accepted: list[tuple[float, int, str]] = field(default_factory=list)  # (time, chat, method)
    # The wall-clock time of each accepted send (time.time(), comparable with what the bot
    # records on this host), in the order of ``accepted``.
    accepted_wall: list[float] = field(default_factory=list)
    per_chat: Counter[int] = field(default_factory=Counter)
    rejected_429: int = 0
    rejected_by: Counter[str] = field(default_factory=Counter)  # "global" or "chat"
    updates: list[dict[str, Any]] = field(default_factory=list)
    update_handed_out: dict[int, float] = field(default_factory=dict)  # update_id -> time
    _message_id: int = 0
    _new_update: asyncio.Event = field(default_factory=asyncio.Event)
    # What scripted users need: the bot's messages per chat (id -> message, keyboards
    # included), every call per chat as (time, method), answered callback query ids.
    chat_messages: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)
    chat_calls: dict[int, list[tuple[float, str]]] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)
    webhook: dict[str, Any] = field(default_factory=dict)  # setWebhook's parameters
    webhook_sets: int = 0  # setWebhook calls accepted
    polls: int = 0  # getUpdates calls received
    _activity: asyncio.Condition | None = None

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for the bot's next getUpdates."""
        self.updates.append(update)
        self._new_update.set()

    def admit(self, chat_id: int, now: float, paid: bool = False) -> int | None:
        """None when a send to ``chat_id`` is within limits, else the retry_after to answer."""
        window, limit = (
            (self.paid_sends, self.limits.paid_per_second)
            if paid
            else (self.sends, self.limits.per_second)
        )
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= limit:
            self.rejected_by["paid" if paid else "global"] += 1
            return self.limits.retry_after
        if now - self.chat_last.get(chat_id, -1e9) < self.limits.per_chat_interval:
            self.rejected_by["chat"] += 1
            return self.limits.retry_after
        window.append(now)
        self.chat_last[chat_id] = now
        return None

    def message(
        self, chat_id: int, text: str | None, markup: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A minimal valid Message the bot "sent", kept with its keyboard."""
        self._message_id += 1
        message = {
            "message_id": self._message_id,
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private", "first_name": "u"},
            "date": int(time.time()),
            "text": _TAGS.sub("", text or ""),  # Telegram answers with the text without tags
        }
        if markup:
            message["reply_markup"] = markup
        self.chat_messages.setdefault(chat_id, {})[self._message_id] = message
        return message

    def edit(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Change a kept message as an edit does (text and keyboard), and answer with it."""
        chat_id = int(params.get("chat_id") or 0)
        message_id = int(params.get("message_id") or 0)
        kept = self.chat_messages.get(chat_id, {}).get(message_id)
        if kept is None:  # not one of ours: answer as before, a fresh message
            return self.message(chat_id, params.get("text"))
        if method == "editMessageText":
            kept["text"] = _TAGS.sub("", params.get("text") or "")
        markup = _markup(params)
        if markup:
            kept["reply_markup"] = markup
        else:
            kept.pop("reply_markup", None)
        return kept

    def keyboard(self, chat_id: int) -> dict[str, Any] | None:
        """The newest message the bot sent to ``chat_id`` that still has an inline keyboard."""
        for message in reversed(self.chat_messages.get(chat_id, {}).values()):
            if (message.get("reply_markup") or {}).get("inline_keyboard"):
                return message
        return None

    def note_call(self, chat_id: int | None, method: str) -> None:
        """Record a call about a chat and wake whoever waits for one."""
        if chat_id is not None:
            self.chat_calls.setdefault(chat_id, []).append((time.perf_counter(), method))
        if self._activity is not None:
            condition = self._activity

            async def notify() -> None:
                async with condition:
                    condition.notify_all()

            asyncio.get_running_loop().create_task(notify())

    async def wait_for(self, predicate: Any, timeout: float) -> bool:
        """Wait until ``predicate()`` holds (checked after each call), up to ``timeout`` s."""
        if self._activity is None:
            self._activity = asyncio.Condition()
        async with self._activity:
            try:
                await asyncio.wait_for(self._activity.wait_for(predicate), timeout)
            except TimeoutError:
                return False
        return True

    async def get_updates(self, offset: int, timeout: float) -> list[dict[str, Any]]:
        """Updates from ``offset`` on, waiting up to ``timeout`` seconds for one."""
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates and timeout > 0:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), timeout)
            except TimeoutError:
                return []
        now = time.perf_counter()
        for update in self.updates:
            self.update_handed_out.setdefault(update["update_id"], now)
        return list(self.updates)


class BotApiHandler(RequestHandler):
    """``POST /bot<token>/<method>``."""

    def initialize(self, api: FakeBotApi) -> None:
        self.api = api

    def check_xsrf_cookie(self) -> None:
        """No cookies here."""

    async def post(self, token: str, method: str) -> None:
        params = self._params()
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            self.api.polls += 1
            updates = await self.api.get_updates(offset, float(params.get("timeout") or 0))
            return self._ok(updates)
        fault = self.api.faults.draw(method)
        if fault is not None:
            self.api.fault_log[(method, *fault)] += 1
        if fault is not None and fault[1] == "before":
            return self._fail(fault[0])
        self._answer(method, params)
        if fault is not None:  # processed; the answer is lost
            return self._fail(fault[0])
        return self._flush()

    def _answer(self, method: str, params: dict[str, Any]) -> None:
        """Process the request and write (not yet send) the answer."""
        if method in SENDS:
            return self._send(method, params)
        if method in EDITS:
            result = self.api.edit(method, params)
            self.api.note_call(result["chat"]["id"], method)
            return self._ok(result)
        if method == "getMe":
            return self._ok(BOT_USER)
        if method == "answerCallbackQuery":
            self.api.answered.add(str(params.get("callback_query_id")))
            self.api.note_call(None, method)
        return self._webhook(method, params)

    def _webhook(self, method: str, params: dict[str, Any]) -> None:
        if method == "setWebhook":
            self.api.webhook = dict(params)
            self.api.webhook_sets += 1
        elif method == "deleteWebhook":
            self.api.webhook = {}
        elif method == "getWebhookInfo":
            info = {"url": self.api.webhook.get("url", ""), "has_custom_certificate": False}
            return self._ok(info | {"pending_update_count": len(self.api.updates)})
        return self._ok(True)

    def _fail(self, kind: str) -> None:
        self.clear()
        if kind == "drop":
            # No answer at all: the client sees the connection close under its request.
            self.request.connection.stream.close()  # type: ignore[attr-defined]
            return
        self.set_status(self.api.faults.rng.choice((500, 502)))
        self.set_header("Content-Type", "application/json")
        self.write({"ok": False, "error_code": self.get_status(), "description": "Bad Gateway"})
        self.finish()

    def _flush(self) -> None:
        if not self._finished:
            self.finish()

    def _send(self, method: str, params: dict[str, Any]) -> None:
        chat_id = int(params["chat_id"])
        now = time.perf_counter()
        paid = str(params.get("allow_paid_broadcast", "")).lower() == "true"
        retry = self.api.admit(chat_id, now, paid)
        if retry is not None:
            self.api.rejected_429 += 1
            self.set_status(429)
            self.write(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {retry}",
                    "parameters": {"retry_after": retry},
                }
            )
            return
        self.api.accepted.append((now, chat_id, method))
        self.api.accepted_wall.append(time.time())
        self.api.per_chat[chat_id] += 1
        text = params.get("text") or params.get("caption")
        self._ok(self.api.message(chat_id, text, _markup(params)))
        self.api.note_call(chat_id, method)

    def _params(self) -> dict[str, Any]:
        if self.request.headers.get("Content-Type", "").startswith("application/json"):
            return json.loads(self.request.body or b"{}")
        return {k: self.get_body_argument(k) for k in self.request.body_arguments}

    def _ok(self, result: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps({"ok": True, "result": result}, ensure_ascii=False))


def _markup(params: dict[str, Any]) -> dict[str, Any] | None:
    markup = params.get("reply_markup")
    if isinstance(markup, str):  # form-encoded calls carry it as JSON text
        markup = json.loads(markup or "null")
    return markup or None


def make_server(api: FakeBotApi, port: int) -> HTTPServer:
    """Listen on 127.0.0.1:``port`` (loopback only)."""
    app = Application([(r"/bot([^/]+)/(\w+)", BotApiHandler, {"api": api})])
    server = HTTPServer(app)
    server.listen(port, address="127.0.0.1")
    return server
