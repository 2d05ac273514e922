"""What the broadcast buttons do: preview, launch, pause/resume/cancel, receipts, reminders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.flows.base import Button, FlowContext, Label, Msg, Reply, SendRates, said
from bot.flows.broadcast import admin_scope, counted, duration_text, progress_reply, report_reply
from bot.flows.callback_data import NoticeButton
from bot.services import broadcasts, groups
from bot.services.broadcasts import BroadcastError
from storage.broadcast_models import Broadcast, BroadcastStatus
from storage.models import User

WHO_LIMIT = 40  # names per list in the receipts view; the counts say the rest
STARS_PER_MESSAGE = 0.1  # Telegram's price of a paid broadcast message


def _local(ctx: FlowContext, moment: datetime | None) -> str:
    return (moment or ctx.now).astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")


async def _owned(ctx: FlowContext, broadcast_id: int) -> Broadcast:
    return await broadcasts.owned(
        ctx.session, broadcast_id, telegram_id=ctx.user_id, superadmin=ctx.superadmin
    )


async def _guarded(work: Callable[[], Awaitable[Reply]]) -> Reply:
    try:
        return await work()
    except BroadcastError as refusal:
        return Reply([], toast=said(refusal))


async def draft_for_preview(ctx: FlowContext, broadcast_id: int) -> Broadcast | None:
    """The draft to show as a preview, if the admin may see it."""
    try:
        draft = await _owned(ctx, broadcast_id)
    except BroadcastError:
        return None
    return draft if draft.status == BroadcastStatus.DRAFT else None


async def preview_reply(ctx: FlowContext, broadcast_id: int) -> Reply:
    """Under the preview: how many get it and when, with send and cancel."""

    async def work() -> Reply:
        draft = await _owned(ctx, broadcast_id)
        if draft.status != BroadcastStatus.DRAFT:
            raise BroadcastError("broadcast.already_launched")
        when: Label = (
            _local(ctx, draft.scheduled_at) if draft.scheduled_at else Msg("broadcast.when_now")
        )
        key = counted("broadcast.confirm", broadcasts.to_groups(draft))
        text = Msg(key, count=draft.total, when=when)
        buttons = [
            [
                Button(Msg("broadcast.button.send"), NoticeButton(draft.id, "send").pack()),
                Button(Msg("broadcast.button.cancel"), NoticeButton(draft.id, "cancel").pack()),
            ]
        ]
        texts = [Msg("broadcast.preview_above"), text]
        # Only superadmins may spend the bot's Stars: the cost comes first.
        if ctx.superadmin and ctx.send_rates is not None:
            texts.append(paid_offer(draft.total, ctx.send_rates))
            stars = Msg("broadcast.button.paid", stars=stars_for(draft.total))
            buttons.insert(1, [Button(stars, NoticeButton(draft.id, "send-paid").pack())])
        return Reply(texts, buttons)

    return await _guarded(work)


def stars_for(recipients: int) -> str:
    """What a paid broadcast costs: 0.1 Telegram Star a message."""
    return f"{recipients * STARS_PER_MESSAGE:.1f}"


def paid_offer(recipients: int, rates: SendRates) -> Msg:
    """Free or paid, with the time each takes (at the pipeline's rates) and the Stars the
    paid one costs."""
    return Msg(
        "broadcast.ask_paid",
        count=recipients,
        free_time=duration_text(recipients / rates.free),
        paid_time=duration_text(max(1.0, recipients / rates.paid)),
        stars=stars_for(recipients),
    )


async def launch(ctx: FlowContext, broadcast_id: int, *, paid: bool = False) -> Reply:
    """Queue the draft: now, or at its time (paid: at up to 1,000 a second, superadmins only)."""

    async def work() -> Reply:
        if paid and not ctx.superadmin:
            raise BroadcastError("broadcast.paid_refused")
        draft = await _owned(ctx, broadcast_id)
        draft.paid = paid
        scope = await admin_scope(ctx)
        total = await broadcasts.launch(
            ctx.session, draft, scope=scope, default_locale=ctx.locale, now=ctx.now
        )
        to_groups = broadcasts.to_groups(draft)
        if not to_groups:  # people, not their deliveries (one on each channel of theirs)
            total = await broadcasts.people_count(ctx.session, draft.id)
        if draft.scheduled_at and draft.scheduled_at > ctx.now:
            when = _local(ctx, draft.scheduled_at)
            msg = Msg(counted("broadcast.scheduled", to_groups), count=total, when=when)
            undo = NoticeButton(draft.id, "cancel")
            cancel = Button(Msg("broadcast.button.cancel"), undo.pack())
            return Reply([msg], [[cancel]], edit=True)
        return Reply([Msg(counted("broadcast.launched", to_groups), count=total)], edit=True)

    return await _guarded(work)


async def control(ctx: FlowContext, broadcast_id: int, action: str) -> Reply:
    """Pause, resume or cancel; the status message shows the result, and a cancel says what
    it stopped and what it cannot take back."""

    async def work() -> Reply:
        broadcast = await _owned(ctx, broadcast_id)
        if broadcast.status in (BroadcastStatus.DONE, BroadcastStatus.CANCELLED):
            return await _over(ctx, broadcast)  # an old status message's button
        if action == "cancel":
            return await _cancel(ctx, broadcast)
        await broadcasts.set_paused(ctx.session, broadcast, paused=action == "pause")
        figures = await broadcasts.progress(ctx.session, broadcast_id)
        reply = _paused_view(broadcast, figures)
        reply.edit = True
        return reply

    return await _guarded(work)


async def _cancel(ctx: FlowContext, broadcast: Broadcast) -> Reply:
    """Stop what is not sent yet; the delivery report, under what the cancel stopped and
    that what was delivered stays delivered."""
    was_draft = broadcast.status == BroadcastStatus.DRAFT
    await broadcasts.cancel(ctx.session, broadcast, now=ctx.now)
    if was_draft:
        return Reply([Msg("broadcast.draft_cancelled")], edit=True)
    figures = await broadcasts.progress(ctx.session, broadcast.id)  # type: ignore[arg-type]
    said = [Msg("broadcast.cancel_stopped", count=figures.cancelled)]
    if figures.sent:
        said.append(_cannot_recall(broadcast, figures, "broadcast.cancel_cannot_recall"))
    reply = report_reply(broadcast, figures)
    reply.texts[:0] = said
    reply.edit = True
    return reply


async def _over(ctx: FlowContext, broadcast: Broadcast) -> Reply:
    """A button of a notice already sent or cancelled: said plainly (delivered to N, which
    cannot be recalled), above its final status."""
    figures = await broadcasts.progress(ctx.session, broadcast.id)  # type: ignore[arg-type]
    if broadcast.status == BroadcastStatus.CANCELLED:
        reply = report_reply(broadcast, figures)
        reply.texts.insert(0, Msg("broadcast.already_cancelled"))
    else:
        reply = progress_reply(broadcast, figures)
        reply.texts.insert(0, _cannot_recall(broadcast, figures, "broadcast.cannot_recall"))
    reply.edit = True
    return reply


def _cannot_recall(broadcast: Broadcast, figures: broadcasts.Progress, key: str) -> Msg:
    """Delivered to N people (or posted in N work groups), which no cancel takes back."""
    if broadcasts.to_groups(broadcast):
        return Msg(counted(key, True), count=figures.sent)
    return Msg(key, count=figures.people_sent)


def _paused_view(broadcast: Broadcast, figures: broadcasts.Progress) -> Reply:
    return progress_reply(broadcast, figures)  # no speed: nothing measured since the press


def _names(users: list[User]) -> list[str]:
    return [u.real_name or (f"@{u.username}" if u.username else str(u.telegram_id)) for u in users]


async def receipts(ctx: FlowContext, broadcast_id: int) -> Reply:
    """Who has acknowledged and who has not (names, then counts)."""

    async def work() -> Reply:
        broadcast = await _owned(ctx, broadcast_id)
        if broadcasts.to_groups(broadcast):
            return await _group_receipts(ctx, broadcast)
        figures = await broadcasts.progress(ctx.session, broadcast_id)
        acked, waiting = await broadcasts.receipt_lists(ctx.session, broadcast_id, WHO_LIMIT)
        empty = Msg("broadcast.nobody")
        texts = [
            Msg(
                "broadcast.receipts_head",
                id=broadcast.id,
                acked=figures.acked,
                sent=figures.people_sent,
            ),
            Msg("broadcast.receipts_acked", names=_names(acked) or empty),
            Msg("broadcast.receipts_waiting", names=_names(waiting) or empty),
        ]
        if figures.people_sent > WHO_LIMIT:
            texts.append(Msg("broadcast.receipts_truncated", limit=WHO_LIMIT))
        return Reply(texts)

    return await _guarded(work)


async def _group_receipts(ctx: FlowContext, broadcast: Broadcast) -> Reply:
    """Per work group: how many members acknowledged, and who (for the admin's eyes only)."""
    found = await groups.receipts(ctx.session, broadcast.id, WHO_LIMIT)  # type: ignore[arg-type]
    total = sum(group.count for group in found)
    texts = [Msg("broadcast.group_receipts_head", id=broadcast.id, acked=total)]
    for group in found:
        names = _names(group.readers) or Msg("broadcast.nobody")
        texts.append(
            Msg("broadcast.group_receipts_line", group=group.title, count=group.count, names=names)
        )
    if any(group.count > WHO_LIMIT for group in found):
        texts.append(Msg("broadcast.receipts_truncated", limit=WHO_LIMIT))
    return Reply(texts)


async def remind(ctx: FlowContext, broadcast_id: int) -> Reply:
    """Send the notice again to whoever has not acknowledged it."""

    async def work() -> Reply:
        root = await _owned(ctx, broadcast_id)
        reminder, _ = await broadcasts.remind(ctx.session, root, now=ctx.now)
        people = await broadcasts.people_count(ctx.session, reminder.id)  # not their channels
        return Reply([Msg("broadcast.reminding", count=people)])

    return await _guarded(work)


async def confirm_resend(ctx: FlowContext, broadcast_id: int) -> Reply:
    """Ask before resending to the rows whose delivery is unknown: some may get it twice."""

    async def work() -> Reply:
        broadcast = await _owned(ctx, broadcast_id)
        figures = await broadcasts.progress(ctx.session, broadcast_id)
        if not figures.unknown:
            raise BroadcastError("broadcast.nothing_unconfirmed")
        text = Msg("broadcast.resend_confirm", id=broadcast.id, count=figures.unknown)
        yes = NoticeButton(broadcast.id, "resend-yes")
        go = Button(Msg("broadcast.button.resend_confirm"), yes.pack())
        return Reply([text], [[go]])

    return await _guarded(work)


async def resend(ctx: FlowContext, broadcast_id: int) -> Reply:
    """The admin confirmed: the unconfirmed rows are queued again."""

    async def work() -> Reply:
        broadcast = await _owned(ctx, broadcast_id)
        count = await broadcasts.resend_unconfirmed(ctx.session, broadcast, now=ctx.now)
        return Reply([Msg("broadcast.resending", count=count)], edit=True)

    return await _guarded(work)


async def acknowledge(ctx: FlowContext, broadcast_id: int) -> tuple[Reply, bool]:
    """A recipient taps 已阅; True when this press recorded the receipt."""
    done = await broadcasts.acknowledge(
        ctx.session, broadcast_id=broadcast_id, telegram_id=ctx.user_id, now=ctx.now
    )
    return Reply([], toast=Msg("broadcast.acked" if done else "broadcast.ack_nothing")), done
