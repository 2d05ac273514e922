"""/mylogs searches: what follows the command read as a keyword or a range of days, and the
searches kept so that the buttons of their pages carry only an id.

Days, weeks, months, quarters, years and ranges are read by the one reader
(`bot.services.when.read_span`); this module decides whether a text is a keyword or a date.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.common.i18n import SUPPORTED, t
from bot.services import when
from bot.services.activities import BY_KEY, ActivityError
from storage import activities_repo
from storage.activities_repo import ActivityMatch
from storage.activity_models import SEARCH_KEYWORD_MAX, ActivitySearch

KEYWORD_MAX = SEARCH_KEYWORD_MAX
SEARCH_KEPT = timedelta(days=30)  # older searches are dropped; their buttons say so
# A text made only of these reads as a date or a range; anything else is a keyword.
_DATE_CHARS = re.compile(
    r"^[\d〇零一二两三四五六七八九十百年月日号周星期礼拜天今昨前去上本这个当季度第份初中底末至到~～—–\-/.\sq]+$"
)
_DATE_WORDS = re.compile(
    r"\b(?:to|until|this|last|week|month|quarter|year|yesterday|today)\b", re.IGNORECASE
)
_RANGE_SIGN = re.compile(r"至|到|~|～|—|–|\bto\b|\buntil\b|\s-\s|[日号]\s*-", re.IGNORECASE)


@dataclass(frozen=True)
class Query:
    """A search: a keyword, or the first and last day of a range."""

    keyword: str | None = None
    first_day: date | None = None
    last_day: date | None = None


def read_query(text: str, today: date) -> Query:
    """ "科普日" → a keyword; "3月", "上周", "2026-03-01 至 2026-03-31" → a range of days.

    Refuses a keyword over `KEYWORD_MAX` characters (`ActivityError`), and a range the reader
    cannot take (`bot.services.when.WhenError`: reversed, in the future, more than five years,
    a day that does not exist, digits that are no date).
    """
    text = " ".join(unicodedata.normalize("NFKC", text).split())
    if len(text) > KEYWORD_MAX:
        raise ActivityError("activity.search_too_long", limit=KEYWORD_MAX, length=len(text))
    if not _DATE_CHARS.match(_DATE_WORDS.sub("", text)):
        return Query(keyword=text)
    try:
        span = when.read_span(text, today)
    except when.Unreadable:
        if any(c.isdigit() for c in text) or _RANGE_SIGN.search(text):
            raise
        return Query(keyword=text)  # 十周年: date characters, but no date
    return Query(first_day=span.first, last_day=span.last)


def matching_types(keyword: str) -> tuple[str, ...]:
    """The activity types whose name (in any language) or words contain the keyword."""
    word = keyword.casefold()
    found = []
    for key, kind in BY_KEY.items():
        names = [t(locale, f"activity.type.{key}") for locale in SUPPORTED]
        if any(word in name.casefold() for name in [*names, *kind.keywords]):
            found.append(key)
    return tuple(found)


def as_match(query: Query | None) -> ActivityMatch | None:
    """The storage filter of a search (None: no search, the whole list)."""
    if query is None:
        return None
    types = matching_types(query.keyword) if query.keyword else ()
    return ActivityMatch(query.keyword, types, query.first_day, query.last_day)


async def keep(session: AsyncSession, telegram_id: int, query: Query, now: datetime) -> int:
    """Store a search for its buttons; the user's searches older than 30 days go."""
    await activities_repo.forget_searches(
        session=session, telegram_id=telegram_id, before=now - SEARCH_KEPT
    )
    search = ActivitySearch(
        telegram_id=telegram_id,
        keyword=query.keyword,
        first_day=query.first_day,
        last_day=query.last_day,
        created_at=now,
    )
    await activities_repo.save_search(session=session, search=search)
    return search.id or 0


async def kept(session: AsyncSession, search_id: int, telegram_id: int) -> Query | None:
    """A search the user made (None: gone, or someone else's)."""
    row = await activities_repo.get_search(
        session=session, search_id=search_id, telegram_id=telegram_id
    )
    return None if row is None else Query(row.keyword, row.first_day, row.last_day)
