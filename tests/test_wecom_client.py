"""The WeCom API client against the loopback fake: the token's cache and renewal, the four
message types, and WeCom's errcodes as typed results."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bot.common.clock import FrozenClock
from bot.wecom.client import (
    EXPIRY_MARGIN,
    CardUpdate,
    Markdown,
    MediaType,
    Recipients,
    TemplateCard,
    Text,
    TextCard,
    WeComClient,
    WeComErrcode,
    WeComTokenError,
    WeComTransportError,
)
from bot.wecom.settings import WeComSettings
from offline.wecom_api import FakeWeComAPI, serving

CORP_ID = "ww0123456789abcdef"
SECRET = "the-application-secret"
AGENT_ID = 1000002
ZHANG = Recipients(users=["zhangsan"])


@dataclass
class Setup:
    api: FakeWeComAPI
    client: WeComClient
    clock: FrozenClock


@pytest.fixture
async def wecom() -> AsyncIterator[Setup]:
    clock = FrozenClock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    api = FakeWeComAPI(CORP_ID, SECRET, AGENT_ID, clock, users={"zhangsan", "lisi"})
    async with serving(api.app()) as base_url:
        client = WeComClient(CORP_ID, SECRET, AGENT_ID, base_url=base_url, clock=clock)
        try:
            yield Setup(api, client, clock)
        finally:
            await client.close()


async def test_the_token_is_fetched_once_and_reused(wecom: Setup) -> None:
    for _ in range(3):
        assert (await wecom.client.send(Text("好"), ZHANG)).ok
    assert wecom.api.token_fetches == 1


async def test_concurrent_calls_share_one_fetch(wecom: Setup) -> None:
    results = await asyncio.gather(*(wecom.client.send(Text(f"{n}"), ZHANG) for n in range(8)))
    assert all(result.ok for result in results)
    assert wecom.api.token_fetches == 1


async def test_the_token_is_renewed_shortly_before_it_expires(wecom: Setup) -> None:
    await wecom.client.send(Text("a"), ZHANG)
    wecom.clock.advance(timedelta(hours=2) - EXPIRY_MARGIN - timedelta(seconds=1))
    await wecom.client.send(Text("b"), ZHANG)
    assert wecom.api.token_fetches == 1
    wecom.clock.advance(timedelta(seconds=1))
    await wecom.client.send(Text("c"), ZHANG)
    assert wecom.api.token_fetches == 2
    assert [m.body["content"] for m in wecom.api.sent] == ["a", "b", "c"]


@pytest.mark.parametrize("kill", ["revoke_tokens", "expire_tokens"])  # 40014, 42001
async def test_a_rejected_token_is_fetched_again_once(wecom: Setup, kill: str) -> None:
    await wecom.client.send(Text("a"), ZHANG)
    getattr(wecom.api, kill)()
    result = await wecom.client.send(Text("b"), ZHANG)
    assert result.ok
    assert wecom.api.token_fetches == 2
    assert [m.body["content"] for m in wecom.api.sent] == ["a", "b"]


async def test_a_token_rejected_twice_is_reported_not_retried_forever() -> None:
    clock = FrozenClock(datetime(2026, 12, 7, tzinfo=UTC))
    # Tokens born expired: every send is refused with 42001.
    api = FakeWeComAPI(CORP_ID, SECRET, AGENT_ID, clock, {"zhangsan"}, token_life=timedelta(0))
    async with serving(api.app()) as base_url:
        client = WeComClient(CORP_ID, SECRET, AGENT_ID, base_url=base_url, clock=clock)
        try:
            result = await client.send(Text("a"), ZHANG)
        finally:
            await client.close()
    assert result.errcode == WeComErrcode.EXPIRED_TOKEN
    assert api.token_fetches == 2
    assert api.sent == []


async def test_the_four_message_types_arrive_as_sent(wecom: Setup) -> None:
    card = {
        "card_type": "button_interaction",
        "main_title": {"title": "报送提醒"},
        "task_id": "task-1",
        "button_list": [{"text": "已阅", "key": "ack:1"}],
    }
    messages = [
        Text("你好"),
        Markdown("**截止** 12月9日"),
        TextCard("通知", "请于12月9日前报送", "https://example.org/n/1", "详情"),
        TemplateCard(card),
    ]
    both = Recipients(users=["zhangsan", "lisi"])
    results = [await wecom.client.send(message, both) for message in messages]
    assert all(r.ok and r.msgid for r in results)
    assert [m.msgtype for m in wecom.api.sent] == ["text", "markdown", "textcard", "template_card"]
    assert wecom.api.sent[0].users == ("zhangsan", "lisi")
    assert wecom.api.sent[2].body == {
        "title": "通知",
        "description": "请于12月9日前报送",
        "url": "https://example.org/n/1",
        "btntxt": "详情",
    }
    assert wecom.api.sent[3].body == card
    assert results[3].response_code and results[0].response_code is None


async def test_unknown_users_are_reported(wecom: Setup) -> None:
    some = await wecom.client.send(Text("a"), Recipients(users=["zhangsan", "nobody"]))
    assert some.ok and some.invalid_users == ("nobody",)
    none = await wecom.client.send(Text("a"), Recipients(users=["nobody", "ghost"]))
    assert none.errcode == WeComErrcode.ALL_RECIPIENTS_INVALID and not none.ok
    assert none.invalid_users == ("nobody", "ghost")
    assert [m.users for m in wecom.api.sent] == [("zhangsan",)]


async def test_content_limits_come_back_as_errcodes(wecom: Setup) -> None:
    fits = await wecom.client.send(Text("字" * 682), ZHANG)  # 2046 bytes of UTF-8
    too_long = await wecom.client.send(Text("字" * 683), ZHANG)  # 2049
    empty = await wecom.client.send(Markdown(""), ZHANG)
    long_title = await wecom.client.send(TextCard("t" * 129, "d", "https://e.org"), ZHANG)
    assert fits.ok
    assert too_long.errcode == long_title.errcode == WeComErrcode.CONTENT_TOO_LONG
    assert empty.errcode == WeComErrcode.EMPTY_CONTENT
    assert too_long.errmsg == "content size out of limit"
    assert len(wecom.api.sent) == 1


async def test_a_wrong_secret_raises_without_showing_it(wecom: Setup) -> None:
    base_url = wecom.client.base_url
    client = WeComClient(CORP_ID, "wrong-secret", AGENT_ID, base_url=base_url, clock=wecom.clock)
    try:
        with pytest.raises(WeComTokenError) as raised:
            await client.send(Text("a"), ZHANG)
    finally:
        await client.close()
    assert raised.value.errcode == WeComErrcode.INVALID_SECRET
    assert "wrong-secret" not in str(raised.value)


async def test_no_answer_raises_a_transport_error_without_the_secret() -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = WeComClient(CORP_ID, SECRET, AGENT_ID, base_url=f"http://127.0.0.1:{port}/cgi-bin")
    try:
        with pytest.raises(WeComTransportError) as raised:
            await client.access_token()
    finally:
        await client.close()
    assert SECRET not in str(raised.value) and raised.value.__cause__ is None


async def test_the_client_is_built_from_settings(wecom: Setup) -> None:
    with pytest.raises(ValueError, match="WECOM_SECRET"):
        WeComClient.from_settings(WeComSettings(corp_id=CORP_ID, agent_id=AGENT_ID))
    settings = WeComSettings(
        corp_id=CORP_ID,
        agent_id=AGENT_ID,
        secret=SECRET,  # type: ignore[arg-type]  (pydantic makes it a SecretStr)
        api_base_url=wecom.client.base_url,
    )
    client = WeComClient.from_settings(settings, wecom.clock)
    try:
        assert (await client.send(Text("a"), ZHANG)).ok
    finally:
        await client.close()


async def _card(wecom: Setup) -> str:
    card = {
        "card_type": "button_interaction",
        "task_id": "t-1",
        "button_list": [{"text": "已阅", "key": "ack:1"}],
    }
    sent = await wecom.client.send(TemplateCard(card), ZHANG)
    assert sent.response_code
    return sent.response_code


async def test_a_pressed_card_is_updated_once_by_its_response_code(wecom: Setup) -> None:
    code = await _card(wecom)
    done = await wecom.client.update_template_card(
        code, CardUpdate(replace_name="已阅"), ["zhangsan"]
    )
    again = await wecom.client.update_template_card(
        code, CardUpdate(replace_name="x"), ["zhangsan"]
    )
    assert done.ok and done.invalid_users == ()
    assert again.errcode == WeComErrcode.INVALID_PARAMETER
    [update] = wecom.api.card_updates
    assert (update.users, update.button, update.card) == (
        ("zhangsan",),
        {"replace_name": "已阅"},
        None,
    )


async def test_a_whole_card_replaces_the_pressed_one(wecom: Setup) -> None:
    code = await _card(wecom)
    card = {"card_type": "text_notice", "main_title": {"title": "已报送"}}
    result = await wecom.client.update_template_card(
        code, CardUpdate(card=card), ["zhangsan", "nobody"]
    )
    assert result.ok and result.invalid_users == ("nobody",)
    assert wecom.api.card_updates[0].card == card


def test_a_card_update_is_a_name_or_a_card() -> None:
    with pytest.raises(ValueError):
        CardUpdate()
    with pytest.raises(ValueError):
        CardUpdate(replace_name="a", card={"card_type": "text_notice"})


async def test_a_photo_goes_up_and_comes_back(wecom: Setup) -> None:
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    up = await wecom.client.upload_media(MediaType.IMAGE, photo, "活动照片.png", "image/png")
    assert up.ok and up.media_id
    down = await wecom.client.get_media(up.media_id)
    assert down.ok and down.content == photo
    assert (down.file_name, down.content_type) == ("活动照片.png", "image/png")


async def test_a_members_file_is_downloaded_by_its_media_id(wecom: Setup) -> None:
    media_id = wecom.api.add_media(b"%PDF-1.4 report", "12月报送.pdf", "file")
    down = await wecom.client.get_media(media_id)
    assert down.content == b"%PDF-1.4 report" and down.file_name == "12月报送.pdf"


async def test_an_unknown_media_id_is_40007(wecom: Setup) -> None:
    down = await wecom.client.get_media("no-such-media")
    assert down.errcode == WeComErrcode.INVALID_MEDIA_ID and down.content == b""


@pytest.mark.parametrize(
    ("kind", "name", "size", "errcode"),
    [
        (MediaType.IMAGE, "a.gif", 100, WeComErrcode.INVALID_FILE_TYPE),
        (MediaType.IMAGE, "a.jpg", 10 * 1024 * 1024 + 1, WeComErrcode.INVALID_IMAGE_SIZE),
        (MediaType.IMAGE, "a.jpg", 10 * 1024 * 1024, WeComErrcode.OK),
        (MediaType.FILE, "a.xlsx", 20 * 1024 * 1024 + 1, WeComErrcode.INVALID_FILE_SIZE),
        (MediaType.FILE, "a.xlsx", 5, WeComErrcode.INVALID_FILE_SIZE),
        (MediaType.FILE, "a.xlsx", 6, WeComErrcode.OK),
    ],
)
async def test_uploads_keep_wecoms_formats_and_sizes(
    wecom: Setup, kind: MediaType, name: str, size: int, errcode: int
) -> None:
    result = await wecom.client.upload_media(kind, b"x" * size, name)
    assert result.errcode == errcode
    assert bool(result.media_id) == (errcode == 0)


@pytest.mark.parametrize("kill", ["revoke_tokens", "expire_tokens"])  # 40014, 42001
async def test_media_calls_fetch_a_rejected_token_again_once(wecom: Setup, kill: str) -> None:
    media_id = wecom.api.add_media(b"photo-bytes", "a.jpg")
    await wecom.client.access_token()
    getattr(wecom.api, kill)()
    assert (await wecom.client.get_media(media_id)).content == b"photo-bytes"
    getattr(wecom.api, kill)()
    assert (await wecom.client.upload_media(MediaType.FILE, b"123456", "a.txt")).ok
    code = await _card(wecom)
    getattr(wecom.api, kill)()
    assert (await wecom.client.update_template_card(code, CardUpdate("ok"), ["lisi"])).ok
    assert wecom.api.token_fetches == 4


async def test_a_rate_limit_is_reported_not_retried(wecom: Setup) -> None:
    wecom.api.fail_next(WeComErrcode.API_RATE_LIMITED)
    limited = await wecom.client.send(Text("a"), ZHANG)
    assert limited.rate_limited and not limited.ok
    assert (await wecom.client.send(Text("b"), ZHANG)).ok
    assert [m.body["content"] for m in wecom.api.sent] == ["b"]
