"""Telegram's text formatting as the Bot API applies it: parse modes, entities and trimming.

The offline Bot API uses this to store what Telegram would store (plain text plus UTF-16
entities), to count length after entity parsing, and to reject markup Telegram rejects with
the same ``can't parse entities: …`` descriptions. The HTML parser follows TDLib's
``parse_html`` step by step; MarkdownV2 and legacy Markdown are faithful for everything the
bot is likely to send (escapes, reserved characters, nesting, links, code and pre).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

Entity = dict[str, Any]

HTML_TAGS = {
    "a": "text_link",
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "tg-emoji": "custom_emoji",
    "tg-time": "date_time",
    "pre": "pre",
    "code": "code",
    "blockquote": "blockquote",
}
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
HTML_SPACES = " \t\r\n\v\f"
MARKDOWN_V2_RESERVED = "_*[]()~`>#+-=|{}.!"


class EntityParseError(ValueError):
    """Markup Telegram refuses; ``str(error)`` is the text after ``can't parse entities: ``."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of every entity offset and length."""
    return len(text.encode("utf-16-le")) // 2


def byte_offset(text: str, index: int) -> int:
    """UTF-8 byte offset of ``text[index]``, the unit of Telegram's parse error positions."""
    return len(text[:index].encode("utf-8"))


def parse_text(
    text: str, parse_mode: str | None = None, entities: list[Entity] | None = None
) -> tuple[str, list[Entity]]:
    """Plain text and entities after parsing ``parse_mode`` and trimming, as Telegram keeps."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        plain, found = parse_html(text)
    elif mode == "markdownv2":
        plain, found = MarkdownV2Parser(text).parse()
    elif mode == "markdown":
        plain, found = parse_markdown_legacy(text)
    elif mode:
        raise ValueError(parse_mode)
    else:
        plain, found = text, [dict(entity) for entity in entities or []]
    return trim(plain, found)


def trim(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Strip leading/trailing spaces and newlines the way TDLib does, moving entities along."""
    units = text.encode("utf-16-le")
    entities = [_shrink_leading_space(units, entity) for entity in entities]
    stripped_end = text.rstrip(" \n")
    end = utf16_len(stripped_end)
    leading = len(stripped_end) - len(stripped_end.lstrip(" \n"))
    first_entity = min((entity["offset"] for entity in entities), default=end)
    # TDLib never trims into an entity, so leading whitespace inside one survives.
    cut = min(leading, first_entity)
    kept = []
    for entity in entities:
        stop = min(entity["offset"] + entity["length"], end)
        if stop > entity["offset"]:
            moved = {"offset": entity["offset"] - cut, "length": stop - entity["offset"]}
            kept.append(entity | moved)
    return stripped_end[cut:], sorted(kept, key=lambda e: (e["offset"], -e["length"]))


def _shrink_leading_space(units: bytes, entity: Entity) -> Entity:
    """An entity never starts with a space or newline: TDLib moves its start past them."""
    offset, length = entity["offset"], entity["length"]
    while length > 0 and units[offset * 2 : offset * 2 + 2] in (b" \x00", b"\n\x00"):
        offset += 1
        length -= 1
    return {**entity, "offset": offset, "length": length}


def _decode_html_entity(text: str, index: int) -> tuple[str, int] | None:
    """The character of the ``&…;`` at ``index`` and the index after it, or None (literal '&')."""
    match = re.match(r"&(#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z]+);", text[index:])
    if not match:
        return None
    body = match.group(1)
    if body.startswith("#x"):
        code = int(body[2:], 16)
    elif body.startswith("#"):
        code = int(body[1:])
    elif body in NAMED_ENTITIES:
        return NAMED_ENTITIES[body], index + match.end()
    else:
        return None
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), index + match.end()


@dataclass
class _OpenTag:
    name: str
    argument: str
    start: int  # UTF-16 offset in the output
    attributes: dict[str, str] = field(default_factory=dict)


