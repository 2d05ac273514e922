"""Users, roles, invites and access requests: who may use the bot, and as what."""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.common.i18n import DEFAULT_LOCALE, normalize_locale
from bot.services.errors import UserError
from storage import orgs_repo, users_repo
from storage.models import AccessRequest, AccessRequestStatus, Invite, Org, Role, User

INVITE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (l/1, o/0)
INVITE_LENGTH = 10
DEFAULT_INVITE_TTL = timedelta(days=7)
MAX_INVITE_USES = 10_000
NAME_MIN, NAME_MAX = 2, 40
_DURATION = re.compile(r"^(\d{1,4})\s*([dhm])$")
# An invite code typed as a message (WeCom has no deep links): "邀请码 CODE", "invite CODE",
# "/start CODE" (any code, so a wrong one is told so), the invite's t.me link pasted, or a bare
# word of the invite alphabet and length (so chatter is not read as a code).
_CODE_SAID = re.compile(
    r"(?:/start(?:@\w+)?|(?:我的)?邀请码(?:是|为)?|invite(?:\s+code)?(?:\s+is)?"
    r"|(?:https?://)?t\.me/\w+\?start=)\s*[:：]?\s*([a-z0-9]{1,32}(?: [a-z0-9]{1,4})*)",
    re.IGNORECASE,
)
_CODE_BARE = re.compile(f"[{INVITE_ALPHABET}]{{{INVITE_LENGTH}}}", re.IGNORECASE)
# How phones dress a pasted or typed code: brackets and quotes around it, the IME's full stop
# after it (full-width letters, digits and spaces are made plain by NFKC first).
_DRESSING = re.compile(r"[【】\[\]「」『』《》<>()（）“”\"‘’']")
_CLOSING = " 。.,，、!！;；~～"


class AccessError(UserError):
    """A refusal with a message key for the user."""


def parse_duration(text: str) -> timedelta:
    """``7d``, ``12h`` or ``30m``."""
    match = _DURATION.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise AccessError("invite.bad_duration", text=text)
    amount, unit = int(match.group(1)), match.group(2)
    return {
        "d": timedelta(days=amount),
        "h": timedelta(hours=amount),
        "m": timedelta(minutes=amount),
    }[unit]


async def create_invite(
    session: AsyncSession,
    *,
    org_id: int,
    role: Role,
    now: datetime,
    uses: int = 1,
    ttl: timedelta = DEFAULT_INVITE_TTL,
    created_by: int | None = None,
) -> Invite:
    """A new invite code for an org and role."""
    if not 1 <= uses <= MAX_INVITE_USES:
        raise AccessError("invite.bad_uses", limit=MAX_INVITE_USES)
    if await orgs_repo.get_org(session=session, org_id=org_id) is None:
        raise AccessError("org.unknown", org_id=org_id)
    code = random_code(INVITE_LENGTH)
    invite = Invite(
        code=code,
        org_id=org_id,
        role=role,
        max_uses=uses,
        expires_at=now + ttl,
        created_by=created_by,
        created_at=now,
    )
    session.add(invite)
    await session.flush()
    return invite


def random_code(length: int) -> str:
    """An unguessable code of the invite alphabet (invites, link codes)."""
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(length))


@dataclass(frozen=True)
class TypedInvite:
    """An invite code read from a message, and whether it was said to be one (邀请码 …, invite
    …, its link) rather than sent as a bare word of the code's shape."""

    code: str
    said: bool


def code_text(text: str) -> str:
    """A message as a typed code is read: NFKC (９ｖｒｕ → 9vru, the full-width space), the
    brackets and quotes around a code made spaces, spaces collapsed, the closing punctuation
    an IME adds (。) cut."""
    plain = _DRESSING.sub(" ", unicodedata.normalize("NFKC", text))
    return " ".join(plain.split()).strip(_CLOSING)


def joined_code(token: str) -> str:
    """A code typed in groups (9vru yxf6 d5) as one word; other spaced text is left as is
    (groups of up to four, as codes are read out, so words are not run together)."""
    parts = token.split(" ")
    return "".join(parts) if all(1 <= len(part) <= 4 for part in parts) else token


def typed_invite(text: str) -> TypedInvite | None:
    """The invite code a message consists of, or None when it is something else."""
    typed = code_text(text)
    said = _CODE_SAID.fullmatch(typed)
    if said is not None:
        return TypedInvite(joined_code(said.group(1)).lower(), True)
    bare = joined_code(typed)
    return TypedInvite(bare.lower(), False) if _CODE_BARE.fullmatch(bare) else None


def start_payload(args: str) -> str:
    """The code after /start as a phone may have typed it (CODE。, ９ｖｒｕ…, 9vru yxf6 d5)."""
    return joined_code(code_text(args)).split(" ")[0] if args.strip() else ""


def typed_invite_code(text: str) -> str | None:
    """The code of `typed_invite`, or None."""
    typed = typed_invite(text)
    return typed.code if typed is not None else None


async def invite_exists(session: AsyncSession, code: str) -> bool:
    """Whether an invite (in any state) has this code."""
    return await users_repo.get_invite(session=session, code=code.lower()[:32]) is not None


