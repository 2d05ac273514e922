"""``stabot chat --channel wecom``: the WeCom dispatcher in the terminal, as a WeCom member.

Every line typed is a WeCom text event handed to the real dispatcher (bot/wecom/dispatch.py)
with the bot's runtime (forms, text routes, the policy library: the offline Telegram
Application is started for them, as ``stabot chat`` does); what the dispatcher sends through
the WeCom API is printed instead of posted: text and markdown as they are, a button card as a
box with its buttons numbered, a card replaced after a press as the new box. A number typed
while the newest view is a card presses that button (a card event with the button's key); a
number after numbered choices in a text goes to the dispatcher as typed, which reads it as
that choice, as WeCom would.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from bot.app import build_application, wecom_dispatcher
from bot.config import Settings
from bot.runtime import runtime_of
from bot.wecom.client import Message, Recipients, SendResult
from bot.wecom.dispatch import WeComDispatcher
from bot.wecom.events import EventKind, WeComEvent
from offline.bot_api import OfflineBotAPI

PROMPT = "wecom> "
HELP = (
    "输入文字发送 · 卡片下数字 = 按按钮 · /quit 退出\n"
    "type to send · under a card a number presses its button · /quit ends"
)
BOX_WIDTH = 40


@dataclass
class TerminalWeCom:
    """The WeCom API as the dispatcher sees it, printing each message for one member."""

    member: str
    stdout: TextIO
    agent_id: int = 0
    card: Mapping[str, Any] | None = None  # the newest view, when it is a card
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    async def send(self, message: Message, to: Recipients, *, safe: bool = False) -> SendResult:
        """Print a message to the member (to someone else: say to whom)."""
        who = "" if list(to.users) == [self.member] else f" → {'|'.join(to.users)}"
        msgid = f"terminal-{next(self._ids)}"
        body = message.body()
        if message.msgtype == "template_card":
            self._show_card(body, f"bot{who}>")
            return SendResult(0, "ok", msgid=msgid, response_code=f"code-{msgid}")
        if not who:
            self.card = None  # a text after a card: numbers now go to the dispatcher
        self.say(f"bot{who}> {body.get('content', '')}")
        return SendResult(0, "ok", msgid=msgid)

    async def call(self, method: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """update_template_card: print the card as it now reads."""
        if method.endswith("update_template_card"):
            self._show_card(payload["template_card"], "bot (card updated)>")
        return {"errcode": 0, "errmsg": "ok"}

    def _show_card(self, card: Mapping[str, Any], head: str) -> None:
        self.card = card
        self.say(f"{head}\n" + "\n".join(card_box(card)))

    def say(self, text: str) -> None:
        """Print a line of the chat."""
        self.stdout.write(text + "\n")
        self.stdout.flush()


def card_box(card: Mapping[str, Any]) -> list[str]:
    """A button card drawn as a box, its buttons numbered."""
    title = card.get("main_title", {})
    lines = [f"┌─ {title.get('title', '')} " + "─" * 8]
    for text in (title.get("desc"), card.get("sub_title_text")):
        lines += [f"│ {line}" for line in (text or "").splitlines() if text]
    buttons = card.get("button_list", [])
    lines.append("│ " + "  ".join(f"[{n}] {b['text']}" for n, b in enumerate(buttons, 1)))
    lines.append("└" + "─" * BOX_WIDTH)
    return lines


class WeComTerminal:
    """One member's conversation with the dispatcher on a text terminal."""

    def __init__(self, dispatcher: WeComDispatcher, api: TerminalWeCom, stdin: TextIO) -> None:
        self.dispatcher, self.api, self.stdin = dispatcher, api, stdin
        self._msg_ids = itertools.count(1)
        self._codes = itertools.count(1)

    async def run(self) -> None:
        """Read lines until ``/quit`` or EOF."""
        self.api.say(
            f"— stabot 企业微信离线聊天 / WeCom offline chat · {self.api.member} —\n{HELP}"
        )
        while True:
            self.api.stdout.write(PROMPT)
            self.api.stdout.flush()
            line = await asyncio.to_thread(self.stdin.readline)
            if not line or line.strip() == "/quit":
                return
            if not self.stdin.isatty():
                self.api.stdout.write(line if line.endswith("\n") else line + "\n")
            await self.handle(line.strip())

    async def handle(self, text: str) -> None:
        """One typed line: a press of the newest card's button, or a text to the dispatcher."""
        if not text:
            return
        card = self.api.card
        buttons = card.get("button_list", []) if card else []
        if text.isdigit() and 1 <= int(text) <= len(buttons) and "key" in buttons[int(text) - 1]:
            await self.dispatcher(self._press(card or {}, buttons[int(text) - 1]["key"]))
            return
        await self.dispatcher(
            WeComEvent(
                EventKind.TEXT, self.api.member, self._now(), text=text, msg_id=self._msg_id()
            )
        )

    def _press(self, card: Mapping[str, Any], key: str) -> WeComEvent:
        return WeComEvent(
            EventKind.CARD_BUTTON,
            self.api.member,
            self._now(),
            event_key=key,
            task_id=card.get("task_id"),
            response_code=f"press-{next(self._codes)}",
            msg_id=self._msg_id(),  # distinct presses of one button stay distinct events
        )

    def _now(self) -> int:
        return int(self.dispatcher.clock.now().timestamp())

    def _msg_id(self) -> str:
        return f"{self._now()}-{next(self._msg_ids)}"


async def run_wecom_chat(
    settings: Settings, *, member: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> None:
    """Chat with the bot in the terminal as WeCom member ``member`` (a UserID)."""
    application = build_application(
        settings, request=OfflineBotAPI(bot_username=settings.bot_username)
    )
    api = TerminalWeCom(member, stdout)
    async with application:
        await application.post_init(application)  # type: ignore[misc]
        dispatcher = wecom_dispatcher(runtime_of(application), api)
        try:
            await WeComTerminal(dispatcher, api, stdin).run()
        finally:
            if application.post_shutdown:
                await application.post_shutdown(application)
