"""The files of /export, written after the picker's transaction: the activities' .xlsx, or
their evidence photos as zip files (split to stay under what Telegram takes from a bot).

Each reads in its own read-only transaction, which checks the admin's scope again: the admin
may have lost it, or the org gone, since the press; everything (org None) only for a
superadmin (`stats.export_org`).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import IO

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Bot, InputFile, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.common.i18n import t
from bot.flows import stats as flow
from bot.runtime import StabotContext
from bot.services import people, photo_export, stats
from bot.services.stats import StatsError
from bot.telegram.files import BotFiles
from storage.db import reading_factory, transaction
from storage.models import Org

log = logging.getLogger(__name__)
DOCUMENT_LIMIT = 50 * 1024 * 1024  # what Telegram accepts from a bot
SPOOL = 8 * 1024 * 1024  # bigger files go to a temporary file instead of memory
UPLOAD = 120  # seconds to upload a file of up to 50 MB (PTB's default is 20)
PROGRESS_EVERY = 20  # photos between two edits of the download progress message


async def send(update: Update, context: StabotContext, job: flow.ExportJob, locale: str) -> None:
    """The file(s) of an export job."""
    if job.kind == flow.ZIP:
        await _send_photos(update, context, job, locale)
    else:
        await _send_workbook(update, context, job, locale)


@contextlib.asynccontextmanager
async def _export_scope(
    update: Update, context: StabotContext, job: flow.ExportJob
) -> AsyncIterator[tuple[AsyncSession, Org | None]]:
    """A read-only transaction and the org the admin may still export (`stats.export_org_of`
    reads the scope again: it may be gone since the press)."""
    rt, telegram_id = context.rt, update.effective_user.id
    async with transaction(reading_factory(rt.engine)) as session:
        key = await people.person_key(session, telegram_id)
        superadmin = rt.is_superadmin(telegram_id) or rt.is_superadmin(key)
        yield session, await stats.export_org_of(session, key, superadmin, job.org_id)


def _spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL)  # the caller closes it


# --- the workbook ----------------------------------------------------------------------------


async def _send_workbook(
    update: Update, context: StabotContext, job: flow.ExportJob, locale: str
) -> None:
    chat_id = update.effective_chat.id
    await context.bot.send_chat_action(chat_id, ChatAction.UPLOAD_DOCUMENT)
    period = {"start": job.period.start, "end": job.period.end}
    with _spool() as target:
        try:
            rows = await _write_workbook(update, context, job, locale, target)
        except StatsError as refusal:
            await context.bot.send_message(chat_id, t(locale, refusal.key, **refusal.params))
            return
        if rows == 0:
            await context.bot.send_message(chat_id, t(locale, "stats.export_empty", **period))
            return
        if target.tell() > DOCUMENT_LIMIT:
            await context.bot.send_message(chat_id, t(locale, "stats.export_too_big", **period))
            return
        target.seek(0)
        name = f"activities_{job.period.start:%Y%m%d}-{job.period.end:%Y%m%d}.xlsx"
        document = InputFile(target.read(), filename=name)  # PTB reads the upload whole anyway
    caption = t(locale, "stats.export_caption", count=rows, **period)
    await context.bot.send_document(chat_id, document, caption=caption, write_timeout=UPLOAD)


async def _write_workbook(
    update: Update,
    context: StabotContext,
    job: flow.ExportJob,
    locale: str,
    target: IO[bytes],
) -> int:
    """Write the workbook in its own read-only transaction; the number of activity rows."""
    async with _export_scope(update, context, job) as (session, org):
        return await flow.write_workbook(session, org, job, target, locale, context.rt.settings.tz)


# --- the photos ------------------------------------------------------------------------------


async def _send_photos(
    update: Update, context: StabotContext, job: flow.ExportJob, locale: str
) -> None:
    bot, chat_id = context.bot, update.effective_chat.id
    try:
        org, photos = await _scoped_photos(update, context, job, locale)
    except StatsError as refusal:
        await bot.send_message(chat_id, t(locale, refusal.key, **refusal.params))
        return
    if not photos:
        period = {"start": job.period.start, "end": job.period.end}
        await bot.send_message(chat_id, t(locale, "stats.photos_empty", **period))
        return
    progress = await _progress(bot, chat_id, locale, len(photos))
    parts = photo_export.zip_parts(
        photos,
        BotFiles(bot),
        limit=DOCUMENT_LIMIT,
        open_part=_spool,
        locale=locale,
        progress=progress,
    )
    async with contextlib.aclosing(parts):
        async for part in parts:
            with part.target:
                await _send_part(bot, chat_id, part, org, job, locale)


async def _scoped_photos(
    update: Update, context: StabotContext, job: flow.ExportJob, locale: str
) -> tuple[Org | None, list[photo_export.Photo]]:
    """The photos to export, read in one read-only transaction that checks the scope again.

    Only Telegram's file ids are read here; the downloads happen after the transaction.
    """
    async with _export_scope(update, context, job) as (session, org):
        return org, await photo_export.list_photos(
            session, org=org, period=job.period, locale=locale
        )


async def _progress(
    bot: Bot, chat_id: int, locale: str, total: int
) -> Callable[[int, int], Awaitable[None]] | None:
    """For more than a few photos, a message that counts the downloads."""
    if total <= PROGRESS_EVERY:
        return None
    started = t(locale, "stats.photos_progress", done=0, total=total)
    message = await bot.send_message(chat_id, started)
    shown = [0]

    async def update(done: int, of: int) -> None:
        if done - shown[0] < PROGRESS_EVERY and done < of:
            return
        shown[0] = done
        text = t(locale, "stats.photos_progress", done=done, total=of)
        try:
            await bot.edit_message_text(text, chat_id, message.message_id)
        except TelegramError as error:  # progress is a courtesy; never fail the export for it
            log.info("photo export progress not shown: %s", error)

    return update


async def _send_part(
    bot: Bot,
    chat_id: int,
    part: photo_export.Part,
    org: Org | None,
    job: flow.ExportJob,
    locale: str,
) -> None:
    period = job.period
    where = org.name if org is not None else t(locale, "stats.everything")
    lines = [
        t(
            locale,
            "stats.photos_caption",
            photos=part.photos,
            org=where,
            start=period.start,
            end=period.end,
        )
    ]
    if part.count > 1:
        lines.append(t(locale, "stats.photos_part", part=part.index, parts=part.count))
    if part.missing:
        missing_file = t(locale, "stats.photos_missing_file")
        lines.append(t(locale, "stats.photos_missing", count=len(part.missing), file=missing_file))
    part.target.seek(0)
    name = photo_export.zip_name(org, period, locale, part.index, part.count)
    document = InputFile(part.target.read(), filename=name)
    await bot.send_chat_action(chat_id, ChatAction.UPLOAD_DOCUMENT)
    await bot.send_document(chat_id, document, caption="\n".join(lines), write_timeout=UPLOAD)
