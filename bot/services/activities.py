"""Activity logging: types and their statistical units, parsing what people type, saving,
the edit window and the daily push count. Handlers, flows, the CLI and tests call this."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import cn2an
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import people, when
from bot.services.errors import UserError
from storage import activities_repo, orgs_repo
from storage.activities_repo import ActivityMatch
from storage.activity_models import Activity
from storage.models import Org, User

EDIT_WINDOW = timedelta(days=30)
MAX_PARTICIPANTS = 1_000_000
MAX_PUSHED = 10_000
MAX_AMOUNT = 1000  # 场/期/项 one record counts
MAX_PHOTOS = 9
PAGE_SIZE = 5
PUSH_TYPE = "push"
OTHER_TYPE = "other"


class ActivityError(UserError):
    """A refusal with a message key (and parameters) for the user."""


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
    ActivityType(
        "exhibition",
        "session",
        ("展览", "展示", "展出", "展会", "科普展", "成果展", "流动科技", "exhibition"),
    ),
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


def type_keywords(type_key: str) -> tuple[str, ...]:
    """The words that name a type in a text."""
    return BY_KEY[type_key].keywords


def unit_of(type_key: str) -> str:
    """The statistical unit of a type (``session`` 场, ``term`` 期, ``item`` 项 …)."""
    return BY_KEY[type_key].unit if type_key in BY_KEY else "item"


# --- parsing what people type ----------------------------------------------------------------

_CN_DIGITS = "零〇一二两三四五六七八九十百千万"
# Who is counted, after a number and an optional measure word (八十个学生, 两百多名群众,
# 80 students): the activity text reader (`activity_text`) finds counts in reports by them too.
PEOPLE_NOUNS = (
    "人次|号人|人|学生|师生|同学|孩子|儿童|青少年|中小学生|小学生|中学生|大学生|家长|群众|居民|村民|"
    "牧民|农民|农牧民|职工|员工|工人|干部|党员|老人|老年人|妇女|游客|市民|观众|听众|学员|代表|"
    "人员|科技工作者|people|persons|participants|attendees|students|residents|villagers|"
    "farmers|visitors|workers|members|kids|children"
)
_NUMBER = rf"[0-9][0-9,.]*[万千百]?|上[百千万]|[{_CN_DIGITS}]+"
_PEOPLE = re.compile(
    r"^(?P<about>约|大约|大概|差不多|近|将近|逾|超过|有|共|共计|合计|总计|"
    r"about|around|approximately|approx\.?|roughly|nearly|almost|over|more than|~)?\s*"
    rf"(?P<sign>[-−负])?\s*(?P<num>{_NUMBER})"
    rf"(?:\s*(?:-|~|～|至|到|to)\s*(?P<upper>{_NUMBER}))?\s*"
    r"(?P<more>余|多|来|几|\+)?\s*(?:个|名|位)?\s*"
    rf"(?:{PEOPLE_NOUNS})?\s*(?P<after>左右|上下|出头|or so)?"
    # A closing particle changes nothing: 两百来人吧, 一百人左右吧.
    r"\s*(?P<particle>(?:吧|啊|呢|呀|哈|啦|哦)*)$",
    re.IGNORECASE,
)
# The exact totals: 共 120 人 is a count, 约 120 人 a guess.
_EXACT_ABOUT = ("", "有", "共", "共计", "合计", "总计")


class Rough(StrEnum):
    """How a head count was given when it was no exact number."""

    EXACT = ""
    ABOUT = "about"  # 约200人, 30多人, 一百来人, 八十个学生左右: taken as the number said
    RANGE = "range"  # 五六十, 50-60人: taken at its lower end


@dataclass(frozen=True)
class HeadCount:
    """A head count as read: the number taken, and how rough the words were."""

    value: int
    rough: Rough = Rough.EXACT


def _normal(text: str) -> str:
    # NFKC turns full-width digits and signs (１２０, －) into ASCII, as phones often send them.
    return unicodedata.normalize("NFKC", text).strip().replace(" ", "")


def read_head_count(text: str) -> HeadCount:
    """A head count as people write it: "120", "约120人", "一百二十", "1,200余人", "30多人",
    "一百来人", "八十个学生左右", "五六十个居民" (its lower end, 50), "50-60人", "about 80
    people"; refuses <= 0 and > 1,000,000."""
    plain = unicodedata.normalize("NFKC", text).strip()
    match = _PEOPLE.match(re.sub(r"(?<=[^\x00-\x7f]) | (?=[^\x00-\x7f])", "", plain))
    if not match:
        raise ActivityError("activity.bad_participants")
    number = _number(match.group("num"))
    if match.group("sign") and number:
        raise ActivityError("activity.participants_negative")
    if number == 0:
        raise ActivityError("activity.participants_zero")
    if number > MAX_PARTICIPANTS:
        raise ActivityError("activity.participants_too_many", limit=MAX_PARTICIPANTS)
    return HeadCount(number, _roughness(match))


