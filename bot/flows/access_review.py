"""/requests: the access requests waiting in an admin's subtree, each with approve / reject.

The buttons are the approve / reject of the admin's notice (`AccessDecisionButton`, marked
``listed``), decided by `decide` with the same role and subtree checks; after a decision the
list is shown again with what became of the request. The notice of a new request carries a
button to this list (`AccessListButton`).

Approving takes one press (an admin can still deactivate the member). Rejecting asks first
(`RejectForm`): the admin confirms, or types a reason the applicant is shown and confirms it
from the summary; cancelling leaves the request waiting.
"""

from __future__ import annotations

from typing import Any

from bot.flows import engine
from bot.flows.access_request import declined_lines
from bot.flows.base import (
    Button,
    FieldSpec,
    FlowContext,
    FormModel,
    FormSpec,
    Input,
    InputKind,
    Invalid,
    Msg,
    Notice,
    Reply,
    said,
)
from bot.flows.callback_data import AccessDecisionButton
from bot.flows.registration import role_label
from bot.flows.task_views import local_text
from bot.services import orgs, people
from storage.models import AccessRequest

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


# --- deciding --------------------------------------------------------------------------------


async def on_press(ctx: FlowContext, request_id: int, approve: bool, *, listed: bool) -> Reply:
    """An approve / reject button (of the notice, or ``listed`` on /requests): approving
    decides at once, rejecting asks first."""
    if approve:
        return await decide(ctx, request_id, approve=True, listed=listed)
    return await ask_reject(ctx, request_id, listed=listed)


async def ask_reject(ctx: FlowContext, request_id: int, *, listed: bool) -> Reply:
    """The reject button: the question (with room for a reason) in place of the pressed
    message, after the same role and subtree checks the decision makes."""
    try:
        request = await people.reviewable_request(
            ctx.session, request_id=request_id, admin=ctx.actor, superadmin=ctx.superadmin
        )
    except people.AccessError as refusal:
        return await _refused(ctx, refusal, listed=listed)
    if await engine.holds_answers(ctx):  # a half-filled form is shown again, not discarded
        return await engine.current_view(ctx, [Msg("activity.finish_form_first")]) or Reply([])
    org = await orgs.get_org(ctx.session, request.org_id)
    extra = {
        "request_id": request_id,
        "listed": listed,
        "name": request.real_name,
        "role": str(request.role),
        "org": org.name if org else "",
    }
    reply = await engine.start(ctx, RejectForm.name, extra=extra)
    reply.edit = True
    return reply


async def decide(
    ctx: FlowContext,
    request_id: int,
    *,
    approve: bool,
    listed: bool = False,
    reason: str | None = None,
) -> Reply:
    """Settle a request (a rejection with the admin's reason, if any) and tell the applicant;
    ``listed``: /requests' list is shown again with the outcome."""
    try:
        request = await people.decide_access(
            ctx.session,
            request_id=request_id,
            approve=approve,
            admin=ctx.actor,
            superadmin=ctx.superadmin,
            now=ctx.now,
            reason=reason,
        )
    except people.AccessError as refusal:
        return await _refused(ctx, refusal, listed=listed)
    key = "access.approved_by_you" if approve else "access.rejected_by_you"
    outcome = [Msg(key, name=request.real_name)]
    if reason:
        outcome.append(Msg("access.reason_told", reason=reason))
    notice = await _applicant_notice(ctx, request, approve)
    if listed:
        reply = await pending_list(ctx, outcome, edit=True)
        reply.notices = [notice]
        return reply
    return Reply(outcome, edit=True, notices=[notice])


async def _refused(ctx: FlowContext, refusal: people.AccessError, *, listed: bool) -> Reply:
    if listed:  # decided meanwhile (by another admin): the list as it stands now
        reply = await pending_list(ctx, edit=True)
        reply.toast = said(refusal)
        return reply
    return Reply([], toast=said(refusal))


async def _applicant_notice(ctx: FlowContext, request: AccessRequest, approve: bool) -> Notice:
    """What the applicant is told, in their language: approved, or turned down with the
    reason and how to ask again."""
    applicant = await people.get_user(ctx.session, request.telegram_id)
    if approve:
        told = [Msg("access.you_are_approved")]
    else:
        org = await orgs.get_org(ctx.session, request.org_id)
        told = declined_lines(request, org.name if org else "")
    return Notice(request.telegram_id, people.user_locale(applicant), Reply(told))


# --- the rejection's confirmation ------------------------------------------------------------


async def parse_reason(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """The reason the applicant will read, as typed."""
    if inp.kind is not InputKind.TEXT:
        raise Invalid("form.expect_text")
    try:
        return people.clean_reason(inp.text)
    except people.AccessError as refusal:
        raise Invalid.of(refusal) from None


class RejectForm(FormSpec):
    """Reject an access request: confirm at once, or give a reason and confirm it."""

    name = "access_reject"
    summary_key = "access.reject_summary"
    confirm_label = "access.button.reject_confirm"
    fields = (
        FieldSpec(
            "reason",
            prompt="access.ask_reject",
            label="access.label.reason",
            parse=parse_reason,
            optional=True,
            skip_label="access.button.reject_no_reason",
            columns=1,
        ),
    )

    def confirm_at_once(self, model: FormModel) -> bool:
        """No reason: the skip button ("reject without a reason") was the confirmation; a
        typed reason is shown first, since the applicant will read it."""
        return not model.data.get("reason")

    def prompt_params(self, ctx: FlowContext, model: FormModel, spec: FieldSpec) -> dict[str, Any]:
        """Whose request, and how long a reason may be."""
        return {**_applicant(model), "limit": people.REASON_MAX}

    def summary_extra(self, model: FormModel) -> list[Msg]:
        """Whose request is turned down, above the reason."""
        return [Msg("access.reject_whose", **_applicant(model))]

    async def on_confirm(self, ctx: FlowContext, model: FormModel) -> Reply:
        """Reject (the checks of role and subtree made again) and tell the applicant."""
        return await decide(
            ctx,
            int(model.ctx["request_id"]),
            approve=False,
            listed=bool(model.ctx.get("listed")),
            reason=model.data.get("reason") or None,
        )

    async def on_cancel(self, ctx: FlowContext, model: FormModel) -> Reply:
        """Not rejected: the request still waits, shown with the others."""
        kept = Msg("access.reject_kept", name=model.ctx.get("name", ""))
        reply = await pending_list(ctx, [kept], edit=True)
        reply.finished = True
        return reply


def _applicant(model: FormModel) -> dict[str, Any]:
    return {
        "name": model.ctx.get("name", ""),
        "role": role_label(model.ctx.get("role")),
        "org": model.ctx.get("org", ""),
    }
