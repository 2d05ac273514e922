"""People management by admins: the people of a subtree, invites, and changes to a person.

Rules (every call checks them again, whatever a button claims):
- an admin sees and acts on the people and orgs of their subtree; a superadmin on everything;
- admin rights over an org come from above: an admin makes admins (by invite or by a role
  change) only for orgs below their own, and acts on another admin only there, so the admins
  of one org cannot remove each other; on themselves they may act, after a warning;
- a change applies only to the person as the admin saw them (`fingerprint`), so a button from
  an older view changes nothing.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import people
from bot.services.people import AccessError, Scope
from storage import members_repo, orgs_repo
from storage.member_models import MemberAction, MemberAudit
from storage.models import Invite, Org, Role, User

PAGE = 10
INVITE_PAGE = 6
INVITE_USES = (1, 10, 50)
INVITE_DAYS = (1, 7, 30)
ROLE_ORDER = (Role.LIAISON, Role.INFO_OFFICER, Role.ADMIN)


class Status(StrEnum):
    """Whether a person gets messages: active, deactivated by an admin, or blocking the bot."""

    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    BLOCKED = "blocked"


class ChangeKind(StrEnum):
    """What an admin can change about a person."""

    DEACTIVATE = "d"
    REACTIVATE = "r"
    ROLE = "o"
    MOVE = "m"


@dataclass(frozen=True)
class Change:
    """One change: its kind and, for a role or a move, the new role or org id."""

    kind: ChangeKind
    value: str = ""


@dataclass(frozen=True)
class Member:
    """A person as /members lists them."""

    user: User
    org: Org
    status: Status
    last_active: datetime | None


@dataclass(frozen=True)
class Page:
    """One page of people and how many there are in all."""

    members: list[Member]
    total: int
    offset: int


@dataclass(frozen=True)
class Applied:
    """A change made: the person as they are now, and what they were before."""

    user: User
    before: str | None
    after: str | None


def status_of(user: User) -> Status:
    """Deactivation wins over blocking: it is what an admin can undo."""
    if user.deactivated_at is not None:
        return Status.DEACTIVATED
    if user.blocked_bot or not user.active:
        return Status.BLOCKED
    return Status.ACTIVE


def fingerprint(user: User) -> str:
    """A short digest of what a change depends on; it changes with every change."""
    state = f"{user.active}|{user.role}|{user.org_id}|{user.deactivated_at is None}"
    return format(zlib.crc32(state.encode()), "x")


def _seen_state(user: User) -> tuple[bool, str | None, int | None, bool]:
    role = str(user.role) if user.role is not None else None
    return user.active, role, user.org_id, user.deactivated_at is not None


async def scope_of(session: AsyncSession, actor: User | None, superadmin: bool) -> Scope:
    """The actor's subtree; a refusal for everyone who is no admin."""
    scope = await people.admin_scope(session, actor, superadmin)
    if scope is None:
        raise AccessError("members.admins_only")
    return scope


async def org_in_scope(session: AsyncSession, scope: Scope, org_id: int) -> Org | None:
    """The org behind an id from a button (0: the scope's own root, None for a superadmin)."""
    if org_id == 0:
        return scope.org
    org = await orgs_repo.get_org(session=session, org_id=org_id)
    if org is None or not scope.covers(org):
        raise AccessError("members.stale")
    return org


def may_grant_admin(scope: Scope, org: Org) -> bool:
    """Whether the scope may make admins of ``org``: only below its own org (or a superadmin)."""
    if scope.org is None:
        return True
    return scope.covers(org) and org.id != scope.org.id


def grantable_roles(scope: Scope, org: Org) -> list[Role]:
    """The roles the scope may give in ``org``."""
    return [r for r in ROLE_ORDER if r != Role.ADMIN or may_grant_admin(scope, org)]


