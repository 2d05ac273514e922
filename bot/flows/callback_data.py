"""Typed callback data: one dataclass per button family, packed into ``prefix:field:field``.

In the style of aiogram's ``CallbackData``: a family declares its prefix and its fields,
``pack()`` writes the string a button carries (and raises when it would pass Telegram's
64 bytes), ``parse()`` reads it back or raises `CallbackDataError`, and ``filter()`` is the
``pattern`` of a ``CallbackQueryHandler``. A press is matched by the text before the first
separator, which names exactly one family, so no family can take another's data and the
order of registration does not matter.

Field types: ``int`` (1-9 ASCII digits: every integer column holds it, and forged huge or
odd digits never reach a query), ``bool`` (``y``/``n``), ``str``, a ``StrEnum``, a
``Literal`` of strings, and any of these ``| None`` (written as nothing). Only the last field
may contain the separator (a passage id ``doc:3``). Trailing fields left at their defaults
are not written, so ``task:fill:7`` needs no empty tail.

A family whose buttons stay in chats for days (a notice's 已阅) may name the prefix its data
had before these classes (``legacy``); such old data, ``|``-separated with the same fields,
still parses. This module imports nothing of Telegram: flows build buttons with it.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, Literal, Self

from bot.common.i18n import SUPPORTED
from bot.flows.base import Action, button_number

MAX_BYTES = 64  # Telegram's limit on callback_data
SEPARATOR = ":"
LEGACY_SEPARATOR = "|"
_PREFIX = re.compile(r"[a-z][a-z0-9-]*")
_HEAD = re.compile(r"[:|]")
_BOOLS = {"y": True, "n": False}

FAMILIES: dict[str, type[CallbackData]] = {}  # every prefix (and legacy prefix) -> its family


class CallbackDataError(ValueError):
    """Data that is not a button of the family: old, malformed or forged (or too long)."""


@dataclasses.dataclass(frozen=True)
class CallbackData:
    """Base of the button families; subclass with ``prefix=`` (and a ``@dataclass``)."""

    prefix: ClassVar[str]
    legacy: ClassVar[str | None]

    def __init_subclass__(cls, *, prefix: str, legacy: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in filter(None, (prefix, legacy)):
            if not _PREFIX.fullmatch(name) or name in FAMILIES:
                raise ValueError(f"callback prefix {name!r} is malformed or taken")
            FAMILIES[name] = cls
        cls.prefix, cls.legacy = prefix, legacy

    def pack(self) -> str:
        """The callback data; raises `CallbackDataError` when it cannot be one."""
        fields = dataclasses.fields(self)
        texts = [_write(spec, getattr(self, spec.name)) for spec in fields]
        if any(SEPARATOR in text for text in texts[:-1]):
            raise CallbackDataError(f"{self!r}: only the last field may hold {SEPARATOR!r}")
        kept = len(texts)
        while kept and getattr(self, fields[kept - 1].name) == _default_of(fields[kept - 1]):
            kept -= 1  # trailing defaults are implied: parse fills them in
        data = SEPARATOR.join([self.prefix, *texts[:kept]])
        if len(data.encode("utf-8")) > MAX_BYTES:
            raise CallbackDataError(f"callback data over {MAX_BYTES} bytes: {data!r}")
        return data

    @classmethod
    def parse(cls, data: object) -> Self:
        """The button ``data`` stands for; `CallbackDataError` when it is not one of ours."""
        if not isinstance(data, str):
            raise CallbackDataError(f"not text: {data!r}")
        head, sep = _split_head(data)
        if head == cls.prefix and sep in ("", SEPARATOR):
            return cls._from_parts(data, sep)
        if head == cls.legacy and sep in ("", LEGACY_SEPARATOR):
            return cls._from_parts(data, sep)
        raise CallbackDataError(f"not a {cls.__name__}: {data!r}")

    @classmethod
    def find(cls, data: object) -> Self | None:
        """The button ``data`` stands for, or None."""
        try:
            return cls.parse(data)
        except CallbackDataError:
            return None

    @classmethod
    def filter(cls, rule: Callable[[Self], bool] | None = None) -> Callable[[object], bool]:
        """A ``CallbackQueryHandler`` pattern: data of this family (for which ``rule`` holds)."""

        def matches(data: object) -> bool:
            found = cls.find(data)
            return found is not None and (rule is None or rule(found))

        return matches

    @classmethod
    def _from_parts(cls, data: str, sep: str) -> Self:
        fields = dataclasses.fields(cls)
        raw = data.split(sep, len(fields))[1:] if sep else []  # the last field takes the rest
        hints = _hints(cls)
        values: dict[str, Any] = {}
        for index, spec in enumerate(fields):
            if index < len(raw):
                values[spec.name] = _read(hints[spec.name], raw[index], data)
            elif _default_of(spec) is dataclasses.MISSING:
                raise CallbackDataError(f"{spec.name} missing: {data!r}")
        try:
            return cls(**values)
        except (TypeError, ValueError) as error:  # the family's own checks (__post_init__)
            raise CallbackDataError(f"{data!r}: {error}") from error


def family_of(data: object) -> type[CallbackData] | None:
    """The family whose prefix ``data`` starts with (whether or not the rest is valid)."""
    return FAMILIES.get(_split_head(data)[0]) if isinstance(data, str) else None


def parse_any(data: object) -> CallbackData:
    """The button ``data`` stands for, of whichever family; `CallbackDataError` if none."""
    family = family_of(data)
    if family is None:
        raise CallbackDataError(f"no family: {data!r}")
    return family.parse(data)


def find_any(data: object) -> CallbackData | None:
    """The button ``data`` stands for, of whichever family, or None."""
    try:
        return parse_any(data)
    except CallbackDataError:
        return None


def family_words() -> frozenset[str]:
    """Every word a family's fields may hold (its literals, enums and booleans)."""
    words: set[str] = set()
    for family in set(FAMILIES.values()):
        for hint in _hints(family).values():
            words.update(_words_of(hint))
    return frozenset(words)


