"""Activity logging: types and their statistical units, parsing what people type, saving,
the edit window and the daily push count. Handlers, flows, the CLI and tests call this."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import cn2an
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import people
from bot.services.dates import NoSuchDate, make_date
from bot.services.knowledge.question import asks_something
from storage import activities_repo, orgs_repo
from storage.activities_repo import ActivityMatch
from storage.activity_models import PLACE_MAX, Activity
from storage.models import Org, User

EDIT_WINDOW = timedelta(days=30)
EARLIEST_DAY = date(2000, 1, 1)
MAX_PARTICIPANTS = 1_000_000
MAX_PUSHED = 10_000
MAX_PHOTOS = 9
PAGE_SIZE = 5
PUSH_TYPE = "push"
OTHER_TYPE = "other"
QUICK_MAX = 500  # longer texts are not a one-line report


class ActivityError(Exception):
    """A refusal with a message key (and parameters) for the user."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class ActivityType:
    """A kind of activity, its official statistical unit, and words that name it in a text."""

    key: str
    unit: str  # a key of UNITS
    keywords: tuple[str, ...] = ()


# 讲座/报告会 and 展览 count in 场, trainings in 期, everything else in 项 (the yearly statistics'
# rule). A method contest (创新方法培训/大赛) is counted as a project, so it is 项 as well.
TYPES: tuple[ActivityType, ...] = (
    ActivityType("lecture", "session", ("讲座", "报告会", "宣讲", "报告", "lecture", "talk")),
    ActivityType("training", "term", ("培训", "训练营", "training")),
    ActivityType(
        "academic",
        "item",
        ("学术交流", "学术会议", "研讨会", "论坛", "学术", "academic", "seminar"),
    ),
    ActivityType("exhibition", "session", ("展览", "展示", "展出", "展会", "exhibition")),
    ActivityType("volunteer", "item", ("志愿服务", "志愿者", "志愿", "volunteer")),
    ActivityType("countryside", "item", ("送科技下乡", "科技下乡", "下乡", "countryside")),
    ActivityType(
        "science_day", "item", ("全国科普日", "科普日", "popularisation day", "science day")
    ),
    ActivityType(
        "tech_week", "item", ("科技活动周", "科技周", "s&t week", "sci-tech week", "science week")
    ),
    ActivityType(
        "workers_day",
        "item",
        ("全国科技工作者日", "科技工作者日", "科技工作者节", "workers' day", "workers day"),
    ),
    ActivityType("innovation", "item", ("创新方法", "innovation")),
    ActivityType("advice", "item", ("建言献策", "座谈会", "座谈", "advice", "symposium")),
    ActivityType("team", "item", ("创新型班组", "班组创建", "岗位创建", "team")),
    ActivityType(OTHER_TYPE, "item"),
)
PUSH = ActivityType(PUSH_TYPE, "piece")
BY_KEY = {t.key: t for t in (*TYPES, PUSH)}
UNITS = ("session", "term", "item", "piece")  # 场, 期, 项, 篇次
# Specific days and programmes first: "全国科普日讲座" is a 科普日 activity, not a lecture.
MATCH_ORDER = (
    "workers_day", "science_day", "tech_week", "innovation", "countryside", "advice", "team",
    "academic", "exhibition", "training", "volunteer", "lecture",
)  # fmt: skip
AUDIENCES = ("workers", "youth", "farmers", "residents", "scientists", "other")


def unit_of(type_key: str) -> str:
    """The statistical unit of a type (``session`` 场, ``term`` 期, ``item`` 项 …)."""
    return BY_KEY[type_key].unit if type_key in BY_KEY else "item"


# --- parsing what people type ----------------------------------------------------------------

