"""Under a policy answer: the asker's org's open report task that came with that document."""

from __future__ import annotations

from bot.flows import task_views
from bot.flows.base import Button, FlowContext, Msg
from bot.services.knowledge import Hit
from bot.services.task_links import DocumentRef, leads_to_report, linked_tasks


async def task_hint(
    ctx: FlowContext, question: str, hit: Hit
) -> tuple[list[Msg], list[list[Button]]]:
    """Texts and buttons to add to the answer: each linked task as /tasks shows it, and 填报.

    Nothing when the question is not about a deadline or reporting, when the asker has no
    org, or when no open task of their org came with the answer's document; nothing in a
    group either, where the asker's org's task and its state are nobody else's business.
    """
    if ctx.in_group or not leads_to_report(question, hit.text):
        return [], []
    doc = DocumentRef(hit.doc, hit.title, hit.doc_number)
    links = await linked_tasks(ctx.session, user=ctx.actor, doc=doc, now=ctx.now, tz=ctx.tz)
    if not links:
        return [], []
    texts = [Msg("task.hint_header")]
    texts += [task_views.member_line(ctx, x.task, x.cycle, x.submission) for x in links]
    if len(links) == 1:
        # The same callback data as every 填报 button: the tasks handler checks it as usual.
        return texts, [[task_views.fill_button(links[0].cycle.id)]]  # type: ignore[arg-type]
    return texts, [[task_views.open_button(x.task, x.cycle)] for x in links]
