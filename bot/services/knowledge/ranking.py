"""Scoring: word/bigram BM25 fusion, question-type cues, title match, and answerability."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntFlag
from typing import TypeVar

import numpy as np

from bot.services.knowledge.confidence import DENSE, LEXICAL, Calibration, is_place, unmet_ask
from bot.services.knowledge.index import Field, PassageIndex
from bot.services.knowledge.lines import DATE_RE, DOC_NUMBER_RE, PHONE_RE, LineKind, classify
from bot.services.knowledge.tokenize import QUESTION_RE, QueryTerms, normalize

T = TypeVar("T")


class Flag(IntFlag):
    """Features of a passage that question-type cues look for."""

    NONE = 0
    DAY = 1
    NUMBER = 2
    PHONE = 4
    EMAIL = 8
    ADDRESSEE = 16
    OUTLINE = 32
    META = 64
    FRONT = 128
    DEFINES = 256
    DOC_NUMBER = 512
    PERIOD = 1024
    YEAR = 2048


_DAY_RE = re.compile(r"\d{1,2}\s*月\s*\d{1,2}\s*日")
_YEAR_RE = re.compile(r"\d{4}\s*(?:年|[—－-]\s*\d{4})")
_NUMBER_RE = re.compile(
    r"\d+(?:\.\d+)?\s*(?:%|[万亿千百]?\s*[人个辆项名家次届所套支篇场条节期件位元台批座项万亿])"
    r"|[一二三四五六七八九十两]+\s*[个项名家次届所支条]"
)
_PERIOD_RE = re.compile(
    r"每[一二三四五六七八九十两\d]*[年月季周天]|[一二三四五六七八九十两\d]+年一[次届]|任期|届期"
)
_EMAIL_RE = re.compile(r"[\w.-]+@[\w-]+\.[\w.]+")
# A quoted or bracketed term followed by its explanation: “三长”（…）, “三带”工作法。即…
_DEFINES_RE = re.compile(r"[”》」]\s*[（(]|[”》」][^。]{0,6}[。，]?\s*即|是指|指的是")


def passage_flags(text: str, kind: str) -> int:
    """Feature flags of one passage."""
    checks: tuple[tuple[Flag, bool], ...] = (
        (Flag.DAY, bool(DATE_RE.search(text) or _DAY_RE.search(text))),
        (Flag.YEAR, bool(_YEAR_RE.search(text))),
        (Flag.NUMBER, bool(_NUMBER_RE.search(text))),
        (Flag.PHONE, bool(PHONE_RE.search(text))),
        # Cheap membership tests first: these two patterns are the slow ones.
        (Flag.EMAIL, "@" in text and bool(_EMAIL_RE.search(text))),
        (Flag.ADDRESSEE, any(_is_addressee(ln) for ln in text.split("\n"))),
        (Flag.OUTLINE, kind == "outline"),
        (Flag.META, kind == "meta"),
        (Flag.FRONT, kind == "front"),
        (Flag.DEFINES, bool(_DEFINES_RE.search(text))),
        (Flag.DOC_NUMBER, "号" in text and bool(DOC_NUMBER_RE.search(text))),
        (Flag.PERIOD, bool(_PERIOD_RE.search(text))),
    )
    # Plain ints: IntFlag arithmetic costs more than all the regexes above.
    return sum(flag.value for flag, present in checks if present)


def _is_addressee(line: str) -> bool:
    """An addressee line (各盟市科协，…：); the colon test first, since classify() is slower."""
    return line.endswith(("：", ":")) and classify(line) == LineKind.ADDRESSEE


@dataclass(frozen=True, slots=True)
class Cue:
    """A kind of question, the passages that answer it, and words such passages use."""

    name: str
    pattern: re.Pattern[str]
    flag: Flag
    boost: float
    terms: tuple[str, ...] = ()
    # The question asks for this kind of value: a passage without it is a doubtful answer.
    required: bool = False
    # Other flags that also carry such a value (a phone number answers 电话是多少).
    also: Flag = Flag.NONE

    def satisfied(self, flags: int) -> bool:
        """Whether a passage with these flags can hold the wanted value."""
        return bool(flags & (self.flag | self.also))


CUES: tuple[Cue, ...] = (
    Cue(
        "day",
        re.compile(r"哪天|哪一天|几号|几月|日期|截止|最晚|最迟|期限|发出来|发布的|印发的"),
        Flag.DAY,
        0.35,
        ("日期", "期限"),
        True,
    ),
    Cue(
        "year",
        re.compile(r"什么时候|何时|哪一年|哪年|什么时间|到哪年|几年"),
        Flag.YEAR,
        0.3,
        ("时间", "期限"),
        True,
        Flag.DAY,
    ),
    Cue(
        "number",
        re.compile(
            r"多少|(?<!哪)几[个项位名家次届年人辆所套支万千百条篇场期批座]|第几|数量|比例|"
            r"百分之|规模|人数|够不够"
        ),
        Flag.NUMBER,
        0.25,
        (),
        True,
        Flag.PHONE | Flag.DAY | Flag.YEAR | Flag.DOC_NUMBER,
    ),
    Cue(
        "period",
        re.compile(r"多久|多长时间|每隔|几年一次|周期|多少年一"),
        Flag.PERIOD,
        0.3,
        ("每年", "任期"),
        True,
    ),
    Cue(
        "phone",
        re.compile(r"电话|联系方式|手机|热线|座机|号码|打给谁"),
        Flag.PHONE,
        0.6,
        ("联系电话", "联系人"),
        True,
    ),
    Cue("email", re.compile(r"邮箱|邮件|email|e-mail", re.IGNORECASE), Flag.EMAIL, 0.6, (), True),
    Cue(
        "addressee",
        re.compile(r"发给|下发给|印发给|发到|主送|送达|发往|给谁|发哪些|发送给|对象是"),
        Flag.ADDRESSEE,
        0.5,
        (),
        True,
    ),
    Cue(
        "doc_number",
        re.compile(r"文号|发文字号|文件号|字号|发文号"),
        Flag.DOC_NUMBER,
        0.6,
        (),
        True,
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
CUE_TERM_WEIGHT = 0.3
TITLE_ROWS = 100
META_CUES = frozenset({"phone", "email", "addressee", "doc_number"})
# A date in a signature block is when the document was issued: it answers "when" only when the
# question is about issuing (哪天发出来的), not about what the text asks for (什么时候交).
DATE_CUES = frozenset({"day", "year"})
_ISSUE_WORDS = re.compile(r"发出|发布|印发|下发|发文|出台|发的|成文|签发|落款|转发")
_META_WORDS = re.compile(r"谁发|发文单位|落款|印发|抄送|联系人|附件|哪个单位发")


def phrase_share(segments: list[str], context: str) -> float:
    """Longest run of the question's own characters found verbatim, relative to its segment."""
    best = 0.0
    for segment in segments:
        longest = 0
        for start in range(len(segment) - 1):
            end = start + longest + 1
            # Only runs longer than the best so far matter; extend while the text still has it.
            while end <= len(segment) and segment[start:end] in context:
                longest = end - start
                end += 1
        if longest >= 3:
            best = max(best, longest / len(segment))
    return best