_CN_DIGITS = "零〇一二两三四五六七八九十百千万"
_PEOPLE = re.compile(
    r"^(?:约|大约|近|逾|超过|共|共计|合计|总计|about|around|~)?\s*(?P<sign>[-−负])?\s*"
    rf"(?P<num>[0-9][0-9,.]*[万千百]?|[{_CN_DIGITS}]+)\s*"
    r"(?:余|多)?(?:人次|人|名|位|people|persons|participants)?(?:左右)?$",
    re.IGNORECASE,
)
_PEOPLE_IN_TEXT = re.compile(
    rf"(?:约|大约|近|逾|超过|共|共计)?([0-9][0-9,]*(?:\.[0-9]+)?[万千]?|[{_CN_DIGITS}]+)"
    r"(?:余|多)?(?:人次|人|名|people|participants)",
    re.IGNORECASE,
)
_WEEKDAY = re.compile(r"^(上上|上|本|这)?(?:周|星期|礼拜)([1-7日天])$")
_DAYS_AGO = re.compile(r"^(\d{1,3})天前$")
_WEEKS_AGO = re.compile(r"^(\d{1,2}|两)(?:个)?(?:周|星期|礼拜)前$")
_YMD = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})[日号]?$")
_MD = re.compile(r"^(\d{1,2})[-/.月](\d{1,2})[日号]?$")
_D = re.compile(r"^(\d{1,2})[日号]?$")  # 15号, or 15 alone
_MONTH_REL_DAY = re.compile(r"^(上上|上|本|这)个?月(\d{1,2})[日号]?$")  # 上个月15号, 本月3日
# Digits only, as a numeric keypad types them: 20260315, 0315.
_COMPACT_YMD = re.compile(r"^(20\d{2})(\d{2})(\d{2})$")
_COMPACT_MD = re.compile(r"^(\d{2})(\d{2})$")
RELATIVE_DAYS = {"今天": 0, "今日": 0, "昨天": 1, "昨日": 1, "前天": 2, "大前天": 3}
_DATE_IN_TEXT = re.compile(
    r"(大前天|前天|昨天|昨日|今天|今日|yesterday|today"
    r"|(?:上上|上|本|这)?(?:周|星期|礼拜)[一二三四五六日天]"
    r"|\d{1,3}天前|\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}[日号]?"
    r"|(?:上上|上|本|这)个?月(?:\d{1,2}|[一二三四五六七八九十]{1,3})[日号]"
    r"|(?:\d{1,2}|[一二三四五六七八九十]{1,3})月(?:\d{1,2}|[一二三四五六七八九十]{1,3})[日号])",
    re.IGNORECASE,
)
_PLACE_IN_TEXT = re.compile(
    r"在([^，,。；;！!？?\s]{2,40}?)(?:开展|举办|组织|举行|进行|召开|开设|主办|承办)"
)
_REPORT_VERBS = ("开展", "举办", "组织", "举行", "召开", "参加", "参与", "进行", "完成")
_QUESTION = re.compile(
    r"[？?]|吗|怎么|如何|什么|哪|是否|能否|可以不|^(?:what|how|when|where|which|who|why)",
    re.IGNORECASE,
)


def _normal(text: str) -> str:
    # NFKC turns full-width digits and signs (１２０, －) into ASCII, as phones often send them.
    return unicodedata.normalize("NFKC", text).strip().replace(" ", "")


def parse_participants(text: str) -> int:
    """A head count: "120", "约120人", "一百二十", "1,200余人"; refuses <= 0 and > 1,000,000."""
    match = _PEOPLE.match(_normal(text))
    if not match:
        raise ActivityError("activity.bad_participants")
    number = _number(match.group("num"))
    if match.group("sign") and number:
        raise ActivityError("activity.participants_negative")
    if number == 0:
        raise ActivityError("activity.participants_zero")
    if number > MAX_PARTICIPANTS:
        raise ActivityError("activity.participants_too_many", limit=MAX_PARTICIPANTS)
    return number


def _number(raw: str) -> int:
    raw = raw.replace(",", "")
    if raw.isdigit():
        return int(raw)
    if raw[0] in "十百千万":  # 百余人, 近千人: a leading unit means one of it
        raw = f"一{raw}"
    try:
        value = cn2an.cn2an(raw, "smart")
    except (ValueError, KeyError):
        raise ActivityError("activity.bad_participants") from None
    if value != int(value):  # "12.5 people"
        raise ActivityError("activity.bad_participants")
    return int(value)


def today_in(now: datetime, tz: ZoneInfo) -> date:
    """Today's date in the organisation's time zone."""
    return now.astimezone(tz).date()


