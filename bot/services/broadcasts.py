"""Broadcast notices: audiences, drafts, launching, controls, receipts and progress figures."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import groups
from bot.services.errors import UserError
from bot.services.people import Scope
from storage import broadcasts_repo as repo
from storage import groups_repo, orgs_repo
from storage.broadcast_models import Broadcast, BroadcastStatus, DeliveryStatus
from storage.models import User

TEXT_LIMIT = 4096
RECEIPT_DAYS = 7  # a bare 收到 answers a notice of the last week, not an old one
RECEIPT_CHOICES = 5  # the notices a bare 收到 offers to acknowledge, newest first
CAPTION_LIMIT = 1024
# Telegram's HTML subset (parse_mode=HTML); anything else is refused rather than sent broken.
ALLOWED_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
    | {"blockquote", "tg-spoiler", "span", "tg-emoji", "tg-time"}
)
# The attributes PTB's ``text_html`` writes for the admin's entities (links, code languages,
# spoilers, custom emoji, dates, expandable quotes).
KEPT_ATTRIBUTES = frozenset({"href", "class", "emoji-id", "unix", "format", "expandable"})
ACTIVE = (BroadcastStatus.RUNNING, BroadcastStatus.PAUSED, BroadcastStatus.SCHEDULED)


class BroadcastError(UserError):
    """A refusal with a message key for the admin."""


@dataclass(frozen=True)
class Audience:
    """Who gets a notice: the whole scope, one level of it, picked orgs, one role, or picked
    work groups (groups bound to orgs of the scope; the notice is posted in each group)."""

    kind: str  # all | subtree | level | orgs | role | groups
    level: str | None = None
    org_ids: list[int] = field(default_factory=list)
    role: str | None = None
    group_ids: list[int] = field(default_factory=list)

    def to_json(self) -> str:
        """Stored on the broadcast, so the report can say who it was for."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> Audience:
        """The inverse of `to_json`."""
        data = json.loads(raw)
        return cls(
            **{k: data.get(k) for k in ("kind", "level", "role")},
            org_ids=data["org_ids"],
            group_ids=data.get("group_ids") or [],
        )


GROUPS = "groups"
SUPERADMIN = "superadmin"  # a sender's role when a superadmin who is no member sends


@dataclass(frozen=True)
class Sender:
    """Who a notice is from, as its recipients read it: kept with the notice when written."""

    name: str
    role: str  # a Role value, or SUPERADMIN
    org: str = ""  # the admin's org by name ("" for a superadmin who is no member)
    tz: str = "Asia/Shanghai"  # the zone its time is shown in (the bot's TIMEZONE)
    at: str | None = None  # a reminder's: when the notice itself went out (ISO 8601)

    def to_json(self) -> str:
        """Stored on the broadcast (``Broadcast.sender``)."""
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | None) -> Sender | None:
        """The inverse of `to_json`; None for a notice written before senders were kept."""
        if not raw:
            return None
        data = json.loads(raw)
        return cls(**{k: data[k] for k in ("name", "role", "org", "tz", "at") if k in data})


def to_groups(broadcast: Broadcast) -> bool:
    """Whether a notice (or its reminder's root) went to work groups instead of people."""
    return json.loads(broadcast.audience).get("kind") == GROUPS


async def audience_groups(session: AsyncSession, scope: Scope, audience: Audience) -> list[int]:
    """The picked groups, all bound within the admin's scope (or a refusal)."""
    found = await groups.groups_in_scope(session, scope, ids=audience.group_ids)
    if len(found) != len(set(audience.group_ids)):
        raise BroadcastError("broadcast.group_out_of_scope")
    return [group.id for group, _ in found]  # type: ignore[misc]


async def audience_filter(
    session: AsyncSession, scope: Scope, audience: Audience
) -> list[ColumnElement[bool]]:
    """The recipient clauses of an audience, never wider than the admin's scope."""
    paths: list[str] = []
    for org_id in audience.org_ids:
        org = await orgs_repo.get_org(session=session, org_id=org_id)
        if org is None or not scope.covers(org):
            raise BroadcastError("broadcast.org_out_of_scope")
        paths.append(org.path)
    if audience.kind == "orgs" and not paths:
        raise BroadcastError("broadcast.no_recipients")
    return repo.recipient_filter(
        root=scope.org,
        level=audience.level if audience.kind == "level" else None,
        org_paths=paths,
        role=audience.role if audience.kind == "role" else None,
    )


