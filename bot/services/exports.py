"""Excel exports of activities: one row per activity and a totals sheet, streamed.

Rows come from the database in partitions (``yield_per``) and go straight into the zip of a
streaming workbook (`bot.services.xlsx_stream`), so memory stays flat however many activities a
subtree logged; the totals are summed on the way. Headers and labels are rendered in the
caller's language (Chinese by default).
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Text, cast, func
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.common.i18n import t
from bot.services.activities import PUSH_TYPE, unit_of
from bot.services.orgs import PATH_SEPARATOR
from bot.services.stats import Period, alive_between, in_subtree
from bot.services.xlsx_stream import (
    CellCache,
    Sheet,
    Target,
    Workbook,
    date_cell,
    date_serial,
    number_cells,
    text_cells,
    time_cells,
)
from storage.activity_models import Activity
from storage.models import Org, User
from storage.sql_functions import unix_seconds

CHUNK = 2000
COLUMNS = (
    "id", "type", "type_other", "title", "day", "place", "org", "org_path", "participants",
    "audience", "unit", "amount", "summary", "photos", "created_by", "created_at", "updated_by",
    "updated_at",
)  # fmt: skip
DETAIL_FIELDS = (
    "id", "type", "type_other", "title", "day", "place", "org_id", "participants", "audience",
    "unit", "amount", "summary", "created_by", "created_at", "updated_by", "updated_at",
)  # fmt: skip
TYPE_COLUMNS = ("type", "unit", "records", "amount", "participants")
ORG_COLUMNS = ("org", "org_path", "records", "participants", "pushes")
# Column widths in characters, in COLUMNS order; the free texts get the most room.
WIDTHS = (8, 14, 12, 28, 11, 16, 18, 40, 9, 18, 6, 6, 40, 7, 10, 16, 10, 16)
TOTAL_WIDTHS = (22, 40, 10, 10, 12)


class Chunk(NamedTuple):
    """A chunk of `_detail_query` rows, column by column."""

    id: tuple[int, ...]
    type: tuple[str, ...]
    type_other: tuple[str | None, ...]
    title: tuple[str, ...]
    day: tuple[date, ...]
    place: tuple[str | None, ...]
    org_id: tuple[int, ...]
    participants: tuple[int | None, ...]
    audience: tuple[str, ...]  # JSON text
    unit: tuple[str, ...]
    amount: tuple[int, ...]
    summary: tuple[str | None, ...]
    photos: tuple[int | None, ...]
    person: tuple[str, ...]  # the registrant's name, or their Telegram id
    created_at: tuple[int, ...]  # UTC seconds
    editor: tuple[str | None, ...]  # who last edited it: their name, or their Telegram id
    updated_at: tuple[int | None, ...]


@dataclass
class Totals:
    """What the totals sheet sums while the rows stream past."""

    rows: int = 0
    by_type: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    by_org: dict[int, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))

    def add(self, chunk: Chunk) -> None:
        """Count a chunk of activities."""
        self.rows += len(chunk.id)
        by_type, by_org = self.by_type, self.by_org
        for kind, org_id, amount, participants in zip(
            chunk.type, chunk.org_id, chunk.amount, chunk.participants, strict=True
        ):
            per_type = by_type[kind]
            per_type[0] += 1
            per_type[1] += amount or 0
            per_type[2] += participants or 0
            per_org = by_org[org_id]
            if kind == PUSH_TYPE:
                per_org[2] += amount or 0
            else:
                per_org[0] += 1
                per_org[1] += participants or 0


class OrgNames:
    """Names and ``root › … › org`` paths of a subtree's orgs, loaded once per export."""

    def __init__(self, rows: Sequence[tuple[int, str, str]]) -> None:
        self._name = {org_id: name for org_id, name, _ in rows}
        self._ids = {org_id: path for org_id, _, path in rows}
        self._paths: dict[int, str] = {}

    def name(self, org_id: int) -> str:
        """The org's name."""
        return self._name.get(org_id, str(org_id))

    def path(self, org_id: int) -> str:
        """The org's place in the tree, as people read it."""
        if org_id not in self._paths:
            chain = [int(p) for p in self._ids.get(org_id, "").strip("/").split("/") if p]
            self._paths[org_id] = PATH_SEPARATOR.join(self.name(i) for i in chain or [org_id])
        return self._paths[org_id]


async def org_names(session: AsyncSession, org: Org | None) -> OrgNames:
    """The orgs of the subtree and the ancestors above it (for full paths)."""
    query = select(Org.id, Org.name, Org.path)
    if org is not None:
        above = [int(p) for p in org.path.strip("/").split("/") if p]
        query = query.where(col(Org.path).startswith(org.path) | col(Org.id).in_(above))
    return OrgNames([(int(i), n, p) for i, n, p in await session.exec(query)])


