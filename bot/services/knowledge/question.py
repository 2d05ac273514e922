"""Checks on a question before it is searched."""

from __future__ import annotations

import re
from collections.abc import Container

from bot.services.knowledge.errors import QuestionCode

MAX_QUESTION_CHARS = 500
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN_RE = re.compile(r"[A-Za-z]+|\d+")
# Words and marks that ask something: a question mark, question words, 吗/么 closing a clause,
# and "A不A" / "A没A" (能不能, 是不是, 需不需要, 有没有, 交没交 …).
_ASKING_RE = re.compile(
    r"[?？]|什么|啥|咋|谁|多少|多久|多长|多大|几时|怎|如何|哪(?!怕)|何时|何处|为什么|为何|"
    r"是否|能否|可否|请问|吗(?:[，,。！!\s]|$)|么[。！!\s]*$|([\u4e00-\u9fff])[不没]\1"
)
# An English question often comes without its mark ("what does 两翼 mean"): its first word
# asks. Not "did", "may" or "have": "Did a lecture at the school…", "May 5 lecture…" report.
_ENGLISH_ASKING_RE = re.compile(
    r"^\s*(?:what|how|when|where|who|whom|whose|which|why|is|are|am|can|could|do|does|"
    r"should|shall|will|would|must)\b",
    re.IGNORECASE,
)


def asks_something(text: str) -> bool:
    """Whether a text asks a question (as opposed to reporting or acknowledging something)."""
    return _ASKING_RE.search(text) is not None or _ENGLISH_ASKING_RE.match(text) is not None


def validate_question(
    text: str, *, known_terms: Container[str] | None = None, max_chars: int = MAX_QUESTION_CHARS
) -> QuestionCode | None:
    """Why ``text`` cannot be searched (empty, too long, emoji only, no Chinese), or None."""
    stripped = text.strip()
    if not stripped:
        return QuestionCode.EMPTY
    if len(stripped) > max_chars:
        return QuestionCode.TOO_LONG
    if _CJK_RE.search(stripped):
        return None
    latin = [word.lower() for word in _LATIN_RE.findall(stripped)]
    if not latin:
        # Emoji, punctuation or symbols only.
        return QuestionCode.NO_WORDS
    if known_terms is not None and any(word in known_terms for word in latin):
        # A document number, phone number or Latin term the documents use is worth a search.
        return None
    return QuestionCode.NOT_CHINESE
