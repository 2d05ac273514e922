"""WeCom members talking to the real flows: the dispatcher, the WeCom client and the loopback
fake, beside the running Telegram Application (one runtime, one database, both channels).

`CardAPI` is the loopback fake with what the dispatcher also needs of WeCom: the
``update_template_card`` endpoint (a response code is good for one update) and WeCom's checks
of a button card (at most 6 buttons, a button's text at most 10 characters, its key at most
1024 bytes, a task id of at most 128 bytes that no earlier card used). When the fake in
offline/wecom_api.py gains update_template_card, this subclass keeps only the checks.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.app import wecom_dispatcher
from bot.common.clock import FrozenClock
from bot.config import Settings
from bot.runtime import runtime_of
from bot.wecom.client import WeComClient
from bot.wecom.dispatch import WeComDispatcher
from bot.wecom.events import EventKind, WeComEvent
from bot.wecom.render import (
    BUTTON_KEY_MAX_BYTES,
    BUTTON_TEXT_MAX,
    CARD_BUTTONS_MAX,
    TASK_ID_MAX_BYTES,
)
from offline.wecom_api import FakeWeComAPI, serving
from tests.harness import BotHarness, running_bot

CORP_ID = "ww0123456789abcdef"
SECRET = "the-application-secret"
AGENT_ID = 1000002


def _answer(data: Mapping[str, Any], errcode: int = 0, errmsg: str = "ok") -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": errmsg, **data})


def _error(errcode: int, errmsg: str) -> web.Response:
    return _answer({}, errcode, errmsg)


@dataclass
class CardAPI(FakeWeComAPI):
    """The fake WeCom API, with update_template_card and WeCom's button card checks."""

    updates: list[dict[str, Any]] = field(default_factory=list, init=False)
    # Every accepted send and card update in order: (msgtype, body, users).
    log: list[tuple[str, Mapping[str, Any], tuple[str, ...]]] = field(
        default_factory=list, init=False
    )
    task_ids: set[str] = field(default_factory=set, init=False)
    codes: set[str] = field(default_factory=set, init=False)  # response codes not yet used
    _codes: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False)

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_post("/cgi-bin/message/update_template_card", self._update_card)
        return app

    def press_code(self) -> str:
        """The response code WeCom puts in a card event."""
        code = f"press-{next(self._codes)}"
        self.codes.add(code)
        return code

    async def _message_send(self, request: web.Request) -> web.Response:
        payload = json.loads(await request.read())
        if payload.get("msgtype") == "template_card":
            refused = self._check_card(payload.get("template_card") or {}, new=True)
            if refused is not None:
                return refused
        before = len(self.sent)
        response = await super()._message_send(request)
        if len(self.sent) > before:
            sent = self.sent[-1]
            self.log.append((sent.msgtype, sent.body, sent.users))
            if sent.msgtype == "template_card":
                self.codes.add(f"response-{sent.msgid}")
        return response

    async def _update_card(self, request: web.Request) -> web.Response:
        refused = self._check_token(request.query.get("access_token"))
        if refused is not None:
            return refused
        payload = json.loads(await request.read())
        code = payload.get("response_code")
        if code not in self.codes:
            return _error(40001, "invalid response_code")  # unknown, used, or expired
        card = payload.get("template_card") or {}
        refused = self._check_card(card, new=False)
        if refused is not None:
            return refused
        self.codes.discard(code)  # one update per code
        self.updates.append(payload)
        self.log.append(("template_card", card, tuple(payload.get("userids") or ())))
        return _answer({"invaliduser": ""})

    def _check_card(self, card: Mapping[str, Any], *, new: bool) -> web.Response | None:
        buttons = card.get("button_list") or []
        task_id = str(card.get("task_id") or "")
        if card.get("card_type") == "button_interaction" and not 1 <= len(buttons) <= 6:
            return _error(40058, "button_list size out of limit")
        for button in buttons:
            if len(str(button.get("text", ""))) > BUTTON_TEXT_MAX:
                return _error(40058, "button text too long")
            if len(str(button.get("key", "")).encode()) > BUTTON_KEY_MAX_BYTES:
                return _error(40058, "button key too long")
        if not task_id or len(task_id.encode()) > TASK_ID_MAX_BYTES:
            return _error(40058, "invalid task_id")
        if new and task_id in self.task_ids:
            return _error(40058, "task_id already used")
        self.task_ids.add(task_id)
        assert len(buttons) <= CARD_BUTTONS_MAX
        return None


