"""Files Telegram holds, fetched through the Bot API: getFile, then the file download.

The adapter behind `bot.services.photo_export.Files` for the bot and the CLI. Telegram's
refusals and network failures become `FileUnavailable` (the export lists the photo as missing);
a 429 is waited out and asked again, as Telegram asks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import Bot, File
from telegram.error import RetryAfter, TelegramError

from bot.services.photo_export import FileUnavailable, Located
from bot.telegram.sender import retry_seconds

T = TypeVar("T")
RETRIES = 2  # 429s waited out per request before the file counts as missing
DOWNLOAD_TIMEOUT = 60.0  # seconds; Telegram serves bots files of up to 20 MB


class BotFiles:
    """`Files` over a `telegram.Bot` (its own request pool and base URLs)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def locate(self, file_id: str) -> Located:
        """getFile: the file's path on Telegram's file server and its size."""
        found = await _asking(lambda: self.bot.get_file(file_id))
        return Located(found.file_size, found)

    async def download(self, located: Located) -> bytes:
        """The file's bytes from Telegram's file server."""
        file: File = located.handle
        data = await _asking(lambda: file.download_as_bytearray(read_timeout=DOWNLOAD_TIMEOUT))
        return bytes(data)


async def _asking(call: Callable[[], Awaitable[T]]) -> T:
    for attempt in range(RETRIES + 1):
        try:
            return await call()
        except RetryAfter as error:
            if attempt == RETRIES:
                raise FileUnavailable(str(error)) from None
            await asyncio.sleep(retry_seconds(error))
        except TelegramError as error:
            raise FileUnavailable(str(error)) from None
    raise AssertionError("unreachable")
