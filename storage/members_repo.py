"""Queries of /members: people of a subtree, open invites, the audit trail, queued messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, update
from sqlalchemy.sql import ColumnElement
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.activity_models import Activity
from storage.broadcast_models import BroadcastDelivery, DeliveryStatus
from storage.member_models import MemberAudit
from storage.models import ConversationState, Invite, Org, Role, User
from storage.reminder_models import LedgerStatus, PersonalReminder, PersonalStatus, ReminderLedger

# Admins first, then liaisons, then information officers (how an org's people are read).
_ROLE_ORDER = case(
    {Role.ADMIN.value: 0, Role.LIAISON.value: 1, Role.INFO_OFFICER.value: 2},
    value=col(User.role),
    else_=3,
)


# What waits for a person, and what it becomes when they are deactivated. A row the delivery
# pipeline has claimed but not yet requested counts as waiting: were it released, it would go
# back to pending and be sent; one already ``sending`` is on its way and gets its outcome.
_DROPPED_WHEN_DEACTIVATED: tuple[tuple[Any, tuple[str, ...], dict[str, str]], ...] = (
    (
        BroadcastDelivery,
        (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED),
        {"status": DeliveryStatus.CANCELLED, "error": "deactivated"},
    ),
    (
        ReminderLedger,
        (LedgerStatus.PENDING, LedgerStatus.CLAIMED),
        {"status": LedgerStatus.SKIPPED, "error": "deactivated"},
    ),
    (PersonalReminder, (PersonalStatus.ACTIVE,), {"status": PersonalStatus.DELETED}),
)


def _in_subtree(path: str | None) -> list[ColumnElement[bool]]:
    return [] if path is None else [col(Org.path).startswith(path)]


async def people_page(
    *,
    session: AsyncSession,
    path: str | None,
    role: Role | None,
    offset: int,
    limit: int,
) -> tuple[list[tuple[User, Org]], int]:
    """One page of the people attached to a subtree (None: every org), by org, role, name."""
    where = [col(User.role).is_not(None), *_in_subtree(path)]
    if role is not None:
        where.append(col(User.role) == role.value)
    joined = select(User, Org).join(Org, col(Org.id) == col(User.org_id)).where(*where)
    order = (col(Org.path), _ROLE_ORDER, col(User.real_name), col(User.id))
    rows = (await session.exec(joined.order_by(*order).offset(offset).limit(limit))).all()
    counted = select(func.count()).select_from(User).join(Org, col(Org.id) == col(User.org_id))
    total = (await session.exec(counted.where(*where))).one()
    return [(user, org) for user, org in rows], int(total)


async def latest_logged(
    *, session: AsyncSession, telegram_ids: Sequence[int]
) -> dict[int, datetime]:
    """Telegram id → when that person last logged an activity (ix_activity_created_by_day)."""
    if not telegram_ids:
        return {}
    query = (
        select(Activity.created_by, func.max(Activity.created_at))
        .where(col(Activity.created_by).in_(list(telegram_ids)))
        .group_by(col(Activity.created_by))
    )
    return {int(who): at for who, at in (await session.exec(query)).all() if at is not None}


def _open(now: datetime) -> list[ColumnElement[bool]]:
    return [
        col(Invite.revoked_at).is_(None),
        col(Invite.expires_at) > now,
        col(Invite.used) < col(Invite.max_uses),
    ]


async def open_invites(
    *, session: AsyncSession, path: str | None, now: datetime, offset: int, limit: int
) -> tuple[list[tuple[Invite, Org]], int]:
    """Invites of a subtree that can still be used, newest first, and how many there are."""
    where = [*_open(now), *_in_subtree(path)]
    joined = select(Invite, Org).join(Org, col(Org.id) == col(Invite.org_id)).where(*where)
    query = joined.order_by(col(Invite.created_at).desc(), col(Invite.id).desc())
    rows = (await session.exec(query.offset(offset).limit(limit))).all()
    counted = select(func.count()).select_from(Invite).join(Org, col(Org.id) == col(Invite.org_id))
    total = (await session.exec(counted.where(*where))).one()
    return [(invite, org) for invite, org in rows], int(total)


async def revoke_invite(*, session: AsyncSession, invite_id: int, now: datetime) -> bool:
    """Revoke an invite that is still open; False when it was revoked, used up or expired."""
    statement = (
        update(Invite).where(col(Invite.id) == invite_id, *_open(now)).values(revoked_at=now)
    )
    return (await session.exec(statement)).rowcount == 1  # type: ignore[call-overload]


async def change_user(
    *, session: AsyncSession, user: User, seen: tuple[bool, str | None, int | None, bool], **values
) -> bool:
    """Update a person only while they are as the admin saw them (active, role, org, deactivated).

    Two admins confirming at once cannot both apply a change to the same state.
    """
    active, role, org_id, deactivated = seen
    deactivated_now = col(User.deactivated_at).is_not(None)
    statement = (
        update(User)
        .where(
            col(User.id) == user.id,
            col(User.active).is_(active),
            col(User.role) == role,
            col(User.org_id) == org_id,
            deactivated_now if deactivated else col(User.deactivated_at).is_(None),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    changed = (await session.exec(statement)).rowcount == 1  # type: ignore[call-overload]
    if changed:
        await session.refresh(user)
    return changed


async def stop_queued(*, session: AsyncSession, user: User) -> None:
    """Nothing queued reaches a deactivated person: notices, reminders, their own /remind ones.

    Also ends any form they have open, so a half-filled /log cannot be saved afterwards.
    """
    for table, waiting, values in _DROPPED_WHEN_DEACTIVATED:
        await session.exec(  # type: ignore[call-overload]
            update(table)
            .where(col(table.user_id) == user.id, col(table.status).in_(waiting))
            .values(**values)
        )
    await session.exec(  # type: ignore[call-overload]
        delete(ConversationState).where(col(ConversationState.user_id) == user.telegram_id)
    )


async def record(*, session: AsyncSession, entry: MemberAudit) -> None:
    """Add one row to the audit trail."""
    session.add(entry)
    await session.flush()


async def last_change(*, session: AsyncSession, user_id: int) -> MemberAudit | None:
    """The newest audit row about a person."""
    query = (
        select(MemberAudit)
        .where(col(MemberAudit.user_id) == user_id)
        .order_by(col(MemberAudit.at).desc(), col(MemberAudit.id).desc())
        .limit(1)
    )
    return (await session.exec(query)).first()


async def users_by_telegram_id(
    *, session: AsyncSession, telegram_ids: Sequence[int]
) -> dict[int, User]:
    """Telegram id → user, for naming who created an invite or made a change."""
    if not telegram_ids:
        return {}
    query = select(User).where(col(User.telegram_id).in_(list(set(telegram_ids))))
    return {user.telegram_id: user for user in (await session.exec(query)).all()}