@dataclass
class Shown:
    """One message a member saw, or a card as it now reads."""

    kind: str  # "text", "markdown" or "card"
    text: str
    buttons: list[dict[str, Any]] = field(default_factory=list)
    task_id: str | None = None
    code: str | None = None  # the response code of the card's send (unused)


class WeComHarness:
    """Members on WeCom (by UserID) sending texts and pressing card buttons or numbers."""

    def __init__(
        self, api: CardAPI, dispatcher: WeComDispatcher, clock: FrozenClock, telegram: BotHarness
    ) -> None:
        self.api = api
        self.dispatcher = dispatcher
        self.clock = clock
        self.telegram = telegram
        self._msg_ids = itertools.count(1)

    async def event(self, event: WeComEvent) -> list[Shown]:
        """Handle one event; what the member was sent or saw change because of it."""
        before = len(self.api.log)
        await self.dispatcher(event)
        return [_shown(msgtype, body) for msgtype, body, _users in self.api.log[before:]]

    async def text(self, user: str, content: str) -> list[Shown]:
        """The member sends a text."""
        self.clock.advance(timedelta(seconds=1))
        return await self.event(
            WeComEvent(
                EventKind.TEXT,
                user,
                self._now(),
                text=content,
                msg_id=str(next(self._msg_ids)),
            )
        )

    async def image(self, user: str, media_id: str) -> list[Shown]:
        """The member sends a photo."""
        self.clock.advance(timedelta(seconds=1))
        return await self.event(
            WeComEvent(
                EventKind.IMAGE,
                user,
                self._now(),
                media_id=media_id,
                msg_id=str(next(self._msg_ids)),
            )
        )

    async def press(self, user: str, label: str, card: Shown | None = None) -> list[Shown]:
        """The member presses the button whose text contains ``label`` on the newest card
        (or ``card``), or types the number of that choice when the newest view lists them."""
        view = card or self.latest(user)
        if view.kind != "card":
            return await self.text(user, str(_number_of(view.text, label)))
        button = next(b for b in view.buttons if label in b["text"])
        self.clock.advance(timedelta(seconds=1))
        return await self.event(
            WeComEvent(
                EventKind.CARD_BUTTON,
                user,
                self._now(),
                event_key=button["key"],
                task_id=view.task_id,
                response_code=self.api.press_code(),
            )
        )

    def views(self, user: str) -> list[Shown]:
        """What the member was sent, in order, each card as its latest update shows it."""
        shown: list[Shown] = []
        for msgtype, body, users in self.api.log:
            if user not in users:
                continue
            view = _shown(msgtype, body)
            if view.task_id is not None:  # an updated card is no longer shown as it was
                shown = [s for s in shown if s.task_id != view.task_id]
            shown.append(view)
        return shown

    def latest(self, user: str) -> Shown:
        """The member's newest view with buttons or numbered choices."""
        return next(v for v in reversed(self.views(user)) if v.buttons or _has_choices(v.text))

    def last_text(self, user: str) -> str:
        """The text of the newest thing the member was shown."""
        return self.views(user)[-1].text

    def _now(self) -> int:
        return int(self.clock.now().timestamp())


def _shown(msgtype: str, body: Mapping[str, Any]) -> Shown:
    if msgtype == "template_card":
        title = body.get("main_title", {})
        parts = [title.get("title", ""), title.get("desc", ""), body.get("sub_title_text", "")]
        return Shown(
            "card",
            "\n".join(part for part in parts if part),
            list(body.get("button_list", [])),
            body.get("task_id"),
        )
    return Shown(msgtype, str(body.get("content", "")))


def _has_choices(text: str) -> bool:
    return any(line[:1].isdigit() and ". " in line for line in text.splitlines())


def _number_of(text: str, label: str) -> int:
    for line in text.splitlines():
        number, dot, rest = line.partition(". ")
        if dot and number.isdigit() and label in rest:
            return int(number)
    raise AssertionError(f"no numbered choice {label!r} in {text!r}")


@asynccontextmanager
async def wecom_bot(
    settings: Settings, clock: FrozenClock, users: set[str]
) -> AsyncIterator[WeComHarness]:
    """The running Telegram bot and a WeCom dispatcher on its runtime, talking to the fake."""
    api = CardAPI(CORP_ID, SECRET, AGENT_ID, clock, users=set(users))
    async with serving(api.app()) as base_url, running_bot(settings, clock) as telegram:
        client = WeComClient(CORP_ID, SECRET, AGENT_ID, base_url=base_url, clock=clock)
        dispatcher = wecom_dispatcher(runtime_of(telegram.app), client)
        try:
            yield WeComHarness(api, dispatcher, clock, telegram)
        finally:
            await client.close()
