"""/broadcast: the form that builds a notice, and the views of its preview, progress and report.

Form: audience (with counts) → level | orgs | role | work groups → text → attachment →
receipt → when → summary. Confirming saves a draft; the admin then sees the preview exactly as
recipients will, and launches it (buttons ``notice:<id>:<action>``). Recipients acknowledge
with ``read:<id>``; members of a work group under the group's copy with ``group-read:<id>``
(`bot.flows.callback_data`).
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.flows import engine
from bot.flows.base import (
    Button,
    Choice,
    FieldSpec,
    FlowContext,
    FormModel,
    FormSpec,
    Html,
    Input,
    InputKind,
    Invalid,
    Label,
    Msg,
    Reply,
    said,
)
from bot.flows.callback_data import GroupReceiptButton, NoticeAction, NoticeButton, ReceiptButton
from bot.flows.org_picker import OrgPicker, org_name, show_reach
from bot.flows.when_notes import note_json, notes_of
from bot.services import broadcasts, groups, orgs, people, when
from bot.services.broadcasts import (
    CAPTION_LIMIT,
    GROUPS,
    SUPERADMIN,
    TEXT_LIMIT,
    Audience,
    BroadcastError,
    Pace,
    Progress,
    Sender,
    clean_html,
    count_audience,
    excerpt_html,
)
from storage.broadcast_models import Broadcast, BroadcastStatus
from storage.models import OrgLevel, Role

# Room for the lines above the text: the reminder's, and who sent it when (`sender_line`: an
# org and a name cut to SENDER_ORG_SHOWN and SENDER_NAME_SHOWN characters).
PREFIX_ROOM = 200
# The limits shown and enforced: what Telegram leaves after those lines, rounded down to a
# hundred, so a member reads "最多 3800 字", a true limit, not an odd 3896.
NOTICE_TEXT_LIMIT = (TEXT_LIMIT - PREFIX_ROOM) // 100 * 100
NOTICE_CAPTION_LIMIT = (CAPTION_LIMIT - PREFIX_ROOM) // 100 * 100
GROUP_CHOICES = 30  # work groups offered as an audience
SENDER_ORG_SHOWN, SENDER_NAME_SHOWN = 40, 30  # the sender line's parts, cut beyond
EXCERPT = 60
BAR_WIDTH = 20
LEVEL_KEYS = {
    OrgLevel.PROVINCE: "broadcast.level.province",
    OrgLevel.CITY: "broadcast.level.city",
    OrgLevel.COUNTY: "broadcast.level.county",
    OrgLevel.PARK: "broadcast.level.park",
    OrgLevel.ENTERPRISE: "broadcast.level.enterprise",
    OrgLevel.UNIVERSITY: "broadcast.level.university",
    OrgLevel.SOCIETY: "broadcast.level.society",
}
STATUS_KEYS = {
    BroadcastStatus.DRAFT: "broadcast.status.draft",
    BroadcastStatus.SCHEDULED: "broadcast.status.scheduled",
    BroadcastStatus.RUNNING: "broadcast.status.running",
    BroadcastStatus.PAUSED: "broadcast.status.paused",
    BroadcastStatus.DONE: "broadcast.status.done",
    BroadcastStatus.CANCELLED: "broadcast.status.cancelled",
}


async def admin_scope(ctx: FlowContext) -> people.Scope:
    """The subtree the acting admin broadcasts to; anyone else is refused."""
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    if scope is None:
        raise BroadcastError("broadcast.admins_only")
    return scope


async def begin(ctx: FlowContext) -> Reply:
    """``/broadcast``: admins get the form, everyone else a refusal."""
    if await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin) is None:
        return Reply([Msg("broadcast.admins_only")])
    return await engine.start(ctx, BroadcastForm.name)


# --- the form's choices and parsers ----------------------------------------------------------


async def audience_choices(ctx: FlowContext, model: FormModel) -> list[Choice]:
    """The whole scope (with its count), or narrowing by level, orgs or role."""
    scope = await admin_scope(ctx)
    whole = Audience("all" if scope.org is None else "subtree")
    count = await count_audience(ctx.session, scope, whole)
    first: Label = (
        Msg("broadcast.aud.all", count=count)
        if scope.org is None
        else Msg("broadcast.aud.subtree", org=scope.org.name, count=count)
    )
    choices = [
        Choice(whole.kind, first),
        Choice("level", Msg("broadcast.aud.level")),
        Choice("orgs", Msg("broadcast.aud.orgs")),
        Choice("role", Msg("broadcast.aud.role")),
    ]
    bound = await groups.groups_in_scope(ctx.session, scope)
    if bound:  # work groups bound to orgs of the subtree: the notice is posted in each
        choices.append(Choice(GROUPS, Msg("broadcast.aud.groups", count=len(bound))))
    return choices


async def group_choices(ctx: FlowContext, model: FormModel) -> list[Choice]:
    """The work groups bound within the scope, by title and org."""
    scope = await admin_scope(ctx)
    bound = await groups.groups_in_scope(ctx.session, scope)
    names = model.ctx.setdefault("group_names", {})
    choices = []
    for group, org in bound[:GROUP_CHOICES]:
        label = Msg("broadcast.group_choice", title=group.title, org=org.name)
        names[str(group.id)] = label.to_json()
        choices.append(Choice(group.id, label))
    return choices


async def level_choices(ctx: FlowContext, model: FormModel) -> list[Choice]:
    """Levels that have recipients in the scope, with their counts."""
    scope = await admin_scope(ctx)
    choices = []
    for level, key in LEVEL_KEYS.items():
        count = await count_audience(ctx.session, scope, Audience("level", level=level.value))
        if count:
            label = Msg("broadcast.counted", label=Msg(key), count=count)
            choices.append(Choice(level.value, label))
    return choices


async def role_choices(ctx: FlowContext, model: FormModel) -> list[Choice]:
    """Roles, with how many people have each in the scope."""
    scope = await admin_scope(ctx)
    choices = []
    for role in Role:
        count = await count_audience(ctx.session, scope, Audience("role", role=role.value))
        label = Msg("broadcast.counted", label=Msg(f"role.{role.value}"), count=count)
        choices.append(Choice(role.value, label))
    return choices


ORGS = OrgPicker(admin_scope, "broadcast.no_org_match")


async def parse_text(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """The notice's text as Telegram HTML: the formatting the admin set in the app (bold,
    italics, links: entities) is kept, and what they typed reads as typed (a "<b>" too)."""
    if inp.kind is not InputKind.TEXT:
        raise Invalid("broadcast.text_first")
    limit = NOTICE_TEXT_LIMIT
    try:
        if inp.html is not None:
            return clean_html(inp.html, limit)
        return _typed_html(inp.text, limit)
    except BroadcastError as refusal:
        raise Invalid.of(refusal) from None


def _typed_html(text: str, limit: int) -> str:
    """Text without the app's formatting: Telegram's own tags typed in full (<b>…</b>, as the
    terminal chat and some desktop users write them) are kept; anything else is plain text,
    so a stray "<" or an unknown tag reads as typed."""
    try:
        return clean_html(text, limit)
    except BroadcastError as refusal:
        if refusal.key != "broadcast.bad_html":
            raise
    return clean_html(html.escape(text, quote=False), limit)


async def parse_attachment(inp: Input, ctx: FlowContext, model: FormModel) -> dict[str, Any]:
    """A photo or a document to send with the text (the text becomes its caption)."""
    if inp.kind not in (InputKind.PHOTO, InputKind.DOCUMENT) or not inp.file_id:
        raise Invalid("broadcast.bad_attachment")
    if len(model.data.get("text") or "") > NOTICE_CAPTION_LIMIT:
        raise Invalid("broadcast.caption_too_long", limit=NOTICE_CAPTION_LIMIT)
    return {"kind": inp.kind.value, "file_id": inp.file_id}


async def parse_when(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """A start time as the one reader takes it (明天上午9点, 12月8日 9:00, 2026-03-20 09:00,
    09:00), local, within 60 days; a day without a time is asked again with its time."""
    if inp.kind is not InputKind.TEXT:
        raise Invalid("when.unreadable.moment", **when.examples(when.today_in(ctx.now, ctx.tz)))
    try:
        moment = _read_start(inp.text, ctx, model)
    except when.NeedTime as error:
        model.ctx[DAY_SAID] = inp.text  # 明天, then 下午三点: the time goes with this day
        raise Invalid.of(error) from None
    except when.WhenError as error:
        raise Invalid.of(error) from None
    model.ctx.pop(DAY_SAID, None)
    model.ctx["when_notes"] = [note_json(note) for note in moment.notes]
    return moment.local.isoformat()


DAY_SAID = "when_day_said"  # a day typed without a time, kept while its time is asked for


def _read_start(text: str, ctx: FlowContext, model: FormModel) -> when.Moment:
    """The start time typed; after a day said alone, a time alone is read as on that day
    (what names a day of its own is read by itself)."""
    day = model.ctx.get(DAY_SAID)
    if day:
        try:
            return when.read_moment(f"{day} {text}", ctx.now, ctx.tz, when.BROADCAST)
        except (when.NeedTime, when.Unreadable):
            pass  # the answer names its own day (后天下午3点): it stands alone
    return when.read_moment(text, ctx.now, ctx.tz, when.BROADCAST)


def _excerpt(value: Any, model: FormModel) -> Label:
    return Html(excerpt_html(str(value or ""), EXCERPT))  # formatted as the notice will be


def _attachment_label(value: Any, model: FormModel) -> Label:
    if not value:
        return Msg("broadcast.no_attachment")
    key = "broadcast.photo" if value["kind"] == InputKind.PHOTO else "broadcast.document"
    return Msg(key)


def _when_label(value: Any, model: FormModel) -> Label:
    if value in (None, "now"):
        return Msg("broadcast.when_now")
    return str(value)[:16].replace("T", " ")


def _receipt_label(value: Any, model: FormModel) -> Label:
    return Msg("broadcast.receipt_yes") if value else Msg("broadcast.receipt_no")


class BroadcastForm(FormSpec):
    """The /broadcast form."""

    name = "broadcast"
    summary_key = "broadcast.summary"
    fields = (
        *ORGS.reach_steps("broadcast", "audience", audience_choices, level_choices),
        FieldSpec(
            "role",
            prompt="broadcast.ask_role",
            label="broadcast.label.role",
            choices=role_choices,
            when=lambda data: data.get("audience") == "role",
            columns=1,
            summary_line=False,  # the audience's line names it
        ),
        FieldSpec(
            "groups",
            prompt="broadcast.ask_groups",
            label="broadcast.label.groups",
            choices=group_choices,
            multi=True,
            when=lambda data: data.get("audience") == GROUPS,
            display=lambda value, model: Msg(
                "form.list", items=[_group_name(model, v) for v in value or []]
            ),
            columns=1,
            summary_line=False,  # the audience's line names them
        ),
        FieldSpec(
            "text",
            prompt="broadcast.ask_text",
            label="broadcast.label.text",
            parse=parse_text,
            display=_excerpt,
            params={"limit": NOTICE_TEXT_LIMIT},
        ),
        FieldSpec(
            "attachment",
            prompt="broadcast.ask_attachment",
            label="broadcast.label.attachment",
            parse=parse_attachment,
            optional=True,
            display=_attachment_label,
        ),
        FieldSpec(
            "receipt",
            prompt="broadcast.ask_receipt",
            label="broadcast.label.receipt",
            choices=[
                Choice(True, Msg("broadcast.receipt_yes")),
                Choice(False, Msg("broadcast.receipt_no")),
            ],
            typed_yes_no={True: True, False: False},
            display=_receipt_label,
            columns=1,
        ),
        FieldSpec(
            "when",
            prompt="broadcast.ask_when",
            label="broadcast.label.when",
            choices=[Choice("now", Msg("broadcast.when_now"))],
            parse=parse_when,
            display=_when_label,
        ),
    )

    async def prepare_summary(self, ctx: FlowContext, model: FormModel) -> None:
        """Whom the notice reaches, by name, with the number of people as it stands now."""
        try:
            scope = await admin_scope(ctx)
            audience = _audience(model.data)
            count = await count_audience(ctx.session, scope, audience)
        except BroadcastError:
            return  # the confirmation refuses it, saying why
        show_reach(model, _reach_shown(scope, audience, model, count))

    def summary_extra(self, model: FormModel) -> list[Msg]:
        """What the reader guessed of the start time (a year left out), if anything."""
        return notes_of(model.ctx.get("when_notes")) if model.data.get("when") != "now" else []

    async def on_confirm(self, ctx: FlowContext, model: FormModel) -> Reply:
        """Save the draft; the admin previews it next."""
        data = model.data
        attachment = data.get("attachment") or {}
        when = data.get("when")
        try:
            scope = await admin_scope(ctx)
            draft, count = await broadcasts.create_draft(
                ctx.session,
                scope=scope,
                admin_id=ctx.user_id,
                admin_locale=ctx.locale,
                audience=_audience(data),
                content={"text": data["text"], **attachment},
                receipt=bool(data.get("receipt")),
                scheduled_at=None if when in (None, "now") else datetime.fromisoformat(when),
                now=ctx.now,
                sender=await _sender(ctx),
            )
        except BroadcastError as refusal:
            return Reply([said(refusal)])
        button = Button(Msg("broadcast.button.preview"), NoticeButton(draft.id, "preview").pack())
        saved = Msg(counted("broadcast.draft_saved", data["audience"] == GROUPS), count=count)
        return Reply([saved], [[button]])


async def _sender(ctx: FlowContext) -> Sender:
    """The admin as recipients will read it: their org, name and role (a superadmin who is
    no member: their name), and the zone the time is shown in."""
    user = ctx.actor
    if user is None or not people.is_registered(user):
        return Sender(ctx.first_name or str(ctx.user_id), SUPERADMIN, tz=ctx.tz.key)
    org = await orgs.get_org(ctx.session, user.org_id)
    name = user.real_name or ctx.first_name
    return Sender(name, str(user.role), org=org.name if org else "", tz=ctx.tz.key)


def _reach_shown(
    scope: people.Scope, audience: Audience, model: FormModel, count: int
) -> Msg:
    """The audience as the summary says it: the orgs, level, role or groups picked, and how
    many people (or work groups) that is."""
    if audience.kind == GROUPS:
        names = [_group_name(model, group) for group in audience.group_ids]
        return Msg("broadcast.reach.groups", count=count, groups=names)
    counted_people = Msg("count.people", count=count)
    if audience.kind == "level" and audience.level:
        level = Msg(LEVEL_KEYS[OrgLevel(audience.level)])
        return Msg("broadcast.reach.level", level=level, people=counted_people)
    if audience.kind == "orgs":
        names = [org_name(model, org_id) for org_id in audience.org_ids]
        return Msg("broadcast.reach.orgs", orgs=names, people=counted_people)
    if audience.kind == "role" and audience.role:
        role = Msg(f"role.{audience.role}")
        return Msg("broadcast.reach.role", role=role, people=counted_people)
    if scope.org is None:
        return Msg("broadcast.reach.all", people=counted_people)
    return Msg("broadcast.reach.subtree", org=scope.org.name, people=counted_people)


def counted(key: str, to_groups: bool) -> str:
    """The key of a message that counts recipients: people, or work groups."""
    return f"{key}_groups" if to_groups else key


def _group_name(model: FormModel, group_id: Any) -> Label:
    label = model.ctx.get("group_names", {}).get(str(group_id))
    return Msg(label["key"], label["params"]) if label else str(group_id)


def _audience(data: dict[str, Any]) -> Audience:
    kind = data["audience"]
    return Audience(
        kind,
        level=data.get("level") if kind == "level" else None,
        org_ids=[int(v) for v in data.get("orgs") or []] if kind == "orgs" else [],
        role=data.get("role") if kind == "role" else None,
        group_ids=[int(v) for v in data.get("groups") or []] if kind == GROUPS else [],
    )


# --- views shared with the sender ------------------------------------------------------------


def notice_buttons(
    broadcast: Broadcast, *, group: bool = False, acked: int = 0
) -> list[list[Button]]:
    """The 已阅 button under a notice that asks for a receipt; under a group's copy it counts
    the members who pressed it (``acked``), without names."""
    if not broadcast.receipt:
        return []
    root = broadcast.parent_id or broadcast.id
    if group:
        label = Msg("group.button.ack_count", count=acked) if acked else Msg("group.button.ack")
        return [[Button(label, GroupReceiptButton(root).pack())]]
    return [[Button(Msg("broadcast.button.ack"), ReceiptButton(root).pack())]]


def sender_line(broadcast: Broadcast) -> Msg | None:
    """Who sent a notice and when, the line above its text (None for a notice kept before
    senders were): the org by name, the admin's name and role, the time it went out."""
    sender = Sender.from_json(broadcast.sender)
    if sender is None:
        return None
    sent = datetime.fromisoformat(sender.at) if sender.at else None
    moment = sent or broadcast.scheduled_at or broadcast.created_at
    when = moment.astimezone(ZoneInfo(sender.tz)).strftime("%Y-%m-%d %H:%M")
    name = _cut(sender.name, SENDER_NAME_SHOWN)
    if sender.role == SUPERADMIN or not sender.org:
        return Msg("broadcast.from_superadmin", name=name, when=when)
    org, role = _cut(sender.org, SENDER_ORG_SHOWN), Msg(f"role.{sender.role}")
    return Msg("broadcast.from", org=org, name=name, role=role, when=when)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bar(done: int, total: int) -> str:
    filled = BAR_WIDTH * done // total if total else BAR_WIDTH
    return "█" * filled + "░" * (BAR_WIDTH - filled)


