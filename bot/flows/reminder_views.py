"""What a reminder says: the message of one ledger row (deadline reminder, announcement,
digest, personal reminder), as its recipient gets it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.flows.base import Button, Msg, Reply
from bot.flows.callback_data import TaskButton
from bot.flows.task_views import local_text
from bot.services import reminders
from storage.reminder_models import ReminderLedger

DIGEST_LINES = 30  # tasks listed in one digest; the rest are counted


def reminder_reply(row: ReminderLedger, tz: ZoneInfo) -> Reply:
    """The message of one ledger row, as its recipient gets it."""
    data = json.loads(row.payload or "{}")
    if reminders.is_personal(row):
        return Reply(texts=[Msg("remind.personal", text=data.get("text", ""))])
    if row.kind.startswith(reminders.DIGEST_KIND):
        return _digest_reply(data, tz)
    deadline = datetime.fromisoformat(data["deadline"])
    button = Button(Msg("reminder.button.fill"), TaskButton("fill", row.cycle_id).pack())
    key = "reminder.published" if row.kind == reminders.PUBLISHED_KIND else "reminder.task"
    return Reply(
        texts=[
            Msg(
                key,
                title=data.get("title", ""),
                deadline=local_text(deadline, tz),
                left=_left(deadline, row.sent_at or row.due_at, tz),
            )
        ],
        buttons=[[button]],
    )


def _left(deadline: datetime, now: datetime, tz: ZoneInfo) -> Msg:
    days = (deadline.astimezone(tz).date() - now.astimezone(tz).date()).days
    if now > deadline:
        return Msg("reminder.overdue", count=max(1, -days))
    if days == 0:
        return Msg("reminder.due_today")
    return Msg("reminder.days_left", count=days)


def _digest_reply(data: dict[str, Any], tz: ZoneInfo) -> Reply:
    lines = data.get("lines", [])
    texts: list[Msg] = [Msg("reminder.digest.header", count=len(lines))]
    for line in lines[:DIGEST_LINES]:
        submitted, late, missing = line["figures"]
        deadline = datetime.fromisoformat(line["deadline"])
        texts.append(
            Msg(
                "reminder.digest.line",
                title=line["title"],
                deadline=local_text(deadline, tz),
                submitted=submitted,
                late=late,
                missing=missing,
            )
        )
    if len(lines) > DIGEST_LINES:
        texts.append(Msg("reminder.digest.more", count=len(lines) - DIGEST_LINES))
    return Reply(texts=texts)
