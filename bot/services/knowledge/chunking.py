"""Split a Chinese official document into passages that keep their heading path."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from bot.services.knowledge.lines import (
    HEADING_MARKERS,
    Line,
    LineKind,
    heading_rank,
    logical_lines,
)

SECTION_SEPARATOR = " › "
ARTICLE_RANK = 13
MAX_CHARS = 300
# One short sentence carried into the next passage keeps a split answer readable in either.
OVERLAP_CHARS = 80
# A last passage shorter than MIN_CHARS joins the previous one if that stays under the slack.
MIN_CHARS = 60
TAIL_SLACK = 1.3
# An inline heading is the first sentence of its paragraph when that sentence is this short.
MAX_INLINE_TITLE = 40
MAX_HEADING_LINE = 50
_SENTENCE_RE = re.compile(r"[^。！？；!?;]*[。！？；!?;]+[”’」』）)]*|[^。！？；!?;]+$")
_ARTICLE_RE = re.compile(r"第[一二三四五六七八九十百零〇\d]+条")
_CLAUSE_RE = re.compile(r"[^，、,]*[，、,]|[^，、,]+$")
_META_KINDS = {
    LineKind.DATE,
    LineKind.SIGNATURE,
    LineKind.CONTACT,
    LineKind.DOC_NUMBER,
    LineKind.BANNER,
}


class PassageKind(StrEnum):
    """Where a passage comes from."""

    BODY = "body"
    OUTLINE = "outline"
    FRONT = "front"
    META = "meta"


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrievable piece of a document."""

    position: int
    section: tuple[str, ...]
    text: str
    kind: PassageKind = PassageKind.BODY

    @property
    def section_label(self) -> str:
        """The heading path joined for display."""
        return SECTION_SEPARATOR.join(self.section)


@dataclass(slots=True)
class _Heading:
    """An open heading while walking the document."""

    rank: int
    title: str
    children: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Segment:
    """Consecutive paragraphs of one section and kind, waiting to be packed."""

    section: tuple[str, ...]
    kind: PassageKind
    paragraphs: list[str] = field(default_factory=list)


def split_heading(line: Line) -> tuple[int, str, bool] | None:
    """For a heading line: (rank, short title, whether a body paragraph shares the line)."""
    if line.kind != LineKind.HEADING:
        return None
    text = line.text
    rank = heading_rank(text)
    if rank is None:
        return (line.md_level, text, False)
    marker_end = _marker_end(text)
    marker, rest = normalise_marker(text[:marker_end]), text[marker_end:].strip()
    if rank == ARTICLE_RANK:
        # 第一条 … is an article: its number is the heading, the whole text its body.
        return (rank, marker, True)
    if marker.startswith("第"):
        marker += " "  # 第一章 总则, as written
    first_end = _first_sentence_end(rest)
    if first_end is None or first_end == len(rest) - 1:
        if len(text) <= MAX_HEADING_LINE:
            return (rank, marker + rest.rstrip("。"), False)
        return (rank, marker + _short(rest), True)
    if first_end <= MAX_INLINE_TITLE:
        return (rank, marker + rest[:first_end], True)
    return (rank, marker + _short(rest), True)


def _marker_end(text: str) -> int:
    """Where the numbering marker at the start of ``text`` ends."""
    for _, pattern in HEADING_MARKERS:
        match = pattern.match(text)
        if match:
            return match.end()
    return 0


def normalise_marker(marker: str) -> str:
    """Write (二) and 1 . the way the documents mostly do: （二） and 1."""
    marker = marker.replace(" ", "").replace("(", "（").replace(")", "）")
    return marker.replace("．", ".")


def _first_sentence_end(text: str) -> int | None:
    """Index of the first 。！？ in ``text``, or None."""
    positions = [text.find(ch) for ch in "。！？" if ch in text]
    return min(positions) if positions else None


def _short(text: str) -> str:
    """A long first sentence shortened to its first clause, for use as a title."""
    clause = re.split(r"[，。；：,;]", text, maxsplit=1)[0]
    return clause if len(clause) <= MAX_INLINE_TITLE else clause[:MAX_INLINE_TITLE] + "…"


def chunk_text(text: str, *, max_chars: int = MAX_CHARS) -> list[Passage]:
    """Passages of a document's raw text."""
    return chunk_lines(logical_lines(text), max_chars=max_chars)


def chunk_lines(lines: list[Line], *, max_chars: int = MAX_CHARS) -> list[Passage]:
    """Passages of a document's logical lines, outlines of sections included."""
    passages: list[Passage] = []
    for section, kind, body in _merge_small(_walk(_skip_title(lines)), max_chars):
        if kind == PassageKind.OUTLINE:
            passages.append(Passage(len(passages), section, body[0], kind))
            continue
        for piece in pack(body, max_chars):
            passages.append(Passage(len(passages), section, piece, kind))
    return passages


def _skip_title(lines: list[Line]) -> list[Line]:
    """A leading Markdown H1 is the document title, not a section of it."""
    if lines and lines[0].kind == LineKind.HEADING and lines[0].md_level == 1:
        return [Line(lines[0].text, LineKind.TEXT), *lines[1:]]
    return lines


def _walk(lines: list[Line]) -> Iterator[tuple[tuple[str, ...], PassageKind, list[str]]]:
    """Yield (section, kind, paragraphs) groups in document order, outlines included."""
    stack: list[_Heading] = []
    segment: _Segment | None = None
    outlines: list[tuple[int, list[_Heading]]] = []
    groups: list[tuple[tuple[str, ...], PassageKind, list[str]]] = []
    for line in lines:
        heading = split_heading(line)
        if heading is not None:
            rank, title, inline = heading
            while stack and stack[-1].rank >= rank:
                stack.pop()
            if stack:
                stack[-1].children.append(title)
            node = _Heading(rank, title)
            stack.append(node)
            outlines.append((len(groups), list(stack)))
            segment = None
            if not inline:
                continue
        section, kind = _place(line, stack)
        if segment is None or segment.section != section or segment.kind != kind:
            segment = _Segment(section, kind)
            groups.append((segment.section, segment.kind, segment.paragraphs))
        segment.paragraphs.append(line.text)
    yield from _with_outlines(groups, outlines)


