"""Replies around the activity form: /log (plain, with text, 同上次), the quick log from free
text, /mylogs with open / edit / delete, and /pushed."""

from __future__ import annotations

from typing import Any

from bot.flows import engine, quick_log
from bot.flows.activity import ActivityForm, type_label, unit_label
from bot.flows.base import (
    Button,
    FlowContext,
    Input,
    InputKind,
    Label,
    Media,
    Msg,
    Reply,
    albums,
    said,
)
from bot.flows.callback_data import (
    ActivityButton,
    ActivityListButton,
    CallbackData,
    PushedButton,
    SameAsLastButton,
)
from bot.services import activities as svc
from bot.services import activity_search as search
from bot.services import orgs, people, when
from bot.services.activities import ActivityError
from bot.services.activity_text import SAME_TYPED
from storage.activity_models import Activity
from storage.models import Org

SAME_WORDS = frozenset({"同上次", "同上", "上次", "same", "again"})
PUSH_BUTTONS = (1, 2, 3, 5, 10)
MINE, ORG = "m", "o"  # which list a record was opened from
LIST_TITLE_MAX = 18  # a list button shows the start of the title; Telegram cuts long labels


def _not_registered() -> Reply:
    return Reply([Msg("activity.not_registered")])


async def private_only(ctx: FlowContext) -> Reply:
    """/log, /mylogs or /pushed sent in a group."""
    return Reply([Msg("activity.private_only")])


async def begin(ctx: FlowContext, text: str = "") -> Reply:
    """/log, /log <one-line report>, or /log 同上次."""
    if not people.is_registered(ctx.actor):
        return _not_registered()
    text = text.strip()
    if text.lower() in SAME_WORDS:
        return await same_as_last(ctx)
    if text:
        return await quick_log.quick(ctx, text)
    reply = await engine.start(ctx, ActivityForm.name, notices=[Msg("activity.intro")])
    if await svc.last_activity(ctx.session, ctx.user_id) is not None:
        same = Button(Msg("activity.button.same_as_last"), SameAsLastButton().pack())
        reply.buttons.insert(0, [same])
    return reply


async def quick_route(ctx: FlowContext, inp: Input) -> Reply | None:
    """A free message that reads as an activity report starts a pre-filled form."""
    if inp.kind is not InputKind.TEXT or not people.is_registered(ctx.actor):
        return None
    if inp.text.strip() in SAME_TYPED:
        return await same_as_last(ctx)
    return await quick_log.from_free_text(ctx, inp.text)


async def same_as_last(ctx: FlowContext) -> Reply:
    """A new log with place, org and audience taken from the previous one."""
    if not people.is_registered(ctx.actor):
        return _not_registered()
    last = await svc.last_activity(ctx.session, ctx.user_id)
    if last is None:
        return await engine.start(ctx, ActivityForm.name, notices=[Msg("activity.no_last")])
    org = await _still_allowed(ctx, last.org_id)
    data = {"place": last.place, "audience": list(last.audience)}
    if org is not None:
        data["org_id"] = org.id
    notice = Msg(
        "activity.same_prefilled",
        place=last.place or Msg("form.empty"),
        org=org.name if org else Msg("form.empty"),
        audience=[Msg(f"activity.audience.{a}") for a in last.audience],
    )
    return await engine.start(
        ctx,
        ActivityForm.name,
        data=data,
        extra={"labels": {"org_id": org.name} if org else {}},
        notices=[notice],
        fill_missing=True,
    )


async def _still_allowed(ctx: FlowContext, org_id: int) -> Org | None:
    # The user may have moved since: an org no longer theirs is asked for again.
    try:
        return await svc.allowed_org(ctx.session, ctx.actor, org_id, ctx.superadmin)
    except ActivityError:
        return None


# --- /mylogs ---------------------------------------------------------------------------------
# A list is "m" (mine) or "o" (the admin's subtree), followed by a kept search's id when it is
# a search ("m12"); buttons carry it so that "back" and the page buttons stay in that list.


async def search_logs(ctx: FlowContext, text: str) -> Reply:
    """/mylogs, or /mylogs with a keyword or a range of days ("科普日", "3月", "上周")."""
    if not people.is_registered(ctx.actor):
        return _not_registered()
    if not text.strip():
        return await my_logs(ctx)
    try:
        query = search.read_query(text, when.today_in(ctx.now, ctx.tz))
    except ActivityError as error:  # nothing is kept: the refusal changes nothing
        return Reply([said(error)])
    except when.Unreadable as error:  # digits that are no date: a keyword works too
        return Reply([said(error), Msg("activity.search_keyword_hint")])
    except when.WhenError as error:
        return Reply([said(error)])
    search_id = await search.keep(ctx.session, ctx.user_id, query, ctx.now)
    return await my_logs(ctx, 0, search_id=search_id)


