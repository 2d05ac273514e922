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
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Text, func, type_coerce
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import t
from bot.services.activities import PUSH_TYPE, unit_of
from bot.services.orgs import PATH_SEPARATOR
from bot.services.stats import Period, alive_between, in_subtree
from bot.services.xlsx_stream import Sheet, Target, Workbook
from storage.activity_models import Activity
from storage.models import Org, User

CHUNK = 2000
COLUMNS = (
    "id", "type", "type_other", "title", "day", "place", "org", "org_path", "participants",
    "audience", "unit", "amount", "summary", "photos", "created_by", "created_at", "updated_at",
)  # fmt: skip
DETAIL_FIELDS = (
    "id", "type", "type_other", "title", "day", "place", "org_id", "participants", "audience",
    "unit", "amount", "summary", "created_by", "created_at", "updated_at",
)  # fmt: skip
TYPE_COLUMNS = ("type", "unit", "records", "amount", "participants")
ORG_COLUMNS = ("org", "org_path", "records", "participants", "pushes")
# Column widths in characters, in COLUMNS order; the free texts get the most room.
WIDTHS = (8, 14, 12, 28, 11, 16, 18, 40, 9, 18, 6, 6, 40, 7, 10, 16, 16)
TOTAL_WIDTHS = (22, 40, 10, 10, 12)


@dataclass
class Totals:
    """What the totals sheet sums while the rows stream past."""

    rows: int = 0
    by_type: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    by_org: dict[int, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))

    def add(self, kind: str, org_id: int, amount: int, participants: int) -> None:
        """Count one activity."""
        self.rows += 1
        per_type = self.by_type[kind]
        per_type[0] += 1
        per_type[1] += amount
        per_type[2] += participants
        per_org = self.by_org[org_id]
        if kind == PUSH_TYPE:
            per_org[2] += amount
        else:
            per_org[0] += 1
            per_org[1] += participants


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


def _id_query(org: Org | None, period: Period) -> Any:
    return (
        select(Activity.id)
        .where(*alive_between(period), *in_subtree(org))
        .order_by(col(Activity.day), col(Activity.id))
    )


def _detail_query() -> Any:
    fields: list[Any] = [getattr(Activity, name) for name in DETAIL_FIELDS]
    # The audience comes as its JSON text, decoded once per distinct list (see `audience`).
    fields[DETAIL_FIELDS.index("audience")] = type_coerce(Activity.audience, Text)
    # The number of photos is counted by the database (json_array_length exists in SQLite and
    # PostgreSQL alike) instead of decoding every list of file ids.
    photos = func.json_array_length(Activity.photos).label("photos")
    return (
        select(*fields, photos, User.real_name)
        .outerjoin(User, col(User.telegram_id) == col(Activity.created_by))
        .where(col(Activity.deleted_at).is_(None))  # also drops rows deleted since ids were read
        .order_by(col(Activity.day), col(Activity.id))
    )


class ActivityRows:
    """Turns database rows into sheet rows in one language and time zone."""

    def __init__(self, locale: str, tz: ZoneInfo, names: OrgNames) -> None:
        self.locale, self.tz, self.names = locale, tz, names
        self.separator = t(locale, "form.list_separator")
        self._labels: dict[str, str] = {}
        self._audiences: dict[Any, str] = {}

    def label(self, key: str) -> str:
        """A translated label, cached (the same few types repeat on every row)."""
        if key not in self._labels:
            self._labels[key] = t(self.locale, key)
        return self._labels[key]

    def row(self, r: Any) -> list[Any]:
        """One sheet row from one database row (in `_detail_query`'s column order)."""
        (number, kind, kind_other, title, day, place, org_id, participants, audience, unit,
         amount, summary, created_by, created_at, updated_at, photos, real_name) = r  # fmt: skip
        return [
            number, self.label(f"activity.type.{kind}"), kind_other, title, day, place,
            self.names.name(org_id), self.names.path(org_id), participants,
            self.audience(audience), self.label(f"activity.unit.{unit}"), amount, summary,
            photos or 0, real_name or str(created_by), self.local(created_at),
            self.local(updated_at),
        ]  # fmt: skip

    def audience(self, raw: str | list[str] | None) -> str:
        """The audience labels joined; the same few combinations repeat, so each is decoded
        and translated once (SQLite hands over the JSON text, asyncpg a decoded list)."""
        key = raw if raw is None or isinstance(raw, str) else tuple(raw)
        if key not in self._audiences:
            keys = json.loads(raw) if isinstance(raw, str) else list(raw or [])
            labels = (self.label(f"activity.audience.{a}") for a in keys)
            self._audiences[key] = self.separator.join(labels)
        return self._audiences[key]

    def local(self, moment: datetime | None) -> datetime | None:
        """A stored UTC time as local wall time (Excel knows no time zones)."""
        if moment is None:
            return None
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(self.tz).replace(tzinfo=None, microsecond=0)


