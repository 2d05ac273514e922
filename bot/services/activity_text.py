"""Reading an activity report out of a free message (the quick log).

"3月16日在兴庆区丽景街道开展防诈骗科普志愿服务3场共200人次" gives a type, a day, a place, a head
count, an amount (场/期/项) and a title to suggest; "今天搞了个活动" is too thin to log but worth
offering the form; "收到" or a question is no report at all. A value that cannot be taken (a
date that does not exist or is still ahead, -50人, 0人, 5亿人) is kept as a `Problem` to say, never
changed or dropped silently; a guess (the lower end of 50-60人, a year left out) is a `Note`.
A message naming two activities, each with its own kind and head count, reads as several.

Dates come from the one reader (`bot.services.when.find_days`); numerals from cn2an; the rest
is a handful of patterns over the words reports use, each with its reason. jieba's POS tags were
tried for places and left out: it tags 赛罕区 and 金凤区 as person names (nr) and cuts 嘎查 into
嘎/o 查/v, so places are read from their prepositions (在 到 深入 进 at) and their last word
(社区 街道 村 嘎查 小学 车间 礼堂 …) instead.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import cn2an

from bot.services import when
from bot.services.activities import (
    MATCH_ORDER,
    MAX_AMOUNT,
    MAX_PARTICIPANTS,
    OTHER_TYPE,
    PEOPLE_NOUNS,
    head_count,
    keyword_in,
    match_type,
    type_keywords,
)
from bot.services.knowledge.question import asks_something
from storage.activity_models import PLACE_MAX, TITLE_MAX

QUICK_MAX = 500  # longer texts are not a one-line report
# "The same as last time", alone as a message: a new log from the previous one (the shorter
# 同上, 上次 may mean other things).
SAME_TYPED = frozenset({"同上次"})
LOG, OFFER, NONE, INVALID, MULTI = "log", "offer", "none", "invalid", "multi"


@dataclass(frozen=True)
class Problem:
    """A value the text gives that cannot be taken: which field, why, and what was said."""

    field: str  # "day" or "participants"
    key: str
    params: dict[str, Any]
    value: Any  # the date as said (2月30日, or the ISO day still ahead) or the head count


@dataclass
class Reading:
    """One activity as a text gives it (the fields of the activity form it fills)."""

    type: str | None = None
    day: date | None = None
    place: str | None = None
    participants: int | None = None
    amount: int | None = None
    title_hint: str | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[when.Note] = field(default_factory=list)

    def form_data(self) -> dict[str, Any]:
        """What the activity form is pre-filled with (a refused value is asked for again)."""
        data: dict[str, Any] = {}
        if self.type:
            data["type"] = self.type
        if self.day:
            data["day"] = self.day.isoformat()
        if self.place:
            data["place"] = self.place
        if self.participants is not None:
            data["participants"] = self.participants
        if self.amount is not None and self.amount != 1:
            data["amount"] = self.amount
        return data


@dataclass(frozen=True)
class Understood:
    """What a free text is: ``none``, ``offer`` (too thin: offer the form), ``log``,
    ``invalid`` (a report with a value that cannot be taken) or ``multi``, and its activities."""

    outcome: str
    readings: tuple[Reading, ...] = ()


# --- words -------------------------------------------------------------------------------------

# Requests for something the bot keeps (帮我查一下上个月报了几场) are not reports of activities.
_REQUEST = re.compile(r"帮我|帮忙|查一下|查查|查询|统计一下|请问|能不能|可不可以|几场|几次|几期")
# Kinds of events the types do not name: logged as 其他 with the event's own name.
_OTHER_EVENT = re.compile(
    r"竞赛|比赛|大赛|选拔赛|展演|科普剧|开放日|义诊|观摩|夏令营|冬令营|研学|游园|实验秀|沙龙|仪式"
)
# What only says "we did something" (offer the form): doing, finishing, wanting to report.
_DOING = re.compile(
    r"开展|举办|举行|组织|召开|搞了|搞完|办了|办完|弄完|做了|开了|结束|完成|活动|报一下|上报|"
    r"补录|登记|记一下|录一下|讲座|培训|一场|一期"
)
# Verbs of having done something: what tells a report from a bare name. Not the nouns of
# `_DOING` (活动, 讲座, 培训), which name topics as often (科普讲座 alone may ask about them),
# nor 组织 without 了 (企业科协组织建设 names a topic).
_DID = re.compile(
    r"开展|举办|举行|召开|组织了|搞了|搞完|办了|办完|弄完|做了|开了|讲了|参加了|完成了|结束了|"
    r"进行了|报一下|补录|登记|记一下|录一下"
)
# Every word of every type in one pattern, the longer first (全国科普日 before 科普日); English
# words whole, as `activities.keyword_in` has them.
_KIND_OF = {word.lower(): key for key in MATCH_ORDER for word in type_keywords(key)}
_KIND_WORDS = re.compile(
    "|".join(keyword_in(word).pattern for word in sorted(_KIND_OF, key=len, reverse=True))
)
_SAME_PLACE = ("同一地点", "同一场地", "原地", "同地")
_ONLINE = re.compile(r"线上|网上|在线|直播|腾讯会议|视频会议|云端|online")
_NUM = r"[0-9]+|[零〇一二两三四五六七八九十百千万]+"
_AMOUNT = re.compile(rf"(?<!第)(?P<n>{_NUM})\s*(?P<u>场|期|项)(?!目)")
_CN = "零〇一二两三四五六七八九十百千万"
# A head count: an approximation before it, a number (digits, 1.2万, Chinese numerals, a range
# 50-60 or 五六十, 上百), 余/多/来 after it, and a unit of people. Bare numbers are not counts
# (3楼, 四年级); a number after 人数 is ("参观人数逾800").
_ABOUT = (
    r"(?P<about>约|大约|大概|近|将近|逾|超过|达|共|共计|合计|总计|有|about|around|nearly|over|~)?"
)
_COUNT = re.compile(
    rf"{_ABOUT}\s*(?P<num>(?P<sign>-|负)?(?:\d[\d,]*(?:\.\d+)?\s*[万千]?"
    rf"(?:\s*[-~～至到]\s*\d[\d,]*)?|[{_CN}]+)|上[百千万])\s*(?P<more>余|多|来|几)?\s*"
    rf"(?P<unit>(?:个|名|位)?\s*(?:{PEOPLE_NOUNS})|名|位)",
    re.IGNORECASE,
)
_HEADCOUNT = re.compile(
    rf"人数\s*[为是有达:：]?\s*{_ABOUT}\s*(?P<num>(?P<sign>-)?\d[\d,]*(?:\.\d+)?[万千]?|[{_CN}]+)"
    r"\s*(?P<more>余|多)?(?P<unit>人次|人)?"
)
# People who run an activity, not its audience: 20名科技志愿者, 专家9人, 两位主任医师.
_STAFF = re.compile(r"志愿者|专家|讲师|教师|老师|医生|医师|工作人员|嘉宾|评委|主讲|队员")
_TOTAL = re.compile(r"共|共计|合计|总计")
# Who an activity is for, after 给/为/向/对/面向 (在学校给学生讲座, 在社区为居民开展…): the
# end of a place before it, and no part of the title.
_AUDIENCE = (
    r"(?:给|为|向|对|面向)(?:广大|全体|全校|辖区|当地|周边|村里|社区)?"
    r"(?:学生|师生|孩子|儿童|青少年|中小学生|小学生|中学生|大学生|家长|群众|居民|村民|牧民|农民|"
    r"农牧民|职工|员工|工人|干部|党员|老人|老年人|妇女|游客|市民|公众|观众|学员|大家|企业)"
)
_AUDIENCE_AT = re.compile(_AUDIENCE)
_TAKING_PART = re.compile(r"参会|参加|与会|参训|参赛|到会|听讲")  # 参会专家学者45人: the audience

# Places: after a preposition, up to the verb or the break that follows; or a name ending in
# a place word with no preposition (我们厂炼钢二车间今天…, 赛罕区大学路小学防溺水…讲座).
_PLACE_WORD = (
    "社区|街道|小区|村委会|嘎查|苏木|村|乡|镇|旗|县|区|市|盟|省|园区|开发区|新区|高新区|校园|"
    "小学|中学|大学|学院|学校|幼儿园|礼堂|会议室|报告厅|活动室|展厅|中心|基地|馆|广场|公园|"
    "市场|农场|牧场|合作社|医院|车间|厂|班|科协|集团|公司|企业|协会|学会|局|站|所|楼|厅|院|路|街"
)
_PLACE_END = re.compile(rf"(?:{_PLACE_WORD})(?:里|上)?$")  # 村里: a place too
# Organisations hold activities more often than they are where one was (宁夏化工学会主办).
_ORG_END = re.compile(r"(?:科协|学会|协会|公司|集团|局|企业)$")
# Verbs that end a place (在X开展): words of two characters or more, since 开 办 为 送 also
# stand inside names (经开区, 街道办事处, 为民服务中心).
_VERB = (
    r"开展|举办|举行|组织|召开|进行|开设|主办|承办|搞了|搞|办了|办完|做了|开了|送(?=科技|温暖|文化)|"
    r"完成|参加|参与|接待|联合|当天|全校|全市|全车间|参训|参赛|参会|参观|观看|受益|邀请"
)
_PLACE_AFTER = re.compile(
    r"(?P<prep>(?<![正现实存])在(?!于|线)|于|地点[:：为是]?|(?<![受得达收感遇签报想看听见])到|"
    r"深入|走进|转到|来到|前往|去|进(?!行|入|一步)|\bat\b)\s*",
    re.IGNORECASE,
)
_PLACE_BODY = re.compile(rf"[^\s，,。；;！!？?：:、“”\"]+?(?=\s|[，,。；;！!？?：:、]|{_VERB}|$)")
_PRONOUN = re.compile(r"^(?:我们|我|本)(?:公司|厂|单位|学校|社区|街道)?")
_PREP_RANK = {"在": 0, "于": 0, "地点": 0, "at": 0}

# Title: the words around the kind of activity, after the verb or place that precedes them.
_TITLE_LEAD = re.compile(
    rf"(?:{_VERB}|{_AUDIENCE}|了|个|场|一场|一个|次|的|又|还|共|都|也|上午|下午|晚上|中午|傍晚|\s)+"
)
_TITLE_STOP = re.compile(
    rf"[\s，,。；;！!？?]|\d|(?<!第)[{_CN}]|学生|群众|居民|村民|职工|观众|学员|参加|参与|参会|"
    r"参训|共计|期间"
)
_QUOTES = re.compile(r"[“”\"《》]")


# --- reading -------------------------------------------------------------------------------


def read_report(text: str, today: date) -> Understood:
    """What a free text says about activities done (see `Understood`)."""
    text = unicodedata.normalize("NFKC", text).strip()
    if not text or len(text) > QUICK_MAX or text.startswith("/"):
        return Understood(NONE)
    if asks_something(text) or _REQUEST.search(text):
        return Understood(NONE)  # 昨天的讲座要不要拍照？ is for the policy answers
    marks = _marks(text, today)
    groups = _groups(text, marks)
    readings = [_reading(text, group, today) for group in groups]
    if len(readings) > 1 and all(_complete(r) for r in readings):
        _inherit(readings)
        return Understood(MULTI, tuple(readings))
    whole = _Group(0, len(text), marks)
    reading = _reading(text, whole, today)
    outcome = _outcome(text, reading, marks)
    if reading.title_hint is None:  # the kind may have been settled as 其他 just now
        reading.title_hint = _title(text, whole, reading.type)
    return Understood(outcome, (reading,))


def shows_activity(text: str, today: date) -> bool:
    """Whether a text carries a sign of an activity done: a day, a count of people or of
    sessions, or a verb of doing. A bare name (学会服务站, 科普大篷车, 三长) carries none."""
    text = unicodedata.normalize("NFKC", text).strip()
    if text in SAME_TYPED:
        return True
    marks = _marks(text, today)
    return bool(marks.days or marks.counts or marks.amounts or _DID.search(text))


def _complete(reading: Reading) -> bool:
    has_count = reading.participants is not None or _on(reading.problems, "participants")
    return reading.type is not None and (has_count or reading.day is not None)


def _inherit(readings: list[Reading]) -> None:
    # 今天上午讲座50人，下午培训30人: the second activity took place the same day; 在同一地点:
    # at the same place.
    for earlier, later in itertools.pairwise(readings):
        if later.day is None and not _on(later.problems, "day"):
            later.day = earlier.day
        if later.place in _SAME_PLACE:
            later.place = earlier.place


def _on(problems: list[Problem], name: str) -> bool:
    return any(problem.field == name for problem in problems)


def _outcome(text: str, reading: Reading, marks: _Marks) -> str:
    fields = [reading.day, reading.place, reading.participants]
    given = sum(value is not None for value in fields) + len(reading.problems)
    if reading.type is None and given >= 2 and _DOING.search(text):
        # 开展防灾减灾科普宣传 on a day, at a place, for 150 people: a kind the types lack.
        reading.type = OTHER_TYPE
    if reading.type and given:
        return INVALID if reading.problems else LOG
    signals = reading.type or reading.place or reading.participants is not None
    if signals or reading.problems or marks.amounts or _DOING.search(text):
        return OFFER
    return NONE


# --- the marks a text carries, with their positions -------------------------------------------


@dataclass(frozen=True)
class _Count:
    start: int
    end: int
    value: int
    staff: bool
    total: bool
    ranged: bool
    said: str


@dataclass
class _Marks:
    days: list[when.Found]
    types: list[tuple[int, int, str]]  # start, end, type key (or OTHER_TYPE for 竞赛 …)
    counts: list[_Count]
    amounts: list[tuple[int, int]]  # start, value
    places: list[tuple[int, int, int, str]]  # rank, start, end, place


def _marks(text: str, today: date) -> _Marks:
    days = when.find_days(text, today)
    return _Marks(
        days=days,
        types=_types(text),
        counts=_counts(text, days),
        amounts=_amounts(text),
        places=_places(text, days),
    )


def _types(text: str) -> list[tuple[int, int, str]]:
    lowered = text.lower()
    found = [(m.start(), m.end(), _KIND_OF[m.group(0)]) for m in _KIND_WORDS.finditer(lowered)]
    found += [(m.start(), m.end(), OTHER_TYPE) for m in _OTHER_EVENT.finditer(text)]
    return sorted(found)


def _inside_day(days: list[when.Found], start: int, end: int) -> bool:
    return any(day.start <= start and end <= day.end for day in days)


def _counts(text: str, days: list[when.Found]) -> list[_Count]:
    counts = []
    for pattern in (_COUNT, _HEADCOUNT):
        for match in pattern.finditer(text):
            if _inside_day(days, match.start("num"), match.end("num")):
                continue
            if any(c.start <= match.start("num") < c.end for c in counts):
                continue
            if (count := _count(text, match)) is not None:
                counts.append(count)
    return sorted(counts, key=lambda c: c.start)


def _count(text: str, match: re.Match[str]) -> _Count | None:
    raw = match.group("num").replace(",", "").replace(" ", "").lstrip("-负")
    ranged = bool(re.search(r"\d[-~～至到]\d|^[一二三四五六七八九]{2}[十百千万]$", raw))
    value = _count_value(raw)
    if value is None:
        return None
    if match.group("sign") and value:
        value = -value
    before = text[max(0, match.start() - 5) : match.start()]
    after = text[match.end() : match.end() + 6]
    staff = bool(_STAFF.search(before[-3:] + "|" + after)) or bool(_STAFF.search(before))
    staff = staff and not _TAKING_PART.search(text[max(0, match.start() - 8) : match.start()])
    total = bool(_TOTAL.search(match.group("about") or "")) or before.endswith(("共", "共计"))
    said = match.group(0).strip()
    start = match.end() - len(match.group(0).lstrip())
    return _Count(start, match.end(), value, staff, total, ranged, said)


def _count_value(raw: str) -> int | None:
    """The number of a head count; of a range (50-60, 五六十) the lower end."""
    return head_count(re.split(r"[-~～至到]", raw.lstrip("-"))[0])


def _amounts(text: str) -> list[tuple[int, int]]:
    found = []
    for match in _AMOUNT.finditer(text):
        try:
            found.append((match.start(), int(cn2an.cn2an(match.group("n"), "smart"))))
        except (ValueError, KeyError):
            continue
    return found


def _places(text: str, days: list[when.Found]) -> list[tuple[int, int, int, str]]:
    """Candidate places: (rank, start, end, name); rank 0 after 在/于/地点/at, 1 after 到/进/
    深入… or online (线上, 直播), 2 a name ending in a place word without a preposition, 4 an
    organisation's name without a preposition."""
    found = []
    for prep in _PLACE_AFTER.finditer(text):
        body = _PLACE_BODY.match(text, prep.end())
        if body is None or _inside_day(days, body.start(), body.start() + 1):
            continue
        name, end = _joined(text, body.group(0).removesuffix("了"), body.end())
        if _ONLINE.fullmatch(name):
            found.append((1, prep.start(), end, "线上"))
            continue
        rank = _PREP_RANK.get(prep.group("prep").rstrip(":：为是"), 1)
        name, end = _place_only(name, end)
        followed_by_verb = re.match(_VERB, text[end:]) is not None
        if len(name) >= 2 and (_PLACE_END.search(name) or followed_by_verb):
            found.append((rank, prep.start(), end, name))
    found += _bare_places(text, days)
    if online := _ONLINE.search(text):
        found.append((1, online.start(), online.end(), "线上"))
    return sorted(found, key=lambda p: (p[0], p[1]))


