"""Core sub-commands: run, chat, migrate, org, invite, admin, demo-data."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.engine import make_url
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.common.clock import SystemClock
from bot.common.i18n import t
from bot.config import Settings
from bot.services import orgs, people
from storage import orgs_repo
from storage.db import (
    create_engine,
    is_sqlite,
    reading_factory,
    session_factory,
    transaction,
)
from storage.migrate import upgrade_to_head
from storage.models import Role

if TYPE_CHECKING:  # the run command imports the channels only when it runs
    from bot.channels import TelegramMode

T = TypeVar("T")
log = logging.getLogger(__name__)
EXIT_USAGE = 2
CHAT_FILES = "chat-files"  # under DATA_DIR: what the bot sends in `stabot chat`
CHAT_HISTORY = "chat-history"  # under DATA_DIR: each terminal user's messages between sessions


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the core sub-commands."""
    _register_run(subparsers)
    _register_chat(subparsers)
    subparsers.add_parser("migrate", help="upgrade the database schema").set_defaults(
        func=cmd_migrate
    )
    _register_org(subparsers)
    _register_invite(subparsers)
    _register_admin(subparsers)
    subparsers.add_parser("demo-data", help="a small demo org tree with invites").set_defaults(
        func=cmd_demo_data
    )


def _register_run(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run", help="run every configured channel: Telegram (polling or webhook), WeCom"
    )
    run.add_argument("--webhook-url", help="public HTTPS URL Telegram posts updates to")
    run.add_argument("--listen", default="127.0.0.1", help="address the webhook server binds")
    run.add_argument("--port", type=int, default=8443, help="port of the webhook server")
    run.set_defaults(func=cmd_run)


def _register_chat(subparsers: argparse._SubParsersAction) -> None:
    chat = subparsers.add_parser("chat", help="chat with the bot in the terminal, offline")
    chat.add_argument("--user", type=int, default=10001, help="your Telegram user id")
    chat.add_argument("--name", default="联络员", help="your Telegram first name")
    chat.add_argument("--lang", choices=["zh", "en"], default="zh", help="your app language")
    chat.add_argument(
        "--channel",
        choices=["telegram", "wecom"],
        default="telegram",
        help="chat as a Telegram user, or as a WeCom member (cards shown as boxes)",
    )
    chat.add_argument(
        "--wecom-user", default="zhangsan", help="your WeCom UserID (--channel wecom)"
    )
    chat.add_argument(
        "--files",
        type=Path,
        default=None,
        help="folder for the photos and documents the bot sends (default: DATA_DIR/chat-files)",
    )
    chat.set_defaults(func=cmd_chat)


def _register_org(subparsers: argparse._SubParsersAction) -> None:
    org = subparsers.add_parser("org", help="the organisation tree")
    actions = org.add_subparsers(dest="org_command", required=True)
    add = actions.add_parser("add", help="add one org")
    add.add_argument("name")
    add.add_argument(
        "--level",
        required=True,
        help="province|city|county|park|enterprise|"
        "university|society, or 省级/市级/县级/园区/企业/高校/学会",
    )
    add.add_argument("--parent", type=int, help="id of the parent org")
    add.set_defaults(func=cmd_org_add)
    actions.add_parser("list", help="print the tree").set_defaults(func=cmd_org_list)
    imp = actions.add_parser("import", help="import name,level,parent rows from a CSV file")
    imp.add_argument("file", type=Path)
    imp.set_defaults(func=cmd_org_import)


def _register_invite(subparsers: argparse._SubParsersAction) -> None:
    invite = subparsers.add_parser("invite", help="invite links")
    actions = invite.add_subparsers(dest="invite_command", required=True)
    create = actions.add_parser("create", help="create an invite link")
    create.add_argument("--org", type=int, required=True, help="org id")
    create.add_argument("--role", choices=[r.value for r in Role], required=True)
    create.add_argument("--uses", type=int, default=1, help="how many people may use it")
    create.add_argument("--expires", default="7d", help="validity: 7d, 12h, 30m")
    create.set_defaults(func=cmd_invite_create)