def invite_link(bot_username: str, code: str) -> str:
    """The deep link that opens the bot with the invite code."""
    return f"https://t.me/{bot_username}?start={code}"


@dataclass(frozen=True)
class InviteLinks:
    """Invite deep links of this bot (BOT_USERNAME), for the flows that show them."""

    bot_username: str

    def link(self, code: str) -> str:
        """The deep link of an invite code."""
        return invite_link(self.bot_username, code)

    def share(self, code: str) -> str:
        """Telegram's share dialog, with the invite's link filled in."""
        return "https://t.me/share/url?" + urlencode({"url": self.link(code)})


async def usable_invite(session: AsyncSession, code: str, now: datetime) -> Invite:
    """The invite behind a code, or the reason it cannot be used."""
    invite = await users_repo.get_invite(session=session, code=code.strip().lower()[:32])
    if invite is None:
        raise AccessError("invite.unknown")
    if invite.revoked_at is not None:
        raise AccessError("invite.revoked")
    if invite.expires_at <= now:
        raise AccessError("invite.expired")
    if invite.used >= invite.max_uses:
        raise AccessError("invite.used_up")
    return invite


def clean_name(text: str) -> str:
    """A real name as typed, checked for length and content."""
    name = " ".join(text.split())
    if len(name) < NAME_MIN or len(name) > NAME_MAX:
        raise AccessError("register.bad_name_length", min=NAME_MIN, max=NAME_MAX)
    if name.startswith("/") or not all(_name_char(ch) for ch in name):
        raise AccessError("register.bad_name")
    return name


# Names carry letters, spaces and the joiners of names (阿依古丽·买买提, O'Neil, J. Smith);
# digits or sentence punctuation mean something else was typed (an activity report, a phone).
_NAME_JOINERS = frozenset(" ·•・.'-’")


def _name_char(ch: str) -> bool:
    return ch.isalpha() or ch in _NAME_JOINERS


async def register_with_invite(
    session: AsyncSession,
    *,
    user: User,
    invite_id: int,
    real_name: str,
    now: datetime,
) -> User:
    """Attach a user to the invite's org and role, using one of its uses."""
    invite = await session.get(Invite, invite_id)
    if invite is None:
        raise AccessError("invite.no_longer_valid")
    if not await users_repo.consume_invite(session=session, invite_id=invite_id, now=now):
        await session.refresh(invite)  # what changed while the form was being filled in
        raise AccessError(_lapsed_key(invite, now))
    _attach(user, org_id=invite.org_id, role=invite.role, now=now, real_name=real_name)
    await session.flush()
    return user


def _lapsed_key(invite: Invite, now: datetime) -> str:
    """Why an invite that was usable when the form opened can no longer register anyone."""
    if invite.revoked_at is not None:
        return "invite.withdrawn_while_filling"  # an admin's choice, not the clock
    if invite.used >= invite.max_uses:
        return "invite.used_up_while_filling"
    return "invite.expired_while_filling"


def _attach(
    user: User, *, org_id: int, role: Role, now: datetime, real_name: str | None = None
) -> None:
    """Make ``user`` an active member of an org in a role (keeping their name unless given)."""
    if real_name is not None:
        user.real_name = real_name
    user.org_id, user.role, user.active, user.registered_at = org_id, role, True, now
    user.deactivated_at = None


def user_locale(user: User | None, default: str = DEFAULT_LOCALE) -> str:
    """The user's chosen language, else their Telegram app's, else the default."""
    if user is None:
        return default
    return user.locale or normalize_locale(user.language_code, default)


def is_deactivated(user: User | None) -> bool:
    """Whether an admin deactivated the user (who then uses nothing a member may)."""
    return user is not None and user.deactivated_at is not None


def is_registered(user: User | None) -> bool:
    """Whether the user has an org and a role."""
    return user is not None and user.org_id is not None and user.role is not None and user.active


@dataclass(frozen=True)
class Scope:
    """What an admin (or a superadmin) may see and act on."""

    org: Org | None  # None: everything (a superadmin)

    def covers(self, org: Org) -> bool:
        """Whether ``org`` lies in this scope."""
        return self.org is None or orgs_repo.contains(self.org, org)


async def admin_scope(session: AsyncSession, user: User | None, superadmin: bool) -> Scope | None:
    """The subtree a user administers; None when they are no admin."""
    if superadmin:
        return Scope(None)
    if not is_registered(user) or user.role != Role.ADMIN:  # type: ignore[union-attr]
        return None
    org = await orgs_repo.get_org(session=session, org_id=user.org_id)  # type: ignore[union-attr,arg-type]
    return Scope(org) if org else None


async def grant_admin(
    session: AsyncSession, *, telegram_id: int, org_id: int, now: datetime
) -> User:
    """Make a Telegram user an admin of an org (the CLI's bootstrap)."""
    if await orgs_repo.get_org(session=session, org_id=org_id) is None:
        raise AccessError("org.unknown", org_id=org_id)
    user = await users_repo.upsert_user(
        session=session, telegram_id=telegram_id, username=None, now=now, seen=False
    )
    _attach(user, org_id=org_id, role=Role.ADMIN, now=user.registered_at or now)
    await session.flush()
    return user


