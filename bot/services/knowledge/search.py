"""Search: a published index opened as a snapshot, and questions answered from it.

A snapshot holds everything a search reads (documents, rows, index, ranker, vectors); the
knowledge base replaces it whole when documents change, so a search never sees a mix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.services.knowledge.build import Row, read_rows
from bot.services.knowledge.chunking import SECTION_SEPARATOR, PassageKind
from bot.services.knowledge.registry import DocumentInfo
from bot.services.knowledge.thesaurus import general_idf, synonyms_by_word
from bot.services.knowledge.tokenize import Analyzer, normalize

if TYPE_CHECKING:
    from bot.services.knowledge.confidence import Signals


@dataclass(frozen=True, slots=True)
class Hit:
    """A passage returned by a search or looked up by id."""

    passage_id: str
    doc_id: str
    doc: str
    title: str
    issuer: str | None
    date: str | None
    doc_number: str | None
    section: str
    section_path: tuple[str, ...]
    position: int
    kind: str
    text: str
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class Answer:
    """The passages shown for a question, and whether they are a confident answer.

    Empty hits: nothing in the documents relates. Hits that are not confident are the
    closest passages, shown under a sentence that they may not answer the question.
    """

    hits: list[Hit]
    confident: bool


def passage_id(doc_id: str, position: int) -> str:
    """Stable id of a passage, short enough for Telegram callback data."""
    return f"{doc_id}:{position}"


@dataclass(slots=True)
class Snapshot:
    """Everything a search reads; replaced whole when documents change."""

    key: str
    docs: dict[str, DocumentInfo]
    rows: list[Row]
    index: Any = None
    ranker: Any = None
    contexts: dict[int, str] = field(default_factory=dict)
    # Passage vectors (dense.DenseRows), when an embedder is configured; used once complete.
    dense: Any = None

    def hit(self, row: int, score: float) -> Hit:
        """A Hit for an index row."""
        item = self.rows[row]
        doc = self.docs[item.doc_id]
        return Hit(
            passage_id=passage_id(item.doc_id, item.position),
            doc_id=doc.doc_id,
            doc=doc.file_name,
            title=doc.title,
            issuer=doc.issuer,
            date=doc.date,
            doc_number=doc.doc_number,
            section=SECTION_SEPARATOR.join(item.section),
            section_path=tuple(item.section),
            position=item.position,
            kind=item.kind,
            text=item.text,
            score=round(score, 4),
        )

    def passage(self, pid: str) -> Hit | None:
        """A passage by its id (``doc_id:position``), or None."""
        rows = {passage_id(r.doc_id, r.position): i for i, r in enumerate(self.rows)}
        row = rows.get(pid)
        return None if row is None else self.hit(row, 0.0)

    def section_passages(self, doc_id: str, section: Sequence[str] | str) -> list[Hit]:
        """Every passage of a section (sub-sections included), in document order.

        The empty section is the document's front matter (title, addressee, signature …).
        """
        if isinstance(section, str):
            path = tuple(section.split(SECTION_SEPARATOR)) if section else ()
        else:
            path = tuple(section)
        return [
            self.hit(i, 0.0)
            for i, row in enumerate(self.rows)
            if row.doc_id == doc_id
            and row.kind != PassageKind.OUTLINE
            and (tuple(row.section[: len(path)]) == path if path else not row.section)
        ]

    def embedded_text(self, row: int) -> str:
        """What is embedded for a passage: its document's title, heading path and text."""
        item = self.rows[row]
        title = self.docs[item.doc_id].title
        return f"{title}\n{SECTION_SEPARATOR.join(item.section)}\n{item.text}"

    def context(self, row: int) -> str:
        """Normalised title, heading path and text of a passage (cached per snapshot)."""
        context = self.contexts.get(row)
        if context is None:
            context = normalize(self.embedded_text(row))
            self.contexts[row] = context
        return context


def open_snapshot(
    docs: dict[str, DocumentInfo], folder: Path, key: str, analyzer: Analyzer, config: Any
) -> Snapshot:
    """Read rows and index files of a published index and wire up the ranker."""
    from bot.services.knowledge.index import PassageIndex
    from bot.services.knowledge.ranking import RankConfig, Ranker, RankInput

    snapshot = Snapshot(key, docs, read_rows(folder))
    if not snapshot.rows:
        return snapshot
    # Memory-mapped: a cold process reads only the postings its first question touches.
    snapshot.index = PassageIndex.load(folder, mmap=True)
    data = RankInput(
        context=snapshot.context,
        doc_of=snapshot.index.doc_of.tolist(),
        doc_titles=[normalize(f"{d.title} {d.issuer or ''}") for d in docs.values()],
        surface_forms=lambda term: surface_forms(analyzer, term),
        thesaurus=synonyms_by_word,
        general_idf=general_idf,
    )
    snapshot.ranker = Ranker(snapshot.index, data, config or RankConfig())
    return snapshot


def assess(
    state: Snapshot,
    analyzer: Analyzer,
    question: str,
    cosines: Callable[[], Any],
    center: float | None,
) -> tuple[list[tuple[int, float]], Signals] | None:
    """The fused ranking (rows and scores, best first) and the signals its grade rests on;
    None when there is nothing to search. ``cosines``: every passage's cosine with the
    question, or None while vectors are not ready."""
    from bot.services.knowledge.confidence import Signals, asked_kinds
    from bot.services.knowledge.fusion import fuse
    from bot.services.knowledge.ranking import is_phrasing

    if state.ranker is None or not question.strip():
        return None
    query = analyzer.query(question)
    if not query.words and not query.bigrams:
        return None
    ranking = state.ranker.rank(question, query)
    dense = cosines()
    best = float(dense[state.dense.known].max(initial=-1.0)) if dense is not None else None
    fused = fuse(question, ranking, state.index, query, dense, state.ranker.config)
    window = [row for row, _ in fused[: state.ranker.config.answer_window]]
    signals = Signals(
        answerability=ranking.answerability,
        relates=bool(ranking.candidates) and state.ranker.relates(query),
        words=sum(not is_phrasing(query.tags.get(term, "")) for term in query.content),
        best_cosine=best,
        center=center,
        unmet=state.ranker.unmet_ask(question, query, window) if window else None,
        kinds=asked_kinds(question),
    )
    return fused, signals


def graded(
    state: Snapshot, fused: list[tuple[int, float]], signals: Signals, top_k: int
) -> Answer:
    """The answer shown: the best passages, and whether they are confident (or none at all)."""
    from bot.services.knowledge.confidence import Grade, grade

    config = state.ranker.config
    verdict = grade(signals, config.confidence, config.lexical_confidence)
    if verdict is Grade.NONE:
        return Answer([], False)
    hits = [state.hit(row, score) for row, score in fused[:top_k]]
    return Answer(hits, verdict is Grade.CONFIDENT)


def surface_forms(analyzer: Analyzer, term: str) -> list[str]:
    """A canonical term and every variant that folds to it."""
    vocabulary = analyzer.vocabulary
    return [term, *(v for v, c in vocabulary.canonical.items() if c == term)]


def highlight_terms(analyzer: Analyzer, question: str, text: str | None = None) -> list[str]:
    """Words of the question (and their synonyms) to bold, longest first."""
    query = analyzer.query(question)
    terms: set[str] = set()
    for term in query.content:
        terms.update(surface_forms(analyzer, term))
        terms.update(query.variants.get(term, ()))
    terms = {t for t in terms if len(t) >= 2}
    if text is not None:
        norm = normalize(text)
        terms = {t for t in terms if t in norm}
    return sorted(terms, key=lambda t: (-len(t), t))
