"""Who changed whom, what and when: the audit trail of /members (and its invites)."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Index, Text
from sqlmodel import Field, SQLModel


class MemberAction(StrEnum):
    """What an admin did."""

    INVITE_CREATED = "invite_created"
    INVITE_REVOKED = "invite_revoked"
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    ROLE_CHANGED = "role_changed"
    MOVED = "moved"


class MemberAudit(SQLModel, table=True):
    """One change to a person or an invite; ``before``/``after`` hold a role or an org id."""

    __tablename__ = "member_audit"
    __table_args__ = (Index("ix_member_audit_user_at", "user_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    actor_id: int = Field(sa_type=BigInteger)  # the admin's Telegram id, as elsewhere
    action: MemberAction = Field(sa_type=Text)
    user_id: int | None = Field(default=None, foreign_key="tg_user.id")
    invite_id: int | None = Field(default=None, foreign_key="invite.id", index=True)
    org_id: int | None = Field(default=None, foreign_key="org.id")  # the org acted in
    before: str | None = Field(default=None, max_length=40)
    after: str | None = Field(default=None, max_length=40)
