"""Decrypted WeCom callbacks read as events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.common.clock import FrozenClock
from bot.wecom.crypto import WeComCrypto
from bot.wecom.events import EventKind, read_event
from bot.wecom.xmlfields import build_xml
from offline.wecom_api import WeComCallbacks


def test_a_text_message_is_read_with_its_msg_id():
    event = read_event(
        build_xml(
            {
                "ToUserName": "ww1",
                "FromUserName": "ZhangSan",
                "CreateTime": 1765000000,
                "MsgType": "text",
                "Content": "科普信息员队伍要建成什么样子",
                "MsgId": 1234567,
                "AgentID": 1000002,
            }
        )
    )
    assert event.kind == EventKind.TEXT
    assert (event.user_id, event.text) == ("ZhangSan", "科普信息员队伍要建成什么样子")
    assert event.dedup_key == "msg:1234567"


def test_a_card_button_press_keeps_its_key_task_and_response_code():
    event = read_event(
        build_xml(
            {
                "FromUserName": "LiSi",
                "CreateTime": 1765000001,
                "MsgType": "event",
                "Event": "template_card_event",
                "EventKey": "f|confirm|ab12|3",
                "TaskId": "t-9",
                "CardType": "button_interaction",
                "ResponseCode": "rc-1",
                "AgentID": 1000002,
            }
        )
    )
    assert event.kind == EventKind.CARD_BUTTON
    assert (event.event_key, event.task_id, event.response_code) == (
        "f|confirm|ab12|3",
        "t-9",
        "rc-1",
    )
    assert event.dedup_key.startswith("event:LiSi:1765000001:")


def test_an_unknown_message_type_is_other():
    event = read_event(build_xml({"FromUserName": "u", "CreateTime": 1, "MsgType": "location"}))
    assert event.kind == EventKind.OTHER


# WeCom's sample of a scan menu's event (接收事件: 扫码推事件且弹出“消息接收中”提示框).
SCAN_SAMPLE = """<xml><ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[FromUser]]></FromUserName>
<CreateTime>1408090816</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[{event}]]></Event>
<EventKey><![CDATA[6]]></EventKey>
<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>
<ScanResult><![CDATA[邀请码 k7m2p9qrst]]></ScanResult>
</ScanCodeInfo>
<AgentID>1</AgentID>
</xml>"""


@pytest.mark.parametrize("scan", ["scancode_waitmsg", "scancode_push"])
def test_a_scanned_code_reads_as_the_text_it_holds(scan):
    event = read_event(SCAN_SAMPLE.replace("{event}", scan))
    assert (event.kind, event.user_id, event.text) == (
        EventKind.TEXT,
        "FromUser",
        "邀请码 k7m2p9qrst",
    )
    assert event.msg_id is None and event.dedup_key.startswith("event:FromUser:1408090816:6:")


def test_a_scan_without_a_result_is_an_empty_text():
    event = read_event(
        build_xml({"FromUserName": "u", "MsgType": "event", "Event": "scancode_push"})
    )
    assert (event.kind, event.text) == (EventKind.TEXT, "")


def test_the_fakes_scan_callback_reads_back_with_markup_in_the_code():
    clock = FrozenClock(datetime(2026, 12, 7, tzinfo=UTC))
    crypto = WeComCrypto("token", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "ww1")
    callbacks = WeComCallbacks("ww1", 1000002, crypto, clock)
    request = callbacks.scan("LiSi", "a <b> & ]]> c", event="scancode_push")
    query = request.query
    plain = crypto.decrypt_message(
        query["msg_signature"], query["timestamp"], query["nonce"], request.body or ""
    )
    assert read_event(plain).text == "a <b> & ]]> c"
