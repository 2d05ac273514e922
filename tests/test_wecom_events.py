"""Decrypted WeCom callbacks read as events."""

from __future__ import annotations

from bot.wecom.events import EventKind, read_event
from bot.wecom.xmlfields import build_xml


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
