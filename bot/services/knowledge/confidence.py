"""The grade of an answer: confident, low-confidence, or nothing in the documents relates.

A linear rule decides "confident": a logistic regression on the ranker's answerability (how much
of the question the best passages cover, a word no document uses weighing by its rarity), the
best passage's cosine with the question (with vectors), how many words name the question's
subject (a share of a long question is smaller for the same answer), and the kinds of question
it is (asked_kinds: what a term means, how, when, who, where, how many, now, yes or no, a
contact, papers to hand in). Both regressions, with and without vectors, were chosen by
``benchmarks/qa_confidence.py`` on the fourteen question sets, each set held out in turn (README,
"Policy answers").

Before it, one check that no share of covered words can make up for (``unmet_ask``): the question
asks for something the best passages cannot hold, an amount of money none of them states, a
place none of their documents names, a number (a year) none of their documents uses, a rule
book (…办法, …细则, …章程) none of them names, a thing that questions the documents do not answer
ask about (啥条件) none of them names, or a count or date in a unit none of them states a value in
(多少家会员单位, 几月几号, 多少比例). Such an answer is never confident.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

# Subject words counted at most: few questions have more, and the fit saw fewer.
MAX_WORDS = 10


class Grade(StrEnum):
    """How an answer is shown."""

    CONFIDENT = "confident"
    # The closest passages, under a sentence that they may not answer the question.
    LOW = "low"
    # Nothing in the documents relates: "not in the documents".
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Signals:
    """What the grade of an answer is decided on."""

    # The ranker's: how much of the question the best passages cover (ranking.answerability).
    answerability: float
    # Some content word of the question (or a variant) occurs in some passage.
    relates: bool
    # Content words of the question that name its subject (its phrasing left out).
    words: int
    # The best passage's cosine with the question; None while vectors are not ready.
    best_cosine: float | None
    # The cosine at which the model's best passage starts to count (Embedder.center); None for
    # a model whose cosines were never calibrated (its answers are graded lexically).
    center: float | None
    # What the question asks for that the best passages cannot hold (unmet_ask), else None.
    unmet: str | None = None
    # What kind of thing the question asks (asked_kinds): a meaning, a date, a count …
    kinds: frozenset[str] = frozenset()

    @property
    def cosine(self) -> float | None:
        """The best cosine relative to the model's centre; None when it cannot take part."""
        if self.best_cosine is None or self.center is None:
            return None
        return self.best_cosine - self.center


@dataclass(frozen=True, slots=True)
class Calibration:
    """Confident when bias + answerability * a + (cosine - centre) * c + words * w, plus the
    weight of each kind of question it is (``kinds``), is at least 0."""

    bias: float
    answerability: float
    cosine: float
    words: float
    kinds: tuple[tuple[str, float], ...] = ()

    def confident(self, signals: Signals) -> bool:
        """Whether the signals make a confident answer."""
        total = (
            self.bias
            + self.answerability * signals.answerability
            + self.cosine * (signals.cosine or 0.0)
            + self.words * min(signals.words, MAX_WORDS)
            + sum(weight for kind, weight in self.kinds if kind in signals.kinds)
        )
        return total >= 0.0


# Chosen by benchmarks/qa_confidence.py (its last lines print these) on the fourteen question
# sets: regressions on the answerability, the cosine (with vectors), the subject words and the
# kinds of question. Each set held out in turn, pooled answerable / unanswerable declined: with
# vectors 0.072 / 0.799 (the rule before the kinds, answerability + 2.5 * (cosine - centre) >=
# 0.4475, chosen the same way: 0.095 / 0.738 on thirteen sets), without them 0.066 / 0.795.
DENSE = Calibration(
    bias=-4.4411, answerability=7.8999, cosine=29.3546, words=0.3461,
    kinds=(("meaning", 2.3554), ("now", 0.1212), ("yes_no", -0.9193), ("how", -1.0204),
           ("when", -1.5387), ("who", -1.1778), ("count", -1.2838), ("where", -1.339),
           ("contact", -0.6795), ("materials", -2.8214)),
)
LEXICAL = Calibration(
    bias=-4.9418, answerability=8.0727, cosine=0.0, words=0.4176,
    kinds=(("meaning", 2.0447), ("now", 0.1964), ("yes_no", -0.854), ("how", -1.0793),
           ("when", -1.4092), ("who", -1.1138), ("count", -1.2697), ("where", -1.4553),
           ("contact", -0.3858), ("materials", -2.7048)),
)