def _place_only(name: str, end: int) -> tuple[str, int]:
    """The place alone, when the words after it ran on without a verb: who it was for (在学校
    给学生讲座) or the activity itself (在第二小学讲座) follow; a name that is a place as it
    stands (街道为民服务中心) stays whole."""
    cuts = [m.start() for m in (_AUDIENCE_AT.search(name), _KIND_WORDS.search(name.lower())) if m]
    cut = min(cuts, default=len(name))
    if cut < 2 or cut == len(name) or not _PLACE_END.search(head := name[:cut]):
        return name, end
    if _PLACE_END.search(name) and not _AUDIENCE_AT.search(name):
        return name, end  # 第二小学科技馆: the kind word is part of the name
    return head, end - (len(name) - cut)


def _joined(text: str, name: str, end: int) -> tuple[str, int]:
    # 在科尔沁区 农民专业合作社 开展: a place word after a space goes on the same place.
    follow = re.match(r"\s+([^\s，,。；;]+?)(?=\s|$)", text[end:])
    if follow is None or not _PLACE_END.search(word := follow.group(1)):
        return name, end
    # Not the activity (科技下乡), a count (23项) or a place of its own (在…).
    if match_type(word) or re.search(r"\d", word) or _PLACE_AFTER.match(word):
        return name, end
    return name + word, end + follow.end()