async def my_logs(
    ctx: FlowContext, page: int = 0, *, edit: bool = False, search_id: int = 0
) -> Reply:
    """One page of the user's activities (or of a search in them), each a button to open."""
    if not people.is_registered(ctx.actor):
        return _not_registered()
    query = await _kept_search(ctx, search_id)
    if search_id and query is None:
        return Reply([], toast=Msg("activity.search_gone"))
    listing = await svc.my_page(ctx.session, ctx.user_id, page, search.as_match(query))
    admin = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin) is not None
    # An admin also reaches the records of their org and those below it (to correct them).
    switch = [Button(Msg("activity.button.org_logs"), _page_data(f"{ORG}{search_id or ''}", 0))]
    rows = [switch if admin else [], _all_button(search_id, MINE)]
    if not listing.total:
        return Reply([_empty(ctx, query, "activity.mylogs_empty")], rows, edit=edit)
    header = _header(query, "activity.mylogs_header", listing)
    origin = f"{MINE}{search_id or ''}"
    return Reply([header], [*_list_rows(listing, origin), *rows], edit=edit)


async def org_logs(ctx: FlowContext, page: int = 0, search_id: int = 0) -> Reply:
    """An admin's view: one page of the activities of their subtree, whoever logged them."""
    scope = await people.admin_scope(ctx.session, ctx.actor, ctx.superadmin)
    if scope is None:
        return Reply([], toast=Msg("activity.admins_only"))
    query = await _kept_search(ctx, search_id)
    if search_id and query is None:
        return Reply([], toast=Msg("activity.search_gone"))
    listing = await svc.org_page(ctx.session, scope, page, search.as_match(query))
    mine = [Button(Msg("activity.button.my_logs_only"), _page_data(f"{MINE}{search_id or ''}", 0))]
    rows = [mine, _all_button(search_id, ORG)]
    if not listing.total:
        return Reply([_empty(ctx, query, "activity.org_logs_empty")], rows, edit=True)
    header = _header(query, "activity.org_logs_header", listing)
    origin = f"{ORG}{search_id or ''}"
    return Reply([header], [*_list_rows(listing, origin), *rows], edit=True)


async def _kept_search(ctx: FlowContext, search_id: int) -> search.Query | None:
    if not search_id:
        return None
    return await search.kept(ctx.session, search_id, ctx.user_id)


def _all_button(search_id: int, kind: str) -> list[Button]:
    # From a search back to the whole list of the same kind.
    return [Button(Msg("activity.button.all_logs"), _page_data(kind, 0))] if search_id else []


def _searched(query: search.Query) -> Msg:
    if query.keyword:
        return Msg("activity.search_keyword", keyword=query.keyword)
    if query.first_day == query.last_day:
        return Msg("activity.search_day", day=str(query.first_day))
    return Msg("activity.search_days", first=str(query.first_day), last=str(query.last_day))


def _header(query: search.Query | None, key: str, listing: svc.Page) -> Msg:
    pages = {"page": listing.page + 1, "pages": listing.pages}
    if query is None:
        return Msg(key, pages)
    return Msg(f"{key}_search", pages, searched=_searched(query), total=listing.total)


def _empty(ctx: FlowContext, query: search.Query | None, key: str) -> Msg:
    if query is None:
        return Msg(key)
    examples = when.examples(when.today_in(ctx.now, ctx.tz))  # a range that works today
    return Msg("activity.search_empty", examples, searched=_searched(query))


def _list_rows(listing: svc.Page, origin: str) -> list[list[Button]]:
    # The list a record was opened from is carried along, so "back" returns to it.
    rows = [
        [Button(_list_label(a), ActivityButton("open", a.id, origin).pack())]
        for a in listing.items
    ]
    nav = []
    if listing.page > 0:
        nav.append(Button(Msg("activity.button.prev"), _page_data(origin, listing.page - 1)))
    if listing.page + 1 < listing.pages:
        nav.append(Button(Msg("activity.button.next"), _page_data(origin, listing.page + 1)))
    return [*rows, nav]


def _page_data(origin: str, page: int) -> str:
    kind, search_id = origin[:1], origin[1:]
    scope = "org" if kind == ORG else "mine"
    return ActivityListButton(scope, page, int(search_id) if search_id else None).pack()


