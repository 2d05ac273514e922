"""Activity sub-commands: list a user's logs, add a push count, print the statistical units."""

from __future__ import annotations

import argparse

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.commands.core import with_session
from bot.common.clock import SystemClock
from bot.common.i18n import t
from bot.config import Settings
from bot.services import activities as svc
from storage import users_repo


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stabot activity …``."""
    activity = subparsers.add_parser("activity", help="logged activities")
    actions = activity.add_subparsers(dest="activity_command", required=True)
    listing = actions.add_parser("list", help="a user's activities, newest first")
    listing.add_argument("--user", type=int, required=True, help="Telegram id")
    listing.add_argument("--page", type=int, default=1)
    listing.set_defaults(func=cmd_list)
    pushed = actions.add_parser("pushed", help="add N pushed science items to today's count")
    pushed.add_argument("--user", type=int, required=True, help="Telegram id")
    pushed.add_argument("count")
    pushed.set_defaults(func=cmd_pushed)
    actions.add_parser("units", help="each type's statistical unit").set_defaults(func=cmd_units)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    """Print one page of a user's activities as tab-separated rows."""
    page = with_session(settings, lambda s: svc.my_page(s, args.user, args.page - 1))
    locale = settings.default_locale
    for a in page.items:
        unit = t(locale, f"activity.unit.{a.unit}", count=a.amount)
        what = t(locale, f"activity.type.{a.type}")
        print(f"{a.id}\t{a.day}\t{what}\t{a.title}\t{a.participants or ''}\t{a.amount} {unit}")
    print(f"-- page {page.page + 1}/{page.pages}, {page.total} in all")
    return 0


def cmd_pushed(args: argparse.Namespace, settings: Settings) -> int:
    """Add to a user's push count for today, as /pushed does."""

    async def work(session: AsyncSession) -> svc.PushResult:
        user = await users_repo.get_user(session=session, telegram_id=args.user)
        if user is None:
            raise svc.ActivityError("activity.not_registered")
        count = svc.parse_count(args.count)
        now = SystemClock().now()
        return await svc.record_pushed(session, actor=user, count=count, now=now, tz=settings.tz)

    try:
        result = with_session(settings, work)
    except svc.ActivityError as error:
        print(t(settings.default_locale, error.key, **error.params))
        return 1
    print(f"{result.activity.day}\t{result.activity.amount}")  # today's total
    return 0


def cmd_units(args: argparse.Namespace, settings: Settings) -> int:
    """Print every activity type with its unit."""
    locale = settings.default_locale
    for kind in (*svc.TYPES, svc.PUSH):
        print(f"{kind.key}\t{t(locale, f'activity.type.{kind.key}')}\t{kind.unit}")
    return 0