def _bare_places(text: str, days: list[when.Found]) -> list[tuple[int, int, int, str]]:
    """Names ending in a place word at the start of a stretch, before a verb, a day or the
    activity's own words (我们厂炼钢二车间今天完成…, 2月26日 北方重工三分厂数控班 …)."""
    found = []
    for stretch in re.finditer(r"[^\s，,。；;！!？?]+", text):
        start = _after_day(days, stretch.start(), stretch.end())
        piece = text[start : stretch.end()]
        if _PLACE_AFTER.match(piece):
            continue  # 在来安县第三中学: read with its preposition
        piece = piece[_PRONOUN.match(piece).end() :] if _PRONOUN.match(piece) else piece
        offset = stretch.end() - len(piece)
        head = re.split(rf"{_VERB}|今天|昨天|前天", piece, maxsplit=1)[0]
        cut = _type_cut(head)
        name = _longest_place(head[:cut])
        if name and len(name) >= 3 and not match_type(name):
            rank = 4 if _ORG_END.search(name) else 2
            found.append((rank, offset, offset + len(name), name))
    return found


def _after_day(days: list[when.Found], start: int, end: int) -> int:
    for day in days:
        if start <= day.start < end and day.start - start <= 1:
            return max(start, day.end)
    return start


def _type_cut(head: str) -> int:
    found = _KIND_WORDS.search(head.lower())
    return found.start() if found else len(head)