def _words_of(hint: Any) -> set[str]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return set().union(*(_words_of(option) for option in typing.get_args(hint)))
    if typing.get_origin(hint) is Literal:
        return set(typing.get_args(hint))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {str(member.value) for member in hint}
    return set(_BOOLS) if hint is bool else set()


def _split_head(data: str) -> tuple[str, str]:
    found = _HEAD.search(data)
    return (data[: found.start()], found.group()) if found else (data, "")


def _default_of(spec: dataclasses.Field[Any]) -> Any:
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return spec.default


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    # Resolved once per family: the annotations are strings (from __future__ import annotations).
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _write(spec: dataclasses.Field[Any], value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "y" if value else "n"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, int) and button_number(str(value)) is None:
        raise CallbackDataError(f"{spec.name}={value!r}: not 0-999999999")
    return str(value)


def _read(hint: Any, text: str, data: str) -> Any:
    """``text`` as a value of type ``hint``; `CallbackDataError` when it is not one."""
    options = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if text == "" and type(None) in options:
            return None
        (hint,) = [option for option in options if option is not type(None)]
        options = typing.get_args(hint)
    if typing.get_origin(hint) is Literal:
        if text in options:
            return text
    elif hint is bool:
        if text in _BOOLS:
            return _BOOLS[text]
    elif hint is int:
        if (number := button_number(text)) is not None:
            return number
    elif isinstance(hint, type) and issubclass(hint, enum.Enum):
        if text in {member.value for member in hint}:
            return hint(text)
    elif hint is str:
        return text
    raise CallbackDataError(f"{text!r} is not a {hint}: {data!r}")


# --- the families ----------------------------------------------------------------------------
# Prefixes say what the button is about; every name below is the only one of its prefix.


@dataclasses.dataclass(frozen=True)
class FormButton(CallbackData, prefix="form"):
    """A button of an open form (engine): ``token`` spots a view the form has moved on from."""

    token: str
    action: Action
    arg: str = ""  # a choice's index, or the field to edit


