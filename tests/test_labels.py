"""Channel-neutral label rendering: Telegram HTML as plain text and as WeCom's markdown."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from bot.common.markup import html_to_markdown, html_to_plain
from bot.flows.base import Html, Msg
from bot.flows.labels import Style, render_label, render_texts, zone_label


@pytest.mark.parametrize(
    ("source", "plain", "markdown"),
    [
        ("没有标记", "没有标记", "没有标记"),
        ("<b>科普讲座</b> 120 人", "科普讲座 120 人", "**科普讲座** 120 人"),
        ("<i>注</i>", "注", "*注*"),
        (
            '<a href="https://example.org/a?b=1&amp;c=2">文件</a>',
            "文件",
            "[文件](https://example.org/a?b=1&c=2)",
        ),
        ("<code>/start abc123</code>", "/start abc123", "`/start abc123`"),
        ("1 &lt; 2 &amp;&amp; 3 &gt; 2", "1 < 2 && 3 > 2", "1 < 2 && 3 > 2"),
        ("<blockquote>第一行\n第二行</blockquote>", "第一行\n第二行", "> 第一行\n> 第二行\n"),
        (
            "<u>下划线</u><s>删除</s><tg-spoiler>隐藏</tg-spoiler>",
            "下划线删除隐藏",
            "下划线删除隐藏",
        ),
    ],
)
def test_html_read_as_plain_and_markdown(source: str, plain: str, markdown: str) -> None:
    assert html_to_plain(source) == plain
    assert html_to_markdown(source) == markdown


def test_a_catalog_message_in_each_style() -> None:
    texts = [Msg("ask.usage"), "用户的 <话>"]
    as_html = render_texts("zh_CN", texts)
    assert "用户的 &lt;话&gt;" in as_html  # a user's words are escaped for Telegram
    assert render_texts("zh_CN", texts, Style.PLAIN).endswith("用户的 <话>")
    assert "<" not in render_texts("zh_CN", [Html("<b>粗</b>")], Style.MARKDOWN)
    assert render_texts("zh_CN", [Html("<b>粗</b>")], Style.MARKDOWN) == "**粗**"


def test_button_labels_are_plain() -> None:
    assert render_label("zh_CN", Html("<b>a</b> &amp; b"), markup=False) == "a & b"
    assert render_label("en", "x < y", markup=False) == "x < y"


def test_the_zone_is_beijing_time_or_its_name():
    assert render_label("zh_CN", zone_label(ZoneInfo("Asia/Shanghai"))) == "北京时间"
    assert render_label("en", zone_label(ZoneInfo("Asia/Shanghai"))) == "Beijing time"
    assert render_label("en", zone_label(ZoneInfo("Europe/Berlin"))) == "Europe/Berlin"
