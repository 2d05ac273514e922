"""Index build: the registry's documents into a published index folder.

An index is built in a staging folder and published by renaming it and rewriting the
current.json pointer, so a reader (in this process or another) sees the old index or the
new one, never half of one. The index key names the documents and the analyzer it holds.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from bot.services.knowledge.files import read_json, write_json
from bot.services.knowledge.parallel import parallel_map
from bot.services.knowledge.prepare import Analysis, Prepared, analyze_task, index_text
from bot.services.knowledge.registry import DocumentInfo, Registry
from bot.services.knowledge.tokenize import Analyzer

INDEX_DIR = "index"
CURRENT_FILE = "current.json"
ROWS_FILE = "rows.json"
# Part of the index key: bump when chunking or the stored layout changes.
LAYOUT_VERSION = "2"


class Row(NamedTuple):
    """One indexed passage, as stored beside the index (a tuple: 100,000 load fast)."""

    doc_id: str
    position: int
    section: Sequence[str]
    text: str
    kind: str


class IndexBuilder:
    """Builds and publishes the index of a registry's documents under ``data_dir/index``."""

    def __init__(self, registry: Registry, analyzer: Analyzer) -> None:
        self.registry = registry
        self.analyzer = analyzer
        self.root = registry.data_dir / INDEX_DIR

    def key(self, docs: dict[str, DocumentInfo]) -> str:
        """Identifies an index: the documents' content hashes plus analyzer and layout versions."""
        digest = hashlib.sha256(f"{LAYOUT_VERSION}:{self.analyzer.fingerprint}".encode())
        for info in docs.values():
            digest.update(f"{info.sha256}|{info.title}|".encode())
        return digest.hexdigest()[:16]

    def current(self) -> dict[str, str] | None:
        """The published index pointer (``key`` and ``dir``), if any."""
        payload = read_json(self.root / CURRENT_FILE)
        return payload if isinstance(payload, dict) else None

    def build(
        self,
        docs: dict[str, DocumentInfo],
        *,
        force: bool = False,
        known: dict[str, Prepared] | None = None,
    ) -> None:
        """Build and atomically publish the index for ``docs`` (``known``: documents in hand)."""
        known = known or {}
        rows, analyses = self._rows(docs, known, fresh=force)
        ids = ids_by_document(docs, rows, analyses, known)
        key = self.key(docs)
        target = self.root / f"v-{key}"
        staging = self.root / f"tmp-{key}-{threading.get_ident()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if rows:
            from bot.services.knowledge.index import PassageIndex

            order = {doc_id: i for i, doc_id in enumerate(docs)}
            PassageIndex.build(
                [words for words, _ in ids],
                [bigrams for _, bigrams in ids],
                [order[r.doc_id] for r in rows],
                [a[2] for a in analyses],
            ).save(staging)
        # Rows are tuples of (doc_id, position, section, text, kind): JSON arrays as they are.
        write_json(staging / ROWS_FILE, rows)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        write_json(self.root / CURRENT_FILE, {"key": key, "dir": target.name})
        for old in self.root.iterdir():
            if old.is_dir() and old != target:
                shutil.rmtree(old, ignore_errors=True)

    def _rows(
        self, docs: dict[str, DocumentInfo], known: dict[str, Prepared], *, fresh: bool
    ) -> tuple[list[Row], list[Analysis]]:
        """Every passage of ``docs`` with its analysis (re-analysed where the stored one is
        stale; a document in hand brings flags only, its words and bigrams come as ids)."""
        rows: list[Row] = []
        analyses: list[Analysis | None] = []
        for info in docs.values():
            prepared = known.get(info.doc_id)
            stored = rows_of(prepared) if prepared else self._read_passages(info, fresh=fresh)
            for row, analysis in stored:
                rows.append(row)
                analyses.append(analysis)
        stale = [i for i, analysis in enumerate(analyses) if analysis is None]
        if stale:
            items = [
                (index_text(docs[rows[i].doc_id].title, rows[i]), rows[i].text, rows[i].kind)
                for i in stale
            ]
            redone = parallel_map(analyze_task(self.analyzer), items, min_items=5000)
            for i, analysis in zip(stale, redone, strict=True):
                analyses[i] = analysis
        return rows, [a for a in analyses if a is not None]

    def _read_passages(
        self, info: DocumentInfo, *, fresh: bool
    ) -> list[tuple[Row, Analysis | None]]:
        """A document's stored passages and analyses (None when the analyzer has changed)."""
        path = self.registry.passages_file(info.doc_id)
        payload = json.loads(path.read_text(encoding="utf-8"))
        reuse = not fresh and payload.get("analyzer") == self.analyzer.fingerprint
        out: list[tuple[Row, Analysis | None]] = []
        for item in payload["passages"]:
            row = Row(
                info.doc_id, item["position"], tuple(item["section"]), item["text"], item["kind"]
            )
            analysis = (item["words"], item["bigrams"], item["flags"]) if reuse else None
            out.append((row, analysis))
        return out


def read_rows(folder: Path) -> list[Row]:
    """The rows of a published index folder."""
    raw = json.loads((folder / ROWS_FILE).read_text(encoding="utf-8"))
    return list(map(Row._make, raw))


def rows_of(prepared: Prepared) -> list[tuple[Row, Analysis]]:
    """A prepared document's passages and flags (its words and bigrams come as ids)."""
    doc_id = prepared.info.doc_id
    return [
        (Row(doc_id, p.position, p.section, p.text, str(p.kind)), ("", "", flags))
        for p, flags in zip(prepared.passages, prepared.flags, strict=True)
    ]


def ids_by_document(
    docs: dict[str, DocumentInfo],
    rows: Sequence[Row],
    analyses: Sequence[Analysis],
    known: dict[str, Prepared],
) -> list[tuple[Any, Any]]:
    """Word and bigram ids per document, in ``docs`` order: from the workers when at hand."""
    counts = Counter(row.doc_id for row in rows)
    out = []
    start = 0
    for doc_id in docs:
        end = start + counts[doc_id]
        prepared = known.get(doc_id)
        out.append(prepared.ids if prepared else token_ids(analyses[start:end]))
        start = end
    return out


def token_ids(analyses: Sequence[Analysis]) -> tuple[Any, Any]:
    """Word and bigram ids of a document's analysed passages."""
    from bot.services.knowledge.index import TokenIds

    return TokenIds.of([a[0] for a in analyses]), TokenIds.of([a[1] for a in analyses])
