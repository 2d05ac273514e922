"""Hypothesis strategies for the Update JSON the Bot API can send to stabot.

Everything built here is what Telegram could deliver (checked against the Bot API spec by
``Update.de_json`` in the fuzz test), but its contents are hostile: commands of every kind
with impossible dates and times, huge and negative numbers, emoji and 4,096-character texts;
messages with and without a sender, on behalf of chats, in groups and channels; service
messages; callback queries whose data is forged (random, every known prefix with the wrong
number of parts, non-numeric, negative or huge ids, up to the 64-byte limit) and whose message
is there, inaccessible (deleted, or too old for the bot to see) or absent (an inline message);
and the update kinds the bot never asked for (inline queries, polls, reactions, chat members,
join requests, boosts, payments, business messages).

Values that depend on what already happened (update and message ids, the bot's own messages
and their buttons) are filled in by the fuzz test when it feeds an update.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from hypothesis import strategies as st

from bot.flows.callback_data import FAMILIES, LEGACY_SEPARATOR, SEPARATOR, family_words
from bot.flows.menu import MENU
from offline.formatting import utf16_len
from offline.updates import FIRST_QUERY_ID

JSON = dict[str, Any]
CALLBACK_LIMIT = 64  # bytes of callback_data
TEXT_LIMIT = 4096  # UTF-16 code units of a message text
CAPTION_LIMIT = 1024
ANONYMOUS_ADMIN = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
SERVICE_USER = {"id": 777000, "is_bot": False, "first_name": "Telegram"}

# Every command of the menu, those that read dates, times and numbers first (Hypothesis draws
# the first element of a list more often than the others).
READERS = ["remind", "log", "stats", "export", "pushed", "ask", "start"]
COMMANDS = READERS + [c.command for c in MENU if c.command not in READERS]
UNKNOWN_COMMANDS = ["bindgroup", "unbindgroup", "settings", "Start", "LOG", "remind_me", "a" * 32]
# Every callback family the bot registers, with its separator; then the prefixes of buttons
# sent before the typed families (old messages still carry them).
PREFIXES = [
    *(name + (SEPARATOR if name == family.prefix else LEGACY_SEPARATOR)
      for name, family in FAMILIES.items()),
    *["f|", "act|", "ask|", "doc|", "bc|", "st|", "rmd|", "mb|", "grp|"],
]  # fmt: skip
# The words between separators that the families use (and some they do not), and nothing.
ACTION_WORDS = frozenset(
    [
        "go",
        "gp",  # a paid broadcast
        "u",  # resend to those whose delivery is not confirmed, and its confirmation
        "uu",
        "p",
        "r",
        "x",
        "w",
        "m",
        "v",
        "y",
        "n",
        "s",
        "rm",
        "rmy",
        "rmn",
        "keep",
        "same",
        "page",
        "org",
        "open",
        "edit",
        "del",
        "delok",
        "push",
        "req",
        "stats",
        "export",
        "c",
        "k",
        "t",
        "q",
        "fill",
        "board",
        "subs",
        "sub",
        "remind",
        "move",
        "files",
        "zh_CN",
        "en",
        "back",
        "skip",
        "cancel",
        "confirm",
        "choose",
        "done",
        "answer",
        "l",
        "F",
        "o",
        "a",
        "i",
        "b",
        "pics",
    ]
) | {""} | family_words()

# --- pieces of text --------------------------------------------------------------------------

# Surrogates cannot travel in UTF-8, and Telegram drops control characters other than a newline.
PLAIN = st.characters(exclude_categories=("Cs", "Cc"), include_characters="\n")
EMOJI = st.sampled_from(["👍", "🎉", "👨‍👩‍👧‍👦", "🇨🇳", "❤️", "🔬", "😀", "🧪", "\u200d", "\ufe0f"])
CN_NUMBERS = st.sampled_from(
    [
        "零",
        "一",
        "二",
        "两",
        "三",
        "十",
        "十三",
        "二十九",
        "三十",
        "三十一",
        "三十二",
        "一百二十",
        "九十九",
        "负五",
        "一千万",
        "十万八千",
        "〇",
        "两百",
    ]
)
INTEGERS = st.one_of(
    st.integers(-5, 70),
    st.integers(-(2**63), 2**63),
    st.sampled_from([0, -1, 2**31, 2**53 + 1, 10**30, 1_000_001, 99_999_999, 10**12]),
)


@cache
def _number_text() -> st.SearchStrategy[str]:
    return st.one_of(
        INTEGERS.map(str),
        CN_NUMBERS,
        INTEGERS.map(lambda n: f"约{n}人"),
        INTEGERS.map(lambda n: f"{n:,}余人"),
        st.integers(0, 999).map(lambda n: str(n).translate(_FULL_WIDTH)),
        st.floats(allow_nan=True, allow_infinity=True).map(str),
    )


_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@cache
def _iso_date() -> st.SearchStrategy[str]:
    year = st.one_of(st.integers(2024, 2028), st.integers(0, 9999))
    month, day = st.integers(0, 14), st.integers(0, 33)
    sep = st.sampled_from(["-", "/", ".", "年"])
    return st.builds(
        lambda y, m, d, s: f"{y:04d}{s}{m:02d}{s}{d:02d}" if s != "年" else f"{y}年{m}月{d}日",
        year,
        month,
        day,
        sep,
    )


@cache
def _cn_date() -> st.SearchStrategy[str]:
    part = st.one_of(st.integers(0, 33).map(str), CN_NUMBERS)
    return st.one_of(
        st.builds(lambda m, d, w: f"{m}月{d}{w}", part, part, st.sampled_from(["日", "号"])),
        st.builds(lambda d: f"{d}号", part),
        st.builds(
            lambda p, d: f"{p}月{d}号", st.sampled_from(["上个", "上上个", "本", "这个"]), part
        ),
        st.builds(lambda m, d: f"{m:02d}{d:02d}", st.integers(0, 19), st.integers(0, 39)),
        st.builds(
            lambda y, m, d: f"{y}{m:02d}{d:02d}",
            st.integers(2020, 2030),
            st.integers(0, 13),
            st.integers(0, 33),
        ),
    )


@cache
def _clock_time() -> st.SearchStrategy[str]:
    hour, minute = st.integers(0, 40), st.integers(0, 99)
    half = st.sampled_from(["", "上午", "下午", "晚上", "凌晨", "中午", "今晚", "明天", "明早"])
    return st.one_of(
        st.builds(lambda h, m: f"{h}:{m:02d}", hour, minute),
        st.builds(lambda h, m: f"{h:02d}：{m:02d}", hour, minute),
        st.builds(lambda p, h: f"{p}{h}点", half, st.one_of(hour.map(str), CN_NUMBERS)),
        st.builds(lambda p, h, m: f"{p}{h}点{m}分", half, hour, minute),
        st.builds(lambda p, h: f"{p}{h}点半", half, hour),
        st.sampled_from(["9am", "25pm", "noon", "midnight", "13:60", "24:00", "00:00", "23:59"]),
    )


RELATIVE = st.sampled_from(
    [
        "今天",
        "明天",
        "后天",
        "大后天",
        "昨天",
        "前天",
        "今晚8点",
        "明天上午9点",
        "3天后",
        "三天后",
        "半小时后",
        "2个半小时后",
        "100000天后",
        "下周一 9:00",
        "本周日",
        "周八",
        "上周五",
        "月底",
        "一周后",
        "两周后",
        "5周后",
        "tomorrow 9am",
        "in 2 hours",
        "next monday",
        "yesterday",
        "同上次",
        "本月",
        "本季度",
        "本年",
        "上个月15号",
        "999天前",
        "2周前",
    ]
)


@cache
def _when() -> st.SearchStrategy[str]:
    date = st.one_of(_iso_date(), _cn_date(), RELATIVE)
    offset = st.builds(
        lambda n, unit: f"{n}{unit}后",
        INTEGERS,
        st.sampled_from(["天", "小时", "分钟", "周", "个半小时"]),
    )
    return st.one_of(
        offset,
        date,
        _clock_time(),
        st.builds(lambda d, t: f"{d} {t}", date, _clock_time()),
        st.builds(lambda d, t: f"{d}{t}", date, _clock_time()),
    )


@cache
def _range() -> st.SearchStrategy[str]:
    date = st.one_of(_iso_date(), _cn_date(), RELATIVE)
    sep = st.sampled_from([" 至 ", "至", "-", " - ", "~", "到", "—", " to "])
    return st.builds(lambda a, s, b: f"{a}{s}{b}", date, sep, date)


@cache
def _words() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(PLAIN, max_size=40),
        st.lists(EMOJI, min_size=1, max_size=8).map("".join),
        st.sampled_from(
            [
                "开会",
                "提交照片",
                "科普讲座",
                "昨天在青山区社区开展科普讲座，约120人参加",
                "企业科协怎么成立？",
                "好的",
                "收到，按要求办理",
                "<b>粗体</b>",
                "&amp;",
                "<",
                "a|b|c",
                "task:fill:1",
                "f|x|answer|1",
                "'; DROP TABLE tg_user; --",
                "\\",
                "%s %d {0}",
                "null",
                "None",
                "∞",
                "𠀀𠀁",
                "ok",
            ]
        ),
    )


@cache
def long_text() -> st.SearchStrategy[str]:
    """A text near Telegram's limit (4,096 UTF-16 units), of one repeated piece."""
    piece = st.sampled_from(["长", "a", "🎉", "科普讲座 ", "1"])
    return st.builds(
        lambda p, n: (p * (TEXT_LIMIT // utf16_len(p)))[: max(1, n)], piece, st.integers(1, 4096)
    ).filter(lambda s: utf16_len(s) <= TEXT_LIMIT)


@cache
def argument() -> st.SearchStrategy[str]:
    """One argument a user might type after a command."""
    return st.one_of(
        _when(), _range(), _number_text(), _words(), st.sampled_from(["", " ", "  ", "\n"])
    )


@cache
def _year_month() -> st.SearchStrategy[str]:
    """A year or a month of one, as /mylogs reads them (2026年, 2026-03, 3月)."""
    year, month = st.integers(0, 9999), st.integers(0, 13)
    return st.one_of(
        st.builds(lambda y: f"{y:04d}年", year),
        st.builds(lambda y: f"{y:04d}", year),
        st.builds(lambda y, m: f"{y:04d}-{m:02d}", year, month),
        st.builds(lambda y, m: f"{y}年{m}月", year, month),
        st.builds(lambda m: f"{m}月", month),
    )


@cache
def report_text() -> st.SearchStrategy[str]:
    """A one-line activity report, as the quick log reads them (with impossible dates too)."""
    return st.builds(
        lambda day, place, kind, people: f"{day}在{place}开展{kind}，{people}参加",
        st.one_of(_iso_date(), _cn_date(), RELATIVE),
        st.sampled_from(["青山区社区", "科技馆", "x" * 60]),
        st.sampled_from(["科普讲座", "科技培训", "学术交流", "展览"]),
        _number_text(),
    )


@cache
def command_args(name: str) -> st.SearchStrategy[str]:
    # What each command reads after its name; every command also gets random arguments.
    specific = {
        "remind": st.builds(lambda w, t: f"{w} {t}", _when(), _words()),
        "stats": _range(),
        "export": _range(),
        "log": report_text(),
        "mylogs": st.one_of(_range(), _when(), _year_month(), _words()),
        "pushed": _number_text(),
        "ask": st.one_of(_words(), long_text()),
        "start": st.one_of(st.text(PLAIN, max_size=64), st.from_regex(r"[A-Za-z0-9_-]{1,64}")),
    }.get(name)
    random = st.lists(argument(), max_size=4).map(" ".join)
    return st.one_of(specific, random) if specific is not None else random


@cache
def command_text() -> st.SearchStrategy[str]:
    """``/command [@bot] args…`` for every command the bot has, and some it has not."""
    mention = st.sampled_from(["", "", "@stabot_test_bot", "@other_bot"])

    def with_args(name: str) -> st.SearchStrategy[str]:
        return st.builds(
            lambda m, a: f"/{name}{m} {a}".rstrip() if a.strip() else f"/{name}{m}",
            mention,
            command_args(name),
        )

    return st.sampled_from([*COMMANDS, *UNKNOWN_COMMANDS]).flatmap(with_args).map(_clip)


@cache
def free_text() -> st.SearchStrategy[str]:
    """Text outside a command: answers to form steps, questions, reports, junk."""
    return (
        st.one_of(
            argument(),
            st.lists(argument(), min_size=2, max_size=4).map(" ".join),
            report_text(),
            long_text(),
        )
        .map(_clip)
        .filter(lambda s: s.strip() != "")
    )


def _clip(text: str) -> str:
    while utf16_len(text) > TEXT_LIMIT:
        text = text[: len(text) - (utf16_len(text) - TEXT_LIMIT + 1) // 2 - 1]
    return text


# Formatting a user applied: (start, length, kind) in characters, cut to the text it lands on.
FORMATTING = st.lists(
    st.tuples(
        st.integers(0, 4095),
        st.integers(1, 20),
        st.sampled_from(["bold", "italic", "code", "underline", "spoiler", "url"]),
    ),
    max_size=2,
)


def entities(text: str, formatting: list[tuple[int, int, str]]) -> list[JSON]:
    """Telegram's entities for a text: its leading bot_command, plus formatting on whole chars."""
    found: list[JSON] = []
    if text.startswith("/") and len(text) > 1 and not text[1].isspace():
        command = text.split()[0]
        found.append({"type": "bot_command", "offset": 0, "length": utf16_len(command)})
    spans = []
    for start, length, kind in formatting:
        a = start % len(text)
        b = min(len(text), a + length)
        if text[a:b].strip():
            spans.append(
                {"type": kind, "offset": utf16_len(text[:a]), "length": utf16_len(text[a:b])}
            )
    return found + sorted(spans, key=lambda e: e["offset"])


# --- callback data ---------------------------------------------------------------------------


@cache
def _id_token() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(-3, 12).map(str),
        st.integers(-(2**70), 2**70).map(str),
        st.sampled_from(
            ["", "x", "0x10", "1e3", "١٢", "１", "²", "½", " 1", "1 ", "+1", "-0", "1.5"]
        ),
        st.text(PLAIN, max_size=6),
    )


@cache
def _token() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(sorted(ACTION_WORDS)), _id_token())


def clip_bytes(data: str, limit: int = CALLBACK_LIMIT) -> str:
    """``data`` cut to at most ``limit`` bytes of UTF-8 without splitting a character."""
    raw = data.encode("utf-8")[:limit]
    return raw.decode("utf-8", errors="ignore")


@cache
def forged_data() -> st.SearchStrategy[str]:
    """Callback data no button of the bot carries (or that an old button carried)."""
    prefixed = st.builds(
        lambda prefix, parts: prefix + prefix[-1].join(parts),
        st.sampled_from(PREFIXES),
        st.lists(_token(), min_size=0, max_size=5),
    )
    return (
        st.one_of(
            prefixed,
            st.sampled_from([p.rstrip("|:") for p in PREFIXES]),
            st.text(PLAIN, min_size=1, max_size=64),
            st.binary(min_size=1, max_size=64).map(lambda b: b.decode("utf-8", errors="replace")),
            st.sampled_from(PREFIXES).map(lambda p: p + "9" * 80),
        )
        .map(clip_bytes)
        .filter(bool)
    )


@cache
def mutation() -> st.SearchStrategy[tuple[str, int, str]]:
    """How to change a real button's data: replace, drop or add one part."""
    return st.tuples(st.sampled_from(["replace", "drop", "add"]), st.integers(0, 7), _id_token())


def mutate(real: str, how: tuple[str, int, str]) -> str:
    """``real`` changed as ``how`` says (a real button's data, one part off)."""
    sep = SEPARATOR
    parts = real.split(sep)
    action, index, token = how
    i = index % len(parts)
    if action == "replace":
        parts[i] = token
    elif action == "drop" and len(parts) > 1:
        del parts[i]
    elif action == "add":
        parts.insert(i + 1, token)
    return clip_bytes(sep.join(parts)) or real


# --- the other update kinds ------------------------------------------------------------------


def reaction() -> st.SearchStrategy[JSON]:
    """A ReactionType."""
    return st.one_of(
        EMOJI.map(lambda e: {"type": "emoji", "emoji": "👍" if len(e) > 1 else e}),
        st.just({"type": "custom_emoji", "custom_emoji_id": "5368324170671202286"}),
        st.just({"type": "paid"}),
    )


def member_status(user: JSON) -> st.SearchStrategy[JSON]:
    """A ChatMember of the simple kinds (member, left, kicked)."""
    return st.sampled_from(
        [
            {"status": "member", "user": user},
            {"status": "left", "user": user},
            {"status": "kicked", "user": user, "until_date": 0},
        ]
    )


def poll(question: str) -> JSON:
    """A Poll, as a poll message or a poll update carries it."""
    return {
        "id": "5798302417542234114",
        "question": question or "?",
        "options": [
            {"persistent_id": "a", "text": "是", "voter_count": 1},
            {"persistent_id": "b", "text": "否", "voter_count": 0},
        ],
        "total_voter_count": 1,
        "is_closed": False,
        "is_anonymous": True,
        "type": "regular",
        "allows_multiple_answers": False,
        "allows_revoting": False,
        "members_only": False,
    }


# --- updates, built against the state of the offline Bot API ---------------------------------

# What an update is, weighted by how often the fuzzer sends it (sampled_from shrinks to the first).
KINDS = (
    ["command"] * 8
    + ["press"] * 7
    + ["text"] * 6
    + ["forged"] * 5
    + ["media"] * 3
    + ["edited"] * 2
    + ["group"] * 3
    + ["channel"] * 2
    + ["service"] * 2
    + ["other"] * 3
    + ["redeliver", "wait"]
)
# What an example starts with: nothing, or a command that opens a form (or a list of buttons).
OPENERS = [
    "/log",
    None,
    "/newtask",
    "/broadcast",
    "/stats",
    "/export",
    "/stats 2026-01-01 至 2026-03-31",
    "/log 昨天在青山区社区开展科普讲座，约120人参加",
    "/tasks",
    "/mylogs",
    "/remind",
    "/start",
    "/lang",
    "/docs",
    "/pushed",
]
# Kinds of update other than messages and buttons; all but my_chat_member are not served.
OTHER_KINDS = (
    "inline_query",
    "chosen_inline_result",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "poll",
    "poll_answer",
    "message_reaction",
    "message_reaction_count",
    "chat_boost",
    "removed_chat_boost",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "business_connection",
    "business_message",
    "deleted_business_messages",
)


class UpdateFuzzer:
    """Draws one update at a time (``draw(data)``), as users and Telegram could send it.

    ``api`` is the offline Bot API the bot talks to: the fuzzer allocates message ids from it,
    presses the buttons of the bot's messages it holds, and has it observe each update (so the
    bot's replies to the chats and callback queries in it are accepted).
    """

    def __init__(self, api: Any, clock: Any, users: list[JSON]) -> None:
        self.api = api
        self.clock = clock
        self.users = users
        self.update_id = 0
        self.queries = 0
        self.fed: list[JSON] = []
        self.protagonist = users[0]
        self.media = self._media_content()
        self.group = self._chat({"id": -4_000_000_101, "type": "group", "title": "科协工作群"})
        self.supergroup = self._chat(
            {
                "id": -1_001_000_000_101,
                "type": "supergroup",
                "title": "联络员群",
                "username": "kx_sg",
            }
        )
        self.channel = self._chat(
            {
                "id": -1_001_000_000_202,
                "type": "channel",
                "title": "科协通知",
                "username": "kx_news",
            }
        )

    def _chat(self, chat: JSON) -> JSON:
        self.api.register_chat(chat)
        return chat

    # --- drawing -----------------------------------------------------------------------------

    def begin(self, data: Any) -> JSON | None:
        """Start an example: its main user, and the command that opens a form for them first.

        The bot's messages and calls of earlier examples are forgotten.
        """
        self.fed.clear()
        self.api.messages.clear()
        self.api.clear_calls()
        self.protagonist = data.draw(st.sampled_from(self.users), label="protagonist")
        opener = data.draw(st.sampled_from(OPENERS), label="opener")
        if opener is None:
            return None
        message = self._message(
            self._private(self.protagonist),
            self.protagonist,
            {"text": opener, "entities": entities(opener, [])},
        )
        return self._numbered({"message": message})

    def draw(self, data: Any) -> tuple[str, JSON]:
        """The kind of the next update and its JSON (``update_id`` assigned, observed).

        What is drawn never depends on the bot's state (a button is drawn as an index into
        whatever keyboard is there), so a failing sequence replays and shrinks exactly.
        """
        kind = data.draw(st.sampled_from(KINDS), label="kind")
        if kind == "redeliver":
            back = data.draw(st.integers(1, 5), label="back")
            if self.fed:
                return kind, self.fed[-min(back, len(self.fed))]
            kind = "text"
        if kind == "wait":
            minutes = data.draw(st.sampled_from([1, 59, 600, 1440, 4320]), label="minutes")
            self.clock.advance(timedelta(minutes=minutes))
            kind = "text"
        update = getattr(self, f"_{kind}")(data)
        if "my_chat_member" in update:  # the bot's own membership: served (handlers/groups.py)
            kind = "member"
        return kind, self._numbered(update)

    def _numbered(self, update: JSON) -> JSON:
        self.update_id += 1
        update = {"update_id": self.update_id, **update}
        self.api.observe_update(update)
        self.fed.append(update)
        return update

    def _user(self, data: Any) -> JSON:
        # Mostly the example's main user, so that the form they opened goes on.
        known = data.draw(
            st.sampled_from([self.protagonist, self.protagonist, *self.users, None]), label="user"
        )
        if known is not None:
            return dict(known)
        return data.draw(
            st.fixed_dictionaries(
                {
                    "id": st.integers(1, 2**52),
                    "is_bot": st.just(False),
                    "first_name": st.text(PLAIN, min_size=1, max_size=64),
                },
                optional={
                    "last_name": st.text(PLAIN, max_size=64),
                    "username": st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{4,31}", fullmatch=True),
                    "language_code": st.sampled_from(["zh-hans", "zh", "en", "ru", "xx"]),
                    "is_premium": st.just(True),
                },
            ),
            label="unknown user",
        )

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    def _message(self, chat: JSON, sender: JSON | None, content: JSON) -> JSON:
        message = {
            "message_id": self.api.next_message_id(chat["id"]),
            "date": self._now(),
            "chat": chat,
            **content,
        }
        if sender is not None:
            message["from"] = sender
        return message

    def _text_content(self, data: Any, text: str) -> JSON:
        content: JSON = {"text": text}
        found = entities(text, data.draw(FORMATTING, label="formatting"))
        if found:
            content["entities"] = found
        if data.draw(st.booleans(), label="reply?"):
            content["reply_to_message"] = self._earlier_message(data, None)
        return content

    def _earlier_message(self, data: Any, chat: JSON | None) -> JSON:
        """A message to reply to or to pin: one of the bot's, else a made-up one."""
        bots = data.draw(st.booleans(), label="bot's message?")
        mine = self.api.sent_messages(chat["id"]) if chat else []
        if mine and bots:
            message = dict(mine[-1])
            message.pop("reply_markup", None)
            return message
        return {
            "message_id": 1,
            "date": self._now() - 60,
            "chat": chat or self.group,
            "text": "earlier",
        }

    def _private(self, user: JSON) -> JSON:
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        if "username" in user:
            chat["username"] = user["username"]
        return chat

    def _sender_and_chat(self, data: Any) -> tuple[JSON | None, JSON]:
        """Who sends and where: a user privately or in a group, or on behalf of a chat."""
        user = self._user(data)
        where = data.draw(st.sampled_from(["private"] * 4 + ["group", "supergroup"]), label="chat")
        if where == "private":
            return user, self._private(user)
        chat = self.group if where == "group" else self.supergroup
        as_who = data.draw(
            st.sampled_from(["user"] * 3 + ["anonymous", "channel", "nobody"]), label="sender"
        )
        if as_who == "user":
            return user, chat
        return {"anonymous": ANONYMOUS_ADMIN, "channel": SERVICE_USER, "nobody": None}[
            as_who
        ], chat

    # --- the kinds ---------------------------------------------------------------------------

    def _command(self, data: Any) -> JSON:
        sender, chat = self._sender_and_chat(data)
        text = data.draw(command_text(), label="command")
        message = self._message(chat, sender, self._text_content(data, text))
        self._on_behalf(message, sender, chat)
        return {"message": message}

    def _text(self, data: Any) -> JSON:
        user = self._user(data)
        text = data.draw(free_text(), label="text")
        return {
            "message": self._message(self._private(user), user, self._text_content(data, text))
        }

    def _media(self, data: Any) -> JSON:
        sender, chat = self._sender_and_chat(data)
        content = data.draw(self.media, label="media")
        message = self._message(chat, sender, content)
        self._on_behalf(message, sender, chat)
        return {"message": message}

    def _media_content(self) -> st.SearchStrategy[JSON]:
        caption = st.one_of(st.none(), free_text().map(lambda s: s[:CAPTION_LIMIT]))

        def with_caption(content: JSON, text: str | None) -> JSON:
            return {**content, "caption": text} if text else content

        photo = st.builds(
            lambda b, c: with_caption({"photo": self.api.register_file(b, kind="photo")}, c),
            st.binary(min_size=1, max_size=64),
            caption,
        )
        document = st.builds(
            lambda b, name, mime, c: with_caption(
                {
                    "document": self.api.register_file(
                        b, kind="document", file_name=name, mime_type=mime
                    )
                },
                c,
            ),
            st.binary(max_size=256),
            st.sampled_from(
                [
                    "通知.txt",
                    "a.pdf",
                    "b.docx",
                    "x.md",
                    "evil.exe",
                    "无后缀",
                    ".txt",
                    "长" * 60 + ".txt",
                ]
            ),
            st.sampled_from(["text/plain", "application/pdf", "application/octet-stream"]),
            caption,
        )
        sticker = st.builds(
            lambda b, e: {
                "sticker": self.api.register_file(b, kind="sticker")
                | {
                    "is_animated": False,
                    "is_video": False,
                    "emoji": e,
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                }
            },
            st.binary(min_size=1, max_size=16),
            st.sampled_from(["👍", "🎉"]),
        )
        location = st.builds(
            lambda lat, lon: {"location": {"latitude": lat, "longitude": lon}},
            st.floats(-90, 90),
            st.floats(-180, 180),
        )
        contact = st.builds(
            lambda phone, name: {"contact": {"phone_number": phone, "first_name": name}},
            st.from_regex(r"\+?[0-9]{5,15}", fullmatch=True),
            st.text(PLAIN, min_size=1, max_size=20),
        )
        dice = st.builds(lambda v: {"dice": {"emoji": "🎲", "value": v}}, st.integers(1, 6))
        voice = st.just(
            {
                "voice": {
                    "file_id": "AwACAgUAAxkBAAIB",
                    "file_unique_id": "AgADvoice",
                    "duration": 3,
                    "mime_type": "audio/ogg",
                }
            }
        )
        a_poll = st.builds(lambda q: {"poll": poll(q)}, st.text(PLAIN, max_size=20))
        venue = st.just(
            {
                "venue": {
                    "location": {"latitude": 40.8, "longitude": 111.7},
                    "title": "科技馆",
                    "address": "呼和浩特",
                },
                "location": {"latitude": 40.8, "longitude": 111.7},
            }
        )
        return st.one_of(photo, document, sticker, location, contact, dice, voice, a_poll, venue)

    def _on_behalf(self, message: JSON, sender: JSON | None, chat: JSON) -> None:
        # An anonymous admin posts as the group; an automatic forward comes from the channel.
        if sender is ANONYMOUS_ADMIN or sender == ANONYMOUS_ADMIN:
            message["sender_chat"] = {k: v for k, v in chat.items()}
        elif sender == SERVICE_USER:
            message["sender_chat"] = dict(self.channel)
            message["is_automatic_forward"] = True

    def _edited(self, data: Any) -> JSON:
        sender, chat = self._sender_and_chat(data)
        text = data.draw(st.one_of(command_text(), free_text()), label="edited text")
        message = self._message(chat, sender, self._text_content(data, text))
        message["message_id"] = max(1, message["message_id"] - 1)  # an earlier message
        message["edit_date"] = self._now()
        self._on_behalf(message, sender, chat)
        return {"edited_message": message}

    def _group(self, data: Any) -> JSON:
        return self._command(data) if data.draw(st.booleans()) else self._media(data)

    def _channel(self, data: Any) -> JSON:
        text = data.draw(st.one_of(command_text(), free_text()), label="post")
        post = self._message(self.channel, None, self._text_content(data, text))
        post["sender_chat"] = dict(self.channel)
        if data.draw(st.booleans(), label="edited?"):
            post["edit_date"] = self._now()
            return {"edited_channel_post": post}
        return {"channel_post": post}

    def _service(self, data: Any) -> JSON:
        user = self._user(data)
        chat = data.draw(st.sampled_from([self.group, self.supergroup, self._private(user)]))
        bot = dict(self.api.bot_user)
        content = data.draw(
            st.sampled_from(
                [
                    {"new_chat_members": [user]},
                    {"new_chat_members": [bot]},
                    {"left_chat_member": user},
                    {"new_chat_title": "新群名"},
                    {"group_chat_created": True},
                    {"delete_chat_photo": True},
                    {"pinned_message": {"chat": chat, "message_id": 1, "date": 0}},
                    {"pinned_message": self._earlier_message(data, chat)},
                    {"message_auto_delete_timer_changed": {"message_auto_delete_time": 86400}},
                ]
            ),
            label="service",
        )
        return {"message": self._message(chat, user, content)}

    # --- buttons -----------------------------------------------------------------------------

    def _keyboards(self, chat_id: int) -> list[JSON]:
        """The bot's messages in a chat with at least one callback button (not only links)."""
        return [m for m in self.api.sent_messages(chat_id) if _callback_data(m)]

    def _press(self, data: Any) -> JSON:
        """A real button of one of the bot's messages, by a known user (sometimes mutated)."""
        user = data.draw(st.sampled_from([self.protagonist, *self.users]), label="presser")
        which = data.draw(st.tuples(st.integers(0, 3), st.integers(0, 63)), label="button")
        change = data.draw(
            st.one_of(st.none(), st.none(), st.none(), mutation()), label="mutation"
        )
        where = data.draw(st.sampled_from(["private", "private", "group", "supergroup"]))
        fallback = self._forged(data)
        chat_id = {"group": self.group["id"], "supergroup": self.supergroup["id"]}.get(
            where, user["id"]
        )
        shown = self._keyboards(chat_id)
        if not shown:
            return fallback
        message = shown[::-1][which[0] % len(shown)]
        buttons = _callback_data(message)
        real = buttons[which[1] % len(buttons)]
        return self._query(user, mutate(real, change) if change else real, message)

    def _forged(self, data: Any) -> JSON:
        user = self._user(data)
        forged = data.draw(forged_data(), label="forged data")
        where = data.draw(
            st.sampled_from(["newest", "made up", "inaccessible", "none", "group", "game"]),
            label="on message",
        )
        message_id = data.draw(st.integers(1, 2**31 - 1), label="message id")
        chat = self._private(user)
        shown = self._keyboards(user["id"])
        if where == "newest" and shown:
            return self._query(user, forged, shown[-1])
        if where == "inaccessible":
            return self._query(user, forged, {"chat": chat, "message_id": message_id, "date": 0})
        if where in ("none", "game"):
            query = self._query(user, forged, None)
            query["callback_query"]["inline_message_id"] = "AgAAAN8hAQBxBwQAtZ5yK9aW0Xo"
            if where == "game":
                del query["callback_query"]["data"]
                query["callback_query"]["game_short_name"] = "quiz"
            return query
        target = self.group if where == "group" else chat
        made_up = {
            "message_id": message_id,
            "date": self._now(),
            "chat": target,
            "from": dict(self.api.bot_user),
            "text": "…",
        }
        return self._query(user, forged, made_up)

    def _query(self, user: JSON, data: str, message: JSON | None) -> JSON:
        self.queries += 1
        query: JSON = {
            "id": str(FIRST_QUERY_ID + self.queries),
            "from": user,
            "chat_instance": "-7081234567890",
            "data": data,
        }
        if message is not None:
            query["message"] = {k: v for k, v in message.items() if k != "deleted"}
        return {"callback_query": query}

    # --- updates the bot does not serve ------------------------------------------------------

    def _other(self, data: Any) -> JSON:
        kind = data.draw(st.sampled_from(OTHER_KINDS), label="other kind")
        user = self._user(data)
        now = self._now()
        text = data.draw(st.text(PLAIN, max_size=30), label="other text")
        group = data.draw(st.sampled_from([self.group, self.supergroup, self.channel]))
        boost_source = {"source": "premium", "user": user}
        payloads: dict[str, Any] = {
            "inline_query": lambda: {"id": "1", "from": user, "query": text, "offset": ""},
            "chosen_inline_result": lambda: {"result_id": "r1", "from": user, "query": text},
            "my_chat_member": lambda: self._member_update(data, user, dict(self.api.bot_user)),
            "chat_member": lambda: self._member_update(data, user, user),
            "chat_join_request": lambda: {
                "chat": group,
                "from": user,
                "user_chat_id": user["id"],
                "date": now,
            },
            "poll": lambda: poll(text),
            "poll_answer": lambda: {
                "poll_id": "5798302417542234114",
                "user": user,
                "option_ids": [0],
                "option_persistent_ids": ["a"],
            },
            "message_reaction": lambda: {
                "chat": group,
                "message_id": 1,
                "user": user,
                "date": now,
                "old_reaction": [],
                "new_reaction": [data.draw(reaction())],
            },
            "message_reaction_count": lambda: {
                "chat": group,
                "message_id": 1,
                "date": now,
                "reactions": [{"type": data.draw(reaction()), "total_count": 2}],
            },
            "chat_boost": lambda: {
                "chat": self.channel,
                "boost": {
                    "boost_id": "b1",
                    "add_date": now,
                    "expiration_date": now + 86400,
                    "source": boost_source,
                },
            },
            "removed_chat_boost": lambda: {
                "chat": self.channel,
                "boost_id": "b1",
                "remove_date": now,
                "source": boost_source,
            },
            "shipping_query": lambda: {
                "id": "s1",
                "from": user,
                "invoice_payload": text,
                "shipping_address": {
                    "country_code": "CN",
                    "state": "内蒙古",
                    "city": "呼和浩特",
                    "street_line1": "新华大街",
                    "street_line2": "",
                    "post_code": "010000",
                },
            },
            "pre_checkout_query": lambda: {
                "id": "p1",
                "from": user,
                "currency": "XTR",
                "total_amount": 1,
                "invoice_payload": text,
            },
            "purchased_paid_media": lambda: {"from": user, "paid_media_payload": text},
            "business_connection": lambda: {
                "id": "bc1",
                "user": user,
                "user_chat_id": user["id"],
                "date": now,
                "can_reply": True,
                "is_enabled": True,
            },
            "business_message": lambda: {
                **self._message(self._private(user), user, {"text": text or "hi"}),
                "business_connection_id": "bc1",
            },
            "deleted_business_messages": lambda: {
                "business_connection_id": "bc1",
                "chat": self._private(user),
                "message_ids": [1, 2],
            },
        }
        return {kind: payloads[kind]()}

    def _member_update(self, data: Any, actor: JSON, member: JSON) -> JSON:
        chat = data.draw(st.sampled_from([self._private(actor), self.group, self.channel]))
        old, new = data.draw(member_status(member)), data.draw(member_status(member))
        return {
            "chat": chat,
            "from": actor,
            "date": self._now(),
            "old_chat_member": old,
            "new_chat_member": new,
        }


def _callback_data(message: JSON) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [b["callback_data"] for row in rows for b in row if "callback_data" in b]