def grade(signals: Signals, dense: Calibration, lexical: Calibration) -> Grade:
    """Confident, low-confidence, or none (no word of the question occurs in any passage)."""
    if not signals.relates:
        return Grade.NONE
    if signals.unmet is not None:
        return Grade.LOW
    calibration = lexical if signals.cosine is None else dense
    return Grade.CONFIDENT if calibration.confident(signals) else Grade.LOW


# An amount of money asked for (多少钱, 一年交多少会费, 每月补贴), and one stated (40万元, 5000元).
_MONEY_WORDS = re.compile(r"钱|补贴|奖金|经费|资助|津贴|会费|费用|报销|拨款")
_AMOUNT_ASKED = re.compile(r"多少|几[百千万]|每个?[月年人]|一[个年月]")
_MONEY_STATED = re.compile(r"\d\s*[万亿]?元|万元")
# Province-level names (the analyzer's short forms, 内蒙 -> 内蒙古, come as variants) and, among
# the words jieba tags as places (ns, which also tags 东西 新建 厦), those that end as a city,
# prefecture, league, banner or county does.
PROVINCES = frozenset(
    {
        "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江",
        "江苏", "浙江", "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南",
        "广东", "海南", "四川", "贵州", "云南", "陕西", "甘肃", "青海", "台湾",
        "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门",
    }
)
_PLACE_ENDS = "省市州盟旗县"
# A rule book named in the question (科普大篷车管理办法, 打分细则, 章程), not 规范化建设.
_RULE_BOOK = re.compile(r"[\u4e00-\u9fff]{2}(?:管理办法|实施办法|办法|条例|细则|规范|章程)(?!化)")
# A number in the question; 23年 is read as 2023.
_NUMBER = re.compile(r"\d+")
# A count asked in a unit that counts things, people, money, time or pages (多少家, 几名, 几页);
# not after 哪 好 没 那 这 (哪几家 asks which ones, 好几家 is a count given), and not 条 项 个 点,
# which count the items of a list that a passage enumerates (一是…二是…) rather than states.
_UNIT_ASKED = re.compile(r"(?<![哪好没那这])(?:多少|几)([名家人元万年天岁页份周月次届])")
_DAY_ASKED = re.compile(r"几号|哪天|哪一天|几月几")
_SHARE_ASKED = re.compile(r"比例|百分之|百分比")
_COUNT = r"(?:\d+(?:\.\d+)?|[一二三四五六七八九十两百千万]+)\s*(?:[多余]|以上|以下|左右)?\s*"
_DAY_STATED = re.compile(r"\d{1,2}\s*月\s*\d{1,2}\s*日|\d{1,2}日")
_SHARE_STATED = re.compile(r"%|百分之|\d+成")
# Nouns that, asked about (啥条件, 会费是多少) while none of the best passages holds them, marked
# unanswerable questions of three or more of the eight sets and no answerable one (learned by
# benchmarks/qa_confidence_extras.py, each set held out in turn: the same two in every fold).
UNANSWERED_ASKS = ("条件", "会费")
_WH_BEFORE = r"(?:哪些|哪个|哪几|什么|多少|啥|哪|几)[\u4e00-\u9fff]{0,2}?"
_ASK_AFTER = r"(?:是啥|是什么|有哪些|是哪些|有啥|是多少|是哪)"


# Kinds of question (asked_kinds). Each marks answerable and unanswerable questions in other
# proportions over the question sets: one asking what a term means (两翼啥意思) is mostly
# answered by the passage that uses the term; one asking how, when, who, where, how many, about
# now (今年, 目前), yes or no, for a contact or for the papers to hand in (材料, 模板) is more
# often after a detail the documents leave out. Their weights are fitted with the other signals
# (benchmarks/qa_confidence.py); a kind needs questions of both classes in several sets.
_KIND_PATTERNS = {
    "meaning": re.compile(
        r"(?:啥|什么)意思|指啥|指什么|指的是|是指|是个?啥|是什么|啥玩意|what is"
    ),
    "now": re.compile(r"今年|明年|去年|前年|现在|目前|最近"),
    "yes_no": re.compile(r"吗|有没有|是不是|能不能|能否|可不可以|没[？?]?$|不[？?]?$"),
    "how": re.compile(r"咋|怎么|如何|流程|步骤"),
    "when": re.compile(r"啥时候|什么时候|哪年|何时|几月|哪天|几号"),
    "who": re.compile(r"谁|哪位"),
    "count": re.compile(r"多少|几[个家名人场辆次所项位支批条]"),
    "where": re.compile(r"在哪|哪里|哪儿|什么地方|啥地方|哪个城市|哪个部门|哪个单位"),
    "contact": re.compile(r"电话|邮箱|联系方式|联系人|手机号"),
    "materials": re.compile(r"材料|手续|表格|模板"),
}
KINDS = tuple(_KIND_PATTERNS)