def _list_label(activity: Activity) -> Msg:
    if activity.type == svc.PUSH_TYPE:
        what: Any = Msg("activity.push_title", count=activity.amount)
    else:
        title = activity.title
        what = title if len(title) <= LIST_TITLE_MAX else f"{title[:LIST_TITLE_MAX]}…"
    return Msg("activity.list_button", day=activity.day.isoformat()[5:], title=what)


async def open_log(ctx: FlowContext, activity_id: int, origin: str = MINE) -> Reply:
    """One activity in full, with edit and delete when the user may still change it."""
    try:
        activity = await svc.viewable(ctx.session, activity_id, ctx.actor, ctx.superadmin)
    except ActivityError as error:
        return Reply([], toast=said(error))
    texts = await _detail(ctx, activity)
    rows: list[list[Button]] = []
    if activity.photos:
        label = Msg("activity.button.photos", count=len(activity.photos))
        rows.append([Button(label, ActivityButton("photos", activity.id).pack())])
    if await svc.can_modify(ctx.session, activity, ctx.actor, ctx.now, ctx.superadmin):
        rows.append(_change_buttons(activity, origin))
    else:
        texts.append(Msg("activity.locked", days=svc.EDIT_WINDOW.days))
    rows.append([_back_to_list(origin)])
    return Reply(texts, rows, edit=True)


def _back_to_list(origin: str) -> Button:
    return Button(Msg("activity.button.back_to_list"), _page_data(origin, 0))


def _change_buttons(activity: Activity, origin: str) -> list[Button]:
    ask = ActivityButton("delete", activity.id, origin)
    delete = Button(Msg("activity.button.delete"), ask.pack())
    if activity.type == svc.PUSH_TYPE:
        return [delete]  # a push count is changed with /pushed, not with the form
    edit = ActivityButton("edit", activity.id)
    return [Button(Msg("activity.button.edit"), edit.pack()), delete]


async def _detail(ctx: FlowContext, activity: Activity) -> list[Msg]:
    org = await orgs.get_org(ctx.session, activity.org_id)
    values: list[tuple[str, Any]] = [
        ("type", _type_name(activity)),
        ("day", activity.day.isoformat()),
        ("place", activity.place),
        ("org", org.name if org else ""),
        (
            "participants",
            activity.participants and Msg("activity.people", count=activity.participants),
        ),
        ("audience", [Msg(f"activity.audience.{a}") for a in activity.audience]),
        ("summary", activity.summary),
        ("photos", activity.photos and Msg("activity.photo_count", count=len(activity.photos))),
    ]
    title = activity.title or Msg("activity.push_title", count=activity.amount)
    lines = [
        Msg("form.summary_line", label=Msg(f"activity.label.{name}"), value=value)
        for name, value in values
        if value not in (None, "", [])
    ]
    counted = Msg(
        "activity.counted", amount=activity.amount, unit=unit_label(activity.unit, activity.amount)
    )
    by = await _logged_by(ctx, activity)
    return [Msg("activity.detail_title", title=title), *lines, *by, counted]


async def _logged_by(ctx: FlowContext, activity: Activity) -> list[Msg]:
    # An admin reading someone else's record sees who logged it.
    if activity.created_by == ctx.user_id:
        return []
    user = await people.get_user(ctx.session, activity.created_by)
    name = (user.real_name if user else None) or str(activity.created_by)
    return [Msg("form.summary_line", label=Msg("activity.label.logged_by"), value=name)]


async def show_photos(ctx: FlowContext, activity_id: int) -> Reply:
    """The record's evidence photos as albums, named after the activity."""
    try:
        activity = await svc.viewable(ctx.session, activity_id, ctx.actor, ctx.superadmin)
    except ActivityError as error:
        return Reply([], toast=said(error))
    if not activity.photos:
        return Reply([], toast=Msg("activity.no_photos"))
    caption = Msg(
        "activity.photos_caption",
        title=activity.title,
        day=activity.day.isoformat(),
        type=_type_name(activity),
    )
    return Reply([], albums=albums([Media("photo", f) for f in activity.photos], caption))


def _type_name(activity: Activity) -> Label:
    if activity.type == svc.OTHER_TYPE and activity.type_other:
        return Msg("activity.other_named", name=activity.type_other)
    return type_label(activity.type)