async def count_audience(session: AsyncSession, scope: Scope, audience: Audience) -> int:
    """How many people (or work groups) an audience reaches now."""
    if audience.kind == GROUPS:
        return len(await audience_groups(session, scope, audience))
    where = await audience_filter(session, scope, audience)
    return await repo.count_recipients(session=session, where=where)


class _TagChecker(HTMLParser):
    """Rebuilds text with Telegram's tags kept and everything else escaped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.bad = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.bad = True
            return
        rendered = "".join(_attribute(k, v) for k, v in attrs if k in KEPT_ATTRIBUTES)
        self.out.append(f"<{tag}{rendered}>")
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.bad = True
            return
        self.open.pop()
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.out.append(data.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _attribute(name: str, value: str | None) -> str:
    if value is None:  # <blockquote expandable>
        return f" {name}"
    quoted = value.replace("&", "&amp;").replace('"', "&quot;")
    return f' {name}="{quoted}"'


class _Excerpt(_TagChecker):
    """The first ``limit`` visible characters of clean HTML, its tags kept and closed."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.left = limit
        self.cut = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.left > 0:
            super().handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.open and self.open[-1] == tag:  # the end tags of tags dropped after the cut
            super().handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        kept = data[: max(self.left, 0)]
        self.left -= len(kept)
        self.cut = self.cut or len(kept) < len(data)
        super().handle_data(kept)


def excerpt_html(html: str, limit: int) -> str:
    """A short view of a notice's HTML that renders as the notice does (no tag cut in two)."""
    excerpt = _Excerpt(limit)
    excerpt.feed(html)
    excerpt.close()
    closing = "".join(f"</{tag}>" for tag in reversed(excerpt.open))
    return "".join(excerpt.out) + closing + ("…" if excerpt.cut else "")


def clean_html(text: str, limit: int) -> str:
    """The admin's text as safe Telegram HTML; refuses unknown or unbalanced tags."""
    checker = _TagChecker()
    checker.feed(text.strip())
    checker.close()
    if checker.bad or checker.open:
        raise BroadcastError("broadcast.bad_html")
    html = "".join(checker.out)
    if not html:
        raise BroadcastError("broadcast.empty")
    if len(html) > limit:
        raise BroadcastError("broadcast.too_long", limit=limit, length=len(html))
    return html


async def create_draft(
    session: AsyncSession,
    *,
    scope: Scope,
    admin_id: int,
    admin_locale: str,
    audience: Audience,
    content: dict[str, Any],
    receipt: bool,
    scheduled_at: datetime | None,
    now: datetime,
    sender: Sender | None = None,
) -> tuple[Broadcast, int]:
    """Save a confirmed form as a draft; returns it and its current number of recipients."""
    total = await count_audience(session, scope, audience)
    if total == 0:
        raise BroadcastError("broadcast.no_recipients")
    broadcast = Broadcast(
        created_by=admin_id,
        admin_locale=admin_locale,
        audience=audience.to_json(),
        text=content.get("text") or "",
        media_kind=content.get("kind") if content.get("kind") != "text" else None,
        media_file_id=content.get("file_id"),
        receipt=receipt,
        sender=sender.to_json() if sender else None,
        total=total,
        scheduled_at=scheduled_at,
        created_at=now,
    )
    session.add(broadcast)
    await session.flush()
    return broadcast, total


async def owned(
    session: AsyncSession, broadcast_id: int, *, telegram_id: int, superadmin: bool
) -> Broadcast:
    """A broadcast its creator (or a superadmin) may act on."""
    broadcast = await session.get(Broadcast, broadcast_id)
    if broadcast is None or not (superadmin or broadcast.created_by == telegram_id):
        raise BroadcastError("broadcast.not_yours")
    return broadcast


async def launch(
    session: AsyncSession,
    broadcast: Broadcast,
    *,
    scope: Scope,
    default_locale: str,
    now: datetime,
) -> int:
    """Queue a draft: one outbox row per recipient (chosen now), to start at its time."""
    if broadcast.status != BroadcastStatus.DRAFT:
        raise BroadcastError("broadcast.already_launched")
    audience = Audience.from_json(broadcast.audience)
    if audience.kind == GROUPS:
        total = await groups_repo.enqueue_notice(
            session=session,
            broadcast_id=broadcast.id,  # type: ignore[arg-type]
            group_ids=await audience_groups(session, scope, audience),
            default_locale=default_locale,
        )
    else:
        where = await audience_filter(session, scope, audience)
        total = await repo.enqueue(
            session=session, broadcast_id=broadcast.id, where=where, default_locale=default_locale
        )
    if total == 0:
        raise BroadcastError("broadcast.no_recipients")
    broadcast.total = total
    broadcast.status = BroadcastStatus.SCHEDULED
    broadcast.scheduled_at = broadcast.scheduled_at or now
    await session.flush()
    return total