def _roughness(match: re.Match[str]) -> Rough:
    raw = match.group("num").replace(",", "")
    if match.group("upper") or _NEIGHBOURS.match(raw):
        return Rough.RANGE
    about = (match.group("about") or "").lower()
    guess = "吧" in match.group("particle")  # 100人吧: a guess, as 约100人
    if about not in _EXACT_ABOUT or match.group("more") or match.group("after") or guess:
        return Rough.ABOUT
    return Rough.ABOUT if raw.startswith("上") else Rough.EXACT


def parse_participants(text: str) -> int:
    """A head count's number (`read_head_count`)."""
    return read_head_count(text).value


def _number(raw: str) -> int:
    value = head_count(raw)
    if value is None:
        raise ActivityError("activity.bad_participants")
    return value


_NEIGHBOURS = re.compile(r"^([一二三四五六七八九])([一二三四五六七八九])([十百千万])$")


def head_count(raw: str) -> int | None:
    """A number of people as written: 120, 1,200, 1.2万, 一百二十, 千 (1000), 上百 (100), 五六十
    (50, the lower of two neighbours); None when it is no whole number."""
    raw = raw.replace(",", "").replace(" ", "")
    if raw.isascii() and raw.isdigit():
        return int(raw)
    if pair := _NEIGHBOURS.match(raw):
        raw = pair.group(1) + pair.group(3)
    if raw.startswith("上"):  # 上百人: a hundred or so
        raw = raw[1:]
    if raw[:1] in ("十", "百", "千", "万"):  # 百余人, 近千人: a leading unit means one of it
        raw = f"一{raw}"
    try:
        value = cn2an.cn2an(raw, "smart")
    except (ValueError, KeyError):
        return None
    return int(value) if value == int(value) else None  # "12.5 people" is no count


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
        if any(keyword_in(word).search(text) for word in BY_KEY[key].keywords):
            return key
    return None


def keyword_in(word: str) -> re.Pattern[str]:
    """A type's word as found in a text: English words whole ("team" is no 班组 in "our team
    gave a lecture"), Chinese ones anywhere."""
    return re.compile(rf"\b{re.escape(word)}\b" if word.isascii() else re.escape(word))


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
    amount: int = 1  # 3场, 两期: how many of its unit the record counts

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
            amount=int(data.get("amount") or 1),
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
    if activity.amount != 1:  # the amount step is shown only for a record counting several
        data["amount"] = activity.amount
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
    if not 1 <= fields.amount <= MAX_AMOUNT:
        raise ActivityError("activity.bad_amount", limit=MAX_AMOUNT)


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
    today = when.today_in(now, tz)
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


def parse_amount(text: str) -> int:
    """How many 场/期/项 a record counts: 3, 三, 3场, 两期."""
    value = head_count(_normal(text).rstrip("场期项次"))
    if value is None or not 1 <= value <= MAX_AMOUNT:
        raise ActivityError("activity.bad_amount", limit=MAX_AMOUNT)
    return value


def parse_count(text: str) -> int:
    """The N of /pushed N (digits or Chinese numerals)."""
    try:
        number = _number(_normal(text).rstrip("篇次"))
    except ActivityError:
        raise ActivityError("activity.push_bad_count", limit=MAX_PUSHED) from None
    if not 1 <= number <= MAX_PUSHED:
        raise ActivityError("activity.push_bad_count", limit=MAX_PUSHED)
    return number