def _longest_place(head: str) -> str | None:
    ends = [m.end() for m in re.finditer(_PLACE_WORD, head)]
    return head[: max(ends)] if ends else None


# --- grouping into activities --------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    start: int
    end: int
    marks: _Marks


def _groups(text: str, marks: _Marks) -> list[_Group]:
    """Stretches of the text, one per activity: a new one starts where a kind of activity (or a
    day) comes after an activity that already has its kind and its head count."""
    starts = [0]
    kind = audience = False
    for piece in re.finditer(r"[^\s，,。；;]+", text):
        at, end = piece.start(), piece.end()
        typed = any(at <= t[0] < end for t in marks.types)
        dated = any(at <= d.start < end for d in marks.days)
        if (typed or dated) and kind and audience:
            starts.append(at)
            kind = audience = False
        kind = kind or typed
        audience = audience or any(at <= c.start < end and not c.staff for c in marks.counts)
    edges = [*starts, len(text)]
    return [_Group(a, b, _within(marks, a, b)) for a, b in itertools.pairwise(edges)]


def _within(marks: _Marks, start: int, end: int) -> _Marks:
    return _Marks(
        days=[d for d in marks.days if start <= d.start < end],
        types=[t for t in marks.types if start <= t[0] < end],
        counts=[c for c in marks.counts if start <= c.start < end],
        amounts=[a for a in marks.amounts if start <= a[0] < end],
        places=[p for p in marks.places if start <= p[1] < end],
    )


