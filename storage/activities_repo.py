"""Queries on logged activities; deleted rows are kept but never listed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, or_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.activity_models import Activity, ActivitySearch
from storage.models import Org
from storage.sql_functions import contains_text


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


@dataclass(frozen=True)
class ActivityMatch:
    """What a /mylogs search narrows a list to: a keyword, a range of days, or both."""

    keyword: str | None = None
    types: tuple[str, ...] = ()  # the type keys whose names contain the keyword
    first_day: date | None = None
    last_day: date | None = None


def _matching(match: ActivityMatch | None, path: str | None = None) -> list[Any]:
    if match is None:
        return []
    where: list[Any] = []
    if match.first_day is not None:
        where.append(col(Activity.day) >= match.first_day)
    if match.last_day is not None:
        where.append(col(Activity.day) <= match.last_day)
    if match.keyword:
        where.append(or_(*_keyword_hits(match.keyword, match.types, path)))
    return where


def _keyword_hits(word: str, types: tuple[str, ...], path: str | None) -> list[Any]:
    # LIKE '%word%' (ILIKE on PostgreSQL) with % _ / escaped. No index serves a substring;
    # the list's own scope (the user's, or the subtree's orgs) picks the rows through its
    # index first.
    texts = (Activity.title, Activity.place, Activity.summary, Activity.type_other)
    hits = [contains_text(column, word) for column in texts]
    orgs = select(Org.id).where(contains_text(Org.name, word))
    if path is not None:
        orgs = orgs.where(col(Org.path).startswith(path))
    hits.append(col(Activity.org_id).in_(orgs))
    if types:
        hits.append(col(Activity.type).in_(types))
    return hits


def _mine(telegram_id: int) -> tuple:
    return (Activity.created_by == telegram_id, col(Activity.deleted_at).is_(None))


async def _count(session: AsyncSession, where: Sequence[Any]) -> int:
    query = select(func.count()).select_from(Activity).where(*where)
    return int((await session.exec(query)).one())


async def _page(
    session: AsyncSession,
    where: Sequence[Any],
    offset: int,
    limit: int,
    match: ActivityMatch | None,
) -> tuple[Sequence[Activity], int | None]:
    order = (col(Activity.day).desc(), col(Activity.id).desc())
    if match is None or not match.keyword:
        # The total is a count the indexes answer alone; the page needs only its own rows.
        query = select(Activity).where(*where).order_by(*order).offset(offset).limit(limit)
        return (await session.exec(query)).all(), None
    # A keyword reads every row of the scope anyway: the total comes with the page
    # (count(*) OVER ()), one pass instead of two, which halves a search over a province.
    counted = select(Activity, func.count().over()).where(*where).order_by(*order)
    rows = (await session.exec(counted.offset(offset).limit(limit))).all()
    return [row[0] for row in rows], (int(rows[0][1]) if rows else None)


async def count_by(
    *, session: AsyncSession, telegram_id: int, match: ActivityMatch | None = None
) -> int:
    """How many activities the user has logged (not deleted), optionally matching a search."""
    return await _count(session, [*_mine(telegram_id), *_matching(match)])


async def page_by(
    *,
    session: AsyncSession,
    telegram_id: int,
    offset: int,
    limit: int,
    match: ActivityMatch | None = None,
) -> tuple[Sequence[Activity], int | None]:
    """A page of the user's activities (optionally matching a search), newest day first, and
    how many match in all when that came cheaply with the page (else None: `count_by`)."""
    return await _page(session, [*_mine(telegram_id), *_matching(match)], offset, limit, match)


def _in_subtree(path: str | None) -> tuple:
    # path None: every org (a superadmin); deleted rows are never listed.
    live = col(Activity.deleted_at).is_(None)
    if path is None:
        return (live,)
    return (live, col(Activity.org_id).in_(select(Org.id).where(col(Org.path).startswith(path))))


async def count_in(
    *, session: AsyncSession, path: str | None, match: ActivityMatch | None = None
) -> int:
    """How many activities the orgs under ``path`` have (not deleted), optionally matching."""
    return await _count(session, [*_in_subtree(path), *_matching(match, path)])


async def page_in(
    *,
    session: AsyncSession,
    path: str | None,
    offset: int,
    limit: int,
    match: ActivityMatch | None = None,
) -> tuple[Sequence[Activity], int | None]:
    """A page of the activities of the orgs under ``path``, newest day first, and the total
    when it came with the page (else None: `count_in`)."""
    where = [*_in_subtree(path), *_matching(match, path)]
    return await _page(session, where, offset, limit, match)


async def save_search(*, session: AsyncSession, search: ActivitySearch) -> ActivitySearch:
    """Keep a /mylogs search; its id goes into the buttons of its pages."""
    session.add(search)
    await session.flush()
    return search


async def forget_searches(
    *, session: AsyncSession, telegram_id: int, before: datetime
) -> None:
    """Drop the user's searches made before ``before``; their buttons then say so."""
    await session.exec(  # type: ignore[call-overload]
        delete(ActivitySearch).where(
            col(ActivitySearch.telegram_id) == telegram_id,
            col(ActivitySearch.created_at) < before,
        )
    )


async def get_search(
    *, session: AsyncSession, search_id: int, telegram_id: int
) -> ActivitySearch | None:
    """One of the user's kept searches (someone else's is None)."""
    search = await session.get(ActivitySearch, search_id)
    return search if search is not None and search.telegram_id == telegram_id else None


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
