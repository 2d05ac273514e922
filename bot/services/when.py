"""The one reader of the dates, times and ranges people type, for every form and command.

What it reads (Chinese numerals anywhere a number goes: 三月十五日, 二〇二六年, 九点半):
- days: 今天 明天 后天 昨天 前天 大前天, 周三/星期三/礼拜三, 上周五 下周三 下下周一 本周五,
  3月15日 3月15号 3.15 3/15 03-15 2026-03-15 2026年3月15日, 上个月15号 本月10号, 去年9月20号,
  月底 月初 月中, 一周后 两周后 3天后 三天前, 15号; English through dateparser (tomorrow,
  next friday, last monday, in 3 days, March 12);
- times: 9点 9:00 9点半 9点15分 上午9点 下午3点 晚上8点 今晚8点 中午 傍晚, 15:30, 9am 3pm,
  and offsets in minutes or hours (半小时后, 2小时后);
- ranges: 2026-01-01 至 2026-03-31, 1月1日-3月31日, 3月1日到15日, 1月-3月, 3月, 2026年3月,
  本周 上周 本月 上个月 本季度 上季度 第一季度 今年 去年 2026年, or one day.

Each caller names its `Policy`: whether the past or the future is allowed, the time a day
without one means (18:00 for a deadline, 09:00 for a reminder, none for a broadcast: it asks),
how far ahead is too far. A year (or month) left out is the nearest sensible one for the
policy, and `Note`s say so when it is not the current one. Refusals are typed (`WhenError`
and its kinds) and carry a message key and parameters that say what was wrong.

dateparser and cn2an do what they do well: dateparser reads the English, cn2an the Chinese
numerals. The Chinese date grammar is our own, because dateparser 1.5 returns None for
3月15日, 上周五, 9点, 上午9点, 明天上午9点, 上个月15号, 月底 and 三天后, reads 3.15 as 03:15 and
2026-13-01 as 13 January; cn2an.transform turns 九点三刻 into 9.3刻 (its 点 is a decimal point),
so numbers are converted one token at a time.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import cn2an

from bot.services.errors import UserError

LEAP_YEAR = 2000  # a year in which every month has its most days
# Years whose every moment exists in every time zone: 0001-01-01 00:00 in Asia/Shanghai is
# before the first moment datetime has in UTC, and 9999-12-31 23:00 in UTC-1 after its last.
FIRST_YEAR, LAST_YEAR = MINYEAR + 1, MAXYEAR - 1
EARLIEST_DAY = date(2000, 1, 1)  # records and ranges before it are a typed-wrong year
MAX_RANGE_DAYS = 366 * 5  # a range beyond five years is a typo, not a question
# A year-less date that has passed this year means next year's only when that is this close
# (1月5日 typed in December); one that passed lately (12月1日 typed on 12月5日) is refused.
NEXT_YEAR_WITHIN = timedelta(days=183)
PAST, FUTURE = "past", "future"


# --- refusals --------------------------------------------------------------------------------


class WhenError(UserError, ValueError):
    """A refusal: ``key`` and ``params`` say, for the user, what was wrong."""


class NoSuchDate(WhenError):
    """A date or time that does not exist: 2月30日, 13月, 25点, 9:75, a year past 9999."""


class PastDate(WhenError):
    """A moment already gone where only the future makes sense (a deadline, a reminder)."""


class FutureDate(WhenError):
    """A day still ahead where only the past makes sense (an activity, a range's start)."""


class ReversedRange(WhenError):
    """A range whose end comes before its start."""


class OutOfRange(WhenError):
    """A date the caller does not take: before 2000, too far ahead, a range over five years."""


class NeedTime(WhenError):
    """A day without a time where a time must be said (a broadcast's start)."""


class Unreadable(WhenError):
    """Nothing we can read; the key's message shows what works."""


# --- policies and results ----------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """How a caller takes what the reader finds.

    ``direction``: PAST (nothing after today) or FUTURE (nothing before now).
    ``default_time``: the time a day said without one means; None asks for one (`NeedTime`).
    ``unreadable``: the key of the message with examples that work for this caller.
    """

    direction: str
    unreadable: str
    default_time: time | None = None
    earliest: date | None = None
    max_ahead: timedelta | None = None


ACTIVITY_DAY = Policy(PAST, "when.unreadable.day", earliest=EARLIEST_DAY)
DEADLINE = Policy(FUTURE, "when.unreadable.moment", default_time=time(18, 0))
# A reminder for a day (3天后, 明天) goes at a daytime hour, not at the minute it was typed.
REMINDER = Policy(FUTURE, "when.unreadable.remind", default_time=time(9, 0))
BROADCAST = Policy(FUTURE, "when.unreadable.moment", max_ahead=timedelta(days=60))


@dataclass(frozen=True)
class Note:
    """Something the reader guessed that the user should see (a year left out)."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Day:
    """A day read under a policy."""

    day: date
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True)
class Moment:
    """A moment read under a policy: in UTC, in the org's zone, and whether a time was said."""

    at: datetime
    local: datetime
    time_given: bool
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True)
class Span:
    """An inclusive range of days."""

    first: date
    last: date
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True)
class Found:
    """A day named inside a free text (the quick log): where, what was said, and the day or why
    it cannot be taken."""

    start: int
    end: int
    said: str
    day: date | None
    problem: WhenError | None = None
    notes: tuple[Note, ...] = ()


