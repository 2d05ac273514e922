"""A flow's Reply as WeCom messages: text or markdown, button cards within WeCom's sizes,
numbered choices where a card cannot hold the buttons, card updates, toasts and albums; every
rendering is accepted by the loopback WeCom API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.common.clock import FrozenClock
from bot.common.i18n import t
from bot.flows.base import Album, Button, Html, Media, Msg, Reply
from bot.flows.callback_data import FormButton
from bot.services.media_store import MediaStore, StoredFile
from bot.wecom.client import (
    Markdown,
    MediaType,
    Recipients,
    TemplateCard,
    Text,
    Upload,
    WeComClient,
)
from bot.wecom.render import (
    BUTTON_TEXT_MAX,
    CARD_BUTTONS_MAX,
    TASK_ID_MAX_BYTES,
    TEXT_MAX_BYTES,
    new_task_id,
    render,
    split_text,
)
from offline.wecom_api import FakeWeComAPI, serving
from tests.wecom_support import AGENT_ID, CORP_ID, SECRET


def _buttons(count: int, label: str = "选项") -> list[list[Button]]:
    return [
        [Button(f"{label}{n}", FormButton("choose", "ab1", str(n)).pack())] for n in range(count)
    ]


def test_plain_text_is_a_text_message_and_formatting_a_markdown_one() -> None:
    (plain,) = render("zh_CN", Reply(["没有格式的一句话"])).messages
    assert plain == Text("没有格式的一句话")
    (formatted,) = render(
        "zh_CN", Reply([Html("<b>粗体</b> 和 <a href='https://a.cn'>链接</a>")])
    ).messages
    assert formatted == Markdown("**粗体** 和 [链接](https://a.cn)")


def test_a_long_text_is_cut_at_line_ends_within_wecom_bytes() -> None:
    lines = [f"第{n}行：" + "科普" * 40 for n in range(60)]
    messages = render("zh_CN", Reply(["\n".join(lines)])).messages
    assert len(messages) > 1
    assert all(len(m.content.encode()) <= TEXT_MAX_BYTES for m in messages)  # type: ignore[union-attr]
    assert "\n".join(m.content for m in messages) == "\n".join(lines)  # type: ignore[union-attr]
    assert all(len(part.encode()) <= 100 for part in split_text("字" * 500, 100))


def test_a_few_short_buttons_make_one_card_whose_keys_are_the_callback_data() -> None:
    reply = Reply([Msg("ask.usage")], buttons=_buttons(CARD_BUTTONS_MAX))
    rendered = render("zh_CN", reply)
    (card,) = rendered.messages
    assert isinstance(card, TemplateCard) and rendered.choices == []
    body = card.card
    assert body["card_type"] == "button_interaction"
    assert [b["key"] for b in body["button_list"]] == [row[0].data for row in reply.buttons]
    assert all(len(b["text"]) <= BUTTON_TEXT_MAX for b in body["button_list"])
    assert 0 < len(body["task_id"].encode()) <= TASK_ID_MAX_BYTES
    assert new_task_id() != new_task_id()


def test_a_prompt_names_its_field_in_the_card_title() -> None:
    text = "活动日期：点按钮，或输入如“3月15日”“2026-03-15”“上周五”。"
    (card,) = render("zh_CN", Reply([text], buttons=_buttons(2))).messages
    assert card.card["main_title"]["title"] == "活动日期"  # type: ignore[union-attr]
    assert card.card["sub_title_text"].startswith("点按钮")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "buttons",
    [
        _buttons(CARD_BUTTONS_MAX + 1),
        [[Button("一个按钮的文字超过了十个字", "form:choose:ab1:1")]],
    ],
    ids=["seven buttons", "a long label"],
)
def test_what_a_card_cannot_hold_becomes_numbered_choices(buttons) -> None:
    reply = Reply(["请选择活动类型"], buttons=buttons)
    rendered = render("zh_CN", reply)
    (message,) = rendered.messages
    assert isinstance(message, Text)
    assert t("zh_CN", "wecom.choices") in message.content
    assert rendered.choices == [row[0].data for row in buttons]
    assert f"1. {buttons[0][0].label}" in message.content


def test_a_link_button_is_a_link() -> None:
    buttons = [[Button("打开", url="https://t.me/x")], *_buttons(7)]
    rendered = render("zh_CN", Reply(["邀请"], buttons=buttons))
    assert "打开: https://t.me/x" in rendered.messages[0].content  # type: ignore[union-attr]
    assert len(rendered.choices) == 7
    (card,) = render("zh_CN", Reply(["邀请"], buttons=buttons[:1])).messages
    assert card.card["button_list"] == [{"type": 1, "text": "打开", "url": "https://t.me/x"}]  # type: ignore[union-attr]


def test_much_text_with_a_few_buttons_is_the_text_then_a_card_of_the_buttons() -> None:
    text = "很长的回答。" * 40
    text_message, card = render("zh_CN", Reply([text], buttons=_buttons(2))).messages
    assert isinstance(text_message, Text) and isinstance(card, TemplateCard)
    assert card.card["main_title"]["title"] == t("zh_CN", "wecom.choose")


def test_an_edit_of_a_pressed_card_updates_it_with_the_toast_as_its_desc() -> None:
    reply = Reply(["下一步"], buttons=_buttons(2), edit=True, toast=Msg("form.stale"))
    rendered = render("zh_CN", reply, response_code="code-1")
    assert rendered.messages == [] and rendered.card_update is not None
    assert rendered.card_update.card["main_title"]["desc"] == t("zh_CN", "form.stale")
    fresh = render("zh_CN", Reply(["下一步"], buttons=_buttons(2), edit=True))
    assert fresh.card_update is None and isinstance(fresh.messages[0], TemplateCard)


def test_a_toast_alone_is_a_short_text() -> None:
    rendered = render("zh_CN", Reply([], toast=Msg("button.stale")))
    assert rendered.messages == [Text(t("zh_CN", "button.stale"))]


def test_albums_send_their_caption_and_say_the_files_are_missing() -> None:
    album = Album((Media("photo", "AgAD1"), Media("photo", "AgAD2")), caption="活动照片")
    messages = render("zh_CN", Reply(["记录"], albums=[album])).messages
    assert messages[-1] == Text("活动照片\n" + t("zh_CN", "wecom.media_pending", count=2))


PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def test_made_files_and_kept_files_are_uploads_and_other_channels_ids_a_note(tmp_path) -> None:
    store = MediaStore(tmp_path)
    kept = store.put(b"%PDF-1.7 notice", "通知.pdf")
    items = (
        Media.made("photo", PNG, "invite.png"),  # the invite's QR code
        Media("document", kept),  # a file a member sent on WeCom
        Media("photo", "AgAD1"),  # a photo Telegram holds
    )
    messages = render("zh_CN", Reply([], albums=[Album(items, caption="附件")]), media=store)
    note = t("zh_CN", "wecom.media_pending", count=1)
    assert messages.messages == [
        Text(f"附件\n{note}"),
        Upload(MediaType.IMAGE, PNG, "invite.png"),
        Upload(MediaType.FILE, b"%PDF-1.7 notice", "通知.pdf"),
    ]


def test_a_photo_too_big_for_an_image_is_a_file_and_one_too_big_for_a_file_is_noted() -> None:
    big, huge = PNG + bytes(10 * 1024 * 1024), bytes(20 * 1024 * 1024 + 1)
    items = (Media.made("photo", big, "chart.png"), Media.made("document", huge, "all.xlsx"))
    messages = render("en", Reply([], albums=[Album(items)])).messages
    assert messages == [
        Text(t("en", "wecom.media_pending", count=1)),
        Upload(MediaType.FILE, big, "chart.png"),
    ]


def test_the_store_keeps_the_same_bytes_once_and_reads_back_the_name(tmp_path) -> None:
    store = MediaStore(tmp_path)
    first, again = store.put(PNG, "现场.png"), store.put(PNG, "现场.png")
    assert first == again and len(list(tmp_path.rglob("*"))) == 2  # a folder and the file
    assert store.get(first) == StoredFile(PNG, "现场.png")
    assert store.get("stored:../../etc:passwd") is None and store.get("AgAD1") is None


async def test_every_rendering_is_accepted_by_the_wecom_api() -> None:
    clock = FrozenClock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    api = FakeWeComAPI(CORP_ID, SECRET, AGENT_ID, clock, users={"zhangsan"})
    replies = [
        Reply(["一句话"]),
        Reply([Html("<b>粗</b>" + "长" * 3000)]),
        Reply([Msg("ask.usage")], buttons=_buttons(6)),
        Reply(["很多选项"], buttons=_buttons(12)),
        Reply(["很长的文字。" * 100], buttons=_buttons(3)),
        Reply(["二维码"], albums=[Album((Media.made("photo", PNG, "qr.png"),))]),
        Reply([], albums=[Album((Media.made("document", b"PK\x03\x04" * 9, "a.xlsx"),))]),
    ]
    async with serving(api.app()) as base_url:
        client = WeComClient(CORP_ID, SECRET, AGENT_ID, base_url=base_url, clock=clock)
        try:
            for reply in replies:
                for message in render("zh_CN", reply).messages:
                    result = await client.send(message, Recipients(users=["zhangsan"]))
                    assert result.ok, (message, result.errmsg)
        finally:
            await client.close()
    assert len(api.task_ids) == 2  # the two cards, each its own task id