@dataclasses.dataclass(frozen=True)
class LanguageButton(CallbackData, prefix="lang"):
    """/lang: switch to one of the supported languages."""

    code: str

    def __post_init__(self) -> None:
        if self.code not in SUPPORTED:
            raise ValueError(self.code)


@dataclasses.dataclass(frozen=True)
class AccessRequestButton(CallbackData, prefix="access-request"):
    """/start of a stranger: open the access-request form."""


@dataclasses.dataclass(frozen=True)
class AccessDecisionButton(CallbackData, prefix="access", legacy="ar"):
    """An admin approves or rejects an access request (pressed days later, hence ``legacy``)."""

    request: int
    approve: bool
    listed: bool = False  # pressed on /requests' list: the list is shown again after it


@dataclasses.dataclass(frozen=True)
class AccessListButton(CallbackData, prefix="access-list"):
    """The admin's notice of a new request: every request waiting in their subtree."""


@dataclasses.dataclass(frozen=True)
class ReminderDeleteButton(CallbackData, prefix="reminder-delete"):
    """/remind's list: delete one personal reminder."""

    reminder: int


@dataclasses.dataclass(frozen=True)
class QuickLogButton(CallbackData, prefix="log-offer"):
    """"Log it" under the offer made for a message that reads as a report."""


@dataclasses.dataclass(frozen=True)
class SameAsLastButton(CallbackData, prefix="log-same"):
    """/log: a new activity like the last one."""


@dataclasses.dataclass(frozen=True)
class ActivityListButton(CallbackData, prefix="logs"):
    """/mylogs: a page of the user's own activities (``mine``) or of their org's, maybe of a
    kept search."""

    scope: Literal["mine", "org"]
    page: int
    search: int | None = None


@dataclasses.dataclass(frozen=True)
class ActivityButton(CallbackData, prefix="log"):
    """One activity of a list: open it, its photos, edit, delete (ask, then do); ``origin`` is
    the list it was opened from (``m`` or ``o``, then the search id, if any)."""

    action: Literal["open", "photos", "edit", "delete", "delete-yes"]
    activity: int
    origin: str = ""

    def __post_init__(self) -> None:
        if self.origin and not re.fullmatch(r"[mo][0-9]{0,9}", self.origin):
            raise ValueError(self.origin)


@dataclasses.dataclass(frozen=True)
class PushedButton(CallbackData, prefix="pushed"):
    """/pushed: add this many science items pushed today."""

    count: int


StatsMode = Literal["s", "e", "z"]  # /stats, /export's workbook, /export's photos
StatsAction = Literal["month", "quarter", "year", "custom", "children", "pick", "tasks"]


@dataclasses.dataclass(frozen=True)
class StatsButton(CallbackData, prefix="stats"):
    """/stats and /export: a period, the custom range, an org's children or picker, the tasks;
    ``page`` is the offset of a list."""

    mode: StatsMode
    action: StatsAction
    org: int
    page: int | None = None


@dataclasses.dataclass(frozen=True)
class AskMoreButton(CallbackData, prefix="ask-more"):
    """Under an answer: the other passages found for the question."""

    question: int


@dataclasses.dataclass(frozen=True)
class AskSectionButton(CallbackData, prefix="ask-section"):
    """A passage's whole section, a page of it (``turn``: a page turn edits the message)."""

    turn: bool
    page: int
    passage: str  # last: a passage id is ``doc:position``


@dataclasses.dataclass(frozen=True)
class DocumentButton(CallbackData, prefix="doc"):
    """/docs: ask to remove a document, remove it, or keep it."""

    action: Literal["remove", "remove-yes", "keep"]
    doc: str = ""

    def __post_init__(self) -> None:
        if (self.action == "keep") != (self.doc == ""):
            raise ValueError(f"{self.action} of {self.doc!r}")


TaskAction = Literal[
    "fill", "board", "submissions", "submission", "remind", "move", "delete", "delete-yes",
    "delete-no", "export", "files",
]
# Which actions take a second number: a page, an index or an org (optional where 1 or 2).
_TASK_ARG = {"board": None, "files": None, "submissions": True, "submission": True}