# --- the calendar check ----------------------------------------------------------------------


def today_in(now: datetime, tz: ZoneInfo) -> date:
    """Today's date in the organisation's time zone."""
    return now.astimezone(tz).date()


EXAMPLE_OFFSET = timedelta(days=3)  # examples name a day a little before or after today


def examples(today: date) -> dict[str, str]:
    """Dates for the examples in prompts and hints, from today, so none is long past:
    ``recent`` (ISO) / ``recent_md`` (3月15日) a few days ago, ``soon`` / ``soon_md`` a few
    days ahead, ``month_start`` and ``today`` (a range that works), ``year``."""
    recent, soon = today - EXAMPLE_OFFSET, today + EXAMPLE_OFFSET
    return {
        "recent": recent.isoformat(),
        "recent_md": f"{recent.month}月{recent.day}日",
        "soon": soon.isoformat(),
        "soon_md": f"{soon.month}月{soon.day}日",
        "month_start": today.replace(day=1).isoformat(),
        "today": today.isoformat(),
        "year": str(today.year),
    }


@contextmanager
def _with_examples(today: date) -> Iterator[None]:
    """A refusal raised inside carries the examples its message may show."""
    try:
        yield
    except WhenError as error:
        for name, value in examples(today).items():
            error.params.setdefault(name, value)
        raise


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


def _shift(day: date, days: int) -> date:
    try:
        return day + timedelta(days=days)
    except OverflowError:  # 2912369天后 lies past the year 9999
        raise NoSuchDate("when.too_far") from None


def _month_index(day: date, months: int) -> tuple[int, int]:
    index = day.year * 12 + day.month - 1 + months
    return index // 12, index % 12 + 1


