"""Replies of the always-there commands: /start, /help, /me, /lang, /cancel, access decisions."""

from __future__ import annotations

from bot.common.i18n import SUPPORTED, normalize_locale
from bot.flows import access_request, channels, engine, registration
from bot.flows.base import Button, FlowContext, Input, InputKind, Msg, Reply, said
from bot.flows.callback_data import AccessRequestButton, LanguageButton
from bot.flows.menu import commands_for, role_of
from bot.flows.registration import role_label
from bot.flows.task_views import local_text
from bot.services import linking, orgs, people
from storage.identity_models import Reach
from storage.models import AccessRequest

LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}


async def start(ctx: FlowContext, payload: str, *, private: bool) -> Reply:
    """``/start`` with or without an invite code."""
    if not private:
        return Reply([Msg("start.private_only")])
    if people.is_deactivated(ctx.actor):  # an invite or a request would undo an admin's decision
        return Reply([Msg("members.you_are_deactivated")])
    if linking.is_link_code(payload):  # a link code's deep link, opened on the other channel
        return await channels.link_with(ctx, payload) or Reply([Msg("link.unknown")])
    if people.is_registered(ctx.actor):
        if payload:
            return await _invite_when_registered(ctx, payload)
        return Reply(
            [
                Msg("start.welcome_back", name=ctx.actor.real_name or ctx.first_name),
                *help_lines(ctx),
            ]
        )
    requesting = await _access_form_open(ctx)
    if payload:
        return await _start_with_invite(ctx, payload, over_request=requesting)
    if requesting:  # /start alone while the access-request form is open: the form again
        return await engine.current_view(ctx, [Msg("form.busy", command="/start")])
    pending = await people.pending_request(ctx.session, ctx.user_id)
    if pending is not None:
        return Reply([Msg("start.intro"), *await access_request.waiting_lines(ctx, pending)])
    # Turned down before: why, then the way in again (this button files a new request).
    declined = await access_request.applicant_status(ctx) or []
    return Reply(
        [Msg("start.intro"), *declined[:-1], Msg("start.how_to_join")],
        [[Button(Msg("start.button.request"), AccessRequestButton().pack())]],
    )


async def invite_route(ctx: FlowContext, inp: Input) -> Reply | None:
    """A free-text route: a message that is an invite code (WeCom has no deep links, so the
    code is typed or scanned) from someone not yet registered starts registration as
    ``/start CODE`` does, and a member is answered as ``/start CODE`` answers them (a bare
    code-shaped word of theirs only when an invite has it)."""
    if inp.kind is not InputKind.TEXT or ctx.in_group:
        return None
    typed = people.typed_invite(inp.text)
    if typed is None:
        return None
    if people.is_registered(ctx.actor) and not await _a_members_code(ctx, typed):
        return None
    return await start(ctx, typed.code, private=True)  # a member: told as /start CODE tells


async def _a_members_code(ctx: FlowContext, typed: people.TypedInvite) -> bool:
    # A member's bare word of the code's shape (strawberry) is chatter unless an invite has it.
    return typed.said or await people.invite_exists(ctx.session, typed.code)


async def invite_over_request(ctx: FlowContext, inp: Input) -> Reply | None:
    """An invite code typed while the access-request form is open takes over from the form
    (read before the form's step, which would take the code as a name)."""
    if inp.kind is not InputKind.TEXT or ctx.in_group or people.is_registered(ctx.actor):
        return None
    code = people.typed_invite_code(inp.text or "")
    if code is None or not await _access_form_open(ctx):
        return None
    return await start(ctx, code, private=True)


async def _access_form_open(ctx: FlowContext) -> bool:
    return await engine.active_flow(ctx) == access_request.AccessRequestForm.name


