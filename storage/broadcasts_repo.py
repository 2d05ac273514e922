"""Queries on broadcasts and their outbox; every one works on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, case, func, insert, literal, or_
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import identities_repo
from storage.broadcast_models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastStatus,
    DeliveryStatus,
)
from storage.models import Org, User
from storage.outbox_repo import EVERY_CHANNEL, INTERRUPTED, Channels

Delivery = BroadcastDelivery


def recipient_filter(
    *,
    root: Org | None,
    level: str | None = None,
    org_paths: Sequence[str] = (),
    role: str | None = None,
) -> list[ColumnElement[bool]]:
    """WHERE clauses (on tg_user joined to org) choosing a broadcast's recipients."""
    clauses: list[ColumnElement[bool]] = [
        col(User.active).is_(True),
        col(User.blocked_bot).is_(False),
        col(User.role).is_not(None),
    ]
    if root is not None:
        clauses.append(col(Org.path).startswith(root.path))
    if level is not None:
        clauses.append(col(Org.level) == level)
    if org_paths:
        clauses.append(or_(*(col(Org.path).startswith(path) for path in org_paths)))
    if role is not None:
        clauses.append(col(User.role) == role)
    return clauses


async def count_recipients(*, session: AsyncSession, where: list[ColumnElement[bool]]) -> int:
    """How many users the clauses choose."""
    query = select(func.count()).select_from(User).join(Org, col(Org.id) == User.org_id)
    return int((await session.exec(query.where(*where))).one())


def _locale_expr(default: str) -> Any:
    # The same rule as people.user_locale, in SQL, so 400,000 rows never pass through Python.
    return case(
        (col(User.locale).is_not(None), col(User.locale)),
        (col(User.language_code).like("en%"), "en"),
        (col(User.language_code).like("zh%"), "zh_CN"),
        else_=default,
    )


async def enqueue(
    *,
    session: AsyncSession,
    broadcast_id: int,
    where: list[ColumnElement[bool]],
    default_locale: str,
) -> int:
    """One pending outbox row per chosen user and channel they are reached on (their last, or
    all: identities_repo.reach_targets), in one INSERT … SELECT; returns the count."""
    targets = identities_repo.reach_targets()
    chosen = (
        select(
            literal(broadcast_id),
            col(User.id),
            targets.c.address,
            targets.c.channel,
            _locale_expr(default_locale),
            literal(DeliveryStatus.PENDING.value),
            literal(0),
        )
        .join(Org, col(Org.id) == User.org_id)
        .join(targets, targets.c.user_id == User.id)
        .where(*where)
        # The outbox drains in a stable order on both databases.
        .order_by(col(User.id), targets.c.channel)
    )
    return await _insert_rows(session, chosen, broadcast_id)


async def enqueue_unacknowledged(*, session: AsyncSession, broadcast_id: int, root_id: int) -> int:
    """Rows of a reminder: whoever got the root notice and has not acknowledged it."""
    chosen = select(
        literal(broadcast_id),
        col(Delivery.user_id),
        col(Delivery.chat_id),
        col(Delivery.channel),
        col(Delivery.locale),
        literal(DeliveryStatus.PENDING.value),
        literal(0),
    ).where(
        col(Delivery.broadcast_id) == root_id,
        col(Delivery.user_id).is_not(None),  # a group's copy stays where its members read it
        col(Delivery.status) == DeliveryStatus.SENT,
        col(Delivery.acked_at).is_(None),
    )
    return await _insert_rows(session, chosen, broadcast_id)


async def _insert_rows(session: AsyncSession, chosen: Any, broadcast_id: int) -> int:
    columns = ["broadcast_id", "user_id", "chat_id", "channel", "locale", "status", "attempts"]
    await session.exec(insert(Delivery).from_select(columns, chosen))  # type: ignore[call-overload]
    query = select(func.count()).where(col(Delivery.broadcast_id) == broadcast_id)
    return int((await session.exec(query)).one())


async def activate_due(*, session: AsyncSession, now: datetime) -> int:
    """Scheduled broadcasts whose time has come start running."""
    statement = (
        update(Broadcast)
        .where(
            col(Broadcast.status) == BroadcastStatus.SCHEDULED,
            col(Broadcast.scheduled_at) <= now,
        )
        .values(status=BroadcastStatus.RUNNING, started_at=now)
    )
    return (await session.exec(statement)).rowcount  # type: ignore[call-overload]


