"""KnowledgeBase: documents, passages and their search index in one data directory."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import shutil
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from bot.services.knowledge.chunking import SECTION_SEPARATOR, Passage, PassageKind, chunk_lines
from bot.services.knowledge.errors import (
    IngestCode,
    IngestError,
    QuestionCode,
    UnknownDocumentError,
)
from bot.services.knowledge.ingest import (
    MAX_BYTES,
    SUPPORTED_SUFFIXES,
    content_hash,
    read_document,
)
from bot.services.knowledge.lines import logical_lines
from bot.services.knowledge.metadata import (
    METADATA_FILE,
    Metadata,
    extract_metadata,
    load_metadata_file,
)
from bot.services.knowledge.parallel import parallel_map
from bot.services.knowledge.question import validate_question
from bot.services.knowledge.thesaurus import general_idf, synonyms_by_word
from bot.services.knowledge.tokenize import Analyzer, normalize
from bot.services.knowledge.versions import Batch, Changes

if TYPE_CHECKING:
    from bot.services.knowledge.confidence import Signals
    from bot.services.knowledge.dense import DenseRows, DenseWorker, Embedder

log = logging.getLogger(__name__)

REGISTRY_FILE = "documents.json"
PASSAGES_DIR = "passages"
INDEX_DIR = "index"
CURRENT_FILE = "current.json"
ROWS_FILE = "rows.json"
LOCK_FILE = ".lock"
CORPUS_FILE = "corpus.json"
# Where a document came from: the corpus folder (kept in step with it), a file an admin sent
# in chat, a file given to `stabot index`.
ORIGIN_CORPUS = "corpus"
ORIGIN_UPLOAD = "upload"
ORIGIN_INDEX = "index"
# Part of the index key: bump when chunking or the stored layout changes.
LAYOUT_VERSION = "2"
# Per passage: index words and character bigrams (each space-joined: compact to pickle from
# workers and to store), and feature flags.
_Analysis = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """An indexed document."""

    doc_id: str
    file_name: str
    title: str
    issuer: str | None
    date: str | None
    doc_number: str | None
    sha256: str
    passages: int
    added_at: str
    # The document's key (see versions.py): its path within the corpus folder, or the file
    # name it was uploaded or indexed under; empty in registries written before it was kept.
    source: str = ""
    # ORIGIN_CORPUS, ORIGIN_UPLOAD or ORIGIN_INDEX; empty in older registries.
    origin: str = ""

    @property
    def key(self) -> str:
        """The source a new version of this document comes under."""
        return self.source or self.file_name


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


class _Row(NamedTuple):
    """One indexed passage, as stored beside the index (a tuple: 100,000 load fast)."""

    doc_id: str
    position: int
    section: Sequence[str]
    text: str
    kind: str


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A file read, chunked, described and analysed, waiting to be committed."""

    info: DocumentInfo
    passages: list[Passage]
    flags: list[int]
    # Word and bigram ids (index.TokenIds), numbered in the worker that tokenised them.
    ids: tuple[Any, Any]
    # The passages file's JSON (passages with words and bigrams), encoded in the worker.
    stored: str


@dataclass(frozen=True, slots=True)
class Answer:
    """The passages shown for a question, and whether they are a confident answer.

    Empty hits: nothing in the documents relates. Hits that are not confident are the
    closest passages, shown under a sentence that they may not answer the question.
    """

    hits: list[Hit]
    confident: bool


@dataclass(slots=True)
class _Snapshot:
    """Everything a search reads; replaced whole when documents change."""

    key: str
    docs: dict[str, DocumentInfo]
    rows: list[_Row]
    index: Any = None
    ranker: Any = None
    contexts: dict[int, str] = field(default_factory=dict)
    # Passage vectors (dense.DenseRows), when an embedder is configured; used once complete.
    dense: Any = None


def passage_id(doc_id: str, position: int) -> str:
    """Stable id of a passage, short enough for Telegram callback data."""
    return f"{doc_id}:{position}"