def parse_day(text: str, today: date) -> date:
    """A past date: 今天/昨天/前天, 上周五, 3月15日, 2026-03-15, "March 15" …"""
    normal = _normal(text)
    try:
        day = _chinese_day(normal, today)
    except NoSuchDate as error:  # 2月30日, 13月1日: say which part does not exist
        raise ActivityError(error.key, **error.params) from None
    # Bare digits our patterns did not take (1332, 2026) are no date; dateparser would read
    # them as a year.
    if day is None and not normal.isdigit():
        day = _dateparser_day(text, today)
    if day is None:
        raise ActivityError("activity.bad_date")
    return check_day(day, today)


def check_day(day: date, today: date) -> date:
    """Refuse a date after today or before 2000."""
    if day > today:
        raise ActivityError("activity.date_future", today=today.isoformat())
    if day < EARLIEST_DAY:
        raise ActivityError("activity.date_too_old", earliest=EARLIEST_DAY.isoformat())
    return day


def _chinese_day(text: str, today: date) -> date | None:
    if text in RELATIVE_DAYS:
        return today - timedelta(days=RELATIVE_DAYS[text])
    # cn2an turns 三月十五日 into 3月15日 and 上周五 into 上周5, so one set of patterns serves.
    text = cn2an.transform(text, "cn2an")
    for pattern, build in _DAY_PATTERNS:
        match = pattern.match(text)
        if match:
            return build(match, today)
    return None


def _weekday(match: re.Match[str], today: date) -> date:
    prefix, name = match.groups()
    weekday = 6 if name in "日天" else int(name) - 1
    monday = today - timedelta(days=today.weekday())
    if prefix in ("本", "这"):
        return monday + timedelta(days=weekday)
    if prefix:
        weeks = 2 if prefix == "上上" else 1
        return monday - timedelta(weeks=weeks) + timedelta(days=weekday)
    # A bare 周五 in a report means the latest Friday, which may be last week's.
    return today - timedelta(days=(today.weekday() - weekday) % 7)


def _ymd(match: re.Match[str], today: date) -> date:
    return make_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))


def _month_day(match: re.Match[str], today: date) -> date:
    month, day_of_month = int(match.group(1)), int(match.group(2))
    day = make_date(today.year, month, day_of_month)
    # Without a year, a date well ahead of today means last year's (a December event in March).
    if day - today > timedelta(days=31):
        return make_date(today.year - 1, month, day_of_month)
    return day


def _day_of_month(match: re.Match[str], today: date) -> date:
    return make_date(today.year, today.month, int(match.group(1)))