def _place(line: Line, stack: list[_Heading]) -> tuple[tuple[str, ...], PassageKind]:
    """The section and passage kind of a non-heading line (or an inline-heading paragraph)."""
    if line.kind in _META_KINDS:
        # Signatures, dates and contacts belong to the document, not to the last open section.
        return (), PassageKind.META
    section = tuple(node.title for node in stack)
    return section, PassageKind.BODY if section else PassageKind.FRONT


def _with_outlines(
    groups: list[tuple[tuple[str, ...], PassageKind, list[str]]],
    outlines: list[tuple[int, list[_Heading]]],
) -> Iterator[tuple[tuple[str, ...], PassageKind, list[str]]]:
    """Interleave an outline (heading + its sub-headings) before each section that has one."""
    by_position: dict[int, list[tuple[tuple[str, ...], PassageKind, list[str]]]] = {}
    for position, path in outlines:
        node = path[-1]
        # A list of bare article numbers (第一条, 第二条 …) tells nothing: no outline for it.
        if len(node.children) >= 2 and not all(_ARTICLE_RE.fullmatch(c) for c in node.children):
            text = "\n".join([node.title, *node.children])
            section = tuple(item.title for item in path)
            by_position.setdefault(position, []).append((section, PassageKind.OUTLINE, [text]))
    for index, group in enumerate(groups):
        yield from by_position.get(index, [])
        yield group
    yield from by_position.get(len(groups), [])


def _merge_small(
    groups: Iterator[tuple[tuple[str, ...], PassageKind, list[str]]], max_chars: int
) -> Iterator[tuple[tuple[str, ...], PassageKind, list[str]]]:
    """Give tiny sections their heading line and join tiny siblings into one passage.

    "（三）活动时间 / 2020年到2022年。" alone is too short to be found or read; with its
    heading and its tiny neighbours it is a passage that says what it is about.
    """
    pending: tuple[tuple[str, ...], PassageKind, list[str]] | None = None
    for section, kind, paragraphs in groups:
        if not _is_small(section, kind, paragraphs):
            if pending:
                yield pending
                pending = None
            yield section, kind, paragraphs
            continue
        body = [section[-1], *paragraphs]
        if (
            pending
            and pending[0][: len(section) - 1] == section[:-1]
            and (sum(map(len, pending[2])) + sum(map(len, body)) <= max_chars)
        ):
            pending = (section[:-1], kind, [*pending[2], *body])
            continue
        if pending:
            yield pending
        pending = (section, kind, body)
    if pending:
        yield pending


def _is_small(section: tuple[str, ...], kind: PassageKind, paragraphs: list[str]) -> bool:
    """A short body under a heading of its own line (an inline heading already shows)."""
    return (
        kind == PassageKind.BODY
        and len(section) > 1
        and sum(map(len, paragraphs)) < MIN_CHARS
        and not paragraphs[0].startswith(section[-1][:4])
    )


def sentences(paragraph: str) -> list[str]:
    """Split a paragraph after 。！？； (closing quotes stay with their sentence)."""
    return [s for s in _SENTENCE_RE.findall(paragraph) if s.strip()]


def _fit(sentence: str, max_chars: int) -> list[str]:
    """Cut a sentence longer than ``max_chars`` at commas, or hard as a last resort."""
    if len(sentence) <= max_chars:
        return [sentence]
    pieces: list[str] = []
    current = ""
    for clause in _CLAUSE_RE.findall(sentence):
        while len(clause) > max_chars:
            pieces.append(clause[:max_chars])
            clause = clause[max_chars:]
        if current and len(current) + len(clause) > max_chars:
            pieces.append(current)
            current = ""
        current += clause
    if current:
        pieces.append(current)
    return pieces


def pack(paragraphs: list[str], max_chars: int = MAX_CHARS) -> list[str]:
    """Pack paragraphs into passages of at most ``max_chars``, ending at sentence ends."""
    passages: list[str] = []
    current: list[str] = []
    for index, paragraph in enumerate(paragraphs):
        units = [u for s in sentences(paragraph) for u in _fit(s, max_chars)]
        for position, unit in enumerate(units):
            joiner = "\n" if position == 0 and index > 0 and current else ""
            if current and _size(current) + len(joiner) + len(unit) > max_chars:
                passages.append("".join(current))
                current = _carry(current, unit, max_chars)
                joiner = ""
            current.append(joiner + unit)
    if current:
        passages.append("".join(current))
    return _merge_tail(passages, max_chars)


def _merge_tail(passages: list[str], max_chars: int) -> list[str]:
    """Fold a stub last passage (a lone closing sentence) into the one before it."""
    if len(passages) >= 2 and len(passages[-1]) < MIN_CHARS:
        merged = passages[-2] + passages[-1]
        if len(merged) <= max_chars * TAIL_SLACK:
            return [*passages[:-2], merged]
    return passages


def _size(units: list[str]) -> int:
    """Characters in a passage being built."""
    return sum(len(unit) for unit in units)


def _carry(previous: list[str], unit: str, max_chars: int) -> list[str]:
    """The overlap that starts the next passage: the previous last sentence, when short."""
    last = previous[-1].lstrip("\n")
    if len(previous) > 1 and len(last) <= OVERLAP_CHARS and len(last) + len(unit) <= max_chars:
        return [last]
    return []
