"""The terminal chat engine behind ``stabot chat``: talk to the real Application, offline.

Each typed line becomes an Update for ``app.process_update``; everything the bot sent, edited
or deleted since is printed from the offline Bot API's call log. Buttons are numbered, and a
bare number presses one on the newest keyboard. Messages that arrive on their own (reminders,
broadcasts) are printed as they come, via a listener on the API.

An edit is printed as an edit of its message (``bot (edited #12)>``), and only what changed:
a message whose buttons were taken off (an older step of a form) prints nothing, one whose
buttons changed prints them, not its text again. Photos and documents the bot sends (albums
too) are saved into a folder and their paths printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from telegram.ext import Application

from bot.common.i18n import normalize_locale, t
from offline.bot_api import ApiCall, OfflineBotAPI
from offline.updates import TgUser, UpdateFactory, to_update

JSON = dict[str, Any]
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp"})
# What a saved photo is, by its first bytes (Telegram would hand back a JPEG; offline the
# bytes are the ones the bot uploaded, such as PNG charts).
IMAGE_MAGIC = ((b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"GIF8", ".gif"), (b"BM", ".bmp"))
PROMPT = "you> "
BOT = "bot> "
INDENT = " " * len(BOT)
SENDING = ("sendMessage", "sendPhoto", "sendDocument", "forwardMessage")
EDITING = ("editMessageText", "editMessageCaption", "editMessageReplyMarkup")
HELP = (
    "输入文字发送 · 数字 = 按按钮 · /file 路径 = 发送文件 · \\开头 = 原样发送 · /quit 退出\n"
    "type to send · a number presses a button · /file PATH sends a file · "
    "a leading \\ sends the rest verbatim · /quit ends"
)


async def run_terminal_chat(
    app: Application,
    api: OfflineBotAPI,
    user: TgUser,
    *,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    manage_lifecycle: bool = True,
    factory: UpdateFactory | None = None,
    files_dir: Path | None = None,
    show_last: bool = False,
) -> None:
    """Chat with ``app`` as ``user`` until ``/quit`` or EOF.

    With ``manage_lifecycle`` an app that is not running yet is initialized, started and shut
    down here with its ``post_init``/``post_stop``/``post_shutdown`` hooks, as ``run_polling``
    would do; an app the caller already started is left to the caller. ``files_dir``: where
    the photos and documents the bot sends are saved (None: not saved). ``show_last``: begin
    by showing the bot's newest message in the chat (a session resumed), buttons included.
    """
    chat = TerminalChat(
        app, api, user, stdin=stdin, stdout=stdout, factory=factory, files_dir=files_dir
    )
    chat.show_last = show_last
    started_here = manage_lifecycle and not app.running
    if started_here:
        await _start(app)
    try:
        await chat.run()
    finally:
        if started_here:
            await _stop(app)


async def _start(app: Application) -> None:
    await app.initialize()
    if app.post_init:
        await app.post_init(app)
    await app.start()


async def _stop(app: Application) -> None:
    await app.stop()
    if app.post_stop:
        await app.post_stop(app)
    await app.shutdown()
    if app.post_shutdown:
        await app.post_shutdown(app)


class TerminalChat:
    """One user's conversation with the bot on a text terminal."""

    def __init__(
        self,
        app: Application,
        api: OfflineBotAPI,
        user: TgUser,
        *,
        stdin: TextIO,
        stdout: TextIO,
        factory: UpdateFactory | None = None,
        files_dir: Path | None = None,
    ) -> None:
        self.app, self.api, self.user = app, api, user
        self.stdin, self.stdout = stdin, stdout
        self.factory = factory or UpdateFactory(api)
        self.files_dir = files_dir
        self.locale = normalize_locale(user.language_code)
        # What each message showed when last printed: (chat, message id) → (text, buttons).
        self._shown: dict[tuple[int, int], tuple[str, list[str]]] = {}
        self.api.register_chat(user.private_chat())
        self._cursor = len(api.calls)
        self._at_prompt = False
        self._used_reply_keyboard: int | None = None  # a one-time keyboard already pressed
        self.show_last = False

    async def run(self) -> None:
        """Read lines until ``/quit`` or EOF, printing the bot's output as it appears."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def listener(call: ApiCall) -> None:
            loop.call_soon_threadsafe(wake.set)

        self.api.add_listener(listener)
        watcher = asyncio.create_task(self._watch(wake))
        name = " ".join(filter(None, [self.user.first_name, self.user.last_name]))
        self._print(f"— stabot 离线聊天 / offline chat · {name} (id {self.user.id}) —\n{HELP}")
        if self.show_last:
            self._print_last_message()
        try:
            while await self._turn():
                pass
        finally:
            self.api.remove_listener(listener)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self.flush()

    async def _turn(self) -> bool:
        """One prompt and its line; False when the chat should end."""
        self.flush()
        self.stdout.write(PROMPT)
        self.stdout.flush()
        self._at_prompt = True
        line = await asyncio.to_thread(self.stdin.readline)
        self._at_prompt = False
        if not line:
            self.stdout.write("\n")
            return False
        if not _is_tty(self.stdin):
            self.stdout.write(line if line.endswith("\n") else line + "\n")  # readable transcripts
        return await self.handle_line(line.rstrip("\r\n"))

    async def _watch(self, wake: asyncio.Event) -> None:
        """Print calls made between inputs (scheduled reminders, broadcasts)."""
        while True:
            await wake.wait()
            wake.clear()
            self.flush()

    async def handle_line(self, line: str) -> bool:
        """Act on one typed line; False for ``/quit``."""
        stripped = line.strip()
        if not stripped:
            return True
        if stripped == "/quit":
            return False
        if line.startswith("\\"):
            await self.send(self.factory.message(self.user, line[1:]))
        elif stripped == "/file" or stripped.startswith("/file "):
            await self.send_file(stripped.removeprefix("/file").strip())
        elif stripped.isdigit() and self._keyboard_size() >= int(stripped) >= 1:
            await self.press(int(stripped))
        else:
            await self.send(self.factory.message(self.user, line))
        return True

    async def send(self, update: JSON) -> None:
        """Feed one Update to the application and print what the bot did."""
        await self.app.process_update(to_update(update, self.app.bot))
        self.flush()

    async def send_file(self, raw_path: str) -> None:
        """Send a local file: images as a photo, anything else as a document."""
        path = Path(raw_path).expanduser()
        if not raw_path or not path.is_file():
            self._print(f"(没有这个文件 / no such file: {raw_path or '?'})")
            return
        data = await asyncio.to_thread(path.read_bytes)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            await self.send(self.factory.photo(self.user, data))
            return
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        await self.send(self.factory.document(self.user, data, path.name, mime))

    def _print_last_message(self) -> None:
        """Show where an earlier session stopped, so a number presses the buttons on screen."""
        last = self.api.last_message(self.user.id)
        if last is None:
            return
        body = "\n".join(filter(None, [_media_label(last), _body(last)]))
        head = f"bot ({t(self.locale, 'chat.resumed')})> "
        self._remember(last, body)
        self._print("\n".join(self._lines(head, last, body) + _keyboard_lines(_inline_rows(last))))

    # --- keyboards ---------------------------------------------------------------------------

    def _active_keyboard(self) -> tuple[str, JSON] | None:
        """The newest keyboard in the chat: ("inline", message) or ("reply", markup)."""
        inline = next(
            (
                message
                for message in reversed(self.api.sent_messages(self.user.id))
                if (message.get("reply_markup") or {}).get("inline_keyboard")
            ),
            None,
        )
        reply = self.api.reply_keyboards.get(self.user.id)
        if reply and reply[0] == self._used_reply_keyboard:
            reply = None
        if reply and (inline is None or reply[0] > inline["message_id"]):
            return "reply", reply[1]
        return ("inline", inline) if inline else None

    def _keyboard_size(self) -> int:
        active = self._active_keyboard()
        return len(_buttons(active[0], active[1])) if active else 0

    async def press(self, number: int) -> None:
        """Press button ``number`` (1-based, row by row) of the newest keyboard."""
        active = self._active_keyboard()
        if active is None:
            return
        kind, source = active
        button = _buttons(kind, source)[number - 1]
        if kind == "reply":
            if source.get("one_time_keyboard"):
                self._used_reply_keyboard = self.api.reply_keyboards[self.user.id][0]
            text = button if isinstance(button, str) else button["text"]
            await self.send(self.factory.message(self.user, text))
        elif "callback_data" in button:
            await self.send(self.factory.callback(self.user, button["callback_data"], source))
        elif "url" in button:
            self._print(f"(打开链接 / opens {button['url']})")
        else:
            self._print("(这种按钮离线不可用 / this kind of button does nothing offline)")

    # --- output ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Print every call recorded since the last flush that a user would notice."""
        calls = self.api.calls
        if self._cursor > len(calls):  # someone called clear_calls()
            self._cursor = 0
        fresh, self._cursor = calls[self._cursor :], len(calls)
        lines = [line for call in fresh for line in self.render_call(call)]
        if not lines:
            return
        if self._at_prompt:
            self.stdout.write("\n")
        self._print("\n".join(lines))
        if self._at_prompt:
            self.stdout.write(PROMPT)
            self.stdout.flush()

    def render_call(self, call: ApiCall) -> list[str]:
        """The lines one Bot API call shows in the chat (none for bookkeeping calls)."""
        if not call.ok:
            description = (call.error or {}).get("description")
            return [f"(Bot API 错误 / error in {call.method}: {description})"]
        if call.method in SENDING:
            return self._render_message(call.result, call.params.get("reply_markup"))
        if call.method == "copyMessage":
            key = (self._chat_id(call.params["chat_id"]), call.result["message_id"])
            return self._render_message(self.api.messages[key], call.params.get("reply_markup"))
        if call.method == "sendMediaGroup":
            return [line for message in call.result for line in self._render_message(message)]
        if call.method in EDITING:
            return self._render_edit(call.result) if isinstance(call.result, dict) else []
        if call.method == "deleteMessage":
            return [f"(消息 #{call.params['message_id']} 已删除 / deleted)"]
        if call.method == "answerCallbackQuery" and call.params.get("text"):
            mark = "⚠️ " if call.params.get("show_alert") else "💬 "
            return [INDENT + mark + call.params["text"]]
        return []

    def _render_message(self, message: JSON, markup: JSON | None = None) -> list[str]:
        body = "\n".join(filter(None, [_media_label(message), _body(message)]))
        rendered = self._lines(BOT, message, body)
        rendered += self._saved_lines(message)
        rendered += _keyboard_lines(_inline_rows(message))
        if markup and "keyboard" in markup:
            rendered += _keyboard_lines(markup["keyboard"], mark="⌨ ")
        self._remember(message, body)
        return rendered

    def _render_edit(self, message: JSON) -> list[str]:
        """An edit, marked as one, showing only what changed since the message was printed."""
        body = "\n".join(filter(None, [_media_label(message), _body(message)]))
        rows = _inline_rows(message)
        before = self._shown.get(_key(message))
        self._remember(message, body)
        label = t(self.locale, "chat.edited", id=message["message_id"])
        head = f"bot ({label})> "
        if before is not None and before[0] == body:
            if not rows or _labels(rows) == before[1]:
                return []  # buttons taken off an older message, or nothing visible changed
            return self._lines(head, message, t(self.locale, "chat.buttons_changed")) + (
                _keyboard_lines(rows)
            )
        return self._lines(head, message, body) + _keyboard_lines(rows)

    def _lines(self, head: str, message: JSON, body: str) -> list[str]:
        chat = message["chat"]
        if chat["id"] != self.user.id:
            body = f"[→ {chat.get('title') or chat.get('first_name') or chat['id']}] {body}"
        lines = body.split("\n")
        return [head + lines[0]] + [INDENT + line for line in lines[1:]]

    def _remember(self, message: JSON, body: str) -> None:
        self._shown[_key(message)] = (body, _labels(_inline_rows(message)))

    # --- files the bot sends -----------------------------------------------------------------

    def _saved_lines(self, message: JSON) -> list[str]:
        """Save the message's photo or document; the line that says where (none: no file)."""
        found = _attached_file(message)
        if self.files_dir is None or found is None:
            return []
        file_id, name = found
        data = self.api.file_bytes(file_id)
        if name is None:  # a photo: named by when it was sent, typed by its bytes
            stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(message.get("date", 0)))
            name = f"photo_{stamp}_{message['message_id']}{_image_suffix(data)}"
        path = _free_path(self.files_dir, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return [INDENT + "📎 " + t(self.locale, "chat.saved", path=_shown_path(path))]

    def _chat_id(self, raw: int | str) -> int:
        if isinstance(raw, str) and raw.startswith("@"):
            return next(c["id"] for c in self.api.chats.values() if c.get("username") == raw[1:])
        return int(raw)

    def _print(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()


def _key(message: JSON) -> tuple[int, int]:
    return message["chat"]["id"], message["message_id"]


def _inline_rows(message: JSON) -> list[list[Any]]:
    return (message.get("reply_markup") or {}).get("inline_keyboard") or []


def _labels(rows: list[list[Any]]) -> list[str]:
    return [button.get("text", "") for row in rows for button in row]


def _attached_file(message: JSON) -> tuple[str, str | None] | None:
    """The file id of a message's photo (its largest size) or document, and the document's
    name (None for a photo)."""
    if message.get("photo"):
        return message["photo"][-1]["file_id"], None
    document = message.get("document")
    if document:
        return document["file_id"], Path(document.get("file_name") or "document").name
    return None


def _image_suffix(data: bytes) -> str:
    for magic, suffix in IMAGE_MAGIC:
        if data.startswith(magic):
            return suffix
    if data[8:12] == b"WEBP":
        return ".webp"
    return ".jpg"


def _free_path(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name (2)``, ``name (3)`` … when that is taken (earlier sessions)."""
    path = folder / name
    number = 1
    while path.exists():
        number += 1
        path = folder / f"{Path(name).stem} ({number}){Path(name).suffix}"
    return path


def _shown_path(path: Path) -> str:
    """The path relative to the working directory when it lies below it (data/chat-files/…)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _buttons(kind: str, source: JSON) -> list[Any]:
    rows = source["reply_markup"]["inline_keyboard"] if kind == "inline" else source["keyboard"]
    return [button for row in rows for button in row]


def _keyboard_lines(rows: list[list[Any]], mark: str = "") -> list[str]:
    """``[1] 今天  [2] 昨天``, one line per row, numbered across rows."""
    lines, number = [], 0
    for row in rows:
        labels = []
        for button in row:
            number += 1
            text = button if isinstance(button, str) else button.get("text", "")
            link = " ↗" if isinstance(button, dict) and "url" in button else ""
            labels.append(f"[{number}] {text}{link}")
        lines.append(INDENT + mark + "  ".join(labels))
    return lines


def _media_label(message: JSON) -> str:
    if "photo" in message:
        return "[photo]"
    if "document" in message:
        return f"[document {message['document'].get('file_name', '')}]".replace(" ]", "]")
    if "sticker" in message:
        return f"[sticker {message['sticker'].get('emoji', '')}]".replace(" ]", "]")
    return ""


def _body(message: JSON) -> str:
    """The visible text: entities are already applied, so bold etc. shows as plain text."""
    return message.get("text") or message.get("caption") or ""


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
