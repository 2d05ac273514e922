"""A person's channels in /me: link another one with a one-time code, and where reminders go.

Channel-neutral: the code is made here and typed on the other channel, where the Telegram
handlers and the WeCom dispatcher both run `link_route` (a free-text route) and ``/start``
with the code (a deep link) the same way.
"""

from __future__ import annotations

from bot.flows.base import Button, FlowContext, Input, InputKind, Msg, Notice, Reply, said
from bot.flows.callback_data import LinkNewButton, ReachButton
from bot.flows.registration import role_label
from bot.flows.task_views import local_text
from bot.services import linking, orgs, people
from storage.identity_models import Channel, Reach, channel_of


def channel_label(channel: str) -> Msg:
    """The localised name of a channel (Telegram, 企业微信)."""
    return Msg(f"channel.{channel}")


async def me_part(ctx: FlowContext) -> tuple[list[Msg], list[list[Button]]]:
    """/me of a member: their channels, where reminders go, and the link button."""
    person = ctx.actor
    if person is None:
        return [], []
    identities = await linking.identities_of(ctx.session, person)
    texts = [Msg("me.channels", channels=identities_line(identities))]
    rows: list[list[Button]] = []
    if len(identities) > 1:
        last = channel_label(person.last_channel or identities[0][0])
        texts.append(Msg(f"me.reach.{linking.reach_of(person)}", last=last))
        rows.append([_reach_button(person.reach, reach) for reach in Reach])
    rows.append([Button(Msg("me.button.link"), LinkNewButton().pack())])
    return texts, rows


def channels_line(identities: list[tuple[str, str]]) -> list[Msg]:
    """A person's channels by name, each once (a line of /members)."""
    return [channel_label(c) for c in dict.fromkeys(c for c, _ in identities)]


def identities_line(identities: list[tuple[str, str]]) -> list[Msg]:
    """A person's identities: each channel with its own id for them (/me, a /members card)."""
    return [_identity(channel, known) for channel, known in identities]


def _identity(channel: str, external_id: str) -> Msg:
    """A channel with the channel's own id for the person (a Telegram id, a WeCom UserID)."""
    if not external_id:
        return channel_label(channel)
    return Msg("me.identity", channel=channel_label(channel), id=external_id)


def _reach_button(current: str, reach: Reach) -> Button:
    label = Msg(f"me.button.reach.{reach}")
    shown = Msg("form.checked", label=label) if current == reach else label
    return Button(shown, ReachButton(reach.value).pack())


async def offer_link(ctx: FlowContext) -> Reply:
    """The link button: a fresh one-time code, and how to use it on the other channel."""
    if people.is_deactivated(ctx.actor) or not people.is_registered(ctx.actor):
        return Reply([Msg("link.members_only")], toast=Msg("link.members_only"))
    code, expires = await linking.new_code(ctx.session, ctx.actor, ctx.now)  # type: ignore[arg-type]
    link = ctx.invite_links.link(code) if ctx.invite_links else ""
    # Asked on WeCom, the other channel is Telegram (or another WeCom account), and the reverse.
    on_wecom = channel_of(ctx.chat_id) is Channel.WECOM
    text = Msg(
        "link.offer_from_wecom" if on_wecom else "link.offer",
        code=linking.shown(code),
        minutes=int(linking.LINK_TTL.total_seconds() // 60),
        expires=local_text(expires, ctx.tz),
        link=link,
    )
    return Reply([text])


async def link_route(ctx: FlowContext, inp: Input) -> Reply | None:
    """A free-text route: a message that is a link code links this identity to its person.

    A member's code-like chatter that is no code passes on, unless it came with its word
    (关联 …); anyone not registered is told what is wrong with a code, as with invites.
    """
    if inp.kind is not InputKind.TEXT or ctx.in_group:
        return None
    typed = linking.typed_link_code(inp.text)
    if typed is None:
        return None
    quiet = not typed.said and people.is_registered(ctx.actor)
    return await link_with(ctx, typed.code, quiet_unknown=quiet)


async def link_with(ctx: FlowContext, code: str, *, quiet_unknown: bool = False) -> Reply | None:
    """Use a link code from this chat's identity; on success this update acts as the person.

    ``quiet_unknown``: a code no one made gets None (a member's chatter that looked like one).
    """
    if ctx.actor is None:
        raise RuntimeError("linking needs the user's row")
    try:
        linked = await linking.use_code(
            ctx.session, code, actor=ctx.actor, address=ctx.chat_id, now=ctx.now
        )
    except linking.LinkError as refusal:
        return None if quiet_unknown and refusal.key == "link.unknown" else Reply([said(refusal)])
    person = linked.person
    ctx.actor, ctx.user_id = person, person.telegram_id
    ctx.locale = people.user_locale(person, ctx.locale)
    channel = channel_label(linked.identity.channel)
    org = await orgs.get_org(ctx.session, person.org_id)
    done = Msg(
        "link.done",
        channel=channel,
        name=person.real_name or "",
        org=await orgs.org_path(ctx.session, org),
        role=role_label(person.role),
    )
    # Told on the person's first channel too: a link they did not make is noticed there.
    notices = []
    if person.telegram_id != ctx.chat_id:
        told = Reply([Msg("link.told", channel=channel, when=local_text(ctx.now, ctx.tz))])
        notices.append(Notice(person.telegram_id, ctx.locale, told))
    # The request this identity had sent is withdrawn: its admin's answer no longer applies.
    withdrawn = [Msg("link.request_withdrawn")] if linked.withdrew_request else []
    return Reply([done, *withdrawn], finished=True, notices=notices)
