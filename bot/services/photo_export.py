"""Photo exports: the evidence photos of an org subtree's activities in a period, as zip files.

Activities keep only Telegram's file ids; the photos stay on Telegram's servers. An export
first asks where each photo is (getFile, which also tells its size), plans zip parts that each
fit in what a bot may send, then downloads part by part, a few photos at a time, so memory holds
a handful of photos and disk one part. A photo Telegram cannot give back is listed in a text
file in the last part (缺失.txt) instead of failing the export. Telegram itself is behind the
`Files` protocol: the bot's adapter (`bot.telegram.files`) or any other.
"""

from __future__ import annotations

import asyncio
import re
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any, Protocol

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.common.i18n import t
from bot.services.stats import Period, StatsError, alive_between, in_subtree
from storage.activity_models import Activity
from storage.models import Org

PHOTOS_MAX = 1000  # photos in one export; more is a request to narrow the period or the org
WINDOW = 8  # Bot API requests in flight at once
NAME_MAX = 40  # characters of a title (and of an org) in a file name
UNKNOWN_SIZE = 5 * 1024 * 1024  # a photo whose size Telegram did not say (it always does)
# Per entry, a stored zip holds a local header (30 bytes) and a central directory record (46)
# besides the name twice; the end record and 缺失.txt fit in the reserve.
ENTRY_OVERHEAD = 30 + 46
PART_RESERVE = 256 * 1024
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f\s]+')  # and spaces: one "-" for a run


class FileUnavailable(Exception):
    """Telegram could not give a file back (unknown id, too big, network); the reason why."""


@dataclass(frozen=True)
class Located:
    """Where a file is (a handle for `Files.download`) and its size, if Telegram said."""

    size: int | None
    handle: Any


class Files(Protocol):
    """Telegram's files: locate (getFile) and download; both raise `FileUnavailable`."""

    async def locate(self, file_id: str) -> Located:
        """Where the file is and how big."""
        ...

    async def download(self, located: Located) -> bytes:
        """The file's bytes."""
        ...


@dataclass(frozen=True)
class Photo:
    """One photo to export: its name in the zip, its file id, and what it belongs to."""

    name: str
    file_id: str
    day: date
    source: str  # the activity, for 缺失.txt


@dataclass
class Part:
    """A finished zip part: ``index`` of ``count`` (from 1), the photos in it and, in the last
    part only, every photo that could not be exported with the reason."""

    index: int
    count: int
    target: IO[bytes]
    photos: int
    missing: list[tuple[Photo, str]] = field(default_factory=list)


# --- what to export --------------------------------------------------------------------------


def _has_photos() -> Any:
    # json_array_length exists in SQLite and PostgreSQL alike.
    return func.json_array_length(Activity.photos) > 0


async def count_photos(session: AsyncSession, *, org: Org | None, period: Period) -> int:
    """How many photos the subtree's activities of the period hold."""
    query = select(func.coalesce(func.sum(func.json_array_length(Activity.photos)), 0)).where(
        *alive_between(period), *in_subtree(org), _has_photos()
    )
    return int((await session.exec(query)).one())


async def list_photos(
    session: AsyncSession, *, org: Org | None, period: Period, locale: str
) -> list[Photo]:
    """Every photo of the subtree's activities in the period, named ``date_type_title_n.jpg``.

    Refuses (`StatsError`) more than `PHOTOS_MAX`; names are unique ignoring case.
    """
    total = await count_photos(session, org=org, period=period)
    if total > PHOTOS_MAX:
        raise StatsError("stats.photos_too_many", count=total, limit=PHOTOS_MAX)
    query = (
        select(Activity.id, Activity.day, Activity.type, Activity.title, col(Activity.photos))
        .where(*alive_between(period), *in_subtree(org), _has_photos())
        .order_by(col(Activity.day), col(Activity.id))
    )
    names = _Names()
    photos = []
    for activity_id, day, kind, title, file_ids in await session.exec(query):
        type_name = t(locale, f"activity.type.{kind}")
        stem = "_".join((day.isoformat(), safe_name(type_name), safe_name(title) or "-"))
        for number, file_id in enumerate(file_ids, 1):
            source = t(
                locale,
                "stats.photos_source",
                day=day.isoformat(),
                type=type_name,
                title=title,
                number=number,
                id=activity_id,
            )
            photos.append(Photo(names.next(stem), file_id, day, source))
    return photos


def safe_name(text: str, limit: int = NAME_MAX) -> str:
    """A part of a file name: no path or reserved characters, no spaces, at most ``limit``."""
    return _UNSAFE.sub("-", text).strip("-.")[:limit].strip("-.")


