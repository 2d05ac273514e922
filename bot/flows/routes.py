"""The one route table of every channel: commands and button families to flow producers.

A channel adapter reads a command (``/log 昨天…``) or a pressed button (its callback data) from
its own events and asks this table what answers it; the producer runs inside the adapter's
transaction (``FlowContext``) and returns what the flow said: a `Reply`, None (nothing to
show), or an outcome that carries its reply (``.reply``: /stats' charts and export, /members'
menus to refresh, a receipt recorded) for the adapter to finish in its own way. `reply_of`
reads the reply of any of them.

Telegram registers a handler per entry (bot/telegram/handlers/), WeCom's dispatcher looks the
entries up per event (bot/wecom/dispatch.py); a third channel does the same. What only one
channel can do stays in its adapter: Telegram's groups and deep links, /export's zip of photos,
the command menu (set_my_commands), the draft a broadcast preview sends first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.flows import (
    access_request,
    access_review,
    activity_views,
    ask,
    broadcast,
    broadcast_actions,
    channels,
    engine,
    library,
    members,
    onboarding,
    quick_log,
    remind,
    stats,
    task_new,
    task_report,
    task_views,
)
from bot.flows.base import FlowContext, Input, InputKind, Msg, Reply, TextRoute
from bot.flows.callback_data import (
    AccessDecisionButton,
    AccessListButton,
    AccessRequestButton,
    AskMoreButton,
    AskSectionButton,
    CallbackData,
    DocumentButton,
    FormButton,
    LanguageButton,
    LinkNewButton,
    NoticeButton,
    QuickLogButton,
    ReachButton,
    ReceiptButton,
    ReminderDeleteButton,
    StatsButton,
    TaskButton,
    find_any,
)
from bot.flows.menu import ALLOWED_DURING_FORM
from bot.services import people
from bot.services.policy import PolicyLibrary

Producer = Callable[[FlowContext], Awaitable[Any]]  # a Reply, None, or an outcome with .reply
CommandRoute = Callable[[FlowContext, str], Awaitable[Any]]  # (ctx, the text after the command)


@dataclass(frozen=True)
class Press:
    """A pressed button: its parsed data, and the text of the message its message quoted
    (Telegram's reply; None where the channel has none)."""

    button: Any  # the family's CallbackData
    quoted: str | None = None


ButtonRoute = Callable[[FlowContext, Press], Awaitable[Any]]


@dataclass(frozen=True)
class Told:
    """A reply, and what the flow did besides (a receipt recorded: True)."""

    reply: Reply
    what: Any


def reply_of(result: Any) -> Reply | None:
    """The reply a route's result carries (itself, or its ``.reply``)."""
    if result is None or isinstance(result, Reply):
        return result
    return result.reply


def _library(ctx: FlowContext) -> PolicyLibrary:
    if ctx.policy is None:
        raise ValueError("the flow context was built without the policy library")
    return ctx.policy


# --- commands --------------------------------------------------------------------------------


async def _start(ctx: FlowContext, args: str) -> Reply:
    return await onboarding.start(ctx, people.start_payload(args), private=not ctx.in_group)


async def _ask(ctx: FlowContext, question: str) -> Reply:
    if not question.strip():
        return Reply([Msg("ask.usage")])
    return await ask.answer(ctx, _library(ctx), question)


def _activities(produce: CommandRoute) -> CommandRoute:
    # Forms and personal lists live in the private chat; a group only gets a pointer there.
    async def private(ctx: FlowContext, args: str) -> Reply:
        return await activity_views.private_only(ctx) if ctx.in_group else await produce(ctx, args)

    return private


async def _stats(ctx: FlowContext, args: str) -> stats.Outcome:
    if ctx.in_group:
        return await stats.private_only(ctx)
    return await stats.begin(ctx, stats.STATS, args)


async def _export(ctx: FlowContext, args: str) -> stats.Outcome:
    if ctx.in_group:
        return await stats.private_only(ctx)
    return await stats.begin(ctx, stats.EXPORT, args)


async def _members(ctx: FlowContext, _args: str) -> members.Outcome:
    return await members.private_only(ctx) if ctx.in_group else await members.begin(ctx)


def _plain(produce: Callable[[FlowContext], Awaitable[Any]]) -> CommandRoute:
    """A command that takes no argument (what follows it is ignored)."""

    async def route(ctx: FlowContext, _args: str) -> Any:
        return await produce(ctx)

    return route


COMMANDS: dict[str, CommandRoute] = {
    "start": _start,
    "help": _plain(onboarding.help_reply),
    "me": _plain(onboarding.me),
    "lang": _plain(onboarding.language_menu),
    "cancel": _plain(onboarding.cancel),
    "log": _activities(activity_views.begin),
    "mylogs": _activities(activity_views.search_logs),
    "pushed": _activities(activity_views.pushed),
    "ask": _ask,
    "docs": _plain(lambda ctx: library.list_documents(ctx, _library(ctx))),
    "remind": remind.remind,
    "newtask": _plain(task_new.begin),
    "tasks": _plain(task_views.my_tasks),
    "broadcast": _plain(broadcast.begin),
    "stats": _stats,
    "export": _export,
    "members": _members,
    "requests": _plain(access_review.pending_list),
}


def unknown_command(head: str, known: frozenset[str] = frozenset()) -> Reply | None:
    """The answer to a command no channel has (/foo, /mylog): None when ``head`` names one of
    the table's commands or one of the channel's own (``known``)."""
    name = head.lstrip("/").split("@")[0].lower()
    if name in COMMANDS or name in known:
        return None
    return Reply([Msg("command.unknown", command=head.split("@")[0])])


def command(name: str, args: str = "") -> Producer:
    """The producer of ``/name args``; KeyError when no such command exists."""
    route = COMMANDS[name]
    return lambda ctx: route(ctx, args)


async def busy_form(ctx: FlowContext, name: str) -> Reply | None:
    """A command not allowed inside a form, sent while one is open: the form shown again
    (None: the command may run)."""
    if name in ALLOWED_DURING_FORM or await engine.active_flow(ctx) is None:
        return None
    return await onboarding.busy(ctx, f"/{name}")


# --- free text and files ---------------------------------------------------------------------


async def user_input(ctx: FlowContext, inp: Input, text_routes: Sequence[TextRoute]) -> Reply:
    """What a member sent that is neither a command nor a press: the open form's answer,
    else the text routes in order (quick log, acknowledgements, questions), else a hint."""
    reply = await onboarding.invite_over_request(ctx, inp) or await engine.handle(ctx, inp)
    if reply is not None:
        return reply
    for route in text_routes:  # build_application's list: the first reply wins
        reply = await route(ctx, inp)
        if reply is not None:
            return reply
    if not people.is_registered(ctx.actor):
        # An applicant hears where their request stands; anyone else, how to join.
        status = await access_request.applicant_status(ctx)
        return Reply(status or [Msg("start.not_registered")])
    return Reply([Msg("fallback.unknown")])


# --- buttons ---------------------------------------------------------------------------------


async def _form_button(ctx: FlowContext, press: Press) -> Reply:
    # An old button of a form (its token is not the form's current one) gets a note only.
    pressed: FormButton = press.button
    inp = Input(InputKind.ACTION, action=pressed.action, arg=pressed.arg, token=pressed.token)
    return await engine.handle(ctx, inp) or Reply([], toast=Msg("form.stale"))


async def _ask_button(ctx: FlowContext, press: Press) -> Reply:
    pressed = press.button
    if isinstance(pressed, AskMoreButton):
        return await ask.more_sources(ctx, _library(ctx), pressed.question)
    return await ask.full_section(
        ctx, _library(ctx), pressed.passage, pressed.page, turning=pressed.turn
    )


async def _document_button(ctx: FlowContext, press: Press) -> Reply:
    pressed: DocumentButton = press.button
    if pressed.action == "remove":
        return await library.ask_removal(ctx, _library(ctx), pressed.doc)
    if pressed.action == "remove-yes":
        return await library.remove(ctx, _library(ctx), pressed.doc)
    return Reply([Msg("docs.kept")], edit=True)


TASK_ACTIONS: dict[str, Callable[[FlowContext, TaskButton], Awaitable[Reply]]] = {
    "fill": lambda ctx, b: task_report.start_report(ctx, b.target),
    "board": lambda ctx, b: task_views.board(ctx, b.target, b.arg or 0, edit=True),
    "submissions": lambda ctx, b: task_views.submissions(ctx, b.target, b.arg),
    "submission": lambda ctx, b: task_views.submission(ctx, b.target, b.arg),
    "remind": lambda ctx, b: task_views.remind(ctx, b.target),
    "move": lambda ctx, b: task_views.move(ctx, b.target),
    "delete": lambda ctx, b: task_views.ask_delete(ctx, b.target),
    "delete-yes": lambda ctx, b: task_views.delete(ctx, b.target),
    "delete-no": lambda ctx, b: task_views.keep(ctx, b.target),
    "files": lambda ctx, b: task_views.files(ctx, b.target, b.arg),
    "export": lambda ctx, b: task_views.export(ctx, b.target),  # the .xlsx, as a made file
}


async def _task_button(ctx: FlowContext, press: Press) -> Reply | None:
    route = TASK_ACTIONS.get(press.button.action)
    return await route(ctx, press.button) if route is not None else None


async def _notice_button(ctx: FlowContext, press: Press) -> Reply:
    pressed: NoticeButton = press.button
    broadcast_id, action = pressed.broadcast, pressed.action
    if action == "preview":
        return await broadcast_actions.preview_reply(ctx, broadcast_id)
    if action in ("send", "send-paid"):
        return await broadcast_actions.launch(ctx, broadcast_id, paid=action == "send-paid")
    named = {
        "who": broadcast_actions.receipts,
        "remind": broadcast_actions.remind,
        "resend": broadcast_actions.confirm_resend,
        "resend-yes": broadcast_actions.resend,
    }
    if action in named:
        return await named[action](ctx, broadcast_id)
    return await broadcast_actions.control(ctx, broadcast_id, action)


async def _receipt_button(ctx: FlowContext, press: Press) -> Told:
    reply, recorded = await broadcast_actions.acknowledge(ctx, press.button.broadcast)
    return Told(reply, recorded)


async def _activity_button(ctx: FlowContext, press: Press) -> Reply:
    return await activity_views.on_button(ctx, press.button)


async def _members_button(ctx: FlowContext, press: Press) -> members.Outcome:
    return await members.on_button(ctx, press.button)


BUTTONS: dict[type[CallbackData], ButtonRoute] = {
    FormButton: _form_button,
    LanguageButton: lambda ctx, p: onboarding.set_language(ctx, p.button.code),
    AccessRequestButton: lambda ctx, p: onboarding.begin_access_request(ctx),
    LinkNewButton: lambda ctx, p: channels.offer_link(ctx),  # /me: link another channel
    ReachButton: lambda ctx, p: onboarding.choose_reach(ctx, p.button.reach),
    AccessDecisionButton: lambda ctx, p: access_review.on_press(
        ctx, p.button.request, p.button.approve, listed=p.button.listed
    ),
    AccessListButton: lambda ctx, p: access_review.pending_list(ctx),  # a request's notice
    ReminderDeleteButton: lambda ctx, p: remind.delete(ctx, p.button.reminder),
    QuickLogButton: lambda ctx, p: quick_log.take_offer(ctx, p.quoted),
    **dict.fromkeys(activity_views.FAMILIES, _activity_button),
    StatsButton: lambda ctx, p: stats.on_button(ctx, p.button),
    AskMoreButton: _ask_button,
    AskSectionButton: _ask_button,
    DocumentButton: _document_button,
    TaskButton: _task_button,
    NoticeButton: _notice_button,
    ReceiptButton: _receipt_button,
    **dict.fromkeys(members.FAMILIES, _members_button),
}


def button(data: object, quoted: str | None = None) -> Producer | None:
    """The producer of a press of a button with callback ``data``; None when no family of
    the table reads it (old, malformed or forged data, or another channel's button)."""
    pressed = find_any(data)
    route = BUTTONS.get(type(pressed)) if pressed is not None else None
    if route is None:
        return None
    press = Press(pressed, quoted)
    return lambda ctx: route(ctx, press)