def _register_admin(subparsers: argparse._SubParsersAction) -> None:
    admin = subparsers.add_parser("admin", help="admins")
    actions = admin.add_subparsers(dest="admin_command", required=True)
    grant = actions.add_parser("grant", help="make a Telegram user admin of an org")
    grant.add_argument("telegram_id", type=int)
    grant.add_argument("--org", type=int, required=True)
    grant.set_defaults(func=cmd_admin_grant)


# --- helpers ---------------------------------------------------------------------------------


def with_session(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[T]], *, read_only: bool = False
) -> T:
    """Migrate, then run ``work`` in one committed transaction.

    ``read_only``: the work only reads (`storage.db.reading_factory`), so on SQLite a
    running bot goes on writing meanwhile.
    """

    async def main() -> T:
        engine = create_engine(settings.database_url)
        factory = reading_factory if read_only else session_factory
        try:
            await upgrade_to_head(engine)
            async with transaction(factory(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _fail(settings: Settings, key: str, params: dict) -> int:
    print(t(settings.default_locale, key, **params), file=sys.stderr)
    return 1


# --- commands --------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Run every configured channel: Telegram (BOT_TOKEN) and WeCom (WECOM_*)."""
    from bot import channels
    from bot.app import WECOM_HANDLER

    if settings.wecom.partly_set:
        log.warning("WECOM_* is set only in part: WeCom does not start")
    if settings.token is None and not settings.wecom.configured:
        print(t(settings.default_locale, "cli.no_token"), file=sys.stderr)
        return EXIT_USAGE
    if settings.wecom.configured and WECOM_HANDLER is None:
        print(t(settings.default_locale, "cli.wecom_unwired"), file=sys.stderr)
        return EXIT_USAGE
    with _single_sqlite_runner(settings) as refused:
        if refused:
            return _fail(settings, "cli.already_running", {"path": refused})
        channels.run(settings, _telegram_mode(args, settings), WECOM_HANDLER)
    return 0


def _telegram_mode(args: argparse.Namespace, settings: Settings) -> TelegramMode | None:
    """How Telegram runs: None without a token, else polling or the webhook."""
    from telegram import Update

    from bot.channels import TelegramMode
    from bot.telegram.inbox.webhook import WebhookOptions, derived_secret

    if settings.token is None:
        return None
    if not args.webhook_url:
        return TelegramMode()
    # Every worker must check the same secret: a configured one, or one derived from the
    # token that all of them share.
    secret = (
        settings.webhook_secret.get_secret_value()
        if settings.webhook_secret
        else derived_secret(settings.token)
    )
    options = WebhookOptions(args.listen, args.port, args.webhook_url, secret, Update.ALL_TYPES)
    return TelegramMode(options)


@contextlib.contextmanager
def _single_sqlite_runner(settings: Settings) -> Iterator[str | None]:
    """On SQLite, hold a lock file beside the database while the bot runs; yields the
    database path when another ``stabot run`` holds it (SQLite serves one process: its
    inbox is dispatched from memory). PostgreSQL takes any number of workers."""
    if not is_sqlite(settings.database_url):
        yield None
        return
    database = make_url(settings.database_url).database or ""
    if database in ("", ":memory:"):
        yield None
        return
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    with open(f"{database}.run-lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield database
            return
        yield None


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    """A terminal chat with the real Application over the offline Bot API."""
    from offline.chat import run_offline_chat

    if args.channel == "wecom":
        from offline.wecom_chat import run_wecom_chat

        asyncio.run(run_wecom_chat(settings, member=args.wecom_user))
        return 0
    language = "zh-hans" if args.lang == "zh" else "en"
    files = args.files or settings.data_dir / CHAT_FILES
    history = settings.data_dir / CHAT_HISTORY / f"{args.user}.json"
    asyncio.run(
        run_offline_chat(
            settings,
            user_id=args.user,
            name=args.name,
            language=language,
            files_dir=files,
            history=history,
        )
    )
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Upgrade the schema to the newest revision."""

    async def main() -> None:
        engine = create_engine(settings.database_url)
        await upgrade_to_head(engine)
        await engine.dispose()

    asyncio.run(main())
    print(t(settings.default_locale, "cli.migrated"))
    return 0


def cmd_org_add(args: argparse.Namespace, settings: Settings) -> int:
    """Add one org."""
    try:
        level = orgs.parse_level(args.level)
        org = with_session(
            settings,
            lambda s: orgs.add_org(
                s, name=args.name, level=level, parent_id=args.parent, now=SystemClock().now()
            ),
        )
    except orgs.OrgError as error:
        return _fail(settings, error.key, error.params)
    print(t(settings.default_locale, "cli.org_added", org_id=org.id, name=org.name))
    return 0


def cmd_org_list(args: argparse.Namespace, settings: Settings) -> int:
    """Print the tree, indented by depth."""
    rows = with_session(settings, lambda s: orgs_repo.list_orgs(session=s))
    for org in rows:
        depth = org.path.count("/") - 2
        print(f"{'  ' * depth}{org.id}\t{org.name}\t{org.level}")
    return 0


def cmd_org_import(args: argparse.Namespace, settings: Settings) -> int:
    """Import an org tree from CSV."""
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        return _fail(settings, "cli.cannot_read", {"path": args.file, "error": error})
    try:
        result = with_session(
            settings, lambda s: orgs.import_csv(s, text, now=SystemClock().now())
        )
    except orgs.OrgError as error:
        return _fail(settings, error.key, error.params)
    print(
        t(
            settings.default_locale,
            "cli.imported",
            created=result.created,
            existing=result.existing,
        )
    )
    return 0


def cmd_invite_create(args: argparse.Namespace, settings: Settings) -> int:
    """Create an invite and print its deep link."""
    try:
        ttl = people.parse_duration(args.expires)
        invite = with_session(
            settings,
            lambda s: people.create_invite(
                s,
                org_id=args.org,
                role=Role(args.role),
                now=SystemClock().now(),
                uses=args.uses,
                ttl=ttl,
            ),
        )
    except people.AccessError as error:
        return _fail(settings, error.key, error.params)
    print(people.invite_link(settings.bot_username, invite.code))
    print(
        t(
            settings.default_locale,
            "cli.invite_created",
            count=invite.max_uses,
            expires=invite.expires_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M"),
        ),
        file=sys.stderr,
    )
    return 0


def cmd_admin_grant(args: argparse.Namespace, settings: Settings) -> int:
    """Make a Telegram user an admin of an org."""
    try:
        with_session(
            settings,
            lambda s: people.grant_admin(
                s, telegram_id=args.telegram_id, org_id=args.org, now=SystemClock().now()
            ),
        )
    except people.AccessError as error:
        return _fail(settings, error.key, error.params)
    print(
        t(settings.default_locale, "cli.admin_granted", user_id=args.telegram_id, org_id=args.org)
    )
    return 0


def cmd_demo_data(args: argparse.Namespace, settings: Settings) -> int:
    """Create the demo tree and print one invite link per role."""
    for line in with_session(settings, lambda s: demo_invites(s, settings)):
        print(line)
    return 0


async def demo_invites(session: AsyncSession, settings: Settings) -> list[str]:
    """The demo tree plus a multi-use invite per role; returns printable lines."""
    now = SystemClock().now()
    tree = await orgs.create_demo_tree(session, now=now)
    picks = ((tree[3], Role.LIAISON), (tree[7], Role.INFO_OFFICER), (tree[1], Role.ADMIN))
    lines = [t(settings.default_locale, "cli.demo_tree", count=len(tree))]
    for org, role in picks:
        invite = await people.create_invite(
            session, org_id=org.id, role=role, now=now, uses=100, ttl=people.parse_duration("30d")
        )
        lines.append(
            t(
                settings.default_locale,
                "cli.demo_invite",
                org=org.name,
                role=t(settings.default_locale, f"role.{role.value}"),
                link=people.invite_link(settings.bot_username, invite.code),
                code=invite.code,
            )
        )
    return lines