class _Names:
    """``stem_1.jpg``, ``stem_2.jpg`` …: the number goes on across records of the same stem
    (two records of one day, type and title), so no name repeats, even ignoring case."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def next(self, stem: str) -> str:
        key = stem.casefold()
        self._last[key] = self._last.get(key, 0) + 1
        return f"{stem}_{self._last[key]}.jpg"


def zip_name(org: Org | None, period: Period, locale: str, part: int = 1, parts: int = 1) -> str:
    """照片_<org>_<first>-<last>.zip, with the part when the export is split."""
    who = safe_name(org.name if org is not None else t(locale, "stats.everything"))
    suffix = t(locale, "stats.photos_file_part", part=part, parts=parts) if parts > 1 else ""
    days = f"{period.start:%Y%m%d}-{period.end:%Y%m%d}"
    return f"{t(locale, 'stats.photos_file_prefix')}_{who}_{days}{suffix}.zip"


# --- the zip parts ---------------------------------------------------------------------------


Progress = Callable[[int, int], Awaitable[None]]


async def zip_parts(
    photos: Sequence[Photo],
    files: Files,
    *,
    limit: int | None,
    open_part: Callable[[], IO[bytes]],
    locale: str,
    progress: Progress | None = None,
) -> AsyncIterator[Part]:
    """The photos as zip parts of at most ``limit`` bytes each (None: one part), in order.

    Each part is yielded when it is complete (its target rewound by the caller), so only one
    is on disk at a time. ``progress(done, total)`` follows the downloads.
    """
    located, missing = await _locate_all(photos, files)
    plan = plan_parts(located, limit)
    done = len(missing)  # those Telegram did not even locate count as done
    for index, group in enumerate(plan, 1):
        target = open_part()
        written = 0
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
            for start in range(0, len(group), WINDOW):
                window = group[start : start + WINDOW]
                results = await asyncio.gather(*(_download(files, loc) for _, loc in window))
                for (photo, _), data in zip(window, results, strict=True):
                    if isinstance(data, FileUnavailable):
                        missing.append((photo, str(data)))
                        continue
                    archive.writestr(_entry(photo.name, photo.day), data)
                    written += 1
                done += len(window)
                if progress is not None:
                    await progress(done, len(photos))
            last = index == len(plan)
            if last and missing:
                archive.writestr(_entry(_missing_name(locale)), _missing_text(missing, locale))
        yield Part(index, len(plan), target, written, missing if last else [])


async def _locate_all(
    photos: Sequence[Photo], files: Files
) -> tuple[list[tuple[Photo, Located]], list[tuple[Photo, str]]]:
    located: list[tuple[Photo, Located]] = []
    missing: list[tuple[Photo, str]] = []
    for start in range(0, len(photos), WINDOW):
        window = photos[start : start + WINDOW]
        results = await asyncio.gather(*(_locate(files, photo.file_id) for photo in window))
        for photo, result in zip(window, results, strict=True):
            if isinstance(result, FileUnavailable):
                missing.append((photo, str(result)))
            else:
                located.append((photo, result))
    return located, missing


async def _locate(files: Files, file_id: str) -> Located | FileUnavailable:
    try:
        return await files.locate(file_id)
    except FileUnavailable as error:
        return error


async def _download(files: Files, located: Located) -> bytes | FileUnavailable:
    try:
        return await files.download(located)
    except FileUnavailable as error:
        return error


def plan_parts(
    located: Sequence[tuple[Photo, Located]], limit: int | None
) -> list[list[tuple[Photo, Located]]]:
    """Photos in order, cut into parts whose zip stays under ``limit`` bytes; at least one."""
    parts: list[list[tuple[Photo, Located]]] = [[]]
    used = PART_RESERVE
    for photo, where in located:
        cost = (where.size or UNKNOWN_SIZE) + ENTRY_OVERHEAD + 2 * len(photo.name.encode())
        if limit is not None and parts[-1] and used + cost > limit:
            parts.append([])
            used = PART_RESERVE
        parts[-1].append((photo, where))
        used += cost
    return parts


def _entry(name: str, day: date | None = None) -> zipfile.ZipInfo:
    # The activity's day as the file's date; zip stores local time without a zone anyway.
    stamp = (day.year, day.month, day.day, 0, 0, 0) if day else (1980, 1, 1, 0, 0, 0)
    return zipfile.ZipInfo(name, date_time=stamp)


def _missing_name(locale: str) -> str:
    return t(locale, "stats.photos_missing_file")


def _missing_text(missing: list[tuple[Photo, str]], locale: str) -> str:
    lines = [t(locale, "stats.photos_missing_head", count=len(missing))]
    lines += [
        t(locale, "stats.photos_missing_line", name=photo.name, source=photo.source, reason=why)
        for photo, why in missing
    ]
    # A BOM and CRLF: Notepad on the admins' Windows PCs (GBK by default) reads it right then.
    return "\ufeff" + "\r\n".join(lines) + "\r\n"