def _last_of(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


# --- normalising and numbers -------------------------------------------------------------------


def normal(text: str) -> str:
    """NFKC (full-width digits and signs as phones send them), lower case, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


_END_PUNCT = " 。.,，!！;；"
N = r"(?:\d{1,7}|[零〇一二两三四五六七八九十]{1,4})"  # a number as people type it
Y = r"(?:\d{4}|[零〇一二三四五六七八九]{4})"  # a year: 2026, 二〇二六


def number(token: str) -> int:
    """A number in digits or Chinese numerals (cn2an, one token at a time)."""
    if token.isascii() and token.isdigit():
        return int(token)
    try:
        value = cn2an.cn2an(token, "smart")
    except (ValueError, KeyError):
        raise Unreadable("when.unreadable.day") from None
    return int(value)


# --- what a day expression says, before a policy settles it -----------------------------------


@dataclass(frozen=True)
class _Said:
    """A day as the words give it: fixed (昨天, 2026-03-15, 上周五), or open in its year
    (3月15日), its week (周三), its month (15号) or its month's edge (月初)."""

    fixed: date | None = None
    month_day: tuple[int, int] | None = None
    weekday: int | None = None
    day_of_month: int | None = None
    edge: str | None = None  # 月初 (a bare one: this month's or the next's)
    shown: str = ""  # the date as said, in 年月日 form (what a refusal names)
    period: str | None = None  # 今晚 明早: the part of the day the word brings


_WEEKDAYS = (
    {c: i for i, c in enumerate("一二三四五六日")}
    | {"天": 6, "末": 5}
    | {str(n): n - 1 for n in range(1, 8)}
)
_REL_DAYS = {
    "大前天": -3, "前天": -2, "昨天": -1, "昨日": -1, "昨晚": -1, "昨儿": -1,
    "今天": 0, "今日": 0, "今晚": 0, "今早": 0, "今儿": 0,
    "明天": 1, "明日": 1, "明晚": 1, "明早": 1, "后天": 2, "大后天": 3,
}  # fmt: skip
_DAY_PERIOD = {"昨晚": "晚上", "今晚": "晚上", "明晚": "晚上", "今早": "早上", "明早": "早上"}
_WEEK_SHIFT = {
    "上上": -2,
    "上个": -1,
    "上": -1,
    "本": 0,
    "这": 0,
    "这个": 0,
    "下": 1,
    "下个": 1,
    "下下": 2,
}
_MONTH_SHIFT = {"上上": -2, "上": -1, "本": 0, "这": 0, "这个": 0, "当": 0, "下": 1}
_YEAR_SHIFT = {"前年": -2, "去年": -1, "今年": 0, "本年": 0, "明年": 1}
_UNIT_DAYS = {"天": 1, "日": 1, "周": 7, "星期": 7, "礼拜": 7}


def _rel_day(m: re.Match[str], today: date) -> _Said:
    word = m.group("rel")
    day = _shift(today, _REL_DAYS[word])
    return _Said(fixed=day, shown=word, period=_DAY_PERIOD.get(word))


def _weekday(m: re.Match[str], today: date) -> _Said:
    prefix, name = m.group("wpre"), m.group("wd")
    target = _WEEKDAYS[name]
    if prefix is None:
        return _Said(weekday=target, shown=m.group(0))
    monday = today - timedelta(days=today.weekday())
    return _Said(fixed=_shift(monday, 7 * _WEEK_SHIFT[prefix] + target), shown=m.group(0))


def _offset(m: re.Match[str], today: date) -> _Said:
    count = number(m.group("on"))
    unit, after = m.group("ou"), m.group("od") != "前"
    sign = 1 if after else -1
    if unit == "月":  # 1个月后: the same day of the month, or that month's last
        year, month = _month_index(today, sign * count)
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise NoSuchDate("when.too_far")
        day = date(year, month, min(today.day, _last_of(year, month)))
        return _Said(fixed=day, shown=m.group(0))
    return _Said(fixed=_shift(today, sign * count * _UNIT_DAYS[unit]), shown=m.group(0))


def _existing(shown: str, year: int, month: int, day: int) -> date:
    """`make_date`, its refusal also naming the date as said (2026年2月29日)."""
    try:
        return make_date(year, month, day)
    except NoSuchDate as error:
        error.params["said"] = shown
        raise


def _ymd(m: re.Match[str], today: date) -> _Said:
    year, month, day = number(m.group("y")), number(m.group("m")), number(m.group("d"))
    shown = f"{year}年{month}月{day}日"
    return _Said(fixed=_existing(shown, year, month, day), shown=shown)


def _rel_year_md(m: re.Match[str], today: date) -> _Said:
    year = today.year + _YEAR_SHIFT[m.group("ry")]
    month, day = number(m.group("m")), number(m.group("d"))
    shown = f"{year}年{month}月{day}日"
    return _Said(fixed=_existing(shown, year, month, day), shown=shown)


def _month_day(m: re.Match[str], today: date) -> _Said:
    month, day = number(m.group("m")), number(m.group("d"))
    shown = f"{month}月{day}日"
    _existing(shown, LEAP_YEAR, month, day)  # 2月30日, 13月5日: refused before a year is guessed
    return _Said(month_day=(month, day), shown=shown)


def _rel_month_day(m: re.Match[str], today: date) -> _Said:
    year, month = _month_index(today, _MONTH_SHIFT[m.group("rm")])
    day = number(m.group("d"))
    shown = f"{year}年{month}月{day}日"
    return _Said(fixed=_existing(shown, year, month, day), shown=shown)


def _month_edge(m: re.Match[str], today: date) -> _Said:
    edge = (m.group("edge") or m.group("edge2"))[-1]  # 初 中 底 末
    if m.group("em") is None and edge == "初":
        return _Said(edge="初", shown=m.group(0))
    year, month = _month_index(today, _MONTH_SHIFT[m.group("em") or "本"])
    day = {"初": 1, "中": 15}.get(edge, _last_of(year, month))
    return _Said(fixed=date(year, month, day), shown=m.group(0))


def _day_of_month(m: re.Match[str], today: date) -> _Said:
    day = number(m.group("d"))
    _existing(f"{day}日", LEAP_YEAR, 1, day)  # 32号
    return _Said(day_of_month=day, shown=f"{day}日")


def _compact(m: re.Match[str], today: date) -> _Said:
    # Digits as a numeric keypad types them (20260315, 0315); digits that make no date
    # (0230, 20261301) are no date at all rather than a wrong one.
    digits = m.group(0)
    try:
        if len(digits) == 8:
            return _Said(fixed=make_date(int(digits[:4]), int(digits[4:6]), int(digits[6:])))
        make_date(LEAP_YEAR, int(digits[:2]), int(digits[2:]))
    except NoSuchDate:
        raise Unreadable("when.unreadable.day") from None
    return _Said(month_day=(int(digits[:2]), int(digits[2:])), shown=digits)


_YMD = rf"(?P<y>{Y})\s*[-/.年]\s*(?P<m>{N})\s*[-/.月]\s*(?P<d>{N})(?:\s*[日号])?"
_REL_YEAR_MD = rf"(?P<ry>前年|去年|今年|本年|明年)\s*(?P<m>{N})\s*月\s*(?P<d>{N})\s*[日号]"
_REL_MONTH_D = rf"(?P<rm>上上|上|本|这|这个|当|下)个?月\s*(?P<d>{N})\s*[日号]?"
_EDGE = r"(?:(?P<em>上|本|这|这个|下)个?月(?P<edge>初|中|底|末)|(?P<edge2>月初|月中|月底|月末))"
_MD = rf"(?P<m>{N})\s*月\s*(?P<d>{N})\s*[日号]"
# 3.15 and 3/15, but not 1.2万 or 3.5倍 (a number, not a day)
_MD_DOTS = r"(?<![\d.])(?P<m>\d{1,2})[./](?P<d>\d{1,2})(?![\d./%万千百亿元个倍米])"
_MD_DASH = r"(?P<m>\d{1,2})-(?P<d>\d{1,2})(?![\d-])"
_OFFSET = rf"(?P<on>{N})\s*个?\s*(?P<ou>天|周|星期|礼拜|月)\s*(?:以|之)?(?P<od>前|后)"
# 每周一 is a habit, not a day: kept out by the look-behind.
_WEEKDAY = (
    r"(?<!每)(?P<wpre>上上|上个|上|下下|下个|下|本|这个|这)?\s*(?:周|星期|礼拜)"
    r"(?P<wd>[一二三四五六日天末1-7])"
)
_REL_DAY = "(?P<rel>" + "|".join(sorted(_REL_DAYS, key=len, reverse=True)) + ")"
_DAY_NUMBER = rf"(?P<d>{N})\s*[日号]"
_BARE_DAY = r"(?P<d>\d{1,2})(?![\d:.])"  # 15, typed for a day
# Each form: its pattern, what it says, and whether a free text (the quick log) is searched
# for it (bare 15号 and 03-15 are house numbers and ranges there: 3号楼, 50-60人).
_DAY_FORMS: list[tuple[re.Pattern[str], Callable[[re.Match[str], date], _Said], bool]] = [
    (re.compile(_YMD), _ymd, True),
    (re.compile(_REL_YEAR_MD), _rel_year_md, True),
    (re.compile(_REL_MONTH_D), _rel_month_day, True),
    (re.compile(_EDGE), _month_edge, True),
    (re.compile(_MD), _month_day, True),
    (re.compile(_MD_DOTS), _month_day, True),
    (re.compile(_MD_DASH), _month_day, False),
    (re.compile(_OFFSET), _offset, True),
    (re.compile(_WEEKDAY), _weekday, True),
    (re.compile(_REL_DAY), _rel_day, True),
    (re.compile(r"\d{8}|\d{4}"), _compact, False),
    (re.compile(_DAY_NUMBER), _day_of_month, False),
    (re.compile(_BARE_DAY), _day_of_month, False),
]


def _day_at(
    text: str, pos: int, today: date, *, in_text: bool = False
) -> tuple[_Said, int] | None:
    """The longest day form that starts at ``pos``."""
    best: tuple[_Said, int] | None = None
    for pattern, build, searched in _DAY_FORMS:
        if in_text and not searched:
            continue
        match = pattern.match(text, pos)
        if not match or (best is not None and match.end() <= best[1]):
            continue
        try:
            best = (build(match, today), match.end())
        except Unreadable:  # numerals cn2an cannot read (十十): not this form
            continue
    return best


# --- times of day ------------------------------------------------------------------------------

_PERIODS = {
    "凌晨": 5, "清晨": 7, "早上": 8, "早晨": 8, "上午": 9, "中午": 12, "午后": 14, "下午": 15,
    "傍晚": 18, "晚上": 20, "晚间": 20, "夜里": 21, "夜间": 21,
}  # fmt: skip
_AFTERNOON = ("午后", "下午", "傍晚", "晚上", "晚间", "夜里", "夜间")
_PERIOD = "|".join(_PERIODS)
_CLOCK = re.compile(
    rf"(?P<per>{_PERIOD})?\s*(?:(?P<h>{N})\s*(?:[:：](?P<mi>\d{{2}})(?![\d.])"
    rf"|点\s*(?:(?P<frac>半|一刻|三刻|整|钟)|(?P<mi2>{N})\s*分?)?|时\s*(?:(?P<mi3>{N})\s*分)?))"
)
_PERIOD_ONLY = re.compile(rf"(?P<per>{_PERIOD})")
_AMPM = re.compile(r"(?P<h>\d{1,2})(?::(?P<mi>\d{2}))?\s*(?P<ap>am|pm|a\.m\.|p\.m\.)")
_FRACTIONS = {"半": 30, "一刻": 15, "三刻": 45, "整": 0, "钟": 0}


def _clock_at(text: str, pos: int, period: str | None) -> tuple[time, int] | None:
    """A time of day at ``pos``: 下午3点半, 15:30, 9am, or a part of the day alone (中午)."""
    if match := _AMPM.match(text, pos):
        hour = int(match.group("h"))
        if not 1 <= hour <= 12:
            raise NoSuchDate("when.no_hour", hour=hour)
        hour = hour % 12 + (12 if match.group("ap").startswith("p") else 0)
        return make_time(hour, int(match.group("mi") or 0)), match.end()
    if match := _CLOCK.match(text, pos):
        return _clock_time(match, match.group("per") or period), match.end()
    if match := _PERIOD_ONLY.match(text, pos):
        return time(_PERIODS[match.group("per")], 0), match.end()
    return None


def _clock_time(m: re.Match[str], period: str | None) -> time:
    hour = number(m.group("h"))
    minute_token = m.group("mi") or m.group("mi2") or m.group("mi3")
    minute = number(minute_token) if minute_token else _FRACTIONS.get(m.group("frac") or "", 0)
    # 下午3点 is 15:00; 中午1点 is 13:00; 晚上12点 stays 12 (people mean midnight or noon).
    if (period in _AFTERNOON and hour < 12) or (period == "中午" and hour < 6):
        hour += 12
    return make_time(hour, minute)


_SUBDAY = re.compile(
    rf"(?:(?P<half>半)|(?P<n>{N})\s*个?\s*(?P<plus>半)?)\s*(?P<u>分钟|分|小时|个小时|钟头)\s*(?:以|之)?后"
)


# --- moments (a day and a time) ----------------------------------------------------------------


@dataclass(frozen=True)
class _Read:
    """A moment expression as read at a position: its day, its time, or an exact offset."""

    said: _Said | None
    clock: time | None  # a clock time (9点, 15:30) or a part of the day (上午: 09:00)
    end: int
    exact: timedelta | None = None  # 2小时后: now plus this


_GAP = re.compile(r"[\s,，的]*")


def _moment_at(text: str, pos: int, today: date) -> _Read | None:
    """A day and a time (either may be missing) at ``pos``; of the readings, the longest."""
    if match := _SUBDAY.match(text, pos):
        return _Read(None, None, match.end(), _subday(match))
    dated = _dated_at(text, pos, today)
    clock = _clock_at(text, pos, None)  # 9点 is a time, though 9 alone would be a day
    if clock is not None and (dated is None or clock[1] > dated.end):
        return _Read(None, clock[0], clock[1])
    return dated


def _dated_at(text: str, pos: int, today: date) -> _Read | None:
    found = _day_at(text, pos, today)
    said, end = found if found else (None, pos)
    gap = _GAP.match(text, end)
    clock = _clock_at(text, gap.end() if gap else end, said.period if said else None)
    if clock is not None:
        return _Read(said, clock[0], clock[1])
    if said is None:
        return None
    if said.period:  # 今晚 alone: the evening's hour
        return _Read(said, time(_PERIODS[said.period], 0), end)
    return _Read(said, None, end)


def _subday(m: re.Match[str]) -> timedelta:
    count = 0.5 if m.group("half") else number(m.group("n")) + (0.5 if m.group("plus") else 0)
    minutes = count * (1 if m.group("u").startswith("分") else 60)
    try:
        return timedelta(minutes=minutes)
    except OverflowError:
        raise NoSuchDate("when.too_far") from None


# --- settling what was said under a policy ----------------------------------------------------


def _settle(said: _Said, today: date, direction: str) -> tuple[date, tuple[Note, ...]]:
    """The day a said date means for the policy's direction, and a note when it was a guess
    that did not land in the current year (or month)."""
    if said.fixed is not None:
        return said.fixed, ()
    if said.weekday is not None:
        back = (today.weekday() - said.weekday) % 7
        ahead = (said.weekday - today.weekday()) % 7
        return _shift(today, -back if direction == PAST else ahead), ()
    if said.month_day is not None:
        return _year_for(said, *said.month_day, today, direction)
    if said.day_of_month is not None:
        return _month_for(said, said.day_of_month, today, direction)
    # 月初 alone: this month's first day, or, ahead of us, the next month's.
    year, month = _month_index(today, 1 if direction == FUTURE and today.day > 1 else 0)
    return date(year, month, 1), ()


def _year_for(
    said: _Said, month: int, day: int, today: date, direction: str
) -> tuple[date, tuple[Note, ...]]:
    this_year = make_date(today.year, month, day)
    if direction == PAST:
        if this_year <= today:
            return this_year, ()
        return _guessed(said, make_date(today.year - 1, month, day))
    if this_year >= today:
        return this_year, ()
    next_year = make_date(today.year + 1, month, day)
    if next_year - today <= NEXT_YEAR_WITHIN:
        return _guessed(said, next_year)
    raise PastDate("when.past_day", said=said.shown, today=today.isoformat(), year=today.year + 1)


def _month_for(
    said: _Said, day: int, today: date, direction: str
) -> tuple[date, tuple[Note, ...]]:
    shifts = (0, -1, -2) if direction == PAST else (0, 1, 2)  # 31号 skips a month without one
    for shift in shifts:
        year, month = _month_index(today, shift)
        if day > _last_of(year, month):
            continue
        found = date(year, month, day)
        if (found <= today) if direction == PAST else (found >= today):
            return (found, ()) if shift == 0 else _guessed(said, found)
    raise NoSuchDate("when.no_day", month=today.month, day=day)


def _guessed(said: _Said, day: date) -> tuple[date, tuple[Note, ...]]:
    return day, (Note("when.read_as", {"said": said.shown, "date": day.isoformat()}),)


def _check_day(day: date, today: date, policy: Policy) -> None:
    if policy.direction == PAST and day > today:
        raise FutureDate("when.future_day", date=day.isoformat(), today=today.isoformat())
    if policy.earliest is not None and day < policy.earliest:
        raise OutOfRange("when.too_early", earliest=policy.earliest.isoformat())


# --- English, through dateparser ---------------------------------------------------------------

_LATIN = re.compile(r"[a-z]")
_MONTH_NAME = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s*\d|\d\s*(?:jan|feb|"
    r"mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)"
)
_YEAR_IN = re.compile(r"\b\d{4}\b")


@dataclass(frozen=True)
class _English:
    local: datetime  # naive, in the org's zone
    time_given: bool
    month_day: tuple[int, int] | None  # a month named without a year: the policy's year


def _english(text: str, now: datetime, direction: str) -> _English | None:
    """What dateparser reads in an English text, or None (also for non-English texts)."""
    if not _LATIN.search(text):
        return None
    from dateparser.date import DateDataParser  # its import costs a second: only when needed

    settings = {
        "RELATIVE_BASE": now.replace(tzinfo=None),
        "PREFER_DATES_FROM": direction,
        "RETURN_TIME_AS_PERIOD": True,
    }
    try:
        data = DateDataParser(languages=["en"], settings=settings).get_date_data(text)
    except (OverflowError, ValueError):  # 0001;1;1: the year 1 has no such moment in UTC
        return None
    if data.date_obj is None or data.period in ("month", "year"):
        return None
    moment = data.date_obj.replace(tzinfo=None)
    open_year = bool(_MONTH_NAME.search(text)) and not _YEAR_IN.search(text)
    month_day = (moment.month, moment.day) if open_year else None
    return _English(moment, data.period == "time", month_day)


def _english_day(text: str, today: date, direction: str) -> _Said | None:
    found = _english(text, datetime.combine(today, time(12)), direction)
    if found is None:
        return None
    if found.month_day is not None:  # March 12: the policy's year
        month, day = found.month_day
        return _Said(month_day=found.month_day, shown=f"{month}月{day}日")
    return _Said(fixed=found.local.date(), shown=text)


# --- public readers ---------------------------------------------------------------------------


def read_day(text: str, today: date, policy: Policy = ACTIVITY_DAY) -> Day:
    """One day, in Chinese or English, a time after it allowed (3月14日下午)."""
    with _with_examples(today):
        return _read_day(text, today, policy)


def _read_day(text: str, today: date, policy: Policy) -> Day:
    words = normal(text).strip(_END_PUNCT)
    found = _whole_day(words, today, policy)
    if found is None:
        raise Unreadable(policy.unreadable)
    day, notes = _settle(found, today, policy.direction)
    _check_day(day, today, policy)
    return Day(day, notes)


def _whole_day(words: str, today: date, policy: Policy) -> _Said | None:
    read = _moment_at(words, 0, today) if words else None
    if read is not None and read.said is not None and read.end == len(words):
        return read.said
    return _english_day(words, today, policy.direction)


def read_moment(text: str, now: datetime, tz: ZoneInfo, policy: Policy) -> Moment:
    """A whole text read as one moment (a deadline, a broadcast's start)."""
    words = normal(text).strip(_END_PUNCT)
    with _with_examples(today_in(now, tz)):
        moment, rest = _leading_moment(words, now, tz, policy)
        if rest.strip(_END_PUNCT):
            raise Unreadable(policy.unreadable)
    return moment


def read_leading_moment(
    text: str, now: datetime, tz: ZoneInfo, policy: Policy
) -> tuple[Moment, str]:
    """The moment a text starts with, and the rest (``明天上午9点 提交照片``: /remind)."""
    words = " ".join(unicodedata.normalize("NFKC", text).split())
    lowered = words.lower() if len(words.lower()) == len(words) else words
    with _with_examples(today_in(now, tz)):
        moment, rest = _leading_moment(lowered, now, tz, policy)
    return moment, words[len(words) - len(rest) :].strip()


def _leading_moment(words: str, now: datetime, tz: ZoneInfo, policy: Policy) -> tuple[Moment, str]:
    local_now = now.astimezone(tz)
    read = _moment_at(words, 0, local_now.date()) if words else None
    if read is not None:
        return _chinese_moment(read, local_now, policy), words[read.end :]
    return _english_moment(words, local_now, policy)


def _chinese_moment(read: _Read, now: datetime, policy: Policy) -> Moment:
    if read.exact is not None:
        try:
            return _checked(now + read.exact, True, (), now, policy)
        except OverflowError:
            raise NoSuchDate("when.too_far") from None
    today, notes = now.date(), ()
    if read.said is None:  # only a time: today if it is still ahead, else tomorrow
        day = today
    else:
        day, notes = _settle(read.said, today, policy.direction)
    at, given = _time_of(read.clock, policy)
    moment = _local(day, at, now)
    if policy.direction == FUTURE and moment <= now and _open_day(read.said):
        # 09:00 typed in the afternoon, 周三 9点 on a Wednesday at ten: the next one.
        moment = _local(_shift(day, 7 if read.said else 1), at, now)
    return _checked(moment, given, notes, now, policy)


def _open_day(said: _Said | None) -> bool:
    return said is None or said.weekday is not None


def _time_of(clock: time | None, policy: Policy) -> tuple[time, bool]:
    if clock is not None:
        return clock, True
    if policy.default_time is None:
        raise NeedTime("when.need_time")
    return policy.default_time, False


def _local(day: date, at: time, now: datetime) -> datetime:
    return datetime.combine(day, at, tzinfo=now.tzinfo)


def _english_moment(words: str, now: datetime, policy: Policy) -> tuple[Moment, str]:
    """The longest leading run of words (at most six) that dateparser reads as a moment."""
    tokens = words.split(" ")
    for size in range(min(6, len(tokens)), 0, -1):
        found = _english(" ".join(tokens[:size]), now, policy.direction)
        if found is None:
            continue
        day, notes = found.local.date(), ()
        if found.month_day is not None:
            said = _Said(month_day=found.month_day, shown=" ".join(tokens[:size]))
            day, notes = _settle(said, now.date(), policy.direction)
        if found.time_given:
            moment = _local(day, found.local.time(), now)
        else:
            moment = _local(day, _time_of(None, policy)[0], now)
        rest = " ".join(tokens[size:])
        return _checked(moment, found.time_given, notes, now, policy), rest
    raise Unreadable(policy.unreadable)


def _checked(
    moment: datetime, given: bool, notes: tuple[Note, ...], now: datetime, policy: Policy
) -> Moment:
    shown = moment.strftime("%Y-%m-%d %H:%M")
    if policy.direction == FUTURE and moment <= now:
        raise PastDate("when.past_moment", moment=shown, now=now.strftime("%Y-%m-%d %H:%M"))
    if policy.direction == PAST and moment.date() > now.date():
        raise FutureDate("when.future_day", date=moment.date().isoformat(), today=now.date())
    if policy.max_ahead is not None and moment - now > policy.max_ahead:
        raise OutOfRange("when.too_far_ahead", days=policy.max_ahead.days)
    try:
        at = moment.astimezone(UTC)
    except OverflowError:  # the first or last hours of the calendar have no UTC moment
        raise NoSuchDate("when.too_far") from None
    return Moment(at, moment, given, notes)


# --- ranges ------------------------------------------------------------------------------------

_RANGE_SEP = re.compile(r"\s*(?:至|到|~|—|–|-|\bto\b|\buntil\b|\btill\b)\s*")
_QUARTER = re.compile(
    rf"(?:(?P<y>{Y})\s*年?\s*)?(?:第)?(?P<q>[一二三四1-4])\s*季度?|(?:(?P<y2>{Y})\s*)?q(?P<q2>[1-4])"
)
_MONTH = re.compile(rf"(?:(?P<y>{Y})\s*[-/.年]\s*)?(?P<m>{N})\s*(?P<yue>月份?)?")
_YEAR = re.compile(rf"(?P<y>{Y})\s*年?")


def this_period(kind: str, today: date) -> tuple[date, date]:
    """This week, month, quarter or year, from its first day up to today."""
    if kind == "week":
        return today - timedelta(days=today.weekday()), today
    if kind == "month":
        return today.replace(day=1), today
    if kind == "quarter":
        return date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), today
    if kind == "year":
        return date(today.year, 1, 1), today
    raise ValueError(kind)