# --- one activity --------------------------------------------------------------------------


def _reading(text: str, group: _Group, today: date) -> Reading:
    marks = group.marks
    reading = Reading(type=_kind(marks))
    _read_day(reading, marks)
    _read_people(reading, marks)
    if marks.places:
        reading.place = marks.places[0][3][:PLACE_MAX]
    if marks.amounts:
        amount = marks.amounts[0][1]
        reading.amount = amount if 1 < amount <= MAX_AMOUNT else None  # 一场 is the default
    reading.title_hint = _title(text, group, reading.type)
    return reading


def _kind(marks: _Marks) -> str | None:
    kinds = {t[2] for t in marks.types}
    for key in MATCH_ORDER:
        if key in kinds:
            return key
    return OTHER_TYPE if OTHER_TYPE in kinds else None


def _read_day(reading: Reading, marks: _Marks) -> None:
    for found in marks.days:
        if found.problem is not None:
            value = found.problem.params.get("date") or found.problem.params.get("said")
            problem = Problem("day", found.problem.key, found.problem.params, value or found.said)
            reading.problems.append(problem)
        elif reading.day is None:
            reading.day = found.day
            reading.notes.extend(found.notes)


def _read_people(reading: Reading, marks: _Marks) -> None:
    audience = [c for c in marks.counts if not c.staff]
    if not audience:
        return
    totals = [c for c in audience if c.total]
    chosen = totals[-1] if totals else max(audience, key=lambda c: c.value)
    problem = _people_problem(chosen.value)
    if problem is not None:
        reading.problems.append(Problem("participants", problem[0], problem[1], chosen.value))
        return
    reading.participants = chosen.value
    if chosen.ranged:
        reading.notes.append(when.Note("activity.range_lower", {"said": chosen.said}))
    staff = [c for c in marks.counts if c.staff]
    if staff:
        reading.notes.append(when.Note("activity.staff_left_out", {"said": staff[0].said}))


