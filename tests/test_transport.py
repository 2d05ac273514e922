"""The aiohttp transport of Bot API calls, against a loopback Bot API: answers, uploads, and
failures with PTB's meaning (TimedOut, NetworkError) and whether they never left."""

from __future__ import annotations

import asyncio
import socket

import pytest
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from benchmarks.fake_bot_api import FakeBotApi, Limits, make_server
from bot.telegram.transport import AiohttpRequest, never_sent

TOKEN = "123456:transport-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bot_on(port: int) -> Bot:
    return Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=AiohttpRequest())


async def test_calls_and_uploads_go_through():
    api, port = FakeBotApi(limits=Limits(10**6, 0.0)), free_port()
    server = make_server(api, port)
    try:
        async with bot_on(port) as bot:
            sent = await bot.send_message(5, "<b>你好</b>", parse_mode="HTML")
            photo = await bot.send_photo(5, b"\x89PNG fake bytes", caption="现场照片")
    finally:
        server.stop()
    assert sent.text == "你好" and sent.chat.id == 5
    assert photo.text == "现场照片"  # the fake answers a photo's caption as its text
    assert [method for _, _, method in api.accepted] == ["sendMessage", "sendPhoto"]


async def post(port: int, **timeouts) -> None:
    request = AiohttpRequest()
    await request.initialize()
    try:
        await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe", **timeouts)
    finally:
        await request.shutdown()


async def test_no_server_is_a_network_error_that_never_left():
    with pytest.raises(NetworkError) as caught:
        await post(free_port())  # nothing listens there
    assert never_sent(caught.value)


async def test_a_server_that_never_answers_times_out_and_may_have_got_it():
    accepted = asyncio.Event()

    async def silent(reader, writer):
        accepted.set()
        await reader.read(65536)
        await asyncio.sleep(30)

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TimedOut) as caught:
            await post(port, read_timeout=0.2)
    finally:
        listener.close()
    assert accepted.is_set() and not never_sent(caught.value)
