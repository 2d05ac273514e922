"""Link codes: a person's one-time code that attaches another channel's identity to them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class LinkCode(SQLModel, table=True):
    """A short-lived code made in /me; typed on another channel, it links that identity.

    Only the code's SHA-256 is stored: the code is shown once, and whoever reads the table
    cannot use a code that is still open.
    """

    __tablename__ = "link_code"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="tg_user.id", index=True)  # the person it links to
    code_hash: str = Field(max_length=64, unique=True)
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    # The identity it linked (channel_identity.id), for the record.
    used_by: int | None = Field(default=None, foreign_key="channel_identity.id")
