"""Callbacks as WeCom makes them (offline/wecom_api.py), read by the application's crypto,
and delivered over loopback to a callback endpoint that answers with an encrypted reply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from bot.common.clock import FrozenClock
from bot.wecom.crypto import SignatureError, WeComCrypto, WeComCryptoError
from bot.wecom.events import EventKind, WeComEvent, read_event
from bot.wecom.xmlfields import parse_fields
from offline.wecom_api import CallbackRequest, WeComCallbacks, serving

CORP_ID = "ww0123456789abcdef"
AGENT_ID = 1000002
TOKEN = "callback-token"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"


@pytest.fixture
def crypto() -> WeComCrypto:
    return WeComCrypto(TOKEN, AES_KEY, CORP_ID)


@pytest.fixture
def callbacks(crypto: WeComCrypto) -> WeComCallbacks:
    clock = FrozenClock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    return WeComCallbacks(CORP_ID, AGENT_ID, crypto, clock)


def test_the_url_check_decrypts_to_its_echo(
    callbacks: WeComCallbacks, crypto: WeComCrypto
) -> None:
    query = callbacks.url_check("echo-1616140317").query
    assert query["timestamp"] == str(int(datetime(2026, 12, 7, 9, tzinfo=UTC).timestamp()))
    echo = crypto.verify_url(
        query["msg_signature"], query["timestamp"], query["nonce"], query["echostr"]
    )
    assert echo == "echo-1616140317"


def test_a_text_message_decrypts_to_its_fields(
    callbacks: WeComCallbacks, crypto: WeComCrypto
) -> None:
    request = callbacks.text("zhangsan", "报送 12月9日 <&]]>", msg_id=42)
    assert request.body is not None
    outer = parse_fields(request.body)
    assert (outer["ToUserName"], outer["AgentID"]) == (CORP_ID, str(AGENT_ID))
    q = request.query
    fields = parse_fields(
        crypto.decrypt_message(q["msg_signature"], q["timestamp"], q["nonce"], request.body)
    )
    assert fields["FromUserName"] == "zhangsan"
    assert fields["MsgType"] == "text"
    assert fields["Content"] == "报送 12月9日 <&]]>"
    assert (fields["MsgId"], fields["AgentID"], fields["ToUserName"]) == ("42", "1000002", CORP_ID)


def test_each_callback_has_its_own_nonce(callbacks: WeComCallbacks) -> None:
    nonces = {callbacks.text("zhangsan", "a", msg_id=n).query["nonce"] for n in range(5)}
    assert len(nonces) == 5


def test_another_token_cannot_read_the_callbacks(callbacks: WeComCallbacks) -> None:
    stranger = WeComCrypto("another-token", AES_KEY, CORP_ID)
    q = callbacks.url_check("x").query
    with pytest.raises(SignatureError):
        stranger.verify_url(q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"])


def _endpoint(crypto: WeComCrypto) -> web.Application:
    """A minimal callback URL: the URL check, and an encrypted echo of a text message."""

    async def check(request: web.Request) -> web.Response:
        q = request.query
        try:
            echo = crypto.verify_url(q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"])
        except WeComCryptoError:
            return web.Response(status=403)
        return web.Response(text=echo)

    async def receive(request: web.Request) -> web.Response:
        q = request.query
        try:
            plain = crypto.decrypt_message(
                q["msg_signature"], q["timestamp"], q["nonce"], await request.read()
            )
        except WeComCryptoError:
            return web.Response(status=403)
        content = parse_fields(plain)["Content"]
        reply = f"<xml><MsgType>text</MsgType><Content>收到：{content}</Content></xml>"
        return web.Response(text=crypto.encrypt_reply(reply, "1765100000", "7"))

    app = web.Application()
    app.router.add_get("/wecom/callback", check)
    app.router.add_post("/wecom/callback", receive)
    return app


@pytest.fixture
async def endpoint(crypto: WeComCrypto) -> AsyncIterator[str]:
    async with serving(_endpoint(crypto), path="/wecom/callback") as url:
        yield url


async def test_callbacks_delivered_over_loopback(callbacks: WeComCallbacks, endpoint: str) -> None:
    async with aiohttp.ClientSession() as session:
        status, echo = await callbacks.deliver(session, endpoint, callbacks.url_check("e-1"))
        assert (status, echo) == (200, "e-1")
        request = callbacks.text("zhangsan", "你好", msg_id=1)
        status, reply = await callbacks.deliver(session, endpoint, request)
        assert status == 200
        assert callbacks.read_reply(reply) == {"MsgType": "text", "Content": "收到：你好"}
        forged = CallbackRequest({**request.query, "msg_signature": "0" * 40}, request.body)
        status, _ = await callbacks.deliver(session, endpoint, forged)
        assert status == 403


def _event_of(crypto: WeComCrypto, request: CallbackRequest) -> WeComEvent:
    q = request.query
    assert request.body is not None
    plain = crypto.decrypt_message(q["msg_signature"], q["timestamp"], q["nonce"], request.body)
    return read_event(plain)


def test_an_image_carries_its_media_id_and_picture_url(
    callbacks: WeComCallbacks, crypto: WeComCrypto
) -> None:
    event = _event_of(crypto, callbacks.image("zhangsan", "media-7", msg_id=8))
    assert (event.kind, event.media_id, event.msg_id) == (EventKind.IMAGE, "media-7", "8")
    assert event.fields["PicUrl"].endswith("/media-7/0")


def test_a_file_carries_its_media_id_and_name(
    callbacks: WeComCallbacks, crypto: WeComCrypto
) -> None:
    event = _event_of(crypto, callbacks.file("zhangsan", "media-9", "总结.docx", msg_id=9))
    assert (event.kind, event.media_id, event.file_name) == (
        EventKind.FILE,
        "media-9",
        "总结.docx",
    )


def test_a_card_press_carries_what_update_template_card_needs(
    callbacks: WeComCallbacks, crypto: WeComCrypto
) -> None:
    request = callbacks.card_event("lisi", "ack:12", "task-12", "response-msg-3")
    event = _event_of(crypto, request)
    assert event.kind == EventKind.CARD_BUTTON and event.user_id == "lisi"
    assert (event.event_key, event.task_id, event.response_code) == (
        "ack:12",
        "task-12",
        "response-msg-3",
    )
    assert event.fields["CardType"] == "button_interaction" and event.msg_id is None
