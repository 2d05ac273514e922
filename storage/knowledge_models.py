"""What people ask the policy library: the log behind "more sources" and admins' insight."""

from datetime import datetime

from sqlalchemy import BigInteger, Text
from sqlmodel import Field, SQLModel


class QuestionLog(SQLModel, table=True):
    """One question asked in chat, and whether the documents answered it."""

    __tablename__ = "question_log"

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_type=BigInteger, index=True)
    # Where it was asked: a group's "more sources" button serves that group's questions only.
    chat_id: int | None = Field(default=None, sa_type=BigInteger)
    question: str = Field(sa_type=Text)
    answered: bool
    top_passage: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(index=True)
