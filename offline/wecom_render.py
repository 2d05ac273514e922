"""A minimal Reply → WeCom renderer for tests, benchmarks and the fake, standing in for
bot/wecom/render.py: the texts as one text message, or a button_interaction card whose buttons
keep their callback data as the key (as a notice's 已阅 must)."""

from __future__ import annotations

from bot.flows.base import Reply
from bot.telegram.render import render_label
from bot.wecom.client import Message, TemplateCard, Text


def plain_render(locale: str, reply: Reply) -> list[Message]:
    """The reply's texts, and its buttons as a card's (callback data as each key)."""
    text = "\n".join(render_label(locale, t, markup=False) for t in reply.texts)
    buttons = [b for row in reply.buttons for b in row if b.data]
    if not buttons:
        return [Text(text)]
    card = {
        "card_type": "button_interaction",
        "main_title": {"title": text[:36]},
        "sub_title_text": text,
        "task_id": buttons[0].data.replace("|", "-"),
        "button_list": [
            {"text": render_label(locale, b.label, markup=False), "key": b.data} for b in buttons
        ],
    }
    return [TemplateCard(card)]
