"""What every handler needs, built once in ``build_application`` and kept in ``bot_data``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Update
from telegram.ext import Application, CallbackContext, ExtBot

from bot.clock import Clock
from bot.config import Settings
from bot.flows.base import FlowContext
from bot.services.people import user_locale
from storage import users_repo
from storage.db import SessionFactory, transaction

RUNTIME_KEY = "stabot.runtime"


@dataclass
class Runtime:
    """Settings, database and clock shared by all handlers; services hang off it too."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    clock: Clock
    services: dict[str, Any] = field(default_factory=dict)

    def is_superadmin(self, telegram_id: int) -> bool:
        """Whether the id is one of SUPERADMIN_IDS."""
        return telegram_id in self.settings.superadmin_ids

    @asynccontextmanager
    async def unit(self, update: Update) -> AsyncIterator[FlowContext]:
        """One transaction for one update, with the acting user loaded (created on first sight)."""
        tg_user, chat = update.effective_user, update.effective_chat
        if tg_user is None or chat is None:
            raise ValueError("update without a user or chat")
        now = self.clock.now()
        async with transaction(self.sessions) as session:
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
                user_id=tg_user.id,
                actor=user,
                first_name=tg_user.first_name,
                username=tg_user.username,
                locale=user_locale(user, self.settings.default_locale),
                superadmin=self.is_superadmin(tg_user.id),
                superadmin_ids=tuple(self.settings.superadmin_ids),
                services=self.services,
            )


class StabotContext(CallbackContext[ExtBot, dict, dict, dict]):
    """The callback context with typed access to the runtime."""

    @property
    def rt(self) -> Runtime:
        """The application's runtime."""
        return self.bot_data[RUNTIME_KEY]


def runtime_of(application: Application) -> Runtime:
    """The runtime stored on an application."""
    return application.bot_data[RUNTIME_KEY]