async def page(
    session: AsyncSession, scope: Scope, *, org: Org | None, role: Role | None, offset: int
) -> Page:
    """One page of the people of ``org``'s subtree (the scope's when None), with last activity."""
    within = org or scope.org
    rows, total = await members_repo.people_page(
        session=session,
        path=within.path if within is not None else None,
        role=role,
        offset=max(offset, 0),
        limit=PAGE,
    )
    logged = await members_repo.latest_logged(
        session=session, telegram_ids=[user.telegram_id for user, _ in rows]
    )
    members = [
        Member(
            user, org_, status_of(user), _latest(user.last_seen_at, logged.get(user.telegram_id))
        )
        for user, org_ in rows
    ]
    return Page(members, total, max(offset, 0))


def _latest(*moments: datetime | None) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None


async def member(session: AsyncSession, scope: Scope, user_id: int) -> Member:
    """One person of the scope (a person outside it is as unknown as a forged id)."""
    user = await session.get(User, user_id)
    org = await orgs_repo.get_org(session=session, org_id=user.org_id) if user else None
    if user is None or org is None or user.role is None or not scope.covers(org):
        raise AccessError("members.stale")
    logged = await members_repo.latest_logged(session=session, telegram_ids=[user.telegram_id])
    return Member(
        user, org, status_of(user), _latest(user.last_seen_at, logged.get(user.telegram_id))
    )


def may_manage(scope: Scope, actor_id: int, person: Member) -> bool:
    """Whether the scope may change this person: admins only from above, or oneself."""
    if person.user.role != Role.ADMIN or person.user.telegram_id == actor_id:
        return True
    return may_grant_admin(scope, person.org)


async def check(
    session: AsyncSession, scope: Scope, actor_id: int, person: Member, change: Change
) -> Org | None:
    """Refuse a change the scope may not make; the target org of a move (None otherwise)."""
    if not may_manage(scope, actor_id, person):
        raise AccessError("members.not_yours")
    user = person.user
    if change.kind is ChangeKind.DEACTIVATE and user.deactivated_at is not None:
        raise AccessError("members.stale")
    if change.kind is ChangeKind.REACTIVATE and user.deactivated_at is None:
        raise AccessError("members.stale")
    if change.kind is ChangeKind.ROLE:
        role = _role(change.value)
        if role == user.role or role not in grantable_roles(scope, person.org):
            raise AccessError("members.stale")
    if change.kind is not ChangeKind.MOVE:
        return None
    target = await org_in_scope(
        session, scope, int(change.value) if change.value.isdigit() else -1
    )
    if target is None or target.id == user.org_id:
        raise AccessError("members.same_org")
    if user.role == Role.ADMIN and not may_grant_admin(scope, target):
        raise AccessError("members.not_yours")
    return target


def _role(value: str) -> Role | None:
    try:
        return Role(value)
    except ValueError:
        return None


def warning(scope: Scope, actor_id: int, person: Member, change: Change) -> str | None:
    """The message key warning an admin that the change takes their own admin rights."""
    user = person.user
    if scope.org is None or user.telegram_id != actor_id or user.role != Role.ADMIN:
        return None  # a superadmin keeps every right whatever their row says
    if change.kind is ChangeKind.DEACTIVATE:
        return "members.warn_self_deactivate"
    if change.kind is ChangeKind.ROLE:
        return "members.warn_self_role"
    if change.kind is ChangeKind.MOVE:
        return "members.warn_self_move"
    return None


async def apply(
    session: AsyncSession,
    scope: Scope,
    *,
    actor_id: int,
    person: Member,
    seen: str,
    change: Change,
    now: datetime,
) -> Applied:
    """Make a confirmed change, if the person is still as the admin saw them; audit it."""
    if seen != fingerprint(person.user):
        raise AccessError("members.stale")
    target = await check(session, scope, actor_id, person, change)
    user = person.user
    before, after, values, action = _plan(user, change, target, now)
    if not await members_repo.change_user(
        session=session, user=user, seen=_seen_state(user), **values
    ):
        raise AccessError("members.stale")
    if change.kind is ChangeKind.DEACTIVATE:
        await members_repo.stop_queued(session=session, user=user)
    await _audit(
        session,
        action,
        actor_id,
        now,
        user_id=user.id,
        org_id=user.org_id,
        before=before,
        after=after,
    )
    return Applied(user, before, after)