def asked_kinds(question: str) -> frozenset[str]:
    """The kinds of question ``question`` is (KINDS)."""
    return frozenset(kind for kind, pattern in _KIND_PATTERNS.items() if pattern.search(question))


def is_place(word: str, tag: str) -> bool:
    """Whether a content word of the question names a province, city, league, banner or county."""
    return word in PROVINCES or (tag == "ns" and len(word) >= 2 and word[-1] in _PLACE_ENDS)


def question_numbers(question: str) -> set[str]:
    """The numbers a question names, a two-digit year (23年) as four digits."""
    out = set()
    for match in _NUMBER.finditer(question):
        number = match.group(0)
        if len(number) == 2 and question[match.end() : match.end() + 1] == "年":
            number = "20" + number
        out.add(number)
    return out


def unmet_ask(
    question: str,
    places: Sequence[Sequence[str]],
    passages: Sequence[str],
    named: Callable[[str], bool],
) -> str | None:
    """What the question asks for that the best passages cannot hold: "money", "place",
    "number", "rule book", or None.

    ``places`` are the question's place names, each with its variants; ``passages`` the best
    passages' text; ``named(form)`` whether one of their documents uses ``form``. On the eight
    question sets one answerable question meets one of these (几家联合发的, answered by the list
    of issuers), and 45 % of the unanswerable ones do (广东省科协对企业科协组建有啥人数要求,
    2023年内蒙科协全委会定的重点任务有哪些, 河南成立企业科协联合会最少要多少家会员单位).
    """
    if (
        _MONEY_WORDS.search(question)
        and _AMOUNT_ASKED.search(question)
        and not any(_MONEY_STATED.search(text) for text in passages)
    ):
        return "money"
    if any(not any(named(form) for form in forms) for forms in places):
        return "place"
    for number in question_numbers(question):
        if not any(number in text for text in passages) and not named(number):
            return "number"
    if any(
        not any(book.group(0) in text for text in passages)
        for book in _RULE_BOOK.finditer(question)
    ):
        return "rule book"
    units = asked_units(question)
    if any(not any(unit_stated(unit, text) for text in passages) for unit in units):
        return "unit"
    # Last, so that benchmarks/qa_confidence_extras.py can learn these words fold by fold.
    if any(not any(word in text for text in passages) for word in asked_about(question)):
        return "asked"
    return None


def asked_about(question: str, words: Sequence[str] = UNANSWERED_ASKS) -> list[str]:
    """Those of ``words`` the question asks about: after a wh-word (需要啥条件, 哪些保障条件) or
    before 是啥 / 有哪些 (评选条件是啥)."""
    return [
        word
        for word in words
        if re.search(f"{_WH_BEFORE}{word}|{word}{_ASK_AFTER}", question)
    ]


def asked_units(question: str) -> set[str]:
    """The units the question asks a count in (多少家 -> 家), "day" for a date (几月几号, 哪天) and
    "%" for a share (多少比例)."""
    units = {match.group(1) for match in _UNIT_ASKED.finditer(question)}
    if _DAY_ASKED.search(question):
        units.discard("月")
        units.add("day")
    if _SHARE_ASKED.search(question):
        units.add("%")
    return units


def unit_stated(unit: str, text: str) -> bool:
    """Whether a passage states a value in ``unit`` (a count before it, a day, a share)."""
    if unit == "day":
        return bool(_DAY_STATED.search(text))
    if unit == "%":
        return bool(_SHARE_STATED.search(text))
    return re.search(_COUNT + unit, text) is not None
