"""Telegram HTML (the catalog's and the flows' markup) as another channel's text.

The catalog's messages and the flows' `Html` are written for Telegram: ``<b>``, ``<i>``,
``<a href>``, ``<code>``, ``<blockquote>`` and HTML entities. A channel without HTML reads them
through one of these: plain text (tags dropped, entities read), or the markdown subset WeCom
shows (``**bold**``, ``[text](url)``, ``> quote``, ``` `code` ```). Read with the standard
library's HTMLParser, so a stray ``<`` in a user's words never breaks the text.
"""

from __future__ import annotations

from html.parser import HTMLParser

# Telegram tag -> (opening, closing) in markdown; a tag not listed keeps only its text.
_MARKDOWN = {
    "b": ("**", "**"),
    "strong": ("**", "**"),
    "i": ("*", "*"),
    "em": ("*", "*"),
    "code": ("`", "`"),
    "pre": ("`", "`"),
}


class _Reader(HTMLParser):
    """Collects the text of Telegram HTML, with markdown marks when asked for."""

    def __init__(self, markdown: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.markdown = markdown
        self.parts: list[str] = []
        self.links: list[str | None] = []  # the href of each open <a>
        self.quoting = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.markdown:
            return
        if tag == "a":
            self.links.append(dict(attrs).get("href"))
            self.parts.append("[")
        elif tag == "blockquote":
            self.quoting = True
            self.parts.append("> ")
        elif tag in _MARKDOWN:
            self.parts.append(_MARKDOWN[tag][0])

    def handle_endtag(self, tag: str) -> None:
        if not self.markdown:
            return
        if tag == "a" and self.links:
            href = self.links.pop()
            self.parts.append(f"]({href})" if href else "]")
        elif tag == "blockquote":
            self.quoting = False
            self.parts.append("\n")
        elif tag in _MARKDOWN:
            self.parts.append(_MARKDOWN[tag][1])

    def handle_data(self, data: str) -> None:
        if self.markdown and self.quoting:
            data = data.replace("\n", "\n> ")  # every line of a quote is quoted
        self.parts.append(data)

    def text(self) -> str:
        self.close()
        return "".join(self.parts)


def html_to_plain(text: str) -> str:
    """Telegram HTML as plain text: tags dropped, entities read (``&lt;`` is ``<``)."""
    return _read(text, markdown=False)


def html_to_markdown(text: str) -> str:
    """Telegram HTML as WeCom's markdown: bold, italics, links, code and quotes kept."""
    return _read(text, markdown=True)


def _read(text: str, *, markdown: bool) -> str:
    if "<" not in text and "&" not in text:
        return text  # most messages: nothing to read
    reader = _Reader(markdown)
    reader.feed(text)
    return reader.text()
