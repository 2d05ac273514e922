"""The broadcast outbox as a pipeline source: notices, their reminders, status and report."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.delivery.outcome import Outgoing, Result
from bot.delivery.pipeline import Item
from bot.delivery.settings import DeliverySettings
from bot.flows import broadcast as views
from bot.flows.base import Html, Msg, Reply
from bot.services import broadcasts
from storage import broadcasts_repo as repo
from storage import outbox_repo
from storage.broadcast_models import Broadcast, BroadcastDelivery, BroadcastStatus
from storage.db import SessionFactory, transaction
from storage.outbox_repo import EVERY_CHANNEL, Channels

if TYPE_CHECKING:
    from bot.delivery.pipeline import Pipeline

log = logging.getLogger(__name__)


class AdminChannel(Protocol):
    """How the source speaks to the admin who sent a notice (the channel adapter's sender)."""

    async def post(self, chat_id: int, locale: str, reply: Reply) -> int | None: ...

    async def edit(self, chat_id: int, message_id: int, locale: str, reply: Reply) -> None: ...


def notice_reply(broadcast: Broadcast, *, group: bool = False) -> Reply:
    """A notice as its recipients get it (a reminder of it starts with the reminder line);
    ``group``: the copy posted in a work group, whose 已阅 button counts its members."""
    texts: list[Any] = [Html(broadcast.text)]
    sender = views.sender_line(broadcast)
    if sender is not None:  # who sent it and when, above the text
        texts.insert(0, sender)
    if broadcast.parent_id is not None:
        texts.insert(0, Msg("broadcast.reminder_prefix"))
    return Reply(texts, views.notice_buttons(broadcast, group=group))


def notice_outgoing(
    chat_id: int, locale: str, broadcast: Broadcast, *, group: bool = False
) -> Outgoing:
    """A notice to one recipient (a person, or a work group)."""
    return Outgoing(
        chat_id,
        locale,
        notice_reply(broadcast, group=group),
        media_kind=broadcast.media_kind,
        media_file_id=broadcast.media_file_id,
        paid=broadcast.paid,
    )


class BroadcastSource:
    """Claims rows of running broadcasts; keeps each admin's status message and report."""

    name = "broadcasts"
    model = BroadcastDelivery
    due_column = "next_attempt_at"

    def __init__(
        self, *, sessions: SessionFactory, admin: AdminChannel, config: DeliverySettings
    ) -> None:
        self.sessions, self.admin, self.config = sessions, admin, config
        self._running: dict[int, Broadcast] = {}
        self._halted: set[int] = set()
        self._runs: dict[int, _Run] = {}  # broadcasts shown running, by id
        self._now = datetime.min  # set by each between_steps from the pipeline's clock

    # --- the pipeline's questions --------------------------------------------------------------

    async def claim(
        self,
        session: AsyncSession,
        now: datetime,
        limit: int,
        skip_locked: bool,
        channels: Channels = EVERY_CHANNEL,
    ) -> list[Item]:
        """Start scheduled broadcasts that are due, then claim rows of running ones."""
        await repo.activate_due(session=session, now=now)
        running = await repo.broadcasts_with_status(
            session=session, statuses=[BroadcastStatus.RUNNING]
        )
        # Merged, not replaced: another channel's loop may still render rows it claimed of a
        # broadcast paused since (its halt keeps them from going).
        self._running.update({b.id: b for b in running})  # type: ignore[misc]
        # Claims only take running broadcasts: a halt ends when its broadcast runs again.
        self._halted -= {b.id for b in running}
        if any(b.paid for b in running):  # a paid lane needs bigger bites to keep 1,000/s
            limit = max(limit, self.config.paid_claim_batch)
        rows = await repo.claim(
            session=session, now=now, limit=limit, skip_locked=skip_locked, channels=channels
        )
        return [
            Item(self, row, row.chat_id, paid=self._running[row.broadcast_id].paid) for row in rows
        ]

    def halt(self, broadcast_id: int) -> None:
        """A pause or cancel: rows of it already claimed are not sent."""
        self._halted.add(broadcast_id)

    def halted(self, item: Item) -> bool:
        """Whether the item's broadcast was paused or cancelled since the claim."""
        return item.row.broadcast_id in self._halted

    def may_send(self, item: Item, now: datetime) -> bool:
        """Notices go at any hour (the admin chose when), but not once paused or cancelled:
        a pause that lands while the row waits for its send slot stops it there."""
        return not self.halted(item)

    def later(self, item: Item, moment: datetime) -> datetime:
        """A retry goes at its time."""
        return moment

    def render(self, item: Item, now: datetime) -> Outgoing:
        """The notice for this row's recipient."""
        row = item.row
        broadcast = self._running[row.broadcast_id]
        return notice_outgoing(row.chat_id, row.locale, broadcast, group=row.group_id is not None)

    def sent_values(self, item: Item, result: Result) -> dict[str, Any]:
        """Broadcast rows keep the message id (for later edits)."""
        return {"message_id": result.message_id}

    async def release(
        self, session: AsyncSession, items: Sequence[Item], moment: datetime | None
    ) -> None:
        """Back to pending; rows of a broadcast cancelled meanwhile are cancelled too."""
        await outbox_repo.release(
            session=session,
            model=self.model,
            ids=[i.row.id for i in items],
            due_column=self.due_column,
            at=moment,
        )
        for broadcast_id in {i.row.broadcast_id for i in items}:
            broadcast = await session.get(Broadcast, broadcast_id)
            if broadcast is not None and broadcast.status == BroadcastStatus.CANCELLED:
                await repo.cancel_pending(session=session, broadcast_id=broadcast_id)

    async def next_due(self, session: AsyncSession, now: datetime) -> datetime | None:
        """The earliest pending row of a running broadcast."""
        return await repo.next_due(session=session)

    # --- status messages and the report --------------------------------------------------------

    async def between_steps(self, pipeline: Pipeline, *, full: bool) -> None:
        """Open, edit (every ``progress_every`` s) or finish each running broadcast's status;
        settle the status of those paused or cancelled since."""
        self._now = pipeline.clock.now()
        async with transaction(self.sessions) as session:
            active = await repo.broadcasts_with_status(
                session=session, statuses=[BroadcastStatus.RUNNING]
            )
            gone = self._runs.keys() - {b.id for b in active}
            stopped = [await session.get(Broadcast, broadcast_id) for broadcast_id in gone]
        for broadcast in active:
            due = self._progress_due(broadcast.id)  # type: ignore[arg-type]
            fresh = broadcast.progress_message_id is None
            if due or full or fresh:
                await self._show_progress(pipeline, broadcast, force=due or fresh)
        for row in stopped:
            if row is not None:
                await self._show_stopped(pipeline, row)

    def _progress_due(self, broadcast_id: int) -> bool:
        run = self._runs.get(broadcast_id)
        if run is None or run.shown is None:
            return True
        return (self._now - run.shown).total_seconds() >= self.config.progress_every

    async def _show_progress(
        self, pipeline: Pipeline, broadcast: Broadcast, *, force: bool
    ) -> None:
        figures = await self._figures(broadcast)
        if figures.waiting == 0:
            await self._finish(pipeline, broadcast, figures)
            return
        if not force:
            return
        pace = await self._pace(broadcast.id)  # type: ignore[arg-type]
        await self._show(broadcast, views.progress_reply(broadcast, figures, pace=pace))

    async def _show_stopped(self, pipeline: Pipeline, broadcast: Broadcast) -> None:
        """Paused or cancelled since last shown: once the requests already made have their
        answers, the status message shows where everyone stands (the admin's view came from
        the moment of the press); a pause that left nobody waiting finishes the broadcast."""
        figures = await self._figures(broadcast)
        if figures.in_flight:
            return
        self._runs.pop(broadcast.id, None)  # type: ignore[arg-type]
        if broadcast.status == BroadcastStatus.PAUSED and not figures.waiting:
            await self._finish(pipeline, broadcast, figures)
        elif broadcast.status == BroadcastStatus.PAUSED:
            await self._show(broadcast, views.progress_reply(broadcast, figures))
        elif broadcast.status == BroadcastStatus.CANCELLED:
            await self._show(broadcast, views.report_reply(broadcast, figures))

    async def _figures(self, broadcast: Broadcast) -> broadcasts.Progress:
        async with transaction(self.sessions) as session:
            return await broadcasts.progress(session, broadcast.id)  # type: ignore[arg-type]

    async def _pace(self, broadcast_id: int) -> broadcasts.Pace | None:
        """Sends a second between the first and the last send since this process first saw
        the broadcast run (or since it was resumed), by every worker; None before two sends.
        N sends span N - 1 gaps: counting from the run's first sight would overstate it."""
        run = self._runs.setdefault(broadcast_id, _Run(self._now))
        run.shown = self._now
        async with transaction(self.sessions) as session:
            sent, first, last = await repo.send_span(
                session=session, broadcast_id=broadcast_id, since=run.since
            )
        seconds = (last - first).total_seconds() if first and last else 0.0
        if sent < 2 or seconds <= 0:
            return None
        return broadcasts.Pace((sent - 1) / seconds, seconds)

    async def _finish(
        self, pipeline: Pipeline, broadcast: Broadcast, figures: broadcasts.Progress
    ) -> None:
        async with transaction(self.sessions) as session:
            row = await session.get(Broadcast, broadcast.id)
            if row is None or row.status not in (BroadcastStatus.RUNNING, BroadcastStatus.PAUSED):
                return
            row.status = BroadcastStatus.DONE
            row.finished_at = pipeline.clock.now()
        pace = await self._pace(row.id)  # type: ignore[arg-type]
        self._runs.pop(row.id, None)  # type: ignore[arg-type]
        await self._show(row, views.progress_reply(row, figures, pace=pace))
        await self.admin.post(row.created_by, row.admin_locale, views.report_reply(row, figures))

    async def _show(self, broadcast: Broadcast, reply: Reply) -> None:
        chat, locale = broadcast.created_by, broadcast.admin_locale
        if broadcast.progress_message_id is None:
            # 0: the admin can't be reached; the source does not try again every step.
            message_id = await self.admin.post(chat, locale, reply) or 0
            async with transaction(self.sessions) as session:
                row = await session.get(Broadcast, broadcast.id)
                if row is not None:
                    row.progress_message_id = message_id
            broadcast.progress_message_id = message_id
        elif broadcast.progress_message_id:
            await self.admin.edit(chat, broadcast.progress_message_id, locale, reply)


@dataclass
class _Run:
    """A broadcast's sending as this process watches it (from its first sight, or a resume)."""

    since: datetime  # when first seen running
    shown: datetime | None = None  # when its status was last shown
