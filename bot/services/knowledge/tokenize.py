"""One analyzer for passages and questions: jieba words, character bigrams, synonyms, stopwords."""

from __future__ import annotations

import hashlib
import operator
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from bot import PROJECT_ROOT

DATA_DIR = PROJECT_ROOT / "bot" / "services" / "knowledge" / "data"
WORDS_FILE = DATA_DIR / "knowledge_words.txt"
SYNONYMS_FILE = DATA_DIR / "knowledge_synonyms.txt"
STOPWORDS_FILE = DATA_DIR / "knowledge_stopwords.txt"
# Bump when tokenisation changes in code, so persisted indexes are rebuilt.
ANALYZER_VERSION = "4"
# Expansions are a liaison's words mapped to the documents'; they count less than the question.
EXPANSION_WEIGHT = 0.5
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff"
_CJK_RUN_RE = re.compile(f"[{_CJK}]+|[0-9a-z]+(?:[.][0-9]+)?")
_WORD_RE = re.compile(f"[{_CJK}0-9a-z]")
_SPACE_RE = re.compile(r"\s+")
# Latin-1, punctuation and letter-like symbols, circled numbers, CJK symbols and compatibility
# characters, full-width forms: where NFKC changes the characters of Chinese documents.
_FOLD_BLOCKS = (
    (0x00A0, 0x0100),
    (0x2000, 0x2200),
    (0x2460, 0x2500),
    (0x3000, 0x3100),
    (0x3200, 0x3400),
    (0xF900, 0xFB00),
    (0xFE30, 0xFE70),
    (0xFF00, 0xFFF0),
)
# Interrogative phrases: they say what kind of answer is wanted (ranking.CUES reads them from the
# raw question), never what it is about, so they are cut out before tokenising a question.
QUESTION_RE = re.compile(
    r"哪[一几]?[天年月日个些位种级份项家条次届处里儿样方类]?|几[个项份届条种位名家次年月天号点类批方]?"
    r"|第几|多少|多大|多长|多久|什么时候|什么样|什么|啥|怎么样|怎么|怎样|如何|为什么|为何|是否|是不是|有没有|能不能"
    r"|可不可以|要不要|吗|呢|谁|最晚|最迟|最早|文件里|份文件"
)
# Characters so frequent in Chinese prose that bigrams containing them only add noise.
_STOP_CHARS = "的了和与及是在对把被等为之其"
_STOP_CHAR_RE = re.compile(f"[{_STOP_CHARS}]")
# Vocabularies whose words were added to rjieba's process-wide tokenizer.
_JIEBA_WORDS: set[str] = set()
_JIEBA_LOCK = threading.Lock()
# Distinct jieba tokens remembered with their index terms while indexing.
TERM_CACHE = 500_000


def normalize(text: str) -> str:
    """Fold width and case (NFKC, lower) and drop spaces except between two Latin words."""
    text = nfkc(text).lower()
    return _SPACE_RE.sub(lambda m: _space_or_nothing(text, m.start(), m.end()), text)


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, twice as fast on Chinese documents.

    Full-width punctuation makes NFKC take its slow path on every passage. Mapping each
    character to its own NFKC form first keeps the text compatibility-equivalent, so NFKC of
    the result is the same string, and for text like ours it passes NFKC's quick check.
    """
    return unicodedata.normalize("NFKC", text.translate(_fold_table()))


@cache
def _fold_table() -> dict[int, str]:
    """Characters of the blocks Chinese documents use whose NFKC form differs from them."""
    table = {}
    for start, end in _FOLD_BLOCKS:
        for code in range(start, end):
            folded = unicodedata.normalize("NFKC", chr(code))
            if folded != chr(code):
                table[code] = folded
    return table


def _space_or_nothing(text: str, start: int, end: int) -> str:
    """Keep one space between ASCII letters or digits; CJK text has no word spaces."""
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    keep = before.isascii() and before.isalnum() and after.isascii() and after.isalnum()
    return " " if keep else ""


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The data files: domain words, synonym classes, expansions and stopwords."""

    words: tuple[tuple[str, int], ...]
    canonical: dict[str, str]
    expansions: dict[str, tuple[str, ...]]
    stopwords: frozenset[str]
    fingerprint: str


