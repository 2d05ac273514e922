"""/members: an admin's people (paged, filtered), a person's card and changes, and invites.

Buttons are stateless (the ``Member…``, ``Members…`` and ``Invite…`` families of
`bot.flows.callback_data`); every press loads the actor's scope again. A change is ``d``
(deactivate), ``r`` (reactivate), ``o<role code>`` or ``m<org id>``; the token is the person's
`fingerprint` when the card was shown, so an old card changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.common.i18n import t
from bot.flows import channels, engine
from bot.flows.base import (
    Album,
    Button,
    Choice,
    FieldSpec,
    FlowContext,
    FormModel,
    FormSpec,
    Label,
    Media,
    Msg,
    Notice,
    Reply,
    button_number,
    said,
)
from bot.flows.callback_data import (
    CallbackData,
    InviteNewButton,
    InviteRevokeButton,
    InvitesButton,
    MemberButton,
    MemberChangeButton,
    MemberEditButton,
    MembersButton,
    MembersFilterButton,
)
from bot.flows.labels import zone_label
from bot.flows.org_picker import OrgPicker
from bot.flows.registration import role_label
from bot.services import linking, orgs, people, qr
from bot.services import members as svc
from bot.services.members import Change, ChangeKind, Member, Status
from bot.services.people import AccessError, Scope
from storage.member_models import MemberAction
from storage.models import Invite, Org, Role, User

ROLE_CODES = {"l": Role.LIAISON, "i": Role.INFO_OFFICER, "a": Role.ADMIN}
CODE_OF = {role: code for code, role in ROLE_CODES.items()}
STATUS_KEYS = {
    Status.ACTIVE: "members.status.active",
    Status.DEACTIVATED: "members.status.deactivated",
    Status.BLOCKED: "members.status.blocked",
}
ACTION_KEYS = {
    MemberAction.DEACTIVATED: "members.did.deactivated",
    MemberAction.REACTIVATED: "members.did.reactivated",
    MemberAction.ROLE_CHANGED: "members.did.role_changed",
    MemberAction.MOVED: "members.did.moved",
    MemberAction.INVITE_CREATED: "members.did.invite_created",
    MemberAction.INVITE_REVOKED: "members.did.invite_revoked",
}
FILTER_FORM, MOVE_FORM, INVITE_FORM = "members_filter", "members_move", "members_invite"


@dataclass
class Outcome:
    """A reply, and the people whose command menus must be sent again after the transaction."""

    reply: Reply
    menus: list[User] = field(default_factory=list)


@dataclass(frozen=True)
class ListState:
    """Where in the list the admin was: the org filter, the role filter and the offset."""

    org: int = 0
    role: str = ""
    offset: int = 0

    def pack(self) -> str:
        """``org.role.offset``, kept in the buttons of a card to go back to the list."""
        return f"{self.org}.{self.role}.{self.offset}"

    @classmethod
    def unpack(cls, text: str) -> ListState:
        """The state a button carried; ValueError when it is not one."""
        org, role, offset = text.split(".")
        if role and role not in ROLE_CODES:
            raise ValueError(role)
        return cls(_number(org), role, _number(offset))


def _number(text: str) -> int:
    # A number in a button: 1-9 ASCII digits (huge or odd digits would reach a query).
    number = button_number(text)
    if number is None:
        raise ValueError(text)  # on_button answers it as out of date
    return number


def _stale() -> Outcome:
    return Outcome(Reply([], toast=Msg("members.stale")))


def _refusal(error: AccessError, *, edit: bool) -> Outcome:
    # No button offers what is beyond the admin's reach: such data is old or forged.
    if error.key in ("members.stale", "members.not_yours"):
        return _stale()
    return Outcome(Reply([said(error)], edit=edit))


# --- entry points ----------------------------------------------------------------------------


async def begin(ctx: FlowContext) -> Outcome:
    """``/members``: the first page of the admin's people."""
    try:
        scope = await svc.scope_of(ctx.session, ctx.actor, ctx.superadmin)
    except AccessError as refusal:
        return _refusal(refusal, edit=False)
    return Outcome(await list_view(ctx, scope, ListState(), edit=False))


