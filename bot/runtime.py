"""What every handler needs, built once in ``build_application`` and kept in ``bot_data``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import Application, ApplicationHandlerStop, CallbackContext, ExtBot

from bot.common.clock import Clock
from bot.config import Settings
from bot.flows.base import FlowContext, FormSpec, SendRates, TextRoute
from bot.flows.notices import Notifiers
from bot.services.media_store import MEDIA_DIR, MediaStore
from bot.services.people import InviteLinks, user_locale
from bot.services.photo_export import Files
from bot.services.policy import PolicyLibrary
from bot.telegram.group_edits import CountEdits
from bot.telegram.processor import chat_key
from storage import inbox_repo, users_repo
from storage.db import SessionFactory, transaction

if TYPE_CHECKING:  # they are built from a runtime: importing them here would be a cycle
    from bot.delivery.pipeline import Pipeline
    from bot.delivery.service import ChannelSender
    from bot.scheduler import ReminderService

log = logging.getLogger(__name__)
RUNTIME_KEY = "stabot.runtime"
GROUP_CHATS = ("group", "supergroup")
KEEP_PROCESSED = timedelta(days=2)  # Telegram keeps an unconfirmed update for 24 hours
PRUNE_EVERY = 1000  # update ids are sequential, so this prunes about once per 1000 updates


@dataclass
class Claim:
    """An update whose id the first transaction of its handlers still has to record.

    ``managed``: the inbox dispatcher runs the update and reads the outcome afterwards:
    ``failed`` (a handler raised before its effects were kept) and ``retry`` (the failure is
    worth another try, so the error was not reported to the user).
    """

    update: Update
    recorded: bool = False
    managed: bool = False
    may_retry: bool = False
    failed: bool = False
    retry: bool = False


# Set by the duplicate guard when PTB starts on an update; every handler of that update runs
# in the same task, so the units it opens see the claim.
_CLAIM: ContextVar[Claim | None] = ContextVar("stabot_update_claim", default=None)


def expect_claim(update: Update) -> None:
    """Have the next transaction of this update's handlers record its id (the duplicate guard)."""
    claim = _CLAIM.get()
    if claim is None or claim.update is not update:  # the dispatcher's claim stays
        _CLAIM.set(Claim(update))


def current_claim(update: object) -> Claim | None:
    """The claim of the update being handled in this task, if it is ``update``'s."""
    claim = _CLAIM.get()
    return claim if claim is not None and claim.update is update else None


def run_with_claim(claim: Claim) -> Token:
    """Make ``claim`` the current one in this task (``_CLAIM.reset(token)`` undoes it)."""
    return _CLAIM.set(claim)


def reset_claim(token: Token) -> None:
    """Undo ``run_with_claim``."""
    _CLAIM.reset(token)


def _pending_claim(update: Update) -> Claim | None:
    claim = _CLAIM.get()
    # Identity, not equality: a redelivery is another object with the same update id.
    if claim is None or claim.update is not update or claim.recorded:
        return None
    return claim


async def _record_update(session: AsyncSession, update: Update, now: datetime) -> None:
    """Mark the update done in this transaction; stop its handlers if it was handled before."""
    update_id = update.update_id
    if not await inbox_repo.mark_done(
        session=session, update_id=update_id, chat_id=chat_key(update) or 0, now=now
    ):
        log.info("update %s delivered again; ignored", update_id)
        raise ApplicationHandlerStop
    if update_id % PRUNE_EVERY == 0:
        await inbox_repo.forget_done_before(session=session, moment=now - KEEP_PROCESSED)


@dataclass
class Runtime:
    """Settings, database, clock and the long-lived services shared by all handlers."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    clock: Clock
    policy: PolicyLibrary  # /ask and /docs: the knowledge base, built on first use
    invite_links: InviteLinks  # t.me links with the bot's username (invites, deep links)
    group_counts: CountEdits  # the 已阅 counts under group notices, edited in batches
    # The forms the engine runs, by name, and the routes free text outside a form takes in
    # order: build_application passes both; nothing registers itself on import.
    forms: Mapping[str, FormSpec] = field(default_factory=dict)
    text_routes: Sequence[TextRoute] = ()
    # Each channel's sender of notices to other people (bot/flows/notices.py): a notice goes
    # through the adapter of the channel its address is on.
    notifiers: Notifiers = field(default_factory=Notifiers)
    # Started in post_init and stopped in post_shutdown (bot/app.py); None outside them.
    delivery: Pipeline | None = None  # bot/telegram/delivery.py (bot/delivery/service.py)
    reminders: ReminderService | None = None  # bot/scheduler.py
    # Other channels' senders for the pipeline, by channel (WeCom's: bot/wecom/sender.py),
    # put here before post_init by whatever starts that channel; Telegram's is built there.
    channel_senders: dict[str, ChannelSender] = field(default_factory=dict)
    # Each channel's files by channel, for another channel that shows them ("telegram": the
    # Bot API's getFile and download, put here by build_application).
    file_sources: dict[str, Files] = field(default_factory=dict)

    @property
    def media(self) -> MediaStore:
        """Where photos and files members sent on WeCom are kept (DATA_DIR/media)."""
        return MediaStore(self.settings.data_dir / MEDIA_DIR)

    def is_superadmin(self, telegram_id: int) -> bool:
        """Whether the id is one of SUPERADMIN_IDS."""
        return telegram_id in self.settings.superadmin_ids

    @asynccontextmanager
    async def unit(self, update: Update) -> AsyncIterator[FlowContext]:
        """One transaction for one update, with the acting user loaded (created on first sight).

        The first unit of an update also records its id, in the same transaction as the
        update's effects: a redelivered update stops here (``ApplicationHandlerStop``), and an
        update whose transaction failed is not recorded, since none of its effects were kept.
        """
        tg_user, chat = update.effective_user, update.effective_chat
        if tg_user is None or chat is None:
            raise ValueError("update without a user or chat")
        now = self.clock.now()
        claim = _pending_claim(update)
        async with transaction(self.sessions) as session:
            if claim is not None:
                await _record_update(session, update, now)
            user = await users_repo.upsert_user(
                session=session,
                telegram_id=tg_user.id,
                username=tg_user.username,
                now=now,
                language_code=tg_user.language_code,
            )
            yield FlowContext(
                session=session,
                now=now,
                tz=self.settings.tz,
                chat_id=chat.id,
                # The person's key: a Telegram account linked to a person who came first on
                # another channel acts as that person.
                user_id=user.telegram_id,
                actor=user,
                first_name=tg_user.first_name,
                username=tg_user.username,
                locale=user_locale(user, self.settings.default_locale),
                superadmin=self.is_superadmin(tg_user.id) or self.is_superadmin(user.telegram_id),
                superadmin_ids=tuple(self.settings.superadmin_ids),
                policy=self.policy,
                invite_links=self.invite_links,
                forms=self.forms,
                in_group=chat.type in GROUP_CHATS,
                send_rates=SendRates(
                    self.settings.delivery.rate, self.settings.delivery.paid_rate
                ),
            )
        if claim is not None:  # committed: later units of this update need not record it
            claim.recorded = True


class StabotContext(CallbackContext[ExtBot, dict, dict, dict]):
    """The callback context with typed access to the runtime."""

    @property
    def rt(self) -> Runtime:
        """The application's runtime."""
        return self.bot_data[RUNTIME_KEY]


def runtime_of(application: Application) -> Runtime:
    """The runtime stored on an application."""
    return application.bot_data[RUNTIME_KEY]
