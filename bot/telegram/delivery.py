"""The Telegram side of the delivery pipeline's wiring: the bulk lane's Bot and the sender
around it, handed to the channel-neutral pipeline (bot/delivery/service.py); the reply policy
gets the pipeline's budget; the pipeline runs on the leader."""

from __future__ import annotations

from telegram.ext import Application

from bot.delivery import service
from bot.delivery.leader import AdvisoryLeader
from bot.delivery.pipeline import Pipeline
from bot.delivery.settings import DeliverySettings
from bot.runtime import Runtime, runtime_of
from bot.telegram.replies import ReplyPolicy
from bot.telegram.sender import TelegramSender, lane_bot
from storage.identity_models import Channel

LEADER_KEY = "stabot.delivery_leader"


def telegram_sender(application: Application, config: DeliverySettings) -> TelegramSender:
    """Sends on a lane of its own and speaks to admins through ``application.bot``."""
    settings = runtime_of(application).settings
    lane = lane_bot(
        application,
        pool_size=max(config.max_in_flight, config.paid_max_in_flight),
        transport=settings.bot_api_transport,
        base_url=settings.telegram_api_base_url,
        file_url=settings.telegram_file_base_url,
    )
    return TelegramSender(lane, application.bot)


async def start_service(application: Application) -> Pipeline:
    """Build the pipeline (``rt.delivery``), give replies its budget, and run it
    on the leader when configured to (by default: when a bot token is set)."""
    rt = runtime_of(application)
    config = rt.settings.delivery
    sender = telegram_sender(application, config)
    pipeline = service.build_pipeline(
        sender,
        sessions=rt.sessions,
        engine=rt.engine,
        clock=rt.clock,
        tz=rt.settings.tz,
        config=config,
        others=rt.channel_senders,  # WeCom's, when that channel was started
    )
    await sender.lane.initialize()
    policy = application.bot.request
    if isinstance(policy, ReplyPolicy):
        policy.budget = pipeline.budget
    rt.delivery = pipeline
    if _autostart(config, rt):
        leader = service.pipeline_leader(rt.engine)
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
    await service.stop_pipeline(pipeline, leader)
    sender = pipeline.sender
    if isinstance(sender, service.ChannelRouter):
        sender = sender.senders.get(Channel.TELEGRAM.value)  # type: ignore[assignment]
    if isinstance(sender, TelegramSender):  # the lane a test may have replaced
        await sender.lane.shutdown()
