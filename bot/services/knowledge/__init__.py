"""Policy answers from indexed documents: ingestion, chunking, BM25 search, refusal.

Importing this package is cheap; jieba, numpy and bm25s load on first use.
"""

from bot.services.knowledge.base import Answer, DocumentInfo, Hit, KnowledgeBase
from bot.services.knowledge.errors import (
    IngestCode,
    IngestError,
    KnowledgeError,
    QuestionCode,
    UnknownDocumentError,
)
from bot.services.knowledge.question import validate_question

__all__ = [
    "Answer",
    "DocumentInfo",
    "Hit",
    "IngestCode",
    "IngestError",
    "KnowledgeBase",
    "KnowledgeError",
    "QuestionCode",
    "UnknownDocumentError",
    "validate_question",
]
