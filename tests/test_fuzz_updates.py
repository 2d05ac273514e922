"""Fuzz the real Application with Update JSON the Bot API can send: no update may fail.

Hypothesis draws sequences of updates (``tests/update_strategies.py``) from registered users
(a liaison, an English-speaking information officer, a city admin, a province admin, a
superadmin), a guest and unknown users, in private chats, groups and a channel, and feeds them
one by one to one running bot on the test database. Its state carries over from example to
example, so forms are open or not, tasks, notices and reminders exist or not, as the drawn
sequences left them; the fixed seed (``derandomize``) makes the whole run repeat exactly.

What must hold after every update:
- the error handler was never reached and nothing logged an ERROR;
- no Bot API call was refused for being malformed (unknown parameter, bad HTML, too long);
- an update of a kind the bot does not serve (a channel post, a message on behalf of a chat or
  without a sender, a service message, an inline query, a poll, a reaction …) caused no call.

``STABOT_FUZZ_UPDATES=2000 pytest tests/test_fuzz_updates.py -s`` runs a longer fuzz (at least
that many updates) and prints its figures; by default the run is short enough for the suite.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from telegram import Update

from bot.flows.quick_log import read_free_text
from bot.runtime import runtime_of
from bot.services import activities, activity_search, people, reminders, when
from bot.services.activities import ActivityFields
from bot.services.knowledge import KnowledgeBase
from bot.services.policy import KNOWLEDGE_SUBDIR, PolicyLibrary
from bot.services.tasks import TaskDraft, publish_task
from offline.bot_api import ApiCall
from offline.updates import TgUser
from storage import users_repo
from storage.db import SessionFactory, transaction
from storage.models import Role
from tests.conftest import START, SUPERADMIN_ID, empty_tables
from tests.harness import BotHarness, demo_tree, running_bot
from tests.update_strategies import UpdateFuzzer, command_args, free_text

LIAISON = TgUser(id=81001, first_name="联络员")
OFFICER = TgUser(id=81002, first_name="Officer", language_code="en")
CITY = TgUser(id=81003, first_name="市管理员")
PROVINCE = TgUser(id=81004, first_name="省管理员")
SUPER = TgUser(id=SUPERADMIN_ID, first_name="超级管理员")
GUEST = TgUser(id=81005, first_name="访客", language_code=None)
USERS = [LIAISON, OFFICER, CITY, PROVINCE, SUPER, GUEST]

LONG_RUN = int(os.environ.get("STABOT_FUZZ_UPDATES", "0"))
# About 10 updates per example (1..20 drawn); the default keeps the test near 20 s per DB.
EXAMPLES = max(LONG_RUN // 8, 1) if LONG_RUN else 70
STEPS = 20
# Refusals of the offline API that mean the bot built a malformed request.
MALFORMED = ("strict check", "can't parse entities", "too long", "must be", "unsupported")
NUMBERING = {"update_id", "message_id", "date", "edit_date", "id", "file_id", "file_unique_id"}
# Update kinds that must cause no Bot API call.
UNSERVED = {"channel", "service", "other"}

CORPUS = """# 科普工作要点

## 一、活动记录

科普活动结束后三日内在系统中登记，附照片不少于两张。

## 二、报送

各旗县区科协每月5日前报送上月工作情况。
"""


class ErrorRecorder(logging.Handler):
    """Every ERROR record, from any logger, while the fuzz runs."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass(repr=False)  # Hypothesis prints the test's arguments: keep it short
