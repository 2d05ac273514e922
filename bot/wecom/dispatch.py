"""The WeCom dispatcher: one member's event in, the flows' answer out through the WeCom API.

An `EventHandler` (bot/wecom/events.py): the callback endpoint, or its inbox worker, calls it
once per event, in each member's order. Per event, in one transaction (like Telegram's
``Runtime.unit``): the event is recorded as handled (a redelivery stops here and changes
nothing), the member is met (``users_repo.meet``: their person, and their WeCom address as
chat id), and the event is routed by the channel-neutral table (bot/flows/routes.py):

- ``/command args`` typed: the command's route (a command not allowed inside an open form
  shows the form again, as on Telegram);
- a card button (its key is our callback data): the family's route; data the table does not
  read gets the stale note;
- a bare number after a reply with numbered choices: that choice's button;
- any other text, an image or a file: the open form's answer, else the text routes (quick
  log, acknowledgements, questions), as on Telegram. An image or a file is first downloaded
  (media/get) and kept in the media store (bot/services/media_store.py): the form stores
  its reference, which never expires, where WeCom's media id would in three days.

The reply is rendered (bot/wecom/render.py) inside the transaction, so the numbered choices
it offers are stored with the event's effects, and sent after the commit. Notices to other
people go through `Notifiers` to whichever channel their address is on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.common.clock import Clock
from bot.common.i18n import DEFAULT_LOCALE
from bot.delivery.outcome import Outcome
from bot.flows import engine, library, routes
from bot.flows.base import (
    Album,
    FlowContext,
    FormSpec,
    Input,
    InputKind,
    Msg,
    Notice,
    Reply,
    SendRates,
    TextRoute,
)
from bot.flows.library import MAX_UPLOAD_MB, refuse_upload
from bot.flows.notices import Notifiers
from bot.services.media_store import MediaStore, ref_digest
from bot.services.people import InviteLinks, user_locale
from bot.services.photo_export import Files
from bot.services.policy import PolicyLibrary, readable_suffix
from bot.wecom import outcomes
from bot.wecom.client import (
    MediaResult,
    Message,
    Recipients,
    SendResult,
    TemplateCard,
    WeComTransportError,
)
from bot.wecom.events import EventKind, WeComEvent
from bot.wecom.outcomes import Made, made_of
from bot.wecom.render import Rendered, render
from bot.wecom.sender import WeComReplies
from storage import identities_repo, users_repo, wecom_repo
from storage.db import SessionFactory, transaction
from storage.identity_models import Channel
from storage.models import User

log = logging.getLogger(__name__)
UPDATE_CARD = "message/update_template_card"
KEEP_HANDLED = timedelta(days=2)  # WeCom retries a callback for minutes, not days
PRUNE_EVERY = 500  # events between two prunings of the handled records
MB = 1024 * 1024
CHOICE_DIGITS = 2  # a bare number of at most this many digits may pick a numbered choice
STALE = Msg("button.stale")


class WeComApi(Protocol):
    """What the dispatcher needs of the WeCom client (bot/wecom/client.py's `WeComClient`)."""

    agent_id: int

    async def send(self, message: Message, to: Recipients, *, safe: bool = False) -> SendResult:
        """message/send."""
        ...

    async def call(self, method: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """Any API method with the access token."""
        ...

    async def get_media(self, media_id: str) -> MediaResult:
        """media/get: a member's photo or file."""
        ...


@dataclass
class Answer:
    """What one event produced: the rendered reply, to whom, and the notices for others."""

    user_id: str
    address: int  # the member's address: their place in WeCom's budget
    rendered: Rendered
    notices: list[Notice]
    task_id: str | None = None  # the pressed card's
    response_code: str | None = None  # the pressed card's: good for one update
    made: Made | None = None  # /stats' charts, /export's file: made after the commit
    albums: list[Album] = field(default_factory=list)  # sent after the commit
    locale: str = DEFAULT_LOCALE


@dataclass
class WeComDispatcher:
    """Handles WeCom events with the bot's flows; call it with each event."""

    sessions: SessionFactory
    client: WeComApi
    clock: Clock
    tz: ZoneInfo
    default_locale: str = DEFAULT_LOCALE
    superadmin_ids: tuple[int, ...] = ()
    policy: PolicyLibrary | None = None
    invite_links: InviteLinks | None = None
    forms: Mapping[str, FormSpec] = field(default_factory=dict)
    text_routes: Sequence[TextRoute] = ()
    notifiers: Notifiers = field(default_factory=Notifiers)
    send_rates: SendRates | None = None  # the pipeline's rates, for a broadcast's estimate
    media: MediaStore | None = None  # where members' photos and files are kept
    # Other channels' files by channel ("telegram": its Bot API), filled when they start.
    file_sources: Mapping[str, Files] = field(default_factory=dict)
    # How replies and notices are sent: on WeCom's lane (bot/app.py gives the pipeline's);
    # None: at once, with the same handling of WeCom's answers.
    replies: WeComReplies | None = None
    handled: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.replies is None:
            self.replies = WeComReplies(self.client)  # type: ignore[arg-type]
        # Notices to WeCom addresses, from whichever channel's update made them, come here.
        self.notifiers.register(Channel.WECOM, self.send_notice)

    async def __call__(self, event: WeComEvent) -> None:
        """Handle one event (the `EventHandler` of bot/wecom/events.py)."""
        answer = await self._answer(event, await self._received(event))
        if answer is None:
            return
        files = await outcomes.albums(answer.locale, answer.albums, self.media, self.file_sources)
        files += await outcomes.messages(answer.made, self.sessions, self.tz)
        answer.rendered.messages.extend(files)
        await self._show(answer)
        await self.notifiers.send_all(answer.notices)

    # --- one transaction per event ---------------------------------------------------------

    async def _answer(self, event: WeComEvent, received: Input | Reply) -> Answer | None:
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            if not await wecom_repo.mark_handled(session, dedup_key=event.dedup_key, now=now):
                log.info("WeCom event %s delivered again; ignored", event.dedup_key)
                return None
            await self._prune(session, now)
            person, address = await users_repo.meet(session, Channel.WECOM, event.user_id, now=now)
            ctx = self._context(session, now, person, address)
            result = await self._route(ctx, event, received)
            reply = routes.reply_of(result)
            if reply is None:
                return None
            pressed = event.kind is EventKind.CARD_BUTTON
            code = event.response_code if pressed else None
            # The albums after the commit (their files may be downloaded first).
            texts = dataclasses.replace(reply, albums=[])
            rendered = render(ctx.locale, texts, response_code=code, media=self.media)
            if reply.texts:  # a new view: its numbers (or none) replace the earlier ones
                quoted = event.text if reply.quote and event.kind is EventKind.TEXT else None
                await wecom_repo.offer_choices(
                    session, address=address, choices=rendered.choices, now=now, quoted=quoted
                )
        made = made_of(result, ctx.locale, ctx.user_id, ctx.superadmin)
        return Answer(
            event.user_id,
            address,
            rendered,
            reply.notices,
            event.task_id,
            event.response_code,
            made=made,
            albums=reply.albums,
            locale=ctx.locale,
        )

    async def _prune(self, session: AsyncSession, now: datetime) -> None:
        self.handled += 1
        if self.handled % PRUNE_EVERY == 0:
            await wecom_repo.forget_handled_before(session, moment=now - KEEP_HANDLED)

    def _context(
        self, session: AsyncSession, now: datetime, person: User, address: int
    ) -> FlowContext:
        return FlowContext(
            session=session,
            now=now,
            tz=self.tz,
            chat_id=address,
            user_id=person.telegram_id,  # the person's key (their first identity's address)
            actor=person,
            first_name=person.real_name or "",
            locale=user_locale(person, self.default_locale),
            superadmin=person.telegram_id in self.superadmin_ids,
            superadmin_ids=self.superadmin_ids,
            policy=self.policy,
            invite_links=self.invite_links,
            forms=self.forms,
            send_rates=self.send_rates,
        )

    async def _route(self, ctx: FlowContext, event: WeComEvent, received: Input | Reply) -> Any:
        if event.kind is EventKind.CARD_BUTTON:
            return await self._press(ctx, event.event_key)
        if event.kind is EventKind.TEXT:
            return await self._text(ctx, event.text.strip())
        if event.kind is EventKind.MENU and (event.event_key or "").startswith("/"):
            return await self._text(ctx, event.event_key or "")  # a menu item runs a command
        if event.kind in (EventKind.ENTER, EventKind.MENU):
            return None  # opening the application says nothing
        if isinstance(received, Reply):
            return received  # a file refused before it reached the forms
        if received.kind is InputKind.DOCUMENT and await self._offered_to_library(ctx):
            return await self._library_upload(ctx, received.file_id or "")
        return await routes.user_input(ctx, received, self.text_routes)

    async def _offered_to_library(self, ctx: FlowContext) -> bool:
        """A file from a library manager outside a form is offered for indexing (as on
        Telegram, bot/telegram/handlers/ask.py)."""
        if self.policy is None or self.media is None:
            return False
        return await engine.active_flow(ctx) is None and await library.may_manage(ctx)

    async def _library_upload(self, ctx: FlowContext, ref: str) -> Reply:
        assert self.policy is not None and self.media is not None
        kept = await asyncio.to_thread(self.media.get, ref)
        if kept is None:
            return Reply([Msg("wecom.media_failed")])
        if not readable_suffix(kept.filename):
            return refuse_upload("unsupported_type", kept.filename)
        path = self.policy.upload_path(ref_digest(ref), kept.filename)
        await asyncio.to_thread(path.write_bytes, kept.data)
        return await library.receive_upload(ctx, self.policy, path, kept.filename)

    # --- photos and files: kept before the transaction -------------------------------------

    async def _received(self, event: WeComEvent) -> Input | Reply:
        """An image or file as a form input: downloaded (its media id expires in three days)
        and kept in the media store, the input naming the kept file; a file over the limit
        gets the refusal Telegram gives. Done before the event's transaction: no database
        connection waits on a download."""
        sent = _input(event)
        if sent.file_id is None or self.media is None:
            return sent
        try:
            got = await self.client.get_media(sent.file_id)
        except WeComTransportError as error:
            log.warning("WeCom media/get failed: %s", error)
            return Reply([Msg("wecom.media_failed")])
        if not got.ok:
            log.info("WeCom media/get refused: %s %s", got.errcode, got.errmsg)
            return Reply([Msg("wecom.media_failed")])
        name = got.file_name or event.file_name or _default_name(sent.kind)
        if len(got.content) > MAX_UPLOAD_MB * MB:
            return refuse_upload("too_large", name)
        ref = await asyncio.to_thread(self.media.put, got.content, name)
        return dataclasses.replace(sent, file_id=ref)

    async def _press(self, ctx: FlowContext, data: str | None) -> Any:
        # The member's words the latest reply quoted: what an offer's button reads back.
        quoted = await wecom_repo.quoted(ctx.session, address=ctx.chat_id)
        produce = routes.button(data, quoted=quoted)
        if produce is None:  # old, malformed or forged data
            return Reply([], toast=STALE)
        return await produce(ctx)

    async def _text(self, ctx: FlowContext, text: str) -> Any:
        if text.startswith("/"):
            return await self._command(ctx, text)
        if text.isdecimal() and len(text) <= CHOICE_DIGITS:
            data = await wecom_repo.choice(ctx.session, address=ctx.chat_id, number=int(text))
            if data is not None:
                return await self._press(ctx, data)
        return await routes.user_input(ctx, Input(InputKind.TEXT, text), self.text_routes)

    async def _command(self, ctx: FlowContext, text: str) -> Any:
        head, *rest = text.split(maxsplit=1)  # any space, the full-width one of IMEs too
        name = head.lstrip("/").lower()
        unknown = routes.unknown_command(head)
        if unknown is not None:
            return unknown
        busy = await routes.busy_form(ctx, name)
        if busy is not None:
            return busy
        return await routes.command(name, rest[0] if rest else "")(ctx)

    # --- after the commit: the WeCom API -----------------------------------------------------

    async def _show(self, answer: Answer) -> None:
        card = answer.rendered.card_update
        if card is not None and not await self._update_card(answer, card):
            # the card could not be replaced: a new one
            await self._send(card, answer.user_id, answer.address)
        for message in answer.rendered.messages:
            await self._send(message, answer.user_id, answer.address)

    async def _update_card(self, answer: Answer, card: TemplateCard) -> bool:
        """Replace the pressed card (its response_code is good for one update in 72 hours)."""
        body = dict(card.body())
        if answer.task_id:
            body["task_id"] = answer.task_id  # the same card, changed
        payload = {
            "userids": [answer.user_id],
            "agentid": self.client.agent_id,
            "response_code": answer.response_code,
            "template_card": body,
        }
        try:
            data = await self.client.call(UPDATE_CARD, payload)
        except WeComTransportError as error:
            log.warning("update_template_card failed: %s", error)
            return False
        if int(data.get("errcode", 0)):
            log.info("update_template_card refused: %s", data.get("errmsg"))
            return False
        return True

    async def _send(self, message: Message, userid: str, address: int) -> bool:
        """Through WeCom's budget (`WeComReplies`: it logs what did not go)."""
        assert self.replies is not None
        result = await self.replies.send(message, userid, address)
        return result.outcome is Outcome.SENT

    async def send_notice(self, notice: Notice) -> bool:
        """A notice to a person's WeCom address (`Notifiers`' sender for WeCom)."""
        rendered = render(notice.locale, notice.reply)
        async with transaction(self.sessions) as session:
            identity = await identities_repo.identity_at(session, notice.chat_id)
            if identity is None or identity.channel != Channel.WECOM:
                log.warning("notice to WeCom address %s, which has no identity", notice.chat_id)
                return False
            await wecom_repo.offer_choices(
                session, address=notice.chat_id, choices=rendered.choices, now=self.clock.now()
            )
        userid = identity.external_id
        sent = [await self._send(m, userid, notice.chat_id) for m in rendered.messages]
        return bool(sent) and all(sent)


def _default_name(kind: InputKind) -> str:
    return "photo.jpg" if kind is InputKind.PHOTO else "file"


def _input(event: WeComEvent) -> Input:
    """What kind of form input an image, a file or anything else is."""
    if event.kind is EventKind.IMAGE and event.media_id:
        return Input(InputKind.PHOTO, file_id=event.media_id)
    if event.kind is EventKind.FILE and event.media_id:
        return Input(InputKind.DOCUMENT, event.file_name or "", file_id=event.media_id)
    return Input(InputKind.OTHER)