async def request_access(
    session: AsyncSession,
    *,
    telegram_id: int,
    real_name: str,
    org_id: int,
    role: Role,
    now: datetime,
) -> tuple[AccessRequest, list[User]]:
    """File an access request; returns it and the admins to notify."""
    if await users_repo.pending_request(session=session, telegram_id=telegram_id):
        raise AccessError("access.already_pending")
    org = await orgs_repo.get_org(session=session, org_id=org_id)
    if org is None:
        raise AccessError("org.unknown", org_id=org_id)
    request = AccessRequest(
        telegram_id=telegram_id, real_name=real_name, org_id=org_id, role=role, created_at=now
    )
    session.add(request)
    await session.flush()
    return request, await nearest_admins(session, org)


async def nearest_admins(session: AsyncSession, org: Org) -> list[User]:
    """The admins of the org itself, or else of its nearest ancestor that has any."""
    return (await reviewers(session, org))[1]


async def reviewers(session: AsyncSession, org: Org) -> tuple[Org | None, list[User]]:
    """Who decides an access request to ``org``: the org itself or its nearest ancestor that
    has admins, and those admins (None and none: only the superadmins can)."""
    chain = await orgs_repo.ancestors(session=session, org=org)
    for candidate in reversed(chain):
        admins = await users_repo.admins_of(session=session, org_ids=[candidate.id])  # type: ignore[list-item]
        if admins:
            return candidate, list(admins)
    return None, []


async def pending_requests(
    session: AsyncSession, scope: Scope, *, limit: int
) -> tuple[list[AccessRequest], int]:
    """The access requests waiting in an admin's subtree (oldest first, up to ``limit``) and
    how many wait in all: what /requests lists."""
    return await users_repo.pending_requests_within(session=session, within=scope.org, limit=limit)


REASON_MAX = 200  # a rejection's reason: a sentence or two the applicant reads


def clean_reason(text: str) -> str:
    """A rejection's reason as typed, on one line and checked for length."""
    reason = " ".join(text.split())
    if not reason or len(reason) > REASON_MAX or reason.startswith("/"):
        raise AccessError("access.bad_reason", limit=REASON_MAX)
    return reason


async def reviewable_request(
    session: AsyncSession, *, request_id: int, admin: User | None, superadmin: bool
) -> AccessRequest:
    """A request still waiting that this admin may decide (their subtree), or the refusal."""
    request = await session.get(AccessRequest, request_id)
    if request is None:
        raise AccessError("access.unknown")
    org = await orgs_repo.get_org(session=session, org_id=request.org_id)
    scope = await admin_scope(session, admin, superadmin)
    if org is None or scope is None or not scope.covers(org):
        raise AccessError("access.not_your_org")
    if request.status != AccessRequestStatus.PENDING:
        raise AccessError("access.already_decided")
    return request


async def decide_access(
    session: AsyncSession,
    *,
    request_id: int,
    approve: bool,
    admin: User | None,
    superadmin: bool,
    now: datetime,
    reason: str | None = None,
) -> AccessRequest:
    """Approve or reject a request (a rejection may say why), checking the admin's subtree;
    registers on approval."""
    request = await reviewable_request(
        session, request_id=request_id, admin=admin, superadmin=superadmin
    )
    status = AccessRequestStatus.APPROVED if approve else AccessRequestStatus.REJECTED
    decider = admin.telegram_id if admin else 0
    if not await users_repo.decide_request(
        session=session,
        request_id=request_id,
        status=status,
        admin_id=decider,
        now=now,
        reason=None if approve else reason,
    ):
        raise AccessError("access.already_decided")
    await session.refresh(request)
    if approve:
        user = await users_repo.upsert_user(
            session=session, telegram_id=request.telegram_id, username=None, now=now, seen=False
        )
        _attach(
            user, org_id=request.org_id, role=request.role, now=now, real_name=request.real_name
        )
        await session.flush()
    return request


async def person_key(session: AsyncSession, telegram_id: int) -> int:
    """The key of the person a Telegram account belongs to (another channel's address, when
    the account was linked to a person who came first there)."""
    return await users_repo.key_of_telegram(session=session, telegram_id=telegram_id)


async def get_user(session: AsyncSession, telegram_id: int) -> User | None:
    """A user by Telegram id."""
    return await users_repo.get_user(session=session, telegram_id=telegram_id)


async def pending_request(session: AsyncSession, telegram_id: int) -> AccessRequest | None:
    """The user's access request still waiting for an admin, if any."""
    return await users_repo.pending_request(session=session, telegram_id=telegram_id)


async def declined_request(session: AsyncSession, telegram_id: int) -> AccessRequest | None:
    """The user's last access request when an admin turned it down (and none came since)."""
    latest = await users_repo.latest_request(session=session, telegram_id=telegram_id)
    return latest if latest and latest.status == AccessRequestStatus.REJECTED else None
