"""What a reply needs after its transaction, as WeCom messages: its albums (files Telegram
holds fetched through the Bot API first), /stats' charts as images and /export's .xlsx as a
file (Telegram's adapter does the same in bot/telegram/handlers/stats.py and exports.py).
Slow parts (downloads, drawing, writing) run here, after the event's commit, so no
transaction waits on them."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo

from bot.common.i18n import t
from bot.flows import stats
from bot.flows.base import Album, Media, Reply
from bot.services.charts import Chart
from bot.services.media_store import MediaStore, is_stored
from bot.services.photo_export import Files, FileUnavailable
from bot.services.stats import StatsError, export_org_of
from bot.wecom.client import MediaType, Message, Text, Upload
from bot.wecom.render import FILE_MAX_BYTES, render
from storage.db import SessionFactory, transaction

log = logging.getLogger(__name__)
TELEGRAM = "telegram"  # the key of Telegram's `Files` in the runtime's file sources
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


async def albums(
    locale: str,
    shown: list[Album],
    media: MediaStore | None,
    sources: Mapping[str, Files],
) -> list[Message]:
    """The albums of a reply: made and kept files uploaded; a file Telegram holds (a photo a
    member sent there) downloaded through the Bot API's getFile first, when Telegram runs in
    this process; what cannot be had is counted in the album's note."""
    if not shown:
        return []
    telegram = sources.get(TELEGRAM)
    fetched = [
        Album(tuple([await _fetched(item, telegram) for item in album.items]), album.caption)
        for album in shown
    ]
    return render(locale, Reply([], albums=fetched), media=media).messages


async def _fetched(item: Media, telegram: Files | None) -> Media:
    if telegram is None or item.data is not None or is_stored(item.file_id):
        return item
    try:
        located = await telegram.locate(item.file_id)
        if located.size is not None and located.size > FILE_MAX_BYTES:
            return item
        data = await telegram.download(located)
    except FileUnavailable as error:
        log.info("a Telegram file for WeCom is unavailable: %s", error)
        return item
    # Telegram's photos are JPEG; a document keeps the name of its path on Telegram's server.
    path = getattr(located.handle, "file_path", "") or ""
    name = "photo.jpg" if item.kind == "photo" else (PurePosixPath(path).name or "file")
    return Media.made(item.kind, data, name)


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
                rows = await stats.write_workbook(session, org, job, target, locale, tz)
        except StatsError as refusal:
            return [Text(t(locale, refusal.key, **refusal.params))]
        if rows == 0:
            return [Text(t(locale, "stats.export_empty", **period))]
        if target.tell() > FILE_MAX_BYTES:
            return [Text(t(locale, "wecom.export_too_big", **period))]
        target.seek(0)
        data = target.read()
    name = f"activities_{job.period.start:%Y%m%d}-{job.period.end:%Y%m%d}.xlsx"
    caption = t(locale, "stats.export_caption", count=rows, **period)
    return [Text(caption), Upload(MediaType.FILE, data, name)]