async def edit_log(ctx: FlowContext, activity_id: int) -> Reply:
    """Open the form on a saved activity, at its summary."""
    try:
        activity = await svc.modifiable(
            ctx.session, activity_id, ctx.actor, ctx.now, superadmin=ctx.superadmin
        )
    except ActivityError as error:
        return Reply([], toast=said(error))
    org = await orgs.get_org(ctx.session, activity.org_id)
    extra = {"activity_id": activity.id, "labels": {"org_id": org.name if org else ""}}
    reply = await engine.start(
        ctx, ActivityForm.name, data=svc.form_data(activity), extra=extra, fill_missing=True
    )
    return _as_button(reply)


async def ask_delete(ctx: FlowContext, activity_id: int, origin: str = MINE) -> Reply:
    """Ask before deleting."""
    try:
        activity = await svc.modifiable(
            ctx.session, activity_id, ctx.actor, ctx.now, superadmin=ctx.superadmin
        )
    except ActivityError as error:
        return Reply([], toast=said(error))
    title = activity.title or Msg("activity.push_title", count=activity.amount)
    buttons = [
        Button(
            Msg("activity.button.delete_yes"),
            ActivityButton("delete-yes", activity.id, origin).pack(),
        ),
        Button(
            Msg("activity.button.delete_no"), ActivityButton("open", activity.id, origin).pack()
        ),
    ]
    return Reply([Msg("activity.delete_confirm", title=title)], [buttons], edit=True)


async def delete_log(ctx: FlowContext, activity_id: int, origin: str = MINE) -> Reply:
    """Delete after the user said yes."""
    try:
        activity = await svc.delete_activity(
            ctx.session,
            activity_id=activity_id,
            actor=ctx.actor,
            now=ctx.now,
            superadmin=ctx.superadmin,
        )
    except ActivityError as error:
        return Reply([], toast=said(error))
    title = activity.title or Msg("activity.push_title", count=activity.amount)
    return Reply([Msg("activity.deleted", title=title)], [[_back_to_list(origin)]], edit=True)


# --- /pushed ---------------------------------------------------------------------------------


async def pushed(ctx: FlowContext, text: str, *, edit: bool = False) -> Reply:
    """/pushed N: add N 篇次 of 转载推送科普信息 to today's count."""
    if not people.is_registered(ctx.actor):
        return _not_registered()
    if not text.strip():
        buttons = [Button(str(n), PushedButton(n).pack()) for n in PUSH_BUTTONS]
        return Reply([Msg("activity.push_ask")], [buttons])
    try:
        count = svc.parse_count(text)
        result = await svc.record_pushed(
            ctx.session, actor=ctx.actor, count=count, now=ctx.now, tz=ctx.tz
        )
    except ActivityError as error:
        return Reply([said(error)])
    total = result.activity.amount
    if result.earlier:
        text_msg = Msg("activity.push_added", added=count, earlier=result.earlier, total=total)
    else:
        text_msg = Msg("activity.push_recorded", count=total)
    return Reply([text_msg], edit=edit)


# --- buttons ---------------------------------------------------------------------------------


async def on_button(ctx: FlowContext, pressed: CallbackData) -> Reply:
    """Same as last, a page of a list, an activity (open, photos, edit, delete), pushed N."""
    if isinstance(pressed, SameAsLastButton):
        return await _new_form(ctx, "same", 0)
    if isinstance(pressed, ActivityListButton):
        if pressed.scope == "org":
            return await org_logs(ctx, pressed.page, pressed.search or 0)
        return await my_logs(ctx, pressed.page, edit=True, search_id=pressed.search or 0)
    if isinstance(pressed, PushedButton):
        return await pushed(ctx, str(pressed.count), edit=True)
    if not isinstance(pressed, ActivityButton) or not pressed.activity:
        return Reply([], toast=Msg("form.stale"))
    if pressed.action == "edit":
        return await _new_form(ctx, "edit", pressed.activity)
    if pressed.action == "photos":
        return await show_photos(ctx, pressed.activity)
    records = {"open": open_log, "delete": ask_delete, "delete-yes": delete_log}
    return await records[pressed.action](ctx, pressed.activity, pressed.origin or MINE)


FAMILIES = (SameAsLastButton, ActivityListButton, ActivityButton, PushedButton)


async def _new_form(ctx: FlowContext, action: str, activity_id: int) -> Reply:
    # A button on an older message must not throw away a form the user is filling in.
    busy = await quick_log.form_in_the_way(ctx)
    if busy is not None:
        return busy
    if action == "same":
        return _as_button(await same_as_last(ctx))
    if not activity_id:
        return Reply([], toast=Msg("form.stale"))
    return await edit_log(ctx, activity_id)


def _as_button(reply: Reply) -> Reply:
    # A form started from a button keeps the pressed message as its own, so it is edited.
    reply.edit = True
    return reply
