"""Time one step of the activity form on WeCom, through the WeCom dispatcher (p50 / p95 / p99).

Every step is one WeCom event (a typed answer, a card button, or a number after numbered
choices) handed to ``WeComDispatcher``: the event recorded as handled, the member met, the
route, the form engine's state load and save, the reply rendered as WeCom messages and the
choices stored are all inside the measurement, and so is the send. By default the send is a
``wire`` stub that answers at once as WeCom would (no network, no HTTP); ``--transport fake``
sends through the real WeCom client over loopback HTTP to the fake WeCom API of the tests
(offline/wecom_api.py), JSON encoding, aiohttp and the fake's own checks included.

    python benchmarks/wecom_form_step.py                 # SQLite (a temporary file), 3 runs
    python benchmarks/wecom_form_step.py --transport fake --runs 2 --forms 30

With ``--transport fake`` the replies go as ``stabot run`` sends them: through `WeComReplies`
on WeCom's lane of the delivery pipeline (the member's burst, then 25 a minute; the
application's pace). ``--broadcast N`` launches a notice to N WeCom members first and runs the
pipeline (real time, WeCom's default rate) while ``--concurrent`` members fill forms, each
pausing ``--think`` seconds between steps as a person does; the fake holds WeCom's limits (the
application's minute at the lane's rate: a 45009 shows an excess). ``--broadcast 0`` is the
same without the broadcast, for the comparison:

    python benchmarks/wecom_form_step.py --transport fake --runs 1 --forms 40 --broadcast 2000
    python benchmarks/wecom_form_step.py --transport fake --runs 1 --forms 40 --broadcast 0

CPU time (``time.process_time``) is shown beside wall time: on a shared machine it tells what
a step costs when it has a core to itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the repository's packages, benchmarks too

from sqlmodel import select  # noqa: E402

from benchmarks.form_step import ORG_NAME, SCRIPT, START  # noqa: E402
from benchmarks.two_channels import busiest_window, notice_status, populate, userid  # noqa: E402
from bot.app import FORMS, TEXT_ROUTES  # noqa: E402
from bot.common.clock import FrozenClock, SystemClock  # noqa: E402
from bot.delivery import service  # noqa: E402
from bot.delivery.outcome import Outcome, Outgoing, Result  # noqa: E402
from bot.delivery.settings import DeliverySettings  # noqa: E402
from bot.flows import engine as form_engine  # noqa: E402
from bot.services import orgs  # noqa: E402
from bot.wecom.client import Message, Recipients, SendResult, WeComClient  # noqa: E402
from bot.wecom.dispatch import WeComDispatcher  # noqa: E402
from bot.wecom.events import EventKind, WeComEvent  # noqa: E402
from bot.wecom.render import messages  # noqa: E402
from bot.wecom.sender import WeComReplies, WeComSender  # noqa: E402
from offline.wecom_api import FakeWeComAPI, WeComLimits, serving  # noqa: E402
from storage import users_repo  # noqa: E402
from storage.activity_models import Activity  # noqa: E402
from storage.db import create_engine, session_factory, transaction  # noqa: E402
from storage.identity_models import Channel  # noqa: E402
from storage.migrate import upgrade_to_head  # noqa: E402
from storage.models import Role  # noqa: E402


class Views:
    """What each member was sent last that has buttons: a card, or numbered choices."""

    def __init__(self) -> None:
        self.latest: dict[str, tuple[str, Mapping[str, Any]]] = {}

    def note(self, message: Message, users: list[str]) -> None:
        body = message.body()
        if message.msgtype == "template_card" or "回复数字选择" in str(body.get("content", "")):
            for user in users:
                self.latest[user] = (message.msgtype, body)


class Wire:
    """Answers message/send and update_template_card at once, as WeCom does when it accepts."""

    agent_id = 1000002

    def __init__(self, views: Views) -> None:
        self.views = views
        self._ids = itertools.count(1)

    async def send(self, message: Message, to: Recipients, *, safe: bool = False) -> SendResult:
        self.views.note(message, list(to.users))
        msgid = f"msg-{next(self._ids)}"
        return SendResult(0, "ok", msgid=msgid, response_code=f"code-{msgid}")

    def press_code(self) -> str:
        """The response code of a card event (any: this wire accepts every update)."""
        return f"press-{next(self._ids)}"

    async def call(self, method: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        card = payload["template_card"]
        for user in payload["userids"]:
            self.views.latest[user] = ("template_card", card)
        return {"errcode": 0, "errmsg": "ok"}


class Recording(WeComClient):
    """The real client, noting each member's newest card or choices for the next press."""

    def __init__(self, views: Views, api: FakeWeComAPI, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.views = views
        self.press_code = api.press_code  # the fake's: good for one update_template_card

    async def send(self, message: Message, to: Recipients, *, safe: bool = False) -> SendResult:
        result = await super().send(message, to, safe=safe)
        self.views.note(message, list(to.users))
        return result

    async def call(self, method: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        data = await super().call(method, payload)
        if method.endswith("update_template_card") and not int(data.get("errcode", 0)):
            for user in payload["userids"]:
                self.views.latest[user] = ("template_card", payload["template_card"])
        return data


class Runner:
    """One dispatcher on one database, and members to drive it."""

    def __init__(
        self,
        url: str,
        sender: Any,
        views: Views,
        clock: FrozenClock,
        replies: WeComReplies | None = None,
    ) -> None:
        self.clock, self.views, self.sender = clock, views, sender
        self.engine = create_engine(url)
        self.dispatcher = WeComDispatcher(
            sessions=session_factory(self.engine),
            client=sender,
            clock=clock,
            tz=ZoneInfo("Asia/Shanghai"),
            forms=form_engine.by_name(FORMS),
            text_routes=TEXT_ROUTES,
            replies=replies,
        )
        self._ids = itertools.count(1)

    async def step(self, member: str, kind: str, value: str) -> tuple[float, float]:
        """Hand one event to the dispatcher; the wall-clock and CPU seconds it took."""
        self.clock.advance(timedelta(seconds=1))
        event = self._event(member, kind, value)
        began, began_cpu = time.perf_counter(), time.process_time()
        await self.dispatcher(event)
        return time.perf_counter() - began, time.process_time() - began_cpu

    def _event(self, member: str, kind: str, value: str) -> WeComEvent:
        now = int(self.clock.now().timestamp())
        msg_id = f"bench-{next(self._ids)}"
        if kind == "text":
            return WeComEvent(EventKind.TEXT, member, now, text=value, msg_id=msg_id)
        msgtype, body = self.views.latest[member]
        if msgtype != "template_card":  # numbered choices: the number is typed
            number = next(
                line.split(". ", 1)[0]
                for line in str(body["content"]).splitlines()
                if ". " in line and value in line
            )
            return WeComEvent(EventKind.TEXT, member, now, text=number, msg_id=msg_id)
        key = next(b["key"] for b in body["button_list"] if value in b["text"])
        return WeComEvent(
            EventKind.CARD_BUTTON,
            member,
            now,
            event_key=key,
            task_id=body.get("task_id"),
            response_code=self.sender.press_code(),
            msg_id=msg_id,
        )


async def prepare(url: str, members: list[str], *, tree: bool = True) -> None:
    """Migrate, add the demo tree, and register the members as liaisons of one county."""
    engine = create_engine(url)
    if tree:  # else populate() migrated it
        await upgrade_to_head(engine)
    async with transaction(session_factory(engine)) as session:
        tree_ = {org.name: org for org in await orgs.create_demo_tree(session, now=START)}
        for member in members:
            person, _ = await users_repo.meet(session, Channel.WECOM, member, now=START)
            person.real_name, person.org_id, person.role = (
                "联络员",
                tree_[ORG_NAME].id,
                Role.LIAISON,
            )
            person.registered_at = START
    await engine.dispose()


@contextlib.asynccontextmanager
async def sender(transport: str, views: Views, clock: FrozenClock) -> AsyncIterator[Any]:
    if transport == "wire":
        yield Wire(views)
        return
    members = {f"bench{n}" for n in range(1000)}
    api = FakeWeComAPI("wwbench", "secret", Wire.agent_id, clock, users=members)
    async with serving(api.app()) as base_url:
        client = Recording(
            views, api, "wwbench", "secret", Wire.agent_id, base_url=base_url, clock=clock
        )
        try:
            yield client
        finally:
            await client.close()


async def run(url: str, forms: int, transport: str) -> tuple[list[float], list[float]]:
    members = [f"bench{n}" for n in range(forms)]
    await prepare(url, members)
    clock, views = FrozenClock(START), Views()
    walls: list[float] = []
    cpus: list[float] = []
    async with sender(transport, views, clock) as client:
        runner = Runner(url, client, views, clock)
        for member in members:
            gc.collect()
            for kind, value in SCRIPT:
                wall, cpu = await runner.step(member, kind, value)
                walls.append(wall)
                cpus.append(cpu)
        async with transaction(session_factory(runner.engine)) as session:
            stored = len((await session.exec(select(Activity))).all())
        await runner.engine.dispose()
    if stored != forms:  # every form must have gone through to its confirmation
        raise RuntimeError(f"{stored} activities stored for {forms} forms")
    return walls, cpus


class AdminStub:
    """The admin's side of the broadcast (Telegram's sender): status posts go nowhere."""

    async def send(self, out: Outgoing) -> Result:
        return Result(Outcome.SENT)

    async def post(self, chat_id: int, locale: str, reply: Any) -> int | None:
        return None

    async def edit(self, chat_id: int, message_id: int, locale: str, reply: Any) -> None:
        """Nothing to edit."""


async def run_beside_broadcast(
    url: str, forms: int, broadcast: int, concurrent: int, think: float
) -> tuple[list[float], list[float], dict[str, Any]]:
    """Members fill forms ``concurrent`` at a time, replies on WeCom's lane, while the
    pipeline sends a notice to ``broadcast`` WeCom members (none: 0)."""
    if broadcast:
        await populate(url, broadcast, 1.0)  # WeCom-first people, the notice launched
    members = [f"bench{n}" for n in range(forms)]
    await prepare(url, members, tree=not broadcast)
    config = DeliverySettings()
    clock, views = FrozenClock(START), Views()
    users = {*members, *(userid(n) for n in range(broadcast))}
    limits = WeComLimits(app_per_minute=int(config.wecom_rate * 60))
    api = FakeWeComAPI("wwbench", "secret", Wire.agent_id, SystemClock(), users=users)
    api.limits = limits
    engine = create_engine(url)
    async with serving(api.app()) as base_url:
        client = Recording(views, api, "wwbench", "secret", Wire.agent_id, base_url=base_url)
        bulk = WeComSender(client, messages, sessions=session_factory(engine))
        pipeline = service.build_pipeline(
            AdminStub(),  # type: ignore[arg-type]
            sessions=session_factory(engine),
            engine=engine,
            clock=SystemClock(),
            tz=ZoneInfo("Asia/Shanghai"),
            config=config,
            others={"wecom": bulk},
        )
        lane = pipeline.lanes["wecom"]
        runner = Runner(url, client, views, clock, WeComReplies(client, lane))
        walls: list[float] = []
        cpus: list[float] = []
        began = time.perf_counter()
        if broadcast:
            pipeline.start()
        gate = asyncio.Semaphore(concurrent)

        async def fill(member: str) -> None:
            async with gate:
                for kind, value in SCRIPT:
                    await asyncio.sleep(think)
                    wall, cpu = await runner.step(member, kind, value)
                    walls.append(wall)
                    cpus.append(cpu)

        await asyncio.gather(*(fill(member) for member in members))
        forms_done = time.perf_counter() - began
        while broadcast and await asyncio.to_thread(notice_status, url) != "done":
            await asyncio.sleep(0.5)  # the rest of the broadcast, for its figures
        await service.stop_pipeline(pipeline, None)
        await runner.engine.dispose()
        await client.close()
    await engine.dispose()
    bulk_times = [m.at.timestamp() for m in api.sent if m.users[0].startswith("m")]
    figures = {
        "forms_seconds": round(forms_done, 1),
        "bulk_sent": len(bulk_times),
        "bulk_rate_per_s": _rate(bulk_times),
        "busiest_minute_all_sends": busiest_window([m.at.timestamp() for m in api.sent], 60.0),
        "app_per_minute_limit": limits.app_per_minute,
        "refused_45009": api.refused_45009,
        "dropped_per_member_limit": len(api.dropped),
    }
    return walls, cpus, figures


def _rate(times: list[float]) -> float:
    return round((len(times) - 1) / (max(times) - min(times)), 2) if len(times) > 1 else 0.0


def percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100)
    return f"p50 {cuts[49] * 1000:.1f} / p95 {cuts[94] * 1000:.1f} / p99 {cuts[98] * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--forms", type=int, default=50)
    parser.add_argument("--transport", choices=["wire", "fake"], default="wire")
    parser.add_argument("--broadcast", type=int, default=None, help="WeCom members notified")
    parser.add_argument("--concurrent", type=int, default=10, help="members at once")
    parser.add_argument("--think", type=float, default=2.0, help="seconds between steps")
    args = parser.parse_args()
    for number in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            if args.broadcast is not None:
                walls, cpus, figures = asyncio.run(
                    run_beside_broadcast(
                        url, args.forms, args.broadcast, args.concurrent, args.think
                    )
                )
                print(f"broadcast to {args.broadcast}: {json.dumps(figures)}")
            else:
                walls, cpus = asyncio.run(run(url, args.forms, args.transport))
        print(
            f"run {number} ({len(walls)} steps, {args.transport}): wall {percentiles(walls)}; "
            f"cpu {percentiles(cpus)}"
        )


if __name__ == "__main__":
    main()
