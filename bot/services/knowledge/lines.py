"""Line-level reading of Chinese official documents: cleaning, classifying, re-joining wraps."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

CN_DIGITS = "〇零一二三四五六七八九十百两○Ｏ"
TERMINAL = set("。！？；：!?;:")
CLOSERS = set("”’」』）)》】")
# A body line this long that ends mid-sentence was cut by a page or line break.
LONG_LINE = 22
# How long a stretch of short lines may grow while it is re-joined as one wrapped title.
TITLE_MAX = 120

DATE_RE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
CN_DATE_RE = re.compile(
    r"([〇零一二三四五六七八九○Ｏ0]{4})\s*年\s*([一二三四五六七八九十]{1,3})\s*月"
    r"\s*([一二三四五六七八九十]{1,3})\s*日"
)
DATE_LINE_RE = re.compile(
    r"^[（(]?\s*(?:\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日"
    r"|[〇零一二三四五六七八九○Ｏ0]{4}\s*年\s*[一二三四五六七八九十]{1,3}\s*月\s*[一二三四五六七八九十]{1,3}\s*日)"
    r"\s*[）)]?\s*(?:印发|发布|制定|通过)?$"
)
# A document number (文号): issuer's abbreviation, year in brackets, serial, 号. Real variants:
# 〔〕 (the standard), [] 【】 （） () ［］ ﹝﹞, with or without 第, and spaces from PDF
# extraction between any two characters (内 科 协 发 〔 2026 〕 58 号); a spaced-out prefix is
# single characters each followed by a space, so "通知 内科协发〔…" does not take 通知 along.
_DOC_OPEN, _DOC_CLOSE = "〔[【（(［﹝", "〕]】）)］﹞"
DOC_NUMBER_RE = re.compile(
    r"(?:[\u4e00-\u9fff](?:\s[\u4e00-\u9fff]){1,11}|[\u4e00-\u9fff]{1,12})"
    rf"\s*[{re.escape(_DOC_OPEN)}]\s*\d(?:\s?\d){{3}}\s*[{re.escape(_DOC_CLOSE)}]"
    r"\s*第?\s*\d(?:\s?\d){0,3}\s*号"
)
# A sentence cites other documents' numbers (根据内科协发〔2026〕3号文件要求，…): not its own.
_SENTENCE_MARKS_RE = re.compile(r"[，。；,;]")
_DOC_BRACKETS = str.maketrans(
    {**dict.fromkeys(_DOC_OPEN, "〔"), **dict.fromkeys(_DOC_CLOSE, "〕")}
)
PHONE_RE = re.compile(r"(?<!\d)(?:0\d{2,3}[-－—]?\d{7,8}|1[3-9]\d{9})(?!\d)")
ORG_SUFFIX_RE = re.compile(
    r"(科学技术协会|科协|协会|学会|研究会|委员会|联合会|办公室|办公厅|人民政府|政府|厅|局|中心|公司"
    r"|大学|学院|党委|党组)$"
)
TITLE_SUFFIX_RE = re.compile(
    r"(通知|意见|方案|办法|报告|规定|决定|通报|细则|纲要|规划|计划|指南|函|公告|要点|总结|批复|请示"
    r"|章程|条例)》?[”\"]?$"
)
CONTACT_RE = re.compile(
    r"^[（(]?\s*(联系人|联系电话|联系方式|电话|传真|邮箱|电子邮箱|电子信箱|地址|邮编|抄送|抄报|附件"
    r"|主题词)"
)
MD_HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*$")
# Numbered heading markers, with the rank that orders them (lower ranks enclose higher ones);
# unnumbered Markdown headings rank by their level (1-6), above every numbered form.
HEADING_MARKERS: tuple[tuple[int, re.Pattern[str]], ...] = (
    (10, re.compile(r"^第[一二三四五六七八九十百零〇\d]+编")),
    (11, re.compile(r"^第[一二三四五六七八九十百零〇\d]+章")),
    (12, re.compile(r"^第[一二三四五六七八九十百零〇\d]+节")),
    (13, re.compile(r"^第[一二三四五六七八九十百零〇\d]+条")),
    (20, re.compile(r"^[一二三四五六七八九十]{1,3}\s*、")),
    (21, re.compile(r"^[（(]\s*[一二三四五六七八九十]{1,3}\s*[）)]")),
    (22, re.compile(r"^\d{1,2}\s*[.．、](?![\d.．])")),
    (23, re.compile(r"^[（(]\s*\d{1,2}\s*[）)]")),
    (24, re.compile(r"^[①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳]")),
)
_SPACES_RE = re.compile(r"[ \t\u3000\xa0\u2002\u2003\u200b]+")
_MD_EMPHASIS_RE = re.compile(r"\*\*|__")


class LineKind(StrEnum):
    """What a logical line of a document is."""

    TEXT = "text"
    HEADING = "heading"
    DATE = "date"
    DOC_NUMBER = "doc_number"
    SIGNATURE = "signature"
    CONTACT = "contact"
    ADDRESSEE = "addressee"
    BANNER = "banner"


@dataclass(frozen=True, slots=True)
class Line:
    """One logical line (a paragraph, heading or header field) and its kind."""

    text: str
    kind: LineKind
    md_level: int = 0


def clean_line(line: str) -> str:
    """Strip a raw line, collapse runs of spaces and drop Markdown emphasis markers."""
    return _SPACES_RE.sub(" ", _MD_EMPHASIS_RE.sub("", line)).strip()


def ends_sentence(text: str) -> bool:
    """True when the text ends with sentence or clause punctuation (closing quotes skipped)."""
    stripped = text.rstrip("".join(CLOSERS))
    # A closing bracket or quote after 。 still closes the sentence; one alone does not.
    return bool(stripped) and stripped[-1] in TERMINAL


def heading_rank(text: str) -> int | None:
    """The rank of a numbered heading marker at the start of ``text``, else None."""
    for rank, pattern in HEADING_MARKERS:
        if pattern.match(text):
            return rank
    return None


def classify(text: str) -> LineKind:
    """Classify one cleaned, non-empty line."""
    if MD_HEADING_RE.match(text) or heading_rank(text) is not None:
        return LineKind.HEADING
    if DATE_LINE_RE.match(text):
        return LineKind.DATE
    if DOC_NUMBER_RE.fullmatch(text.replace(" ", "")):
        return LineKind.DOC_NUMBER
    if CONTACT_RE.match(text):
        return LineKind.CONTACT
    if text in ("文件", "通知", "通报", "简报", "公告"):
        return LineKind.BANNER
    return _classify_plain(text)


def _classify_plain(text: str) -> LineKind:
    """Tell signatures and addressee lines from ordinary text."""
    no_punct = not any(ch in text for ch in "，。；：,;:！？")
    if len(text) <= 40 and no_punct and ORG_SUFFIX_RE.search(text):
        return LineKind.SIGNATURE
    if text[-1] in "：:" and len(text) <= 100 and "。" not in text:
        return LineKind.ADDRESSEE
    if len(text) <= 60 and PHONE_RE.search(text) and "。" not in text:
        return LineKind.CONTACT
    return LineKind.TEXT


def _joinable(prev: str, nxt: str, short_run: bool) -> bool:
    """Whether ``nxt`` continues ``prev`` (a line wrapped by the page, not a new paragraph)."""
    if ends_sentence(prev) or not _continuable(prev) or classify(nxt) != LineKind.TEXT:
        return False
    if short_run:
        # A title wrapped over short lines: continue while the next part is not a sentence.
        return len(prev) + len(nxt) <= TITLE_MAX and not ends_sentence(nxt)
    if TITLE_SUFFIX_RE.search(prev) and ends_sentence(nxt):
        return False
    return len(prev) >= LONG_LINE


def _continuable(prev: str) -> bool:
    """Text, or a numbered heading that carries its paragraph inline, may run on."""
    kind = classify(prev)
    if kind == LineKind.HEADING:
        return not MD_HEADING_RE.match(prev) and "。" in prev
    return kind == LineKind.TEXT


def logical_lines(text: str) -> list[Line]:
    """Clean ``text`` and return its logical lines, with page- and title-wraps re-joined."""
    out: list[Line] = []
    current = ""
    short_run = False
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = clean_line(raw)
        if not line:
            continue
        if current and _joinable(current, line, short_run):
            current = _glue(current, line)
            short_run = short_run and len(line) < LONG_LINE * 2
            continue
        if current:
            out.append(_make_line(current))
        current = line
        short_run = classify(line) == LineKind.TEXT and _starts_title(line)
    if current:
        out.append(_make_line(current))
    return out


def _starts_title(line: str) -> bool:
    """A short line without a sentence end may be the first part of a wrapped title."""
    return 6 <= len(line) < LONG_LINE and not ends_sentence(line)


def _glue(left: str, right: str) -> str:
    """Join two wrapped pieces, keeping a space only between two Latin words."""
    if left[-1].isascii() and left[-1].isalnum() and right[0].isascii() and right[0].isalnum():
        return f"{left} {right}"
    return left + right


def _make_line(text: str) -> Line:
    """Build a classified line, unwrapping Markdown heading syntax."""
    match = MD_HEADING_RE.match(text)
    if match:
        return Line(match.group(2).strip(), LineKind.HEADING, len(match.group(1)))
    return Line(text, classify(text))


def parse_date(text: str) -> str | None:
    """The first date in ``text`` as ISO ``YYYY-MM-DD`` (Arabic or Chinese numerals), or None."""
    match = DATE_RE.search(text)
    if match:
        return _iso(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    match = CN_DATE_RE.search(text)
    if match:
        year = int("".join(str(_cn_digit(ch)) for ch in match.group(1)))
        return _iso(year, _cn_small_number(match.group(2)), _cn_small_number(match.group(3)))
    return None


def _iso(year: int, month: int, day: int) -> str | None:
    """Format a date, or None when it is impossible."""
    import datetime as dt

    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _cn_digit(ch: str) -> int:
    """The value of one Chinese digit character (〇 and its look-alikes are 0)."""
    return 0 if ch in "〇零○Ｏ0" else "一二三四五六七八九".index(ch) + 1


def _cn_small_number(text: str) -> int:
    """Parse a Chinese number below 100, such as 九, 十一, 二十三."""
    if "十" not in text:
        return _cn_digit(text)
    tens, _, units = text.partition("十")
    return (_cn_digit(tens) if tens else 1) * 10 + (_cn_digit(units) if units else 0)


def find_doc_number(lines: Iterable[Line]) -> str | None:
    """The document number (e.g. 宁科协发[2017]212号) among ``lines``, spaces removed.

    A line that is the number alone wins; else a line that carries it beside other header
    fields (内科协发〔2026〕58号 签发人：王某). A number cited in a sentence is another document's.
    """
    lines = list(lines)
    own = [ln for ln in lines if ln.kind == LineKind.DOC_NUMBER]
    header = [ln for ln in lines if not _SENTENCE_MARKS_RE.search(ln.text)]
    for line in own or header:
        match = DOC_NUMBER_RE.search(line.text)
        if match:
            return _SPACES_RE.sub("", match.group(0))
    return None


def doc_number_key(number: str) -> str:
    """A document number in one spelling, to compare numbers written differently.

    Widths fold, brackets become 〔〕, spaces and 第 go:
    宁科协发[2017]212号 = 宁科协发〔2017〕第212号.
    """
    compact = _SPACES_RE.sub("", unicodedata.normalize("NFKC", number)).translate(_DOC_BRACKETS)
    return compact.replace("〕第", "〕")
