"""WeCom members talking to the real flows: the dispatcher, the WeCom client and the loopback
fake, beside the running Telegram Application (one runtime, one database, both channels).

The loopback fake (offline/wecom_api.py) keeps WeCom's card checks and update_template_card;
`WeComHarness` shows each member what the fake recorded, each card as its latest update reads.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.app import wecom_dispatcher
from bot.common.clock import FrozenClock
from bot.config import Settings
from bot.runtime import runtime_of
from bot.wecom.client import WeComClient
from bot.wecom.events import EventHandler, EventKind, WeComEvent
from offline.wecom_api import FakeWeComAPI, serving
from tests.harness import BotHarness, running_bot

CORP_ID = "ww0123456789abcdef"
SECRET = "the-application-secret"
AGENT_ID = 1000002


@dataclass
class Shown:
    """One message a member saw, or a card as it now reads."""

    kind: str  # "text", "markdown" or "card"
    text: str
    buttons: list[dict[str, Any]] = field(default_factory=list)
    task_id: str | None = None
    code: str | None = None  # the response code of the card's send (unused)


class WeComHarness:
    """Members on WeCom (by UserID) sending texts and pressing card buttons or numbers.

    ``handle``: what takes each event: the dispatcher itself, or (end to end) an encrypted
    callback to the running process that returns once the event is handled."""

    def __init__(
        self,
        api: FakeWeComAPI,
        handle: EventHandler,
        clock: FrozenClock,
        telegram: BotHarness | None = None,
    ) -> None:
        self.api = api
        self.handle = handle
        self.clock = clock
        self._telegram = telegram
        self._msg_ids = itertools.count(1)

    @property
    def telegram(self) -> BotHarness:
        """The Telegram side running beside (wecom_bot's)."""
        assert self._telegram is not None
        return self._telegram

    async def event(self, event: WeComEvent) -> list[Shown]:
        """Handle one event; what the member was sent or saw change because of it."""
        before = len(self.api.log)
        await self.handle(event)
        return [_shown(shown.msgtype, shown.body) for shown in self.api.log[before:]]

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
        return await self._media(EventKind.IMAGE, user, media_id)

    async def file(self, user: str, media_id: str, file_name: str) -> list[Shown]:
        """The member sends a file."""
        return await self._media(EventKind.FILE, user, media_id, file_name)

    async def _media(
        self, kind: EventKind, user: str, media_id: str, file_name: str | None = None
    ) -> list[Shown]:
        self.clock.advance(timedelta(seconds=1))
        msg_id = str(next(self._msg_ids))
        return await self.event(
            WeComEvent(
                kind, user, self._now(), media_id=media_id, file_name=file_name, msg_id=msg_id
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
        for message in self.api.log:
            if user not in message.users:
                continue
            view = _shown(message.msgtype, message.body)
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
    if msgtype in ("image", "file"):  # an uploaded photo or file: its media id as the text
        return Shown(msgtype, str(body.get("media_id", "")))
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
    api = FakeWeComAPI(CORP_ID, SECRET, AGENT_ID, clock, users=set(users))
    async with serving(api.app()) as base_url, running_bot(settings, clock) as telegram:
        client = WeComClient(CORP_ID, SECRET, AGENT_ID, base_url=base_url, clock=clock)
        dispatcher = wecom_dispatcher(runtime_of(telegram.app), client)
        try:
            yield WeComHarness(api, dispatcher, clock, telegram)
        finally:
            await client.close()
