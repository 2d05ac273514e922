"""What a WeCom callback carries, once decrypted: one user's message or event.

The callback endpoint (decrypt, store, answer within WeCom's 5 s) makes these; the WeCom
dispatcher turns them into form inputs, commands and button presses. Both sides meet here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.wecom.xmlfields import parse_fields


class EventKind(StrEnum):
    """What the member did."""

    TEXT = "text"  # a text message, or a code scanned through the menu (its ScanResult)
    IMAGE = "image"  # MediaId (and PicUrl) of a photo
    FILE = "file"  # MediaId of a file
    VOICE = "voice"
    CARD_BUTTON = "card_button"  # template_card_event: a template card's button was pressed
    MENU = "menu"  # click: an application menu item (EventKey)
    ENTER = "enter"  # enter_agent: the member opened the application
    OTHER = "other"


_EVENTS = {
    "template_card_event": EventKind.CARD_BUTTON,
    "click": EventKind.MENU,
    "enter_agent": EventKind.ENTER,
}
# A code scanned through a menu item of the scan types: what it holds reads as typed text
# (an invite's QR holds "邀请码 <code>"). scancode_push: WeCom's client also acts on the code
# itself; scancode_waitmsg: it waits for the application's message.
SCAN_EVENTS = frozenset({"scancode_push", "scancode_waitmsg"})


@dataclass(frozen=True)
class WeComEvent:
    """One member's message or event to the application."""

    kind: EventKind
    user_id: str  # FromUserName: the member's UserID in the corp
    create_time: int
    text: str = ""  # a text's Content
    media_id: str | None = None  # an image's, file's or voice's MediaId (valid three days)
    file_name: str | None = None
    event_key: str | None = None  # the pressed button's key or the menu item's key
    task_id: str | None = None  # the card's task id (update_template_card needs it)
    response_code: str | None = None  # a card event's code (update_template_card needs it)
    msg_id: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def dedup_key(self) -> str:
        """What identifies this event when WeCom retries it (MsgId; events have none)."""
        if self.msg_id:
            return f"msg:{self.msg_id}"
        return f"event:{self.user_id}:{self.create_time}:{self.event_key or ''}:{self.kind}"


def read_event(plain_xml: str | bytes) -> WeComEvent:
    """The event a decrypted callback body holds."""
    fields = parse_fields(plain_xml)
    msgtype = fields.get("MsgType", "")
    text = fields.get("Content", "")
    if msgtype == "event" and fields.get("Event") in SCAN_EVENTS:
        kind, text = EventKind.TEXT, scan_result(fields)
    elif msgtype == "event":
        kind = _EVENTS.get(fields.get("Event", ""), EventKind.OTHER)
    else:
        kind = EventKind(msgtype) if msgtype in {k.value for k in EventKind} else EventKind.OTHER
    return WeComEvent(
        kind=kind,
        user_id=fields.get("FromUserName", ""),
        create_time=int(fields.get("CreateTime") or 0),
        text=text,
        media_id=fields.get("MediaId") or None,
        file_name=fields.get("FileName") or fields.get("Title") or None,
        event_key=fields.get("EventKey") or None,
        task_id=fields.get("TaskId") or None,
        response_code=fields.get("ResponseCode") or None,
        msg_id=fields.get("MsgId") or None,
        fields=fields,
    )


def scan_result(fields: Mapping[str, str]) -> str:
    """What a scan event's code holds (ScanCodeInfo's ScanResult)."""
    return parse_fields(f"<xml>{fields.get('ScanCodeInfo', '')}</xml>").get("ScanResult", "")


# The dispatcher's side of the seam: handle one event (the endpoint has already answered WeCom).
EventHandler = Callable[[WeComEvent], Awaitable[None]]
