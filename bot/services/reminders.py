"""Reminders: the deadline schedule, handing due reminders to the sender, digests, /remind.

A periodic job calls `dispatch_due` (each minute). It finds in the database what is due and
writes one ledger row per recipient, ``pending``, under the unique key (cycle, recipient,
kind): that INSERT … ON CONFLICT DO NOTHING is what makes a restart, a misfire catch-up or a
second scheduler harmless. The sender (bot/scheduler.py) drains pending rows at Telegram's rate.

The schedule of one cycle: ``d7``, ``d3``, ``d1`` at 09:00 local 7, 3 and 1 days before the
deadline day, ``d0`` at 09:00 on the deadline day, ``overdue1..3`` at 09:00 on each of the
three days after; only to orgs that have not submitted, and nothing between 22:00 and 08:00.
Only the latest due kind is handed over: one that was superseded before it could be sent (the
bot was down, quiet hours) is skipped rather than sent late in a burst, and one whose time
came before the task was published is not due at all (the announcement told the same; a
deadline moved since is told by the latest reminder of its date). A kind's key carries
the deadline's date (``d1@2026-03-20``), so moving a deadline brings the reminders of the new
date while a kind already sent for a date is never sent again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.common.i18n import DEFAULT_LOCALE
from bot.services import people, tasks
from bot.services.errors import UserError
from storage import orgs_repo
from storage import reminders_repo as repo
from storage.models import Role, User
from storage.reminder_models import (
    NO_CYCLE,
    PERSONAL_TEXT_MAX,
    LedgerStatus,
    PersonalReminder,
    ReminderLedger,
)
from storage.task_models import ReportTask, TaskCycle, TaskStatus

SEND_AT = time(9, 0)
QUIET_START, QUIET_END = time(22, 0), time(8, 0)
BEFORE = (("d7", 7), ("d3", 3), ("d1", 1), ("d0", 0))
OVERDUE = 3
# overdue3 falls at 09:00 three days after the deadline day, which can be more than 3 × 24 h
# after a morning deadline: cycles stay open for one day more than that.
OPEN_DAYS_AFTER = OVERDUE + 1
DIGEST_KIND = "digest:"
MANUAL_KIND = "manual:"
PERSONAL_KIND = "personal:"
PUBLISHED_KIND = "published"  # a new task's announcement queued by the task flow
DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
LEDGER_KEPT = timedelta(days=90)  # how long finished ledger rows stay (for looking back)


class ReminderError(UserError):
    """A refusal with a message key for the user."""


# --- the pure schedule -------------------------------------------------------------------------


def local_moment(day: date, at: time, tz: ZoneInfo) -> datetime:
    """``at`` o'clock local on ``day``, as aware UTC."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def schedule(deadline: datetime, tz: ZoneInfo) -> list[tuple[str, datetime]]:
    """Every reminder of a cycle with the moment it falls due, in order."""
    day = deadline.astimezone(tz).date()
    slots = [(kind, local_moment(day - timedelta(days), SEND_AT, tz)) for kind, days in BEFORE]
    # A reminder "before" a deadline that lies before 09:00 would come after it: drop it.
    slots = [(kind, at) for kind, at in slots if at < deadline]
    for n in range(1, OVERDUE + 1):
        at = local_moment(day + timedelta(n), SEND_AT, tz)
        if at > deadline:
            slots.append((f"overdue{n}", at))
    return slots


def in_quiet_hours(now: datetime, tz: ZoneInfo) -> bool:
    """Whether it is between 22:00 and 08:00 local."""
    clock = now.astimezone(tz).time()
    return clock >= QUIET_START or clock < QUIET_END


def after_quiet_hours(now: datetime, tz: ZoneInfo) -> datetime:
    """``now``, or 08:00 local next when ``now`` lies in quiet hours."""
    if not in_quiet_hours(now, tz):
        return now
    local = now.astimezone(tz)
    day = local.date() if local.time() < QUIET_END else local.date() + timedelta(1)
    return local_moment(day, QUIET_END, tz)


def due_kind(
    deadline: datetime, now: datetime, tz: ZoneInfo, since: datetime | None = None
) -> str | None:
    """The latest reminder kind due at ``now`` (None: none yet, or quiet hours).

    ``since``: when the recipients were told this deadline (the task's announcement); a
    reminder whose time came before it would only repeat that news, so it is not due.
    """
    if in_quiet_hours(now, tz):
        return None
    due = [
        kind for kind, at in schedule(deadline, tz) if at <= now and (since is None or at > since)
    ]
    return due[-1] if due else None