def last_period(kind: str, today: date) -> tuple[date, date]:
    """The whole week, month, quarter or year before this one."""
    first, _ = this_period(kind, today)
    last = first - timedelta(days=1)
    return this_period(kind, last)[0], last


_NAMED = {
    ("this", "week"): ("本周", "这周", "本星期", "这星期", "this week"),
    ("last", "week"): ("上周", "上星期", "上礼拜", "last week"),
    ("this", "month"): ("本月", "这个月", "这月", "当月", "this month"),
    ("last", "month"): ("上月", "上个月", "last month"),
    ("this", "quarter"): ("本季度", "这个季度", "本季", "this quarter"),
    ("last", "quarter"): ("上季度", "上个季度", "上一季度", "last quarter"),
    ("this", "year"): ("今年", "本年", "本年度", "this year"),
    ("last", "year"): ("去年", "上一年", "last year"),
}
_NAMED_PERIOD = {word: key for key, words in _NAMED.items() for word in words}


def read_span(text: str, today: date) -> Span:
    """A range of days for /stats, /export and /mylogs: its start not after today."""
    with _with_examples(today):
        return _read_span(text, today)


def _read_span(text: str, today: date) -> Span:
    words = normal(text).strip(_END_PUNCT)
    if not words:
        raise Unreadable("when.unreadable.range")
    span = _named_span(words, today) or _whole_span(words, today) or _two_sides(words, today)
    if span is None:
        span = _one_day_span(words, today)
    _check_span(span, today)
    return span


