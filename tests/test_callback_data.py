"""Typed callback data: pack/parse round trips, the 64-byte limit, and one family per press."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import CallbackQuery, Update, User
from telegram.ext import CallbackQueryHandler

from bot.app import FORMS, build_application
from bot.flows.base import Action
from bot.flows.callback_data import (
    FAMILIES,
    MAX_BYTES,
    AccessDecisionButton,
    AccessListButton,
    AccessRequestButton,
    ActivityButton,
    ActivityListButton,
    AskMoreButton,
    AskSectionButton,
    CallbackData,
    CallbackDataError,
    DocumentButton,
    FormButton,
    GroupBindButton,
    GroupReceiptButton,
    InviteNewButton,
    InviteRevokeButton,
    InvitesButton,
    LanguageButton,
    LinkNewButton,
    MemberButton,
    MemberChangeButton,
    MemberEditButton,
    MembersButton,
    MembersFilterButton,
    NoticeButton,
    PushedButton,
    QuickLogButton,
    ReachButton,
    ReceiptButton,
    ReminderDeleteButton,
    SameAsLastButton,
    StatsButton,
    TaskButton,
    family_of,
    find_any,
)
from offline.bot_api import OfflineBotAPI

BIG = 999_999_999  # the largest number a family carries (nine digits)
TOKEN = "ffffffff"  # a member's fingerprint (crc32 in hex) or a form's token, at their longest
# The longest data each family sends: ids at nine digits, strings at their longest in practice.
LARGEST: list[CallbackData] = [
    FormButton("ffff" + "fffff", Action.CANCEL_YES, "99"),
    LanguageButton("zh_CN"),
    AccessRequestButton(),
    AccessDecisionButton(BIG, False, listed=True),
    AccessListButton(),
    ReminderDeleteButton(BIG),
    QuickLogButton(),
    SameAsLastButton(),
    ActivityListButton("mine", BIG, BIG),
    ActivityButton("delete-yes", BIG, f"o{BIG}"),
    PushedButton(BIG),
    StatsButton("e", "children", BIG, BIG),
    AskMoreButton(BIG),
    AskSectionButton(True, BIG, f"0123456789ab:{BIG}"),  # doc_id: 12 hex digits
    DocumentButton("remove-yes", "0123456789ab"),
    TaskButton("submissions", BIG, BIG),
    NoticeButton(BIG, "resend-yes"),
    ReceiptButton(BIG),
    GroupReceiptButton(BIG),
    GroupBindButton(BIG),
    MembersButton(BIG, "a", BIG),
    MembersFilterButton("a"),
    MemberButton(BIG, f"{BIG}.a.{BIG}"),
    MemberEditButton("role", BIG, TOKEN, f"{BIG}.a.{BIG}"),
    MemberChangeButton(True, BIG, TOKEN, f"m{BIG}", f"{BIG}.a.{BIG}"),
    InvitesButton(BIG),
    InviteRevokeButton(BIG, BIG),
    InviteNewButton(),
    LinkNewButton(),
    ReachButton("last"),
]
GROUP_ONLY = {GroupReceiptButton, GroupBindButton}  # pressed under group messages only


def test_every_family_has_its_largest_example():
    assert {type(example) for example in LARGEST} == set(FAMILIES.values())


@pytest.mark.parametrize("example", LARGEST, ids=lambda e: type(e).__name__)
def test_the_largest_data_of_each_family_fits_and_reads_back(example: CallbackData):
    data = example.pack()
    assert len(data.encode("utf-8")) <= MAX_BYTES, data
    assert type(example).parse(data) == example
    assert family_of(data) is type(example) and find_any(data) == example


def test_every_form_field_fits_in_an_edit_button():
    # The edit button of a summary carries the field's name: the longest must fit.
    names = {spec.name for form in FORMS for spec in form.fields}
    assert names
    for name in names:
        button = FormButton("ffff" + "fffff", Action.EDIT, name)
        assert FormButton.parse(button.pack()) == button


def test_data_over_64_bytes_is_refused_when_packed():
    with pytest.raises(CallbackDataError, match="64 bytes"):
        AskSectionButton(True, 1, "x" * 60).pack()
    with pytest.raises(CallbackDataError):
        TaskButton("fill", 10**9).pack()  # ten digits: beyond what a button carries


def test_trailing_defaults_are_implied():
    assert TaskButton("fill", 7).pack() == "task:fill:7"  # as the old reminders' buttons
    assert MembersButton().pack() == "members"
    assert FormButton("ab12", Action.BACK).pack() == "form:ab12:back"
    assert TaskButton.parse("task:board:5") == TaskButton("board", 5)
    assert TaskButton.parse("task:board:5:2") == TaskButton("board", 5, 2)


def test_buttons_sent_before_the_families_still_read_where_they_live_for_days():
    assert ReceiptButton.parse("bca|12") == ReceiptButton(12)
    assert GroupReceiptButton.parse("bcg|12") == GroupReceiptButton(12)
    assert AccessDecisionButton.parse("ar|3|y") == AccessDecisionButton(3, True)
    assert ReceiptButton(12).pack() == "read:12"  # new buttons get the readable prefix
    assert ReceiptButton.find("bca:12") is None and ReceiptButton.find("read|12") is None


@pytest.mark.parametrize(
    "data",
    [
        "task:fill",
        "task:fill:x",
        "task:fill:1:2",
        "task:submissions:1",
        "task:board:1:2:3",
        "task:fill:-1",
        "task:fill:²",
        "task:fill:０",
        "task:fill: 1",
        "task:fill:0123456789",
        "task",
        "task|fill|1",
        "tasks:fill:1",
        "lang:xx",
        "access:1:maybe",
        "doc:remove",
        "doc:keep:abc",
        "log:open:1:x",
        "",
        ":",
    ],
)
def test_malformed_data_is_refused(data: str):
    assert find_any(data) is None
    for family in set(FAMILIES.values()):
        with pytest.raises(CallbackDataError):
            family.parse(data)


def test_a_prefix_is_taken_once():
    with pytest.raises(ValueError, match="taken"):

        @dataclasses.dataclass(frozen=True)
        class Again(CallbackData, prefix="task"):
            """A second family under a prefix that is taken."""

    with pytest.raises(ValueError, match="malformed"):

        @dataclasses.dataclass(frozen=True)
        class Odd(CallbackData, prefix="st|x"):
            """A prefix with a separator in it."""

    assert FAMILIES["task"] is TaskButton


# --- generated buttons ------------------------------------------------------------------------

WORDS = ["", "zh_CN", "en", "m", "o12", "0.l.8", "abc:3", "ff00aa11", "x|y", "汉字"]


def _values(hint: Any) -> st.SearchStrategy[Any]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return st.one_of(*(_values(option) for option in typing.get_args(hint)))
    if hint is type(None):
        return st.none()
    if typing.get_origin(hint) is Literal:
        return st.sampled_from(typing.get_args(hint))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return st.sampled_from(list(hint))
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers(0, BIG)
    return st.one_of(st.sampled_from(WORDS), st.text(max_size=12))


@st.composite
def buttons(draw: st.DrawFn) -> tuple[CallbackData, str]:
    """A button of any family, and its data (when it packs: some draws are too long)."""
    family = draw(st.sampled_from(sorted(set(FAMILIES.values()), key=lambda f: f.prefix)))
    hints = typing.get_type_hints(family)
    values = {f.name: draw(_values(hints[f.name])) for f in dataclasses.fields(family)}
    try:
        button = family(**values)
        return button, button.pack()
    except (ValueError, CallbackDataError):  # the family's own checks, or over 64 bytes
        return draw(st.sampled_from(LARGEST)), ""


@given(buttons())
def test_pack_and_parse_round_trip_and_no_other_family_reads_the_data(drawn):
    button, data = drawn
    data = data or button.pack()
    assert len(data.encode("utf-8")) <= MAX_BYTES
    assert type(button).parse(data) == button
    others = [f for f in set(FAMILIES.values()) if f is not type(button)]
    assert [f for f in others if f.find(data) is not None] == []
    assert family_of(data) is type(button)


# --- handlers ---------------------------------------------------------------------------------


def _press(data: str) -> Update:
    user = User(1, "li", is_bot=False)
    return Update(1, callback_query=CallbackQuery("1", user, "chat", data=data))


def test_each_press_is_claimed_by_exactly_one_handler_whatever_the_order(settings, clock):
    # Group 0 holds the private chat's handlers; the last (no pattern) answers stale buttons.
    app = build_application(settings, request=OfflineBotAPI(), clock=clock, migrate=False)
    buttons = [
        h for h in app.handlers[0] if isinstance(h, CallbackQueryHandler) and h.pattern
    ]
    assert all(callable(h.pattern) for h in buttons)  # derived from families, never a regex
    for example in LARGEST:
        claimed = [h for h in buttons if h.check_update(_press(example.pack()))]
        assert len(claimed) == (0 if type(example) in GROUP_ONLY else 1), example
    for old in ("st|req", "st|s|m|1|", "bca|1", "f|ab12|c|0"):
        claimed = [h for h in buttons if h.check_update(_press(old))]
        assert len(claimed) == (1 if old == "bca|1" else 0), old  # a receipt still counts


def test_a_separator_in_a_field_before_implied_defaults_is_refused():
    # InviteRevokeButton(invite, offset=0) packs as ``invite-revoke:<invite>``; a string field
    # in that place holding ":" would read back as two fields.
    with pytest.raises(CallbackDataError, match="only the last field"):
        MemberEditButton("role", 1, "a:b", "0..0").pack()
    assert DocumentButton.parse(DocumentButton("remove", "a:b").pack()).doc == "a:b"