async def _invite_when_registered(ctx: FlowContext, code: str) -> Reply:
    """An invite link opened by a member: what is wrong with it, or that it was not needed;
    either way the invite is not used and nothing about the member changes."""
    user = ctx.actor
    org = await orgs.get_org(ctx.session, user.org_id)
    who = {"org": await orgs.org_path(ctx.session, org), "role": role_label(user.role)}
    try:
        await people.usable_invite(ctx.session, code, ctx.now)
    except people.AccessError as refusal:
        return Reply([said(refusal), Msg("start.invite_changes_nothing", who)])
    name = user.real_name or ctx.first_name
    return Reply([Msg("start.welcome_back", name=name), Msg("start.invite_not_used", who)])


async def _start_with_invite(ctx: FlowContext, code: str, *, over_request: bool) -> Reply:
    """Registration through an invite; an access request still being filled in is dropped
    for it (and the user told), or shown again when the invite cannot be used."""
    try:
        invite = await people.usable_invite(ctx.session, code, ctx.now)
    except people.AccessError as refusal:
        if over_request:
            return await engine.current_view(ctx, [said(refusal)])
        return Reply(
            [said(refusal), Msg("start.how_to_join")],
            [[Button(Msg("start.button.request"), AccessRequestButton().pack())]],
        )
    org = await orgs.get_org(ctx.session, invite.org_id)
    path = await orgs.org_path(ctx.session, org)
    extra = {"invite_id": invite.id, "org_path": path, "role": str(invite.role)}
    notices = [Msg("register.intro")]
    if over_request:
        await engine.cancel(ctx)  # the request was never sent: nothing to withdraw
        notices.insert(0, Msg("access.dropped_for_invite"))
    return await engine.start(
        ctx, registration.RegistrationForm.name, extra=extra, notices=notices
    )


async def begin_access_request(ctx: FlowContext) -> Reply:
    """The "request access" button."""
    if people.is_registered(ctx.actor):
        return Reply([Msg("start.already_registered")], toast=Msg("start.already_registered"))
    if people.is_deactivated(ctx.actor):
        return Reply([Msg("members.you_are_deactivated")])
    if await people.pending_request(ctx.session, ctx.user_id):
        return Reply([Msg("access.already_pending")])
    return await engine.start(
        ctx, access_request.AccessRequestForm.name, notices=[Msg("access.intro")]
    )


def help_lines(ctx: FlowContext) -> list[Msg]:
    """The commands of the user's role, one line each."""
    role = role_of(ctx.actor)
    lines = [Msg(f"help.header.{role}")]
    lines += [
        Msg("help.line", command=c.command, description=Msg(c.description))
        for c in commands_for(role)
    ]
    return lines


async def help_reply(ctx: FlowContext) -> Reply:
    """``/help``: what this user can do, and the form they are in."""
    lines = help_lines(ctx)
    if await engine.active_flow(ctx):
        lines.append(Msg("help.in_form"))
    return Reply(lines)


# /me in the middle of joining: what is under way, instead of a bare "not registered".
JOINING_NOTES = {
    registration.RegistrationForm.name: "me.registering",
    access_request.AccessRequestForm.name: "me.requesting",
}


async def me(ctx: FlowContext) -> Reply:
    """``/me``: who the bot thinks you are."""
    language = LANGUAGE_NAMES.get(ctx.locale, ctx.locale)
    if people.is_deactivated(ctx.actor):
        return Reply([Msg("members.you_are_deactivated")])
    if not people.is_registered(ctx.actor):
        request = await people.pending_request(ctx.session, ctx.user_id)
        if request is not None:
            return Reply([await _pending(ctx, request, language)])
        declined = await people.declined_request(ctx.session, ctx.user_id)
        if declined is not None:
            return Reply(await _declined(ctx, declined, language))
        joining = JOINING_NOTES.get(await engine.active_flow(ctx) or "")
        if joining is not None:  # half-way through joining: say so, and where they are
            view = await engine.current_view(ctx, [Msg(joining)])
            if view is not None:
                return view
        return Reply([Msg("me.guest", identity=await _identity(ctx), language=language)])
    user = ctx.actor
    org = await orgs.get_org(ctx.session, user.org_id)
    path = await orgs.org_path(ctx.session, org)
    lines, rows = await channels.me_part(ctx)
    registered = Msg(
        "me.registered",
        name=user.real_name or "",
        org=path,
        role=role_label(user.role),
        language=language,
    )
    # The channels line names each identity with its own id (a Telegram id, a WeCom UserID):
    # the person's key may be another channel's address, which means nothing to them.
    return Reply([registered, *lines], rows)