async def set_paused(session: AsyncSession, broadcast: Broadcast, paused: bool) -> None:
    """Pause a running broadcast, or resume a paused one."""
    source, target = (
        (BroadcastStatus.RUNNING, BroadcastStatus.PAUSED)
        if paused
        else (BroadcastStatus.PAUSED, BroadcastStatus.RUNNING)
    )
    if broadcast.status != source:
        raise BroadcastError("broadcast.not_possible_now")
    broadcast.status = target
    await session.flush()


async def cancel(session: AsyncSession, broadcast: Broadcast, *, now: datetime) -> None:
    """Stop a broadcast for good; rows not yet sent are cancelled."""
    if broadcast.status not in (*ACTIVE, BroadcastStatus.DRAFT):
        raise BroadcastError("broadcast.not_possible_now")
    broadcast.status = BroadcastStatus.CANCELLED
    broadcast.finished_at = now
    await repo.cancel_pending(session=session, broadcast_id=broadcast.id)
    await session.flush()


async def remind(
    session: AsyncSession, root: Broadcast, *, now: datetime
) -> tuple[Broadcast, int]:
    """A reminder with the same content to whoever got the notice and has not acknowledged."""
    if not root.receipt or root.parent_id is not None:
        raise BroadcastError("broadcast.not_possible_now")
    reminder = Broadcast(
        created_by=root.created_by,
        admin_locale=root.admin_locale,
        audience=json.dumps({"kind": "reminder", "of": root.id}),
        text=root.text,
        media_kind=root.media_kind,
        media_file_id=root.media_file_id,
        receipt=True,
        sender=_first_sent(root),
        parent_id=root.id,
        status=BroadcastStatus.SCHEDULED,
        scheduled_at=now,
        created_at=now,
    )
    session.add(reminder)
    await session.flush()
    total = await repo.enqueue_unacknowledged(
        session=session, broadcast_id=reminder.id, root_id=root.id
    )
    if total == 0:
        raise BroadcastError("broadcast.everyone_acked")
    reminder.total = total
    await session.flush()
    return reminder, total


def _first_sent(root: Broadcast) -> str | None:
    """A reminder's sender: the notice's, with the time the notice itself went out."""
    sender = Sender.from_json(root.sender)
    if sender is None:
        return None
    sent = root.scheduled_at or root.created_at
    return replace(sender, at=sent.isoformat()).to_json()


async def acknowledge(
    session: AsyncSession, *, broadcast_id: int, telegram_id: int, now: datetime
) -> bool:
    """A recipient's 已阅 (the button, or a reply such as 收到); False when there was nothing
    (more) to acknowledge: already read, or a preview."""
    return await repo.acknowledge(
        session=session, broadcast_id=broadcast_id, telegram_id=telegram_id, now=now
    )


async def awaiting_receipt(
    session: AsyncSession, *, telegram_id: int, now: datetime, limit: int = RECEIPT_CHOICES
) -> list[Broadcast]:
    """The notices of the last `RECEIPT_DAYS` days still waiting for this person's 已阅,
    newest first: what a bare 收到 may be answering."""
    return await repo.awaiting_receipt(
        session=session,
        telegram_id=telegram_id,
        since=now - timedelta(days=RECEIPT_DAYS),
        limit=limit,
    )


def receipt_root(broadcast: Broadcast) -> int:
    """The broadcast whose receipts a notice's button records (a reminder's root)."""
    return broadcast.parent_id or broadcast.id  # type: ignore[return-value]


@dataclass(frozen=True)
class ChannelFigures:
    """One channel's part of a broadcast: rows sent there, and how many of them went how."""

    channel: str  # storage.identity_models.Channel
    total: int
    sent: int
    failed: int  # refused for good (blocked included)
    unknown: int
    waiting: int


