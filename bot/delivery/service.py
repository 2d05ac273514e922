"""Wiring, channel-neutral: the pipeline with its sources and budgets around a channel's sender,
and its leadership. A channel adapter builds its sender and starts the pipeline
(bot/telegram/delivery.py for Telegram)."""

from __future__ import annotations

from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.common.clock import Clock
from bot.delivery.broadcasts import AdminChannel, BroadcastSource
from bot.delivery.budget import FREE_LANE, PAID_LANE, ChatPacer, SendBudget, SharedBudget
from bot.delivery.leader import AdvisoryLeader
from bot.delivery.pipeline import Pipeline, Sender
from bot.delivery.reminders import ReminderSource
from bot.delivery.settings import DeliverySettings
from storage.db import SessionFactory

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

    def now() -> float:
        return clock.now().timestamp()

    def lane(name: str, rate: float, limit: int) -> SendBudget:
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

    paid = int(config.paid_rate)
    return lane(FREE_LANE, config.rate, config.limit), lane(PAID_LANE, config.paid_rate, paid)


class ChannelSender(Sender, AdminChannel, Protocol):
    """A channel's sender: it sends the pipeline's messages and speaks to the admin who sent a
    notice (bot/telegram/sender.py is Telegram's)."""


def build_pipeline(
    sender: ChannelSender,
    *,
    sessions: SessionFactory,
    engine: AsyncEngine,
    clock: Clock,
    tz: ZoneInfo,
    config: DeliverySettings,
) -> Pipeline:
    """The pipeline sending through ``sender`` (not started)."""
    postgres = engine.dialect.name == "postgresql"
    shared = config.shared_budget if config.shared_budget is not None else postgres
    budget, paid = build_budgets(config=config, clock=clock, sessions=sessions, shared=shared)
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
    )


def pipeline_leader(engine: AsyncEngine) -> AdvisoryLeader:
    """The advisory lock whose holder runs the pipeline (one worker of several)."""
    return AdvisoryLeader(engine, LEADER_LOCK, retry=LEADER_RETRY)


async def stop_pipeline(pipeline: Pipeline, leader: AdvisoryLeader | None) -> None:
    """Stop the pipeline, pay the budget what is owed, give up the leadership."""
    await pipeline.stop()
    await pipeline.budget.close()
    await pipeline.paid_budget.close()
    if leader is not None:
        await leader.release()