async def private_only(ctx: FlowContext) -> Outcome:
    """/members in a group: people's details stay in the admin's private chat."""
    return Outcome(Reply([Msg("members.private_only")]))


async def on_button(ctx: FlowContext, pressed: CallbackData) -> Outcome:
    """Any button of /members; malformed or out-of-scope data gets the "out of date" toast."""
    route = ROUTES[type(pressed)]
    try:
        scope = await svc.scope_of(ctx.session, ctx.actor, ctx.superadmin)
        return await route(ctx, scope, pressed)
    except AccessError as refusal:
        return _refusal(refusal, edit=True)
    except (ValueError, KeyError):  # a forged list state or change
        return _stale()


# --- the list --------------------------------------------------------------------------------


def _day(moment: datetime | None, ctx: FlowContext) -> Label:
    return moment.astimezone(ctx.tz).strftime("%Y-%m-%d") if moment else Msg("members.never")


def _name(user: User) -> str:
    return user.real_name or (f"@{user.username}" if user.username else str(user.telegram_id))


def _line(
    ctx: FlowContext, number: int, person: Member, identities: list[tuple[str, str]]
) -> Msg:
    return Msg(
        "members.line",
        channels=channels.channels_line(identities),
        number=number,
        name=_name(person.user),
        role=role_label(person.user.role),
        org=person.org.name,
        status=Msg(STATUS_KEYS[person.status]),
        registered=_day(person.user.registered_at, ctx),
        last=_day(person.last_active, ctx),
    )