def _people_problem(value: int) -> tuple[str, dict[str, Any]] | None:
    if value < 0:
        return "activity.participants_negative", {}
    if value == 0:
        return "activity.participants_zero", {}
    if value > MAX_PARTICIPANTS:
        return "activity.participants_too_many", {"limit": MAX_PARTICIPANTS}
    return None


def _title(text: str, group: _Group, kind: str | None) -> str | None:
    """The activity's own words: from after the day, place or verb before its kind to the end
    of the phrase (12月20日在…镇开展冬季牲畜防疫技术培训，→ 冬季牲畜防疫技术培训)."""
    places = [(p[1], p[2]) for p in group.marks.places]
    mentions = [
        t for t in group.marks.types
        if t[2] == kind and not any(a <= t[0] < b for a, b in places)
    ]  # fmt: skip
    if not mentions:  # a kind the types lack: the words after its verb (开展防灾减灾科普宣传)
        verb = re.compile(_VERB).search(text, group.start, group.end)
        mentions = [(verb.end(), verb.end(), kind)] if verb and kind == OTHER_TYPE else []
    if not mentions:
        return None
    breaks = [m.end() for m in re.finditer(r"[，,。；;！!？?\n]", text[: mentions[0][0]])]
    clause = max([group.start, *breaks])
    clause_end = _clause_end(text, mentions[0][1], group.end)
    kind_at, kind_end, _ = [t for t in mentions if t[0] < clause_end][-1]
    start = max([clause, *_lead_ends(text, group, clause, kind_at)])
    lead = _TITLE_LEAD.match(text, start)
    if lead and lead.end() <= kind_at:
        start = lead.end()
    stops = [a for a, _ in places if a >= kind_end]
    stop = _TITLE_STOP.search(text, kind_end)
    end = min([stop.start() if stop else len(text), group.end, *stops])
    title = _QUOTES.sub("", text[start:end]).strip(" :：-—,，")
    if len(title) < 2 or not re.search(r"[\u4e00-\u9fff]", title):
        return None
    return title[:TITLE_MAX]


def _clause_end(text: str, at: int, end: int) -> int:
    found = re.compile(r"[\s，,。；;！!？?]").search(text, at, end)
    return found.start() if found else end


def _lead_ends(text: str, group: _Group, clause: int, kind_at: int) -> list[int]:
    """Where the words before the activity's kind end: a day, a place, a verb."""
    ends = [d.end for d in group.marks.days if clause <= d.end <= kind_at]
    ends += [p[2] for p in group.marks.places if clause <= p[2] <= kind_at]
    ends += [clause + m.end() for m in re.finditer(_VERB, text[clause:kind_at])]
    return ends