def _data_lines(path: Path) -> list[str]:
    """Non-blank, non-comment lines of a data file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def load_vocabulary(
    words_file: Path = WORDS_FILE,
    synonyms_file: Path = SYNONYMS_FILE,
    stopwords_file: Path = STOPWORDS_FILE,
) -> Vocabulary:
    """Read the three data files."""
    rows = [line.split() for line in _data_lines(words_file)]
    words = tuple((normalize(parts[0]), int(parts[1])) for parts in rows)
    canonical: dict[str, str] = {}
    expansions: dict[str, tuple[str, ...]] = {}
    for line in _data_lines(synonyms_file):
        if "->" in line:
            key, _, targets = line.partition("->")
            expansions[normalize(key.strip())] = tuple(normalize(t) for t in targets.split())
        elif "=" in line:
            head, _, variants = line.partition("=")
            for variant in variants.split():
                canonical[normalize(variant)] = normalize(head.strip())
    stopwords = frozenset(normalize(w) for w in _data_lines(stopwords_file))
    digest = hashlib.sha256(ANALYZER_VERSION.encode())
    for path in (words_file, synonyms_file, stopwords_file):
        digest.update(path.read_bytes())
    return Vocabulary(words, canonical, expansions, stopwords, digest.hexdigest()[:16])


def load_jieba(vocabulary: Vocabulary) -> Any:
    """jieba (the jieba-rs port, via rjieba) with jieba's dictionary and our words.

    jieba-rs cuts the same way as jieba 0.42 with HMM off (``tests/test_knowledge_search.py``
    compares the two on the bundled corpus) about ten times faster, which is what indexing
    100,000 passages on two cores needs. Importing rjieba builds its module-level tokenizer
    (0.15 s); we use that one rather than build a second, as jieba's ``jieba.dt`` was used.
    """
    import rjieba

    with _JIEBA_LOCK:
        if vocabulary.fingerprint not in _JIEBA_WORDS:
            for word, freq in vocabulary.words:
                rjieba.add_word(word, freq, None)
            for variant in (*vocabulary.canonical, *vocabulary.canonical.values()):
                rjieba.add_word(variant, 3000, None)
            _JIEBA_WORDS.add(vocabulary.fingerprint)
    return rjieba


@dataclass(frozen=True, slots=True)
class QueryTerms:
    """A question as the index sees it."""

    words: dict[str, float]
    bigrams: dict[str, float]
    content: tuple[str, ...]
    variants: dict[str, tuple[str, ...]]
    parts: dict[str, tuple[str, ...]]
    # jieba's part of speech of each content word (n, v, r, d …).
    tags: dict[str, str] = field(default_factory=dict)


class Analyzer:
    """Turns passages and questions into index terms, the same way for both."""

    def __init__(self, vocabulary: Vocabulary | None = None) -> None:
        self.vocabulary = vocabulary or load_vocabulary()

    @cached_property
    def _jieba(self) -> Any:
        """jieba, loaded on first use so that importing the engine stays cheap."""
        return load_jieba(self.vocabulary)

    @property
    def fingerprint(self) -> str:
        """Changes whenever tokens could change; part of the persisted index key."""
        return self.vocabulary.fingerprint

    def warm_up(self) -> None:
        """Load the jieba dictionary now rather than on the first question."""
        self._jieba.cut("科协", hmm=False)

    def cut(self, text: str) -> list[str]:
        """jieba words of normalised text, punctuation dropped, stopwords kept.

        Search mode also yields the dictionary words inside a long word (联系电话 → 联系, 电话),
        so a question's plain word still meets the document's compound.
        """
        return [w for w in self._jieba.cut_for_search(text, hmm=False) if _WORD_RE.search(w)]

    def segment(self, text: str) -> list[str]:
        """jieba's precise cut of normalised text, every character kept: the words join back
        into the text."""
        return list(self._jieba.cut(text, False))

    def is_word(self, word: str) -> bool:
        """Whether jieba's dictionary (with our words) knows ``word``."""
        return bool(self._jieba.has_word(word))

    def words(self, text: str) -> list[str]:
        """Index terms of a text: jieba words, minus stopwords, folded to canonical synonyms."""
        return self._terms(self._jieba.cut_for_search(normalize(text), hmm=False))

    @cached_property
    def _term_of(self) -> dict[str, str]:
        """The index term of each jieba token seen so far ('' for punctuation and stopwords)."""
        return {}

    def _terms(self, tokens: list[str]) -> list[str]:
        """Index terms of jieba tokens: the loops run in C once every token has been seen."""
        table = self._term_of
        try:
            return list(filter(None, map(table.__getitem__, tokens)))
        except KeyError:
            learned = {token: self.term(token) for token in tokens}
            if len(table) > TERM_CACHE:
                table.clear()
            table.update(learned)
            return list(filter(None, map(learned.__getitem__, tokens)))

    def term(self, token: str) -> str:
        """A normalised token's index term: its canonical synonym; '' for stopwords and
        punctuation."""
        if token in self.vocabulary.stopwords or not _WORD_RE.search(token):
            return ""
        return self.vocabulary.canonical.get(token, token)

    def bigrams(self, text: str) -> list[str]:
        """Character bigrams of the CJK runs (whole tokens for Latin words and numbers)."""
        return char_bigrams(normalize(text))

    def analyze(self, text: str) -> tuple[list[str], list[str]]:
        """Index words and bigrams of a passage, normalising once."""
        norm = normalize(text)
        return self._terms(self._jieba.cut_for_search(norm, hmm=False)), char_bigrams(norm)

    def query(self, question: str) -> QueryTerms:
        """Weighted word and bigram terms of a question, with its content words and variants."""
        norm = QUESTION_RE.sub("，", normalize(question))
        stop, canonical = self.vocabulary.stopwords, self.vocabulary.canonical
        tagged = [(w, t) for w, t in self._jieba.tag(norm, False) if _WORD_RE.search(w)]
        coarse = [w for w, _ in tagged]
        content = tuple(dict.fromkeys(canonical.get(t, t) for t in coarse if t not in stop))
        tags = {canonical.get(w, w): t for w, t in tagged if w not in stop}
        words = dict.fromkeys((canonical.get(t, t) for t in self.cut(norm) if t not in stop), 1.0)
        variants: dict[str, list[str]] = {term: [] for term in content}
        for key, targets in self._expansions(norm, coarse):
            for target in targets:
                for term in self.words(target):
                    words.setdefault(term, EXPANSION_WEIGHT)
                # Coverage looks for the whole target phrase (线上), not its jieba pieces.
                _attach(variants, key, target)
        runs = _content_runs(coarse, stop)
        bigrams = dict.fromkeys((g for run in runs for g in char_bigrams(run)), 1.0)
        return QueryTerms(
            words,
            bigrams,
            content,
            {k: tuple(v) for k, v in variants.items()},
            {term: self._parts(term) for term in content if len(term) > 2},
            tags,
        )

    def _parts(self, word: str) -> tuple[str, ...]:
        """Dictionary words inside a long word (旗县科协 → 旗县, 科协), for partial matches."""
        pieces = self._jieba.cut_for_search(word, hmm=False)
        return tuple(dict.fromkeys(p for p in pieces if p != word and len(p) > 1))

    def _expansions(self, norm: str, tokens: list[str]) -> list[tuple[str, tuple[str, ...]]]:
        """Expansion rules that fire: longer keys anywhere, one-character keys as whole words."""
        token_set = set(tokens)
        fired = []
        for key, targets in self.vocabulary.expansions.items():
            if (len(key) > 1 and key in norm) or key in token_set:
                fired.append((key, targets))
        return fired


def _attach(variants: dict[str, list[str]], key: str, target: str) -> None:
    """Record ``target`` as a variant of the question words that the expansion key spans."""
    for word in variants:
        if word != target and word in key:
            variants[word].append(target)


def _content_runs(tokens: list[str], stop: frozenset[str]) -> list[str]:
    """Join consecutive non-stopword tokens into runs, so bigrams never span a stopword."""
    runs: list[str] = []
    current = ""
    for token in tokens:
        if token in stop:
            if current:
                runs.append(current)
            current = ""
        else:
            current += token
    if current:
        runs.append(current)
    return runs


def char_bigrams(norm: str) -> list[str]:
    """Bigrams of normalised text; single CJK characters and Latin/number runs stay whole."""
    out: list[str] = []
    for run in _CJK_RUN_RE.findall(norm):
        if len(run) == 1 or run[0] < "\u3400":
            out.append(run)
            continue
        # Pairs with a stop character are dropped: pair up the pieces between them instead.
        for piece in _STOP_CHAR_RE.split(run):
            out.extend(map(operator.add, piece, piece[1:]))
    return out
