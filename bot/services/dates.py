"""Dates and times that exist: the calendar check every reader of typed dates shares.

Each reader (the activity date and the quick log, a task's deadline, a broadcast's start,
/remind, the /stats and /export ranges) matches the numbers of what people type its own way;
these functions turn them into a ``date`` or ``time``, or refuse with `NoSuchDate`, whose
message key and parameters tell the user which part does not exist (2月30日, 13月, 25点, 9:75)
instead of a bare "could not read that".
"""

from __future__ import annotations

import calendar
from datetime import MAXYEAR, MINYEAR, date, time

LEAP_YEAR = 2000  # a year in which every month has its most days
# Years whose every moment exists in every time zone: 0001-01-01 00:00 in Asia/Shanghai is
# before the first moment datetime has in UTC, and 9999-12-31 23:00 in UTC-1 after its last.
FIRST_YEAR, LAST_YEAR = MINYEAR + 1, MAXYEAR - 1


class NoSuchDate(ValueError):
    """A date or time that does not exist; ``key`` and ``params`` say which part, for the user."""

    def __init__(self, key: str, **params: int) -> None:
        # Keys: when.no_month, when.no_day, when.no_leap_day, when.no_year, when.no_hour,
        # when.no_minute, and when.too_far (a moment past the year 9999).
        super().__init__(key)
        self.key = key
        self.params = params


def make_date(year: int, month: int, day: int) -> date:
    """The date, or `NoSuchDate` naming the month, the day or the year that does not exist."""
    if not 1 <= month <= 12:
        raise NoSuchDate("when.no_month", month=month)
    if not 1 <= day <= calendar.monthrange(LEAP_YEAR, month)[1]:
        raise NoSuchDate("when.no_day", month=month, day=day)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise NoSuchDate("when.no_year", year=year)
    if day > calendar.monthrange(year, month)[1]:  # 2月29日 outside a leap year
        raise NoSuchDate("when.no_leap_day", year=year)
    return date(year, month, day)


def make_time(hour: int, minute: int = 0) -> time:
    """The time of day, or `NoSuchDate` naming the hour or the minute that does not exist."""
    if not 0 <= hour <= 23:
        raise NoSuchDate("when.no_hour", hour=hour)
    if not 0 <= minute <= 59:
        raise NoSuchDate("when.no_minute", minute=minute)
    return time(hour, minute)
