"""Queries on work groups: bindings, their notices in the broadcast outbox, and group receipts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, func, insert, literal
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.broadcast_models import BroadcastDelivery, DeliveryStatus
from storage.group_models import GroupChat, GroupReceipt
from storage.models import Org, User
from storage.task_models import ReportTask, TaskCycle, TaskStatus, TaskTarget


async def get_group(*, session: AsyncSession, chat_id: int) -> GroupChat | None:
    """The group of a Telegram chat id."""
    query = select(GroupChat).where(col(GroupChat.chat_id) == chat_id)
    return (await session.exec(query)).first()


async def save_group(
    *, session: AsyncSession, chat_id: int, kind: str, title: str, now: datetime
) -> GroupChat:
    """The group of a chat the bot is in, created on first sight; marks it active."""
    group = await get_group(session=session, chat_id=chat_id)
    if group is None:
        group = GroupChat(chat_id=chat_id, kind=kind, created_at=now, updated_at=now)
        session.add(group)
    group.kind, group.title, group.active, group.updated_at = kind, title[:255], True, now
    await session.flush()
    return group


async def set_active(*, session: AsyncSession, chat_id: int, active: bool, now: datetime) -> None:
    """The bot joined (True) or left (False) a group; its binding stays either way."""
    statement = (
        update(GroupChat)
        .where(col(GroupChat.chat_id) == chat_id)
        .values(active=active, updated_at=now)
    )
    await session.exec(statement)  # type: ignore[call-overload]


async def move_chat(*, session: AsyncSession, old_id: int, new_id: int, now: datetime) -> bool:
    """A group became a supergroup with a new chat id: the binding follows it."""
    if await get_group(session=session, chat_id=new_id) is not None:
        return False
    statement = (
        update(GroupChat)
        .where(col(GroupChat.chat_id) == old_id)
        .values(chat_id=new_id, kind="supergroup", updated_at=now)
    )
    return (await session.exec(statement)).rowcount == 1  # type: ignore[call-overload]


async def bound_groups(
    *, session: AsyncSession, path: str | None, ids: Sequence[int] | None = None
) -> list[tuple[GroupChat, Org]]:
    """Active groups bound to an org of a subtree (``path`` None: all), with their org."""
    query = (
        select(GroupChat, Org)
        .join(Org, col(Org.id) == GroupChat.org_id)
        .where(col(GroupChat.active).is_(True))
    )
    if path is not None:
        query = query.where(col(Org.path).startswith(path))
    if ids is not None:
        query = query.where(col(GroupChat.id).in_(list(ids)))
    rows = await session.exec(query.order_by(col(Org.path), col(GroupChat.id)))
    return list(rows.all())  # type: ignore[arg-type]


async def open_cycles_within(
    *, session: AsyncSession, path: str, after: datetime, limit: int
) -> list[tuple[ReportTask, TaskCycle]]:
    """Open cycles of published tasks that ask at least one org of a subtree, soonest first."""
    asks_subtree = exists(
        select(TaskTarget.id)
        .join(Org, col(Org.id) == TaskTarget.org_id)
        .where(col(TaskTarget.task_id) == ReportTask.id, col(Org.path).startswith(path))
    )
    query = (
        select(ReportTask, TaskCycle)
        .join(TaskCycle, col(TaskCycle.task_id) == ReportTask.id)
        .where(
            ReportTask.status == TaskStatus.PUBLISHED,
            col(TaskCycle.deadline) > after,
            asks_subtree,
        )
        .order_by(col(TaskCycle.deadline), col(TaskCycle.id))
        .limit(limit)
    )
    return list((await session.exec(query)).all())  # type: ignore[arg-type]


async def enqueue_notice(
    *, session: AsyncSession, broadcast_id: int, group_ids: Sequence[int], default_locale: str
) -> int:
    """One pending outbox row per active group; returns the broadcast's number of rows."""
    chosen = select(
        literal(broadcast_id),
        col(GroupChat.id),
        col(GroupChat.chat_id),
        func.coalesce(col(GroupChat.locale), default_locale),
        literal(DeliveryStatus.PENDING.value),
        literal(0),
    ).where(col(GroupChat.id).in_(list(group_ids)), col(GroupChat.active).is_(True))
    columns = ["broadcast_id", "group_id", "chat_id", "locale", "status", "attempts"]
    await session.exec(insert(BroadcastDelivery).from_select(columns, chosen))  # type: ignore[call-overload]
    query = select(func.count()).where(col(BroadcastDelivery.broadcast_id) == broadcast_id)
    return int((await session.exec(query)).one())


async def notice_sent_to(
    *, session: AsyncSession, broadcast_id: int, group_id: int, message_id: int
) -> bool:
    """Whether this message is the notice the broadcast posted in the group."""
    query = select(BroadcastDelivery.id).where(
        col(BroadcastDelivery.broadcast_id) == broadcast_id,
        col(BroadcastDelivery.group_id) == group_id,
        col(BroadcastDelivery.message_id) == message_id,
    )
    return (await session.exec(query)).first() is not None


async def add_receipt(
    *, session: AsyncSession, broadcast_id: int, group_id: int, user_id: int, now: datetime
) -> bool:
    """Record a member's 已阅 once; False when they had already acknowledged."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    insert_into = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert_into(GroupReceipt)
        .values(broadcast_id=broadcast_id, group_id=group_id, user_id=user_id, acked_at=now)
        .on_conflict_do_nothing(index_elements=["broadcast_id", "group_id", "user_id"])
    )
    return (await session.exec(statement)).rowcount == 1  # type: ignore[call-overload]


async def receipt_count(*, session: AsyncSession, broadcast_id: int, group_id: int) -> int:
    """How many members acknowledged a notice in one group."""
    query = select(func.count()).where(
        col(GroupReceipt.broadcast_id) == broadcast_id, col(GroupReceipt.group_id) == group_id
    )
    return int((await session.exec(query)).one())


async def receipt_total(*, session: AsyncSession, broadcast_id: int) -> int:
    """How many receipts a notice got in all its groups."""
    query = select(func.count()).where(col(GroupReceipt.broadcast_id) == broadcast_id)
    return int((await session.exec(query)).one())


async def receipts_by_group(
    *, session: AsyncSession, broadcast_id: int, limit: int
) -> list[tuple[GroupChat, list[User]]]:
    """The groups a notice went to, each with up to ``limit`` members who acknowledged it."""
    groups = select(GroupChat).join(
        BroadcastDelivery, col(BroadcastDelivery.group_id) == GroupChat.id
    )
    found = (
        await session.exec(
            groups.where(col(BroadcastDelivery.broadcast_id) == broadcast_id).order_by(
                col(GroupChat.id)
            )
        )
    ).all()
    result = []
    for group in found:
        readers = (
            select(User)
            .join(GroupReceipt, col(GroupReceipt.user_id) == User.id)
            .where(
                col(GroupReceipt.broadcast_id) == broadcast_id,
                col(GroupReceipt.group_id) == group.id,
            )
            .order_by(col(GroupReceipt.acked_at), col(User.id))
            .limit(limit)
        )
        result.append((group, list((await session.exec(readers)).all())))
    return result