async def write_activities(
    session: AsyncSession,
    *,
    org: Org | None,
    period: Period,
    target: Target,
    locale: str,
    tz: ZoneInfo,
    offload: Callable[..., Any] | None = None,
    pause: Callable[[], Awaitable[Any]] | None = None,
) -> Totals:
    """Write the activities of ``org``'s subtree (None: all) in ``period`` as .xlsx to ``target``.

    ``offload``: how to run the CPU-bound writing (``asyncio.to_thread`` in the bot, so other
    chats are served meanwhile); by default it runs inline. ``pause``: awaited between chunks
    read by id; the bot passes ``session.commit`` on SQLite so that its write lock, which
    every transaction takes, is not held for the whole export. Without it the rows come from
    one streamed query.
    """
    steps = Steps(offload or _inline, pause)
    names = await org_names(session, org)
    shaper = ActivityRows(locale, tz, names)
    workbook = await steps.run(Workbook, target)
    try:
        totals = await _fill(session, workbook, shaper, org, period, steps)
    except BaseException:
        workbook.abort()
        raise
    await steps.run(workbook.close)
    return totals


@dataclass(frozen=True)
class Steps:
    """How an export runs its CPU work, and what it does between two chunks of rows."""

    run: Callable[..., Awaitable[Any]]
    pause: Callable[[], Awaitable[Any]] | None = None


async def _fill(
    session: AsyncSession,
    workbook: Workbook,
    shaper: ActivityRows,
    org: Org | None,
    period: Period,
    steps: Steps,
) -> Totals:
    locale = shaper.locale
    detail = workbook.sheet(t(locale, "export.sheet.activities"), WIDTHS)
    detail.header([t(locale, f"export.col.{name}") for name in COLUMNS])
    totals = Totals()
    async for part in _parts(session, org, period, steps.pause):
        for r in part:
            totals.add(r.type, r.org_id, r.amount or 0, r.participants or 0)
        await steps.run(detail.rows, [shaper.row(r) for r in part])
    summary = workbook.sheet(t(locale, "export.sheet.totals"), TOTAL_WIDTHS)
    await steps.run(_write_totals, summary, totals, shaper, org, period)
    return totals


async def _parts(
    session: AsyncSession,
    org: Org | None,
    period: Period,
    pause: Callable[[], Awaitable[Any]] | None,
) -> AsyncIterator[Sequence[Any]]:
    """The rows in the sheet's order, a chunk at a time."""
    if pause is None:  # one streamed query (a server-side cursor on PostgreSQL)
        query = _detail_query().where(*alive_between(period), *in_subtree(org))
        stream = await session.stream(query.execution_options(yield_per=CHUNK))
        async for part in stream.partitions():
            yield part
        return
    # The ids first, then the rows chunk by chunk, each its own short query: the caller's
    # pause (a commit) lets go of the database in between.
    ids = list(await session.exec(_id_query(org, period)))
    for start in range(0, len(ids), CHUNK):
        query = _detail_query().where(col(Activity.id).in_(ids[start : start + CHUNK]))
        part = (await session.exec(query)).all()
        await pause()
        yield part


async def _inline(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


def _write_totals(
    sheet: Sheet, totals: Totals, shaper: ActivityRows, org: Org | None, period: Period
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
