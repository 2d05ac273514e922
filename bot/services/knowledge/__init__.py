"""Policy answers from indexed documents: ingestion, chunking, BM25 search, refusal.

The public entry points are named here; README.md ("The knowledge package") maps the
modules. Importing this package is cheap; jieba, numpy and bm25s load on first use.
"""

from bot.services.knowledge.base import KnowledgeBase
from bot.services.knowledge.errors import (
    IngestCode,
    IngestError,
    KnowledgeError,
    QuestionCode,
    UnknownDocumentError,
)
from bot.services.knowledge.question import validate_question
from bot.services.knowledge.registry import DocumentInfo
from bot.services.knowledge.search import Answer, Hit

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