def told_at(task: ReportTask) -> datetime | None:
    """When the recipients learnt the deadlines: publication, unless one was moved since.

    Moving a deadline is announced by no message, so a task changed after publication
    (`move_deadline` sets ``updated_at``) catches up on the latest reminder of the new date.
    """
    return task.created_at if task.updated_at <= task.created_at else None


def ledger_kind(kind: str, deadline: datetime, tz: ZoneInfo) -> str:
    """The ledger's kind: the schedule's kind and the deadline date it counts towards."""
    return f"{kind}@{deadline.astimezone(tz).date().isoformat()}"


# --- handing due reminders to the sender -------------------------------------------------------


@dataclass(frozen=True)
class Clocked:
    """When and where: the moment, the organisation's zone, the default language, and the
    SUPERADMIN_IDS (their digest covers every org, with or without an org of their own)."""

    now: datetime
    tz: ZoneInfo = DEFAULT_TZ
    default_locale: str = DEFAULT_LOCALE
    superadmins: tuple[int, ...] = ()


async def dispatch_due(session: AsyncSession, at: Clocked) -> int:
    """Write a pending ledger row for every reminder due at ``at.now``; returns how many."""
    handed = await _personal_due(session, at)
    if in_quiet_hours(at.now, at.tz):
        return handed
    await tasks.ensure_cycles(session, at.now, at.tz)
    cycles = await tasks.open_cycles(session, at.now, overdue_days=OPEN_DAYS_AFTER)
    found = await _tasks_of(session, [cycle.task_id for cycle in cycles])
    todo = await _cycles_to_remind(session, cycles, found, at)
    for cycle, kind in todo:
        title = found[cycle.task_id].title if cycle.task_id in found else ""
        payload = {"title": title, "deadline": _iso(cycle.deadline)}
        handed += await _enqueue_cycle(session, cycle.id, kind, payload, at)  # type: ignore[arg-type]
    return handed


async def _cycles_to_remind(
    session: AsyncSession,
    cycles: Sequence[TaskCycle],
    found: dict[int, ReportTask],
    at: Clocked,
) -> list[tuple[TaskCycle, str]]:
    """Open cycles whose latest due kind has not been handed over yet, with that kind."""
    wanted = [
        (cycle, ledger_kind(kind, cycle.deadline, at.tz))
        for cycle in cycles
        if cycle.task_id in found
        and (kind := due_kind(cycle.deadline, at.now, at.tz, told_at(found[cycle.task_id])))
        is not None
    ]
    # A (cycle, kind) is written in one transaction, so any row of it means it was handed over.
    keys = [(cycle.id, kind) for cycle, kind in wanted]
    done = await repo.dispatched(session=session, keys=keys)  # type: ignore[arg-type]
    todo = [(cycle, kind) for cycle, kind in wanted if (cycle.id, kind) not in done]
    # A cycle with nobody to remind writes no row, so it comes back every minute: one query
    # for all of them keeps that cheap, and whoever joins later is reminded the next minute.
    awaiting = await tasks.cycles_awaiting(session, [cycle.id for cycle, _ in todo])  # type: ignore[misc]
    return [(cycle, kind) for cycle, kind in todo if cycle.id in awaiting]


async def _tasks_of(session: AsyncSession, task_ids: Sequence[int]) -> dict[int, ReportTask]:
    if not task_ids:
        return {}
    query = select(ReportTask).where(col(ReportTask.id).in_(list(set(task_ids))))
    return {int(task.id): task for task in (await session.exec(query)).all()}  # type: ignore[arg-type]


async def _titles(session: AsyncSession, task_ids: Sequence[int]) -> dict[int, str]:
    return {i: task.title for i, task in (await _tasks_of(session, task_ids)).items()}


async def _enqueue_cycle(
    session: AsyncSession,
    cycle_id: int,
    kind: str,
    payload: dict[str, Any],
    at: Clocked,
    *,
    due_at: datetime | None = None,
    org_ids: Sequence[int] | None = None,
) -> int:
    """Ledger rows of one kind for the recipients of a cycle's pending orgs."""
    pending = (
        list(org_ids) if org_ids is not None else await tasks.pending_org_ids(session, cycle_id)
    )
    recipients = await tasks.task_recipients(session, pending)
    text = json.dumps(payload, ensure_ascii=False)
    rows = [
        _row(cycle_id, user, kind, text, at, due_at=due_at, org_id=org_id)
        for org_id, users in recipients.items()
        for user in users
    ]
    return await repo.insert_new(session=session, rows=rows)


