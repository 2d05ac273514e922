"""/remind: set a personal reminder in one message, list mine, delete one."""

from __future__ import annotations

from bot.flows.base import Button, FlowContext, Msg, Reply, said
from bot.flows.callback_data import ReminderDeleteButton
from bot.flows.task_views import local_text
from bot.flows.when_notes import shown
from bot.services import reminders, when
from bot.services.reminders import ReminderError

LISTED = 20  # reminders shown by /remind (the cap per user is reminders.PERSONAL_MAX)


async def remind(ctx: FlowContext, args: str) -> Reply:
    """Set a reminder from ``<when> <text>``, or list the user's reminders when there is none."""
    if not args.strip():
        return await listing(ctx)
    try:
        # A day without a time (3天后, 明天) means 09:00 of it: when.REMINDER's daytime hour.
        moment, text = when.read_leading_moment(args, ctx.now, ctx.tz, when.REMINDER)
        reminder = await reminders.add_personal(
            ctx.session,
            ctx.actor,
            ctx.chat_id,
            moment.at,
            text,
            ctx.now,  # type: ignore[arg-type]
        )
    except when.WhenError as error:
        return Reply(texts=[said(error)])
    except ReminderError as error:
        return Reply(texts=[said(error)])
    at = local_text(reminder.remind_at, ctx.tz)
    return Reply(texts=[Msg("remind.created", at=at, text=reminder.text), *shown(moment.notes)])


async def listing(ctx: FlowContext, *, edit: bool = False, toast: Msg | None = None) -> Reply:
    """The user's waiting reminders, each with a delete button."""
    mine = await reminders.personal_of(ctx.session, ctx.actor.id, LISTED)  # type: ignore[union-attr,arg-type]
    if not mine:
        return Reply(texts=[Msg("remind.list.empty")], edit=edit, toast=toast)
    texts = [Msg("remind.list.header", count=len(mine))]
    buttons = []
    for number, reminder in enumerate(mine, start=1):
        at = local_text(reminder.remind_at, ctx.tz)
        texts.append(Msg("remind.list.item", number=number, at=at, text=reminder.text))
        label = Msg("remind.button.delete", number=number)
        buttons.append([Button(label, ReminderDeleteButton(reminder.id).pack())])
    return Reply(texts=texts, buttons=buttons, edit=edit, toast=toast)


async def delete(ctx: FlowContext, reminder_id: int) -> Reply:
    """Delete one of the user's reminders (a button of the list), then show the list again."""
    gone = await reminders.delete_personal(
        ctx.session, reminder_id, ctx.actor.id  # type: ignore[union-attr,arg-type]
    )
    toast = Msg("remind.deleted" if gone else "remind.delete_gone")
    return await listing(ctx, edit=True, toast=toast)
