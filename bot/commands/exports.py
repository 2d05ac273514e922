"""``stabot export activities|task|photos`` and ``stabot stats``: the admins' figures from the
shell.

Every command is scoped to an org's subtree (``--org``); only ``--all`` reads everything.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from datetime import date
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.commands.core import with_session
from bot.common.clock import SystemClock
from bot.common.i18n import SUPPORTED, t
from bot.config import Settings
from bot.services import exports, photo_export, stats, when
from bot.services.people import Scope
from bot.services.stats import Period, StatsError
from storage import orgs_repo
from storage.models import Org


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``stabot export …`` and ``stabot stats``."""
    export = subparsers.add_parser("export", help="Excel exports of activities and report tasks")
    kinds = export.add_subparsers(dest="export_command", required=True)
    activities = kinds.add_parser("activities", help="one row per activity and a totals sheet")
    _scope_arguments(activities)
    _period_arguments(activities)
    activities.add_argument("-o", "--output", required=True, type=Path, help="FILE.xlsx")
    _lang_argument(activities)
    activities.set_defaults(func=cmd_export_activities)
    task = kinds.add_parser(
        "task",
        help="a report task's submissions, one row per org",
        description="A report task's submissions. Without --org or --all: the target orgs "
        "in the issuing org's subtree.",
    )
    task.add_argument("task_id", type=int)
    where = task.add_mutually_exclusive_group()
    where.add_argument(
        "--org", type=int, help="only the target orgs in this subtree (default: the issuer's)"
    )
    where.add_argument("--all", action="store_true", help="every target org")
    task.add_argument("-o", "--output", required=True, type=Path, help="FILE.xlsx")
    _lang_argument(task)
    task.set_defaults(func=cmd_export_task)
    photos = kinds.add_parser(
        "photos",
        help="the activities' photos as one zip (downloaded through the Bot API: needs BOT_TOKEN)",
        description="The evidence photos of an org subtree's activities in a period, as one zip "
        "named date_type_title_n.jpg; photos Telegram cannot give back are listed in 缺失.txt.",
    )
    _scope_arguments(photos)
    _period_arguments(photos)
    photos.add_argument("-o", "--output", required=True, type=Path, help="FILE.zip")
    _lang_argument(photos)
    photos.set_defaults(func=cmd_export_photos)
    figures = subparsers.add_parser("stats", help="the figures of /stats for a subtree")
    _scope_arguments(figures)
    _period_arguments(figures)
    figures.add_argument("--json", action="store_true", help="one JSON object")
    figures.set_defaults(func=cmd_stats)


def _scope_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--org", type=int, help="the subtree of this org (see `stabot org list`)")
    where.add_argument("--all", action="store_true", help="every org")


def _lang_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lang",
        choices=SUPPORTED,
        help="language of the headers and labels (default: the DEFAULT_LOCALE setting, zh_CN)",
    )


def _locale(args: argparse.Namespace, settings: Settings) -> str:
    return args.lang or settings.default_locale


def _period_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", help="first day, YYYY-MM-DD (default: 1 January)")
    parser.add_argument("--to", dest="end", help="last day, YYYY-MM-DD (default: today)")


def _period(args: argparse.Namespace, settings: Settings) -> Period:
    # The one reader takes --from and --to as it takes a typed range (2026-01-01, 3月1日 …).
    today = when.today_in(SystemClock().now(), settings.tz)
    first = args.start or date(today.year, 1, 1).isoformat()
    try:
        return stats.typed_period(f"{first} 至 {args.end or today.isoformat()}", today)
    except when.WhenError as error:
        raise StatsError(error.key, **error.params) from None


async def _org(session: AsyncSession, args: argparse.Namespace) -> Org | None:
    if args.all:
        return None
    org = await orgs_repo.get_org(session=session, org_id=args.org)
    if org is None:
        raise StatsError("org.unknown", org_id=args.org)
    return org


def _fail(settings: Settings, error: StatsError) -> int:
    print(t(settings.default_locale, error.key, **error.params), file=sys.stderr)
    return 1


def cmd_export_activities(args: argparse.Namespace, settings: Settings) -> int:
    """Write the activities of a subtree and period to an .xlsx file."""

    async def work(session: AsyncSession) -> int:
        period = _period(args, settings)
        org = await _org(session, args)
        totals = await exports.write_activities(
            session,
            org=org,
            period=period,
            target=args.output,
            locale=_locale(args, settings),
            tz=settings.tz,
        )
        return totals.rows

    try:
        rows = with_session(settings, work, read_only=True)
    except StatsError as error:
        return _fail(settings, error)
    print(f"{rows}\t{args.output}")
    return 0


