"""Phone typos of the documents' words: a character typed for another that sounds the same.

Chinese is typed by pinyin, so a liaison's slip is a homophone: 科普大蓬车 for 大篷车, 企业科写 for
科协, 联落员, 除州. No document uses the slip, so neither the words, the bigrams nor the vectors
meet the passage it asks about, and the grade takes the unknown word for a sign that the
documents do not answer. Before a question is searched, a run of its words that no document and
no dictionary knows, and that becomes exactly one word of the documents when one of its
characters is replaced by a character read the same (tones aside), is written as that word.
A real word is never touched: 会费 stays 会费 though no document uses it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from bot.services.knowledge.tokenize import normalize

_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
# A slip spans at most four characters and three words of the cut (大蓬车, 企业科写).
MAX_CHARS = 4
MAX_TOKENS = 3
# The grammar of a question is typed right, and a slip is never one of these (能加分不 is not
# 加分布): a negation, a particle, a copula.
_GLUE = frozenset("不没了的吗呢吧啊么是有在和与或也都就还")


def warm_up() -> None:
    """Read the characters' readings now rather than on the first question."""
    _homophones()


@cache
def _homophones() -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Each common character's reading without tones (its first one), and the common
    characters of each reading."""
    from pypinyin.pinyin_dict import pinyin_dict

    reading_of: dict[str, str] = {}
    chars_of: dict[str, list[str]] = {}
    for code, readings in pinyin_dict.items():
        char = chr(code)
        if not _CJK_RUN.fullmatch(char) or not _is_common(char):
            continue
        first = readings.split(",", 1)[0]
        plain = "".join(c for c in unicodedata.normalize("NFD", first) if c.isascii())
        reading_of[char] = plain
        chars_of.setdefault(plain, []).append(char)
    return reading_of, {reading: tuple(chars) for reading, chars in chars_of.items()}


def _is_common(char: str) -> bool:
    """Whether a character is one of GB2312's 6,763: a phone's input method offers these first,
    and looking among the other 20,000 would make a question slower, not better read."""
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _sound_alikes(window: str) -> Iterator[str]:
    """``window`` with one character replaced by another read the same."""
    reading_of, chars_of = _homophones()
    for i, char in enumerate(window):
        if char in _GLUE:
            continue
        for other in chars_of.get(reading_of.get(char, ""), ()):
            if other != char:
                yield window[:i] + other + window[i + 1 :]


def _windows(tokens: list[str], stopwords: frozenset[str]) -> Iterator[tuple[int, int, str]]:
    """Runs of whole words, without stopwords, of two to four characters: (start, end, text)
    as character offsets in the joined tokens, longest first."""
    starts = [0]
    for token in tokens:
        starts.append(starts[-1] + len(token))
    found = []
    for i in range(len(tokens)):
        text = ""
        for j in range(i, min(i + MAX_TOKENS, len(tokens))):
            if tokens[j] in stopwords:
                break
            text += tokens[j]
            if len(text) > MAX_CHARS:
                break
            if len(text) >= 2:
                found.append((starts[i], starts[j + 1], text))
    return iter(sorted(found, key=lambda w: (-len(w[2]), w[0])))


@dataclass(frozen=True, slots=True)
class Lexicon:
    """What respelling asks of the analyzer and the index."""

    # The analyzer's cut of a run of characters (every character kept).
    cut: Callable[[str], list[str]]
    # Whether the dictionary knows a word.
    is_word: Callable[[str], bool]
    # Whether some document uses a word.
    in_documents: Callable[[str], bool]
    stopwords: frozenset[str]


def respell(question: str, lexicon: Lexicon) -> str:
    """``question`` with each slip for a document's word written as that word (normalised
    then; unchanged when it has none)."""
    norm = normalize(question)
    out = []
    last = 0
    for run in _CJK_RUN.finditer(norm):
        out.append(norm[last : run.start()])
        out.append(_respell_run(run.group(0), lexicon))
        last = run.end()
    out.append(norm[last:])
    fixed = "".join(out)
    return question if fixed == norm else fixed


def _respell_run(run: str, lexicon: Lexicon) -> str:
    """One run of Chinese characters with its slips corrected (non-overlapping)."""
    fixes: list[tuple[int, int, str]] = []
    in_documents = lexicon.in_documents
    for start, end, window in _windows(lexicon.cut(run), lexicon.stopwords):
        if any(start < e and s < end for s, e, _ in fixes):
            continue
        if in_documents(window) or lexicon.is_word(window):
            continue
        words = {alike for alike in _sound_alikes(window) if in_documents(alike)}
        if len(words) == 1:
            fixes.append((start, end, words.pop()))
    for start, end, word in sorted(fixes, reverse=True):
        run = run[:start] + word + run[end:]
    return run