def _named_span(words: str, today: date) -> Span | None:
    key = _NAMED_PERIOD.get(words)
    if key is None:
        return None
    which, kind = key
    first, last = (this_period if which == "this" else last_period)(kind, today)
    return Span(first, last)


def _whole_span(words: str, today: date) -> Span | None:
    """A whole quarter, month or year: 第一季度, 3月, 2026年3月, 2026-03, 2026年, 2026."""
    if match := _QUARTER.fullmatch(words):
        return _quarter(match, today)
    if (match := _MONTH.fullmatch(words)) and (match.group("y") or match.group("yue")):
        return _month_span(match, today, start=None)
    if match := _YEAR.fullmatch(words):
        year = number(match.group("y"))
        return Span(make_date(year, 1, 1), make_date(year, 12, 31))
    return None


def _quarter(m: re.Match[str], today: date) -> Span:
    quarter = number(m.group("q") or m.group("q2"))
    year_token = m.group("y") or m.group("y2")
    first_month = 3 * quarter - 2
    year = number(year_token) if year_token else today.year
    if not year_token and date(year, first_month, 1) > today:  # 第四季度 in March: last year's
        year -= 1
    first = make_date(year, first_month, 1)
    return Span(first, make_date(year, first_month + 2, _last_of(year, first_month + 2)))


