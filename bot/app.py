"""Wiring: build the `telegram.ext.Application` with every handler and the shared runtime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from telegram import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeDefault,
)
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes
from telegram.request import BaseRequest

from bot import scheduler
from bot.common.clock import Clock, SystemClock
from bot.common.i18n import SUPPORTED, t
from bot.config import Settings
from bot.delivery import service as delivery_service
from bot.delivery.budget import SendBudget
from bot.flows import acks, activity_views, channels, onboarding
from bot.flows import ask as ask_flow
from bot.flows import engine as form_engine
from bot.flows.access_request import AccessRequestForm, applicant_route
from bot.flows.access_review import RejectForm
from bot.flows.activity import ActivityForm
from bot.flows.base import FormSpec, Notice, SendRates, TextRoute
from bot.flows.broadcast import BroadcastForm
from bot.flows.library import DocumentUploadForm
from bot.flows.members import FilterForm, InviteForm, MoveForm
from bot.flows.menu import GUEST, commands_for, group_commands
from bot.flows.notices import NoticeSender
from bot.flows.registration import RegistrationForm
from bot.flows.stats import RangeForm
from bot.flows.task_new import MoveDeadlineForm, NewTaskForm
from bot.flows.task_report import ReportForm
from bot.runtime import RUNTIME_KEY, Runtime, StabotContext, runtime_of
from bot.services.people import InviteLinks
from bot.services.policy import PolicyLibrary
from bot.telegram import delivery, group_edits, replies
from bot.telegram import inbox as inbox_wiring
from bot.telegram.files import BotFiles
from bot.telegram.handlers import (
    activities,
    ask,
    broadcast,
    errors,
    forms,
    groups,
    guards,
    members,
    start,
    unserved,
)
from bot.telegram.handlers import reminders as reminder_handlers
from bot.telegram.handlers import stats as stats_handlers
from bot.telegram.handlers import tasks as task_handlers
from bot.telegram.processor import PerChatUpdateProcessor
from bot.telegram.render import notify
from bot.wecom.client import WeComClient
from bot.wecom.dispatch import WeComApi, WeComDispatcher
from bot.wecom.events import EventHandler
from bot.wecom.outcomes import TELEGRAM as TELEGRAM_FILES
from bot.wecom.sender import WeComReplies
from storage.db import create_engine, session_factory
from storage.identity_models import Channel
from storage.migrate import upgrade_to_head
from storage.models import Role

log = logging.getLogger(__name__)
OFFLINE_TOKEN = "0:offline"
MAX_CONCURRENT_UPDATES = 64
WARMUP_KEY = "stabot.knowledge_warmup"
# The forms the engine runs (bot/flows); a stored half-filled form resumes by its name.
FORMS: tuple[FormSpec, ...] = (
    RegistrationForm(),  # /start with an invite
    AccessRequestForm(),  # /start without one: ask an admin
    RejectForm(),  # /requests' reject: confirm, with an optional reason for the applicant
    ActivityForm(),  # /log, the quick log, edits from /mylogs
    BroadcastForm(),  # /broadcast
    NewTaskForm(),  # /newtask
    MoveDeadlineForm(),  # a task's 改截止 button
    ReportForm(),  # 填报: a progress report answering a task
    RangeForm(),  # /stats 自定义: a typed range
    FilterForm(),  # /members: whose people to list
    MoveForm(),  # /members: a person's new org
    InviteForm(),  # /members: an invite
    DocumentUploadForm(),  # a policy document from a library manager
)
# Free text outside a form, tried in this order; the first that answers wins.
TEXT_ROUTES: tuple[TextRoute, ...] = (
    # A link code from /me, sent from another channel: that identity joins its person.
    channels.link_route,
    # An invite code typed or scanned by someone not yet registered (WeCom: no deep links);
    # registered people's messages pass on.
    onboarding.invite_route,
    # A bare keyword the documents speak of (两翼, 学会服务站): answered, before the quick log
    # takes a place-like or thin text for an activity; one with a day, a head count or a verb
    # of doing passes on.
    ask_flow.topic_route,
    activity_views.quick_route,  # text that reads as a report: the quick log's offer
    # 收到/好的 outside a reply gets no answer; after the quick log (好的，昨天开展了讲座… is
    # a report), before the fallback's 没看懂.
    acks.quiet_route,
    # An applicant (request waiting or turned down) hears where it stands, before questions:
    # "什么时候能用" is about the request, not the documents.
    applicant_route,
    ask_flow.question_route,  # last: anything else that reads as a question
)


def build_application(
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    clock: Clock | None = None,
    polling: bool = False,
    migrate: bool = True,
    inbox: bool = False,
) -> Application:
    """The bot: real handlers, our update processor, and the runtime in ``bot_data``.

    ``inbox``: updates go through the durable inbox (always when ``polling``); the tests and
    the terminal chat call ``process_update`` themselves and leave it out.
    """
    inbox = inbox or polling
    builder = (
        ApplicationBuilder()
        .token(settings.token or OFFLINE_TOKEN)
        .context_types(ContextTypes(context=StabotContext))
        .concurrent_updates(PerChatUpdateProcessor(MAX_CONCURRENT_UPDATES))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if inbox:
        builder = inbox_wiring.wire(
            builder, request, polling=polling, transport=settings.bot_api_transport
        )
    # Replies go through one policy (429s waited out, safe retries; bot/telegram/replies.py)
    # around ``request`` or the configured transport; getUpdates stays bare.
    builder = replies.with_reply_policy(
        builder,
        request,
        settings.delivery,
        transport=settings.bot_api_transport,
        polling=polling,
    )
    if request is None:
        builder = builder.base_url(settings.telegram_api_base_url).base_file_url(
            settings.telegram_file_base_url
        )
    if not polling:
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data[RUNTIME_KEY] = build_runtime(settings, clock)
    # Notices to people on Telegram go through this application's bot, whichever channel's
    # update made them.
    runtime_of(application).notifiers.register(Channel.TELEGRAM, _telegram_notices(application))
    # Photos Telegram holds, for WeCom members who are shown them (bot/wecom/outcomes.py).
    runtime_of(application).file_sources[TELEGRAM_FILES] = BotFiles(application.bot)
    application.bot_data["stabot.migrate"] = migrate
    if inbox:
        inbox_wiring.install(application)  # its error handler goes before errors.on_error
    _register_handlers(application)
    return application


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    """The database, clock, forms and services every channel's handlers share (a process
    with WeCom alone has it without a Telegram Application)."""
    engine = create_engine(settings.database_url)
    clock = clock or SystemClock()
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        clock=clock,
        policy=PolicyLibrary(
            settings.data_dir, settings.corpus_dir, embeddings=settings.knowledge.embeddings
        ),
        invite_links=InviteLinks(settings.bot_username),
        group_counts=group_edits.CountEdits(clock),
        forms=form_engine.by_name(FORMS),
        text_routes=TEXT_ROUTES,
    )


def wecom_dispatcher(rt: Runtime, client: WeComApi) -> WeComDispatcher:
    """The WeCom dispatcher on the runtime: the same database, forms, text routes and policy
    library as Telegram's handlers, and notices shared both ways (it registers WeCom's sender)."""
    settings = rt.settings
    return WeComDispatcher(
        sessions=rt.sessions,
        client=client,
        clock=rt.clock,
        tz=settings.tz,
        default_locale=settings.default_locale,
        superadmin_ids=tuple(settings.superadmin_ids),
        policy=rt.policy,
        invite_links=rt.invite_links,
        forms=rt.forms,
        text_routes=rt.text_routes,
        notifiers=rt.notifiers,
        send_rates=SendRates(settings.delivery.rate, settings.delivery.paid_rate),
        media=rt.media,
        file_sources=rt.file_sources,
        replies=WeComReplies(client, wecom_lane(rt), pause=settings.delivery.wecom_pause),
    )


def wecom_lane(rt: Runtime) -> SendBudget:
    """WeCom's lane for replies and direct notices: the pipeline's (its bulk gives way to
    them), or, where this process has no pipeline with one, a lane of the same budget (shared
    through the database between processes, like the pipeline's)."""
    if rt.delivery is not None and Channel.WECOM.value in rt.delivery.lanes:
        return rt.delivery.lanes[Channel.WECOM.value]
    config = rt.settings.delivery
    shared = delivery_service.shares_budget(config, rt.engine)
    lane = delivery_service.wecom_budget(
        config=config, clock=rt.clock, sessions=rt.sessions, shared=shared
    )
    if rt.delivery is not None:
        lane.sleep = rt.delivery.sleep
    return lane


# The WeCom dispatcher: a function of the runtime and the WeCom API client that returns the
# EventHandler `stabot run` hands each member's events to (bot/channels.py).
WECOM_HANDLER: Callable[[Runtime, WeComClient], EventHandler] | None = wecom_dispatcher


def _telegram_notices(application: Application) -> NoticeSender:
    async def send(notice: Notice) -> bool:
        return await notify(application.bot, notice.chat_id, notice.locale, notice.reply)

    return send


def _register_handlers(application: Application) -> None:
    # Updates the bot does not serve are set aside first; then the guards (duplicate updates,
    # commands inside forms), commands and their buttons, and last the catch-all for form
    # input and free text, and the answer to buttons that match no family.
    application.add_handlers(unserved.handlers(), group=unserved.GROUP)
    for group, group_handlers in guards.handlers().items():
        application.add_handlers(group_handlers, group=group)
    # Group chats end in group -1, after the duplicate guard: no private handler answers there.
    application.add_handlers(groups.handlers(), group=-1)
    application.add_handlers(start.handlers())
    application.add_handlers(groups.private_handlers())  # /bindgroup in private: a hint
    application.add_handlers(activities.handlers())  # /log, /mylogs, /pushed, quick log
    application.add_handlers(broadcast.handlers())  # /broadcast, its buttons, 已阅 receipts
    application.add_handlers(reminder_handlers.handlers())  # /remind and its delete buttons
    application.add_handlers(task_handlers.handlers())  # /newtask, /tasks, report form, board
    application.add_handlers(stats_handlers.handlers())  # /stats, /export and their buttons
    application.add_handlers(members.handlers())  # /members: people, their changes, invites
    # Replies acknowledging a notice (收到 → 已阅), and the typed 自定义 range, are caught in
    # group -1, before the form engine would parse them.
    application.add_handlers(broadcast.early_handlers(), group=-1)
    application.add_handlers(stats_handlers.early_handlers(), group=-1)
    application.add_handlers(ask.handlers())  # /ask, /docs, questions, documents from admins
    application.add_handlers(forms.handlers())
    application.add_handlers(unserved.fallback_handlers())
    application.add_error_handler(errors.on_error)


async def _post_init(application: Application) -> None:
    rt = runtime_of(application)
    if application.bot_data.get("stabot.migrate", True):
        await upgrade_to_head(rt.engine)
    await _set_default_commands(application)
    if rt.settings.knowledge.warmup:
        # Index the bundled corpus and load jieba now, off the first question's clock.
        # post_init runs before the application counts as running, so the task is ours to
        # keep and to cancel at shutdown.
        warmup = asyncio.get_running_loop().create_task(rt.policy.knowledge_base())
        application.bot_data[WARMUP_KEY] = warmup
    await delivery.start_service(application)  # broadcasts and reminders, on their own lane
    await scheduler.start_service(application)  # reminders: the jobs that hand them over
    await inbox_wiring.start(application)  # updates stored before a restart, in order


async def _set_default_commands(application: Application) -> None:
    menus = (
        (BotCommandScopeDefault(), commands_for(GUEST)),
        # Groups: everyone's menu, and the groups' own admins' with /bindgroup added.
        (BotCommandScopeAllGroupChats(), group_commands(GUEST)),
        (BotCommandScopeAllChatAdministrators(), group_commands(Role.ADMIN.value)),
    )
    for locale in SUPPORTED:
        # The default language (no code) gets zh_CN; English clients get their own list.
        language = None if locale == "zh_CN" else locale
        for scope, menu in menus:
            commands = [BotCommand(c.command, t(locale, c.description)) for c in menu]
            try:
                await application.bot.set_my_commands(
                    commands, scope=scope, language_code=language
                )
            except TelegramError as error:
                log.warning("set_my_commands (%s, %s) failed: %s", scope.type, locale, error)


async def _post_shutdown(application: Application) -> None:
    warmup = application.bot_data.pop(WARMUP_KEY, None)
    if warmup is not None and not warmup.done():
        warmup.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await warmup
    await runtime_of(application).group_counts.close()
    await scheduler.stop_service(application)
    await delivery.stop_service(application)
    await runtime_of(application).engine.dispose()