async def _audit(
    session: AsyncSession, action: MemberAction, actor_id: int, now: datetime, **what: object
) -> None:
    """One row of the audit trail: who did what, when, to whom or which invite."""
    entry = MemberAudit(at=now, actor_id=actor_id, action=action, **what)
    await members_repo.record(session=session, entry=entry)


def _plan(
    user: User, change: Change, target: Org | None, now: datetime
) -> tuple[str | None, str | None, dict[str, object], MemberAction]:
    """(before, after, column values, audit action) of a change that passed `check`."""
    if change.kind is ChangeKind.DEACTIVATE:
        return None, None, {"active": False, "deactivated_at": now}, MemberAction.DEACTIVATED
    if change.kind is ChangeKind.REACTIVATE:
        values = {"active": not user.blocked_bot, "deactivated_at": None}
        return None, None, values, MemberAction.REACTIVATED
    if change.kind is ChangeKind.ROLE:
        return str(user.role), change.value, {"role": change.value}, MemberAction.ROLE_CHANGED
    assert target is not None and target.id is not None
    return str(user.org_id), str(target.id), {"org_id": target.id}, MemberAction.MOVED


async def last_change(session: AsyncSession, user: User) -> tuple[MemberAudit, User | None] | None:
    """The newest change to a person, and the admin who made it (None: not known here)."""
    entry = await members_repo.last_change(session=session, user_id=user.id)  # type: ignore[arg-type]
    if entry is None:
        return None
    admins = await members_repo.users_by_telegram_id(
        session=session, telegram_ids=[entry.actor_id]
    )
    return entry, admins.get(entry.actor_id)


# --- invites ---------------------------------------------------------------------------------


async def create_invite(
    session: AsyncSession,
    scope: Scope,
    *,
    actor_id: int,
    org_id: int,
    role: Role,
    uses: int,
    days: int,
    now: datetime,
) -> tuple[Invite, Org]:
    """An invite for an org of the scope, in a role the scope may give; audited."""
    org = await org_in_scope(session, scope, org_id)
    if org is None or role not in grantable_roles(scope, org):
        raise AccessError("members.not_yours")
    if uses not in INVITE_USES or days not in INVITE_DAYS:
        raise AccessError("members.stale")
    invite = await people.create_invite(
        session,
        org_id=org.id,  # type: ignore[arg-type]
        role=role,
        now=now,
        uses=uses,
        ttl=timedelta(days=days),
        created_by=actor_id,
    )
    await _audit(
        session,
        MemberAction.INVITE_CREATED,
        actor_id,
        now,
        invite_id=invite.id,
        org_id=invite.org_id,
        after=role.value,
    )
    return invite, org


async def open_invites(
    session: AsyncSession, scope: Scope, *, offset: int, now: datetime
) -> tuple[list[tuple[Invite, Org, User | None]], int]:
    """A page of the scope's usable invites with their creators, and how many there are."""
    path = scope.org.path if scope.org is not None else None
    rows, total = await members_repo.open_invites(
        session=session, path=path, now=now, offset=max(offset, 0), limit=INVITE_PAGE
    )
    creators = await members_repo.users_by_telegram_id(
        session=session, telegram_ids=[i.created_by for i, _ in rows if i.created_by is not None]
    )
    listed = [(invite, org, creators.get(invite.created_by or 0)) for invite, org in rows]
    return listed, total


async def revoke_invite(
    session: AsyncSession, scope: Scope, *, actor_id: int, invite_id: int, now: datetime
) -> Invite:
    """Revoke an open invite of the scope; an old or forged button changes nothing."""
    invite = await session.get(Invite, invite_id)
    org = await orgs_repo.get_org(session=session, org_id=invite.org_id) if invite else None
    if invite is None or org is None or not scope.covers(org):
        raise AccessError("members.stale")
    if not await members_repo.revoke_invite(session=session, invite_id=invite_id, now=now):
        raise AccessError("members.stale")
    await _audit(
        session,
        MemberAction.INVITE_REVOKED,
        actor_id,
        now,
        invite_id=invite.id,
        org_id=invite.org_id,
        before=invite.role,
    )
    return invite