def _month_span(m: re.Match[str], today: date, start: date | None) -> Span:
    month = number(m.group("m"))
    if not 1 <= month <= 12:
        raise NoSuchDate("when.no_month", month=month)
    if m.group("y"):
        year = number(m.group("y"))
    elif start is not None:  # the end of 1月-3月: the first such month from the start
        year = start.year if month >= start.month else start.year + 1
    else:  # 12月 typed in March: last December
        year = today.year if month <= today.month else today.year - 1
    make_date(year, month, 1)
    return Span(date(year, month, 1), date(year, month, _last_of(year, month)))


def _two_sides(words: str, today: date) -> Span | None:
    """``A 至 B``: each split the separators allow, the first whose two sides read."""
    problem: WhenError | None = None
    for sep in _RANGE_SEP.finditer(words):
        left, right = words[: sep.start()], words[sep.end() :]
        if not left or not right:
            continue
        try:
            start = _side(left, today, None)
            end = _side(right, today, start) if start else None
        except NoSuchDate as error:
            problem = problem or error
            continue
        except Unreadable:
            continue
        if start is not None and end is not None:
            return Span(start.first, end.last, start.notes)
    if problem is not None:
        raise problem
    return None


def _side(words: str, today: date, start: Span | None) -> Span | None:
    """One side of a range: a month (its first or last day) or a day."""
    if (match := _MONTH.fullmatch(words)) and match.group("yue"):
        return _month_span(match, today, start.first if start else None)
    if start is not None and (match := re.fullmatch(rf"(?P<d>{N})\s*[日号]?", words)):
        return _end_day_of_month(number(match.group("d")), start.first)
    found = _whole_day(words, today, ACTIVITY_DAY)
    if found is None:
        return None
    if start is None:
        day, notes = _settle(found, today, PAST)
        return Span(day, day, notes)
    if found.month_day is not None:  # the end's year: the start's, or the next one
        month, day_of_month = found.month_day
        day = make_date(start.first.year, month, day_of_month)
        wrapped = (
            make_date(start.first.year + 1, month, day_of_month) if day < start.first else day
        )
        # 12月1日-1月31日 runs into the next year; 3月31日到3月1日 is the wrong way round.
        return (
            Span(wrapped, wrapped) if wrapped - start.first <= NEXT_YEAR_WITHIN else Span(day, day)
        )
    day, _ = _settle(found, today, PAST)
    return Span(day, day)