@dataclasses.dataclass(frozen=True)
class TaskButton(CallbackData, prefix="task"):
    """Report tasks: fill a cycle, its board, submissions, reminders, move, delete, export."""

    action: TaskAction
    target: int  # a cycle, or a task (export, delete)
    arg: int | None = None  # a page, or the org of a submission or of files

    def __post_init__(self) -> None:
        needed = _TASK_ARG.get(self.action, False)
        if needed is not None and needed != (self.arg is not None):
            raise ValueError(f"{self.action} with arg {self.arg}")


NoticeAction = Literal[
    "preview", "send", "send-paid", "pause", "resume", "cancel", "who", "remind", "resend",
    "resend-yes",
]


@dataclasses.dataclass(frozen=True)
class NoticeButton(CallbackData, prefix="notice"):
    """The admin's buttons of a broadcast: preview, send, pause, who read it, resend …"""

    broadcast: int
    action: NoticeAction


@dataclasses.dataclass(frozen=True)
class ReceiptButton(CallbackData, prefix="read", legacy="bca"):
    """已阅 under a notice in a private chat (pressed days later, hence ``legacy``)."""

    broadcast: int


@dataclasses.dataclass(frozen=True)
class GroupReceiptButton(CallbackData, prefix="group-read", legacy="bcg"):
    """已阅 under a notice in a group: counted per person, the count shown to all."""

    broadcast: int


@dataclasses.dataclass(frozen=True)
class GroupBindButton(CallbackData, prefix="group-bind"):
    """/bindgroup's search: bind the group to this org."""

    org: int


# /members: stateless buttons; ``back`` packs the list to return to (`members.ListState`), and
# ``token`` the person's fingerprint when the card was shown, so an old card changes nothing.
MemberRole = Literal["", "l", "i", "a"]


@dataclasses.dataclass(frozen=True)
class MembersButton(CallbackData, prefix="members"):
    """A page of the list (org 0: the admin's whole subtree; role "" or l/i/a)."""

    org: int = 0
    role: MemberRole = ""
    offset: int = 0


@dataclasses.dataclass(frozen=True)
class MembersFilterButton(CallbackData, prefix="members-org"):
    """Filter the list by org: the org picker."""

    role: MemberRole = ""


@dataclasses.dataclass(frozen=True)
class MemberButton(CallbackData, prefix="member"):
    """A person's card."""

    user: int
    back: str


@dataclasses.dataclass(frozen=True)
class MemberEditButton(CallbackData, prefix="member-edit"):
    """What to change of a person: the roles they may be given, or the org picker to move them."""

    what: Literal["role", "org"]
    user: int
    token: str
    back: str


@dataclasses.dataclass(frozen=True)
class MemberChangeButton(CallbackData, prefix="member-set"):
    """A change to a person: ``d``, ``r``, ``o<role code>`` or ``m<org>``; asked, then made."""

    confirmed: bool
    user: int
    token: str
    change: str
    back: str


@dataclasses.dataclass(frozen=True)
class InvitesButton(CallbackData, prefix="invites"):
    """A page of the open invites."""

    offset: int = 0


@dataclasses.dataclass(frozen=True)
class InviteRevokeButton(CallbackData, prefix="invite-revoke"):
    """Revoke one invite (and show the page it was on)."""

    invite: int
    offset: int = 0


@dataclasses.dataclass(frozen=True)
class InviteNewButton(CallbackData, prefix="invite-new"):
    """Make an invite: the invite form."""


def any_of(*families: type[CallbackData]) -> Callable[[object], bool]:
    """A ``CallbackQueryHandler`` pattern: data of any of these families."""
    return lambda data: any(family.find(data) is not None for family in families)


@dataclasses.dataclass(frozen=True)
class LinkNewButton(CallbackData, prefix="link-new"):
    """/me: a one-time code to link another channel (WeCom, another account) to me."""


@dataclasses.dataclass(frozen=True)
class ReachButton(CallbackData, prefix="reach"):
    """/me: where reminders and notices go, the last channel used or all of mine."""

    reach: str

    def __post_init__(self) -> None:
        if self.reach not in ("last", "all"):  # storage.identity_models.Reach
            raise ValueError(self.reach)