async def broadcasts_with_status(
    *, session: AsyncSession, statuses: Sequence[BroadcastStatus]
) -> Sequence[Broadcast]:
    """Broadcasts in any of these states, oldest first."""
    query = select(Broadcast).where(col(Broadcast.status).in_(list(statuses)))
    return (await session.exec(query.order_by(col(Broadcast.id)))).all()


async def claim(
    *,
    session: AsyncSession,
    now: datetime,
    limit: int,
    skip_locked: bool,
    channels: Channels = EVERY_CHANNEL,
) -> list[BroadcastDelivery]:
    """Mark up to ``limit`` due pending rows of running broadcasts (on ``channels``) as
    claimed, and return them."""
    query = (
        select(Delivery)
        .join(Broadcast, col(Broadcast.id) == Delivery.broadcast_id)
        .where(
            col(Broadcast.status) == BroadcastStatus.RUNNING,
            col(Delivery.status) == DeliveryStatus.PENDING,
            or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= now),
            channels.clause(col(Delivery.channel)),
        )
        .order_by(col(Delivery.id))
        .limit(limit)
    )
    if skip_locked:
        # Several workers may drain one outbox; each takes rows no other holds.
        query = query.with_for_update(skip_locked=True, of=Delivery)
    rows = list((await session.exec(query)).all())
    for row in rows:
        row.status = DeliveryStatus.CLAIMED
    await session.flush()
    return rows


async def next_due(*, session: AsyncSession) -> datetime | None:
    """When the earliest pending row of a running broadcast becomes due (None: none left)."""
    query = (
        select(func.min(func.coalesce(col(Delivery.next_attempt_at), col(Broadcast.started_at))))
        .join(Broadcast, col(Broadcast.id) == Delivery.broadcast_id)
        .where(
            col(Broadcast.status) == BroadcastStatus.RUNNING,
            col(Delivery.status) == DeliveryStatus.PENDING,
        )
    )
    return (await session.exec(query)).one()


async def set_delivery(*, session: AsyncSession, delivery_id: int, **values: Any) -> None:
    """Record the outcome of one send."""
    statement = update(Delivery).where(col(Delivery.id) == delivery_id).values(**values)
    await session.exec(statement)  # type: ignore[call-overload]



async def cancel_pending(*, session: AsyncSession, broadcast_id: int) -> int:
    """Rows not yet sent of a cancelled broadcast are cancelled too."""
    statement = (
        update(Delivery)
        .where(
            col(Delivery.broadcast_id) == broadcast_id,
            col(Delivery.status) == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.CANCELLED)
    )
    return (await session.exec(statement)).rowcount  # type: ignore[call-overload]


async def counts(*, session: AsyncSession, broadcast_id: int) -> dict[str, int]:
    """Rows per status, plus ``interrupted`` (unknown rows a crash left); receipts are counted
    by person (``people_counts``)."""
    interrupted = func.sum(case((col(Delivery.error) == INTERRUPTED, 1), else_=0))
    query = (
        select(col(Delivery.status), func.count(), interrupted)
        .where(col(Delivery.broadcast_id) == broadcast_id)
        .group_by(col(Delivery.status))
    )
    result: dict[str, int] = {status.value: 0 for status in DeliveryStatus}
    result["interrupted"] = 0
    for status, number, cut in (await session.exec(query)).all():
        result[str(status)] = int(number)
        if status == DeliveryStatus.UNKNOWN:
            result["interrupted"] += int(cut or 0)
    return result


class PeopleCounts(NamedTuple):
    """A broadcast's recipients as people (a person reached on several channels has a row on
    each and counts once; a row without a person counts as one)."""

    people: int  # it is for
    reached: int  # it was sent to
    acked: int  # who acknowledged it


async def people_counts(*, session: AsyncSession, broadcast_id: int) -> PeopleCounts:
    """The broadcast's recipients, those it reached and those who acknowledged, as people."""
    person = col(Delivery.user_id)
    alone = person.is_(None)
    sent = col(Delivery.status) == DeliveryStatus.SENT
    acked = col(Delivery.acked_at).is_not(None)
    query = select(
        func.count(func.distinct(person)),
        func.count(func.distinct(case((sent, person)))),
        func.count(func.distinct(case((acked, person)))),
        func.sum(case((alone, 1), else_=0)),
        func.sum(case((and_(sent, alone), 1), else_=0)),
        func.sum(case((and_(acked, alone), 1), else_=0)),
    ).where(col(Delivery.broadcast_id) == broadcast_id)
    row = (await session.exec(query)).one()
    people, reached, answered = (int(row[n]) + int(row[n + 3] or 0) for n in range(3))
    return PeopleCounts(people, reached, answered)


