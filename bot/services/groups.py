"""Work groups: binding a group to an org, what a group may see, and 已阅 receipts made in it.

A group is bound by an admin to one org of the admin's subtree (``/bindgroup``). What the bot
shows in a group is fit for everyone in it: the bound org's open tasks with counts of orgs
(never a report's content, never orgs outside the bound subtree), policy answers, and the
number of members who acknowledged a notice (names only in the issuing admin's private chat).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import orgs, people
from bot.services import tasks as task_service
from bot.services.errors import UserError
from bot.services.people import Scope
from storage import broadcasts_repo, groups_repo, orgs_repo, tasks_repo
from storage.group_models import GroupChat
from storage.models import Org, User
from storage.task_models import ReportTask, TaskCycle

BIND_CHOICES = 8  # orgs offered as buttons by /bindgroup; typing a name finds the others
TASKS_SHOWN = 10  # open task cycles listed by /tasks in a group


class GroupError(UserError):
    """A refusal with a message key (shown in the group: never names a person)."""


@dataclass(frozen=True)
class ChatInfo:
    """A group as Telegram describes it."""

    chat_id: int
    kind: str  # group | supergroup
    title: str


async def joined(session: AsyncSession, chat: ChatInfo, now: datetime) -> GroupChat:
    """The bot was added to a group (or added again: its old binding comes back)."""
    return await groups_repo.save_group(
        session=session, chat_id=chat.chat_id, kind=chat.kind, title=chat.title, now=now
    )


async def left(session: AsyncSession, chat_id: int, now: datetime) -> None:
    """The bot was removed: the group is inactive, its binding kept for a return."""
    await groups_repo.set_active(session=session, chat_id=chat_id, active=False, now=now)


async def moved(session: AsyncSession, old_id: int, new_id: int, now: datetime) -> bool:
    """A group was upgraded to a supergroup (a new chat id): the binding follows it."""
    return await groups_repo.move_chat(session=session, old_id=old_id, new_id=new_id, now=now)


async def bound_org(session: AsyncSession, chat_id: int) -> Org | None:
    """The org a group is bound to, or None."""
    group = await groups_repo.get_group(session=session, chat_id=chat_id)
    if group is None or group.org_id is None:
        return None
    return await orgs_repo.get_org(session=session, org_id=group.org_id)


# --- binding -------------------------------------------------------------------------------


async def binder_scope(
    session: AsyncSession, user: User | None, superadmin: bool, chat_id: int
) -> Scope:
    """The subtree an admin may bind this group to; refuses when the group is another's.

    A group already bound can be moved or unbound only by an admin whose subtree holds its
    current org, so a county admin cannot take over the city's group.
    """
    scope = await people.admin_scope(session, user, superadmin)
    if scope is None:
        raise GroupError("group.bind_admins_only")
    current = await bound_org(session, chat_id)
    if current is not None and not scope.covers(current):
        raise GroupError("group.bound_by_other", org=current.name)
    return scope


async def bind_choices(session: AsyncSession, scope: Scope, text: str = "") -> list[Org]:
    """Orgs to bind to: those named like ``text``, or the admin's own org and the ones below."""
    if text:
        return list(
            await orgs.search_orgs(session, text[:50], within=scope.org, limit=BIND_CHOICES)
        )
    if scope.org is None:  # a superadmin: the top of each tree
        roots = await orgs_repo.list_orgs(session=session)
        return [org for org in roots if org.parent_id is None][:BIND_CHOICES]
    below = await orgs_repo.children(session=session, org_id=scope.org.id)  # type: ignore[arg-type]
    return [scope.org, *below][:BIND_CHOICES]


async def bind(
    session: AsyncSession,
    chat: ChatInfo,
    *,
    org_id: int,
    actor: User | None,
    superadmin: bool,
    locale: str,
    now: datetime,
) -> Org:
    """Bind the group to an org of the admin's subtree; notices there use ``locale``."""
    scope = await binder_scope(session, actor, superadmin, chat.chat_id)
    org = await orgs_repo.get_org(session=session, org_id=org_id)
    if org is None or not scope.covers(org):
        raise GroupError("group.org_out_of_scope")
    group = await joined(session, chat, now)
    group.org_id, group.locale = org.id, locale
    group.bound_by, group.bound_at = (actor.telegram_id if actor else None), now
    await session.flush()
    return org


async def unbind(
    session: AsyncSession, chat_id: int, *, actor: User | None, superadmin: bool, now: datetime
) -> Org:
    """Undo a binding (admins whose subtree holds the bound org)."""
    await binder_scope(session, actor, superadmin, chat_id)
    group = await groups_repo.get_group(session=session, chat_id=chat_id)
    org = await bound_org(session, chat_id)
    if group is None or org is None:
        raise GroupError("group.not_bound")
    group.org_id, group.bound_by, group.bound_at, group.updated_at = None, None, None, now
    await session.flush()
    return org


