"""Group and supergroup chats (科协 work groups): /ask, /tasks, /docs, /help, /bindgroup, the
已阅 of group notices, and a deep link to the private chat for every form or personal command.

These handlers run in handler group -1, right after the duplicate guard, and every group update
they match ends there (``ApplicationHandlerStop``): no private-chat handler ever runs, or
answers, in a group. Free text in a group is read only when it replies to the bot or mentions
it. With Telegram's privacy mode on (the default), the bot receives only commands, replies to
its messages and service messages, so mentions are seen only with privacy mode off or the bot
made a group admin; either way the same filter decides.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import Bot, CallbackQuery, ChatMember, Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.common import deeplinks
from bot.flows import groups as flow
from bot.flows import task_report
from bot.flows.base import FlowContext, Msg, Reply
from bot.flows.callback_data import GroupBindButton, GroupReceiptButton, TaskButton, find_any
from bot.flows.library import list_documents
from bot.runtime import StabotContext
from bot.services import groups
from bot.services.groups import ChatInfo
from bot.telegram.group_edits import CountEdits
from bot.telegram.handlers import activities, ask, broadcast, members, start
from bot.telegram.handlers import reminders as reminder_handlers
from bot.telegram.handlers import stats as stats_handlers
from bot.telegram.handlers import tasks as task_handlers
from bot.telegram.handlers.common import respond, respond_and_tell
from bot.telegram.render import render_markup
from storage.db import transaction

log = logging.getLogger(__name__)
Handler = Callable[[Update, StabotContext], Awaitable[None]]
GROUP_TYPES = (ChatType.GROUP, ChatType.SUPERGROUP)

# Forms and personal commands: in a group they answer with a button that opens the private
# chat, where ``/start go_<name>`` runs the same handler.
PRIVATE_COMMANDS: dict[str, Handler] = {
    "log": activities.log,
    "mylogs": activities.my_logs,
    "pushed": activities.pushed,
    "newtask": task_handlers.new_task,
    "broadcast": broadcast.broadcast_command,
    "remind": reminder_handlers.remind_command,
    "stats": stats_handlers.stats_command,
    "export": stats_handlers.export_command,
    "me": start.me,
    "lang": start.lang,
    "cancel": start.cancel,
    "tasks": task_handlers.tasks,
    "help": start.help_command,
    "members": members.members_command,
}


# --- commands ------------------------------------------------------------------------------


async def command(update: Update, context: StabotContext) -> None:
    """A command in a group: answered for the group, pointed to private, or ignored."""
    name, target, args = _parse_command(update.effective_message.text or "")
    mine = not target or target.lower() == context.bot.username.lower()
    if mine and update.effective_user is not None:
        if name in GROUP_COMMANDS:
            await GROUP_COMMANDS[name](update, context, args)
        elif name in PRIVATE_COMMANDS:
            await respond(update, context, lambda ctx: _private(ctx, name), quote=True)
    raise ApplicationHandlerStop


async def _private(ctx: FlowContext, name: str) -> Reply:
    return flow.open_private(ctx, name)


def _parse_command(text: str) -> tuple[str, str, str]:
    """``/ask@bot 问题`` → ("ask", "bot", "问题")."""
    head, *rest = text.split(maxsplit=1) or [""]
    name, _, target = head.lstrip("/").partition("@")
    return name.lower(), target, rest[0].strip() if rest else ""


async def _ask(update: Update, context: StabotContext, question: str) -> None:
    library = context.rt.policy
    await respond(update, context, lambda ctx: flow.ask(ctx, library, question), quote=True)


async def _tasks(update: Update, context: StabotContext, _args: str) -> None:
    await respond(update, context, flow.tasks, quote=True)


async def _docs(update: Update, context: StabotContext, _args: str) -> None:
    library = context.rt.policy
    await respond(update, context, lambda ctx: list_documents(ctx, library), quote=True)


async def _help(update: Update, context: StabotContext, _args: str) -> None:
    await respond(update, context, flow.help_reply, quote=True)


async def _bind(update: Update, context: StabotContext, text: str) -> None:
    await respond(update, context, lambda ctx: flow.bind_menu(ctx, text), quote=True)


async def _unbind(update: Update, context: StabotContext, _args: str) -> None:
    await respond(update, context, flow.unbind, quote=True)


GROUP_COMMANDS: dict[str, Callable[[Update, StabotContext, str], Awaitable[None]]] = {
    "ask": _ask,
    "tasks": _tasks,
    "docs": _docs,
    "help": _help,
    "start": _help,
    "bindgroup": _bind,
    "unbindgroup": _unbind,
}


# --- free text -----------------------------------------------------------------------------


async def text(update: Update, context: StabotContext) -> None:
    """A reply to the bot or a mention of it is read like /ask; other chatter is left alone."""
    question = addressed_text(update.effective_message, context.bot)
    if question is not None and update.effective_user is not None:
        library = context.rt.policy

        async def produce(ctx: FlowContext) -> Reply | None:
            return await flow.addressed(ctx, library, question)

        await respond(update, context, produce, quote=True)
    raise ApplicationHandlerStop


def addressed_text(message: Message, bot: Bot) -> str | None:
    """The text with the bot's mentions taken out, when it is meant for the bot; else None."""
    username = bot.username.lower()
    mentions = [
        part
        for entity, part in message.parse_entities(
            [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
        ).items()
        if (entity.user is not None and entity.user.id == bot.id)
        or (entity.type == MessageEntity.MENTION and part[1:].lower() == username)
    ]
    replied = message.reply_to_message
    author = replied.from_user if replied is not None else None
    to_bot = author is not None and author.id == bot.id
    if not mentions and not to_bot:
        return None
    body = message.text or ""
    for part in mentions:
        body = body.replace(part, " ")
    return " ".join(body.split())


# --- buttons -------------------------------------------------------------------------------


class GroupButtonHandler(CallbackQueryHandler):
    """Callback queries from messages in group chats only."""

    def check_update(self, update: object) -> bool | object | None:
        """Match only presses under a message in a group or supergroup."""
        if not isinstance(update, Update) or update.effective_chat is None:
            return None
        if update.effective_chat.type not in GROUP_TYPES:
            return None
        return super().check_update(update)


async def button(update: Update, context: StabotContext) -> None:
    """Buttons under the bot's group messages; anything else is for the private chat."""
    query = update.callback_query
    pressed = find_any(query.data)
    if ask.ASK_BUTTONS(query.data):
        await ask.ask_button(update, context)  # public documents; "more sources" per group
    elif isinstance(pressed, GroupReceiptButton):
        await _acknowledge(update, context, pressed.broadcast)
    elif isinstance(pressed, GroupBindButton):
        chat = _chat_info(update)
        await respond(update, context, lambda ctx: flow.bind(ctx, chat, pressed.org))
    elif isinstance(pressed, TaskButton) and pressed.action == "fill":
        await _open_fill(query, context, pressed.target)
    else:  # a private chat's button forwarded here, or forged: nothing shows in the group
        await respond(update, context, lambda ctx: _toast("group.private_button"))
    raise ApplicationHandlerStop


async def _toast(key: str) -> Reply:
    return Reply([], toast=Msg(key))


async def _open_fill(query: CallbackQuery, context: StabotContext, cycle_id: int) -> None:
    """A 填报 button pressed in a group opens the report form in the private chat."""
    link = deeplinks.link(context.rt.invite_links, deeplinks.FILL, cycle_id)
    try:
        await query.answer(url=link)
    except TelegramError as error:  # too old to answer: nothing else to do
        log.info("callback answer failed: %s", error)


async def _acknowledge(update: Update, context: StabotContext, broadcast_id: int) -> None:
    """已阅 under a group notice: a toast for the presser, the count for everyone (spaced)."""
    message_id = update.callback_query.message.message_id
    added = await respond_and_tell(
        update, context, lambda ctx: flow.acknowledge(ctx, broadcast_id, message_id)
    )
    if added:
        chat_id = update.effective_chat.id
        show = _count_shower(context, chat_id, message_id, broadcast_id)
        await _counts(context).request(chat_id, message_id, show)


def _counts(context: StabotContext) -> CountEdits:
    return context.rt.group_counts


def _count_shower(
    context: StabotContext, chat_id: int, message_id: int, broadcast_id: int
) -> Callable[[], Awaitable[None]]:
    async def show() -> None:
        async with transaction(context.rt.sessions) as session:
            buttons, locale = await flow.ack_buttons(session, chat_id, broadcast_id)
        try:
            await context.bot.edit_message_reply_markup(
                chat_id, message_id, reply_markup=render_markup(locale, buttons)
            )
        except TelegramError as error:  # "not modified" (same count) or the message is gone
            log.info("count edit failed: %s", error)

    return show


# --- membership ----------------------------------------------------------------------------


async def membership(update: Update, context: StabotContext) -> None:
    """The bot added to a group (a greeting, how to bind) or removed (binding kept inactive)."""
    change = update.my_chat_member
    if change.chat.type not in GROUP_TYPES:
        return  # a private chat blocked or unblocked: not this module's business
    was, now = _member(change.old_chat_member), _member(change.new_chat_member)
    if was != now and update.effective_user is not None:
        chat = _chat_info(update)
        if now:
            await respond(update, context, lambda ctx: flow.greeting(ctx, chat))
        else:
            async with context.rt.unit(update) as ctx:
                await flow.left(ctx, chat.chat_id)
    raise ApplicationHandlerStop


def _member(member: ChatMember) -> bool:
    if member.status in (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER):
        return True
    return member.status == ChatMember.RESTRICTED and bool(getattr(member, "is_member", False))


def _chat_info(update: Update) -> ChatInfo:
    chat = update.effective_chat
    return ChatInfo(chat.id, chat.type, chat.title or "")


async def migrated(update: Update, context: StabotContext) -> None:
    """A group became a supergroup (a new chat id): its binding follows."""
    message = update.effective_message
    if message.migrate_to_chat_id:
        rt, new_id = context.rt, message.migrate_to_chat_id
        async with transaction(rt.sessions) as session:
            await groups.moved(session, message.chat.id, new_id, rt.clock.now())
    raise ApplicationHandlerStop


# --- the way back from a group: /start go_<name> in private ------------------------------


def _opening(handler: Handler) -> Callable[[Update, StabotContext, str], Awaitable[None]]:
    async def open_(update: Update, context: StabotContext, _arg: str) -> None:
        context.args = []  # the command as if typed without arguments
        await handler(update, context)

    return open_


async def _fill(update: Update, context: StabotContext, arg: str) -> None:
    """``go_fill_<cycle>``: the report form of that cycle, as its 填报 button opens it."""
    if arg.isdigit():
        await respond(update, context, lambda ctx: task_report.start_report(ctx, int(arg)))


def register_deep_links() -> None:
    """Let /start open what the group's buttons point to."""
    for name, handler in PRIVATE_COMMANDS.items():
        deeplinks.ROUTES.setdefault(name, _opening(handler))
    deeplinks.ROUTES.setdefault(deeplinks.FILL, _fill)


async def bind_in_private(update: Update, context: StabotContext) -> None:
    """/bindgroup sent to the bot privately: it belongs in the group."""
    await respond(update, context, lambda ctx: _say("group.bind_in_group"))


async def _say(key: str) -> Reply:
    return Reply([Msg(key)])


def private_handlers() -> list[BaseHandler]:
    """Group 0: the group commands sent in a private chat get a hint."""
    private = filters.ChatType.PRIVATE
    return [CommandHandler(["bindgroup", "unbindgroup"], bind_in_private, filters=private)]


def handlers() -> list[BaseHandler]:
    """Group -1 handlers: every update from a group chat is handled here and stops here."""
    register_deep_links()
    in_group = filters.ChatType.GROUPS
    message = filters.UpdateType.MESSAGE
    return [
        ChatMemberHandler(membership, ChatMemberHandler.MY_CHAT_MEMBER),
        MessageHandler(in_group & filters.StatusUpdate.MIGRATE, migrated),
        MessageHandler(in_group & message & filters.COMMAND, command),
        MessageHandler(in_group & message & filters.TEXT, text),
        GroupButtonHandler(button),
    ]