class FuzzRun:
    """The running bot, the fuzzer, and what was seen so far."""

    bot: BotHarness
    fuzzer: UpdateFuzzer
    errors: ErrorRecorder
    reset: Callable[[], Awaitable[None]]
    failures: list[tuple[object, BaseException]] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    cpu: Counter[str] = field(default_factory=Counter)  # seconds of CPU per kind or command
    commands: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    distinct: set[str] = field(default_factory=set)
    examples: int = 0
    started: float = field(default_factory=time.process_time)
    # The long run goes on after a failure and reports each distinct one at the end.
    collect: bool = False
    found: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"FuzzRun({self.examples} examples, {sum(self.kinds.values())} updates)"

    async def begin(self, data: st.DataObject) -> None:
        """Every example starts from the same world, so a failure replays and shrinks."""
        await self.reset()
        self.examples += 1
        opener = self.fuzzer.begin(data)
        if opener is not None:
            await self.feed("command", opener)

    async def feed(self, kind: str, update: dict[str, Any]) -> list[ApiCall]:
        """Give one update to the bot, as Telegram would, and check what followed."""
        parsed = Update.de_json(update, self.bot.app.bot)
        # PTB keeps what it does not know in api_kwargs: a misspelt field of ours would land there.
        assert parsed is not None and not parsed.api_kwargs, update
        self.distinct.add(_shape(update))
        before, started = len(self.bot.api.calls), time.process_time()
        await self.bot.app.process_update(parsed)
        calls = self.bot.api.calls[before:]
        what = _what(kind, update)
        self.cpu[what] += time.process_time() - started
        self.commands[what] += what.startswith("/")
        self.kinds[kind] += 1
        self.calls += len(calls)
        self.check(kind, update, calls)
        return calls

    def check(self, kind: str, update: dict[str, Any], calls: list[ApiCall]) -> None:
        """The properties every update must keep."""
        failed = [f"{type(error).__name__}: {error}" for _, error in self.failures]
        failed += [record.getMessage() + _trace(record) for record in self.errors.records]
        self.failures.clear()  # an example that failed must not fail the next one too
        self.errors.records.clear()
        self.expect(not failed, "failed", update, "\n".join(failed))
        malformed = [
            (c.method, c.params, c.error)
            for c in calls
            if c.error and any(word in c.error["description"] for word in MALFORMED)
        ]
        self.expect(not malformed, "made malformed calls", update, malformed)
        if kind in UNSERVED or _on_behalf_of_a_chat(update):
            unwanted = [(c.method, c.params) for c in calls]
            self.expect(not unwanted, "is not for the bot, yet it called", update, unwanted)

    def expect(self, holds: bool, what: str, update: dict[str, Any], detail: object) -> None:
        """Fail now, or (in the long run) note the first update of each distinct failure."""
        if holds:
            return
        message = f"update {update} {what}:\n{detail}"
        if not self.collect:
            raise AssertionError(message)
        self.found.setdefault(_signature(what, detail), message)


def _shape(value: Any) -> str:
    """An update without what numbers it (ids, dates), to count the distinct ones."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in NUMBERING}
        return [strip(v) for v in node] if isinstance(node, list) else node

    return json.dumps(strip(value), sort_keys=True, ensure_ascii=False)


def _on_behalf_of_a_chat(update: dict[str, Any]) -> bool:
    message = update.get("message") or update.get("edited_message") or {}
    return bool(message) and ("sender_chat" in message or "from" not in message)


def _what(kind: str, update: dict[str, Any]) -> str:
    text = (update.get("message") or {}).get("text") or ""
    return text.split()[0].split("@")[0] if kind in ("command", "group") and text else kind


def _signature(what: str, detail: object) -> str:
    # The last line of a traceback (or the first call) tells failures apart well enough.
    lines = [line for line in str(detail).splitlines() if line.strip()]
    return f"{what}: {lines[-1] if lines else ''}"[:300]


def _trace(record: logging.LogRecord) -> str:
    if record.exc_info:
        return "\n" + logging.Formatter().formatException(record.exc_info)
    return ""


async def seed(sessions: SessionFactory, now: datetime, tz: ZoneInfo) -> None:
    """The demo tree with users of every role, and one of each thing a button can point at."""
    async with transaction(sessions) as session:
        members = [
            (LIAISON, "赛罕区科协", Role.LIAISON),
            (OFFICER, "赛罕区科协", Role.INFO_OFFICER),
        ]
        tree = await demo_tree(session, members, now)
        root = next(o for o in tree.values() if o.parent_id is None)
        city, county = tree["呼和浩特市科协"], tree["赛罕区科协"]
        await people.grant_admin(session, telegram_id=CITY.id, org_id=city.id, now=now)
        await people.grant_admin(session, telegram_id=PROVINCE.id, org_id=root.id, now=now)
        liaison = await users_repo.get_user(session=session, telegram_id=LIAISON.id)
        admin = await users_repo.get_user(session=session, telegram_id=CITY.id)
        await activities.create_activity(
            session,
            actor=liaison,
            fields=ActivityFields(
                type="lecture",
                title="科普讲座进社区",
                day=now.date(),
                org_id=county.id,
                participants=120,
            ),
            now=now,
        )
        await reminders.add_personal(
            session, liaison, LIAISON.id, now + timedelta(days=1), "提交照片", now
        )
        scope = await people.admin_scope(session, admin, False)
        await publish_task(
            session,
            TaskDraft(
                title="一季度工作情况", deadline=now + timedelta(days=10), org_ids=[county.id]
            ),
            actor=admin,
            scope=scope,
            now=now,
            tz=tz,
        )
        await people.request_access(
            session,
            telegram_id=GUEST.id,
            real_name="访客",
            org_id=county.id,
            role=Role.LIAISON,
            now=now,
        )


@pytest.fixture
async def fuzz(settings, clock, engine, sessions, tmp_path) -> AsyncIterator[FuzzRun]:
    """One bot for the whole fuzz, reset before each example; a one-document corpus."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "要点.md").write_text(CORPUS, encoding="utf-8")
    pristine = tmp_path / "pristine"
    KnowledgeBase(pristine / KNOWLEDGE_SUBDIR).ensure_corpus(corpus)
    settings = settings.model_copy(update={"corpus_dir": corpus})
    errors = ErrorRecorder()
    logging.getLogger().addHandler(errors)
    try:
        async with running_bot(settings, clock) as bot:
            rt = runtime_of(bot.app)

            async def reset() -> None:
                await empty_tables(engine)
                clock.set(START)
                await seed(sessions, clock.now(), settings.tz)
                # Uploads and removals change the library; each example gets the pristine one.
                data_dir = tmp_path / f"data{run.examples}"
                shutil.copytree(pristine, data_dir)
                rt.policy = PolicyLibrary(data_dir, corpus)

            users = [u.to_dict() for u in USERS]
            run = FuzzRun(bot, UpdateFuzzer(bot.api, clock, users), errors, reset)
            run.collect = bool(LONG_RUN)

            async def record(update: object, context: Any) -> None:
                run.failures.append((update, context.error))

            bot.app.add_error_handler(record)
            yield run
    finally:
        logging.getLogger().removeHandler(errors)
    if LONG_RUN:
        _report(run)
        assert not run.found, "\n\n".join(run.found.values())


