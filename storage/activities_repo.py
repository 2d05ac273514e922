"""Queries on logged activities; deleted rows are kept but never listed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.activity_models import Activity
from storage.models import Org


async def add_activity(*, session: AsyncSession, activity: Activity) -> Activity:
    """Insert a new activity and give it its id."""
    session.add(activity)
    await session.flush()
    return activity


async def get_activity(*, session: AsyncSession, activity_id: int) -> Activity | None:
    """One activity that was not deleted."""
    activity = await session.get(Activity, activity_id)
    return activity if activity is not None and activity.deleted_at is None else None


async def latest_by(
    *, session: AsyncSession, telegram_id: int, exclude_type: str | None = None
) -> Activity | None:
    """The user's most recently created activity (optionally not of one type)."""
    query = select(Activity).where(
        Activity.created_by == telegram_id, col(Activity.deleted_at).is_(None)
    )
    if exclude_type is not None:
        query = query.where(Activity.type != exclude_type)
    query = query.order_by(col(Activity.created_at).desc(), col(Activity.id).desc()).limit(1)
    return (await session.exec(query)).first()


def _mine(telegram_id: int) -> tuple:
    return (Activity.created_by == telegram_id, col(Activity.deleted_at).is_(None))


async def count_by(*, session: AsyncSession, telegram_id: int) -> int:
    """How many activities the user has logged (not deleted)."""
    query = select(func.count()).select_from(Activity).where(*_mine(telegram_id))
    return int((await session.exec(query)).one())


async def page_by(
    *, session: AsyncSession, telegram_id: int, offset: int, limit: int
) -> Sequence[Activity]:
    """A page of the user's activities, newest day first."""
    query = (
        select(Activity)
        .where(*_mine(telegram_id))
        .order_by(col(Activity.day).desc(), col(Activity.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return (await session.exec(query)).all()


def _in_subtree(path: str | None) -> tuple:
    # path None: every org (a superadmin); deleted rows are never listed.
    live = col(Activity.deleted_at).is_(None)
    if path is None:
        return (live,)
    return (live, col(Activity.org_id).in_(select(Org.id).where(col(Org.path).startswith(path))))


async def count_in(*, session: AsyncSession, path: str | None) -> int:
    """How many activities the orgs under ``path`` have (not deleted)."""
    query = select(func.count()).select_from(Activity).where(*_in_subtree(path))
    return int((await session.exec(query)).one())


async def page_in(
    *, session: AsyncSession, path: str | None, offset: int, limit: int
) -> Sequence[Activity]:
    """A page of the activities of the orgs under ``path``, newest day first."""
    query = (
        select(Activity)
        .where(*_in_subtree(path))
        .order_by(col(Activity.day).desc(), col(Activity.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return (await session.exec(query)).all()


async def find_of_day(
    *, session: AsyncSession, telegram_id: int, type: str, day: date
) -> Activity | None:
    """The user's activity of this type on this day (the daily push count)."""
    query = select(Activity).where(
        Activity.created_by == telegram_id,
        Activity.type == type,
        Activity.day == day,
        col(Activity.deleted_at).is_(None),
    )
    return (await session.exec(query.order_by(col(Activity.id)).limit(1))).first()
