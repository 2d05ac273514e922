"""Asking for access without an invite: name, org (found by typing), role; admins decide."""

from __future__ import annotations

from typing import Any

from bot.flows.base import (
    Button,
    Choice,
    FieldSpec,
    FlowContext,
    FormModel,
    FormSpec,
    Input,
    InputKind,
    Invalid,
    Msg,
    Notice,
    Options,
    Reply,
    said,
)
from bot.flows.callback_data import AccessDecisionButton, AccessListButton
from bot.flows.org_picker import example_params, place_note
from bot.flows.registration import REAL_NAME, role_label
from bot.services import orgs, people
from storage.models import AccessRequest, Org, Role

ORG_QUERY_MAX = 50
ORG_MATCHES = 8


async def search_org(inp: Input, ctx: FlowContext, model: FormModel) -> Options:
    """Typed part of an org's name → the matching orgs as buttons."""
    if inp.kind is not InputKind.TEXT:
        raise Invalid("form.expect_text")
    text = inp.text.strip()
    if not text or len(text) > ORG_QUERY_MAX:
        raise Invalid("access.bad_org_query", limit=ORG_QUERY_MAX)
    found = await orgs.find_orgs(ctx.session, text, limit=ORG_MATCHES)
    if not found.orgs:
        raise Invalid("access.no_org_match", text=text)
    notice = place_note(found) or Msg("access.pick_org")
    return Options([Choice(org.id, org.name) for org in found.orgs], notice)


async def _example(ctx: FlowContext, model: FormModel) -> dict[str, Any]:
    return await example_params(ctx, None)  # the applicant searches the whole tree


class AccessRequestForm(FormSpec):
    """The "request access" form."""

    name = "access"
    summary_key = "access.summary"
    fields = (
        REAL_NAME,
        FieldSpec(
            "org_id",
            prompt="access.ask_org",
            label="access.label.org",
            parse=search_org,
            columns=1,
            prompt_from=_example,
        ),
        FieldSpec(
            "role",
            prompt="access.ask_role",
            label="access.label.role",
            choices=[
                Choice(Role.LIAISON.value, Msg("role.liaison")),
                Choice(Role.INFO_OFFICER.value, Msg("role.info_officer")),
            ],
            display=lambda value, _model: role_label(value),
            columns=1,
        ),
    )

    async def on_confirm(self, ctx: FlowContext, model: FormModel) -> Reply:
        """File the request and notify the org's admins."""
        try:
            request, admins = await people.request_access(
                ctx.session,
                telegram_id=ctx.user_id,
                real_name=model.data["real_name"],
                org_id=int(model.data["org_id"]),
                role=Role(model.data["role"]),
                now=ctx.now,
            )
        except people.AccessError as refusal:
            return Reply([said(refusal)])
        org = await orgs.get_org(ctx.session, request.org_id)
        notice = Reply(
            [
                Msg(
                    "access.admin_notice",
                    name=request.real_name,
                    org=org.name if org else "",
                    role=role_label(request.role),
                    user_id=ctx.user_id,
                    username=f"@{ctx.username}" if ctx.username else "-",
                )
            ],
            [
                [
                    Button(Msg("access.button.approve"), _decision(request.id, approve=True)),
                    Button(Msg("access.button.reject"), _decision(request.id, approve=False)),
                ],
                [Button(Msg("access.button.all_waiting"), AccessListButton().pack())],
            ],
        )
        recipients = [(a.telegram_id, people.user_locale(a)) for a in admins]
        recipients = recipients or [(tid, None) for tid in ctx.superadmin_ids]
        notices = [Notice(chat_id, locale, notice) for chat_id, locale in recipients]
        key = "access.sent" if notices else "access.sent_no_admin"
        return Reply([Msg(key)], notices=notices)

    def prompt_params(self, ctx: FlowContext, model: FormModel, spec: FieldSpec) -> dict[str, Any]:
        """No parameters; the prompts say it all."""
        return {}


def _decision(request_id: int, *, approve: bool) -> str:
    return AccessDecisionButton(request_id, approve).pack()


# --- what an applicant is told while their request waits, or after it was turned down -------


async def applicant_status(ctx: FlowContext) -> list[Msg] | None:
    """Where a stranger's access request stands: waiting (for whom, and what to do meanwhile)
    or turned down (why, and how to ask again); None when they have none or are a member."""
    if people.is_registered(ctx.actor) or people.is_deactivated(ctx.actor):
        return None
    waiting = await people.pending_request(ctx.session, ctx.user_id)
    if waiting is not None:
        return await waiting_lines(ctx, waiting)
    declined = await people.declined_request(ctx.session, ctx.user_id)
    return declined_lines(declined, await _org_name(ctx, declined)) if declined else None


async def applicant_route(ctx: FlowContext, inp: Input) -> Reply | None:
    """A free-text route: an applicant's message (not a policy question: a pending request
    answers "什么时候能用" better than the documents) gets where their request stands."""
    if ctx.in_group:
        return None
    lines = await applicant_status(ctx)
    return Reply(lines) if lines else None


async def waiting_lines(ctx: FlowContext, request: AccessRequest) -> list[Msg]:
    """The request still waits: for whom, and what the applicant can do meanwhile."""
    org = await orgs.get_org(ctx.session, request.org_id)
    waiting = Msg(
        "access.waiting",
        org=org.name if org else "",
        role=role_label(request.role),
        reviewers=await reviewers_label(ctx, org),
    )
    return [waiting, Msg("access.meanwhile")]


def declined_lines(request: AccessRequest, org_name: str) -> list[Msg]:
    """The request was turned down: the admin's reason when they gave one, and how to ask
    again (a new request, or an invite)."""
    lines = [Msg("access.declined", org=org_name, role=role_label(request.role))]
    if request.reason:
        lines.append(Msg("access.declined_reason", reason=request.reason))
    return [*lines, Msg("access.how_to_reapply")]


async def _org_name(ctx: FlowContext, request: AccessRequest) -> str:
    org = await orgs.get_org(ctx.session, request.org_id)
    return org.name if org else ""


async def reviewers_label(ctx: FlowContext, org: Org | None) -> Msg:
    """Who decides a request to ``org``: the same people it went to (`on_confirm`)."""
    found, admins = await people.reviewers(ctx.session, org) if org else (None, [])
    if found is not None:
        names = [a.real_name or str(a.telegram_id) for a in admins]
        return Msg("me.reviewers", org=found.name, names=names)
    return Msg("me.reviewers_superadmins" if ctx.superadmin_ids else "me.reviewers_none")
