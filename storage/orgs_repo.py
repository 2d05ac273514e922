"""Queries on the organisation tree."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Org, OrgLevel


async def create_org(
    *, session: AsyncSession, name: str, level: OrgLevel, parent: Org | None, now: datetime
) -> Org:
    """Insert an org under ``parent`` and give it its materialised path."""
    org = Org(name=name, level=level, parent_id=parent.id if parent else None, created_at=now)
    session.add(org)
    await session.flush()
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    await session.flush()
    return org


async def get_org(*, session: AsyncSession, org_id: int) -> Org | None:
    """One org by id."""
    return await session.get(Org, org_id)


async def find_org_by_name(
    *, session: AsyncSession, name: str, parent_id: int | None = None
) -> Org | None:
    """The org with exactly this name (under ``parent_id`` when given)."""
    query = select(Org).where(Org.name == name)
    if parent_id is not None:
        query = query.where(Org.parent_id == parent_id)
    return (await session.exec(query.order_by(col(Org.id)))).first()


async def search_orgs(
    *, session: AsyncSession, text: str, within: Org | None = None, limit: int = 8
) -> Sequence[Org]:
    """Orgs whose name contains ``text``, shortest names first (the likeliest match)."""
    query = select(Org).where(col(Org.name).contains(text, autoescape=True))
    if within is not None:
        query = query.where(col(Org.path).startswith(within.path))
    query = query.order_by(func.length(Org.name), col(Org.id)).limit(limit)
    return (await session.exec(query)).all()


async def list_orgs(
    *, session: AsyncSession, within: Org | None = None, limit: int | None = None
) -> Sequence[Org]:
    """Every org (of a subtree), or the first ``limit`` of them, in tree order."""
    query = select(Org)
    if within is not None:
        query = query.where(col(Org.path).startswith(within.path))
    return (await session.exec(query.order_by(col(Org.path)).limit(limit))).all()


async def children(*, session: AsyncSession, org_id: int) -> Sequence[Org]:
    """The direct children of an org."""
    query = select(Org).where(Org.parent_id == org_id).order_by(col(Org.id))
    return (await session.exec(query)).all()


async def ancestors(*, session: AsyncSession, org: Org) -> list[Org]:
    """The chain from the root down to ``org`` itself."""
    ids = [int(part) for part in org.path.strip("/").split("/") if part]
    rows = (await session.exec(select(Org).where(col(Org.id).in_(ids)))).all()
    by_id = {row.id: row for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def contains(ancestor: Org, org: Org) -> bool:
    """Whether ``org`` lies in the subtree of ``ancestor`` (itself included)."""
    return org.path.startswith(ancestor.path)
