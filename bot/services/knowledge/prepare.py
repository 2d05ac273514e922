"""Ingestion: files read, chunked, described and analysed into documents ready to index.

Nothing here writes: a Prepared document is offered to an update (versions.Batch) and
stored by the knowledge base. Preparing runs in worker processes for big batches, so what
crosses back is compact (ids and one JSON string per document).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from bot.services.knowledge.chunking import SECTION_SEPARATOR, Passage, PassageKind, chunk_lines
from bot.services.knowledge.errors import IngestCode, IngestError
from bot.services.knowledge.files import to_json
from bot.services.knowledge.ingest import SUPPORTED_SUFFIXES, content_hash, read_document
from bot.services.knowledge.lines import logical_lines
from bot.services.knowledge.metadata import (
    METADATA_FILE,
    Metadata,
    extract_metadata,
    load_metadata_file,
)
from bot.services.knowledge.registry import ORIGIN_CORPUS, DocumentInfo
from bot.services.knowledge.tokenize import Analyzer

# Per passage: index words and character bigrams (each space-joined: compact to pickle from
# workers and to store), and feature flags.
Analysis = tuple[str, str, int]


class Headed(Protocol):
    """A passage or a stored row: what the index text of a passage is made of."""

    @property
    def section(self) -> Sequence[str]: ...

    @property
    def kind(self) -> str: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Prepared:
    """A file read, chunked, described and analysed, waiting to be committed."""

    info: DocumentInfo
    passages: list[Passage]
    flags: list[int]
    # Word and bigram ids (index.TokenIds), numbered in the worker that tokenised them.
    ids: tuple[Any, Any]
    # The passages file's JSON (passages with words and bigrams), encoded in the worker.
    stored: str


class Preparer:
    """Reads files into Prepared documents with one analyzer."""

    def __init__(self, analyzer: Analyzer, max_bytes: int) -> None:
        self.analyzer = analyzer
        self.max_bytes = max_bytes

    def task(self) -> Callable[[tuple[Path, Metadata]], Prepared | IngestError]:
        """Read, chunk, describe and analyse one file (nothing is written); runs in workers."""
        self.analyzer.warm_up()  # load jieba before any fork, so workers share it

        def prepare(item: tuple[Path, Metadata]) -> Prepared | IngestError:
            path, override = item
            try:
                text = read_document(path, max_bytes=self.max_bytes)
            except IngestError as error:
                # Returned, not raised: errors cross the process boundary as values.
                return error
            lines = logical_lines(text)
            passages = chunk_lines(lines)
            if not passages:
                return IngestError(IngestCode.NO_TEXT, path.name)
            sidecar = load_metadata_file(path.parent).get(path.name, Metadata())
            info = describe(path, content_hash(text), len(passages), lines, sidecar, override)
            analyses, ids = self.analyze_document(info.title, passages)
            # Encoded here, in the worker: one string crosses the process boundary cheaply.
            stored = self.passages_json(passages, analyses)
            return Prepared(info, passages, [a[2] for a in analyses], ids, stored)

        return prepare

    def analyze_document(
        self, title: str, passages: Sequence[Passage]
    ) -> tuple[list[Analysis], tuple[Any, Any]]:
        """A document's passage analyses, and its word and bigram ids (index.TokenIds)."""
        from bot.services.knowledge.index import TokenIds
        from bot.services.knowledge.ranking import passage_flags

        tokens = [self.analyzer.analyze(index_text(title, p)) for p in passages]
        analyses = [
            (" ".join(words), " ".join(bigrams), passage_flags(p.text, str(p.kind)))
            for (words, bigrams), p in zip(tokens, passages, strict=True)
        ]
        words = TokenIds.of_tokens([w for w, _ in tokens])
        return analyses, (words, TokenIds.of_tokens([b for _, b in tokens]))

    def passages_json(self, passages: Sequence[Passage], analyses: Sequence[Analysis]) -> str:
        """A document's passages file: passages with their analysis (reused by rebuilds)."""
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


def analyze_task(analyzer: Analyzer) -> Callable[[tuple[str, str, str]], Analysis]:
    """Per passage (index text, text, kind): words, bigrams and flags."""
    from bot.services.knowledge.ranking import passage_flags

    analyzer.warm_up()  # load jieba before any fork, so workers share it

    def analyze(item: tuple[str, str, str]) -> Analysis:
        text_to_index, text, kind = item
        words, bigrams = analyzer.analyze(text_to_index)
        return " ".join(words), " ".join(bigrams), passage_flags(text, kind)

    return analyze


def index_text(title: str, passage: Headed) -> str:
    """What is indexed for a passage: its heading path and text; the title for front matter."""
    head = SECTION_SEPARATOR.join(passage.section)
    if passage.kind == PassageKind.META:
        # Signatures, dates and contacts say nothing of what the document is about.
        head = f"{title}\n{head}"
    return f"{head}\n{passage.text}"


def describe(
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


def tagged(prepared: Prepared, source: str, origin: str) -> Prepared:
    """A prepared file with the source it is indexed under and where it came from."""
    return replace(prepared, info=replace(prepared.info, source=source, origin=origin))


def check_duplicate(prepared: Prepared, docs: Iterable[DocumentInfo]) -> None:
    """Raise ``duplicate`` when the same content is already indexed."""
    twin = {info.sha256: info for info in docs}.get(prepared.info.sha256)
    if twin is not None:
        raise IngestError(IngestCode.DUPLICATE, prepared.info.file_name, doc_id=twin.doc_id)


def corpus_owner(
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


def manifest(folder: Path) -> list[list[Any]]:
    """Name, size and modification time of the files in a corpus folder."""
    files = [*expand([folder]), folder / METADATA_FILE]
    return [
        [str(f.relative_to(folder)), f.stat().st_size, f.stat().st_mtime_ns]
        for f in files
        if f.is_file()
    ]


def sources(paths: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """Files under the given paths with their sources (the path within a folder given)."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for file in expand([path]):
                yield file, file.relative_to(path).as_posix()
        else:
            yield path, path.name


def expand(paths: Iterable[Path]) -> Iterator[Path]:
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
