"""SQLModel tables shared by every service; datetimes are aware UTC (sqlmodel UTCDateTime)."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class OrgLevel(StrEnum):
    """Levels of the association tree, from a province down to an enterprise."""

    PROVINCE = "province"  # 省级 / 自治区
    CITY = "city"  # 市级 / 盟市
    COUNTY = "county"  # 县级 / 旗县区
    PARK = "park"  # 园区
    ENTERPRISE = "enterprise"  # 企业
    UNIVERSITY = "university"  # 高校
    SOCIETY = "society"  # 学会


class Role(StrEnum):
    """What a registered user may do."""

    LIAISON = "liaison"
    INFO_OFFICER = "info_officer"
    ADMIN = "admin"


class OrgBase(SQLModel):
    name: str = Field(max_length=200)
    level: OrgLevel = Field(sa_type=Text)
    parent_id: int | None = Field(default=None, foreign_key="org.id", index=True)


class Org(OrgBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Materialised path "/1/5/12/" makes subtree queries one indexed LIKE on both databases.
    path: str = Field(default="", max_length=400, index=True)
    created_at: datetime


class OrgCreate(OrgBase):
    pass


class UserBase(SQLModel):
    # The person's key: the address of the identity that first met the bot, a Telegram id for
    # most (storage/identity_models.py); every older table stores it.
    telegram_id: int = Field(sa_column=Column(BigInteger, unique=True, nullable=False))
    real_name: str | None = Field(default=None, max_length=64)
    username: str | None = Field(default=None, max_length=64)
    org_id: int | None = Field(default=None, foreign_key="org.id", index=True)
    role: Role | None = Field(default=None, sa_type=Text)
    locale: str | None = Field(default=None, max_length=10)  # chosen with /lang
    language_code: str | None = Field(default=None, max_length=16)  # Telegram's, last seen


class User(UserBase, table=True):
    __tablename__ = "tg_user"
    __table_args__ = (Index("ix_tg_user_org_role", "org_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    active: bool = True
    blocked_bot: bool = False
    registered_at: datetime | None = None
    created_at: datetime
    # The last update from the user, refreshed at most hourly (a write per update would cost
    # every update a statement; /members shows days).
    last_seen_at: datetime | None = None
    deactivated_at: datetime | None = None  # set by an admin; the person keeps their records
    # The channel the person last wrote from (storage.identity_models.Channel), and which of
    # their channels get reminders and notices (Reach): set on a change only, no write per update.
    last_channel: str | None = Field(default=None, max_length=16)
    reach: str = Field(default="last", max_length=8)


class Invite(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    role: Role = Field(sa_type=Text)
    max_uses: int = 1
    used: int = 0
    expires_at: datetime
    created_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime
    revoked_at: datetime | None = None


class AccessRequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class AccessRequest(SQLModel, table=True):
    __tablename__ = "access_request"

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_type=BigInteger, index=True)
    real_name: str = Field(max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    role: Role = Field(sa_type=Text)
    status: AccessRequestStatus = Field(default=AccessRequestStatus.PENDING, sa_type=Text)
    decided_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime
    decided_at: datetime | None = None
    # Why an admin turned the request down, in their words: the applicant is shown it.
    reason: str | None = Field(default=None, sa_type=Text)


class ConversationState(SQLModel, table=True):
    """The JSON state of one user's form in one chat, saved after every step."""

    __tablename__ = "conversation_state"
    __table_args__ = (UniqueConstraint("chat_id", "user_id", name="uq_conversation_chat_user"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_type=BigInteger)
    user_id: int = Field(sa_type=BigInteger)
    flow: str = Field(max_length=40)
    step: str = Field(max_length=40)
    data: str = Field(sa_type=Text)
    updated_at: datetime