def _end_day_of_month(day: int, start: date) -> Span:
    # 3月1日到15日: the end is in the start's month (or the next one, 3月20日到5日)
    year, month = start.year, start.month
    if day < start.day:
        year, month = _month_index(start, 1)
    found = make_date(year, month, day)
    return Span(found, found)


def _one_day_span(words: str, today: date) -> Span:
    try:
        found = read_day(words, today, replace(ACTIVITY_DAY, earliest=None))
    except Unreadable:
        raise Unreadable("when.unreadable.range") from None
    return Span(found.day, found.day, found.notes)


def _check_span(span: Span, today: date) -> None:
    if span.last < span.first:
        raise ReversedRange(
            "when.reversed", first=span.first.isoformat(), last=span.last.isoformat()
        )
    if span.first > today:
        raise FutureDate("when.future_start", date=span.first.isoformat(), today=today.isoformat())
    if span.first < EARLIEST_DAY or (span.last - span.first).days > MAX_RANGE_DAYS:
        raise OutOfRange("when.range_too_long", earliest=EARLIEST_DAY.isoformat())


# --- days inside a free text (the quick log) ------------------------------------------------

_TEXT_ENGLISH = re.compile(
    r"\b(?:the day before yesterday|yesterday|today|last (?:mon|tues|wednes|thurs|fri|satur|sun)"
    r"day|(?:on )?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? \d{1,2}"
    r"(?:,? \d{4})?|\d{1,2} (?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*)\b",
    re.IGNORECASE,
)


