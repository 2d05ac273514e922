"""The durable inbox: updates stored before Telegram is told they arrived, handled in each
chat's order by one worker at a time, marked done with their effects (see README, "How an
update flows"). `wire` and `install` are called by ``build_application``."""

from __future__ import annotations

from dataclasses import dataclass

from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest

from bot.runtime import runtime_of
from bot.telegram.inbox.dispatch import Dispatcher, note_failure
from bot.telegram.inbox.ingress import InboxQueue, Ingress, PollGate
from bot.telegram.transport import bot_api_request

__all__ = ["Inbox", "inbox_of", "install", "start", "wire"]
INBOX_KEY = "stabot.inbox"


@dataclass
class Inbox:
    """The inbox of one Application: what stores updates and what hands them on."""

    ingress: Ingress
    dispatcher: Dispatcher


def wire(
    builder: ApplicationBuilder, request: BaseRequest | None, *, polling: bool, transport: str
):
    """The builder with the inbox's update queue and, when polling, its getUpdates transport
    (``request``, or one connection of ``transport``) behind the gate."""
    queue = InboxQueue()
    builder = builder.update_queue(queue).post_stop(_post_stop)
    if polling:
        queue.gate = PollGate(request or bot_api_request(transport, connections=1))
        builder = builder.get_updates_request(queue.gate)
    return builder


def install(application: Application) -> Inbox:
    """Attach the inbox to a built Application (before its other error handlers)."""
    rt = runtime_of(application)
    leased = rt.engine.dialect.name == "postgresql"  # several workers may share it
    dispatcher = Dispatcher(application, leased=leased)
    ingress = Ingress(rt.sessions, rt.clock, dispatcher.submit)
    queue = application.update_queue
    if isinstance(queue, InboxQueue):
        queue.ingress = ingress
        if getattr(queue, "gate", None) is not None:
            queue.gate.ingress = ingress
    application.add_error_handler(note_failure)
    inbox = application.bot_data[INBOX_KEY] = Inbox(ingress, dispatcher)
    return inbox


def inbox_of(application: Application) -> Inbox:
    """The inbox installed on an application."""
    return application.bot_data[INBOX_KEY]


async def start(application: Application) -> None:
    """Resume what the inbox holds (end of post_init); no-op without an inbox."""
    inbox = application.bot_data.get(INBOX_KEY)
    if inbox is not None:
        await inbox.dispatcher.start()


async def _post_stop(application: Application) -> None:
    inbox = application.bot_data.get(INBOX_KEY)
    if inbox is not None:
        await inbox.dispatcher.stop()
