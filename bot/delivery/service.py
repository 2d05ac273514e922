"""Wiring, channel-neutral: the pipeline with its sources and budgets around a channel's sender,
and its leadership. A channel adapter builds its sender and starts the pipeline
(bot/telegram/delivery.py for Telegram)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.common.clock import Clock
from bot.delivery.broadcasts import AdminChannel, BroadcastSource
from bot.delivery.budget import (
    FREE_LANE,
    PAID_LANE,
    ChatPacer,
    QuotaPacer,
    SendBudget,
    SharedBudget,
)
from bot.delivery.leader import AdvisoryLeader
from bot.delivery.outcome import Outcome, Outgoing, Result
from bot.delivery.pipeline import Pipeline, Sender
from bot.delivery.reminders import ReminderSource
from bot.delivery.settings import DeliverySettings
from bot.flows.base import Reply
from storage.db import SessionFactory
from storage.identity_models import Channel, channel_of

log = logging.getLogger(__name__)

LEADER_LOCK = 0x5_7AB0_7002  # pg_try_advisory_lock key of the pipeline's leader
LEADER_RETRY = 10.0  # seconds between a follower's attempts: the pipeline's failover time
SHARED_JITTER = 0.025  # seconds of arrival jitter the shared timeline leaves room for


def build_budgets(
    *,
    config: DeliverySettings,
    clock: Clock,
    sessions: SessionFactory,
    shared: bool,
) -> tuple[SendBudget, SendBudget]:
    """The free lane's budget and the paid lane's, in this process or in the database."""
    chats = ChatPacer(config.per_chat_interval, config.group_interval, config.margin)
    paid = int(config.paid_rate)
    lane = _lane_maker(config=config, clock=clock, sessions=sessions, shared=shared)
    return (
        lane(FREE_LANE, config.rate, config.limit, chats),
        lane(PAID_LANE, config.paid_rate, paid, chats),
    )


def wecom_budget(
    *, config: DeliverySettings, clock: Clock, sessions: SessionFactory, shared: bool
) -> SendBudget:
    """WeCom's lane: the application's pace (shared between processes like Telegram's), each
    member's minute and hour, and the application's day (bot/delivery/budget.py QuotaPacer)."""
    members = QuotaPacer(
        per_minute=config.wecom_member_per_minute,
        per_hour=config.wecom_member_per_hour,
        per_day=config.wecom_app_per_day,
        burst=config.wecom_member_burst,
        margin=config.margin,
    )
    lane = _lane_maker(config=config, clock=clock, sessions=sessions, shared=shared)
    return lane(Channel.WECOM.value, config.wecom_rate, config.wecom_limit, members)


LaneMaker = Callable[[str, float, int, ChatPacer], SendBudget]


def _lane_maker(
    *, config: DeliverySettings, clock: Clock, sessions: SessionFactory, shared: bool
) -> LaneMaker:
    """Builds a lane by name, rate, window limit and per-chat pacer, shared or in-process."""

    def now() -> float:
        return clock.now().timestamp()

    def lane(name: str, rate: float, limit: int, chats: ChatPacer) -> SendBudget:
        common = {
            "rate": rate,
            "limit": limit,
            "window": config.window,
            "margin": config.margin,
            "now": now,
        }
        if shared:
            return SharedBudget(
                sessions=sessions,
                lane=name,
                reserve_ahead=config.reserve_ahead,
                jitter=config.margin if config.margin is not None else SHARED_JITTER,
                chats=chats,
                **common,  # type: ignore[arg-type]
            )
        return SendBudget(chats=chats, **common)  # type: ignore[arg-type]

    return lane


class ChannelSender(Sender, AdminChannel, Protocol):
    """A channel's sender: it sends the pipeline's messages and speaks to the admin who sent a
    notice (bot/telegram/sender.py is Telegram's, bot/wecom/sender.py WeCom's)."""


class ChannelRouter:
    """One sender for the pipeline over every channel's: a message goes through the sender of
    its address's channel (storage.identity_models.channel_of), and so does an admin's."""

    def __init__(self, senders: Mapping[str, ChannelSender]) -> None:
        self.senders = dict(senders)

    def sender_for(self, chat_id: int) -> ChannelSender | None:
        """The sender of the chat's channel (None: that channel is not configured)."""
        return self.senders.get(channel_of(chat_id).value)

    async def send(self, out: Outgoing) -> Result:
        """Through the recipient's channel; a channel not configured is a permanent failure."""
        sender = self.sender_for(out.chat_id)
        if sender is None:
            channel = channel_of(out.chat_id).value
            return Result(Outcome.FAILED, error=f"channel {channel} is not configured")
        return await sender.send(out)

    async def post(self, chat_id: int, locale: str, reply: Reply) -> int | None:
        """A message to an admin on their channel."""
        sender = self.sender_for(chat_id)
        if sender is None:
            log.warning("no sender for the admin's channel (%s)", channel_of(chat_id).value)
            return None
        return await sender.post(chat_id, locale, reply)

    async def edit(self, chat_id: int, message_id: int, locale: str, reply: Reply) -> None:
        """Edit an admin's status message on their channel."""
        sender = self.sender_for(chat_id)
        if sender is not None:
            await sender.edit(chat_id, message_id, locale, reply)


def build_pipeline(
    sender: ChannelSender,
    *,
    sessions: SessionFactory,
    engine: AsyncEngine,
    clock: Clock,
    tz: ZoneInfo,
    config: DeliverySettings,
    others: Mapping[str, ChannelSender] | None = None,
) -> Pipeline:
    """The pipeline sending through ``sender`` (not started); with ``others`` (channel →
    sender, e.g. {"wecom": WeComSender}) each address goes through its channel's sender, and
    WeCom's on a lane of its own."""
    postgres = engine.dialect.name == "postgresql"
    shared = shares_budget(config, engine)
    budget, paid = build_budgets(config=config, clock=clock, sessions=sessions, shared=shared)
    lanes: dict[str, SendBudget] = {}
    if others:
        sender = ChannelRouter({Channel.TELEGRAM.value: sender, **others})
        if Channel.WECOM.value in others:
            lanes[Channel.WECOM.value] = wecom_budget(
                config=config, clock=clock, sessions=sessions, shared=shared
            )
    sources = [
        BroadcastSource(sessions=sessions, admin=sender, config=config),
        ReminderSource(tz=tz),
    ]
    return Pipeline(
        sessions=sessions,
        sources=sources,
        sender=sender,
        budget=budget,
        paid_budget=paid,
        clock=clock,
        config=config,
        skip_locked=postgres,
        lanes=lanes,
    )


def shares_budget(config: DeliverySettings, engine: AsyncEngine) -> bool:
    """Whether the budgets live in the database (by default on PostgreSQL: several processes)."""
    postgres = engine.dialect.name == "postgresql"
    return config.shared_budget if config.shared_budget is not None else postgres


def pipeline_leader(engine: AsyncEngine) -> AdvisoryLeader:
    """The advisory lock whose holder runs the pipeline (one worker of several)."""
    return AdvisoryLeader(engine, LEADER_LOCK, retry=LEADER_RETRY)


async def stop_pipeline(pipeline: Pipeline, leader: AdvisoryLeader | None) -> None:
    """Stop the pipeline, pay the budget what is owed, give up the leadership."""
    await pipeline.stop()
    for lane in pipeline.all_lanes():
        await lane.close()
    if leader is not None:
        await leader.release()
