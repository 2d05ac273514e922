"""When a /remind should fire: Chinese time expressions first, ISO, then dateparser.

Our own layer reads what people type in Chinese (明天上午9点, 下午3点半, 3天后, 下周一 9:00,
12月9日, 今晚8点) because dateparser reads 上午/下午 and 周X unreliably; numerals may be Chinese
(九点, 三天后: cn2an). Whatever our layer does not know (``tomorrow 9am``, ``in 2 hours``)
goes to dateparser, relative to the user's "now" in the organisation's zone.
The time expression comes first; the rest of the message is the reminder's text.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import cn2an
import dateparser

from bot.services.dates import NoSuchDate, make_date, make_time

DEFAULT_AT = time(9, 0)  # a day without a time: 09:00
_N = r"(?:\d+|[零〇一二两三四五六七八九十百]+)"
_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]+(\d{1,2})[:：](\d{2}))?")
_OFFSET = re.compile(
    rf"^(?:(半)|({_N})\s*个?\s*(半)?)\s*(分钟|分|小时|钟头|天|周|星期|礼拜)\s*(?:以后|之后|后)"
)
_DAY_WORD = r"今天|今日|今晚|今早|明天|明日|明早|明晚|后天|大后天"
_WEEKDAY = r"(下个?|本|这个?)?\s*(?:周|星期|礼拜)([一二三四五六日天1-7])"
_MONTH_DAY = rf"(?:({_N})\s*月\s*)?({_N})\s*[日号]"
_HALF = r"凌晨|早上|早晨|上午|中午|下午|傍晚|晚上"
_TIME = rf"({_HALF})?\s*({_N})\s*(?:[:：]\s*(\d{{2}})|点\s*(?:(半|一刻|三刻)|({_N})\s*分?)?|时)"
_DAY_TIME = re.compile(rf"^(?:({_DAY_WORD})|{_WEEKDAY}|{_MONTH_DAY})?\s*(?:{_TIME}|({_HALF}))?")
_WEEKDAYS = (
    {c: i for i, c in enumerate("一二三四五六日")}
    | {"天": 6}
    | {str(n): n - 1 for n in range(1, 8)}
)
_DAY_OFFSET = {"今": 0, "明": 1, "后": 2, "大": 3}
_EVENING = ("下午", "傍晚", "晚上", "今晚", "明晚")
_UNITS = {"分钟": 1, "分": 1, "小时": 60, "钟头": 60, "天": 1440, "周": 10080}
_HALF_DEFAULT = {"早上": 8, "早晨": 8, "上午": 9, "中午": 12, "下午": 15, "傍晚": 18, "晚上": 20}


class BadTime(ValueError):
    """The text does not start with a time we can read.

    One that reads as a date or time that does not exist (2026-02-30, 25点) raises
    `bot.services.dates.NoSuchDate` instead, which says what is wrong with it.
    """


def parse_when(text: str, now: datetime, tz: ZoneInfo) -> tuple[datetime, str]:
    """The aware UTC moment a message starts with, and the rest of the message."""
    words = text.strip()
    local_now = now.astimezone(tz)
    for reader in (_iso, _offset, _day_time):
        found = reader(words, local_now)
        if found is not None:
            moment, rest = found
            return moment.astimezone(UTC), rest.strip()
    return _dateparser(words, local_now)


def _number(token: str) -> int:
    return int(token) if token.isdigit() else int(cn2an.cn2an(token, "smart"))


def _iso(words: str, now: datetime) -> tuple[datetime, str] | None:
    match = _ISO.match(words)
    if not match:
        return None
    year, month, day, hour, minute = (int(g) if g else None for g in match.groups())
    at = make_time(hour, minute or 0) if hour is not None else DEFAULT_AT
    return _combine(make_date(year, month, day), at, now), words[match.end() :]  # type: ignore[arg-type]


def _offset(words: str, now: datetime) -> tuple[datetime, str] | None:
    match = _OFFSET.match(words)
    if not match:
        return None
    only_half, amount, plus_half, unit = match.groups()
    count = 0.5 if only_half else _number(amount) + (0.5 if plus_half else 0)
    minutes = count * _UNITS.get(unit, 10080)
    try:
        return now + timedelta(minutes=minutes), words[match.end() :]
    except OverflowError:  # 2912369天后 lies past the year 9999
        raise NoSuchDate("when.too_far") from None


def _day_time(words: str, now: datetime) -> tuple[datetime, str] | None:
    match = _DAY_TIME.match(words)
    if not match or not match.group(0).strip():
        return None
    groups = match.groups()
    day_word, week_prefix, weekday, month, day_of_month = groups[:5]
    day = _day(now.date(), day_word, week_prefix, weekday, month, day_of_month)
    at = _time(day_word, *groups[5:])
    if day is None:  # only a time: today if it is still ahead, else tomorrow
        day = now.date() if _combine(now.date(), at, now) > now else now.date() + timedelta(1)
    return _combine(day, at, now), words[match.end() :]


def _day(
    today: date,
    day_word: str | None,
    week_prefix: str | None,
    weekday: str | None,
    month: str | None,
    day_of_month: str | None,
) -> date | None:
    if day_word:
        return today + timedelta(_DAY_OFFSET[day_word[0]])
    if weekday:
        return _weekday(today, week_prefix, _WEEKDAYS[weekday])
    if day_of_month:
        return _month_day(today, month, _number(day_of_month))
    return None


def _weekday(today: date, prefix: str | None, target: int) -> date:
    monday = today - timedelta(today.weekday())
    if prefix and prefix.startswith("下"):
        return monday + timedelta(7 + target)
    if prefix:  # 本周 / 这周: this week's, even when it is past (refused as past later)
        return monday + timedelta(target)
    return today + timedelta((target - today.weekday()) % 7)  # the next one (today counts)


def _month_day(today: date, month: str | None, day: int) -> date:
    # A day that does not exist in the month meant (4月31日, 31号 in April) is NoSuchDate.
    if month is None:
        if day >= today.day:
            return make_date(today.year, today.month, day)
        next_month = today.replace(day=1) + timedelta(32)
        return make_date(next_month.year, next_month.month, day)
    number = _number(month)
    found = make_date(today.year, number, day)
    return found if found >= today else make_date(today.year + 1, number, day)


def _time(
    day_word: str | None,
    half: str | None,
    hour: str | None,
    minute: str | None,
    fraction: str | None,
    minute_cn: str | None,
    half_only: str | None,
) -> time:
    if hour is None:
        return time(_HALF_DEFAULT.get(half_only or "", DEFAULT_AT.hour), 0)
    value = _number(hour)
    minutes = int(minute) if minute else 0
    minutes = {"半": 30, "一刻": 15, "三刻": 45}.get(fraction or "", minutes)
    if minute_cn:
        minutes = _number(minute_cn)
    period = half or (day_word if day_word in _EVENING else None)
    if (period in _EVENING and value < 12) or (period == "中午" and value < 6):
        value += 12
    return make_time(value, minutes)


def _combine(day: date, at: time, now: datetime) -> datetime:
    return datetime.combine(day, at, tzinfo=now.tzinfo)


def _dateparser(words: str, now: datetime) -> tuple[datetime, str]:
    tokens = words.split()
    settings = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": now.replace(tzinfo=None),
        "TIMEZONE": str(now.tzinfo),
        "RETURN_AS_TIMEZONE_AWARE": True,
    }
    # The longest leading run of words that reads as a time (at most four words).
    for size in range(min(4, len(tokens) - 1), 0, -1):
        try:
            moment = dateparser.parse(
                " ".join(tokens[:size]), languages=["zh", "en"], settings=settings
            )
        except OverflowError:  # 0001;1;1: a moment of year 1 has none in UTC
            continue
        if moment is not None:
            return moment.astimezone(UTC), " ".join(tokens[size:])
    raise BadTime(words)
