"""What a route's outcome makes after its transaction, as WeCom messages: /stats' charts as
images and /export's .xlsx as a file (Telegram's adapter does the same in
bot/telegram/handlers/stats.py and exports.py). Slow parts (drawing, writing) run here, after
the event's commit, so no transaction waits on them."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from bot.common.i18n import t
from bot.flows import stats
from bot.flows.base import Album, Media, Reply
from bot.services import exports
from bot.services.charts import Chart
from bot.services.stats import StatsError, export_org_of
from bot.wecom.client import MediaType, Message, Text, Upload
from bot.wecom.render import FILE_MAX_BYTES, render
from storage.db import SessionFactory, transaction

SPOOL = 8 * 1024 * 1024  # a bigger workbook goes to a temporary file while written


@dataclass
class Made:
    """An outcome's files to make for one member, after the commit."""

    locale: str
    person: int  # the person's key, for the export's scope read again
    superadmin: bool
    charts: list[Chart] = field(default_factory=list)
    export: stats.ExportJob | None = None


def made_of(result: Any, locale: str, person: int, superadmin: bool) -> Made | None:
    """What of a route's result is made after the commit (None: nothing)."""
    if not isinstance(result, stats.Outcome) or not (result.charts or result.export):
        return None
    return Made(locale, person, superadmin, list(result.charts), result.export)


async def messages(made: Made | None, sessions: SessionFactory, tz: ZoneInfo) -> list[Message]:
    """The charts, then the export, as WeCom messages."""
    if made is None:
        return []
    out = await _charts(made)
    if made.export is not None:
        out += await _export(made, made.export, sessions, tz)
    return out


async def _charts(made: Made) -> list[Message]:
    if not made.charts:
        return []

    def draw() -> list[Media]:
        return [
            Media.made("photo", stats.draw_chart(chart, made.locale), f"chart-{n}.png")
            for n, chart in enumerate(made.charts, 1)
        ]

    drawn = await asyncio.to_thread(draw)
    return render(made.locale, Reply([], albums=[Album(tuple(drawn))])).messages


async def _export(
    made: Made, job: stats.ExportJob, sessions: SessionFactory, tz: ZoneInfo
) -> list[Message]:
    """The .xlsx of the activities; a zip of photos is Telegram's alone (see the README)."""
    locale, period = made.locale, {"start": job.period.start, "end": job.period.end}
    if job.kind != stats.WORKBOOK:
        return [Text(t(locale, "wecom.export_photos"))]
    with tempfile.SpooledTemporaryFile(max_size=SPOOL) as target:
        try:
            async with transaction(sessions) as session:  # the scope read again: it may be gone
                org = await export_org_of(session, made.person, made.superadmin, job.org_id)
                totals = await exports.write_activities(
                    session,
                    org=org,
                    period=job.period,
                    target=target,
                    locale=locale,
                    tz=tz,
                    offload=exports.offload_to_thread,
                )
        except StatsError as refusal:
            return [Text(t(locale, refusal.key, **refusal.params))]
        if totals.rows == 0:
            return [Text(t(locale, "stats.export_empty", **period))]
        if target.tell() > FILE_MAX_BYTES:
            return [Text(t(locale, "wecom.export_too_big", **period))]
        target.seek(0)
        data = target.read()
    name = f"activities_{job.period.start:%Y%m%d}-{job.period.end:%Y%m%d}.xlsx"
    caption = t(locale, "stats.export_caption", count=totals.rows, **period)
    return [Text(caption), Upload(MediaType.FILE, data, name)]
