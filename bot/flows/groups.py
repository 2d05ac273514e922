"""What the bot says in work groups: help, /ask, /tasks, binding, receipts, the way to private.

Everything here is shown to the whole group, so it names no person and no org outside the
group's bound subtree: forms and personal lists get a deep-link button to the private chat
instead (bot/common/deeplinks.py).
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.common import deeplinks
from bot.flows import ask as ask_flow
from bot.flows.base import Button, FlowContext, Msg, Reply, said
from bot.flows.broadcast import notice_buttons
from bot.flows.callback_data import GroupBindButton
from bot.flows.task_views import local_text, time_left
from bot.services import groups, people
from bot.services.groups import ChatInfo, GroupError
from bot.services.policy import PolicyLibrary
from storage.broadcast_models import Broadcast

TITLE_SHOWN = 20  # characters of a task's title on its 填报 button


def open_private(ctx: FlowContext, command: str) -> Reply:
    """A form or personal command sent in the group: a button that opens it in private."""
    url = deeplinks.link(ctx.invite_links, command)
    button = Button(Msg("group.button.open_private"), url=url)
    return Reply([Msg("group.private_only", command=f"/{command}")], [[button]])


async def help_reply(ctx: FlowContext) -> Reply:
    """/help or /start in a group: what works here, and whether the group is bound."""
    org = await groups.bound_org(ctx.session, ctx.chat_id)
    state = Msg("group.bound_to", org=org.name) if org else Msg("group.unbound_hint")
    button = Button(Msg("group.button.open_private"), url=deeplinks.link(ctx.invite_links, "help"))
    return Reply([Msg("group.help"), state], [[button]])


async def greeting(ctx: FlowContext, chat: ChatInfo) -> Reply:
    """The bot was added: say what it does here and how an admin binds the group."""
    await groups.joined(ctx.session, chat, ctx.now)
    org = await groups.bound_org(ctx.session, chat.chat_id)
    if org is not None:  # added again: the old binding holds
        hint = Msg("group.bound_to", org=org.name)
    elif await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin) is not None:
        hint = Msg("group.greeting_admin")
    else:
        hint = Msg("group.unbound_hint")
    return Reply([Msg("group.greeting"), hint])


async def left(ctx: FlowContext, chat_id: int) -> None:
    """The bot was removed: keep the binding, inactive."""
    await groups.left(ctx.session, chat_id, ctx.now)


# --- questions -----------------------------------------------------------------------------


async def ask(ctx: FlowContext, library: PolicyLibrary, question: str) -> Reply:
    """/ask in a group: the same answer as in private, for the whole group."""
    if not question.strip():
        return Reply([Msg("group.ask_usage")])
    return await ask_flow.answer(ctx, library, question)


async def addressed(ctx: FlowContext, library: PolicyLibrary, text: str) -> Reply | None:
    """A reply to the bot or a mention of it: read like /ask; a bare 收到 or 👍 gets nothing."""
    if not text.strip():
        return await help_reply(ctx)
    if ask_flow.acknowledges(text):
        return None
    return await ask_flow.answer(ctx, library, text)


# --- /tasks --------------------------------------------------------------------------------


async def tasks(ctx: FlowContext) -> Reply:
    """The bound org's open tasks: deadlines and counts of orgs, a 填报 link per task."""
    org = await groups.bound_org(ctx.session, ctx.chat_id)
    if org is None:
        return Reply([Msg("group.tasks_unbound")])
    listed = await groups.open_tasks(ctx.session, org, ctx.now, ctx.tz)
    if not listed:
        return Reply([Msg("group.tasks_none", org=org.name)])
    texts = [Msg("group.tasks_header", org=org.name)]
    buttons = []
    for item in listed:
        texts.append(
            Msg(
                "group.tasks_line",
                title=item.task.title,
                deadline=local_text(item.cycle.deadline, ctx.tz),
                state=time_left(ctx, item.cycle),
                submitted=item.submitted,
                late=item.late,
                missing=item.missing,
            )
        )
        link = deeplinks.link(ctx.invite_links, deeplinks.FILL, item.cycle.id)
        label = Msg("group.button.fill", title=_short(item.task.title))
        buttons.append([Button(label, url=link)])
    texts.append(Msg("group.tasks_footer"))
    return Reply(texts, buttons)


def _short(title: str) -> str:
    return title if len(title) <= TITLE_SHOWN else title[:TITLE_SHOWN] + "…"


# --- binding -------------------------------------------------------------------------------


async def bind_menu(ctx: FlowContext, text: str) -> Reply:
    """/bindgroup [name]: the orgs of the admin's subtree to bind the group to, as buttons."""
    try:
        scope = await groups.binder_scope(ctx.session, ctx.actor, ctx.superadmin, ctx.chat_id)
    except GroupError as refusal:
        return Reply([said(refusal)])
    found = await groups.bind_choices(ctx.session, scope, text.strip())
    if not found:
        return Reply([Msg("group.bind_no_match", text=text.strip()[:50])])
    buttons = [[Button(org.name, GroupBindButton(org.id).pack())] for org in found]
    return Reply([Msg("group.bind_pick")], buttons)


async def bind(ctx: FlowContext, chat: ChatInfo, org_id: int) -> Reply:
    """An org button of the picker: bind (the presser's scope is checked again)."""
    try:
        org = await groups.bind(
            ctx.session,
            chat,
            org_id=org_id,
            actor=ctx.actor,
            superadmin=ctx.superadmin,
            locale=ctx.locale,
            now=ctx.now,
        )
    except GroupError as refusal:
        return Reply([], toast=said(refusal))
    return Reply([Msg("group.bound", org=org.name)], edit=True, toast=Msg("group.bound_toast"))


async def unbind(ctx: FlowContext) -> Reply:
    """/unbindgroup."""
    try:
        org = await groups.unbind(
            ctx.session, ctx.chat_id, actor=ctx.actor, superadmin=ctx.superadmin, now=ctx.now
        )
    except GroupError as refusal:
        return Reply([said(refusal)])
    return Reply([Msg("group.unbound", org=org.name)])


# --- receipts ------------------------------------------------------------------------------


async def acknowledge(ctx: FlowContext, broadcast_id: int, message_id: int) -> tuple[Reply, bool]:
    """已阅 under a group notice: a toast for the presser; True when the count changed."""
    try:
        added, _ = await groups.acknowledge(
            ctx.session,
            chat_id=ctx.chat_id,
            broadcast_id=broadcast_id,
            message_id=message_id,
            user=ctx.actor,
            now=ctx.now,
        )
    except GroupError as refusal:
        return Reply([], toast=said(refusal)), False
    return Reply([], toast=Msg("group.acked" if added else "group.already_acked")), added


async def ack_buttons(
    session: AsyncSession, chat_id: int, broadcast_id: int
) -> tuple[list[list[Button]], str | None]:
    """The notice's 已阅 button with the group's count now, and the group's language."""
    broadcast = await session.get(Broadcast, broadcast_id)
    group = await groups.get_group(session, chat_id)
    if broadcast is None or group is None:
        return [], None
    count = await groups.receipt_count(session, chat_id, broadcast_id)
    return notice_buttons(broadcast, group=True, acked=count), group.locale
