"""The form engine: fields, a `transitions` state machine, JSON state and views.

A form is declared as a list of `FieldSpec`. Its states are the field names plus ``summary``,
``done`` and ``cancelled``; the triggers are ``advance``, ``back``, ``edit``, ``confirm`` and
``cancel`` (``skip`` is an ``advance`` with an empty value). Where a trigger leads is decided by
the machine: each destination is declared with the conditions that lead there (`_asks`,
`_applies`), and the first that holds wins. One `AsyncMachine` per form is built once; each
update adds the model at its stored step, triggers, and removes it again.

Flows know nothing of Telegram: they take an `Input` and return a `Reply` of message keys.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, overload
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession
from transitions.extensions.asyncio import AsyncMachine

from bot.services.errors import UserError
from bot.services.people import InviteLinks
from bot.services.policy import PolicyLibrary
from storage.models import User

SUMMARY = "summary"
DONE = "done"
CANCELLED = "cancelled"
ALBUM_MAX = 10  # Telegram's media group holds at most ten items
# A number in callback data (a database id, a page, an index): 1-9 ASCII digits, which int()
# always reads and every integer column holds (PostgreSQL's int4 ends at 2,147,483,647).
# Every family's int fields are read with it (bot/flows/callback_data.py), so forged ids never
# reach a query.
_ID = re.compile("[0-9]{1,9}")


@overload
def button_number(text: str) -> int | None: ...


@overload
def button_number(text: str, default: int) -> int: ...


def button_number(text: str, default: int | None = None) -> int | None:
    """The number a part of callback data holds, or ``default`` when it holds none."""
    return int(text) if _ID.fullmatch(text) else default


class Msg:
    """A message key with its parameters; parameters may themselves be `Msg`."""

    __slots__ = ("key", "params")

    def __init__(self, key: str, params: dict[str, Any] | None = None, /, **named: Any) -> None:
        self.key = key
        self.params: dict[str, Any] = {**(params or {}), **named}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Msg) and (self.key, self.params) == (other.key, other.params)

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Msg({self.key!r}, {self.params!r})"

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form (for labels kept in the form state); nested ones included, in a
        list too."""
        return {"key": self.key, "params": {n: _param_json(v) for n, v in self.params.items()}}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Msg:
        """The message `to_json` wrote."""
        return cls(raw["key"], {n: _param_from_json(v) for n, v in raw.get("params", {}).items()})


def _param_json(value: Any) -> Any:
    if isinstance(value, Msg):
        return {NESTED: value.to_json()}
    if isinstance(value, list | tuple):
        return [_param_json(item) for item in value]
    return value


def _param_from_json(value: Any) -> Any:
    if _is_nested(value):
        return Msg.from_json(value[NESTED])
    if isinstance(value, list):
        return [_param_from_json(item) for item in value]
    return value


NESTED = "msg"  # a parameter that is itself a message, in JSON: {"msg": {"key": …, "params": …}}


def _is_nested(value: Any) -> bool:
    return isinstance(value, dict) and list(value) == [NESTED]


class Html(str):
    """Text that is already safe Telegram HTML (built with escaping by the flow itself)."""

    __slots__ = ()


Label = Msg | str  # a str label is shown as it is (an org's name, a user's own words)


@dataclass(frozen=True)
class Button:
    """An inline button: what it says and the callback data it sends (or the link it opens)."""

    label: Label
    data: str = ""
    url: str | None = None  # a link button (sharing an invite) sends no callback


@dataclass(frozen=True)
class Media:
    """A photo or a document: one the channel already holds, by its file id, or one the bot
    made (a QR code), by its bytes and file name, which each channel uploads its own way."""

    kind: str  # "photo" or "document"
    file_id: str = ""
    data: bytes | None = None  # a made file: uploaded, never kept by id
    filename: str = ""

    @classmethod
    def made(cls, kind: str, data: bytes, filename: str) -> Media:
        """A file the bot made, to be uploaded."""
        return cls(kind, data=data, filename=filename)