async def choose_reach(ctx: FlowContext, reach: str) -> Reply:
    """A reach button of /me: remember it and show /me again with it checked."""
    if not people.is_registered(ctx.actor):
        return Reply([], toast=Msg("form.stale"))
    await linking.set_reach(ctx.session, ctx.actor, Reach(reach))  # type: ignore[arg-type]
    reply = await me(ctx)
    reply.edit, reply.toast = True, Msg("me.reach_saved")
    return reply


async def _pending(ctx: FlowContext, request: AccessRequest, language: str) -> Msg:
    """/me of someone whose access request waits: what they asked for, when, and who decides."""
    org = await orgs.get_org(ctx.session, request.org_id)
    return Msg(
        "me.pending",
        name=request.real_name,
        org=await orgs.org_path(ctx.session, org),
        role=role_label(request.role),
        submitted=local_text(request.created_at, ctx.tz),
        reviewers=await access_request.reviewers_label(ctx, org),
        identity=await _identity(ctx),
        language=language,
    )


async def _declined(ctx: FlowContext, request: AccessRequest, language: str) -> list[Msg]:
    """/me of someone whose access request was turned down: what they asked for, when it was
    decided, the admin's reason, and how to ask again."""
    org = await orgs.get_org(ctx.session, request.org_id)
    details = Msg(
        "me.declined",
        name=request.real_name,
        org=await orgs.org_path(ctx.session, org),
        role=role_label(request.role),
        submitted=local_text(request.created_at, ctx.tz),
        decided=local_text(request.decided_at or request.created_at, ctx.tz),
        identity=await _identity(ctx),
        language=language,
    )
    lines = access_request.declined_lines(request, org.name if org else "")
    return [details, *lines[1:]]  # the first line says what the details already say


async def _identity(ctx: FlowContext) -> Msg:
    # The channel and its own id for the sender (on WeCom a UserID, never the address).
    channel, external_id = await linking.identity_at(ctx.session, ctx.user_id)
    return channels.identities_line([(channel, external_id)])[0]


async def language_menu(ctx: FlowContext) -> Reply:
    """``/lang``: the languages as buttons."""
    return Reply(
        [Msg("lang.choose")],
        [[Button(LANGUAGE_NAMES[code], LanguageButton(code).pack()) for code in SUPPORTED]],
    )


async def set_language(ctx: FlowContext, code: str) -> Reply:
    """A language button: remember the choice and answer in the new language."""
    if code not in SUPPORTED or ctx.actor is None:
        return Reply([], toast=Msg("form.stale"))
    ctx.actor.locale = normalize_locale(code)
    ctx.locale = ctx.actor.locale
    await ctx.session.flush()
    return Reply([Msg("lang.set", language=LANGUAGE_NAMES[code])], edit=True)


async def cancel(ctx: FlowContext) -> Reply:
    """``/cancel``: end the active form (asking first when it holds answers), or say there
    is none."""
    reply = await engine.cancel(ctx, ask_first=True)
    return reply or Reply([Msg("cancel.nothing")])


async def edited(ctx: FlowContext) -> Reply:
    """An edited message: nothing runs again; the note names the form when one is open."""
    return Reply([Msg("form.edit_ignored" if await engine.active_flow(ctx) else "edit.ignored")])


async def busy(ctx: FlowContext, command: str) -> Reply | None:
    """A command that would start something while a form is open: show the form again."""
    flow = await engine.active_flow(ctx)
    if flow is None:
        return None
    if command == "/start" and flow == access_request.AccessRequestForm.name:
        return None  # an invite takes over from an access request being filled in (start)
    return await engine.current_view(ctx, [Msg("form.busy", command=command)])