def _row(
    cycle_id: int,
    user: User,
    kind: str,
    payload: str,
    at: Clocked,
    *,
    due_at: datetime | None = None,
    org_id: int | None = None,
    chat_id: int | None = None,
) -> dict[str, Any]:
    return {
        "cycle_id": cycle_id,
        "user_id": user.id,
        "kind": kind,
        "org_id": org_id,
        "chat_id": chat_id or user.telegram_id,
        "locale": people.user_locale(user, at.default_locale),
        "payload": payload,
        "status": LedgerStatus.PENDING.value,
        "due_at": due_at or at.now,
        "attempts": 0,
        "created_at": at.now,
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


async def _personal_due(session: AsyncSession, at: Clocked) -> int:
    # Quiet hours do not hold these back: the user chose the time (23:00 means 23:00).
    due = await repo.take_due_personal(session=session, now=at.now)
    rows = [
        _row(
            NO_CYCLE,
            user,
            f"{PERSONAL_KIND}{reminder.id}",
            _personal_payload(reminder),
            at,
            chat_id=reminder.chat_id,  # where it was set (a group reminds the group)
        )
        for reminder, user in due
    ]
    return await repo.insert_new(session=session, rows=rows)


def _personal_payload(reminder: PersonalReminder) -> str:
    return json.dumps({"text": reminder.text, "at": _iso(reminder.remind_at)}, ensure_ascii=False)


# --- the board's "remind the missing now" ------------------------------------------------------


async def remind_missing_now(
    session: AsyncSession,
    cycle_id: int,
    actor: User | None,
    now: datetime,
    *,
    tz: ZoneInfo = DEFAULT_TZ,
    superadmin: bool = False,
    default_locale: str = DEFAULT_LOCALE,
) -> int:
    """Remind the recipients of the cycle's missing orgs in the actor's subtree; returns how many.

    At most once a day per recipient and cycle; in quiet hours the reminders wait until 08:00.
    """
    scope = await people.admin_scope(session, actor, superadmin)
    if scope is None:
        raise ReminderError("reminder.not_admin")
    cycle = await session.get(TaskCycle, cycle_id)
    task = await session.get(ReportTask, cycle.task_id) if cycle is not None else None
    if cycle is None or task is None or task.status != TaskStatus.PUBLISHED:
        raise ReminderError("reminder.no_task")
    status = await tasks.cycle_status(session, cycle_id, scope)
    if not (status.submitted or status.late or status.missing):
        raise ReminderError("reminder.not_your_task")
    due_at = after_quiet_hours(now, tz)
    kind = f"{MANUAL_KIND}{due_at.astimezone(tz).date().isoformat()}"
    payload = {"title": task.title, "deadline": _iso(cycle.deadline)}
    at = Clocked(now, tz, default_locale)
    return await _enqueue_cycle(
        session, cycle_id, kind, payload, at, due_at=due_at, org_ids=status.missing
    )


# --- the Monday digest for admins --------------------------------------------------------------


async def enqueue_digests(session: AsyncSession, at: Clocked) -> int:
    """One digest per admin with open tasks in their subtree, once per ISO week.

    The weekly run also forgets ledger rows older than `LEDGER_KEPT`: by then their keys
    (a cycle closes 4 days after its deadline, a digest's week is over) guard nothing.
    """
    await repo.prune(session=session, before=at.now - LEDGER_KEPT)
    year, week, _ = at.now.astimezone(at.tz).isocalendar()
    kind = f"{DIGEST_KIND}{year}-W{week:02d}"
    cycles = await tasks.open_cycles(session, at.now, overdue_days=OPEN_DAYS_AFTER)
    titles = await _titles(session, [c.task_id for c in cycles])
    rows = []
    for admin, scope in await _digest_readers(session, at.superadmins):
        lines = await _digest_lines(session, scope, cycles, titles)
        if lines:
            payload = json.dumps({"week": kind, "lines": lines}, ensure_ascii=False)
            rows.append(_row(NO_CYCLE, admin, kind, payload, at, org_id=admin.org_id))
    return await repo.insert_new(session=session, rows=rows)


async def _digest_readers(
    session: AsyncSession, superadmins: Sequence[int]
) -> list[tuple[User, people.Scope]]:
    """Who gets a digest over which subtree: org admins their own, superadmins all orgs."""
    reachable = (col(User.active).is_(True), col(User.blocked_bot).is_(False))
    supers = select(User).where(col(User.telegram_id).in_(list(superadmins)), *reachable)
    readers = [(user, people.Scope(None)) for user in (await session.exec(supers)).all()]
    admins = select(User).where(
        col(User.role) == Role.ADMIN, col(User.org_id).is_not(None), *reachable
    )
    seen = {user.id for user, _ in readers}
    for admin in (await session.exec(admins)).all():
        org = await orgs_repo.get_org(session=session, org_id=admin.org_id)  # type: ignore[arg-type]
        if org is not None and admin.id not in seen:
            readers.append((admin, people.Scope(org)))
    return sorted(readers, key=lambda reader: reader[0].id or 0)


async def _digest_lines(
    session: AsyncSession,
    scope: people.Scope,
    cycles: Sequence[TaskCycle],
    titles: dict[int, str],
) -> list[dict[str, Any]]:
    lines = []
    for cycle in sorted(cycles, key=lambda c: c.deadline):
        status = await tasks.cycle_status(session, cycle.id, scope)  # type: ignore[arg-type]
        figures = (len(status.submitted), len(status.late), len(status.missing))
        if sum(figures):
            lines.append(
                {
                    "title": titles.get(cycle.task_id, ""),
                    "deadline": _iso(cycle.deadline),
                    "figures": figures,
                }
            )
    return lines


# --- personal reminders (/remind) --------------------------------------------------------------

PERSONAL_MAX = 30  # waiting personal reminders per user


async def add_personal(
    session: AsyncSession, user: User, chat_id: int, when: datetime, text: str, now: datetime
) -> PersonalReminder:
    """Store a personal reminder after checking time, text and the user's count."""
    words = " ".join(text.split())
    if not words:
        raise ReminderError("remind.no_text")
    if len(words) > PERSONAL_TEXT_MAX:
        raise ReminderError("remind.too_long", limit=PERSONAL_TEXT_MAX)
    if when <= now:
        raise ReminderError("remind.past")
    if await repo.count_personal(session=session, user_id=user.id) >= PERSONAL_MAX:  # type: ignore[arg-type]
        raise ReminderError("remind.too_many", limit=PERSONAL_MAX)
    reminder = PersonalReminder(
        user_id=user.id,
        chat_id=chat_id,
        text=words,
        remind_at=when,
        created_at=now,  # type: ignore[arg-type]
    )
    return await repo.add_personal(session=session, reminder=reminder)


# --- kinds of rows ------------------------------------------------------------------------------


def is_personal(row: ReminderLedger) -> bool:
    """Whether a ledger row is a personal /remind reminder (sent at the time its owner chose)."""
    return row.kind.startswith(PERSONAL_KIND)


async def personal_of(
    session: AsyncSession, user_id: int, limit: int
) -> Sequence[PersonalReminder]:
    """A user's waiting personal reminders, soonest first."""
    return await repo.personal_of(session=session, user_id=user_id, limit=limit)


async def delete_personal(session: AsyncSession, reminder_id: int, user_id: int) -> bool:
    """The owner deletes a waiting reminder; False when it is not theirs or no longer waits."""
    return await repo.delete_personal(session=session, reminder_id=reminder_id, user_id=user_id)


async def queue_announcement(
    session: AsyncSession,
    *,
    cycle: TaskCycle,
    title: str,
    recipients: Sequence[tuple[int, User]],
    now: datetime,
    tz: ZoneInfo,
) -> int:
    """A new task's announcement as one ledger row per (org id, user), sent like a reminder
    (with 填报) by the pipeline, and at night at 08:00; returns how many rows were written."""
    due = after_quiet_hours(now, tz)
    payload = json.dumps({"title": title, "deadline": cycle.deadline.isoformat()})
    rows = [
        {
            "cycle_id": cycle.id,
            "user_id": user.id,
            "kind": PUBLISHED_KIND,
            "org_id": org_id,
            "chat_id": user.telegram_id,
            "locale": people.user_locale(user),
            "payload": payload,
            "status": LedgerStatus.PENDING.value,
            "due_at": due,
            "attempts": 0,
            "created_at": now,
        }
        for org_id, user in recipients
    ]
    return await repo.insert_new(session=session, rows=rows)