class _HtmlParser:
    """TDLib's ``parse_html``: a hand-written scanner, not a forgiving HTML5 parser."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.out: list[str] = []
        self.offset = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[Entity] = []

    def error(self, message: str) -> EntityParseError:
        return EntityParseError(message)

    def at(self, index: int) -> str:
        return self.text[index] if index < len(self.text) else ""

    def emit(self, chunk: str) -> None:
        self.out.append(chunk)
        self.offset += utf16_len(chunk)

    def parse(self) -> tuple[str, list[Entity]]:
        while self.pos < len(self.text):
            char = self.text[self.pos]
            decoded = _decode_html_entity(self.text, self.pos) if char == "&" else None
            if decoded:
                self.emit(decoded[0])
                self.pos = decoded[1]
            elif char != "<":
                self.emit(char)
                self.pos += 1
            elif self.at(self.pos + 1) == "/":
                self.end_tag()
            else:
                self.start_tag()
        if self.stack:
            name = self.stack[-1].name
            raise self.error(f'Can\'t find end tag corresponding to start tag "{name}"')
        return "".join(self.out), self.entities

    def skip_spaces(self) -> None:
        while self.at(self.pos) and self.at(self.pos) in HTML_SPACES:
            self.pos += 1

    def read_until(self, stops: str) -> str:
        start = self.pos
        while self.at(self.pos) and self.at(self.pos) not in stops:
            self.pos += 1
        return self.text[start : self.pos]

    def start_tag(self) -> None:
        begin = byte_offset(self.text, self.pos)
        self.pos += 1
        name = self.read_until(HTML_SPACES + ">").lower()
        if not self.at(self.pos):
            raise self.error(f"Unclosed start tag at byte offset {begin}")
        if name not in HTML_TAGS:
            raise self.error(f'Unsupported start tag "{name}" at byte offset {begin}')
        attributes = self.attributes(name, begin)
        self.pos += 1  # the '>'
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise self.error(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
        self.stack.append(_OpenTag(name, _tag_argument(name, attributes), self.offset, attributes))

    def attributes(self, tag: str, begin: int) -> dict[str, str]:
        found: dict[str, str] = {}
        while True:
            self.skip_spaces()
            if self.at(self.pos) == ">":
                return found
            name = self.read_until(HTML_SPACES + "=>").lower()
            if not name:
                raise self.error(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
            self.skip_spaces()
            if self.at(self.pos) != "=":
                if tag == "blockquote" and name == "expandable":
                    found[name] = ""
                    continue
                raise self.error(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" at byte offset {begin}'
                )
            self.pos += 1
            self.skip_spaces()
            if not self.at(self.pos):
                raise self.error(f'Unclosed start tag "{tag}" at byte offset {begin}')
            found[name] = self.attribute_value()
            if not self.at(self.pos):
                raise self.error(f"Unclosed start tag at byte offset {begin}")

    def attribute_value(self) -> str:
        quote = self.at(self.pos)
        if quote not in "'\"":
            start = self.pos
            while self.at(self.pos) and (self.at(self.pos).isalnum() or self.at(self.pos) in ".-"):
                self.pos += 1
            if self.at(self.pos) and self.at(self.pos) not in HTML_SPACES + ">":
                offset = byte_offset(self.text, start)
                raise self.error(f"Unexpected end of name token at byte offset {offset}")
            return self.text[start : self.pos].lower()
        self.pos += 1
        value: list[str] = []
        while self.at(self.pos) and self.at(self.pos) != quote:
            decoded = (
                _decode_html_entity(self.text, self.pos) if self.at(self.pos) == "&" else None
            )
            if decoded:
                value.append(decoded[0])
                self.pos = decoded[1]
            else:
                value.append(self.at(self.pos))
                self.pos += 1
        if self.at(self.pos) == quote:
            self.pos += 1
        return "".join(value)

    def end_tag(self) -> None:
        begin = byte_offset(self.text, self.pos)
        if not self.stack:
            raise self.error(f"Unexpected end tag at byte offset {begin}")
        self.pos += 2
        name = self.read_until(HTML_SPACES + ">")
        self.skip_spaces()
        if self.at(self.pos) != ">":
            raise self.error(f"Unclosed end tag at byte offset {begin}")
        self.pos += 1
        tag = self.stack.pop()
        if name and name != tag.name:
            raise self.error(
                f'Unmatched end tag at byte offset {begin}, expected "</{tag.name}>", '
                f'found "</{name}>"'
            )
        self.close(tag)

    def close(self, tag: _OpenTag) -> None:
        length = self.offset - tag.start
        if length <= 0:
            return
        entity: Entity = {"type": HTML_TAGS[tag.name], "offset": tag.start, "length": length}
        if tag.name == "a":
            if not tag.argument:
                return
            entity["url"] = tag.argument
        elif tag.name == "blockquote" and "expandable" in tag.attributes:
            entity["type"] = "expandable_blockquote"
        elif tag.name == "tg-emoji":
            entity["custom_emoji_id"] = tag.argument
        elif tag.name == "tg-time":
            entity["unix_time"] = int(tag.argument or 0)
            if tag.attributes.get("format"):
                entity["date_time_format"] = tag.attributes["format"]
        elif tag.name == "pre" and tag.argument:
            entity["language"] = tag.argument
        elif tag.name == "code" and self.merge_into_pre(tag):
            return
        self.entities.append(entity)

    def merge_into_pre(self, tag: _OpenTag) -> bool:
        """``<pre><code class="language-x">`` is one pre entity with a language, as in TDLib."""
        parent = self.stack[-1] if self.stack else None
        if parent is None or parent.name != "pre" or parent.start != tag.start:
            return False
        parent.argument = tag.argument or parent.argument
        return True


def _tag_argument(tag: str, attributes: dict[str, str]) -> str:
    """The one attribute each tag cares about (href, language, emoji id, unix time)."""
    if tag == "a":
        return attributes.get("href", "")
    if tag == "code":
        language = attributes.get("class", "")
        return language.removeprefix("language-") if language.startswith("language-") else ""
    if tag == "tg-emoji":
        return attributes.get("emoji-id", "")
    if tag == "tg-time":
        return attributes.get("unix", "")
    return ""


def parse_html(text: str) -> tuple[str, list[Entity]]:
    """Parse Telegram HTML into plain text and entities (offsets in UTF-16 code units)."""
    return _HtmlParser(text).parse()


class MarkdownV2Parser:
    """MarkdownV2 as documented: backslash escapes, reserved characters, nested styles."""

    OPENERS: ClassVar[dict[str, str]] = {
        "*": "bold",
        "_": "italic",
        "__": "underline",
        "~": "strikethrough",
        "||": "spoiler",
    }
    NAMES: ClassVar[dict[str, str]] = {
        "bold": "Bold",
        "italic": "Italic",
        "underline": "Underline",
        "strikethrough": "Strikethrough",
        "spoiler": "Spoiler",
        "text_link": "TextUrl",
        "custom_emoji": "CustomEmoji",
        "code": "Code",
        "pre": "Pre",
    }

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.out: list[str] = []
        self.offset = 0
        self.stack: list[tuple[str, int, int]] = []  # (type, utf16 start, byte offset)
        self.entities: list[Entity] = []

    def emit(self, chunk: str) -> None:
        self.out.append(chunk)
        self.offset += utf16_len(chunk)

    def parse(self) -> tuple[str, list[Entity]]:
        while self.pos < len(self.text):
            self.step()
        if self.stack:
            kind, _, begin = self.stack[-1]
            name = self.NAMES[kind]
            raise EntityParseError(f"Can't find end of {name} entity at byte offset {begin}")
        return "".join(self.out), self.entities

    def step(self) -> None:
        char = self.text[self.pos]
        following = self.text[self.pos + 1 : self.pos + 2]
        if char == "\\" and following and 0 < ord(following) <= 126:
            self.emit(following)
            self.pos += 2
        elif char == "`":
            self.code()
        elif char not in MARKDOWN_V2_RESERVED:
            self.emit(char)
            self.pos += 1
        else:
            self.markup(char)

    def markup(self, char: str) -> None:
        token = self.text[self.pos : self.pos + 2]
        token = token if token in ("__", "||") else char
        if token == "]" and self.stack and self.stack[-1][0] in ("text_link", "custom_emoji"):
            self.close_link()
            return
        kind = self.OPENERS.get(token)
        if kind and self.stack and self.stack[-1][0] == kind:
            self.close(kind)
        elif kind:
            self.stack.append((kind, self.offset, byte_offset(self.text, self.pos)))
        elif token == "[" or (token == "!" and self.text[self.pos + 1 : self.pos + 2] == "["):
            link_kind = "text_link" if token == "[" else "custom_emoji"
            self.stack.append((link_kind, self.offset, byte_offset(self.text, self.pos)))
            token = "[" if token == "[" else "!["
        elif token == ">" and (self.pos == 0 or self.text[self.pos - 1] == "\n"):
            self.quote_line()
            return
        else:
            raise EntityParseError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        self.pos += len(token)

    def close(self, kind: str) -> None:
        _, start, _ = self.stack.pop()
        if self.offset > start:
            self.entities.append({"type": kind, "offset": start, "length": self.offset - start})

    def close_link(self) -> None:
        kind, start, begin = self.stack.pop()
        self.pos += 1
        target = ""
        if self.text[self.pos : self.pos + 1] == "(":
            end = self._link_end(self.pos + 1)
            if end is None:
                name = self.NAMES[kind]
                raise EntityParseError(f"Can't find end of {name} entity at byte offset {begin}")
            target = re.sub(r"\\(.)", r"\1", self.text[self.pos + 1 : end])
            self.pos = end + 1
        if self.offset > start and target:
            key = "url" if kind == "text_link" else "custom_emoji_id"
            if kind == "custom_emoji":
                target = target.removeprefix("tg://emoji?id=")
            length = self.offset - start
            self.entities.append({"type": kind, "offset": start, "length": length, key: target})

    def _link_end(self, index: int) -> int | None:
        while index < len(self.text):
            if self.text[index] == "\\":
                index += 2
                continue
            if self.text[index] == ")":
                return index
            index += 1
        return None

    def code(self) -> None:
        begin = byte_offset(self.text, self.pos)
        fence = "```" if self.text.startswith("```", self.pos) else "`"
        body_start = self.pos + len(fence)
        language = ""
        if fence == "```":
            newline = self.text.find("\n", body_start)
            closing = self.text.find("```", body_start)
            if 0 <= newline < closing:
                language = self.text[body_start:newline]
                body_start = newline + 1
        end = self._code_end(body_start, fence)
        if end is None:
            kind = "Pre" if fence == "```" else "Code"
            raise EntityParseError(f"Can't find end of {kind} entity at byte offset {begin}")
        body = re.sub(r"\\([`\\])", r"\1", self.text[body_start:end])
        start = self.offset
        self.emit(body)
        if body:
            entity: Entity = {"type": "pre" if fence == "```" else "code"}
            entity |= {"offset": start, "length": self.offset - start}
            if language:
                entity["language"] = language
            self.entities.append(entity)
        self.pos = end + len(fence)

    def _code_end(self, index: int, fence: str) -> int | None:
        while index < len(self.text):
            if self.text[index] == "\\":
                index += 2
            elif self.text.startswith(fence, index):
                return index
            else:
                index += 1
        return None

    def quote_line(self) -> None:
        # A '>' at a line start quotes that line; consecutive quoted lines join one blockquote.
        start = self.offset
        while self.pos < len(self.text) and self.text[self.pos] == ">":
            self.pos += 1
            newline = self.text.find("\n", self.pos)
            end = len(self.text) if newline < 0 else newline
            inner = MarkdownV2Parser(self.text[self.pos : end])
            plain, entities = inner.parse()
            base = self.offset
            self.emit(plain)
            self.entities += [{**e, "offset": e["offset"] + base} for e in entities]
            self.pos = end
            if self.text.startswith("\n>", self.pos):
                self.emit("\n")
                self.pos += 1
        if self.offset > start:
            length = self.offset - start
            self.entities.append({"type": "blockquote", "offset": start, "length": length})


LEGACY_KINDS = {"*": "bold", "_": "italic", "`": "code", "[": "text_link", "```": "pre"}


def parse_markdown_legacy(text: str) -> tuple[str, list[Entity]]:
    """Legacy Markdown: ``*bold*``, ``_italic_``, ``` `code` ```, ```` ```pre``` ````, links."""
    out: list[str] = []
    entities: list[Entity] = []
    offset = pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "\\" and text[pos + 1 : pos + 2] in ("*", "_", "`", "["):
            chunk, pos = text[pos + 1], pos + 2
        elif char in "*_`[":
            chunk, entity, pos = _legacy_entity(text, pos)
            if entity and chunk:
                entities.append(entity | {"offset": offset, "length": utf16_len(chunk)})
        else:
            chunk, pos = char, pos + 1
        out.append(chunk)
        offset += utf16_len(chunk)
    return "".join(out), entities


def _legacy_entity(text: str, pos: int) -> tuple[str, Entity | None, int]:
    """The entity opening at ``pos``: its visible text, the entity (no offset yet), next index."""
    opener = "```" if text.startswith("```", pos) else text[pos]
    closer = "]" if opener == "[" else opener
    end = text.find(closer, pos + len(opener))
    if end < 0:
        begin = byte_offset(text, pos)
        raise EntityParseError(f"Can't find end of the entity starting at byte offset {begin}")
    body, after = text[pos + len(opener) : end], end + len(closer)
    entity: Entity = {"type": LEGACY_KINDS[opener]}
    if opener != "[":
        return body, entity, after
    # A link needs its (url); "[text]" alone is plain text.
    match = re.match(r"\(([^)]*)\)", text[after:])
    if not match:
        return body, None, after
    return body, entity | {"url": match.group(1)}, after + match.end()
