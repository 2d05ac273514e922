"""``stabot chat --channel wecom``: the WeCom dispatcher in the terminal, as a WeCom member.

Every line typed is a WeCom text event handed to the real dispatcher (bot/wecom/dispatch.py)
with the bot's runtime (forms, text routes, the policy library: the offline Telegram
Application is started for them, as ``stabot chat`` does). The dispatcher sends through the
real WeCom client to the loopback fake of WeCom's API (offline/wecom_api.py: its checks of
cards and lengths judge every message, as in the tests), and what the fake accepted is
printed: text as it is, markdown as the app shows it (bold, not ``**``), a button card as a box
with its buttons numbered, a card replaced after a press as the new box. A number typed while
the newest view is a card presses that button (a card event with the button's key and a
response code from the fake); a number after numbered choices in a text goes to the
dispatcher as typed, which reads it as that choice, as WeCom would.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from bot.app import build_application, wecom_dispatcher
from bot.config import Settings
from bot.runtime import runtime_of
from bot.wecom.client import WeComClient
from bot.wecom.dispatch import WeComDispatcher
from bot.wecom.events import EventKind, WeComEvent
from offline.bot_api import OfflineBotAPI
from offline.wecom_api import FakeWeComAPI, ShownMessage, serving

PROMPT = "wecom> "
HELP = (
    "输入文字发送 · 卡片下数字 = 按按钮 · /quit 退出\n"
    "type to send · under a card a number presses its button · /quit ends"
)
BOX_WIDTH = 40


# The terminal's own application on the fake: any ids do, nothing leaves the machine.
CHAT_CORP, CHAT_SECRET, CHAT_AGENT = "wwterminal", "terminal-secret", 1000002


@dataclass
class TerminalWeCom:
    """What the fake WeCom API accepted, printed for one member."""

    member: str
    stdout: TextIO
    api: FakeWeComAPI
    card: Mapping[str, Any] | None = None  # the newest view, when it is a card
    seen: int = 0  # how much of the fake's log is printed

    def show_new(self) -> None:
        """Print what the fake was asked to show since the last call."""
        for shown in self.api.log[self.seen :]:
            self._show(shown)
        self.seen = len(self.api.log)

    def _show(self, shown: ShownMessage) -> None:
        mine = list(shown.users) == [self.member]
        who = "" if mine else f" → {'|'.join(shown.users)}"
        if shown.msgtype == "template_card":
            head = "bot (card updated)>" if shown.updated else f"bot{who}>"
            if mine:
                self.card = shown.body
            self.say(f"{head}\n" + "\n".join(card_box(shown.body)))
            return
        if mine:
            self.card = None  # a text after a card: numbers now go to the dispatcher
        content = shown.body.get("content", "")
        if shown.msgtype == "markdown":
            content = markdown_shown(content, bold=self.stdout.isatty())
        self.say(f"bot{who}> {content}")

    def say(self, text: str) -> None:
        """Print a line of the chat."""
        self.stdout.write(text + "\n")
        self.stdout.flush()


_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
_CODE = re.compile(r"`([^`]*)`")


def markdown_shown(text: str, *, bold: bool = False) -> str:
    """A markdown message as the WeCom app shows it, not its marks: bold as the terminal's
    bold (or plain when it is no terminal), a link as its text and address, code as text."""
    text = _LINK.sub(lambda m: f"{m[1]} ({m[2]})" if m[1] else m[2], text)
    text = _CODE.sub(r"\1", text)
    return _BOLD.sub(r"\033[1m\1\033[0m" if bold else r"\1", text)  # last: it adds "["


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

    async def run(self) -> None:
        """Read lines until ``/quit`` or EOF."""
        self.api.say(
            f"— stabot 企业微信离线聊天 / WeCom offline chat · {self.api.member} —\n{HELP}"
        )
        while True:
            self.api.show_new()  # what arrived meanwhile (a notice)
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
        else:
            await self.dispatcher(
                WeComEvent(
                    EventKind.TEXT, self.api.member, self._now(), text=text, msg_id=self._msg_id()
                )
            )
        self.api.show_new()

    def _press(self, card: Mapping[str, Any], key: str) -> WeComEvent:
        return WeComEvent(
            EventKind.CARD_BUTTON,
            self.api.member,
            self._now(),
            event_key=key,
            task_id=card.get("task_id"),
            response_code=self.api.api.press_code(),
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
    clock = runtime_of(application).clock
    fake = FakeWeComAPI(CHAT_CORP, CHAT_SECRET, CHAT_AGENT, clock, every_user=True)
    async with application, serving(fake.app()) as base_url:
        await application.post_init(application)  # type: ignore[misc]
        client = WeComClient(CHAT_CORP, CHAT_SECRET, CHAT_AGENT, base_url=base_url, clock=clock)
        dispatcher = wecom_dispatcher(runtime_of(application), client)
        try:
            await WeComTerminal(dispatcher, TerminalWeCom(member, stdout, fake), stdin).run()
        finally:
            await client.close()
            if application.post_shutdown:
                await application.post_shutdown(application)
