"""/mylogs searches: what follows the command read as a keyword or a range of days, and the
searches kept so that the buttons of their pages carry only an id.

Dates are read by the readers that exist (`stats.parse_range` for "A 至 B", `activities.
parse_day` for one day, `stats.period_of` and `stats.last_month` for 本月 / 上个月); this module
only adds the whole weeks, months and years a search names (上周, 3月, 2026年).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import cn2an
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import SUPPORTED, t
from bot.services import stats
from bot.services.activities import BY_KEY, ActivityError, parse_day
from bot.services.dates import NoSuchDate, make_date
from bot.services.stats import Period, StatsError
from storage import activities_repo
from storage.activities_repo import ActivityMatch
from storage.activity_models import SEARCH_KEYWORD_MAX, ActivitySearch

KEYWORD_MAX = SEARCH_KEYWORD_MAX
SEARCH_KEPT = timedelta(days=30)  # older searches are dropped; their buttons say so
# A text made only of these reads as a date or a range; anything else is a keyword.
_DATE_CHARS = re.compile(
    r"^[\d〇零一二两三四五六七八九十百年月日号周星期礼拜天今昨前去上本这个季度至到~～—–\-/.\s]+$"
)
_DATE_WORDS = re.compile(r"\b(?:to|until|this|last|week|month|quarter|year)\b", re.IGNORECASE)
_RANGE_SIGN = re.compile(r"至|到|~|～|—|–|\bto\b|\buntil\b|\s-\s|[日号]\s*-", re.IGNORECASE)
_MONTH = re.compile(r"^(?:(\d{4})[年\-/.])?(\d{1,2})月?$")
_YEAR = re.compile(r"^(\d{4})年?$")


@dataclass(frozen=True)
class Query:
    """A search: a keyword, or the first and last day of a range."""

    keyword: str | None = None
    first_day: date | None = None
    last_day: date | None = None


def read_query(text: str, today: date) -> Query:
    """ "科普日" → a keyword; "3月", "上周", "2026-03-01 至 2026-03-31" → a range of days.

    Refuses (`ActivityError`) a keyword over `KEYWORD_MAX` characters, a range the readers
    cannot take (reversed, in the future, more than five years), and digits that are no date.
    """
    text = " ".join(unicodedata.normalize("NFKC", text).split())
    if len(text) > KEYWORD_MAX:
        raise ActivityError("activity.search_too_long", limit=KEYWORD_MAX, length=len(text))
    if not _DATE_CHARS.match(_DATE_WORDS.sub("", text)):
        return Query(keyword=text)
    period = _period(text, today)
    if period is not None:
        return Query(first_day=period.start, last_day=period.end)
    if any(c.isdigit() for c in text) or _RANGE_SIGN.search(text):
        raise ActivityError("activity.search_bad_date", text=text)
    return Query(keyword=text)  # 十周年: date characters, but no date


def _period(text: str, today: date) -> Period | None:
    named = _named_period(text.lower(), today)
    if named is not None:
        return named
    compact = cn2an.transform(text.replace(" ", ""), "cn2an")  # 三月 → 3月
    try:
        whole = _whole_month(compact, today) or _whole_year(compact)
    except NoSuchDate as error:  # 0000年: say which part does not exist
        raise ActivityError(error.key, **error.params) from None
    if whole is not None:
        return whole
    try:
        return stats.parse_range(text, today)
    except StatsError as refusal:
        if refusal.key != "stats.bad_range" or _RANGE_SIGN.search(text):
            raise ActivityError(refusal.key, **refusal.params) from None
    try:
        day = parse_day(text, today)
    except ActivityError as refusal:
        if refusal.key != "activity.bad_date":
            raise
        return None
    return Period(day, day)


def _named_period(word: str, today: date) -> Period | None:
    monday = today - timedelta(days=today.weekday())
    if word in ("本周", "这周", "this week"):
        return Period(monday, today)
    if word in ("上周", "上星期", "last week"):
        return Period(monday - timedelta(days=7), monday - timedelta(days=1))
    if word in ("本月", "这个月", "this month"):
        return stats.period_of("month", today)
    if word in ("上月", "上个月", "last month"):
        return stats.last_month(today)
    if word in ("本季度", "this quarter"):
        return stats.period_of("quarter", today)
    if word in ("今年", "本年", "this year"):
        return stats.period_of("year", today)
    if word in ("去年", "last year"):
        return Period(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
    return None


def _whole_month(text: str, today: date) -> Period | None:
    match = _MONTH.match(text)
    # A bare number is a day of this month (parse_day); a month needs 月 or a year.
    if not match or not (match.group(1) or text.endswith("月")):
        return None
    month = int(match.group(2))
    if not 1 <= month <= 12:  # 13月: dateparser would make a day of it
        raise ActivityError("activity.search_bad_date", text=text)
    # Without a year, a month after this one is last year's (12月, typed in March).
    year = int(match.group(1) or (today.year if month <= today.month else today.year - 1))
    first = make_date(year, month, 1)
    return Period(first, make_date(year, month, calendar.monthrange(year, month)[1]))


def _whole_year(text: str) -> Period | None:
    match = _YEAR.match(text)
    if not match:
        return None
    year = int(match.group(1))
    return Period(make_date(year, 1, 1), make_date(year, 12, 31))


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
