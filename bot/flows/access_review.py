"""/requests: the access requests waiting in an admin's subtree, each with approve / reject.

The buttons are the approve / reject of the admin's notice (`AccessDecisionButton`, marked
``listed``), decided by `onboarding.decide` with the same role and subtree checks; after a
decision the list is shown again with what became of the request. The notice of a new request
carries a button to this list (`AccessListButton`).
"""

from __future__ import annotations

from bot.flows.base import Button, FlowContext, Msg, Reply
from bot.flows.callback_data import AccessDecisionButton
from bot.flows.registration import role_label
from bot.flows.task_views import local_text
from bot.services import orgs, people

LIST_MAX = 10  # requests shown at once; the oldest first, so none waits unseen for long


async def pending_list(
    ctx: FlowContext, notes: list[Msg] | None = None, *, edit: bool = False
) -> Reply:
    """The requests waiting in the admin's subtree, oldest first, with their buttons."""
    if ctx.in_group:
        return Reply([Msg("access.requests_private")])
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    if scope is None:
        return Reply([Msg("access.requests_admins_only")])
    waiting, total = await people.pending_requests(ctx.session, scope, limit=LIST_MAX)
    if not waiting:
        return Reply([*(notes or []), Msg("access.requests_none")], edit=edit)
    lines = [Msg("access.requests_head", count=total)]
    rows = []
    for number, request in enumerate(waiting, 1):
        org = await orgs.get_org(ctx.session, request.org_id)
        lines.append(
            Msg(
                "access.requests_line",
                number=number,
                name=request.real_name,
                org=await orgs.org_path(ctx.session, org),
                role=role_label(request.role),
                when=local_text(request.created_at, ctx.tz),
            )
        )
        rows.append(_decision_row(number, request.id or 0))
    if total > len(waiting):
        lines.append(Msg("access.requests_more", count=total - len(waiting)))
    return Reply([*(notes or []), *lines], rows, edit=edit)


def _decision_row(number: int, request_id: int) -> list[Button]:
    approve = AccessDecisionButton(request_id, approve=True, listed=True)
    reject = AccessDecisionButton(request_id, approve=False, listed=True)
    return [
        Button(Msg("access.button.approve_number", number=number), approve.pack()),
        Button(Msg("access.button.reject_number", number=number), reject.pack()),
    ]
