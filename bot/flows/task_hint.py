"""Under a policy answer about a deadline or reporting: whether the passage's date has passed
(it comes from an old document), and the asker's org's report tasks: the open ones that came
with that document, or, when the passage's date is past and none did, all of its open ones."""

from __future__ import annotations

from bot.flows import task_views
from bot.flows.base import Button, FlowContext, Msg
from bot.services import when
from bot.services.knowledge import Hit
from bot.services.passage_dates import issued_on, passed_date
from bot.services.task_links import (
    MAX_LINKS,
    DocumentRef,
    TaskLink,
    leads_to_report,
    linked_tasks,
    open_tasks,
)


async def task_hint(
    ctx: FlowContext, question: str, hit: Hit
) -> tuple[list[Msg], list[list[Button]]]:
    """Texts and buttons to add to the answer: a note on a date that has passed, then each
    linked task as /tasks shows it, and 填报.

    Nothing when the question is not about a deadline or reporting. The tasks are left out
    when the asker has no org, and in a group, where the asker's org's tasks and their state
    are nobody else's business (the note on the date is the document's, so it stays).
    """
    if not leads_to_report(question, hit.text):
        return [], []
    note = date_passed(ctx, hit)
    notes = [note] if note is not None else []
    if ctx.in_group:
        return notes, []
    doc = DocumentRef(hit.doc, hit.title, hit.doc_number)
    links = await linked_tasks(ctx.session, user=ctx.actor, doc=doc, now=ctx.now, tz=ctx.tz)
    if links:
        return [*notes, Msg("task.hint_header"), *_lines(ctx, links)], _buttons(links)
    if note is None:
        return [], []
    # The document's deadline is gone: what the asker's org has to hand in now.
    texts, buttons = await _open_ones(ctx)
    return [*notes, *texts], buttons


def date_passed(ctx: FlowContext, hit: Hit) -> Msg | None:
    """A note that the passage's date is before today and comes from the document's date."""
    issued = issued_on(hit.date)
    if issued is None:
        return None  # an undated document: a 12月9日 in it has no year to compare
    found = passed_date(hit.text, issued, when.today_in(ctx.now, ctx.tz))
    if found is None or found.day is None:
        return None
    # 2022年1月15日 says its year; 12月9日 is shown with the one it has in the document.
    key = "ask.date_passed_dated" if str(found.day.year) in found.said else "ask.date_passed"
    return Msg(key, said=found.said, day=found.day.isoformat(), issued=issued.isoformat())


async def _open_ones(ctx: FlowContext) -> tuple[list[Msg], list[list[Button]]]:
    """The org's open tasks (the first few, /tasks for the rest); a line when there are none;
    nothing for someone without an org."""
    links = await open_tasks(ctx.session, user=ctx.actor, now=ctx.now, tz=ctx.tz)
    if links is None:
        return [], []
    if not links:
        return [Msg("task.hint_none_open")], []
    shown = links[:MAX_LINKS]
    texts = [Msg("task.hint_open_header"), *_lines(ctx, shown)]
    if len(links) > len(shown):
        texts.append(Msg("task.hint_more", count=len(links) - len(shown)))
    return texts, _buttons(shown)


def _lines(ctx: FlowContext, links: list[TaskLink]) -> list[Msg]:
    return [task_views.member_line(ctx, x.task, x.cycle, x.submission) for x in links]


def _buttons(links: list[TaskLink]) -> list[list[Button]]:
    if len(links) == 1:
        # The same callback data as every 填报 button: the tasks handler checks it as usual.
        return [[task_views.fill_button(links[0].cycle.id)]]  # type: ignore[arg-type]
    return [[task_views.open_button(x.task, x.cycle)] for x in links]