_ASCII_WORD = re.compile(r"[a-z0-9.]")


def find_days(text: str, today: date, policy: Policy = ACTIVITY_DAY) -> list[Found]:
    """Every day a free text names, in order, each settled under the policy or refused."""
    found: list[Found] = []
    lowered, pos = text.lower(), 0
    while pos < len(text):
        item = _found_at(text, lowered, pos, today, policy)
        if item is None:
            pos += 1
            continue
        if item.problem is not None:  # shown later: with the examples its message may name
            for name, value in examples(today).items():
                item.problem.params.setdefault(name, value)
        found.append(item)
        pos = item.end
    return found


def _found_at(text: str, lowered: str, pos: int, today: date, policy: Policy) -> Found | None:
    if lowered[pos].isspace():
        return None
    if pos and _ASCII_WORD.match(lowered, pos - 1) and _ASCII_WORD.match(lowered, pos):
        return None  # the middle of a word or a number (13.125, march)
    if match := _TEXT_ENGLISH.match(lowered, pos):
        return _found(match.start(), match.end(), text, today, policy)
    try:
        read = _day_at(lowered, pos, today, in_text=True)
    except WhenError as error:  # 2月30日, 13月5日: named, with why
        end = _form_end(lowered, pos)
        return Found(pos, end, text[pos:end], None, error)
    if read is None:
        return None
    _, end = read
    try:  # 3月14日下午: the time goes with the day (a time that does not exist is left out)
        clock = _clock_at(lowered, end, None) if end < len(lowered) else None
    except WhenError:
        clock = None
    return _found(pos, clock[1] if clock else end, text, today, policy)


def _form_end(text: str, pos: int) -> int:
    ends = [m.end() for p, _, s in _DAY_FORMS if s and (m := p.match(text, pos))]
    return max(ends, default=pos + 1)


def _found(start: int, end: int, text: str, today: date, policy: Policy) -> Found:
    said = text[start:end]
    try:
        day = read_day(said, today, policy)
    except NoSuchDate as error:
        return Found(start, end, said, None, error)
    except WhenError as error:
        shown = _shown_of(said, today)
        return Found(start, end, said, None, _with_shown(error, shown))
    return Found(start, end, said, day.day, None, day.notes)


def _shown_of(said: str, today: date) -> str:
    read = _day_at(normal(said), 0, today)
    return read[0].shown if read else said


def _with_shown(error: WhenError, shown: str) -> WhenError:
    error.params.setdefault("said", shown)
    return error