DOCS_CUE = re.compile(
    r"哪些文件|哪几份|哪几个文件|哪些通知|几份文件|哪些文档|哪份文件|文件里|哪些文里|哪几个通知"
)
_QUOTED_RE = re.compile(r"[“\"「『《]([^”\"」』》]{1,20})[”\"」』》]")


# jieba tags of words that shape a question rather than name its subject: pronouns (啥 咋),
# adverbs (到底 比较), adjectives (合适), numerals and measure words, conjunctions,
# prepositions, particles, locatives (里 之前), onomatopoeia and interjections.
_PHRASING_TAGS = frozenset(["d", "a", "ad", "c", "p", "m", "q", "f", "e", "o", "z"])
# Tag families: r, rr, rz (pronouns); u, uj, ul … (particles); y (modal particles).
_PHRASING_FAMILIES = frozenset("ruy")


def is_phrasing(tag: str) -> bool:
    """Whether a jieba tag marks a word of the question's phrasing."""
    return tag in _PHRASING_TAGS or tag[:1] in _PHRASING_FAMILIES


def detect_cues(question: str) -> list[Cue]:
    """Question-type cues found in the raw question (啥 read as 什么: 啥时候, 啥意思)."""
    plain = question.replace("啥", "什么")
    return [cue for cue in CUES if cue.pattern.search(plain)]


