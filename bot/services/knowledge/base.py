"""KnowledgeBase: the one entry point; it ties the registry, ingestion, index build and search.

Each job lives in its own module (registry.py, prepare.py with versions.py, build.py,
search.py); this class holds the state they share: the data directory's lock, the analyzer,
the current snapshot and the background embedder.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.services.knowledge import search
from bot.services.knowledge.build import INDEX_DIR, IndexBuilder
from bot.services.knowledge.errors import (
    IngestCode,
    IngestError,
    QuestionCode,
    UnknownDocumentError,
)
from bot.services.knowledge.files import read_json, write_json, write_text
from bot.services.knowledge.ingest import MAX_BYTES
from bot.services.knowledge.metadata import Metadata
from bot.services.knowledge.parallel import parallel_map
from bot.services.knowledge.prepare import (
    Preparer,
    check_duplicate,
    corpus_owner,
    manifest,
    sources,
    tagged,
)
from bot.services.knowledge.question import validate_question
from bot.services.knowledge.registry import (
    ORIGIN_CORPUS,
    ORIGIN_INDEX,
    ORIGIN_UPLOAD,
    DocumentInfo,
    Registry,
)
from bot.services.knowledge.respell import Lexicon, respell
from bot.services.knowledge.respell import warm_up as respell_warm_up
from bot.services.knowledge.search import Answer, Hit, Snapshot
from bot.services.knowledge.thesaurus import general_idf, synonyms_by_word
from bot.services.knowledge.tokenize import Analyzer
from bot.services.knowledge.versions import Batch, Changes

if TYPE_CHECKING:
    from bot.services.knowledge.confidence import Signals
    from bot.services.knowledge.dense import Embedder
    from bot.services.knowledge.vectors import Vectors

log = logging.getLogger(__name__)

CORPUS_FILE = "corpus.json"


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
        self.registry = Registry(self.data_dir, self._lock)
        self._snapshot: Snapshot | None = None
        self._analyzer: Analyzer | None = None
        self._builder: IndexBuilder | None = None
        # A ranking.RankConfig; None means the measured defaults.
        self._config = config
        self.embedder = embedder
        self._vectors: Vectors | None = None
        if embedder is not None:
            from bot.services.knowledge.vectors import Vectors

            self._vectors = Vectors(embedder, self.data_dir, seed_vectors, self.snapshot)

    # ----- set-up -------------------------------------------------------------------------

    @property
    def analyzer(self) -> Analyzer:
        """The tokenizer shared by indexing and search (jieba is loaded on first use)."""
        if self._analyzer is None:
            self._analyzer = Analyzer()
        return self._analyzer

    @property
    def builder(self) -> IndexBuilder:
        """Builds and publishes the index of the registry's documents."""
        if self._builder is None:
            self._builder = IndexBuilder(self.registry, self.analyzer)
        return self._builder

    @property
    def preparer(self) -> Preparer:
        """Reads files into documents ready to index."""
        return Preparer(self.analyzer, self.max_bytes)

    def warm_up(self) -> None:
        """Load jieba, the thesaurus, word frequencies, the characters' readings and the index
        now, so the first question is quick."""
        self.analyzer.warm_up()
        synonyms_by_word()
        respell_warm_up()
        general_idf("科协")
        self.snapshot()

    def ensure_corpus(self, corpus_dir: Path) -> list[DocumentInfo]:
        """Bring the bundled corpus in step when its folder changed (a cheap no-op otherwise).

        Returns the new documents and new versions; see ``sync_corpus``.
        """
        if not Path(corpus_dir).is_dir():
            return []
        if read_json(self.data_dir / CORPUS_FILE) == manifest(Path(corpus_dir)):
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
        folder = Path(corpus_dir)
        listing = manifest(folder)
        items = list(sources([folder]))
        with self.registry.writing():
            docs = self.registry.load()
            owned = corpus_owner(items, read_json(self.data_dir / CORPUS_FILE))
            batch = Batch(docs, removed=set(self.registry.removed()), replaceable=owned)
            present = {source for _, source in items}
            for doc in docs.values():
                if owned(doc) and doc.key not in present:
                    batch.drop(doc)
            errors: list[tuple[Path, IngestError]] = []
            self._offer(batch, items, ORIGIN_CORPUS, skip_duplicates=True, errors=errors)
            self._commit(batch)
            write_json(self.data_dir / CORPUS_FILE, listing)
        changes = batch.changes()
        changes.errors = errors
        return changes

    # ----- reading ------------------------------------------------------------------------

    def documents(self) -> list[DocumentInfo]:
        """Indexed documents, oldest first."""
        return list(self.snapshot().docs.values())

    def document(self, doc_id: str) -> DocumentInfo:
        """One document by id."""
        doc = self.snapshot().docs.get(doc_id)
        if doc is None:
            raise UnknownDocumentError(doc_id)
        return doc

    def document_at(self, source: str) -> DocumentInfo | None:
        """The document indexed under a source (a file name), if any: a new file replaces it."""
        return next((d for d in self.snapshot().docs.values() if d.key == source), None)

    def search(self, question: str, top_k: int = 5) -> list[Hit]:
        """The passages closest to ``question``, best first; empty when nothing relates."""
        return self.answer(question, top_k).hits

    def answer(self, question: str, top_k: int = 5) -> Answer:
        """The closest passages and whether they answer confidently (see confidence.grade)."""
        assessed = self._assess(question) if top_k > 0 else None
        if assessed is None:
            return Answer([], False)
        state, fused, signals = assessed
        return search.graded(state, fused, signals, top_k)

    def signals(self, question: str) -> Signals | None:
        """What the grade of an answer rests on (benchmarks/qa_confidence.py weighs them);
        None when the question has nothing to search for."""
        assessed = self._assess(question)
        return None if assessed is None else assessed[-1]

    def _assess(self, question: str) -> tuple[Snapshot, list[tuple[int, float]], Signals] | None:
        """The snapshot, the fused ranking (rows and scores, best first) and the signals."""
        state = self.snapshot()
        question = self.respelled(question, state)
        center = self.embedder.center if self.embedder is not None else None
        vectors = self._vectors
        assessed = search.assess(
            state,
            self.analyzer,
            question,
            lambda: vectors.cosines(state, question) if vectors is not None else None,
            center,
        )
        return None if assessed is None else (state, *assessed)

    def passage(self, pid: str) -> Hit | None:
        """A passage by its id (``doc_id:position``), or None."""
        return self.snapshot().passage(pid)

    def section_passages(self, doc_id: str, section: Sequence[str] | str) -> list[Hit]:
        """Every passage of a section (sub-sections included), in document order."""
        return self.snapshot().section_passages(doc_id, section)

    def validate_question(self, text: str) -> QuestionCode | None:
        """Why ``text`` cannot be searched, or None (Latin words the documents use are fine)."""
        state = self.snapshot()
        known = state.index.words.vocab if state.index is not None else None
        return validate_question(text, known_terms=known)

    def highlight_terms(self, question: str, text: str | None = None) -> list[str]:
        """Words of the question (and their synonyms) to bold, longest first."""
        return search.highlight_terms(self.analyzer, self.respelled(question), text)

    def respelled(self, question: str, state: Snapshot | None = None) -> str:
        """``question`` with its phone typos of the documents' words corrected (respell)."""
        state = state or self.snapshot()
        if state.index is None:
            return question
        words, analyzer = state.index.words, self.analyzer
        return respell(
            question,
            Lexicon(
                analyzer.segment,
                analyzer.is_word,
                lambda word: (term := analyzer.term(word)) != "" and words.doc_freq(term) > 0,
                analyzer.vocabulary.stopwords,
            ),
        )

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
        with self.registry.writing():
            batch = Batch(self.registry.load())
            prepared = self.preparer.task()((path, override or Metadata()))
            if isinstance(prepared, IngestError):
                raise prepared
            prepared = tagged(prepared, path.name, origin)
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
        items = list(sources(paths))
        with self.registry.writing():
            removed = set(self.registry.removed()) if skip_removed else set()
            batch = Batch(self.registry.load(), removed=removed)
            self._offer(batch, items, origin, skip_duplicates=skip_duplicates, errors=errors)
            self._commit(batch)
        changes = batch.changes()
        changes.errors = errors if errors is not None else []
        return changes

    def remove(self, doc_id: str) -> DocumentInfo:
        """Drop a document and its passages from the index."""
        with self.registry.writing():
            docs = self.registry.load()
            info = docs.pop(doc_id, None)
            if info is None:
                raise UnknownDocumentError(doc_id)
            self.registry.save(docs, removed=[*self.registry.removed(), info.sha256])
            self._publish(docs)
            self.registry.passages_file(doc_id).unlink(missing_ok=True)
        return info

    def inspect(self, path: Path) -> DocumentInfo:
        """Read a file as ``add_file`` would and describe it, without indexing anything.

        Raises IngestError like ``add_file`` (``duplicate`` included), so a caller can show
        what was read and ask for confirmation before committing.
        """
        prepared = self.preparer.task()((Path(path), Metadata()))
        if isinstance(prepared, IngestError):
            raise prepared
        check_duplicate(prepared, self.snapshot().docs.values())
        return prepared.info

    def rebuild(self) -> None:
        """Re-tokenise and re-index everything (after changing dictionaries or code)."""
        with self.registry.writing():
            self._publish(self.registry.load(), force=True)

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
        results = parallel_map(self.preparer.task(), [(f, Metadata()) for f, _ in items])
        for (file, source), result in zip(items, results, strict=True):
            try:
                if isinstance(result, IngestError):
                    raise result
                batch.offer(tagged(result, source, origin))
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
                path = self.registry.passages_file(prepared.info.doc_id)
                write_text(path, prepared.stored)
                written.append(path)
            docs = batch.registry()
            # The new documents' passages are at hand: no need to read them back.
            self._publish(docs, known={p.info.doc_id: p for p in batch.new.values()})
            self.registry.save(docs)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            self._snapshot = None
            raise
        for old in batch.stale():
            if old.doc_id not in docs:
                self.registry.passages_file(old.doc_id).unlink(missing_ok=True)

    def _publish(self, docs: dict[str, DocumentInfo], **build: Any) -> None:
        """Build and publish the index of ``docs``; the next read loads it."""
        self.builder.build(docs, **build)
        self._snapshot = None

    # ----- the current snapshot -----------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """What searches read now, (re)loaded when another writer published a new index."""
        snapshot = self._snapshot
        current = self.builder.current()
        fresh = snapshot is not None and current is not None and snapshot.key == current.get("key")
        if not fresh:
            with self._lock:
                snapshot = self._load_snapshot()
        assert snapshot is not None
        if (
            self._vectors is not None
            and snapshot.dense is not None
            and not snapshot.dense.complete
        ):
            # Cheap when the worker runs; restarts it when it stopped just before this index.
            self._vectors.start()
        return snapshot

    def _load_snapshot(self) -> Snapshot:
        """Load registry and index; rebuild first when they disagree."""
        docs = self.registry.load()
        builder = self.builder
        current = builder.current()
        if current is None or current.get("key") != builder.key(docs):
            with self.registry.writing():
                docs = self.registry.load()
                self._publish(docs)
            current = builder.current() or {}
        folder = self.data_dir / INDEX_DIR / current["dir"]
        snapshot = search.open_snapshot(docs, folder, current["key"], self.analyzer, self._config)
        if snapshot.rows and self._vectors is not None:
            snapshot.dense = self._vectors.rows_for(snapshot)
        self._snapshot = snapshot
        return snapshot

    # ----- passage vectors ----------------------------------------------------------------

    def dense_ready(self) -> bool:
        """Whether every passage of the current index has its vector (or failed to get one)."""
        dense = self.snapshot().dense
        return dense is not None and dense.complete

    def vectors_missing(self) -> int:
        """Passages of the current index still without a vector (0 without an embedder)."""
        dense = self.snapshot().dense
        return 0 if dense is None else len(dense.missing())

    def passage_hashes(self) -> list[str]:
        """The cache key of each passage of the current index: the hash of the text embedded."""
        from bot.services.knowledge.vectors import text_hashes

        return text_hashes(self.snapshot())

    def embedded_texts(self) -> list[str]:
        """What is embedded for each passage of the current index (title, headings, text)."""
        state = self.snapshot()
        return [state.embedded_text(i) for i in range(len(state.rows))]

    def passage_vectors(self) -> dict[str, Any]:
        """The vectors known for the current index's passages, by text hash."""
        dense = self.snapshot().dense
        if dense is None:
            return {}
        return {h: dense.matrix[i].copy() for i, h in enumerate(dense.hashes) if dense.known[i]}

    def embed_now(self, timeout: float | None = None) -> bool:
        """Compute the missing passage vectors and wait for them; whether they are ready."""
        return self._vectors is not None and self._vectors.embed_now(timeout)


def build_seeds(corpus_dir: Path, embedder: Embedder) -> tuple[Path, int]:
    """Index the corpus folder afresh, embed every passage and write its seed file.

    A throw-away data dir: documents uploaded to the user's library never reach the file, and
    no existing seed or cached vector is reused (every vector comes from the model now).
    """
    from bot.services.knowledge.seeds import SEEDS_DIR, seed_file, write_seeds

    with tempfile.TemporaryDirectory(prefix="stabot-seeds-") as work:
        kb = KnowledgeBase(Path(work) / "knowledge", embedder=embedder)
        kb.sync_corpus(corpus_dir)
        kb.embed_now()
        vectors = kb.passage_vectors()
        if len(vectors) < len(set(kb.passage_hashes())):
            raise RuntimeError("the model returned no usable vector for some passage")
    path = seed_file(Path(corpus_dir) / SEEDS_DIR, embedder.key)
    write_seeds(path, vectors, embedder.key)
    return path, len(vectors)