async def counts_by_channel(
    *, session: AsyncSession, broadcast_id: int
) -> dict[str, dict[str, int]]:
    """Rows per channel and status (the report's lines per channel)."""
    query = (
        select(col(Delivery.channel), col(Delivery.status), func.count())
        .where(col(Delivery.broadcast_id) == broadcast_id)
        .group_by(col(Delivery.channel), col(Delivery.status))
    )
    found: dict[str, dict[str, int]] = {}
    for channel, status, number in (await session.exec(query)).all():
        found.setdefault(str(channel), {})[str(status)] = int(number)
    return found


async def send_span(
    *, session: AsyncSession, broadcast_id: int, since: datetime
) -> tuple[int, datetime | None, datetime | None]:
    """Rows sent since ``since``: how many, the first and the last send's time."""
    sent_at = col(Delivery.sent_at)
    query = select(func.count(sent_at), func.min(sent_at), func.max(sent_at)).where(
        col(Delivery.broadcast_id) == broadcast_id, sent_at >= since
    )
    number, first, last = (await session.exec(query)).one()
    return int(number or 0), first, last


async def requeue_unconfirmed(*, session: AsyncSession, broadcast_id: int) -> int:
    """Rows whose delivery is unknown go back to pending (the admin chose to resend)."""
    active = select(User.id).where(col(User.active).is_(True))
    statement = (
        update(Delivery)
        .where(
            col(Delivery.broadcast_id) == broadcast_id,
            col(Delivery.status) == DeliveryStatus.UNKNOWN,
            # People deactivated (or blocking the bot) since are not sent it again.
            or_(col(Delivery.user_id).is_(None), col(Delivery.user_id).in_(active)),
        )
        .values(status=DeliveryStatus.PENDING, attempts=0, error=None, next_attempt_at=None)
    )
    return (await session.exec(statement)).rowcount  # type: ignore[call-overload]


async def acknowledge(
    *, session: AsyncSession, broadcast_id: int, telegram_id: int, now: datetime
) -> bool:
    """Record a receipt once; False when there is nothing (more) to acknowledge."""
    user_ids = select(col(User.id)).where(col(User.telegram_id) == telegram_id)
    statement = (
        update(Delivery)
        .where(
            col(Delivery.broadcast_id) == broadcast_id,
            col(Delivery.user_id).in_(user_ids),
            col(Delivery.acked_at).is_(None),
        )
        .values(acked_at=now)
    )
    # A person reached on several channels has a row on each: one receipt settles them all.
    return (await session.exec(statement)).rowcount >= 1  # type: ignore[call-overload]


async def awaiting_receipt(
    *, session: AsyncSession, telegram_id: int, since: datetime, limit: int
) -> list[Broadcast]:
    """Notices asking for 已阅 that reached this person since ``since`` and that they have
    not acknowledged, newest first (a reminder's receipts are its root's)."""
    user_ids = select(col(User.id)).where(col(User.telegram_id) == telegram_id)
    waiting = (
        select(col(Delivery.broadcast_id), func.max(Delivery.sent_at).label("sent"))
        .where(
            col(Delivery.user_id).in_(user_ids),
            col(Delivery.status) == DeliveryStatus.SENT,
            col(Delivery.acked_at).is_(None),
            col(Delivery.sent_at) >= since,
        )
        .group_by(col(Delivery.broadcast_id))  # a person reached on several channels
        .subquery()
    )
    statement = (
        select(Broadcast)
        .join(waiting, waiting.c.broadcast_id == Broadcast.id)
        .where(col(Broadcast.receipt).is_(True), col(Broadcast.parent_id).is_(None))
        .order_by(waiting.c.sent.desc(), col(Broadcast.id).desc())
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def receipt_lists(
    *, session: AsyncSession, broadcast_id: int, limit: int
) -> tuple[list[User], list[User]]:
    """Up to ``limit`` users who have acknowledged, and who got it and have not."""
    base = (
        select(User)
        .join(Delivery, col(Delivery.user_id) == User.id)
        .where(col(Delivery.broadcast_id) == broadcast_id)
        .order_by(col(User.id))
        .distinct()  # a person reached on several channels has a row on each
        .limit(limit)
    )
    acked = base.where(col(Delivery.acked_at).is_not(None))
    waiting = base.where(
        col(Delivery.acked_at).is_(None), col(Delivery.status) == DeliveryStatus.SENT
    )
    return list((await session.exec(acked)).all()), list((await session.exec(waiting)).all())
