"""/broadcast: the form that builds a notice, and the views of its preview, progress and report.

Form: audience (with counts) → level | orgs | role → text → attachment → receipt → when →
summary. Confirming saves a draft; the admin then sees the preview exactly as recipients will,
and launches it (buttons ``bc|<id>|<action>``). Recipients acknowledge with ``bca|<id>``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.flows import engine
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
    Label,
    Msg,
    Options,
    Reply,
)
from bot.services import broadcasts, people
from bot.services.broadcasts import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    Audience,
    BroadcastError,
    Progress,
    clean_html,
    count_audience,
)
from storage import orgs_repo
from storage.broadcast_models import Broadcast, BroadcastStatus
from storage.models import OrgLevel, Role

PREFIX_ROOM = 100  # room for the reminder's first line
ORG_CHOICES = 30
EXCERPT = 60
BAR_WIDTH = 20
MAX_SCHEDULE = timedelta(days=60)
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
TIME_FORMATS = ("%Y-%m-%d %H:%M", "%m-%d %H:%M", "%H:%M")


async def _scope(ctx: FlowContext) -> people.Scope:
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
    scope = await _scope(ctx)
    whole = Audience("all" if scope.org is None else "subtree")
    count = await count_audience(ctx.session, scope, whole)
    first: Label = (
        Msg("broadcast.aud.all", count=count)
        if scope.org is None
        else Msg("broadcast.aud.subtree", org=scope.org.name, count=count)
    )
    return [
        Choice(whole.kind, first),
        Choice("level", Msg("broadcast.aud.level")),
        Choice("orgs", Msg("broadcast.aud.orgs")),
        Choice("role", Msg("broadcast.aud.role")),
    ]


async def level_choices(ctx: FlowContext, model: FormModel) -> list[Choice]:
    """Levels that have recipients in the scope, with their counts."""
    scope = await _scope(ctx)
    choices = []
    for level, key in LEVEL_KEYS.items():
        count = await count_audience(ctx.session, scope, Audience("level", level=level.value))
        if count:
            label = Msg("broadcast.counted", label=Msg(key), count=count)
            choices.append(Choice(level.value, label))
    return choices


async def role_choices(ctx: FlowContext, model: FormModel) -> list[Choice]:
    """Roles, with how many people have each in the scope."""
    scope = await _scope(ctx)
    choices = []
    for role in Role:
        count = await count_audience(ctx.session, scope, Audience("role", role=role.value))
        label = Msg("broadcast.counted", label=Msg(f"role.{role.value}"), count=count)
        choices.append(Choice(role.value, label))
    return choices


async def org_choices(ctx: FlowContext, model: FormModel) -> list[Choice]:
    """The first orgs of the scope in tree order; typing part of a name finds others."""
    scope = await _scope(ctx)
    orgs = await orgs_repo.list_orgs(session=ctx.session, within=scope.org)
    return _org_options(model, orgs[:ORG_CHOICES])


def _org_options(model: FormModel, orgs: Any) -> list[Choice]:
    # Ticked orgs are shown by name in the summary, so remember every name offered.
    names = model.ctx.setdefault("org_names", {})
    for org in orgs:
        names[str(org.id)] = org.name
    return [Choice(org.id, org.name) for org in orgs]


async def search_orgs(inp: Input, ctx: FlowContext, model: FormModel) -> Options:
    """Typed part of a name → matching orgs of the scope, to tick."""
    if inp.kind is not InputKind.TEXT or not inp.text.strip():
        raise Invalid("form.expect_text")
    scope = await _scope(ctx)
    matches = await orgs_repo.search_orgs(
        session=ctx.session, text=inp.text.strip()[:50], within=scope.org, limit=ORG_CHOICES
    )
    if not matches:
        raise Invalid("broadcast.no_org_match", text=inp.text.strip()[:50])
    return Options(_org_options(model, matches))


async def parse_text(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """The notice's text, with Telegram's HTML tags allowed."""
    if inp.kind is not InputKind.TEXT:
        raise Invalid("broadcast.text_first")
    try:
        return clean_html(inp.html or inp.text, TEXT_LIMIT - PREFIX_ROOM)
    except BroadcastError as refusal:
        raise Invalid(refusal.key, **refusal.params) from None


async def parse_attachment(inp: Input, ctx: FlowContext, model: FormModel) -> dict[str, Any]:
    """A photo or a document to send with the text (the text becomes its caption)."""
    if inp.kind not in (InputKind.PHOTO, InputKind.DOCUMENT) or not inp.file_id:
        raise Invalid("broadcast.bad_attachment")
    if len(model.data.get("text") or "") > CAPTION_LIMIT - PREFIX_ROOM:
        raise Invalid("broadcast.caption_too_long", limit=CAPTION_LIMIT - PREFIX_ROOM)
    return {"kind": inp.kind.value, "file_id": inp.file_id}


async def parse_when(inp: Input, ctx: FlowContext, model: FormModel) -> str:
    """A start time typed as ``2026-03-20 09:00``, ``03-20 09:00`` or ``09:00`` (local)."""
    if inp.kind is not InputKind.TEXT:
        raise Invalid("broadcast.bad_time")
    local_now = ctx.now.astimezone(ctx.tz)
    moment = _parse_local(inp.text.strip(), local_now)
    if moment is None:
        raise Invalid("broadcast.bad_time")
    if moment <= local_now or moment - local_now > MAX_SCHEDULE:
        raise Invalid("broadcast.time_range")
    return moment.isoformat()


def _parse_local(text: str, now: datetime) -> datetime | None:
    for fmt in TIME_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        year = parsed.year if "%Y" in fmt else now.year
        day = (parsed.month, parsed.day) if "%m" in fmt else (now.month, now.day)
        moment = now.replace(
            year=year, month=day[0], day=day[1], hour=parsed.hour, minute=parsed.minute, second=0
        )
        if fmt == "%H:%M" and moment <= now:
            moment += timedelta(days=1)  # "09:00" typed in the afternoon means tomorrow
        return moment.replace(microsecond=0)
    return None


def _excerpt(value: Any, model: FormModel) -> Label:
    text = str(value or "")
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "…"


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
        FieldSpec(
            "audience",
            prompt="broadcast.ask_audience",
            label="broadcast.label.audience",
            choices=audience_choices,
            columns=1,
        ),
        FieldSpec(
            "level",
            prompt="broadcast.ask_level",
            label="broadcast.label.level",
            choices=level_choices,
            when=lambda data: data.get("audience") == "level",
            columns=1,
        ),
        FieldSpec(
            "orgs",
            prompt="broadcast.ask_orgs",
            label="broadcast.label.orgs",
            choices=org_choices,
            parse=search_orgs,
            multi=True,
            when=lambda data: data.get("audience") == "orgs",
            display=lambda value, model: Msg(
                "form.list", items=[_org_name(model, v) for v in value or []]
            ),
        ),
        FieldSpec(
            "role",
            prompt="broadcast.ask_role",
            label="broadcast.label.role",
            choices=role_choices,
            when=lambda data: data.get("audience") == "role",
            columns=1,
        ),
        FieldSpec(
            "text",
            prompt="broadcast.ask_text",
            label="broadcast.label.text",
            parse=parse_text,
            display=_excerpt,
            params={"limit": TEXT_LIMIT - PREFIX_ROOM},
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

    async def on_confirm(self, ctx: FlowContext, model: FormModel) -> Reply:
        """Save the draft; the admin previews it next."""
        data = model.data
        attachment = data.get("attachment") or {}
        when = data.get("when")
        try:
            scope = await _scope(ctx)
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
            )
        except BroadcastError as refusal:
            return Reply([Msg(refusal.key, refusal.params)])
        button = Button(Msg("broadcast.button.preview"), f"bc|{draft.id}|v")
        return Reply([Msg("broadcast.draft_saved", count=count)], [[button]])


def _org_name(model: FormModel, org_id: Any) -> Label:
    return str(model.ctx.get("org_names", {}).get(str(org_id), org_id))


def _audience(data: dict[str, Any]) -> Audience:
    kind = data["audience"]
    return Audience(
        kind,
        level=data.get("level") if kind == "level" else None,
        org_ids=[int(v) for v in data.get("orgs") or []] if kind == "orgs" else [],
        role=data.get("role") if kind == "role" else None,
    )


engine.register(BroadcastForm())


# --- views shared with the sender ------------------------------------------------------------


def notice_buttons(broadcast: Broadcast) -> list[list[Button]]:
    """The 已阅 button under a notice that asks for a receipt."""
    if not broadcast.receipt:
        return []
    root = broadcast.parent_id or broadcast.id
    return [[Button(Msg("broadcast.button.ack"), f"bca|{root}")]]


def _bar(done: int, total: int) -> str:
    filled = BAR_WIDTH * done // total if total else BAR_WIDTH
    return "█" * filled + "░" * (BAR_WIDTH - filled)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_reply(broadcast: Broadcast, figures: Progress, *, rate: float, eta: float) -> Reply:
    """The admin's status message: bar, counts, rate and time left, and the controls."""
    total = figures.total or broadcast.total
    percent = 100 * figures.done // total if total else 100
    text = Msg(
        "broadcast.progress",
        id=broadcast.id,
        status=Msg(STATUS_KEYS[BroadcastStatus(broadcast.status)]),
        bar=_bar(figures.done, total),
        percent=percent,
        sent=figures.sent,
        total=total,
        failed=figures.failed,
        blocked=figures.blocked,
        acked=figures.acked if broadcast.receipt else "—",
        rate=f"{rate:.1f}",
        eta=_duration(eta) if rate > 0 else "—",
    )
    return Reply([text], _controls(broadcast))