class KnowledgeBase:
    """Indexed policy documents in ``data_dir``, independent of the bot's database."""

    def __init__(
        self,
        data_dir: Path,
        *,
        max_bytes: int = MAX_BYTES,
        config: Any = None,
        embedder: Embedder | None = None,
        seed_vectors: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.max_bytes = max_bytes
        self._lock = threading.RLock()
        self._snapshot: _Snapshot | None = None
        self._analyzer: Analyzer | None = None
        # A ranking.RankConfig; None means the measured defaults.
        self._config = config
        self.embedder = embedder
        self._dense_worker: DenseWorker | None = None
        if embedder is not None:
            # numpy comes with it: imported only when vectors are wanted.
            from bot.services.knowledge.dense import VECTORS_DIR, DenseWorker, VectorCache
            from bot.services.knowledge.seeds import seed_file

            # ``seed_vectors``: the folder of the bundled corpus's seed files (seeds.py).
            seeds = seed_file(seed_vectors, embedder.key) if seed_vectors is not None else None
            cache = VectorCache(self.data_dir / VECTORS_DIR / embedder.key, seeds)
            self._dense_worker = DenseWorker(embedder, cache)
        self._query_failed = False

    # ----- set-up -------------------------------------------------------------------------

    @property
    def analyzer(self) -> Analyzer:
        """The tokenizer shared by indexing and search (jieba is loaded on first use)."""
        if self._analyzer is None:
            self._analyzer = Analyzer()
        return self._analyzer

    def warm_up(self) -> None:
        """Load jieba, the thesaurus, word frequencies and the index now, so the first question
        is quick."""
        self.analyzer.warm_up()
        synonyms_by_word()
        general_idf("科协")
        self._state()

    def ensure_corpus(self, corpus_dir: Path) -> list[DocumentInfo]:
        """Bring the bundled corpus in step when its folder changed (a cheap no-op otherwise).

        Returns the new documents and new versions; see ``sync_corpus``.
        """
        if not Path(corpus_dir).is_dir():
            return []
        if _read_json(self.data_dir / CORPUS_FILE) == _manifest(Path(corpus_dir)):
            return []
        changes = self.sync_corpus(corpus_dir)
        for path, error in changes.errors:
            log.warning("corpus file %s not indexed: %s", path, error)
        return changes.indexed

    def sync_corpus(self, corpus_dir: Path) -> Changes:
        """Index the corpus folder's new files, replace changed ones and drop removed ones.

        A file that fails to read is reported in ``errors`` and its old version kept.
        Documents an admin removed stay removed (their content hashes are remembered), and
        one an admin replaced by uploading a file of the same name keeps the admin's version.
        """
        from bot.services.knowledge.index import write_json

        folder = Path(corpus_dir)
        manifest = _manifest(folder)
        items = list(_sources([folder]))
        with self._writing():
            docs = self._load_registry()
            owned = _corpus_owner(items, _read_json(self.data_dir / CORPUS_FILE))
            batch = Batch(docs, removed=set(self._removed()), replaceable=owned)
            present = {source for _, source in items}
            for doc in docs.values():
                if owned(doc) and doc.key not in present:
                    batch.drop(doc)
            errors: list[tuple[Path, IngestError]] = []
            self._offer(batch, items, ORIGIN_CORPUS, skip_duplicates=True, errors=errors)
            self._commit(batch)
            write_json(self.data_dir / CORPUS_FILE, manifest)
        changes = batch.changes()
        changes.errors = errors
        return changes

    # ----- reading ------------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        """Indexed documents, oldest first."""
        return list(self._state().docs.values())

    def document(self, doc_id: str) -> DocumentInfo:
        """One document by id."""
        doc = self._state().docs.get(doc_id)
        if doc is None:
            raise UnknownDocumentError(doc_id)
        return doc

    def document_at(self, source: str) -> DocumentInfo | None:
        """The document indexed under a source (a file name), if any: a new file replaces it."""
        return next((d for d in self._state().docs.values() if d.key == source), None)

    def search(self, question: str, top_k: int = 5) -> list[Hit]:
        """The passages closest to ``question``, best first; empty when nothing relates."""
        return self.answer(question, top_k).hits

    def answer(self, question: str, top_k: int = 5) -> Answer:
        """The closest passages and whether they answer confidently (see confidence.grade)."""
        from bot.services.knowledge.confidence import Grade, grade

        assessed = self._assess(question) if top_k > 0 else None
        if assessed is None:
            return Answer([], False)
        state, fused, signals = assessed
        config = state.ranker.config
        verdict = grade(signals, config.confidence, config.lexical_confidence)
        if verdict is Grade.NONE:
            return Answer([], False)
        hits = [self._hit(state, row, score) for row, score in fused[:top_k]]
        return Answer(hits, verdict is Grade.CONFIDENT)

    def signals(self, question: str) -> Signals | None:
        """What the grade of an answer rests on (benchmarks/qa_confidence.py weighs them);
        None when the question has nothing to search for."""
        assessed = self._assess(question)
        return None if assessed is None else assessed[-1]

    def _assess(self, question: str) -> tuple[_Snapshot, list[tuple[int, float]], Signals] | None:
        """The snapshot, the fused ranking (rows and scores, best first) and the signals."""
        from bot.services.knowledge.confidence import Signals
        from bot.services.knowledge.fusion import fuse
        from bot.services.knowledge.ranking import is_phrasing

        state = self._state()
        if state.ranker is None or not question.strip():
            return None
        query = self.analyzer.query(question)
        if not query.words and not query.bigrams:
            return None
        ranking = state.ranker.rank(question, query)
        cosines = self._cosines(state, question)
        best = float(cosines[state.dense.known].max(initial=-1.0)) if cosines is not None else None
        fused = fuse(question, ranking, state.index, query, cosines, state.ranker.config)
        window = [row for row, _ in fused[: state.ranker.config.answer_window]]
        signals = Signals(
            answerability=ranking.answerability,
            relates=bool(ranking.candidates) and state.ranker.relates(query),
            words=sum(not is_phrasing(query.tags.get(term, "")) for term in query.content),
            best_cosine=best,
            center=self.embedder.center if self.embedder is not None else None,
            unmet=state.ranker.unmet_ask(question, query, window) if window else None,
        )
        return state, fused, signals

    def dense_ready(self) -> bool:
        """Whether every passage of the current index has its vector (or failed to get one)."""
        dense = self._state().dense
        return dense is not None and dense.complete

    def vectors_missing(self) -> int:
        """Passages of the current index still without a vector (0 without an embedder)."""
        dense = self._state().dense
        return 0 if dense is None else len(dense.missing())

    def passage_hashes(self) -> list[str]:
        """The cache key of each passage of the current index: the hash of the text embedded."""
        return self._text_hashes(self._state())

    def embedded_texts(self) -> list[str]:
        """What is embedded for each passage of the current index (title, headings, text)."""
        state = self._state()
        return [self._embedded_text(state, i) for i in range(len(state.rows))]

    def passage_vectors(self) -> dict[str, Any]:
        """The vectors known for the current index's passages, by text hash."""
        dense = self._state().dense
        if dense is None:
            return {}
        return {h: dense.matrix[i].copy() for i, h in enumerate(dense.hashes) if dense.known[i]}

    def embed_now(self, timeout: float | None = None) -> bool:
        """Compute the missing passage vectors and wait for them; whether they are ready."""
        if self._dense_worker is None:
            return False
        # A worker that was just finishing an older index may have ended before this one
        # was published: start it again (each pass leaves the index it saw complete).
        for _ in range(3):
            self._start_embedding()
            self._dense_worker.join(timeout)
            if self.dense_ready():
                return True
        return False

    def _cosines(self, state: _Snapshot, question: str) -> Any:
        """Cosine of every passage with the question, or None while vectors are not ready."""
        dense = state.dense
        if dense is None or not dense.complete or self.embedder is None:
            return None
        try:
            vector = self.embedder.query(question)
        except Exception:  # a broken model must not take the lexical answer with it
            if not self._query_failed:
                self._query_failed = True
                log.exception("embedding a question failed; answering lexically")
            return None
        return dense.scores(vector)

    def passage(self, pid: str) -> Hit | None:
        """A passage by its id (``doc_id:position``), or None."""
        state = self._state()
        row = self._row_index(state).get(pid)
        return None if row is None else self._hit(state, row, 0.0)

    def section_passages(self, doc_id: str, section: Sequence[str] | str) -> list[Hit]:
        """Every passage of a section (sub-sections included), in document order.

        The empty section is the document's front matter (title, addressee, signature …).
        """
        if isinstance(section, str):
            path = tuple(section.split(SECTION_SEPARATOR)) if section else ()
        else:
            path = tuple(section)
        state = self._state()
        return [
            self._hit(state, i, 0.0)
            for i, row in enumerate(state.rows)
            if row.doc_id == doc_id
            and row.kind != PassageKind.OUTLINE
            and (tuple(row.section[: len(path)]) == path if path else not row.section)
        ]

    def validate_question(self, text: str) -> QuestionCode | None:
        """Why ``text`` cannot be searched, or None (Latin words the documents use are fine)."""
        state = self._state()
        known = state.index.words.vocab if state.index is not None else None
        return validate_question(text, known_terms=known)

    def highlight_terms(self, question: str, text: str | None = None) -> list[str]:
        """Words of the question (and their synonyms) to bold, longest first."""
        query = self.analyzer.query(question)
        terms: set[str] = set()
        for term in query.content:
            terms.update(self._surface_forms(term))
            terms.update(query.variants.get(term, ()))
        terms = {t for t in terms if len(t) >= 2}
        if text is not None:
            norm = normalize(text)
            terms = {t for t in terms if t in norm}
        return sorted(terms, key=lambda t: (-len(t), t))

    # ----- writing ------------------------------------------------------------------------

    def add_file(
        self,
        path: Path,
        *,
        title: str | None = None,
        date: str | None = None,
        issuer: str | None = None,
        doc_number: str | None = None,
    ) -> DocumentInfo:
        """Index one file; raises IngestError (nothing is stored) when it cannot be.

        A document indexed under the same file name with other content is replaced.
        """
        override = Metadata(title, issuer, date, doc_number)
        info, _ = self.put_file(path, override)
        return info

    def put_file(
        self, path: Path, override: Metadata | None = None, *, origin: str = ORIGIN_UPLOAD
    ) -> tuple[DocumentInfo, DocumentInfo | None]:
        """Index one file under its name: the new document, and the version it replaced."""
        path = Path(path)
        with self._writing():
            batch = Batch(self._load_registry())
            prepared = self._prepare_task()((path, override or Metadata()))
            if isinstance(prepared, IngestError):
                raise prepared
            prepared = _tagged(prepared, path.name, origin)
            batch.offer(prepared)
            self._commit(batch)
        return prepared.info, batch.replaced().get(prepared.info.doc_id)

    def add_paths(
        self,
        paths: Iterable[Path],
        *,
        skip_duplicates: bool = False,
        skip_removed: bool = False,
        errors: list[tuple[Path, IngestError]] | None = None,
        origin: str = ORIGIN_INDEX,
    ) -> list[DocumentInfo]:
        """Index files and folders (recursively) in one index update: new ones and new versions.

        A file's source is its path within the folder given (a file given: its name); one
        indexed with other content is replaced. A bad file raises (and nothing is indexed)
        unless ``errors`` collects it instead; an older version of it stays as it was.
        """
        return self.update_paths(
            paths,
            skip_duplicates=skip_duplicates,
            skip_removed=skip_removed,
            errors=errors,
            origin=origin,
        ).indexed

    def update_paths(
        self,
        paths: Iterable[Path],
        *,
        skip_duplicates: bool = False,
        skip_removed: bool = False,
        errors: list[tuple[Path, IngestError]] | None = None,
        origin: str = ORIGIN_INDEX,
    ) -> Changes:
        """``add_paths``, saying what changed (errors: the list given, when one is)."""
        items = list(_sources(paths))
        with self._writing():
            removed = set(self._removed()) if skip_removed else set()
            batch = Batch(self._load_registry(), removed=removed)
            self._offer(batch, items, origin, skip_duplicates=skip_duplicates, errors=errors)
            self._commit(batch)
        changes = batch.changes()
        changes.errors = errors if errors is not None else []
        return changes

    def remove(self, doc_id: str) -> DocumentInfo:
        """Drop a document and its passages from the index."""
        with self._writing():
            docs = self._load_registry()
            info = docs.pop(doc_id, None)
            if info is None:
                raise UnknownDocumentError(doc_id)
            self._save_registry(docs, removed=[*self._removed(), info.sha256])
            self._rebuild(docs)
            (self.data_dir / PASSAGES_DIR / f"{doc_id}.json").unlink(missing_ok=True)
        return info

    def inspect(self, path: Path) -> DocumentInfo:
        """Read a file as ``add_file`` would and describe it, without indexing anything.

        Raises IngestError like ``add_file`` (``duplicate`` included), so a caller can show
        what was read and ask for confirmation before committing.
        """
        prepared = self._prepare_task()((Path(path), Metadata()))
        if isinstance(prepared, IngestError):
            raise prepared
        _check_duplicate(prepared, _by_hash(self._state().docs.values()))
        return prepared.info

    def rebuild(self) -> None:
        """Re-tokenise and re-index everything (after changing dictionaries or code)."""
        with self._writing():
            self._rebuild(self._load_registry(), force=True)

    # ----- internals: ingestion ----------------------------------------------------------

    def _prepare_task(self) -> Callable[[tuple[Path, Metadata]], _Prepared | IngestError]:
        """Read, chunk, describe and analyse one file (nothing is written); runs in workers."""
        self.analyzer.warm_up()  # load jieba before any fork, so workers share it
        max_bytes = self.max_bytes

        def prepare(item: tuple[Path, Metadata]) -> _Prepared | IngestError:
            path, override = item
            try:
                text = read_document(path, max_bytes=max_bytes)
            except IngestError as error:
                # Returned, not raised: errors cross the process boundary as values.
                return error
            lines = logical_lines(text)
            passages = chunk_lines(lines)
            if not passages:
                return IngestError(IngestCode.NO_TEXT, path.name)
            sidecar = load_metadata_file(path.parent).get(path.name, Metadata())
            info = _describe(path, content_hash(text), len(passages), lines, sidecar, override)
            analyses, ids = self._analyze_document(info.title, passages)
            # Encoded here, in the worker: one string crosses the process boundary cheaply.
            stored = self._passages_json(passages, analyses)
            return _Prepared(info, passages, [a[2] for a in analyses], ids, stored)

        return prepare

    def _offer(
        self,
        batch: Batch,
        items: Sequence[tuple[Path, str]],
        origin: str,
        *,
        skip_duplicates: bool,
        errors: list[tuple[Path, IngestError]] | None,
    ) -> None:
        """Read files (big batches in worker processes) and offer each to the batch."""
        results = parallel_map(self._prepare_task(), [(f, Metadata()) for f, _ in items])
        for (file, source), result in zip(items, results, strict=True):
            try:
                if isinstance(result, IngestError):
                    raise result
                batch.offer(_tagged(result, source, origin))
            except IngestError as error:
                if skip_duplicates and error.code == IngestCode.DUPLICATE:
                    continue
                if errors is None:
                    raise
                errors.append((file, error))

    def _commit(self, batch: Batch) -> None:
        """Store a batch and re-index; on any failure, undo so nothing is half-indexed.

        Old versions' passages files go only once the new registry is saved.
        """
        if batch.empty:
            return
        written: list[Path] = []
        try:
            for prepared in batch.new.values():
                written.append(self._write_passages(prepared))
            docs = batch.registry()
            # The new documents' passages are at hand: no need to read them back.
            self._rebuild(docs, known={p.info.doc_id: p for p in batch.new.values()})
            self._save_registry(docs)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            self._snapshot = None
            raise
        for old in batch.stale():
            if old.doc_id not in docs:
                (self.data_dir / PASSAGES_DIR / f"{old.doc_id}.json").unlink(missing_ok=True)

    def _analyzer_task(self) -> Callable[[tuple[str, str, str]], _Analysis]:
        """Per passage (index text, text, kind): words, bigrams and flags."""
        from bot.services.knowledge.ranking import passage_flags

        analyzer = self.analyzer
        analyzer.warm_up()  # load jieba before any fork, so workers share it

        def analyze(item: tuple[str, str, str]) -> _Analysis:
            index_text, text, kind = item
            words, bigrams = analyzer.analyze(index_text)
            return " ".join(words), " ".join(bigrams), passage_flags(text, kind)

        return analyze

    def _analyze_document(
        self, title: str, passages: Sequence[Passage]
    ) -> tuple[list[_Analysis], tuple[Any, Any]]:
        """A document's passage analyses, and its word and bigram ids (index.TokenIds)."""
        from bot.services.knowledge.index import TokenIds
        from bot.services.knowledge.ranking import passage_flags

        tokens = [self.analyzer.analyze(self._index_text(title, p)) for p in passages]
        analyses = [
            (" ".join(words), " ".join(bigrams), passage_flags(p.text, str(p.kind)))
            for (words, bigrams), p in zip(tokens, passages, strict=True)
        ]
        words = TokenIds.of_tokens([w for w, _ in tokens])
        return analyses, (words, TokenIds.of_tokens([b for _, b in tokens]))

    def _passages_json(self, passages: Sequence[Passage], analyses: Sequence[_Analysis]) -> str:
        """A document's passages file: passages with their analysis (reused by rebuilds)."""
        from bot.services.knowledge.index import to_json

        rows = [
            {
                "position": p.position,
                "section": list(p.section),
                "text": p.text,
                "kind": str(p.kind),
                "words": words,
                "bigrams": bigrams,
                "flags": flags,
            }
            for p, (words, bigrams, flags) in zip(passages, analyses, strict=True)
        ]
        return to_json({"analyzer": self.analyzer.fingerprint, "passages": rows})

    def _write_passages(self, prepared: _Prepared) -> Path:
        """Write a document's passages file."""
        from bot.services.knowledge.index import write_text

        path = self.data_dir / PASSAGES_DIR / f"{prepared.info.doc_id}.json"
        write_text(path, prepared.stored)
        return path

    @staticmethod
    def _index_text(title: str, passage: Passage | _Row) -> str:
        """What is indexed for a passage: its heading path and text; the title for front matter."""
        head = SECTION_SEPARATOR.join(passage.section)
        if passage.kind == PassageKind.META:
            # Signatures, dates and contacts say nothing of what the document is about.
            head = f"{title}\n{head}"
        return f"{head}\n{passage.text}"

    # ----- internals: persistence ---------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Serialise writers across threads and processes sharing the data dir."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._lock, (self.data_dir / LOCK_FILE).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _load_registry(self) -> dict[str, DocumentInfo]:
        """Documents from documents.json (empty when absent)."""
        path = self.data_dir / REGISTRY_FILE
        if not path.is_file():
            return {}
        rows = json.loads(path.read_text(encoding="utf-8"))["documents"]
        return {row["doc_id"]: DocumentInfo(**row) for row in rows}

    def _save_registry(
        self, docs: dict[str, DocumentInfo], *, removed: Sequence[str] | None = None
    ) -> None:
        """Write documents.json atomically (with the hashes of removed documents)."""
        from bot.services.knowledge.index import write_json

        kept = self._removed() if removed is None else list(removed)
        present = {info.sha256 for info in docs.values()}
        payload = {
            "version": 1,
            "documents": [asdict(info) for info in docs.values()],
            "removed": sorted(set(kept) - present),
        }
        write_json(self.data_dir / REGISTRY_FILE, payload)

    def _removed(self) -> list[str]:
        """Content hashes of documents an admin removed."""
        payload = _read_json(self.data_dir / REGISTRY_FILE)
        return list(payload.get("removed", [])) if isinstance(payload, dict) else []

    def _index_key(self, docs: dict[str, DocumentInfo]) -> str:
        """Identifies an index: the documents' content hashes plus analyzer and layout versions."""
        digest = hashlib.sha256(f"{LAYOUT_VERSION}:{self.analyzer.fingerprint}".encode())
        for info in docs.values():
            digest.update(f"{info.sha256}|{info.title}|".encode())
        return digest.hexdigest()[:16]

    def _read_passages(
        self, info: DocumentInfo, *, fresh: bool
    ) -> list[tuple[_Row, _Analysis | None]]:
        """A document's stored passages and analyses (None when the analyzer has changed)."""
        path = self.data_dir / PASSAGES_DIR / f"{info.doc_id}.json"
        payload = json.loads(path.read_text(encoding="utf-8"))
        reuse = not fresh and payload.get("analyzer") == self.analyzer.fingerprint
        out: list[tuple[_Row, _Analysis | None]] = []
        for item in payload["passages"]:
            row = _Row(
                info.doc_id, item["position"], tuple(item["section"]), item["text"], item["kind"]
            )
            analysis = (item["words"], item["bigrams"], item["flags"]) if reuse else None
            out.append((row, analysis))
        return out

    def _rebuild(
        self,
        docs: dict[str, DocumentInfo],
        *,
        force: bool = False,
        known: dict[str, _Prepared] | None = None,
    ) -> None:
        """Build and atomically publish the index for ``docs`` (``known``: documents in hand)."""
        from bot.services.knowledge.index import PassageIndex, write_json

        key = self._index_key(docs)
        rows: list[_Row] = []
        analyses: list[_Analysis | None] = []
        known = known or {}
        for info in docs.values():
            prepared = known.get(info.doc_id)
            stored = _stored(prepared) if prepared else self._read_passages(info, fresh=force)
            for row, analysis in stored:
                rows.append(row)
                analyses.append(analysis)
        stale = [i for i, analysis in enumerate(analyses) if analysis is None]
        if stale:
            items = [
                (self._index_text(docs[rows[i].doc_id].title, rows[i]), rows[i].text, rows[i].kind)
                for i in stale
            ]
            fresh = parallel_map(self._analyzer_task(), items, min_items=5000)
            for i, analysis in zip(stale, fresh, strict=True):
                analyses[i] = analysis
        done = [a for a in analyses if a is not None]
        ids = _ids_by_document(docs, rows, done, known)
        index_root = self.data_dir / INDEX_DIR
        target = index_root / f"v-{key}"
        staging = index_root / f"tmp-{key}-{threading.get_ident()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if rows:
            order = {doc_id: i for i, doc_id in enumerate(docs)}
            PassageIndex.build(
                [words for words, _ in ids],
                [bigrams for _, bigrams in ids],
                [order[r.doc_id] for r in rows],
                [a[2] for a in done],
            ).save(staging)
        # Rows are tuples of (doc_id, position, section, text, kind): JSON arrays as they are.
        write_json(staging / ROWS_FILE, rows)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        write_json(index_root / CURRENT_FILE, {"key": key, "dir": target.name})
        for old in index_root.iterdir():
            if old.is_dir() and old != target:
                shutil.rmtree(old, ignore_errors=True)
        self._snapshot = None

    # ----- internals: snapshot ------------------------------------------------------------

    def _state(self) -> _Snapshot:
        """The current snapshot, (re)loaded when another writer published a new index."""
        snapshot = self._snapshot
        current = self._read_current()
        fresh = snapshot is not None and current is not None and snapshot.key == current.get("key")
        if not fresh:
            with self._lock:
                snapshot = self._load_snapshot()
        assert snapshot is not None
        if snapshot.dense is not None and not snapshot.dense.complete:
            # Cheap when the worker runs; restarts it when it stopped just before this index.
            self._start_embedding()
        return snapshot

    def _read_current(self) -> dict[str, str] | None:
        """The published index pointer, if any."""
        try:
            return json.loads((self.data_dir / INDEX_DIR / CURRENT_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def _load_snapshot(self) -> _Snapshot:
        """Load registry and index; rebuild first when they disagree."""
        docs = self._load_registry()
        current = self._read_current()
        key = self._index_key(docs)
        if current is None or current.get("key") != key:
            with self._writing():
                docs = self._load_registry()
                self._rebuild(docs)
            current = self._read_current() or {}
        snapshot = self._open_index(
            docs, self.data_dir / INDEX_DIR / current["dir"], current["key"]
        )
        self._snapshot = snapshot
        return snapshot

    def _open_index(self, docs: dict[str, DocumentInfo], folder: Path, key: str) -> _Snapshot:
        """Read rows and index files of a published index and wire up the ranker."""
        from bot.services.knowledge.index import PassageIndex
        from bot.services.knowledge.ranking import RankConfig, Ranker, RankInput

        raw = json.loads((folder / ROWS_FILE).read_text(encoding="utf-8"))
        rows = list(map(_Row._make, raw))
        snapshot = _Snapshot(key, docs, rows)
        if not rows:
            return snapshot
        # Memory-mapped: a cold process reads only the postings its first question touches.
        snapshot.index = PassageIndex.load(folder, mmap=True)
        data = RankInput(
            context=lambda row: self._context(snapshot, row),
            doc_of=snapshot.index.doc_of.tolist(),
            doc_titles=[normalize(f"{d.title} {d.issuer or ''}") for d in docs.values()],
            surface_forms=self._surface_forms,
            thesaurus=synonyms_by_word,
            general_idf=general_idf,
        )
        snapshot.ranker = Ranker(snapshot.index, data, self._config or RankConfig())
        if self._dense_worker is not None:
            snapshot.dense = self._dense_rows(snapshot)
        return snapshot

    # ----- internals: passage vectors -----------------------------------------------------

    def _embedded_text(self, snapshot: _Snapshot, row: int) -> str:
        """What is embedded for a passage: its document's title, heading path and text."""
        item = snapshot.rows[row]
        title = snapshot.docs[item.doc_id].title
        return f"{title}\n{SECTION_SEPARATOR.join(item.section)}\n{item.text}"

    def _text_hashes(self, snapshot: _Snapshot) -> list[str]:
        """The cache key of each passage: the hash of its embedded text."""
        from bot.services.knowledge.dense import text_hash

        return [text_hash(self._embedded_text(snapshot, i)) for i in range(len(snapshot.rows))]

    def _dense_rows(self, snapshot: _Snapshot) -> DenseRows:
        """The snapshot's vectors from the cache; the rest are embedded in the background."""
        from bot.services.knowledge.dense import DenseRows

        assert self._dense_worker is not None
        hashes = self._text_hashes(snapshot)
        cached = self._dense_worker.cache.load()
        dim = next((len(v) for v in cached.values()), 0) or self._dense_dim()
        dense = DenseRows.empty(hashes, dim)
        dense.fill(cached)
        if dense.complete and self._dense_worker.cache.holds_others(cached, hashes):
            # Documents were removed or replaced: their passages' vectors go too.
            self._dense_worker.save_for(dense, cached)
        return dense

    def _dense_dim(self) -> int:
        """The embedder's vector size (asks the model once when the cache is empty)."""
        assert self.embedder is not None
        dim = getattr(self.embedder, "dim", None)
        return int(dim) if dim else len(self.embedder.query("科协"))

    def _start_embedding(self) -> None:
        """Embed the current index's missing passages in the background (if any)."""
        if self._dense_worker is not None:
            self._dense_worker.start(self._dense_job)

    def _dense_job(self) -> tuple[DenseRows, list[str], list[str]] | None:
        """The current snapshot's vectors still to compute, or None when there are none."""
        state = self._state()
        dense = state.dense
        if dense is None or dense.complete:
            return None
        texts = [self._embedded_text(state, i) for i in range(len(state.rows))]
        return dense, texts, [row.doc_id for row in state.rows]

    def _context(self, snapshot: _Snapshot, row: int) -> str:
        """Normalised title, heading path and text of a passage (cached per snapshot)."""
        context = snapshot.contexts.get(row)
        if context is None:
            item = snapshot.rows[row]
            title = snapshot.docs[item.doc_id].title
            context = normalize(f"{title}\n{SECTION_SEPARATOR.join(item.section)}\n{item.text}")
            snapshot.contexts[row] = context
        return context

    def _surface_forms(self, term: str) -> list[str]:
        """A canonical term and every variant that folds to it."""
        vocabulary = self.analyzer.vocabulary
        return [term, *(v for v, c in vocabulary.canonical.items() if c == term)]

    @staticmethod
    def _row_index(state: _Snapshot) -> dict[str, int]:
        """Passage id to row number."""
        return {passage_id(r.doc_id, r.position): i for i, r in enumerate(state.rows)}

    @staticmethod
    def _hit(state: _Snapshot, row: int, score: float) -> Hit:
        """Build a Hit for an index row."""
        item = state.rows[row]
        doc = state.docs[item.doc_id]
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


def _describe(
    path: Path,
    digest: str,
    n_passages: int,
    lines: list[Any],
    sidecar: Metadata,
    override: Metadata,
) -> DocumentInfo:
    """The document record: metadata from the text, then metadata.json, then the caller."""
    meta = extract_metadata(lines).merged(sidecar).merged(override)
    return DocumentInfo(
        doc_id=digest[:12],
        file_name=path.name,
        title=meta.title or path.stem,
        issuer=meta.issuer,
        date=meta.date,
        doc_number=meta.doc_number,
        sha256=digest,
        passages=n_passages,
        added_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def _stored(prepared: _Prepared) -> list[tuple[_Row, _Analysis]]:
    """A prepared document's passages and flags (its words and bigrams come as ids)."""
    doc_id = prepared.info.doc_id
    return [
        (_Row(doc_id, p.position, p.section, p.text, str(p.kind)), ("", "", flags))
        for p, flags in zip(prepared.passages, prepared.flags, strict=True)
    ]


def _token_ids(analyses: Sequence[_Analysis]) -> tuple[Any, Any]:
    """Word and bigram ids of a document's analysed passages."""
    from bot.services.knowledge.index import TokenIds

    return TokenIds.of([a[0] for a in analyses]), TokenIds.of([a[1] for a in analyses])


def _ids_by_document(
    docs: dict[str, DocumentInfo],
    rows: Sequence[_Row],
    analyses: Sequence[_Analysis],
    known: dict[str, _Prepared],
) -> list[tuple[Any, Any]]:
    """Word and bigram ids per document, in ``docs`` order: from the workers when at hand."""
    counts = Counter(row.doc_id for row in rows)
    out = []
    start = 0
    for doc_id in docs:
        end = start + counts[doc_id]
        prepared = known.get(doc_id)
        out.append(prepared.ids if prepared else _token_ids(analyses[start:end]))
        start = end
    return out


def _by_hash(docs: Iterable[DocumentInfo]) -> dict[str, DocumentInfo]:
    """Documents by content hash."""
    return {info.sha256: info for info in docs}


def _check_duplicate(prepared: _Prepared, known: dict[str, DocumentInfo]) -> None:
    """Raise ``duplicate`` when the same content is already indexed (``known``: by hash)."""
    twin = known.get(prepared.info.sha256)
    if twin is not None:
        raise IngestError(IngestCode.DUPLICATE, prepared.info.file_name, doc_id=twin.doc_id)


def _tagged(prepared: _Prepared, source: str, origin: str) -> _Prepared:
    """A prepared file with the source it is indexed under and where it came from."""
    return replace(prepared, info=replace(prepared.info, source=source, origin=origin))


def _read_json(path: Path) -> Any:
    """Parsed JSON of a file, or None when missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _corpus_owner(
    items: Sequence[tuple[Path, str]], previous: Any
) -> Callable[[DocumentInfo], bool]:
    """Whether a document is the corpus folder's to replace or drop.

    Registries written before documents kept their origin: a document whose name is in the
    folder now or was at the last scan (``previous``, the corpus.json manifest) counts.
    """
    names = {source for _, source in items}
    if isinstance(previous, list):
        names |= {row[0] for row in previous if isinstance(row, list) and row}

    def owned(doc: DocumentInfo) -> bool:
        return doc.origin == ORIGIN_CORPUS or (not doc.origin and doc.key in names)

    return owned


def _manifest(folder: Path) -> list[list[Any]]:
    """Name, size and modification time of the files in a corpus folder."""
    files = [*_expand([folder]), folder / METADATA_FILE]
    return [
        [str(f.relative_to(folder)), f.stat().st_size, f.stat().st_mtime_ns]
        for f in files
        if f.is_file()
    ]


def _sources(paths: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """Files under the given paths with their sources (the path within a folder given)."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for file in _expand([path]):
                yield file, file.relative_to(path).as_posix()
        else:
            yield path, path.name


def _expand(paths: Iterable[Path]) -> Iterator[Path]:
    """Files under the given paths, in a stable order; metadata.json and hidden files skipped."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if (
                    file.is_file()
                    and not file.name.startswith(".")
                    and file.suffix.lower() in SUPPORTED_SUFFIXES
                ):
                    yield file
        else:
            yield path
