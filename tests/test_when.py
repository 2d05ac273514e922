"""The one reader of dates, times and ranges: a table of what people type, when, for whom.

Each row: the text, the moment it is typed (in Asia/Shanghai), the caller's policy, and what
the caller gets: a day (``2026-03-15``), a local moment (``2026-03-19 09:00``, for /remind
followed by `` | `` and the rest of the message), a range (``2026-01-01..2026-03-31``), or a
refusal (``!`` and its message key). A trailing ``+note`` means the reading says what it guessed.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.common.i18n import t
from bot.services import when

TZ = ZoneInfo("Asia/Shanghai")
MON = datetime(2026, 3, 16, 10, 0, tzinfo=TZ)  # the suite's clock: a Monday morning
NIGHT = datetime(2026, 3, 18, 21, 30, tzinfo=TZ)  # a Wednesday at half past nine at night
DEC = datetime(2026, 12, 5, 10, 0, tzinfo=TZ)  # a Saturday in December
LEAP = datetime(2028, 2, 20, 15, 0, tzinfo=TZ)  # a Sunday afternoon of a leap year

DAY, DEADLINE, REMIND, BROADCAST, RANGE = "day", "deadline", "remind", "broadcast", "range"

ROWS = [
    # --- days of an activity (past only, not before 2000) ------------------------------------
    ("今天", MON, DAY, "2026-03-16"),
    ("昨天", MON, DAY, "2026-03-15"),
    ("前天", MON, DAY, "2026-03-14"),
    ("大前天", MON, DAY, "2026-03-13"),
    ("昨晚", NIGHT, DAY, "2026-03-17"),
    ("明天", MON, DAY, "!when.future_day"),
    ("后天", MON, DAY, "!when.future_day"),
    ("周五", MON, DAY, "2026-03-13"),  # the latest Friday
    ("星期一", MON, DAY, "2026-03-16"),  # today is one
    ("礼拜三", NIGHT, DAY, "2026-03-18"),
    ("周日", MON, DAY, "2026-03-15"),
    ("上周五", MON, DAY, "2026-03-13"),
    ("上星期日", MON, DAY, "2026-03-15"),
    ("上上周一", NIGHT, DAY, "2026-03-02"),
    ("本周五", MON, DAY, "!when.future_day"),
    ("下周三", MON, DAY, "!when.future_day"),
    ("3月15日", MON, DAY, "2026-03-15"),
    ("3月15号", MON, DAY, "2026-03-15"),
    ("三月十五日", MON, DAY, "2026-03-15"),
    ("3.15", MON, DAY, "2026-03-15"),
    ("3/15", MON, DAY, "2026-03-15"),
    ("2026-03-15", MON, DAY, "2026-03-15"),
    ("2026年3月15日", MON, DAY, "2026-03-15"),
    ("二〇二六年三月十五日", MON, DAY, "2026-03-15"),
    ("２０２６－０３－１５", MON, DAY, "2026-03-15"),  # full-width, as phones send it
    ("2026.3.1", MON, DAY, "2026-03-01"),
    ("20260315", MON, DAY, "2026-03-15"),
    ("0315", MON, DAY, "2026-03-15"),
    ("15", MON, DAY, "2026-03-15"),
    ("15号", MON, DAY, "2026-03-15"),
    ("20号", MON, DAY, "2026-02-20+note"),  # this month's is ahead: last month's
    ("上个月15号", MON, DAY, "2026-02-15"),
    ("上月15日", MON, DAY, "2026-02-15"),
    ("上个月十五号", MON, DAY, "2026-02-15"),
    ("上上个月3号", MON, DAY, "2026-01-03"),
    ("本月3号", MON, DAY, "2026-03-03"),
    ("去年9月20号", MON, DAY, "2025-09-20"),
    ("月初", MON, DAY, "2026-03-01"),
    ("上月底", MON, DAY, "2026-02-28"),
    ("月底", MON, DAY, "!when.future_day"),
    ("三天前", MON, DAY, "2026-03-13"),
    ("一周前", MON, DAY, "2026-03-09"),
    ("两周前", MON, DAY, "2026-03-02"),
    ("3天后", MON, DAY, "!when.future_day"),
    ("3月14日下午", MON, DAY, "2026-03-14"),
    ("12月5日", MON, DAY, "2025-12-05+note"),  # a December day typed in March: last year's
    ("3月20日", NIGHT, DAY, "2025-03-20+note"),  # still ahead this year: the latest one
    ("5.30", NIGHT, DAY, "2025-05-30+note"),
    ("yesterday", MON, DAY, "2026-03-15"),
    ("last monday", NIGHT, DAY, "2026-03-16"),
    ("March 15", MON, DAY, "2026-03-15"),
    ("2026-03-20", MON, DAY, "!when.future_day"),
    ("20270101", MON, DAY, "!when.future_day"),
    ("1999-12-31", MON, DAY, "!when.too_early"),
    ("2月30日", MON, DAY, "!when.no_day"),
    ("二月三十日", MON, DAY, "!when.no_day"),
    ("2026-02-30", MON, DAY, "!when.no_day"),
    ("13月1日", MON, DAY, "!when.no_month"),
    ("2026-13-01", MON, DAY, "!when.no_month"),  # dateparser read it as 13 January
    ("2026-02-29", MON, DAY, "!when.no_leap_day"),
    ("今年2月29号", MON, DAY, "!when.no_leap_day"),
    ("上个月31号", MON, DAY, "!when.no_day"),  # February has no 31st
    ("32号", MON, DAY, "!when.no_day"),
    ("0230", MON, DAY, "!when.unreadable.day"),  # digits that make no date are no date
    ("2026", MON, DAY, "!when.unreadable.day"),  # a year alone is no day
    ("1332", MON, DAY, "!when.unreadable.day"),
    ("随便哪天", MON, DAY, "!when.unreadable.day"),
    ("", MON, DAY, "!when.unreadable.day"),
    # --- deadlines (future only; a day alone means 18:00) ------------------------------------
    ("12月9日", MON, DEADLINE, "2026-12-09 18:00"),
    ("12月9日 9:30", MON, DEADLINE, "2026-12-09 09:30"),
    ("12月9日 18:00", MON, DEADLINE, "2026-12-09 18:00"),
    ("2026-12-09 18:00", MON, DEADLINE, "2026-12-09 18:00"),
    ("3月20日下午5点", MON, DEADLINE, "2026-03-20 17:00"),
    ("下周三", MON, DEADLINE, "2026-03-25 18:00"),
    ("下周三 12:00", MON, DEADLINE, "2026-03-25 12:00"),
    ("周五", MON, DEADLINE, "2026-03-20 18:00"),  # the coming Friday
    ("一周后", MON, DEADLINE, "2026-03-23 18:00"),
    ("两周后", MON, DEADLINE, "2026-03-30 18:00"),
    ("月底", MON, DEADLINE, "2026-03-31 18:00"),
    ("下个月底", MON, DEADLINE, "2026-04-30 18:00"),
    ("月初", MON, DEADLINE, "2026-04-01 18:00"),  # this month's has gone: the next one
    ("1月5日", MON, DEADLINE, "!when.past_day"),  # passed in January, next one ten months off
    ("1月5日", DEC, DEADLINE, "2027-01-05 18:00+note"),  # typed in December: next January
    ("12月1日", DEC, DEADLINE, "!when.past_day"),  # passed four days ago: said, not moved
    ("2027年12月1日", DEC, DEADLINE, "2027-12-01 18:00"),
    ("3月16日 8点", MON, DEADLINE, "!when.past_moment"),
    ("2026-03-16 09:00", MON, DEADLINE, "!when.past_moment"),
    ("2025-12-09", MON, DEADLINE, "!when.past_moment"),
    ("next friday", MON, DEADLINE, "2026-03-20 18:00"),
    ("2026-12-09 6pm", MON, DEADLINE, "2026-12-09 18:00"),
    ("13月40日", MON, DEADLINE, "!when.no_month"),
    ("4月31日 18:00", MON, DEADLINE, "!when.no_day"),
    ("12月9日 25:00", MON, DEADLINE, "!when.no_hour"),
    ("12月9日 18:75", MON, DEADLINE, "!when.no_minute"),
    ("0001/1/1 0:00", MON, DEADLINE, "!when.no_year"),
    ("下个月吧", MON, DEADLINE, "!when.unreadable.moment"),
    ("12月9日 下班前", MON, DEADLINE, "!when.unreadable.moment"),
    # --- /remind (future; a day without a time: 09:00; the rest is the reminder) -----------
    ("明天上午9点 提交照片", MON, REMIND, "2026-03-17 09:00 | 提交照片"),
    ("明天上午九点提交照片", MON, REMIND, "2026-03-17 09:00 | 提交照片"),
    ("2026-03-20 15:00 开会", MON, REMIND, "2026-03-20 15:00 | 开会"),
    ("3天后 报送总结", MON, REMIND, "2026-03-19 09:00 | 报送总结"),
    ("3天后 报送总结", NIGHT, REMIND, "2026-03-21 09:00 | 报送总结"),  # not 21:30
    ("三天后 交材料", NIGHT, REMIND, "2026-03-21 09:00 | 交材料"),
    ("明天 交材料", NIGHT, REMIND, "2026-03-19 09:00 | 交材料"),
    ("下周一 9:00 例会", MON, REMIND, "2026-03-23 09:00 | 例会"),
    ("今晚8点 打电话", MON, REMIND, "2026-03-16 20:00 | 打电话"),
    ("下午3点半 开会", MON, REMIND, "2026-03-16 15:30 | 开会"),
    ("晚上八点 开会", MON, REMIND, "2026-03-16 20:00 | 开会"),
    ("中午 吃饭", MON, REMIND, "2026-03-16 12:00 | 吃饭"),
    ("傍晚 散步", MON, REMIND, "2026-03-16 18:00 | 散步"),
    ("九点三刻 出发", MON, REMIND, "2026-03-17 09:45 | 出发"),  # 09:45 has passed today
    ("十点十分 出发", MON, REMIND, "2026-03-16 10:10 | 出发"),
    ("两小时后 喝水", MON, REMIND, "2026-03-16 12:00 | 喝水"),
    ("半小时后 喝水", MON, REMIND, "2026-03-16 10:30 | 喝水"),
    ("12月9日 报送", MON, REMIND, "2026-12-09 09:00 | 报送"),
    ("9:30 晨会", MON, REMIND, "2026-03-17 09:30 | 晨会"),  # 09:30 has passed today
    ("15:30 开会", MON, REMIND, "2026-03-16 15:30 | 开会"),
    ("周一 9点 例会", MON, REMIND, "2026-03-23 09:00 | 例会"),  # today's 9:00 has passed
    ("tomorrow 9am call back", MON, REMIND, "2026-03-17 09:00 | call back"),
    ("next friday 9am report", NIGHT, REMIND, "2026-03-20 09:00 | report"),
    ("in 3 days send it", NIGHT, REMIND, "2026-03-21 09:00 | send it"),
    ("3pm meeting", MON, REMIND, "2026-03-16 15:00 | meeting"),
    ("今天 交材料", NIGHT, REMIND, "!when.past_moment"),  # 09:00 today has gone
    ("last monday 开会", NIGHT, REMIND, "!when.past_moment"),
    ("13月40日 开会", MON, REMIND, "!when.no_month"),
    ("明天25点 开会", MON, REMIND, "!when.no_hour"),
    ("2026-02-30 09:00 开会", MON, REMIND, "!when.no_day"),
    ("2026-03-20 25:00 开会", MON, REMIND, "!when.no_hour"),
    ("2912369天后 开会", MON, REMIND, "!when.too_far"),
    ("0001-01-01 00:00 开会", MON, REMIND, "!when.no_year"),
    ("随便 看看", MON, REMIND, "!when.unreadable.remind"),
    ("开会 明天", MON, REMIND, "!when.unreadable.remind"),
    ("0001;1;1 0 开会", MON, REMIND, "!when.unreadable.remind"),
    # --- a broadcast's start (future, within 60 days; a time must be said) --------------------
    ("12月8日 9:00", datetime(2026, 11, 20, 15, 0, tzinfo=TZ), BROADCAST, "2026-12-08 09:00"),
    ("明天上午9点", MON, BROADCAST, "2026-03-17 09:00"),
    ("明天", MON, BROADCAST, "!when.need_time"),
    ("2026-03-20 09:00", MON, BROADCAST, "2026-03-20 09:00"),
    ("03-20 09:00", MON, BROADCAST, "2026-03-20 09:00"),
    ("09:00", MON, BROADCAST, "2026-03-17 09:00"),  # typed after nine: tomorrow
    ("12月8日 9:00", MON, BROADCAST, "!when.too_far_ahead"),
    ("2028-02-29 09:00", LEAP, BROADCAST, "2028-02-29 09:00"),
    ("02-29 09:00", LEAP, BROADCAST, "2028-02-29 09:00"),  # strptime's year 1900 refused it
    ("02-30 09:00", LEAP, BROADCAST, "!when.no_day"),
    ("2028-13-01 09:00", LEAP, BROADCAST, "!when.no_month"),
    ("25:00", LEAP, BROADCAST, "!when.no_hour"),
    ("09:60", LEAP, BROADCAST, "!when.no_minute"),
    ("2027-02-29 09:00", LEAP, BROADCAST, "!when.no_leap_day"),
    ("昨天 9:00", MON, BROADCAST, "!when.past_moment"),
    ("尽快", MON, BROADCAST, "!when.unreadable.moment"),
    # --- ranges of /stats, /export and /mylogs (their start not after today) --------------
    ("2026-01-01 至 2026-03-31", MON, RANGE, "2026-01-01..2026-03-31"),
    ("1月1日-3月31日", MON, RANGE, "2026-01-01..2026-03-31"),
    ("2026.1.1~2026.3.15", MON, RANGE, "2026-01-01..2026-03-15"),
    ("2026-01-01-2026-02-28", MON, RANGE, "2026-01-01..2026-02-28"),
    ("2026-01-01 - 2026-02-28", MON, RANGE, "2026-01-01..2026-02-28"),
    ("十二月一日到一月三十一日", MON, RANGE, "2025-12-01..2026-01-31+note"),
    ("2025-10-01 to 2025-12-31", MON, RANGE, "2025-10-01..2025-12-31"),
    ("3月1日到15日", MON, RANGE, "2026-03-01..2026-03-15"),
    ("1月-3月", MON, RANGE, "2026-01-01..2026-03-31"),
    ("3月", MON, RANGE, "2026-03-01..2026-03-31"),
    ("三月", MON, RANGE, "2026-03-01..2026-03-31"),
    ("12月", MON, RANGE, "2025-12-01..2025-12-31"),  # last December
    ("2026年2月", MON, RANGE, "2026-02-01..2026-02-28"),
    ("2026-02", MON, RANGE, "2026-02-01..2026-02-28"),
    ("本周", MON, RANGE, "2026-03-16..2026-03-16"),
    ("上周", MON, RANGE, "2026-03-09..2026-03-15"),
    ("本月", MON, RANGE, "2026-03-01..2026-03-16"),
    ("上个月", MON, RANGE, "2026-02-01..2026-02-28"),
    ("本季度", MON, RANGE, "2026-01-01..2026-03-16"),
    ("上季度", MON, RANGE, "2025-10-01..2025-12-31"),
    ("第一季度", MON, RANGE, "2026-01-01..2026-03-31"),
    ("2025年第四季度", MON, RANGE, "2025-10-01..2025-12-31"),
    ("今年", MON, RANGE, "2026-01-01..2026-03-16"),
    ("去年", MON, RANGE, "2025-01-01..2025-12-31"),
    ("2026年", MON, RANGE, "2026-01-01..2026-12-31"),
    ("2025", MON, RANGE, "2025-01-01..2025-12-31"),
    ("last month", MON, RANGE, "2026-02-01..2026-02-28"),
    ("this quarter", MON, RANGE, "2026-01-01..2026-03-16"),
    ("昨天", MON, RANGE, "2026-03-15..2026-03-15"),
    ("上周五", MON, RANGE, "2026-03-13..2026-03-13"),
    ("2026-03-31 至 2026-01-01", MON, RANGE, "!when.reversed"),
    ("3月31日到3月1日", MON, RANGE, "!when.reversed"),
    ("2026-04-01 至 2026-04-30", MON, RANGE, "!when.future_start"),
    ("1990-01-01 至 2026-01-01", MON, RANGE, "!when.range_too_long"),
    ("2026-02-30 至 2026-03-31", MON, RANGE, "!when.no_day"),
    ("1月1日 至 2月29日", MON, RANGE, "!when.no_leap_day"),
    ("2026-13-01 至 2026-03-31", MON, RANGE, "!when.no_month"),
    ("13月", MON, RANGE, "!when.no_month"),
    ("0000年", MON, RANGE, "!when.no_year"),
    ("3月5日到", MON, RANGE, "!when.unreadable.range"),
    ("上个季度吧", MON, RANGE, "!when.unreadable.range"),
]


def _read(text: str, now: datetime, reader: str) -> str:
    if reader == DAY:
        day = when.read_day(text, now.date())
        return day.day.isoformat() + ("+note" if day.notes else "")
    if reader == RANGE:
        span = when.read_span(text, now.date())
        return f"{span.first}..{span.last}" + ("+note" if span.notes else "")
    if reader == REMIND:
        moment, rest = when.read_leading_moment(text, now, TZ, when.REMINDER)
        return f"{_local(moment)} | {rest}"
    policy = when.DEADLINE if reader == DEADLINE else when.BROADCAST
    return _local(when.read_moment(text, now, TZ, policy))


def _local(moment: when.Moment) -> str:
    assert moment.at.tzinfo is not None and moment.at == moment.local
    shown = moment.local.astimezone(TZ).strftime("%Y-%m-%d %H:%M")
    return shown + ("+note" if moment.notes else "")


@pytest.mark.parametrize(("text", "now", "reader", "expected"), ROWS)
def test_the_reader(text, now, reader, expected):
    try:
        got = _read(text, now, reader)
    except when.WhenError as refusal:
        got = f"!{refusal.key}"
    assert got == expected


def test_the_table_is_big_enough():
    assert len(ROWS) >= 120


# Each kind of refusal is its own type, so a caller may tell them apart.
@pytest.mark.parametrize(
    ("text", "reader", "kind"),
    [
        ("2月30日", DAY, when.NoSuchDate),
        ("明天", DAY, when.FutureDate),
        ("2026-03-16 09:00", DEADLINE, when.PastDate),
        ("2026-03-31 至 2026-01-01", RANGE, when.ReversedRange),
        ("随便", DAY, when.Unreadable),
        ("明天", BROADCAST, when.NeedTime),
        ("1999-12-31", DAY, when.OutOfRange),
    ],
)
def test_refusals_are_typed(text, reader, kind):
    with pytest.raises(kind):
        _read(text, MON, reader)


PAST_DAY_ZH = "12月1日已经过了（今天是 2026-12-05）。如果指明年的，请写上年份，如“2027年12月1日”。"
PAST_DAY_EN = (
    "12月1日 has passed (today is 2026-12-05). For next year's, write the year: “2027年12月1日”."
)
REVERSED_ZH = "结束日期 2026-01-01 早于开始日期 2026-03-31，请按“开始 至 结束”的顺序重新输入。"
REVERSED_EN = (
    "The end, 2026-01-01, comes before the start, 2026-03-31; please type them as “start to end”."
)


@pytest.mark.parametrize(
    ("text", "now", "reader", "zh", "en"),
    [
        ("2月30日", MON, DAY, "2月没有30日。", "Month 2 has no day 30."),
        ("13月40日", MON, DEADLINE,
            "没有13月（月份是 1–12）。", "There is no month 13 (months are 1–12)."),
        ("12月9日 25:00", MON, DEADLINE,
            "没有25点（小时是 0–23）。", "There is no hour 25 (hours are 0–23)."),
        ("0001/1/1 0:00", MON, DEADLINE, "年份 1 不对。", "1 is not a year I can use."),
        ("12月1日", DEC, DEADLINE, PAST_DAY_ZH, PAST_DAY_EN),
        ("明天", MON, DAY, "2026-03-17 还没到（今天是 2026-03-16），请写已经举办的日期。",
            "2026-03-17 is still ahead (today is 2026-03-16); please give the day it took place."),
        ("2026-03-31 至 2026-01-01", MON, RANGE, REVERSED_ZH, REVERSED_EN),
    ],
)  # fmt: skip
def test_refusals_say_what_was_wrong_in_both_languages(text, now, reader, zh, en):
    with pytest.raises(when.WhenError) as refused:
        _read(text, now, reader)
    error = refused.value
    assert (t("zh_CN", error.key, **error.params), t("en", error.key, **error.params)) == (zh, en)


def test_a_guessed_year_is_said():
    day = when.read_day("3月20日", NIGHT.date())
    [note] = day.notes
    assert t("zh_CN", note.key, **note.params) == "“3月20日”按 2025-03-20 记，如不对请修改。"


def test_days_inside_a_free_text_are_found_with_their_problems():
    found = when.find_days(
        "3月16日下午，也就是这周一，2月30日补录，每周一例会，3号楼", NIGHT.date()
    )
    assert [(f.said, f.day and f.day.isoformat()) for f in found if f.problem is None] == [
        ("3月16日下午", "2026-03-16"),
        ("这周一", "2026-03-16"),
    ]  # 每周一 is a habit and 3号楼 a building, not days
    [refused] = [f for f in found if f.problem is not None]
    assert (refused.said, refused.problem.key) == ("2月30日", "when.no_day")
