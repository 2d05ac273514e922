"""Scoring: word/bigram BM25 fusion, question-type cues, title match, and the refusal decision."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntFlag

import numpy as np

from bot.services.knowledge.index import PassageIndex
from bot.services.knowledge.lines import DATE_RE, PHONE_RE, LineKind, classify
from bot.services.knowledge.tokenize import QueryTerms, normalize


class Flag(IntFlag):
    """Features of a passage that question-type cues look for."""

    DATE = 1
    NUMBER = 2
    PHONE = 4
    EMAIL = 8
    ADDRESSEE = 16
    OUTLINE = 32
    META = 64
    FRONT = 128
    DEFINES = 256


_DAY_RE = re.compile(
    r"\d{1,2}\s*月\s*\d{1,2}\s*日|\d{4}\s*年(?:\s*\d{1,2}\s*月)?|\d{4}\s*[—-]\s*\d{4}"
)
_NUMBER_RE = re.compile(
    r"\d+(?:\.\d+)?\s*(?:%|[万亿千百]?\s*[人个辆项名家次届所套支篇场条节期件位元台批座项万亿])"
    r"|[一二三四五六七八九十两]+\s*[个项名家次届所支条]"
)
_EMAIL_RE = re.compile(r"[\w.-]+@[\w-]+\.[\w.]+")
# A quoted or bracketed term followed by its explanation: “三长”（…）, “三带”工作法。即…
_DEFINES_RE = re.compile(r"[”》」]\s*[（(]|[”》」][^。]{0,6}[。，]?\s*即|是指|指的是")


def passage_flags(text: str, kind: str) -> int:
    """Feature flags of one passage."""
    flags = Flag(0)
    checks: tuple[tuple[Flag, bool], ...] = (
        (Flag.DATE, bool(DATE_RE.search(text) or _DAY_RE.search(text))),
        (Flag.NUMBER, bool(_NUMBER_RE.search(text))),
        (Flag.PHONE, bool(PHONE_RE.search(text))),
        (Flag.EMAIL, bool(_EMAIL_RE.search(text))),
        (Flag.ADDRESSEE, any(classify(ln) == LineKind.ADDRESSEE for ln in text.split("\n") if ln)),
        (Flag.OUTLINE, kind == "outline"),
        (Flag.META, kind == "meta"),
        (Flag.FRONT, kind == "front"),
        (Flag.DEFINES, bool(_DEFINES_RE.search(text))),
    )
    for flag, present in checks:
        if present:
            flags |= flag
    return int(flags)


@dataclass(frozen=True, slots=True)
class Cue:
    """A kind of question and the passages that answer it."""

    name: str
    pattern: re.Pattern[str]
    flag: Flag
    boost: float


CUES: tuple[Cue, ...] = (
    Cue(
        "date",
        re.compile(
            r"什么时候|哪天|哪一天|何时|几月|几号|日期|截止|期限|最晚|哪一年|哪年|发出来|"
            r"什么时间|几点"
        ),
        Flag.DATE,
        0.35,
    ),
    Cue(
        "number",
        re.compile(
            r"多少|几[个项位名家次届年人辆所套支万千百条篇场期批座]|第几|数量|比例|"
            r"百分之|规模|人数|够不够"
        ),
        Flag.NUMBER,
        0.25,
    ),
    Cue("phone", re.compile(r"电话|联系方式|手机|热线|座机|号码|打给谁"), Flag.PHONE, 0.6),
    Cue("email", re.compile(r"邮箱|邮件|email|e-mail", re.IGNORECASE), Flag.EMAIL, 0.6),
    Cue(
        "addressee",
        re.compile(r"发给|下发给|印发给|发到|主送|送达|发往|给谁|发哪些|发送给|对象是"),
        Flag.ADDRESSEE,
        0.5,
    ),
    Cue(
        "list",
        re.compile(r"哪些|哪几|几项|几个方面|几方面|包括什么|包括哪|有什么任务"),
        Flag.OUTLINE,
        0.15,
    ),
    Cue(
        "definition",
        re.compile(r"指的是|是指|什么意思|什么是|含义|定义|指哪|是哪[两三四五六几]"),
        Flag.DEFINES,
        0.25,
    ),
)
DOCS_CUE = re.compile(
    r"哪些文件|哪几份|哪几个文件|哪些通知|几份文件|哪些文档|哪份文件|文件里|哪些文里|哪几个通知"
)
_QUOTED_RE = re.compile(r"[“\"「『《]([^”\"」』》]{1,20})[”\"」』》]")


def detect_cues(question: str) -> list[Cue]:
    """Question-type cues found in the raw question."""
    return [cue for cue in CUES if cue.pattern.search(question)]


def quoted_terms(question: str, normalize: Callable[[str], str]) -> list[str]:
    """Terms the asker put in quotes or book-title marks (normalised)."""
    return [normalize(m) for m in _QUOTED_RE.findall(question) if m.strip()]


@dataclass(frozen=True, slots=True)
class RankConfig:
    """Weights of the ranking; defaults measured on benchmarks/data (see README)."""

    word_weight: float = 0.6
    candidates: int = 60
    title_boost: float = 0.3
    quote_boost: float = 0.3
    coverage_weight: float = 0.5
    refuse_below: float = 0.45
    single_char_weight: float = 0.5


@dataclass(frozen=True, slots=True)
class Candidate:
    """A passage considered for the answer, with its final score and answerability."""

    row: int
    score: float
    coverage: float


@dataclass(frozen=True, slots=True)
class RankInput:
    """What ranking needs besides the index: per-passage context and per-document titles."""

    context: Callable[[int], str]
    doc_of: Sequence[int]
    doc_titles: Sequence[str]
    surface_forms: Callable[[str], Sequence[str]]


def fused_scores(index: PassageIndex, query: QueryTerms, config: RankConfig) -> np.ndarray:
    """Word and bigram BM25, each scaled to its best passage, mixed linearly."""
    words = index.words.scores(query.words)
    bigrams = index.bigrams.scores(query.bigrams)
    fused = np.zeros(index.size, dtype=np.float32)
    for scores, weight in ((words, config.word_weight), (bigrams, 1 - config.word_weight)):
        top = float(scores.max(initial=0.0))
        if top > 0:
            fused += (weight / top) * scores
    return fused


def top_rows(scores: np.ndarray, count: int) -> list[int]:
    """Rows of the ``count`` best scores, best first, skipping zeros."""
    count = min(count, int(np.count_nonzero(scores)))
    if count <= 0:
        return []
    part = np.argpartition(-scores, count - 1)[:count]
    return [int(r) for r in part[np.argsort(-scores[part], kind="stable")]]


class Ranker:
    """Re-ranks fused candidates and decides whether the best one answers the question."""

    def __init__(self, index: PassageIndex, data: RankInput, config: RankConfig) -> None:
        self.index = index
        self.data = data
        self.config = config

    def rank(self, question: str, query: QueryTerms, norm_question: str) -> list[Candidate]:
        """Candidates best first; an empty list when the documents do not answer."""
        fused = fused_scores(self.index, query, self.config)
        rows = top_rows(fused, self.config.candidates)
        if not rows:
            return []
        cues = detect_cues(question)
        quotes = quoted_terms(question, normalize)
        weights = self._term_weights(query)
        title_hits = self._title_match(norm_question, weights)
        out = []
        for row in rows:
            context = self.data.context(row)
            coverage = self._coverage(context, query, weights)
            boost = self._boost(row, context, cues, quotes, title_hits)
            score = float(fused[row]) * (1 + boost) * (1 + self.config.coverage_weight * coverage)
            out.append(Candidate(row, score, coverage))
        out.sort(key=lambda c: -c.score)
        if out[0].coverage < self.config.refuse_below:
            return []
        if DOCS_CUE.search(question):
            out = _one_per_doc_first(out, self.data.doc_of)
        return out

    def _term_weights(self, query: QueryTerms) -> dict[str, float]:
        """Idf weight of each content word (single characters count less)."""
        weights = {}
        for term in query.content:
            weight = self.index.words.idf(term)
            if len(term) == 1:
                weight *= self.config.single_char_weight
            weights[term] = weight
        return weights

    def _coverage(self, context: str, query: QueryTerms, weights: dict[str, float]) -> float:
        """Idf-weighted share of the question's content words found in the passage context."""
        total = sum(weights.values())
        if total <= 0:
            return 0.0
        found = 0.0
        for term, weight in weights.items():
            forms = (*self.data.surface_forms(term), *query.variants.get(term, ()))
            if any(form in context for form in forms):
                found += weight
        return found / total

    def _title_match(self, norm_question: str, weights: dict[str, float]) -> dict[int, float]:
        """Per document: idf-weighted share of content words found in its title and issuer."""
        total = sum(weights.values()) or 1.0
        out = {}
        for doc, title in enumerate(self.data.doc_titles):
            found = sum(w for term, w in weights.items() if term in title)
            if found:
                out[doc] = found / total
        return out

    def _boost(
        self,
        row: int,
        context: str,
        cues: list[Cue],
        quotes: list[str],
        title_hits: dict[int, float],
    ) -> float:
        """Sum of the cue, quote and title boosts that apply to one passage."""
        flags = int(self.index.flags[row])
        boost = sum(cue.boost for cue in cues if flags & cue.flag)
        boost += sum(self.config.quote_boost for quote in quotes if quote in context)
        boost += self.config.title_boost * title_hits.get(self.data.doc_of[row], 0.0)
        return boost


def _one_per_doc_first(candidates: list[Candidate], doc_of: Sequence[int]) -> list[Candidate]:
    """For "which documents mention X": the best passage of each document first."""
    seen: set[int] = set()
    firsts, rest = [], []
    for cand in candidates:
        doc = doc_of[cand.row]
        (rest if doc in seen else firsts).append(cand)
        seen.add(doc)
    return firsts + rest
