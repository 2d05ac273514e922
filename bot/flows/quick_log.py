"""The quick log: a free message that reports an activity starts the activity form with what it
says filled in; one that only hints at an activity gets the form offered with a button; one
that reports several is logged one activity after another, in the same form.

What a text says is read by `bot.services.activity_text`; an acknowledgement (收到, 好的) is
nothing to log, as the question route and the group chats read it (`bot.flows.ask`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.flows import engine
from bot.flows.activity import ActivityForm, type_label, unit_label
from bot.flows.ask import acknowledges, reads_as_question
from bot.flows.base import Button, FlowContext, Msg, Reply
from bot.flows.callback_data import QuickLogButton
from bot.flows.when_notes import shown
from bot.services import activities as svc
from bot.services import when
from bot.services.activity_text import MULTI, NONE, OFFER, Reading, Understood, read_report
from storage.activity_models import TYPE_OTHER_MAX


def read_free_text(text: str, today: date) -> Understood:
    """What a free message says about activities. An acknowledgement (收到，按要求办理, 好的,
    👍) or a question for the documents (讲座的要求) is nothing, unless it goes on with a whole
    report (好的，昨天在社区开展科普讲座50人): the question route and the groups read them so."""
    understood = read_report(text, today)
    weak = understood.outcome in (NONE, OFFER)
    if weak and (acknowledges(text) or reads_as_question(text)):
        return Understood(NONE)
    return understood


async def from_free_text(ctx: FlowContext, text: str) -> Reply | None:
    """A free message: the pre-filled form, an offer of the form, or None (not a report)."""
    understood = read_free_text(text, when.today_in(ctx.now, ctx.tz))
    if understood.outcome == NONE:
        return None  # questions and chat are for the other text routes
    if understood.outcome == OFFER:
        # The offer quotes the user's message; the press reads it back.
        button = Button(Msg("activity.button.log_this"), QuickLogButton().pack())
        return Reply([Msg("activity.offer")], [[button]], quote=True)
    return await start(ctx, understood)


async def quick(ctx: FlowContext, text: str) -> Reply:
    """/log <text>: the form, with whatever the text says filled in."""
    understood = read_free_text(text, when.today_in(ctx.now, ctx.tz))
    if not understood.readings:
        return await start(ctx, Understood(NONE, (Reading(),)))
    return await start(ctx, understood)


async def take_offer(ctx: FlowContext, text: str | None) -> Reply:
    """The offer's button: the form with what the quoted message says (the message may be
    gone: then the form from the start)."""
    busy = await form_in_the_way(ctx)
    if busy is not None:
        return busy
    reply = await quick(ctx, text or "")
    reply.edit = True  # the form takes the offer's message over
    return reply


async def form_in_the_way(ctx: FlowContext) -> Reply | None:
    """A form with answers is open: show it again instead of replacing it with a new one."""
    if not await engine.holds_answers(ctx):
        return None
    return await engine.current_view(ctx, [Msg("activity.finish_form_first")])


async def start(ctx: FlowContext, understood: Understood) -> Reply:
    """The activity form for the first activity read; the others wait in the form's state."""
    first, *rest = understood.readings
    data, labels = await _own_org(ctx)
    data.update(_form_data(first))
    notices = _what_was_read(first)
    if understood.outcome == MULTI:
        total = len(understood.readings)
        notices.insert(0, Msg("activity.quick_several", count=total))
    extra: dict[str, Any] = {"labels": labels, "title_hint": first.title_hint}
    if rest:
        extra["queue"] = [_queued(reading) for reading in rest]
        extra["queue_total"] = len(understood.readings)
    return await engine.start(
        ctx, ActivityForm.name, data=data, extra=extra, notices=notices, fill_missing=True
    )


def _form_data(reading: Reading) -> dict[str, Any]:
    data = reading.form_data()
    if reading.type == svc.OTHER_TYPE and reading.title_hint:
        data["type_other"] = reading.title_hint[:TYPE_OTHER_MAX]  # their own words for it
    return data


def _queued(reading: Reading) -> dict[str, Any]:
    """An activity waiting for its turn, as JSON in the form's state."""
    notices = [m.to_json() for m in _what_was_read(reading)]
    return {"data": _form_data(reading), "title_hint": reading.title_hint, "notices": notices}


async def _own_org(ctx: FlowContext) -> tuple[dict[str, Any], dict[str, Any]]:
    # The organising org defaults to the user's own; the summary still offers to change it.
    org = await svc.own_org(ctx.session, ctx.actor)
    if org is None:
        return {}, {}
    return {"org_id": org.id}, {"org_id": org.name}


def _what_was_read(reading: Reading) -> list[Msg]:
    """What the text said, what could not be taken and why, and what was guessed."""
    showing = {
        "type": type_label,
        "day": lambda day: day.isoformat(),
        "place": str,
        "participants": lambda count: Msg("activity.people", count=count),
        "amount": lambda amount: Msg(
            "activity.amount_of",
            amount=amount,
            unit=unit_label(svc.unit_of(reading.type or ""), amount),
        ),
    }
    lines = [
        Msg("form.summary_line", label=Msg(f"activity.label.{name}"), value=show(value))
        for name, show in showing.items()
        if (value := getattr(reading, name)) is not None
    ]
    texts = (
        [Msg("activity.quick_understood"), *lines] if lines else [Msg("activity.quick_nothing")]
    )
    texts += [Msg(problem.key, problem.params) for problem in reading.problems]
    texts += shown(tuple(reading.notes))
    return [*texts, Msg("activity.quick_rest")] if lines else texts