def wants_meta(question: str, cues: list[Cue]) -> bool:
    """Whether signatures, dates and contacts may answer: who, when issued, whom to call."""
    if any(cue.name in META_CUES for cue in cues) or _META_WORDS.search(question):
        return True
    return any(cue.name in DATE_CUES for cue in cues) and bool(_ISSUE_WORDS.search(question))


def quoted_terms(question: str, normalize: Callable[[str], str]) -> list[str]:
    """Terms the asker put in quotes or book-title marks (normalised)."""
    return [normalize(m) for m in _QUOTED_RE.findall(question) if m.strip()]


@dataclass(frozen=True, slots=True)
class RankConfig:
    """Weights of the ranking; defaults measured on benchmarks/data (see README)."""

    word_weight: float = 0.5
    doc_weight: float = 0.3
    title_weight: float = 0.3
    phrase_weight: float = 0.5
    meta_factor: float = 0.5
    candidates: int = 30
    # Big indexes: terms in more than this share of passages (and this many) join late.
    common_share: float = 0.05
    common_min_df: int = 1000
    prefilter: int = 500
    quote_boost: float = 0.3
    coverage_weight: float = 0.5
    single_char_weight: float = 0.5
    # Credit for a question word found elsewhere in the passage's document (安徽, 宁夏 …).
    same_doc_credit: float = 0.5
    part_credit: float = 0.6
    # Weight factor of a question word no document uses (it counts against the answer) ...
    unseen_factor: float = 1.5
    # ... when it is rare: general idf (thesaurus.general_idf) at or above ``rare_idf``
    # (outside jieba's 3,000 commonest words); at or below ``everyday_idf`` (its 1,150
    # commonest: 干 东西 看看 业务 也许) a word weighs as phrasing does; linear in between.
    everyday_idf: float = 9.0
    rare_idf: float = 10.0
    naming_share: float = 0.5
    # How many of the best passages may carry the answer when deciding to refuse.
    answer_window: int = 3
    # Factor on answerability when the question wants a date/number/phone none of them has.
    missing_type_factor: float = 0.6
    # Thesaurus synonyms of a question word that no document uses: query weight and credit.
    related_weight: float = 0.3
    related_credit: float = 0.6
    related_max: int = 4
    # Pronouns, adverbs, adjectives, numerals …: how a question is put, rarely what it asks.
    phrasing_weight: float = 0.3
    # Hybrid fusion (fusion.py): a plain BM25 over the words and a dense cosine join the
    # ranker's score, each scaled to its best passage; the dense one over its best ``pool``.
    plain_weight: float = 0.2
    dense_weight: float = 0.5
    fusion_pool: int = 30
    # When an answer is confident (confidence.py): with a calibrated model's cosine, and
    # without one (no vectors yet, no model, or a model folder). Fitted by
    # benchmarks/qa_confidence.py on the twelve question sets.
    confidence: Calibration = DENSE
    lexical_confidence: Calibration = LEXICAL


@dataclass(frozen=True, slots=True)
class _Evidence:
    """Per question: how each content word is weighed and recognised in a passage."""

    weights: dict[str, float]
    # The same for answerability: a word no document uses weighs by how rare it is at large.
    sure_weights: dict[str, float]
    forms: dict[str, tuple[str, ...]]
    parts: dict[str, tuple[str, ...]]
    in_docs: dict[str, set[int]]
    cue_of: dict[str, Cue]
    related: dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A passage considered for the answer, with its final score and answerability."""

    row: int
    score: float
    coverage: float
    # Coverage with the answerability's weights (see _Evidence.sure_weights).
    sure: float


@dataclass(frozen=True, slots=True)
class Ranking:
    """The ranker's candidates, best first, and how sure it is that they answer."""

    candidates: list[Candidate]
    answerability: float
    cues: list[Cue]


@dataclass(frozen=True, slots=True)
class RankInput:
    """What ranking needs besides the index: passage context and synonym surface forms."""

    context: Callable[[int], str]
    doc_of: Sequence[int]
    doc_titles: Sequence[str]
    surface_forms: Callable[[str], Sequence[str]]
    thesaurus: Callable[[], dict[str, tuple[str, ...]]] = dict
    # How rare a word is in Chinese at large (thesaurus.general_idf); by default every word
    # is rare, and a word no document uses counts fully against the answer.
    general_idf: Callable[[str], float] = lambda _word: math.inf


