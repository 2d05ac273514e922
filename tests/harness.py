"""Drive the real Application with real Update JSON over the offline Bot API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram.ext import Application
from telegram.request import BaseRequest, RequestData

from bot.app import build_application
from bot.common.clock import FrozenClock
from bot.config import Settings
from bot.runtime import runtime_of
from bot.services import orgs
from offline.bot_api import ApiCall, OfflineBotAPI
from offline.updates import TgUser, UpdateFactory, to_update
from storage import users_repo
from storage.models import Org, Role

JSON = dict[str, Any]


class BotHarness:
    """One running Application, its offline API, and helpers to talk to it as users."""

    def __init__(self, app: Application, api: OfflineBotAPI, factory: UpdateFactory) -> None:
        self.app = app
        self.api = api
        self.factory = factory

    async def feed(self, update: JSON) -> list[ApiCall]:
        """Process one Update and return the Bot API calls it caused.

        An update Telegram would not deliver (group chatter under privacy mode) never
        reaches the bot: no calls.
        """
        if not self.api.receives(update):
            return []
        before = len(self.api.calls)
        await self.app.process_update(to_update(update, self.app.bot))
        return self.api.calls[before:]

    async def text(self, user: TgUser, text: str) -> list[ApiCall]:
        """The user sends a text message (a command when it starts with /)."""
        if text.startswith("/"):
            command, _, args = text.partition(" ")
            return await self.feed(self.factory.command(user, command, args or None))
        return await self.feed(self.factory.message(user, text))

    async def press(
        self, user: TgUser, label: str, *, message: JSON | None = None
    ) -> list[ApiCall]:
        """The user presses the button whose text contains ``label`` on the newest keyboard."""
        message = message or self.keyboard_message(user.id)
        for row in message["reply_markup"]["inline_keyboard"]:
            for button in row:
                if label in button["text"]:
                    return await self.feed(
                        self.factory.callback(user, button["callback_data"], message)
                    )
        raise AssertionError(f"no button {label!r} in {message['reply_markup']}")

    def keyboard_message(self, chat_id: int) -> JSON:
        """The newest message in the chat that still has an inline keyboard."""
        for message in reversed(self.api.sent_messages(chat_id)):
            if (message.get("reply_markup") or {}).get("inline_keyboard"):
                return message
        raise AssertionError("no message with a keyboard")

    def last_text(self, chat_id: int) -> str:
        """The text of the newest message the bot shows in a chat."""
        message = self.api.last_message(chat_id)
        assert message is not None, "the bot has sent nothing to this chat"
        return message.get("text") or message.get("caption") or ""

    def button_texts(self, chat_id: int) -> list[str]:
        """The labels of the newest inline keyboard in a chat."""
        markup = self.keyboard_message(chat_id)["reply_markup"]["inline_keyboard"]
        return [button["text"] for row in markup for button in row]


def sent_texts(calls: list[ApiCall]) -> list[str]:
    """Texts the bot sent or edited in these calls."""
    return [
        str(c.params.get("text")) for c in calls if c.method in ("sendMessage", "editMessageText")
    ]


def toasts(calls: list[ApiCall]) -> list[str]:
    """Texts of the callback answers in these calls."""
    return [str(c.params.get("text", "")) for c in calls if c.method == "answerCallbackQuery"]


@asynccontextmanager
async def running_bot(
    settings: Settings,
    clock: FrozenClock,
    *,
    after: BotHarness | None = None,
    group_privacy: bool = True,
) -> AsyncIterator[BotHarness]:
    """A started Application (post_init included) on the test database.

    ``after``: a harness whose process "died"; Telegram's update ids go on where it stopped.
    ``group_privacy``: Telegram's privacy mode of the bot (on by default, as at @BotFather).
    """
    api = OfflineBotAPI(
        bot_username=settings.bot_username,
        clock=lambda: clock.now().timestamp(),
        group_privacy=group_privacy,
    )
    app = build_application(settings, request=api, clock=clock, migrate=False)
    first = after.factory.last_update_id + 1 if after is not None else 1
    factory = UpdateFactory(api, clock=lambda: clock.now().timestamp(), first_update_id=first)
    async with app:
        await app.post_init(app)
        # The frozen clock only moves when told: the delivery pipeline's waits move it.
        runtime_of(app).delivery.sleep = ClockSleep(clock)
        yield BotHarness(app, api, factory)


class ClockSleep:
    """Sleeping moves the frozen clock instead of waiting (and remembers each wait)."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))
        await asyncio.sleep(0)


class Between(BaseRequest):
    """A request object in front of the offline API (``api``), to step in on chosen calls."""

    api: BaseRequest

    @property
    def read_timeout(self) -> float | None:
        """No timeout of its own."""
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, *args, **kwargs
    ) -> tuple[int, bytes]:
        """Pass the call on to the offline API."""
        return await self.api.do_request(url, method, request_data, *args, **kwargs)