def _report(run: FuzzRun) -> None:
    total = sum(run.kinds.values())
    seconds = time.process_time() - run.started
    print(
        f"\nfuzz: {run.examples} examples, {total} updates ({len(run.distinct)} distinct), "
        f"{run.calls} Bot API calls, {seconds:.1f} s CPU "
        f"({seconds / max(total, 1) * 1000:.1f} ms per update)"
    )
    for kind, count in run.kinds.most_common():
        print(f"  {kind:10} {count}")
    print("commands:", ", ".join(f"{k} {v}" for k, v in run.commands.most_common() if v))
    print("CPU (s):", ", ".join(f"{k} {v:.2f}" for k, v in run.cpu.most_common(10)))
    print(f"distinct failures: {len(run.found)}")
    for signature in run.found:
        print(f"  {signature}")


@settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same updates on every run and machine
    database=None,
    deadline=None,
    # No explain phase: it replays the failing example hundreds of times for little news.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one bot for all examples, on purpose
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
async def test_no_update_reaches_the_error_handler(fuzz: FuzzRun, data: st.DataObject) -> None:
    await fuzz.begin(data)
    for _ in range(data.draw(st.integers(1, STEPS), label="steps")):
        kind, update = fuzz.fuzzer.draw(data)
        await fuzz.feed(kind, update)


@settings(
    max_examples=1000 if not LONG_RUN else 10_000, derandomize=True, database=None, deadline=None
)
@given(
    text=st.one_of(
        free_text(), command_args("remind"), command_args("stats"), command_args("mylogs")
    )
)
def test_date_readers_refuse_only_with_a_reason(text: str) -> None:
    """Every reader of typed dates returns a value or refuses with a message key."""
    now, tz = START, ZoneInfo("Asia/Shanghai")
    today = now.astimezone(tz).date()
    refused = (when.WhenError,)
    readers = [
        (lambda: when.read_leading_moment(text, now, tz, when.REMINDER), refused),
        (lambda: when.read_moment(text, now, tz, when.DEADLINE), refused),
        (lambda: when.read_moment(text, now, tz, when.BROADCAST), refused),
        (lambda: when.read_span(text, today), refused),
        (lambda: when.read_day(text, today), refused),
        (lambda: when.find_days(text, today), ()),
        (lambda: read_free_text(text, today), ()),
        (lambda: activity_search.read_query(text, today), (activities.ActivityError, *refused)),
    ]
    for read, refusals in readers:
        with contextlib.suppress(*refusals):
            read()
