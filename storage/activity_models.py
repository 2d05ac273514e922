"""Activities a liaison or information officer logged (活动记录), with their audit fields."""

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

TITLE_MAX = 200
PLACE_MAX = 200
SUMMARY_MAX = 1000
TYPE_OTHER_MAX = 50
SEARCH_KEYWORD_MAX = 50
# (org_id, day) look-ups, plus every column the totals of /stats read, so they skip the table.
TOTALS_INDEX = ("org_id", "day", "type", "deleted_at", "amount", "participants")


class ActivityBase(SQLModel):
    """What the form collects."""

    type: str = Field(max_length=32)  # a key of bot.services.activities.TYPES
    type_other: str | None = Field(default=None, max_length=TYPE_OTHER_MAX)  # 其他: own words
    title: str = Field(max_length=TITLE_MAX)
    day: date
    place: str | None = Field(default=None, max_length=PLACE_MAX)
    org_id: int = Field(foreign_key="org.id")  # indexed with day below
    participants: int | None = None
    audience: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    summary: str | None = Field(default=None, sa_type=Text)
    # Telegram file ids: the photos stay on Telegram's servers, we keep only the handles.
    photos: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The official statistical unit (场/期/项/篇次) and how many of it this record counts.
    unit: str = Field(max_length=16)
    amount: int = 1


class Activity(ActivityBase, table=True):
    """One logged activity; deleted ones keep their row for the audit trail."""

    __table_args__ = (
        Index("ix_activity_created_by_day", "created_by", "day"),
        Index("ix_activity_org_day_totals", *TOTALS_INDEX),
    )

    id: int | None = Field(default=None, primary_key=True)
    created_by: int = Field(sa_type=BigInteger)
    created_at: datetime
    updated_by: int | None = Field(default=None, sa_type=BigInteger)
    updated_at: datetime | None = None
    deleted_by: int | None = Field(default=None, sa_type=BigInteger)
    deleted_at: datetime | None = None


class ActivitySearch(SQLModel, table=True):
    """A /mylogs search, kept so that its pages fit in a button's 64 bytes (``…|<id>``)."""

    __tablename__ = "activity_search"
    # Ids are never reused (SQLite would after the newest row is dropped), so an old button
    # finds its search gone instead of a newer one.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_type=BigInteger, index=True)
    keyword: str | None = Field(default=None, max_length=SEARCH_KEYWORD_MAX)
    first_day: date | None = None
    last_day: date | None = None
    created_at: datetime
