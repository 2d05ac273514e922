"""The reminder ledger as a pipeline source: deadline reminders, announcements, digests,
"remind the missing" and personal reminders.

Between 22:00 and 08:00 local only personal reminders are claimed (their owners chose the
time): rows queued in the evening, or left by a process that stopped, wait for 08:00, and so
does a retry that would fall in the night. A row whose task cycle no longer holds (the task
was withdrawn, the org submitted) is skipped when its turn comes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.delivery.outcome import Outgoing, Result
from bot.delivery.pipeline import Item
from bot.flows.reminder_views import reminder_reply
from bot.services import reminders, tasks
from storage import outbox_repo
from storage import reminders_repo as repo
from storage.outbox_repo import EVERY_CHANNEL, Channels
from storage.reminder_models import NO_CYCLE, LedgerStatus, ReminderLedger
from storage.task_models import ReportTask, TaskCycle, TaskStatus

if TYPE_CHECKING:
    from bot.delivery.pipeline import Pipeline


class ReminderSource:
    """Claims due ledger rows that still hold, under quiet hours."""

    name = "reminders"
    model = ReminderLedger
    due_column = "due_at"

    def __init__(self, *, tz: ZoneInfo) -> None:
        self.tz = tz

    async def claim(
        self,
        session: AsyncSession,
        now: datetime,
        limit: int,
        skip_locked: bool,
        channels: Channels = EVERY_CHANNEL,
    ) -> list[Item]:
        """Claim due rows (personal ones only at night); skip those that no longer hold."""
        quiet = reminders.in_quiet_hours(now, self.tz)
        rows = await repo.claim(
            session=session,
            now=now,
            limit=limit,
            skip_locked=skip_locked,
            only_prefix=reminders.PERSONAL_KIND if quiet else None,
            channels=channels,
        )
        stale = await _stale_rows(session, rows)
        for row in rows:
            if row.id in stale:
                row.status = LedgerStatus.SKIPPED
        return [Item(self, row, row.chat_id) for row in rows if row.id not in stale]

    def halted(self, item: Item) -> bool:
        """Reminders are not paused one by one."""
        return False

    def may_send(self, item: Item, now: datetime) -> bool:
        """False when a wait (a 429 pause) ran into quiet hours and the row is not personal."""
        return reminders.is_personal(item.row) or not reminders.in_quiet_hours(now, self.tz)

    def later(self, item: Item, moment: datetime) -> datetime:
        """When a row goes again; a retry that would fall in quiet hours waits to 08:00."""
        if reminders.is_personal(item.row):
            return moment
        return reminders.after_quiet_hours(moment, self.tz)

    def render(self, item: Item, now: datetime) -> Outgoing:
        """The reminder as its recipient gets it ("days left" counts from now)."""
        row = item.row
        row.sent_at = now
        return Outgoing(row.chat_id, row.locale, reminder_reply(row, self.tz))

    def sent_values(self, item: Item, result: Result) -> dict[str, Any]:
        """Nothing beyond the common columns."""
        return {}

    async def release(
        self, session: AsyncSession, items: Sequence[Item], moment: datetime | None
    ) -> None:
        """Back to pending, each at its own next moment (quiet hours apply to most)."""
        groups: dict[datetime | None, list[int]] = defaultdict(list)
        for item in items:
            groups[None if moment is None else self.later(item, moment)].append(item.row.id)
        for at, ids in groups.items():
            await outbox_repo.release(
                session=session, model=self.model, ids=ids, due_column=self.due_column, at=at
            )

    async def next_due(self, session: AsyncSession, now: datetime) -> datetime | None:
        """When a row may next be claimed: quiet hours hold all but personal ones."""
        personal = await repo.next_due(session=session, prefix=reminders.PERSONAL_KIND)
        other = await repo.next_due(
            session=session, prefix=reminders.PERSONAL_KIND, matching=False
        )
        if other is not None:
            other = reminders.after_quiet_hours(max(other, now), self.tz)
        return min((due for due in (personal, other) if due is not None), default=None)

    async def between_steps(self, pipeline: Pipeline, *, full: bool) -> None:
        """Nothing to keep up between steps."""


async def _stale_rows(session: AsyncSession, rows: list[ReminderLedger]) -> set[int]:
    """Rows of task cycles that no longer hold: the task was deleted or the org submitted."""
    cycle_ids = {row.cycle_id for row in rows if row.cycle_id != NO_CYCLE}
    live: dict[int, set[int]] = {}
    for cycle_id in cycle_ids:
        cycle = await session.get(TaskCycle, cycle_id)
        task = await session.get(ReportTask, cycle.task_id) if cycle is not None else None
        if task is not None and task.status == TaskStatus.PUBLISHED:
            live[cycle_id] = set(await tasks.pending_org_ids(session, cycle_id))
    return {
        row.id  # type: ignore[misc]
        for row in rows
        if row.cycle_id != NO_CYCLE and row.org_id not in live.get(row.cycle_id, set())
    }
