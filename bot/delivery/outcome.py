"""What one send came to, in words every part of the pipeline shares (no Telegram types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.flows.base import Reply


class Outcome(StrEnum):
    """How a send ended."""

    SENT = "sent"
    FAILED = "failed"  # permanent (400 …): retrying will not help
    BLOCKED = "blocked"  # 403: the user blocked the bot
    UNKNOWN = "unknown"  # may or may not have reached Telegram: never retried by itself
    RETRY_AFTER = "retry_after"  # 429: not sent; again after ``retry_after``
    NOT_SENT = "not_sent"  # the connection was never made: provably not sent, retried


@dataclass(frozen=True)
class Result:
    """One send's outcome, with what the record needs."""

    outcome: Outcome
    message_id: int | None = None
    error: str | None = None
    retry_after: float = 0.0


@dataclass
class Outgoing:
    """One message to send, channel-neutral: the adapter renders and sends it."""

    chat_id: int
    locale: str
    reply: Reply
    media_kind: str | None = None  # photo | document
    media_file_id: str | None = None
    paid: bool = False  # allow_paid_broadcast
    extra: dict[str, object] = field(default_factory=dict)