# --- what a group sees ---------------------------------------------------------------------


@dataclass(frozen=True)
class GroupTask:
    """An open task cycle as a group sees it: counts of orgs of the bound subtree only."""

    task: ReportTask
    cycle: TaskCycle
    submitted: int
    late: int
    missing: int


async def open_tasks(
    session: AsyncSession, org: Org, now: datetime, tz: ZoneInfo
) -> list[GroupTask]:
    """The open cycles of tasks that ask orgs of the bound subtree, soonest deadline first."""
    await task_service.ensure_cycles(session, now, tz)
    after = now - timedelta(days=task_service.OVERDUE_DAYS)
    rows = await groups_repo.open_cycles_within(
        session=session, path=org.path, after=after, limit=TASKS_SHOWN
    )
    listed = []
    for task, cycle in rows:
        status = await task_service.cycle_status(session, cycle.id, Scope(org))  # type: ignore[arg-type]
        listed.append(
            GroupTask(task, cycle, len(status.submitted), len(status.late), len(status.missing))
        )
    return listed


async def groups_in_scope(
    session: AsyncSession, scope: Scope, ids: list[int] | None = None
) -> list[tuple[GroupChat, Org]]:
    """Active groups bound to orgs of an admin's subtree (a notice's possible audience)."""
    path = scope.org.path if scope.org is not None else None
    return await groups_repo.bound_groups(session=session, path=path, ids=ids)


async def groups_asked(session: AsyncSession, task_id: int, scope: Scope) -> list[GroupChat]:
    """Active groups bound within the issuer's subtree whose org's subtree the task asks."""
    return [
        group
        for group, org in await groups_in_scope(session, scope)
        if await tasks_repo.targets_within(session=session, task_id=task_id, path=org.path)
    ]


# --- receipts ------------------------------------------------------------------------------


async def acknowledge(
    session: AsyncSession,
    *,
    chat_id: int,
    broadcast_id: int,
    message_id: int,
    user: User | None,
    now: datetime,
) -> tuple[bool, int]:
    """A member pressed 已阅 under a group notice: (recorded now, the group's count).

    Registered members only. The receipt also counts for the member's own copy of the
    notice, if they got one, so "remind those who have not acknowledged" spares them.
    """
    group = await groups_repo.get_group(session=session, chat_id=chat_id)
    if group is None or not await groups_repo.notice_sent_to(
        session=session,
        broadcast_id=broadcast_id,
        group_id=group.id,
        message_id=message_id,  # type: ignore[arg-type]
    ):
        raise GroupError("group.not_a_notice")
    if not people.is_registered(user):
        raise GroupError("group.ack_register")
    added = await groups_repo.add_receipt(
        session=session,
        broadcast_id=broadcast_id,
        group_id=group.id,  # type: ignore[arg-type]
        user_id=user.id,  # type: ignore[union-attr,arg-type]
        now=now,
    )
    if added:
        await broadcasts_repo.acknowledge(
            session=session,
            broadcast_id=broadcast_id,
            telegram_id=user.telegram_id,
            now=now,  # type: ignore[union-attr]
        )
    count = await groups_repo.receipt_count(
        session=session,
        broadcast_id=broadcast_id,
        group_id=group.id,  # type: ignore[arg-type]
    )
    return added, count


async def receipt_count(session: AsyncSession, chat_id: int, broadcast_id: int) -> int:
    """The number of members who acknowledged a notice in a group (for its button)."""
    group = await groups_repo.get_group(session=session, chat_id=chat_id)
    if group is None:
        return 0
    return await groups_repo.receipt_count(
        session=session,
        broadcast_id=broadcast_id,
        group_id=group.id,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class GroupReceipts:
    """For the issuing admin: a group a notice went to, how many acknowledged, and who."""

    title: str
    count: int
    readers: list[User]


async def receipts(session: AsyncSession, broadcast_id: int, limit: int) -> list[GroupReceipts]:
    """Per group of a notice: its count of receipts and up to ``limit`` readers."""
    found = await groups_repo.receipts_by_group(
        session=session, broadcast_id=broadcast_id, limit=limit
    )
    return [
        GroupReceipts(
            group.title,
            await groups_repo.receipt_count(
                session=session,
                broadcast_id=broadcast_id,
                group_id=group.id,  # type: ignore[arg-type]
            ),
            readers,
        )
        for group, readers in found
    ]


async def get_group(session: AsyncSession, chat_id: int) -> GroupChat | None:
    """The group of a Telegram chat id."""
    return await groups_repo.get_group(session=session, chat_id=chat_id)
