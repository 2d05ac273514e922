"""Checks on a question before it is searched."""

from __future__ import annotations

import re
from collections.abc import Container

from bot.services.knowledge.errors import QuestionCode

MAX_QUESTION_CHARS = 500
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN_RE = re.compile(r"[A-Za-z]+|\d+")


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