async def list_view(ctx: FlowContext, scope: Scope, state: ListState, *, edit: bool) -> Reply:
    """One page of people with the filters, paging and invite buttons."""
    org = await svc.org_in_scope(ctx.session, scope, state.org)
    role = ROLE_CODES.get(state.role)
    found = await svc.page(ctx.session, scope, org=org, role=role, offset=state.offset)
    if found.offset >= found.total > 0:  # the list shrank under an old "next" button
        state = ListState(state.org, state.role, 0)
        found = await svc.page(ctx.session, scope, org=org, role=role, offset=0)
    pages = max(1, -(-found.total // svc.PAGE))
    head = Msg(
        "members.head",
        org=org.name if org is not None else Msg("members.everyone"),
        role=role_label(role) if role else Msg("members.all_roles"),
        total=found.total,
        page=found.offset // svc.PAGE + 1,
        pages=pages,
    )
    numbered = list(enumerate(found.members, start=found.offset + 1))
    ids = await linking.identities_of_people(ctx.session, [p.user for p in found.members])
    texts = [head, *(_line(ctx, n, p, ids[p.user.id or 0]) for n, p in numbered)]
    if not found.members:
        texts.append(Msg("members.none"))
    ls = state.pack()
    people_buttons = [
        Button(f"{n}. {_name(p.user)}", MemberButton(p.user.id, ls).pack()) for n, p in numbered
    ]
    rows = [people_buttons[i : i + 2] for i in range(0, len(people_buttons), 2)]
    rows += [_role_filters(state), _org_filters(state), _pages(state, found.total)]
    rows.append(
        [
            Button(Msg("members.button.new_invite"), InviteNewButton().pack()),
            Button(Msg("members.button.invites"), InvitesButton().pack()),
        ]
    )
    return Reply(texts, rows, edit=edit)


def _role_filters(state: ListState) -> list[Button]:
    row = []
    for code, label in [
        ("", Msg("members.all_roles")),
        *((c, role_label(r)) for c, r in ROLE_CODES.items()),
    ]:
        shown: Label = Msg("form.checked", label=label) if code == state.role else label
        row.append(Button(shown, MembersButton(state.org, code).pack()))
    return row


def _org_filters(state: ListState) -> list[Button]:
    row = [Button(Msg("members.button.filter_org"), MembersFilterButton(state.role).pack())]
    if state.org:
        row.append(Button(Msg("members.button.all_orgs"), MembersButton(0, state.role).pack()))
    return row


def _pages(state: ListState, total: int) -> list[Button]:
    row = []
    if state.offset > 0:
        back = max(state.offset - svc.PAGE, 0)
        back_page = MembersButton(state.org, state.role, back)
        row.append(Button(Msg("members.button.prev"), back_page.pack()))
    if state.offset + svc.PAGE < total:
        ahead = state.offset + svc.PAGE
        next_page = MembersButton(state.org, state.role, ahead)
        row.append(Button(Msg("members.button.next"), next_page.pack()))
    return row


async def _list(ctx: FlowContext, scope: Scope, pressed: MembersButton) -> Outcome:
    state = ListState(pressed.org, pressed.role, pressed.offset)
    return Outcome(await list_view(ctx, scope, state, edit=True))


async def _start_form(ctx: FlowContext, name: str, extra: dict[str, Any] | None = None) -> Outcome:
    """A picker or the invite form; a half-filled form is shown again instead of discarded."""
    if await engine.holds_answers(ctx):
        return Outcome(await engine.current_view(ctx, [Msg("activity.finish_form_first")]))
    return Outcome(await engine.start(ctx, name, extra=extra))


async def _filter(ctx: FlowContext, scope: Scope, pressed: MembersFilterButton) -> Outcome:
    return await _start_form(ctx, FILTER_FORM, {"role": pressed.role})


# --- a person --------------------------------------------------------------------------------


async def card(
    ctx: FlowContext, scope: Scope, person: Member, ls: str, notes: list[Msg] | None = None
) -> Reply:
    """A person's details, their last change, and what the admin may do to them."""
    user = person.user
    texts = [
        *(notes or []),
        Msg(
            "members.card",
            name=_name(user),
            # No username (a WeCom member, or none set on Telegram): nothing, not "（—）".
            username=Msg("members.card_username", username=f"@{user.username}")
            if user.username
            else "",
            role=role_label(user.role),
            org=await orgs.org_path(ctx.session, person.org),
            status=Msg(STATUS_KEYS[person.status]),
            registered=_day(user.registered_at, ctx),
            last=_day(person.last_active, ctx),
        ),
        Msg(
            "members.card_channels",
            channels=channels.identities_line(await linking.identities_of(ctx.session, user)),
        ),
    ]
    changed = await svc.last_change(ctx.session, user)
    if changed is not None:
        entry, admin = changed
        texts.append(
            Msg(
                "members.card_change",
                what=Msg(ACTION_KEYS[MemberAction(entry.action)]),
                when=entry.at.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M"),
                who=_name(admin) if admin is not None else str(entry.actor_id),
            )
        )
    rows: list[list[Button]] = []
    if svc.may_manage(scope, ctx.user_id, person):
        rows = _card_actions(user, ls)
    else:
        texts.append(Msg("members.card_not_yours"))
    back = ListState.unpack(ls)
    to_list = MembersButton(back.org, back.role, back.offset)
    rows.append([Button(Msg("members.button.back_to_list"), to_list.pack())])
    return Reply(texts, rows, edit=True)


def _card_actions(user: User, ls: str) -> list[list[Button]]:
    token = svc.fingerprint(user)
    toggle = (
        Button(Msg("members.button.reactivate"), _change(user.id, token, "r", ls).pack())
        if user.deactivated_at is not None
        else Button(Msg("members.button.deactivate"), _change(user.id, token, "d", ls).pack())
    )
    role, move = (MemberEditButton(what, user.id, token, ls) for what in ("role", "org"))
    return [
        [toggle],
        [
            Button(Msg("members.button.role"), role.pack()),
            Button(Msg("members.button.move"), move.pack()),
        ],
    ]


def _change(user_id: int, token: str, change: str, ls: str) -> MemberChangeButton:
    return MemberChangeButton(False, user_id, token, change, ls)


async def _person(ctx: FlowContext, scope: Scope, pressed: MemberButton) -> Outcome:
    ls = ListState.unpack(pressed.back).pack()
    person = await svc.member(ctx.session, scope, pressed.user)
    return Outcome(await card(ctx, scope, person, ls))


async def _current(ctx: FlowContext, scope: Scope, user_id: int, token: str) -> Member:
    """The person behind a button, as long as they are still as the card showed them."""
    person = await svc.member(ctx.session, scope, user_id)
    if token != svc.fingerprint(person.user) or not svc.may_manage(scope, ctx.user_id, person):
        raise AccessError("members.stale")
    return person


async def _edit(ctx: FlowContext, scope: Scope, pressed: MemberEditButton) -> Outcome:
    return await (_roles if pressed.what == "role" else _move)(ctx, scope, pressed)


async def _roles(ctx: FlowContext, scope: Scope, pressed: MemberEditButton) -> Outcome:
    user_id, token, ls = pressed.user, pressed.token, ListState.unpack(pressed.back).pack()
    person = await _current(ctx, scope, user_id, token)
    roles = [r for r in svc.grantable_roles(scope, person.org) if r != person.user.role]
    row = [
        Button(role_label(r), _change(user_id, token, f"o{CODE_OF[r]}", ls).pack())
        for r in roles
    ]
    back = [Button(Msg("members.button.back"), MemberButton(user_id, ls).pack())]
    text = Msg("members.ask_role", name=_name(person.user), role=role_label(person.user.role))
    return Outcome(Reply([text], [row, back], edit=True))


async def _move(ctx: FlowContext, scope: Scope, pressed: MemberEditButton) -> Outcome:
    token, ls = pressed.token, ListState.unpack(pressed.back).pack()
    person = await _current(ctx, scope, pressed.user, token)
    extra = {"user": person.user.id, "token": token, "ls": ls, "name": _name(person.user)}
    return await _start_form(ctx, MOVE_FORM, extra)


def _read_change(text: str) -> Change:
    kind, value = ChangeKind(text[:1]), text[1:]
    if kind is ChangeKind.ROLE:
        return Change(kind, ROLE_CODES[value].value)
    if kind is ChangeKind.MOVE and button_number(value) is None:
        raise ValueError(value)
    return Change(kind, value)


async def ask(ctx: FlowContext, scope: Scope, pressed: MemberChangeButton) -> Outcome:
    """The confirmation of a change, with a warning when it takes the admin's own rights."""
    user_id, token, raw = pressed.user, pressed.token, pressed.change
    ls = ListState.unpack(pressed.back).pack()
    person = await _current(ctx, scope, user_id, token)
    change = _read_change(raw)
    target = await svc.check(ctx.session, scope, ctx.user_id, person, change)
    texts = [await _question(ctx, person, change, target)]
    warning = svc.warning(scope, ctx.user_id, person, change)
    if warning:
        texts.insert(0, Msg(warning))
    rows = [
        [
            Button(
                Msg("members.button.confirm"),
                MemberChangeButton(True, user_id, token, raw, ls).pack(),
            ),
            Button(Msg("members.button.cancel"), MemberButton(user_id, ls).pack()),
        ]
    ]
    return Outcome(Reply(texts, rows, edit=True))


async def _question(ctx: FlowContext, person: Member, change: Change, target: Org | None) -> Msg:
    name, user = _name(person.user), person.user
    if change.kind is ChangeKind.DEACTIVATE:
        return Msg("members.confirm_deactivate", name=name, org=person.org.name)
    if change.kind is ChangeKind.REACTIVATE:
        return Msg("members.confirm_reactivate", name=name, org=person.org.name)
    if change.kind is ChangeKind.ROLE:
        return Msg(
            "members.confirm_role",
            name=name,
            old=role_label(user.role),
            new=role_label(change.value),
        )
    return Msg(
        "members.confirm_move",
        name=name,
        old=await orgs.org_path(ctx.session, person.org),
        new=await orgs.org_path(ctx.session, target),
    )


async def confirm(ctx: FlowContext, scope: Scope, pressed: MemberChangeButton) -> Outcome:
    """Make a confirmed change, tell the person, and have their command menu sent again."""
    token, ls = pressed.token, ListState.unpack(pressed.back).pack()
    person = await svc.member(ctx.session, scope, pressed.user)
    change = _read_change(pressed.change)
    applied = await svc.apply(
        ctx.session,
        scope,
        actor_id=ctx.user_id,
        person=person,
        seen=token,
        change=change,
        now=ctx.now,
    )
    user = applied.user
    org_path = await _org_path_of(ctx, user)
    told = Msg(_notice_key(change), org=org_path, role=role_label(user.role))
    notice = Notice(user.telegram_id, people.user_locale(user), Reply([told]))
    done = _done(change, _name(user), org_path, user.role)
    reply = await card(ctx, scope, await svc.member(ctx.session, scope, user.id), ls, [done])
    reply.toast = Msg("members.saved")
    reply.notices = [notice] if user.telegram_id != ctx.user_id else []  # they see it here
    return Outcome(reply, menus=[user])


async def _org_path_of(ctx: FlowContext, user: User) -> str:
    org = await orgs.get_org(ctx.session, user.org_id)
    return await orgs.org_path(ctx.session, org)


def _notice_key(change: Change) -> str:
    return {
        ChangeKind.DEACTIVATE: "members.told.deactivated",
        ChangeKind.REACTIVATE: "members.told.reactivated",
        ChangeKind.ROLE: "members.told.role",
        ChangeKind.MOVE: "members.told.moved",
    }[change.kind]


def _done(change: Change, name: str, org_path: str, role: Role | None) -> Msg:
    if change.kind is ChangeKind.DEACTIVATE:
        return Msg("members.done.deactivated", name=name)
    if change.kind is ChangeKind.REACTIVATE:
        return Msg("members.done.reactivated", name=name)
    if change.kind is ChangeKind.ROLE:
        return Msg("members.done.role", name=name, role=role_label(role))
    return Msg("members.done.moved", name=name, org=org_path)


# --- invites ---------------------------------------------------------------------------------


def _local(moment: datetime, ctx: FlowContext) -> str:
    return moment.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")


def _links(ctx: FlowContext) -> people.InviteLinks:
    if ctx.invite_links is None:
        raise ValueError("no invite links: the flow context was built without the runtime")
    return ctx.invite_links


async def invites_view(ctx: FlowContext, scope: Scope, offset: int, notes: list[Msg]) -> Reply:
    """The scope's open invites, each with its link and a revoke button."""
    listed, total = await svc.open_invites(ctx.session, scope, offset=offset, now=ctx.now)
    texts = [*notes, Msg("members.invites_head", total=total, tz=zone_label(ctx.tz))]
    rows = []
    for number, (invite, org, creator) in enumerate(listed, start=offset + 1):
        texts.append(_invite_line(ctx, number, invite, org, creator))
        rows.append(
            [
                Button(
                    Msg("members.button.revoke", number=number),
                    InviteRevokeButton(invite.id, offset).pack(),
                )
            ]
        )
    if not listed:
        texts.append(Msg("members.no_invites"))
    nav = []
    if offset > 0:
        back = InvitesButton(max(offset - svc.INVITE_PAGE, 0))
        nav.append(Button(Msg("members.button.prev"), back.pack()))
    if offset + svc.INVITE_PAGE < total:
        ahead = InvitesButton(offset + svc.INVITE_PAGE)
        nav.append(Button(Msg("members.button.next"), ahead.pack()))
    rows.append(nav)
    rows.append(
        [
            Button(Msg("members.button.new_invite"), InviteNewButton().pack()),
            Button(Msg("members.button.back_to_list"), MembersButton().pack()),
        ]
    )
    return Reply(texts, rows, edit=True)


def _invite_line(
    ctx: FlowContext, number: int, invite: Invite, org: Org, creator: User | None
) -> Msg:
    return Msg(
        "members.invite_line",
        number=number,
        org=org.name,
        role=role_label(invite.role),
        used=invite.used,
        uses=invite.max_uses,
        expires=_local(invite.expires_at, ctx),
        creator=_name(creator) if creator is not None else "—",
        link=_links(ctx).link(invite.code),
    )


async def _invites(ctx: FlowContext, scope: Scope, pressed: InvitesButton) -> Outcome:
    return Outcome(await invites_view(ctx, scope, pressed.offset, []))


async def _revoke(ctx: FlowContext, scope: Scope, pressed: InviteRevokeButton) -> Outcome:
    invite = await svc.revoke_invite(
        ctx.session, scope, actor_id=ctx.user_id, invite_id=pressed.invite, now=ctx.now
    )
    org = await orgs.get_org(ctx.session, invite.org_id)
    note = Msg("members.revoked", org=org.name if org else "", role=role_label(invite.role))
    reply = await invites_view(ctx, scope, 0, [note])
    reply.toast = Msg("members.saved")
    return Outcome(reply)


async def _new_invite(ctx: FlowContext, scope: Scope, pressed: InviteNewButton) -> Outcome:
    return await _start_form(ctx, INVITE_FORM)


def invite_made(ctx: FlowContext, invite: Invite, org_path: str) -> Reply:
    """The new invite: its link, what it offers, until when, and the share button."""
    links = _links(ctx)
    text = Msg(
        "members.invite_made",
        link=links.link(invite.code),
        org=org_path,
        role=role_label(invite.role),
        uses=invite.max_uses,
        expires=_local(invite.expires_at, ctx),
        tz=zone_label(ctx.tz),
    )
    rows = [
        [Button(Msg("members.button.share"), url=links.share(invite.code))],
        [
            Button(Msg("members.button.invites"), InvitesButton().pack()),
            Button(Msg("members.button.back_to_list"), MembersButton().pack()),
        ],
    ]
    said = Msg("invite.qr_content", code=invite.code)
    return Reply(
        [text, Msg("members.invite_code", said=said)],
        rows,
        albums=[_invite_qr(ctx, invite, org_path, said)],
    )


def _invite_qr(ctx: FlowContext, invite: Invite, org_path: str, said: Msg) -> Album:
    """The invite's code as a QR image, with a caption to forward to someone on WeCom.

    The image holds the plain text "邀请码 CODE", not the t.me link: WeCom has no deep links
    and Telegram's site is out of reach in mainland China, while a text scanned with the WeCom
    app's scan menu (scancode_waitmsg) arrives at the bot as that text, which registers as a
    typed code does (onboarding.invite_route); any other scanner shows it, to copy and send.
    """
    content = t(ctx.locale, said.key, **said.params)
    image = Media.made("photo", qr.qr_png(content), f"invite-{invite.code}.png")
    caption = Msg(
        "members.invite_qr_caption",
        org=org_path,
        role=role_label(invite.role),
        said=said,
        expires=_local(invite.expires_at, ctx),
        tz=zone_label(ctx.tz),
    )
    return Album((image,), caption)


async def _change_pressed(ctx: FlowContext, scope: Scope, pressed: MemberChangeButton) -> Outcome:
    return await (confirm if pressed.confirmed else ask)(ctx, scope, pressed)


ROUTES: dict[type[CallbackData], Callable[[FlowContext, Scope, Any], Awaitable[Outcome]]] = {
    MembersButton: _list,
    MembersFilterButton: _filter,
    MemberButton: _person,
    MemberEditButton: _edit,
    MemberChangeButton: _change_pressed,
    InvitesButton: _invites,
    InviteRevokeButton: _revoke,
    InviteNewButton: _new_invite,
}
FAMILIES = tuple(ROUTES)  # the buttons of /members, matched by bot/telegram/handlers/members.py


# --- the forms: picking an org (filter, move) and making an invite -----------------------------


async def _form_scope(ctx: FlowContext) -> Scope:
    return await svc.scope_of(ctx.session, ctx.actor, ctx.superadmin)


ORGS = OrgPicker(_form_scope, "members.no_org_match")


def _org_field(prompt: str) -> FieldSpec:
    return ORGS.step("org", prompt=prompt, label="members.label.org")


class FilterForm(FormSpec):
    """The org to list the people of (with the orgs below it)."""

    name = FILTER_FORM
    confirm_without_summary = True
    fields = (_org_field("members.ask_filter_org"),)

    async def on_confirm(self, ctx: FlowContext, model: FormModel) -> Reply:
        """The list of the picked org."""
        try:
            scope = await _form_scope(ctx)
            state = ListState(int(model.data["org"]), str(model.ctx.get("role", "")), 0)
            return await list_view(ctx, scope, state, edit=True)
        except AccessError as refusal:
            return Reply([said(refusal)])


class MoveForm(FormSpec):
    """The org to move a person to; the confirmation comes next."""

    name = MOVE_FORM
    confirm_without_summary = True
    fields = (_org_field("members.ask_move_org"),)

    def prompt_params(self, ctx: FlowContext, model: FormModel, spec: FieldSpec) -> dict[str, Any]:
        """Whom the admin moves."""
        return {"name": model.ctx.get("name", "")}

    async def on_confirm(self, ctx: FlowContext, model: FormModel) -> Reply:
        """Ask to confirm the move to the picked org."""
        extra = model.ctx
        pressed = MemberChangeButton(
            False, int(extra["user"]), str(extra["token"]), f"m{model.data['org']}", extra["ls"]
        )
        try:
            scope = await _form_scope(ctx)
            return (await ask(ctx, scope, pressed)).reply
        except AccessError as refusal:  # said in the message: a toast would leave the picker
            return Reply([said(refusal)])


def _count_step(name: str, counts: tuple[int, ...]) -> FieldSpec:
    """A step of three buttons: 1 / 10 / 50 uses, 1 / 7 / 30 days (a plural message each)."""
    return FieldSpec(
        name,
        prompt=f"members.ask_invite_{name}",
        label=f"members.label.{name}",
        choices=[Choice(n, Msg(f"members.{name}", count=n)) for n in counts],
        columns=3,
    )


async def invite_roles(ctx: FlowContext, model: FormModel) -> list[Choice]:
    """The roles the admin may give in the picked org."""
    scope = await _form_scope(ctx)
    org = await orgs.get_org(ctx.session, int(model.data.get("org") or 0))
    roles = svc.grantable_roles(scope, org) if org is not None and scope.covers(org) else []
    return [Choice(role.value, role_label(role)) for role in roles]


class InviteForm(FormSpec):
    """A new invite: org, role, number of uses, days it is valid."""

    name = INVITE_FORM
    summary_key = "members.invite_summary"
    fields = (
        _org_field("members.ask_invite_org"),
        FieldSpec(
            "role",
            prompt="members.ask_invite_role",
            label="members.label.role",
            choices=invite_roles,
            display=lambda value, model: role_label(value),
            columns=1,
        ),
        _count_step("uses", svc.INVITE_USES),
        _count_step("days", svc.INVITE_DAYS),
    )

    async def on_confirm(self, ctx: FlowContext, model: FormModel) -> Reply:
        """Make the invite (checking the scope again) and show its link."""
        data = model.data
        try:
            scope = await _form_scope(ctx)
            invite, org = await svc.create_invite(
                ctx.session,
                scope,
                actor_id=ctx.user_id,
                org_id=int(data["org"]),
                role=Role(data["role"]),
                uses=int(data["uses"]),
                days=int(data["days"]),
                now=ctx.now,
            )
        except AccessError as refusal:
            return Reply([Msg("members.stale" if refusal.key == "members.stale" else refusal.key)])
        return invite_made(ctx, invite, await orgs.org_path(ctx.session, org))