def cmd_export_task(args: argparse.Namespace, settings: Settings) -> int:
    """Write a report task's submissions to an .xlsx file (helper T's workbook)."""
    from bot.services import task_export
    from storage.task_models import ReportTask


    async def work(session: AsyncSession) -> bytes:
        task = await session.get(ReportTask, args.task_id)
        if task is None:
            raise StatsError("stats.unknown_task", task_id=args.task_id)
        scope = Scope(None) if args.all else Scope(await _task_scope(session, args, task))
        locale = _locale(args, settings)
        return await task_export.task_workbook(session, args.task_id, scope, settings.tz, locale)

    try:
        data = with_session(settings, work, read_only=True)
    except StatsError as error:
        return _fail(settings, error)
    args.output.write_bytes(data)
    print(args.output)
    return 0


def cmd_export_photos(args: argparse.Namespace, settings: Settings) -> int:
    """Download the photos of a subtree and period into one zip (no 50 MB split: a file)."""
    locale = _locale(args, settings)
    if settings.token is None:
        print(t(locale, "stats.photos_need_token"), file=sys.stderr)
        return 2

    async def work(session: AsyncSession) -> tuple[Period, list[photo_export.Photo]]:
        period = _period(args, settings)
        org = await _org(session, args)
        return period, await photo_export.list_photos(
            session, org=org, period=period, locale=locale
        )

    try:
        period, photos = with_session(settings, work, read_only=True)
    except StatsError as error:
        return _fail(settings, error)
    if not photos:
        empty = StatsError("stats.photos_empty", start=period.start, end=period.end)
        return _fail(settings, empty)
    written, missing = asyncio.run(_download_zip(settings, photos, args.output, locale))
    print(f"{written}\t{missing}\t{args.output}")
    return 0


async def _download_zip(
    settings: Settings, photos: list[photo_export.Photo], output: Path, locale: str
) -> tuple[int, int]:
    from telegram import Bot

    from bot.telegram.files import BotFiles

    bot = Bot(
        settings.token or "",
        base_url=settings.telegram_api_base_url,
        base_file_url=settings.telegram_file_base_url,
    )
    async with bot:
        with output.open("wb") as target:
            parts = photo_export.zip_parts(
                photos, BotFiles(bot), limit=None, open_part=lambda: target, locale=locale
            )
            [part] = [part async for part in parts]
    return part.photos, len(part.missing)


async def _task_scope(session: AsyncSession, args: argparse.Namespace, task: object) -> Org:
    org_id = args.org if args.org is not None else task.org_id  # type: ignore[attr-defined]
    org = await orgs_repo.get_org(session=session, org_id=org_id)
    if org is None:
        raise StatsError("org.unknown", org_id=org_id)
    return org


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    """Print the figures of /stats for a subtree and period (text, or JSON with --json)."""

    async def work(session: AsyncSession) -> stats.Stats:
        period = _period(args, settings)
        org = await _org(session, args)
        now = SystemClock().now()
        return await stats.compute(session, org=org, period=period, now=now, tz=settings.tz)

    try:
        figures = with_session(settings, work, read_only=True)
    except StatsError as error:
        return _fail(settings, error)
    if args.json:
        print(json.dumps(dataclasses.asdict(figures), ensure_ascii=False, default=str))
        return 0
    _print_stats(figures, settings.default_locale)
    return 0


def _print_stats(figures: stats.Stats, locale: str) -> None:
    period = figures.period
    print(f"{figures.org_name or '*'}\t{period.start}\t{period.end}")
    print(
        f"activities\t{figures.activities}\nparticipants\t{figures.participants}\n"
        f"pushes\t{figures.pushes}\nactive_orgs\t{figures.active_orgs}/{figures.orgs}"
    )
    for row in figures.by_type:
        unit = t(locale, f"activity.unit.{row.unit}", count=row.amount)
        print(f"type\t{t(locale, f'activity.type.{row.type}')}\t{row.amount} {unit}")
    for month, count in figures.by_month.items():
        print(f"month\t{month}\t{count}")
    for org in figures.top_orgs:
        print(f"org\t{org.name}\t{org.count}")
    if figures.tasks is not None:
        tasks = figures.tasks
        print(f"tasks\t{tasks.expected}\t{tasks.on_time}\t{tasks.late}\t{tasks.missing}")
