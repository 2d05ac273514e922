"""One person, several channels: link codes that attach another channel's identity to a person.

A registered person asks for a code in /me; the same code sent from another channel (WeCom's
app, a second Telegram account) by an identity the bot has only just met attaches that
identity to the person. Meeting it made an empty person of its own (`users_repo.meet`,
`upsert_user`); that one is folded into the person (`links_repo.fold_person`). An identity
whose person is or was registered, or has records, is refused: joining two people is an
admin's decision, not a code's.

Codes are 12 characters of the invite alphabet (invites have 10, so neither is read as the
other), about 59 bits: unguessable within their 15 minutes. Only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.errors import UserError
from bot.services.people import (
    INVITE_ALPHABET,
    code_text,
    is_deactivated,
    is_registered,
    random_code,
)
from storage import identities_repo, links_repo
from storage.identity_models import Channel, ChannelIdentity, Reach, address_of, channel_of
from storage.models import User

LINK_LENGTH = 12
LINK_TTL = timedelta(minutes=15)
_GROUP = 4  # shown as xxxx-xxxx-xxxx, easier to read out and type
_LETTER = f"[{INVITE_ALPHABET}]"
_BARE = re.compile(rf"{_LETTER}{{4}}[- ]?{_LETTER}{{4}}[- ]?{_LETTER}{{4}}", re.IGNORECASE)
# A code after its word ("关联 …", "link code …"): read whatever code-like token follows, so
# a mistyped code is told so; a deep link or /start carries the code itself.
_SAID = re.compile(
    r"(?:(?:我的)?关联码?(?:是|为)?|link(?:\s+code)?(?:\s+is)?)\s*[:：]?\s*"
    r"([a-z0-9-]{4,20}|[a-z0-9]{4}(?: [a-z0-9]{4}){2})",
    re.IGNORECASE,
)
_START = re.compile(
    rf"(?:/start(?:@\w+)?\s+|(?:https?://)?t\.me/\w+\?start=)({_BARE.pattern})",
    re.IGNORECASE,
)


class LinkError(UserError):
    """A code that cannot link this identity, with the message that says why."""


@dataclass(frozen=True)
class TypedCode:
    """A link code as typed: its normalised text, and whether its word came with it."""

    code: str
    said: bool


@dataclass(frozen=True)
class Linked:
    """What a code linked: the person, and the identity now theirs."""

    person: User
    identity: ChannelIdentity
    withdrew_request: bool = False  # this identity's pending access request was withdrawn


def shown(code: str) -> str:
    """A code as shown: groups of four."""
    return "-".join(code[i : i + _GROUP] for i in range(0, len(code), _GROUP))


def _normal(text: str) -> str:
    return re.sub(r"[\s-]", "", text).lower()


def typed_link_code(text: str) -> TypedCode | None:
    """The link code a message consists of, or None when it is something else (read as
    invite codes are: `code_text`)."""
    typed = code_text(text)
    said = _SAID.fullmatch(typed) or _START.fullmatch(typed)
    if said is not None:
        return TypedCode(_normal(said.group(1)), True)
    return TypedCode(_normal(typed), False) if _BARE.fullmatch(typed) else None


def is_link_code(payload: str) -> bool:
    """Whether a /start payload has the shape of a link code (invite codes are shorter)."""
    return _BARE.fullmatch(payload) is not None


def _hash(code: str) -> str:
    return hashlib.sha256(_normal(code).encode()).hexdigest()


async def new_code(session: AsyncSession, person: User, now: datetime) -> tuple[str, datetime]:
    """A fresh one-time code of a registered person, and when it expires; older ones end."""
    if not is_registered(person) or person.id is None:
        raise LinkError("link.members_only")
    code = random_code(LINK_LENGTH)
    row = await links_repo.add_link_code(
        session, user_id=person.id, code_hash=_hash(code), now=now, expires_at=now + LINK_TTL
    )
    return code, row.expires_at


async def use_code(
    session: AsyncSession, code: str, *, actor: User, address: int, now: datetime
) -> Linked:
    """Attach the identity at ``address`` (whose person is ``actor``) to the code's person."""
    row = await links_repo.find_link_code(session, _hash(code))
    if row is None:
        raise LinkError("link.unknown")
    if row.used_at is not None:
        raise LinkError("link.used")
    if row.expires_at <= now:
        replaced = await links_repo.replaced(session, row)
        raise LinkError("link.replaced" if replaced else "link.expired")
    person = await session.get(User, row.user_id)
    if person is None or not is_registered(person):
        raise LinkError("link.unknown")
    identity = await identities_repo.identity_at(session, address)
    if identity is None or identity.id is None:
        raise LinkError("link.unknown")
    if actor.id == person.id or identity.user_id == person.id:
        raise LinkError("link.already_yours")
    await _check_foldable(session, actor)
    if not await links_repo.claim_link_code(
        session, code_id=row.id or 0, identity_id=identity.id, now=now
    ):
        raise LinkError("link.used")
    withdrew = await links_repo.fold_person(session, newcomer=actor, into=person)
    person.last_channel = identity.channel
    await session.flush()
    return Linked(person, identity, withdrew)


async def _check_foldable(session: AsyncSession, actor: User) -> None:
    """Refuse an identity whose own person is more than the empty one meeting it made."""
    if is_deactivated(actor) or actor.registered_at is not None or actor.org_id is not None:
        raise LinkError("link.registered_elsewhere")
    if await links_repo.has_records(session, actor.id or 0):
        raise LinkError("link.has_records")


async def identities_of(session: AsyncSession, person: User) -> list[tuple[Channel, str]]:
    """A person's identities as (channel, the channel's own id for them), first one first."""
    rows = await identities_repo.identities_of(session, person.id or 0)
    return _with_key(person, rows)


async def identities_of_people(
    session: AsyncSession, persons: Sequence[User]
) -> dict[int, list[tuple[Channel, str]]]:
    """`identities_of` for several people in one query, by person row id."""
    rows = await identities_repo.identities_of_people(session, [p.id or 0 for p in persons])
    return {p.id or 0: _with_key(p, rows.get(p.id or 0, [])) for p in persons}


def _with_key(person: User, rows: Sequence[ChannelIdentity]) -> list[tuple[Channel, str]]:
    # The key's identity is shown even where its row was never written (people stored before
    # 0012_channel_identity by code other than the migration, or directly by tests).
    found = [(Channel(row.channel), row.external_id) for row in rows]
    key = person.telegram_id
    if not any(address_of(row) == key for row in rows):
        channel = channel_of(key)
        found.insert(0, (channel, str(key) if channel == Channel.TELEGRAM else ""))
    return found


async def identity_at(session: AsyncSession, address: int) -> tuple[Channel, str]:
    """The channel of an address and the channel's own id for it (a Telegram id, a WeCom
    UserID; empty when the bot never stored it): an address is no channel's id."""
    channel = channel_of(address)
    if channel == Channel.TELEGRAM:
        return channel, str(address)
    row = await identities_repo.identity_at(session, address)
    return channel, row.external_id if row is not None else ""


async def channels_of(session: AsyncSession, person: User) -> list[Channel]:
    """The channels a person uses, their first one first, each once."""
    return list(dict.fromkeys(channel for channel, _ in await identities_of(session, person)))


def reach_of(person: User) -> Reach:
    """Where a person's reminders and notices go (an unknown value reads as the default)."""
    try:
        return Reach(person.reach)
    except ValueError:
        return Reach.LAST


async def set_reach(session: AsyncSession, person: User, reach: Reach) -> None:
    """Choose where a person's reminders and notices go."""
    person.reach = reach.value
    await session.flush()