def duration_text(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _per_channel(figures: Progress) -> list[Msg]:
    """A line per channel, when the notice went out on more than Telegram."""
    if [c.channel for c in figures.channels] in ([], ["telegram"]):
        return []
    return [
        Msg(
            "broadcast.report_channel",
            channel=Msg(f"broadcast.channel.{part.channel}"),
            sent=part.sent,
            total=part.total,
            failed=part.failed,
            unknown=part.unknown,
        )
        for part in figures.channels
    ]


def progress_reply(broadcast: Broadcast, figures: Progress, *, pace: Pace | None = None) -> Reply:
    """The admin's status message: bar, where every recipient stands, the speed (``pace``,
    when measured), and the controls."""
    total = figures.total or broadcast.total
    text = Msg(
        "broadcast.progress",
        id=broadcast.id,
        status=Msg(STATUS_KEYS[BroadcastStatus(broadcast.status)]),
        bar=_bar(figures.done, total),
        percent=100 * figures.done // total if total else 100,
        figures=_where_they_stand(broadcast, figures, total),
    )
    texts = [text]
    speed = _speed(broadcast, figures, pace) if pace is not None else None
    if speed is not None:
        texts.append(speed)
    return Reply(texts, _controls(broadcast))


def _where_they_stand(broadcast: Broadcast, figures: Progress, total: int) -> list[Msg]:
    """Sent of all, then each other state that holds anybody: together they add up to all."""
    # A pause or a cancel does not stop the requests already made: shown apart until answered.
    in_flight = 0 if broadcast.status == BroadcastStatus.RUNNING else figures.in_flight
    others = (
        ("broadcast.fig.waiting", figures.waiting - in_flight),
        ("broadcast.fig.in_flight", in_flight),
        ("broadcast.fig.failed", figures.failed),
        ("broadcast.fig.blocked", figures.blocked),
        ("broadcast.fig.unknown", figures.unknown),
        ("broadcast.fig.cancelled", figures.cancelled),
    )
    parts = [Msg("broadcast.fig.sent", sent=figures.sent, total=total)]
    parts += [Msg(key, count=count) for key, count in others if count]
    if broadcast.receipt:
        parts.append(Msg("broadcast.fig.acked", count=figures.acked))
    return parts


def _speed(broadcast: Broadcast, figures: Progress, pace: Pace) -> Msg | None:
    """While sending: the speed, and the time left while anything waits; once done: the
    average over the whole send."""
    rate = _rate(pace.rate)
    if broadcast.status == BroadcastStatus.DONE:
        return Msg("broadcast.pace_done", rate=rate, elapsed=duration_text(pace.seconds))
    if broadcast.status != BroadcastStatus.RUNNING:
        return None
    if not figures.waiting:
        return Msg("broadcast.pace", rate=rate)
    return Msg("broadcast.pace_eta", rate=rate, eta=duration_text(figures.waiting / pace.rate))


def _rate(rate: float) -> str:
    # Two significant digits below 1/s, so a slow send never reads 0.0.
    return f"{rate:.1f}" if rate >= 1 else f"{rate:.2g}"


def _controls(broadcast: Broadcast) -> list[list[Button]]:
    status = broadcast.status
    row: list[Button] = []
    if status == BroadcastStatus.RUNNING:
        row.append(Button(Msg("broadcast.button.pause"), _control(broadcast.id, "pause")))
    if status == BroadcastStatus.PAUSED:
        row.append(Button(Msg("broadcast.button.resume"), _control(broadcast.id, "resume")))
    if status in (BroadcastStatus.RUNNING, BroadcastStatus.PAUSED, BroadcastStatus.SCHEDULED):
        row.append(Button(Msg("broadcast.button.cancel"), _control(broadcast.id, "cancel")))
    return [row] if row else []


def _control(broadcast_id: int, action: NoticeAction) -> str:
    return NoticeButton(broadcast_id, action).pack()


def report_reply(broadcast: Broadcast, figures: Progress) -> Reply:
    """The final delivery report, with receipts and the reminder when a receipt was asked."""
    text = Msg(
        "broadcast.report",
        id=broadcast.id,
        status=Msg(STATUS_KEYS[BroadcastStatus(broadcast.status)]),
        sent=figures.sent,
        total=figures.total,
        failed=figures.failed,
        blocked=figures.blocked,
        cancelled=figures.cancelled,
    )
    texts = [text, *_per_channel(figures)]
    if figures.waiting:  # cancelled with requests still out: the source updates it later
        texts.append(Msg("broadcast.report_in_flight", count=figures.waiting))
    buttons: list[list[Button]] = []
    if figures.unknown:
        unknown = Msg(
            "broadcast.report_unknown", unknown=figures.unknown, interrupted=figures.interrupted
        )
        texts.append(unknown)
        resend = Msg("broadcast.button.resend", count=figures.unknown)
        buttons.append([Button(resend, _control(broadcast.id, "resend"))])
    if broadcast.receipt and broadcasts.to_groups(broadcast):
        # Members read a group's copy where it was posted: no reminder, counts of people.
        texts.append(Msg("broadcast.report_group_receipts", acked=figures.acked))
        buttons += [[Button(Msg("broadcast.button.who"), _control(broadcast.id, "who"))]]
    elif broadcast.receipt:
        root = broadcast.parent_id or broadcast.id
        receipts = Msg("broadcast.report_receipts", acked=figures.acked, sent=figures.people_sent)
        texts.append(receipts)
        buttons += [
            [Button(Msg("broadcast.button.who"), _control(root, "who"))],
            [Button(Msg("broadcast.button.remind"), _control(root, "remind"))],
        ]
    return Reply(texts, buttons)