def _detail_query() -> Any:
    # Columns in COLUMNS order. The database does what it does faster than Python per row:
    # the audience as its JSON text (decoded once per distinct list), the number of photos
    # (json_array_length exists in SQLite and PostgreSQL alike) instead of decoding every list
    # of file ids, the registrant's and the last editor's name or id, and times as whole UTC
    # seconds.
    editor = aliased(User)
    fields: list[Any] = [getattr(Activity, name) for name in DETAIL_FIELDS]
    replaced = {
        "audience": cast(Activity.audience, Text),
        "created_by": func.coalesce(User.real_name, cast(Activity.created_by, Text)),
        "created_at": unix_seconds(Activity.created_at),
        "updated_by": func.coalesce(editor.real_name, cast(Activity.updated_by, Text)),
        "updated_at": unix_seconds(Activity.updated_at),
    }
    for name, expression in replaced.items():
        fields[DETAIL_FIELDS.index(name)] = expression
    photos = func.json_array_length(Activity.photos)
    fields.insert(DETAIL_FIELDS.index("created_by"), photos)
    return (
        select(*fields)
        .outerjoin(User, col(User.telegram_id) == col(Activity.created_by))
        .outerjoin(editor, col(editor.telegram_id) == col(Activity.updated_by))
        .order_by(col(Activity.day), col(Activity.id))
    )


class LocalSerials:
    """Stored UTC seconds as the Excel day number of local wall time (Excel knows no zones).

    The zone's offset is looked up once per quarter hour of UTC: every zone in use changes its
    offset only on a quarter hour.
    """

    QUARTER = 900
    UNIX_EPOCH = 25569  # 1970-01-01 as an Excel day number

    def __init__(self, tz: ZoneInfo) -> None:
        self._tz = tz
        self._offsets: dict[int, int] = {}

    def serial(self, seconds: int | None) -> float | None:
        """The local day number with its fraction, or None."""
        if seconds is None:
            return None
        quarter = seconds // self.QUARTER
        offset = self._offsets.get(quarter)
        if offset is None:
            moment = datetime.fromtimestamp(quarter * self.QUARTER, UTC).astimezone(self._tz)
            offset = self._offsets[quarter] = int(moment.utcoffset().total_seconds())  # type: ignore[union-attr]
        return (seconds + offset) / 86400 + self.UNIX_EPOCH


class ActivityColumns:
    """Turns chunks of database rows into the sheet's cell columns, in one language and zone.

    Columns that repeat a few values (types, units, orgs, days, audiences, people) render
    each distinct value once (`CellCache`), their texts from the workbook's shared strings.
    """

    def __init__(self, book: Workbook, locale: str, tz: ZoneInfo, names: OrgNames) -> None:
        self.locale, self.names = locale, names
        separator = t(locale, "form.list_separator")
        self._labels: dict[str, str] = {}
        shared = book.shared_cell
        self._type = CellCache(lambda key: shared(self.label(f"activity.type.{key}")))
        self._unit = CellCache(lambda key: shared(self.label(f"activity.unit.{key}")))
        self._org = CellCache(lambda org_id: shared(names.name(org_id)))
        self._path = CellCache(lambda org_id: shared(names.path(org_id)))
        self._day = CellCache(lambda day: date_cell(date_serial(day)))
        self._number = CellCache(lambda n: number_cells([n])[0])
        self._person = CellCache(shared)
        self._audience = CellCache(
            lambda raw: shared(
                separator.join(self.label(f"activity.audience.{a}") for a in json.loads(raw))
            )
        )
        self._local = LocalSerials(tz).serial

    def label(self, key: str) -> str:
        """A translated label, cached (the same few types repeat on every row)."""
        if key not in self._labels:
            self._labels[key] = t(self.locale, key)
        return self._labels[key]

    def cells(self, c: Chunk) -> list[list[bytes]]:
        """The sheet's cell columns for one chunk, in COLUMNS order."""
        local, number = self._local, self._number.cells
        return [
            number_cells(c.id), self._type.cells(c.type), text_cells(c.type_other),
            text_cells(c.title), self._day.cells(c.day), text_cells(c.place),
            self._org.cells(c.org_id), self._path.cells(c.org_id), number(c.participants),
            self._audience.cells(c.audience), self._unit.cells(c.unit), number(c.amount),
            text_cells(c.summary), number([n or 0 for n in c.photos]),
            self._person.cells(c.person), time_cells([local(s) for s in c.created_at]),
            self._person.cells(c.editor), time_cells([local(s) for s in c.updated_at]),
        ]  # fmt: skip


