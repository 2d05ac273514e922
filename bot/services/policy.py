"""The policy library as the bot uses it: one KnowledgeBase, loaded once, searched off-loop."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.knowledge import Answer, DocumentInfo, Hit, KnowledgeBase
from bot.services.knowledge.ingest import SUPPORTED_SUFFIXES
from bot.services.knowledge.metadata import Metadata
from storage.knowledge_models import QuestionLog
from storage.models import Org, User

KNOWLEDGE_SUBDIR = "knowledge"
UPLOADS_SUBDIR = "uploads"
T = TypeVar("T")


class PolicyLibrary:
    """Async access to the knowledge base; the engine is CPU-bound, so it runs in threads."""

    def __init__(
        self, data_dir: Path, corpus_dir: Path, *, embeddings: str | Path | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.corpus_dir = Path(corpus_dir)
        # The dense model's setting (see dense.load_embedder); loaded with the knowledge base.
        self.embeddings = embeddings
        self._kb: KnowledgeBase | None = None
        self._ready = asyncio.Lock()
        # One writer at a time; searches read an immutable snapshot and need no lock.
        self._writing = asyncio.Lock()

    async def knowledge_base(self) -> KnowledgeBase:
        """The knowledge base, with the bundled corpus indexed and jieba loaded on first use."""
        async with self._ready:
            if self._kb is None:
                from bot.services.knowledge.dense import open_embedder
                from bot.services.knowledge.seeds import SEEDS_DIR

                embedder = await asyncio.to_thread(open_embedder, self.embeddings)
                kb = KnowledgeBase(
                    self.data_dir / KNOWLEDGE_SUBDIR,
                    embedder=embedder,
                    seed_vectors=self.corpus_dir / SEEDS_DIR,
                )
                if self.corpus_dir.is_dir():
                    await asyncio.to_thread(kb.ensure_corpus, self.corpus_dir)
                # Loads the index; missing passage vectors are then computed in a background
                # thread while questions are answered lexically.
                await asyncio.to_thread(kb.warm_up)
                self._kb = kb
        return self._kb

    async def _run(self, work: Callable[[KnowledgeBase], T]) -> T:
        kb = await self.knowledge_base()
        return await asyncio.to_thread(work, kb)

    async def search(self, question: str, top_k: int = 5) -> list[Hit]:
        """The passages closest to a question, best first; empty: nothing in them relates."""
        return await self._run(lambda kb: kb.search(question, top_k))

    async def answer(self, question: str, top_k: int = 5) -> Answer:
        """The closest passages and whether they answer the question confidently."""
        return await self._run(lambda kb: kb.answer(question, top_k))

    async def validate(self, question: str) -> str | None:
        """Why the text cannot be searched (a code), or None."""
        code = await self._run(lambda kb: kb.validate_question(question))
        return str(code) if code else None

    async def highlight_terms(self, question: str, text: str) -> list[str]:
        """The question's words that occur in ``text``, longest first."""
        return await self._run(lambda kb: kb.highlight_terms(question, text))

    async def passage(self, pid: str) -> Hit | None:
        """A passage by id."""
        return await self._run(lambda kb: kb.passage(pid))

    async def section(self, hit: Hit) -> list[Hit]:
        """Every passage of the hit's section, in order."""
        return await self._run(lambda kb: kb.section_passages(hit.doc_id, hit.section_path))

    async def documents(self) -> list[DocumentInfo]:
        """The indexed documents."""
        return await self._run(lambda kb: kb.documents())

    async def inspect(self, path: Path) -> DocumentInfo:
        """Read a file as it would be indexed (raises IngestError), without indexing it."""
        return await self._run(lambda kb: kb.inspect(path))

    async def same_name(self, path: Path) -> DocumentInfo | None:
        """The indexed document an upload of this file would replace (the same file name)."""
        return await self._run(lambda kb: kb.document_at(path.name))

    async def add(
        self, path: Path, *, title: str, date: str | None, doc_number: str | None = None
    ) -> tuple[DocumentInfo, DocumentInfo | None]:
        """Index a file with the confirmed title, date and number: it, and what it replaced.

        A date or number left empty stays empty: the admin saw what the text gave and removed it.
        """
        override = Metadata(title=title, date=date or "", doc_number=doc_number or "")
        async with self._writing:
            return await self._run(lambda kb: kb.put_file(path, override))

    async def remove(self, doc_id: str) -> DocumentInfo:
        """Remove a document from the index."""
        async with self._writing:
            return await self._run(lambda kb: kb.remove(doc_id))

    def upload_path(self, unique_id: str, file_name: str) -> Path:
        """Where an uploaded file waits for its title and date to be confirmed."""
        suffix = Path(file_name).suffix.lower()
        folder = self.data_dir / UPLOADS_SUBDIR / unique_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder / (Path(file_name).name or f"upload{suffix}")

    @staticmethod
    def discard_upload(path: Path) -> None:
        """Forget an upload that was indexed or cancelled."""
        shutil.rmtree(path.parent, ignore_errors=True)


def readable_suffix(file_name: str) -> bool:
    """Whether the file's type is one the library can read."""
    return Path(file_name).suffix.lower() in SUPPORTED_SUFFIXES


def manages_library(user: User | None, org: Org | None, superadmin: bool) -> bool:
    """Adding and removing shared documents: superadmins and admins of a top-level org."""
    if superadmin:
        return True
    return bool(user and org and user.role == "admin" and user.active and org.parent_id is None)


async def log_question(
    session: AsyncSession,
    *,
    telegram_id: int,
    question: str,
    hits: list[Hit],
    now: datetime,
    chat_id: int | None = None,
    confident: bool = True,
) -> QuestionLog:
    """Record a question (and the chat it was asked in) and whether it was answered (a
    low-confidence answer was not)."""
    row = QuestionLog(
        telegram_id=telegram_id,
        chat_id=chat_id,
        question=question,
        answered=bool(hits) and confident,
        top_passage=hits[0].passage_id if hits else None,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def logged_question(
    session: AsyncSession, *, question_id: int, telegram_id: int, group_id: int | None = None
) -> QuestionLog | None:
    """A question the same user asked earlier (others' questions stay private); in a group
    (``group_id``, its chat id), any question asked in that group, by whoever asked it."""
    query = select(QuestionLog).where(col(QuestionLog.id) == question_id)
    if group_id is not None:
        query = query.where(QuestionLog.chat_id == group_id)
    else:
        query = query.where(QuestionLog.telegram_id == telegram_id)
    return (await session.exec(query)).first()