@dataclass(frozen=True)
class Progress:
    """Figures of one broadcast for the status message."""

    total: int
    sent: int
    failed: int
    blocked: int
    cancelled: int
    waiting: int  # pending, claimed or sending
    acked: int  # people who acknowledged, in their private chat or under a group's copy
    # People it reached: ``sent`` counts a person reached on two channels twice, receipts once.
    people_sent: int = 0
    unknown: int = 0  # may or may not have arrived (a 5xx, a timeout, a dropped connection)
    interrupted: int = 0  # of the unknown: in flight when a process died
    in_flight: int = 0  # of the waiting: claimed or sending (a pause does not stop these)
    channels: tuple[ChannelFigures, ...] = ()  # per channel, Telegram first

    @property
    def done(self) -> int:
        """Rows that reached a final state."""
        return self.sent + self.failed + self.blocked + self.cancelled + self.unknown

    @property
    def answered(self) -> int:
        """Rows whose send got an outcome (everything done but the cancelled)."""
        return self.done - self.cancelled


@dataclass(frozen=True)
class Pace:
    """How fast a broadcast went: rows answered a second, over this many seconds of sending."""

    rate: float
    seconds: float


async def people_count(session: AsyncSession, broadcast_id: int) -> int:
    """How many people a launched broadcast is for (each once, however many channels)."""
    return (await repo.people_counts(session=session, broadcast_id=broadcast_id)).people


async def progress(session: AsyncSession, broadcast_id: int) -> Progress:
    """The current figures of a broadcast."""
    counts = await repo.counts(session=session, broadcast_id=broadcast_id)
    in_groups = await groups_repo.receipt_total(session=session, broadcast_id=broadcast_id)
    per_channel = await repo.counts_by_channel(session=session, broadcast_id=broadcast_id)
    people = await repo.people_counts(session=session, broadcast_id=broadcast_id)
    return Progress(
        channels=tuple(_channel_figures(c, per_channel[c]) for c in sorted(per_channel)),
        total=sum(counts[s.value] for s in DeliveryStatus),
        sent=counts[DeliveryStatus.SENT],
        failed=counts[DeliveryStatus.FAILED],
        blocked=counts[DeliveryStatus.BLOCKED],
        cancelled=counts[DeliveryStatus.CANCELLED],
        waiting=counts[DeliveryStatus.PENDING]
        + counts[DeliveryStatus.CLAIMED]
        + counts[DeliveryStatus.SENDING],
        acked=people.acked + in_groups,
        people_sent=people.reached,
        unknown=counts[DeliveryStatus.UNKNOWN],
        interrupted=counts["interrupted"],
        in_flight=counts[DeliveryStatus.CLAIMED] + counts[DeliveryStatus.SENDING],
    )


def _channel_figures(channel: str, counts: dict[str, int]) -> ChannelFigures:
    waiting = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED, DeliveryStatus.SENDING)
    return ChannelFigures(
        channel=channel,
        total=sum(counts.values()),
        sent=counts.get(DeliveryStatus.SENT, 0),
        failed=counts.get(DeliveryStatus.FAILED, 0) + counts.get(DeliveryStatus.BLOCKED, 0),
        unknown=counts.get(DeliveryStatus.UNKNOWN, 0),
        waiting=sum(counts.get(status, 0) for status in waiting),
    )


async def resend_unconfirmed(session: AsyncSession, broadcast: Broadcast, *, now: datetime) -> int:
    """Queue again the rows whose delivery is unknown (the admin accepted possible doubles).

    A finished broadcast runs again with a new status message; a paused one stays paused.
    """
    if broadcast.status in (BroadcastStatus.CANCELLED, BroadcastStatus.DRAFT):
        raise BroadcastError("broadcast.not_possible_now")
    count = await repo.requeue_unconfirmed(session=session, broadcast_id=broadcast.id)
    if count == 0:
        raise BroadcastError("broadcast.nothing_unconfirmed")
    if broadcast.status == BroadcastStatus.DONE:
        broadcast.status = BroadcastStatus.RUNNING
        broadcast.finished_at = None
        broadcast.progress_message_id = None
        broadcast.started_at = broadcast.started_at or now
    await session.flush()
    return count


async def receipt_lists(
    session: AsyncSession, broadcast_id: int, limit: int
) -> tuple[list[User], list[User]]:
    """Up to ``limit`` users who have acknowledged, and who got it and have not."""
    return await repo.receipt_lists(session=session, broadcast_id=broadcast_id, limit=limit)