@dataclass(frozen=True)
class Album:
    """Files shown together; the caption (on the first) says what they belong to."""

    items: tuple[Media, ...]
    caption: Label | None = None


def albums(items: Sequence[Media], caption: Label | None = None) -> list[Album]:
    """Photos and documents as albums of at most ten, sized evenly (11 → 6 + 5, never 10 + 1).

    Telegram's media groups hold 2–10 items and do not mix photos with documents; a lone item
    is sent on its own. With several albums each caption says which part it is.
    """
    groups: list[tuple[Media, ...]] = []
    for kind in ("photo", "document"):
        same = [item for item in items if item.kind == kind]
        count = -(-len(same) // ALBUM_MAX)
        cuts = [-(-index * len(same) // count) for index in range(count + 1)] if count else []
        groups += [tuple(same[a:b]) for a, b in itertools.pairwise(cuts)]
    if len(groups) <= 1 or caption is None:
        return [Album(group, caption) for group in groups]
    return [
        Album(group, Msg("media.album_part", caption=caption, part=number, parts=len(groups)))
        for number, group in enumerate(groups, 1)
    ]


@dataclass(frozen=True)
class Notice:
    """A message for someone else (an admin, the requester), rendered in their language."""

    chat_id: int
    locale: str | None
    reply: Reply


@dataclass
class Reply:
    """What the bot should show: texts, inline buttons, and how to show them."""

    texts: list[Msg]
    buttons: list[list[Button]] = field(default_factory=list)
    edit: bool = False  # the view replaces the form's own message when the input came from it
    toast: Msg | None = None  # the answer to a pressed button
    finished: bool = False  # the form ended: its message keeps no keyboard
    notices: list[Notice] = field(default_factory=list)
    form_view: bool = False  # shows a form step: its message id is remembered for edits
    albums: list[Album] = field(default_factory=list)  # sent after the text, as albums
    quote: bool = False  # a new message replies to the user's (its button may read it back)


class InputKind(StrEnum):
    """What the user sent."""

    TEXT = "text"
    PHOTO = "photo"
    DOCUMENT = "document"
    STICKER = "sticker"
    OTHER = "other"
    ACTION = "action"  # a pressed form button


class Action(StrEnum):
    """Form buttons; the values go into callback data (`callback_data.FormButton`)."""

    CHOICE = "choose"
    BACK = "back"
    SKIP = "skip"
    CANCEL = "cancel"
    CANCEL_YES = "cancel-yes"
    CANCEL_NO = "cancel-no"
    EDIT = "edit"
    CONFIRM = "confirm"
    DONE = "done"


@dataclass(frozen=True)
class Input:
    """One user input to a form."""

    kind: InputKind
    text: str = ""
    file_id: str | None = None
    action: Action | None = None
    arg: str = ""
    token: str | None = None  # the form token a button carried, to spot old messages
    html: str | None = None  # the text as Telegram HTML when the user formatted it in the app


@dataclass(frozen=True)
class SendRates:
    """The delivery pipeline's lanes in messages a second (DELIVERY_RATE, DELIVERY_PAID_RATE),
    for the time a broadcast will take."""

    free: float
    paid: float


@dataclass
class FlowContext:
    """What a flow may use besides its own state: the session, time and who is acting."""

    session: AsyncSession
    now: datetime
    tz: ZoneInfo
    chat_id: int
    user_id: int
    actor: User | None
    first_name: str = ""
    username: str | None = None
    locale: str = "zh_CN"
    superadmin: bool = False
    superadmin_ids: tuple[int, ...] = ()
    # The runtime's long-lived services a flow uses (bot/runtime.py builds them once).
    policy: PolicyLibrary | None = None
    invite_links: InviteLinks | None = None
    forms: Mapping[str, FormSpec] = field(default_factory=dict)  # the forms the engine runs
    in_group: bool = False  # the update came from a group chat: nothing personal is shown
    # The form message id as this update saved it ([id] once saved), so the handler need not
    # read the state back to know which message to edit.
    saved_form_message: list[int | None] | None = None
    # The pipeline's rates (the runtime's settings): a broadcast's time estimates need them.
    send_rates: SendRates | None = None


def said(error: UserError) -> Msg:
    """A service's refusal as the message the user sees."""
    return Msg(error.key, error.params)


class Invalid(UserError):
    """A parser's refusal: the message key (and parameters) of a specific hint."""

    @classmethod
    def of(cls, error: UserError) -> Invalid:
        """A service's refusal as a form step's hint."""
        return cls(error.key, **error.params)

    @property
    def msg(self) -> Msg:
        """The hint as a message."""
        return said(self)


@dataclass(frozen=True)
class Options:
    """A parser's answer "pick one of these": the step stays and shows them as buttons."""

    choices: list[Choice]
    notice: Msg | None = None


@dataclass(frozen=True)
class Choice:
    """A choice button: the stored value and its label."""

    value: Any
    label: Label


Parser = Callable[[Input, FlowContext, "FormModel"], Awaitable[Any]]
# Free text outside a form: a route answers it, or returns None to let the next one try.
TextRoute = Callable[[FlowContext, Input], Awaitable["Reply | None"]]
ChoiceSource = Callable[[FlowContext, "FormModel"], Awaitable[list[Choice]]]
Display = Callable[[Any, "FormModel"], Label]
PromptSource = Callable[[FlowContext, "FormModel"], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class FieldSpec:
    """One step of a form."""

    name: str
    prompt: str
    label: str
    parse: Parser | None = None  # typed input (text, photo …); None: buttons only
    choices: list[Choice] | ChoiceSource | None = None
    optional: bool = False
    # What the skip button of an optional step says (a step whose skip finishes the form
    # says what that does: "✖ 拒绝，不写理由").
    skip_label: str = "form.button.skip"
    multi: bool = False  # several choices, then "done"
    collect: int = 0  # > 0: a list of up to this many inputs (photos), then "done"
    # Stay on a full ``collect`` step until "done": an album's extra item then meets the step's
    # own hint instead of landing on the next step.
    stay_when_full: bool = False
    when: Callable[[dict[str, Any]], bool] | None = None
    display: Display | None = None
    abort: dict[Any, str] = field(default_factory=dict)  # a choice that ends the form, and why
    params: dict[str, Any] = field(default_factory=dict)  # fixed parameters of the prompt
    # A yes / no step: the choice values a typed yes (是的, 对) and a typed no (不是) pick.
    typed_yes_no: dict[bool, Any] = field(default_factory=dict)
    # The choice a typed 下一栏 / 完成 / next picks: a step whose own button moves on (a report
    # section's "下一栏"). A multi or collect step's 完成 needs none.
    next_choice: Any = None
    # What the step is for, with an example: shown when the user asks (这里要填什么？).
    # None: a general "type the {label} itself" above the prompt, whose examples follow.
    help: str | None = None
    # Parameters of the prompt read when it is shown (an example name from the org tree).
    prompt_from: PromptSource | None = None
    in_summary: bool = True  # listed (with an edit button) on the summary
    # False: another line of the summary says this answer (the reach line names the orgs
    # picked): no line of its own, its edit button stays.
    summary_line: bool = True
    # Asked again on every way to the summary, even when answered (a count to refresh).
    revisit: bool = False
    columns: int = 2

    def applies(self, data: dict[str, Any]) -> bool:
        """Whether the step is asked, given the answers so far."""
        return self.when is None or self.when(data)


class FormModel:
    """The state of one form instance; `transitions` sets ``state`` on it."""

    state: str

    def __init__(self, spec: FormSpec, raw: dict[str, Any]) -> None:
        self.spec = spec
        self.data: dict[str, Any] = raw.get("data", {})
        self.ctx: dict[str, Any] = raw.get("ctx", {})
        self.options: list[dict[str, Any]] = raw.get("options", [])
        self.editing: bool = raw.get("editing", False)
        self.pending_cancel: bool = raw.get("pending_cancel", False)
        self.instance: str = raw.get("instance") or secrets.token_hex(2)
        self.counter: int = raw.get("counter", 0)
        self.message_id: int | None = raw.get("message_id")
        # Pre-filled forms (quick log, edit of a saved record) ask only for what is missing.
        self.fill_missing: bool = raw.get("fill_missing", False)

    @property
    def token(self) -> str:
        """Changes at every step, so a button from an older view is recognised."""
        return f"{self.instance}{self.counter:x}"

    def to_json(self) -> str:
        """The whole state as JSON, saved after every step."""
        return json.dumps(
            {
                "data": self.data,
                "ctx": self.ctx,
                "options": self.options,
                "editing": self.editing,
                "pending_cancel": self.pending_cancel,
                "instance": self.instance,
                "counter": self.counter,
                "message_id": self.message_id,
                "fill_missing": self.fill_missing,
            },
            ensure_ascii=False,
            default=str,
        )

    def has_answers(self) -> bool:
        """Whether the user has entered anything worth asking about before cancelling."""
        return any(value not in (None, "", []) for value in self.data.values())


def _asks(spec: FieldSpec) -> Callable[[Any], bool]:
    """Condition: the step is asked on the way forward, given the answers so far.

    Editing from the summary, or filling in a pre-filled form, passes over steps already
    answered, unless the step is asked again every time (``revisit``).
    """

    def check(event: Any) -> bool:
        model = event.model
        if not spec.applies(model.data):
            return False
        passing_answered = model.editing or model.fill_missing
        return spec.revisit or not passing_answered or spec.name not in model.data

    return check


def _applies(spec: FieldSpec) -> Callable[[Any], bool]:
    """Condition: the step is part of the form, given the answers so far ("back" lands there)."""

    def check(event: Any) -> bool:
        return spec.applies(event.model.data)

    return check


def _picked(step: str) -> Callable[[Any], bool]:
    """Condition: the summary's edit button of this step was pressed (``edit(step=…)``)."""

    def check(event: Any) -> bool:
        return event.kwargs.get("step") == step

    return check


def _editing(event: Any) -> bool:
    return event.model.editing


def _start_editing(event: Any) -> None:
    event.model.editing = True


def _reach_summary(event: Any) -> None:
    # Every answer is in: later "advance"s (after an edit) ask only what is missing again.
    event.model.editing = event.model.fill_missing = False


class _SequentialMachine(AsyncMachine):
    """An AsyncMachine made cheap for a model added and removed at every step.

    `transitions` gathers conditions and callbacks, which wraps each in a task of its own: with
    a condition per possible destination, a step spent more on scheduling those tasks than on
    the rest of its form logic. Ours are plain functions, so awaiting them one after the other,
    in their order, gives the same results. Adding a model also binds a method per event
    (``model.advance``, ``model.may_advance``) and per state (``model.is_summary``); the engine
    only calls ``model.trigger(name)``, so those are left out.
    """

    @staticmethod
    async def await_all(callables: Sequence[Callable[[], Any]]) -> list[Any]:
        return [await func() for func in callables]

    def _add_trigger_to_model(self, trigger: str, model: Any) -> None:
        pass

    def _add_model_to_state(self, state: Any, model: Any) -> None:
        pass


class FormSpec:
    """A form definition: subclasses set ``name`` and ``fields`` and implement `on_confirm`."""

    name: ClassVar[str]
    fields: ClassVar[Sequence[FieldSpec]]
    summary_key: ClassVar[str] = "form.summary"
    # A one-step picker: its answer is the whole form, so it confirms without a summary.
    confirm_without_summary: ClassVar[bool] = False
    confirm_label: ClassVar[str] = "form.button.confirm"  # the summary's confirm button
    _machine: AsyncMachine | None = None

    @classmethod
    def steps(cls) -> list[str]:
        """The field steps in order."""
        return [f.name for f in cls.fields]

    @classmethod
    def machine(cls) -> AsyncMachine:
        """The one machine of this form, built on first use."""
        if cls.__dict__.get("_machine") is None:
            cls._machine = _SequentialMachine(
                model=None,
                states=[
                    *cls.steps(),
                    {"name": SUMMARY, "on_enter": _reach_summary},
                    DONE,
                    CANCELLED,
                ],
                transitions=cls.transitions(),
                initial=cls.steps()[0],
                auto_transitions=False,
                send_event=True,
            )
        return cls._machine  # type: ignore[return-value]

    @classmethod
    def transitions(cls) -> list[dict[str, Any]]:
        """Every legal move, declared per destination with the conditions that lead there.

        A trigger's transitions from one state are tried in the order declared and the first
        whose conditions hold is taken: "advance" lands on the nearest later step that is
        asked (else the summary), "back" on the nearest earlier step that applies. "advance"
        from ``done`` starts the next record of a queue (activity.py) at its first missing step.
        """
        steps, fields = cls.steps(), list(cls.fields)
        moves: list[dict[str, Any]] = []
        for i, spec in enumerate(fields):
            moves.append(
                {
                    "trigger": "advance",
                    "source": [*steps[:i], DONE],
                    "dest": spec.name,
                    "conditions": _asks(spec),
                }
            )
        moves.append({"trigger": "advance", "source": [*steps, DONE], "dest": SUMMARY})
        moves.append(
            {"trigger": "back", "source": steps, "dest": SUMMARY, "conditions": _editing}
        )
        for i in reversed(range(len(fields))):
            moves.append(
                {
                    "trigger": "back",
                    "source": [*steps[i + 1 :], SUMMARY],
                    "dest": steps[i],
                    "conditions": _applies(fields[i]),
                    "unless": _editing,
                }
            )
        for step in steps:
            moves.append(
                {
                    "trigger": "edit",
                    "source": SUMMARY,
                    "dest": step,
                    "conditions": _picked(step),
                    "before": _start_editing,
                }
            )
        moves.append({"trigger": "confirm", "source": SUMMARY, "dest": DONE})
        moves.append({"trigger": "cancel", "source": [*steps, SUMMARY], "dest": CANCELLED})
        return moves

    # --- hooks for concrete forms -------------------------------------------------------------

    def confirm_at_once(self, model: FormModel) -> bool:
        """Whether reaching the summary confirms the form without showing it."""
        return self.confirm_without_summary

    async def on_confirm(self, ctx: FlowContext, model: FormModel) -> Reply:
        """Persist the confirmed answers and say what happened."""
        raise NotImplementedError

    async def on_cancel(self, ctx: FlowContext, model: FormModel) -> Reply:
        """What to say when the form is cancelled."""
        return Reply([Msg("form.cancelled")], finished=True)

    def prompt_params(self, ctx: FlowContext, model: FormModel, spec: FieldSpec) -> dict[str, Any]:
        """Parameters for a step's prompt."""
        return {}

    def summary_extra(self, model: FormModel) -> list[Msg]:
        """Lines shown above the summary's fields."""
        return []

    async def prepare_summary(self, ctx: FlowContext, model: FormModel) -> None:
        """Work out what the summary shows beyond the answers (counts read now), into
        ``model.ctx``, before it is drawn."""

    # --- navigation ---------------------------------------------------------------------------

    def field(self, name: str) -> FieldSpec:
        """The field of a step."""
        return next(f for f in self.fields if f.name == name)