def _controls(broadcast: Broadcast) -> list[list[Button]]:
    prefix = f"bc|{broadcast.id}|"
    status = broadcast.status
    row: list[Button] = []
    if status == BroadcastStatus.RUNNING:
        row.append(Button(Msg("broadcast.button.pause"), prefix + "p"))
    if status == BroadcastStatus.PAUSED:
        row.append(Button(Msg("broadcast.button.resume"), prefix + "r"))
    if status in (BroadcastStatus.RUNNING, BroadcastStatus.PAUSED, BroadcastStatus.SCHEDULED):
        row.append(Button(Msg("broadcast.button.cancel"), prefix + "x"))
    return [row] if row else []


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
    texts = [text]
    buttons: list[list[Button]] = []
    if figures.unknown:
        unknown = Msg(
            "broadcast.report_unknown", unknown=figures.unknown, interrupted=figures.interrupted
        )
        texts.append(unknown)
        resend = Msg("broadcast.button.resend", count=figures.unknown)
        buttons.append([Button(resend, f"bc|{broadcast.id}|u")])
    if broadcast.receipt:
        root = broadcast.parent_id or broadcast.id
        texts.append(Msg("broadcast.report_receipts", acked=figures.acked, sent=figures.sent))
        buttons += [
            [Button(Msg("broadcast.button.who"), f"bc|{root}|w")],
            [Button(Msg("broadcast.button.remind"), f"bc|{root}|m")],
        ]
    return Reply(texts, buttons)
