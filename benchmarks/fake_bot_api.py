"""A loopback fake Telegram Bot API server that enforces Telegram's sending limits with 429s.

Enough of the Bot API for ``stabot run`` in long-polling mode: getMe, getUpdates (long poll,
fed by `FakeBotApi.push_update`), sendMessage / editMessageText and friends. Every send counts
against a global limit (30 per sliding second) and a per-chat limit (1 per second); a send over
either gets ``429 Too Many Requests`` with ``retry_after``, as Telegram answers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler

SENDS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "copyMessage", "forwardMessage"})
BOT_USER = {"id": 7_000_000_001, "is_bot": True, "first_name": "stabot", "username": "bench_bot"}


@dataclass
class Limits:
    """Telegram's documented sending limits."""

    per_second: int = 30
    per_chat_interval: float = 1.0
    retry_after: int = 1


@dataclass
class FakeBotApi:
    """The server's state: limits, what was sent, and the update queue."""

    limits: Limits = field(default_factory=Limits)
    sends: deque[float] = field(default_factory=deque)  # accepted send times, last second
    chat_last: dict[int, float] = field(default_factory=dict)
    accepted: list[tuple[float, int, str]] = field(default_factory=list)  # (time, chat, method)
    per_chat: Counter[int] = field(default_factory=Counter)
    rejected_429: int = 0
    rejected_by: Counter[str] = field(default_factory=Counter)  # "global" or "chat"
    updates: list[dict[str, Any]] = field(default_factory=list)
    update_handed_out: dict[int, float] = field(default_factory=dict)  # update_id -> time
    _message_id: int = 0
    _new_update: asyncio.Event = field(default_factory=asyncio.Event)

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for the bot's next getUpdates."""
        self.updates.append(update)
        self._new_update.set()

    def admit(self, chat_id: int, now: float) -> int | None:
        """None when a send to ``chat_id`` is within limits, else the retry_after to answer."""
        while self.sends and now - self.sends[0] >= 1.0:
            self.sends.popleft()
        if len(self.sends) >= self.limits.per_second:
            self.rejected_by["global"] += 1
            return self.limits.retry_after
        if now - self.chat_last.get(chat_id, -1e9) < self.limits.per_chat_interval:
            self.rejected_by["chat"] += 1
            return self.limits.retry_after
        self.sends.append(now)
        self.chat_last[chat_id] = now
        return None

    def message(self, chat_id: int, text: str | None) -> dict[str, Any]:
        """A minimal valid Message the bot "sent"."""
        self._message_id += 1
        return {
            "message_id": self._message_id,
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private", "first_name": "u"},
            "date": int(time.time()),
            "text": text or "",
        }

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
            updates = await self.api.get_updates(offset, float(params.get("timeout") or 0))
            return self._ok(updates)
        if method in SENDS:
            return self._send(method, params)
        if method in ("editMessageText", "editMessageReplyMarkup", "editMessageCaption"):
            chat_id = int(params.get("chat_id") or 0)
            return self._ok(self.api.message(chat_id, params.get("text")))
        if method == "getMe":
            return self._ok(BOT_USER)
        return self._ok(True)

    def _send(self, method: str, params: dict[str, Any]) -> None:
        chat_id = int(params["chat_id"])
        now = time.perf_counter()
        retry = self.api.admit(chat_id, now)
        if retry is not None:
            self.api.rejected_429 += 1
            self.set_status(429)
            self.finish(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {retry}",
                    "parameters": {"retry_after": retry},
                }
            )
            return
        self.api.accepted.append((now, chat_id, method))
        self.api.per_chat[chat_id] += 1
        self._ok(self.api.message(chat_id, params.get("text") or params.get("caption")))

    def _params(self) -> dict[str, Any]:
        if self.request.headers.get("Content-Type", "").startswith("application/json"):
            return json.loads(self.request.body or b"{}")
        return {k: self.get_body_argument(k) for k in self.request.body_arguments}

    def _ok(self, result: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"ok": True, "result": result}, ensure_ascii=False))


def make_server(api: FakeBotApi, port: int) -> HTTPServer:
    """Listen on 127.0.0.1:``port`` (loopback only)."""
    app = Application([(r"/bot([^/]+)/(\w+)", BotApiHandler, {"api": api})])
    server = HTTPServer(app)
    server.listen(port, address="127.0.0.1")
    return server