class ScriptedRequest(Between):
    """The offline API behind scripted answers to chosen methods: each entry answers one call,
    as (status, body), as an exception raised instead (a 429, a 502, a refused connection), or
    as `Arrived` (the offline API did the call, then its answer was lost).

    ``tried``: every call that reached it, as (``now()``, method, its parameters).
    """

    def __init__(
        self,
        api: BaseRequest,
        script: dict[str, list[Any]],
        now: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.api, self.script, self.now = api, script, now
        self.tried: list[tuple[float, str, JSON]] = []

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, *args, **kwargs
    ) -> tuple[int, bytes]:
        """The next scripted answer for this method, or the offline API's."""
        api_method = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data is not None else {}
        self.tried.append((self.now(), api_method, params))
        answers = self.script.get(api_method)
        if answers:
            answer = answers.pop(0)
            if isinstance(answer, Arrived):
                await super().do_request(url, method, request_data, *args, **kwargs)
                raise answer.error
            if isinstance(answer, Exception):
                raise answer
            status, body = answer
            return status, json.dumps({"ok": False, "error_code": status, **body}).encode()
        return await super().do_request(url, method, request_data, *args, **kwargs)

    def texts_tried(self, method: str = "sendMessage") -> list[tuple[float, str]]:
        """(when, text) of every call to ``method`` that reached it, answered or not."""
        return [(at, str(p.get("text"))) for at, m, p in self.tried if m == method]


@dataclass(frozen=True)
class Arrived:
    """A scripted answer: the call is done (the message arrives), then ``error`` is raised in
    place of its answer: a connection dropped on the way back."""

    error: Exception


class BeforeFirst(Between):
    """The offline API, with something done (a write by someone else) just before the first
    call to ``method`` goes: a moment between two of the app's own steps, without patching."""

    def __init__(self, api: BaseRequest, method: str, act: Callable[[], Awaitable[None]]) -> None:
        self.api, self.method, self.act, self.acted = api, method, act, False

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, *args, **kwargs
    ) -> tuple[int, bytes]:
        """Act once before the first ``method``, then pass every call on."""
        if not self.acted and url.rsplit("/", 1)[-1] == self.method:
            self.acted = True
            await self.act()
        return await super().do_request(url, method, request_data, *args, **kwargs)


async def demo_tree(
    session: AsyncSession, members: Iterable[tuple[TgUser, str, Role]], now: datetime
) -> dict[str, Org]:
    """The demo org tree by name, with registered members: (Telegram user, org name, role),
    each named by their first name."""
    tree = {org.name: org for org in await orgs.create_demo_tree(session, now=now)}
    for tg, org_name, role in members:
        user = await users_repo.upsert_user(
            session=session,
            telegram_id=tg.id,
            username=None,
            now=now,
            language_code=tg.language_code,
        )
        user.real_name, user.org_id, user.role = tg.first_name, tree[org_name].id, role
        user.registered_at = now
    return tree


class InboxHarness(BotHarness):
    """A harness whose updates go through the durable inbox, as with ``stabot run``."""

    @property
    def inbox(self):
        """The Application's inbox (ingress and dispatcher)."""
        from bot.telegram.inbox import inbox_of

        return inbox_of(self.app)

    async def receive(self, update: JSON) -> None:
        """Store an update as the webhook or the poller would (the 200 / the next offset)."""
        await self.inbox.ingress.receive(to_update(update, self.app.bot), wait=True)

    async def settle(self) -> None:
        """Wait until every chat's stored updates are handled."""
        await self.inbox.dispatcher.idle()


@asynccontextmanager
async def inbox_bot(
    settings: Settings,
    clock: FrozenClock,
    *,
    start: bool = True,
    after: BotHarness | None = None,
) -> AsyncIterator[InboxHarness]:
    """An Application with the inbox on the test database; ``start=False`` leaves the
    dispatcher closed, so updates are stored and not handled (a process about to die).

    ``after``: the harness of a process that died; Telegram (its API and its update ids)
    goes on as it was.
    """
    if after is not None:
        api, factory = after.api, after.factory
    else:
        api = OfflineBotAPI(
            bot_username=settings.bot_username, clock=lambda: clock.now().timestamp()
        )
        factory = UpdateFactory(api, clock=lambda: clock.now().timestamp())
    app = build_application(settings, request=api, clock=clock, migrate=False, inbox=True)
    harness = InboxHarness(app, api, factory)
    async with app:
        if start:
            await app.post_init(app)
            runtime_of(app).delivery.sleep = ClockSleep(clock)
        yield harness
        if start:
            await app.post_stop(app)
