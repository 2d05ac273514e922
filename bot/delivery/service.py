"""Wiring: the pipeline with its sources and budgets, the reply policy, leadership."""

from __future__ import annotations

from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest

from bot.common.clock import Clock
from bot.delivery.broadcasts import BroadcastSource
from bot.delivery.budget import FREE_LANE, PAID_LANE, ChatPacer, SendBudget, SharedBudget
from bot.delivery.leader import AdvisoryLeader
from bot.delivery.pipeline import Pipeline
from bot.delivery.reminders import ReminderSource
from bot.delivery.replies import ReplyPolicy
from bot.delivery.settings import DeliverySettings
from bot.delivery.telegram import TelegramSender, lane_bot
from bot.runtime import Runtime, runtime_of
from bot.telegram.transport import bot_api_request
from storage.db import SessionFactory

LEADER_KEY = "stabot.delivery_leader"
LEADER_LOCK = 0x5_7AB0_7002  # pg_try_advisory_lock key of the pipeline's leader
LEADER_RETRY = 10.0  # seconds between a follower's attempts: the pipeline's failover time
REPLY_POOL = 256  # PTB's own default for the bot's connection pool
SHARED_JITTER = 0.025  # seconds of arrival jitter the shared timeline leaves room for


def with_reply_policy(
    builder: ApplicationBuilder,
    request: BaseRequest | None,
    config: DeliverySettings,
    *,
    transport: str,
    polling: bool = False,
) -> ApplicationBuilder:
    """The builder with ``application.bot`` behind the reply policy, around ``request`` or a
    new ``transport`` (BOT_API_TRANSPORT); getUpdates stays bare (the inbox's gate when
    polling, else ``request`` itself)."""
    inner = request if request is not None else bot_api_request(transport, connections=REPLY_POOL)
    builder = builder.request(ReplyPolicy(inner, retries=config.reply_retries))
    if request is not None and not polling:
        builder = builder.get_updates_request(request)
    return builder


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


def build_pipeline(application: Application, config: DeliverySettings) -> Pipeline:
    """The pipeline of this application (not started)."""
    rt = runtime_of(application)
    postgres = rt.engine.dialect.name == "postgresql"
    shared = config.shared_budget if config.shared_budget is not None else postgres
    budget, paid = build_budgets(
        config=config, clock=rt.clock, sessions=rt.sessions, shared=shared
    )
    settings = rt.settings
    lane = lane_bot(
        application,
        pool_size=max(config.max_in_flight, config.paid_max_in_flight),
        transport=settings.bot_api_transport,
        base_url=settings.telegram_api_base_url,
        file_url=settings.telegram_file_base_url,
    )
    sender = TelegramSender(lane, application.bot)
    sources = [
        BroadcastSource(sessions=rt.sessions, admin=sender, config=config),
        ReminderSource(tz=settings.tz),
    ]
    return Pipeline(
        sessions=rt.sessions,
        sources=sources,
        sender=sender,
        budget=budget,
        paid_budget=paid,
        clock=rt.clock,
        config=config,
        skip_locked=postgres,
    )


async def start_service(application: Application) -> Pipeline:
    """Build the pipeline (``rt.delivery``), give replies its budget, and run it
    on the leader when configured to (by default: when a bot token is set)."""
    rt = runtime_of(application)
    config = rt.settings.delivery
    pipeline = build_pipeline(application, config)
    await pipeline.sender.lane.initialize()  # type: ignore[attr-defined]
    policy = application.bot.request
    if isinstance(policy, ReplyPolicy):
        policy.budget = pipeline.budget
    rt.delivery = pipeline
    if _autostart(config, rt):
        leader = AdvisoryLeader(rt.engine, LEADER_LOCK, retry=LEADER_RETRY)
        application.bot_data[LEADER_KEY] = leader
        await leader.lead_or_follow(pipeline.start, "delivery")
    return pipeline


def _autostart(config: DeliverySettings, rt: Runtime) -> bool:
    return config.autostart if config.autostart is not None else rt.settings.token is not None


async def stop_service(application: Application) -> None:
    """Stop the pipeline, pay the budget what is owed, give up the leadership, close the lane."""
    rt = runtime_of(application)
    pipeline, rt.delivery = rt.delivery, None
    leader: AdvisoryLeader | None = application.bot_data.pop(LEADER_KEY, None)
    if pipeline is None:
        return
    await pipeline.stop()
    await pipeline.budget.close()
    await pipeline.paid_budget.close()
    if leader is not None:
        await leader.release()
    await pipeline.sender.lane.shutdown()  # type: ignore[attr-defined]