def fused_scores(
    index: PassageIndex, words: dict[str, float], bigrams: dict[str, float], config: RankConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Rows worth re-ranking and their fused score: word and bigram BM25 (each scaled to its
    best passage) mixed, plus the document field's score.

    On a big index, terms in more than ``common_share`` of the passages (科技, 工作 …) are first
    left out, the best ``prefilter`` rows are picked on the rarer terms, and the common terms'
    exact scores are then added for those rows only; a small index scores everything at once.
    """
    limit = max(config.common_min_df, int(index.size * config.common_share))
    w_rare, w_common = _split_common(index.words, words, limit)
    b_rare, b_common = _split_common(index.bigrams, bigrams, limit)
    w_scores, b_scores = index.words.scores(w_rare), index.bigrams.scores(b_rare)
    doc_part = _doc_part(index, words, config)
    if not w_common and not b_common:
        return np.arange(index.size), _mix(w_scores, b_scores, config) + doc_part
    rows = top_rows(_mix(w_scores, b_scores, config) + doc_part, config.prefilter)
    # Only common words in the question: nothing to pre-select on, so score every passage.
    selected = np.asarray(rows, dtype=np.int64) if rows else np.arange(index.size)
    w_scores = w_scores[selected] + index.words.scores_for(w_common, selected)
    b_scores = b_scores[selected] + index.bigrams.scores_for(b_common, selected)
    return selected, _mix(w_scores, b_scores, config) + doc_part[selected]


def _split_common(
    field: Field, terms: dict[str, float], limit: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Terms in at most ``limit`` rows, and the more common ones."""
    rare, common = {}, {}
    for term, weight in terms.items():
        (common if field.doc_freq(term) > limit else rare)[term] = weight
    return rare, common


def _mix(words: np.ndarray, bigrams: np.ndarray, config: RankConfig) -> np.ndarray:
    """Weighted sum of the two passage fields, each divided by its maximum."""
    fused = np.zeros(len(words), dtype=np.float32)
    for scores, weight in ((words, config.word_weight), (bigrams, 1 - config.word_weight)):
        top = float(scores.max(initial=0.0))
        if top > 0:
            fused += (weight / top) * scores
    return fused


def _doc_part(index: PassageIndex, words: dict[str, float], config: RankConfig) -> np.ndarray:
    """The document field's score (scaled to the best document), spread over its passages."""
    doc_scores = index.docs.scores(words)
    top = float(doc_scores.max(initial=0.0))
    if top <= 0 or not config.doc_weight:
        return np.zeros(index.size, dtype=np.float32)
    return ((config.doc_weight / top) * doc_scores)[index.doc_of]


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

    def rank(self, question: str, query: QueryTerms) -> Ranking:
        """Candidates best first, with how sure we are that the best ones answer."""
        cues = detect_cues(question)
        related = self._related(query)
        words, bigrams = self._query_weights(query, cues, related)
        selected, fused = fused_scores(self.index, words, bigrams, self.config)
        if self.config.title_weight:
            # Only the leading rows can still reach the candidates; titles of the rest are moot.
            lead = np.asarray(top_rows(fused, TITLE_ROWS), dtype=np.int64)
            if len(lead):
                fused = fused.copy()
                fused[lead] += self.config.title_weight * self._title_share(query, selected[lead])
        picks = top_rows(fused, self.config.candidates)
        if not picks:
            return Ranking([], 0.0, cues)
        rows = [int(selected[i]) for i in picks]
        fused_of = {int(selected[i]): float(fused[i]) for i in picks}
        quotes = quoted_terms(question, normalize)
        evidence = self._evidence(question, query, cues, related)
        segments = [
            s
            for s in re.split(r"[，。？！?!,;；\s]+", QUESTION_RE.sub("，", normalize(question)))
            if len(s) > 1
        ]
        meta_wanted = wants_meta(question, cues)
        out = []
        for row in rows:
            context = self.data.context(row)
            coverage, sure = self._coverage(row, context, evidence)
            boost = self._boost(row, context, cues, quotes)
            boost += self.config.phrase_weight * phrase_share(segments, context)
            score = fused_of[row] * (1 + boost) * (1 + self.config.coverage_weight * coverage)
            if not meta_wanted and int(self.index.flags[row]) & Flag.META:
                # Signatures, dates and contacts answer "who, when, whom to call", nothing else.
                score *= self.config.meta_factor
            out.append(Candidate(row, score, coverage, sure))
        out.sort(key=lambda c: -c.score)
        return Ranking(out, self.answerability(out, cues), cues)

    def relates(self, query: QueryTerms) -> bool:
        """Whether any content word of the question (or a variant) occurs in some passage."""
        words = self.index.words
        return any(
            words.doc_freq(form)
            for term in query.content
            for form in (term, *query.variants.get(term, ()))
        ) or bool(self._related(query))

    def documents_use(self, form: str, rows: Sequence[int]) -> bool:
        """Whether the document of one of ``rows`` uses ``form``: in its text (as a word), its
        title or its issuer."""
        docs = {self.data.doc_of[row] for row in rows}
        return not docs.isdisjoint(self.index.docs.postings(form)) or any(
            form in self.data.doc_titles[doc] for doc in docs
        )

    def unmet_ask(self, question: str, query: QueryTerms, rows: Sequence[int]) -> str | None:
        """What the question asks for that the passages of ``rows`` cannot hold (see
        confidence.unmet_ask)."""
        places = [
            (term, *query.variants.get(term, ()))
            for term in query.content
            if is_place(term, query.tags.get(term, ""))
        ]
        return unmet_ask(
            normalize(question),
            places,
            [self.data.context(row) for row in rows],
            lambda form: self.documents_use(form, rows),
        )

    def _title_share(self, query: QueryTerms, rows: np.ndarray) -> np.ndarray:
        """Per row: share of the question's content words found in its document's title."""
        doc_of = self.index.doc_of[rows]
        titles = self.data.doc_titles
        total = len(query.content) or 1
        share = np.zeros(len(titles), dtype=np.float32)
        for doc in np.unique(doc_of).tolist():
            share[doc] = sum(term in titles[doc] for term in query.content) / total
        return share[doc_of]

    def _query_weights(
        self, query: QueryTerms, cues: list[Cue], related: dict[str, tuple[str, ...]]
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Term weights for the passage fields, with the words of the question's cues added."""
        words = dict(query.words)
        for cue in cues:
            for term in cue.terms:
                words.setdefault(term, CUE_TERM_WEIGHT)
        for others in related.values():
            for term in others:
                words.setdefault(term, self.config.related_weight)
        return words, dict(query.bigrams)

    def _related(self, query: QueryTerms) -> dict[str, tuple[str, ...]]:
        """Thesaurus synonyms, used by some document, of question words no document uses."""
        if not self.config.related_max:
            return {}
        table = self.data.thesaurus()
        docs = self.index.words
        out = {}
        for term in query.content:
            forms = (term, *query.variants.get(term, ()))
            if len(term) < 2 or any(docs.doc_freq(form) for form in forms):
                continue
            seen = [w for w in table.get(term, ()) if docs.doc_freq(w)]
            if seen:
                out[term] = tuple(sorted(seen, key=docs.doc_freq)[: self.config.related_max])
        return out

    def _evidence(
        self,
        question: str,
        query: QueryTerms,
        cues: list[Cue],
        related: dict[str, tuple[str, ...]],
    ) -> _Evidence:
        """What coverage looks for: each content word's weight, spellings, parts and cue."""
        spans = [(cue, m.group(0)) for cue in cues for m in cue.pattern.finditer(question)]
        weights, sure_weights, forms, cue_of = {}, {}, {}, {}
        for term in query.content:
            forms[term] = (*self.data.surface_forms(term), *query.variants.get(term, ()))
            cue = next((c for c, span in spans if term in span or span in term), None)
            weight = self.index.words.idf(term)
            sure = 1.0
            if cue is not None:
                cue_of[term] = cue
            if is_phrasing(query.tags.get(term, "")):
                weight *= self.config.phrasing_weight
            elif (
                cue is None
                and term not in related
                and not any(self.index.words.doc_freq(form) for form in forms[term])
            ):
                # A word no document uses (会费, 注册) is the strongest sign of a question the
                # documents do not answer, unless it is an everyday word (弄 东西 开会): the
                # ranking keeps one factor (changing it moved no answer up), the answerability
                # weighs the word by its rarity.
                sure = self._unseen_weight(term) / self.config.unseen_factor
                weight *= self.config.unseen_factor
            if len(term) == 1:
                weight *= self.config.single_char_weight
            weights[term] = weight
            sure_weights[term] = weight * sure
        in_docs = self._docs_with(query, weights)
        return _Evidence(weights, sure_weights, forms, query.parts, in_docs, cue_of, related)

    def _unseen_weight(self, term: str) -> float:
        """Factor on a word no document uses, by how rare it is in Chinese at large: that of
        phrasing for everyday words, ``unseen_factor`` for rare ones, linear in between."""
        low, high = self.config.everyday_idf, self.config.rare_idf
        share = min(max((self.data.general_idf(term) - low) / (high - low), 0.0), 1.0)
        phrasing = self.config.phrasing_weight
        return phrasing + share * (self.config.unseen_factor - phrasing)

    def answerability(self, ranked: list[Candidate], cues: list[Cue]) -> float:
        """How sure we are that the best passages answer: coverage, checked against the cues."""
        required = [cue for cue in cues if cue.required]
        best = 0.0
        for cand in ranked[: self.config.answer_window]:
            flags = int(self.index.flags[cand.row])
            value = cand.sure
            for cue in required:
                if not cue.satisfied(flags):
                    value *= self.config.missing_type_factor
            best = max(best, value)
        return best

    def _docs_with(self, query: QueryTerms, weights: dict[str, float]) -> dict[str, set[int]]:
        """For each content word naming few documents: those documents (else an empty set)."""
        out = {}
        limit = self.index.docs.n_docs * self.config.naming_share
        for term in weights:
            docs: set[int] = set()
            for form in (term, *query.variants.get(term, ())):
                docs.update(self.index.docs.postings(form))
            out[term] = docs if len(docs) <= limit else set()
        return out

    def _coverage(self, row: int, context: str, evidence: _Evidence) -> tuple[float, float]:
        """Weighted share of the question's words that the passage (or its document) holds,
        with the ranking's weights and with the answerability's."""
        total, sure_total = sum(evidence.weights.values()), sum(evidence.sure_weights.values())
        if total <= 0 or sure_total <= 0:
            return 0.0, 0.0
        doc = self.data.doc_of[row]
        flags = int(self.index.flags[row])
        found = sure = 0.0
        for term, weight in evidence.weights.items():
            credit = self._credit(term, context, doc, flags, evidence)
            found += weight * credit
            sure += evidence.sure_weights[term] * credit
        return found / total, sure / sure_total

    def _credit(self, term: str, context: str, doc: int, flags: int, evidence: _Evidence) -> float:
        """1 for a word present, less for parts of it or a mention elsewhere in the document."""
        cue = evidence.cue_of.get(term)
        if cue is not None:
            # 电话, 文号, 发给: answered by a phone number, a document number, an addressee line.
            return 1.0 if cue.satisfied(flags) else 0.0
        if any(form in context for form in evidence.forms[term]):
            return 1.0
        parts = evidence.parts.get(term, ())
        share = sum(part in context for part in parts) / len(parts) if parts else 0.0
        credit = self.config.part_credit * share
        if any(form in context for form in evidence.related.get(term, ())):
            credit = max(credit, self.config.related_credit)
        if doc in evidence.in_docs.get(term, ()):
            credit = max(credit, self.config.same_doc_credit)
        return credit

    def _boost(
        self,
        row: int,
        context: str,
        cues: list[Cue],
        quotes: list[str],
    ) -> float:
        """Sum of the cue and quote boosts that apply to one passage."""
        flags = int(self.index.flags[row])
        boost = sum(cue.boost for cue in cues if flags & cue.flag)
        boost += sum(self.config.quote_boost for quote in quotes if quote in context)
        return boost


def one_per_doc_first(rows: list[T], doc_of: Callable[[T], int]) -> list[T]:
    """For "which documents mention X": the best passage of each document first."""
    seen: set[int] = set()
    firsts, rest = [], []
    for row in rows:
        doc = doc_of(row)
        (rest if doc in seen else firsts).append(row)
        seen.add(doc)
    return firsts + rest