def _relative_month_day(match: re.Match[str], today: date) -> date:
    back = {"上上": 2, "上": 1}.get(match.group(1), 0)
    month_index = today.year * 12 + today.month - 1 - back
    return make_date(month_index // 12, month_index % 12 + 1, int(match.group(2)))


def _compact(build: Callable[[re.Match[str], date], date]) -> Callable[..., date | None]:
    # Digits alone (0230, 20261301) that make no date are no date at all, not a wrong one.
    def read(match: re.Match[str], today: date) -> date | None:
        try:
            return build(match, today)
        except NoSuchDate:
            return None

    return read


def _weeks_ago(match: re.Match[str], today: date) -> date:
    weeks = 2 if match.group(1) == "两" else int(match.group(1))
    return today - timedelta(weeks=weeks)


_DAY_PATTERNS = (
    (_WEEKDAY, _weekday),
    (_DAYS_AGO, lambda m, today: today - timedelta(days=int(m.group(1)))),
    (_WEEKS_AGO, _weeks_ago),
    (_YMD, _ymd),
    (_COMPACT_YMD, _compact(_ymd)),
    (_MD, _month_day),
    (_COMPACT_MD, _compact(_month_day)),
    (_D, _day_of_month),
    (_MONTH_REL_DAY, _relative_month_day),
)


def _dateparser_day(text: str, today: date) -> date | None:
    import dateparser  # imported late: only unusual spellings ("March 15", "15.03.26") need it

    parsed = dateparser.parse(
        text,
        languages=["zh", "en"],
        settings={
            "RELATIVE_BASE": datetime(today.year, today.month, today.day, 12),
            "PREFER_DATES_FROM": "past",
        },
    )
    return parsed.date() if parsed else None


def clean_text(text: str, limit: int) -> str:
    """A typed text, trimmed and checked against its limit."""
    cleaned = text.strip()
    if not cleaned:
        raise ActivityError("activity.empty_text")
    if len(cleaned) > limit:
        raise ActivityError("activity.too_long", limit=limit, length=len(cleaned))
    return cleaned


def match_type(text: str) -> str | None:
    """The type a text names, by its keywords (Chinese, or English for English users)."""
    text = text.lower()
    for key in MATCH_ORDER:
        if any(word in text for word in BY_KEY[key].keywords):
            return key
    return None


# --- the quick log ---------------------------------------------------------------------------


def looks_like_report(text: str) -> bool:
    """Whether a free message reads as "we did this activity" rather than a question."""
    text = _normal(text)
    if not text or len(text) > QUICK_MAX or text.startswith("/") or _asks(text):
        return False
    if match_type(text) is None:
        return False
    has_date = _DATE_IN_TEXT.search(text) is not None
    has_verb = any(verb in text for verb in _REPORT_VERBS)
    return has_date or (has_verb and _PEOPLE_IN_TEXT.search(text) is not None)


def _asks(text: str) -> bool:
    """A question about an activity (需不需要拍照, 谁组织的) is for the policy answers."""
    return bool(_QUESTION.search(text)) or asks_something(text)


def understand(text: str, today: date) -> dict[str, Any]:
    """What a one-line report says: type, day, place, participants (form data keys)."""
    text = _normal(text)
    found: dict[str, Any] = {}
    if type_key := match_type(text):
        found["type"] = type_key
    if day := _day_in_text(text, today):
        found["day"] = day.isoformat()
    place = _PLACE_IN_TEXT.search(text)
    if place:
        found["place"] = place.group(1)[:PLACE_MAX]
    if (count := _participants_in_text(text)) is not None:
        found["participants"] = count
    return found


def _day_in_text(text: str, today: date) -> date | None:
    for match in _DATE_IN_TEXT.finditer(text):
        try:
            return parse_day(match.group(1), today)
        except ActivityError:
            continue  # a date the user got wrong is asked for again, with its own hint
    return None


def day_problem(text: str, today: date) -> ActivityError | None:
    """Why the date a report names cannot be taken (2月30日, a future day), if none can."""
    text = _normal(text)
    if _day_in_text(text, today) is not None:
        return None
    for match in _DATE_IN_TEXT.finditer(text):
        try:
            parse_day(match.group(1), today)
        except ActivityError as error:
            return error
    return None


def _participants_in_text(text: str) -> int | None:
    for match in _PEOPLE_IN_TEXT.finditer(text):
        try:
            return parse_participants(match.group(0))
        except ActivityError:
            continue
    return None


# --- saving, listing, permissions ------------------------------------------------------------


@dataclass
class ActivityFields:
    """The answers of the activity form, as plain values."""

    type: str
    title: str
    day: date
    org_id: int
    type_other: str | None = None
    place: str | None = None
    participants: int | None = None
    audience: list[str] = field(default_factory=list)
    summary: str | None = None
    photos: list[str] = field(default_factory=list)

    @classmethod
    def from_form(cls, data: dict[str, Any]) -> ActivityFields:
        """From the form's JSON data (dates as ISO strings)."""
        return cls(
            type=data["type"],
            title=data["title"],
            day=date.fromisoformat(data["day"]),
            org_id=int(data["org_id"]),
            type_other=data.get("type_other") if data["type"] == OTHER_TYPE else None,
            place=data.get("place"),
            participants=data.get("participants"),
            audience=list(data.get("audience") or []),
            summary=data.get("brief"),
            photos=list(data.get("photos") or []),
        )


def form_data(activity: Activity) -> dict[str, Any]:
    """A saved activity as form data, to edit it or to start the next one from it."""
    data = {
        "type": activity.type,
        "title": activity.title,
        "day": activity.day.isoformat(),
        "org_id": activity.org_id,
        "place": activity.place,
        "participants": activity.participants,
        "audience": list(activity.audience),
        "brief": activity.summary,
        "photos": list(activity.photos),
    }
    if activity.type == OTHER_TYPE:
        data["type_other"] = activity.type_other
    return data


async def allowed_org(
    session: AsyncSession, actor: User | None, org_id: int, superadmin: bool
) -> Org:
    """The org, when the actor may log for it: their own org or one of its subtree."""
    org = await orgs_repo.get_org(session=session, org_id=org_id)
    if org is None:
        raise ActivityError("activity.unknown_org")
    if superadmin:
        return org
    own = await own_org(session, actor)
    if own is None or not orgs_repo.contains(own, org):
        raise ActivityError("activity.org_not_yours")
    return org


async def own_org(session: AsyncSession, actor: User | None) -> Org | None:
    """The org the user belongs to."""
    if actor is None or actor.org_id is None:
        return None
    return await orgs_repo.get_org(session=session, org_id=actor.org_id)


async def create_activity(
    session: AsyncSession,
    *,
    actor: User,
    fields: ActivityFields,
    now: datetime,
    superadmin: bool = False,
) -> Activity:
    """Store a confirmed activity."""
    await allowed_org(session, actor, fields.org_id, superadmin)
    _check_fields(fields)
    activity = Activity(
        **asdict(fields),
        unit=unit_of(fields.type),
        created_by=actor.telegram_id,
        created_at=now,
    )
    return await activities_repo.add_activity(session=session, activity=activity)


def _check_fields(fields: ActivityFields) -> None:
    # The form checked each answer; this guards the CLI and stale form states.
    if fields.type not in BY_KEY or fields.type == PUSH_TYPE:
        raise ActivityError("activity.bad_type")
    if len(fields.photos) > MAX_PHOTOS:
        raise ActivityError("activity.too_many_photos", limit=MAX_PHOTOS)


async def update_activity(
    session: AsyncSession,
    *,
    activity_id: int,
    actor: User,
    fields: ActivityFields,
    now: datetime,
    superadmin: bool = False,
) -> Activity:
    """Replace an activity's answers, if the actor may still change it."""
    activity = await modifiable(session, activity_id, actor, now, superadmin=superadmin)
    if fields.org_id != activity.org_id:
        await allowed_org(session, actor, fields.org_id, superadmin)
    _check_fields(fields)
    for name, value in asdict(fields).items():
        setattr(activity, name, value)
    activity.unit = unit_of(fields.type)
    activity.updated_by, activity.updated_at = actor.telegram_id, now
    await session.flush()
    return activity


async def delete_activity(
    session: AsyncSession,
    *,
    activity_id: int,
    actor: User,
    now: datetime,
    superadmin: bool = False,
) -> Activity:
    """Mark an activity deleted (the row stays for the audit trail)."""
    activity = await modifiable(session, activity_id, actor, now, superadmin=superadmin)
    activity.deleted_by, activity.deleted_at = actor.telegram_id, now
    await session.flush()
    return activity


async def viewable(
    session: AsyncSession, activity_id: int, actor: User | None, superadmin: bool = False
) -> Activity:
    """An activity the actor may see: their own, or one in their admin subtree."""
    activity = await activities_repo.get_activity(session=session, activity_id=activity_id)
    if activity is None:
        raise ActivityError("activity.not_found")
    if actor is not None and activity.created_by == actor.telegram_id:
        return activity
    if await _administers(session, activity, actor, superadmin):
        return activity
    raise ActivityError("activity.not_found")  # someone else's record does not exist for you


async def modifiable(
    session: AsyncSession,
    activity_id: int,
    actor: User | None,
    now: datetime,
    *,
    superadmin: bool = False,
) -> Activity:
    """An activity the actor may edit or delete: their own within the window, or as admin."""
    activity = await viewable(session, activity_id, actor, superadmin)
    if await _administers(session, activity, actor, superadmin):
        return activity
    if now - activity.created_at > EDIT_WINDOW:
        raise ActivityError("activity.edit_window_over", days=EDIT_WINDOW.days)
    return activity


async def can_modify(
    session: AsyncSession, activity: Activity, actor: User | None, now: datetime, superadmin: bool
) -> bool:
    """Whether the edit and delete buttons are offered."""
    try:
        await modifiable(session, activity.id or 0, actor, now, superadmin=superadmin)
    except ActivityError:
        return False
    return True


async def _administers(
    session: AsyncSession, activity: Activity, actor: User | None, superadmin: bool
) -> bool:
    scope = await people.admin_scope(session, actor, superadmin)
    if scope is None:
        return False
    org = await orgs_repo.get_org(session=session, org_id=activity.org_id)
    return org is not None and scope.covers(org)


async def last_activity(session: AsyncSession, telegram_id: int) -> Activity | None:
    """The user's previous activity (not a push count), for "same as last time"."""
    return await activities_repo.latest_by(
        session=session, telegram_id=telegram_id, exclude_type=PUSH_TYPE
    )


@dataclass(frozen=True)
class Page:
    """One page of a user's activities."""

    items: Sequence[Activity]
    page: int
    pages: int
    total: int


async def my_page(
    session: AsyncSession, telegram_id: int, page: int, match: ActivityMatch | None = None
) -> Page:
    """Page ``page`` (from 0) of the user's activities, newest first; clamped to the last."""
    mine = {"session": session, "telegram_id": telegram_id, "match": match}
    return await _paged(activities_repo.page_by, activities_repo.count_by, mine, page)


async def org_page(
    session: AsyncSession, scope: people.Scope, page: int, match: ActivityMatch | None = None
) -> Page:
    """Page ``page`` of the activities an admin's subtree holds, whoever logged them."""
    path = scope.org.path if scope.org is not None else None
    subtree = {"session": session, "path": path, "match": match}
    return await _paged(activities_repo.page_in, activities_repo.count_in, subtree, page)


async def _paged(
    fetch: Callable[..., Awaitable[tuple[Sequence[Activity], int | None]]],
    count: Callable[..., Awaitable[int]],
    which: dict[str, Any],
    page: int,
) -> Page:
    page = max(page, 0)
    items, total = await fetch(**which, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    if total is None:  # the page came without its total: count it
        total = await count(**which)
    clamped, pages = _clamp(page, total)
    if clamped != page:  # a button from before deletions: the last page there is
        items, _ = await fetch(**which, offset=clamped * PAGE_SIZE, limit=PAGE_SIZE)
    return Page(items, clamped, pages, total)


def _clamp(page: int, total: int) -> tuple[int, int]:
    pages = max(1, -(-total // PAGE_SIZE))
    return min(max(page, 0), pages - 1), pages


@dataclass(frozen=True)
class PushResult:
    """The day's push count after adding ``added``; ``earlier`` is what was already there."""

    activity: Activity
    added: int
    earlier: int


async def record_pushed(
    session: AsyncSession, *, actor: User, count: int, now: datetime, tz: ZoneInfo
) -> PushResult:
    """Add ``count`` 篇次 of 转载推送科普信息 to today's record (one record per user and day)."""
    if not 1 <= count <= MAX_PUSHED:
        raise ActivityError("activity.push_bad_count", limit=MAX_PUSHED)
    if actor.org_id is None:
        raise ActivityError("activity.org_not_yours")
    today = today_in(now, tz)
    activity = await activities_repo.find_of_day(
        session=session, telegram_id=actor.telegram_id, type=PUSH_TYPE, day=today
    )
    if activity is not None:
        earlier = activity.amount
        activity.amount += count
        activity.updated_by, activity.updated_at = actor.telegram_id, now
        await session.flush()
        return PushResult(activity, count, earlier)
    activity = Activity(
        type=PUSH_TYPE,
        title="",
        day=today,
        org_id=actor.org_id,
        unit=PUSH.unit,
        amount=count,
        created_by=actor.telegram_id,
        created_at=now,
    )
    await activities_repo.add_activity(session=session, activity=activity)
    return PushResult(activity, count, 0)


def parse_count(text: str) -> int:
    """The N of /pushed N (digits or Chinese numerals)."""
    try:
        number = _number(_normal(text).rstrip("篇次"))
    except ActivityError:
        raise ActivityError("activity.push_bad_count", limit=MAX_PUSHED) from None
    if not 1 <= number <= MAX_PUSHED:
        raise ActivityError("activity.push_bad_count", limit=MAX_PUSHED)
    return number