async def write_activities(
    session: AsyncSession,
    *,
    org: Org | None,
    period: Period,
    target: Target,
    locale: str,
    tz: ZoneInfo,
    offload: Callable[..., Awaitable[Any]] | None = None,
) -> Totals:
    """Write the activities of ``org``'s subtree (None: all) in ``period`` as .xlsx to ``target``.

    ``offload``: how to run the CPU-bound writing (``offload_to_thread`` in the bot, so other
    chats are served meanwhile); by default it runs inline. The session should come from
    `storage.db.reading_factory`: on SQLite the export then reads one snapshot without
    holding up the bot's writes.
    """
    run = offload or _inline
    names = await org_names(session, org)
    workbook = await run(Workbook, target)
    shaper = ActivityColumns(workbook, locale, tz, names)
    try:
        totals = await _fill(session, workbook, shaper, org, period, run)
    except BaseException:
        workbook.abort()
        raise
    await run(workbook.close)
    return totals


async def _fill(
    session: AsyncSession,
    workbook: Workbook,
    shaper: ActivityColumns,
    org: Org | None,
    period: Period,
    run: Callable[..., Awaitable[Any]],
) -> Totals:
    locale = shaper.locale
    detail = workbook.sheet(t(locale, "export.sheet.activities"), WIDTHS)
    detail.header([t(locale, f"export.col.{name}") for name in COLUMNS])
    totals = Totals()
    # The next chunk is read while the last one is written (in the bot, on a worker thread):
    # SQLite's search and zlib's compression run without the GIL, so the two overlap.
    writing: asyncio.Future[Any] | None = None
    try:
        async for part in _parts(session, org, period):
            if writing is not None:
                await writing
            writing = asyncio.ensure_future(run(_write_chunk, detail, shaper, totals, part))
            await asyncio.sleep(0)  # let it start: reading the next chunk may never yield
        if writing is not None:
            await writing
    finally:
        if writing is not None and not writing.done():  # a failed read: let the write end
            await asyncio.wait([writing])
    summary = workbook.sheet(t(locale, "export.sheet.totals"), TOTAL_WIDTHS)
    await run(_write_totals, summary, totals, shaper, org, period)
    return totals


def _write_chunk(
    sheet: Sheet, shaper: ActivityColumns, totals: Totals, rows: Sequence[Any]
) -> None:
    chunk = Chunk(*zip(*rows, strict=True))
    totals.add(chunk)
    sheet.columns(shaper.cells(chunk))


async def _parts(
    session: AsyncSession, org: Org | None, period: Period
) -> AsyncIterator[Sequence[Any]]:
    """The rows in the sheet's order, a chunk at a time, from one streamed query (a
    server-side cursor on PostgreSQL). Core rows (the session's connection) rather than the
    ORM's: the ORM's row loading was a quarter of a big export's time."""
    connection = await session.connection()
    query = _detail_query().where(*alive_between(period), *in_subtree(org))
    stream = await connection.stream(query.execution_options(yield_per=CHUNK))
    async for part in stream.partitions():
        yield part


async def _inline(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


def _write_totals(
    sheet: Sheet, totals: Totals, shaper: ActivityColumns, org: Org | None, period: Period
) -> None:
    locale = shaper.locale
    scope = shaper.names.path(org.id) if org and org.id else t(locale, "export.everything")
    sheet.rows(
        [
            [t(locale, "export.scope"), scope],
            [t(locale, "export.period"), f"{period.start.isoformat()} – {period.end.isoformat()}"],
            [],
        ]
    )
    sheet.header([t(locale, f"export.type_col.{name}") for name in TYPE_COLUMNS])
    ordered = sorted(totals.by_type.items(), key=lambda item: -item[1][0])
    sheet.rows(
        [shaper.label(f"activity.type.{k}"), shaper.label(f"activity.unit.{unit_of(k)}"), *v]
        for k, v in ordered
    )
    grand = [sum(v[i] for k, v in ordered if k != PUSH_TYPE) for i in range(3)]
    sheet.rows([[t(locale, "export.total_activities"), None, *grand], []])
    sheet.header([t(locale, f"export.org_col.{name}") for name in ORG_COLUMNS])
    by_org = sorted(totals.by_org.items(), key=lambda item: (-item[1][0], item[0]))
    sheet.rows([shaper.names.name(i), shaper.names.path(i), *v] for i, v in by_org)


def offload_to_thread(function: Callable[..., Any], *args: Any) -> Any:
    """Run the workbook's CPU work in a worker thread (the bot's event loop stays free)."""
    return asyncio.to_thread(function, *args)
