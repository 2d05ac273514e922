"""A broadcast across Telegram and WeCom: 10,000 people (60% on Telegram, 40% on WeCom) get one
notice from the delivery pipeline, against the two loopback fakes (benchmarks/fake_bot_api.py:
30 messages/s and 1/s per chat, 429 beyond; offline/wecom_api.py: 30 a minute and 1,000 an
hour per member, dropped beyond, and an application cap per minute, 45009 beyond).

    .venv/bin/python benchmarks/two_channels.py [--people 10000] [--wecom-share 0.4]
        [--faults 0.10,0.03 --seed 1]   # on both fakes: 10% answered 5xx, 3% dropped

The fakes run in this process; the pipeline (TelegramSender + WeComSender through the channel
router, each channel on its own lane) runs in a child process, as ``stabot run`` would run it,
so the fakes' arrival times are not bunched behind the sender's event loop. The report counts
at the fakes: each channel's rate (mean, busiest sliding second and minute), 429s and 45009s,
duplicates and silent losses per recipient against the outbox, and the delivery report's
figures per channel. SQLite in a temporary directory; everything on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.broadcast import (  # noqa: E402
    ADMIN_ID,
    busiest_second,
    launch_notice,
    query,
    user_row,
)
from benchmarks.fake_bot_api import FakeBotApi, make_server, parse_faults  # noqa: E402
from bot.common.clock import SystemClock  # noqa: E402
from bot.delivery.settings import DeliverySettings  # noqa: E402
from bot.services import broadcasts  # noqa: E402
from offline.wecom_api import FakeWeComAPI, WeComFaults, WeComLimits, serving  # noqa: E402
from storage import orgs_repo  # noqa: E402
from storage.db import create_engine, session_factory, transaction  # noqa: E402
from storage.identity_models import CHANNEL_BASE, Channel, ChannelIdentity  # noqa: E402
from storage.migrate import upgrade_to_head  # noqa: E402
from storage.models import OrgLevel, Role, User  # noqa: E402

TOKEN = "123456:bench-token"
CORP, SECRET, AGENT = "ww-bench", "bench-secret", 1000002
TELEGRAM_BASE = 5_000_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def userid(n: int) -> str:
    return f"m{n:05d}"


async def populate(url: str, people: int, wecom_share: float) -> tuple[int, int]:
    """An org, the admin, the people (WeCom-first ones keyed by their WeCom address) and one
    launched broadcast to all of them; returns (broadcast id, rows)."""
    engine = create_engine(url)
    await upgrade_to_head(engine)
    now = datetime.now(UTC)
    on_wecom = round(people * wecom_share)
    async with transaction(session_factory(engine)) as session:
        org = await orgs_repo.create_org(
            session=session, name="自治区科协", level=OrgLevel.PROVINCE, parent=None, now=now
        )
        users = [_user(1, ADMIN_ID, org.id, Role.ADMIN, "telegram", now)]
        identities = []
        for n in range(people):
            if n < on_wecom:  # identity ids 1..on_wecom: the key is the WeCom address
                address, channel = CHANNEL_BASE[Channel.WECOM] + n + 1, "wecom"
                identities.append(
                    {"id": n + 1, "user_id": n + 2, "channel": channel,
                     "external_id": userid(n), "created_at": now}
                )
            else:
                address, channel = TELEGRAM_BASE + n, "telegram"
            users.append(_user(n + 2, address, org.id, Role.INFO_OFFICER, channel, now))
        await session.exec(insert(User), params=users)  # type: ignore[call-overload]
        await session.exec(insert(ChannelIdentity), params=identities)  # type: ignore[call-overload]
        broadcast_id, rows = await launch_notice(session, now=now, scheduled_at=None)
    await engine.dispose()
    return broadcast_id, rows


def _user(
    row_id: int, address: int, org_id: int, role: Role, channel: str, now: datetime
) -> dict[str, Any]:
    row = user_row(address, org_id, role, now)
    return {**row, "id": row_id, "last_channel": channel, "reach": "last"}


# --- the child: the pipeline, as the bot runs it ---------------------------------------------


async def run_pipeline(args: argparse.Namespace) -> None:
    """Drain the outbox through both channels' senders (the child process)."""
    from zoneinfo import ZoneInfo

    from telegram import Bot
    from telegram.request import HTTPXRequest

    from bot.delivery import service
    from bot.telegram.replies import ReplyPolicy
    from bot.telegram.sender import TelegramSender
    from bot.wecom.client import WeComClient
    from bot.wecom.render import messages as wecom_messages
    from bot.wecom.sender import WeComSender

    engine = create_engine(args.db)
    sessions = session_factory(engine)
    config = DeliverySettings()
    base_url = f"http://127.0.0.1:{args.tg_port}/bot"
    request = HTTPXRequest(connection_pool_size=config.max_in_flight + 4)
    bot = Bot(TOKEN, base_url=base_url, request=request)
    # The admin's status messages go as the app's replies do: through the reply policy, in
    # the same budget as the bulk lane.
    policy = ReplyPolicy(HTTPXRequest(connection_pool_size=4))
    admin_bot = Bot(TOKEN, base_url=base_url, request=policy)
    await bot.initialize()
    await admin_bot.initialize()
    client = WeComClient(CORP, SECRET, AGENT, base_url=args.wecom_url)
    wecom = WeComSender(client, wecom_messages, sessions=sessions, pause=config.wecom_pause)
    pipeline = service.build_pipeline(
        TelegramSender(bot, admin_bot),
        sessions=sessions,
        engine=engine,
        clock=SystemClock(),
        tz=ZoneInfo("Asia/Shanghai"),
        config=config,
        others={"wecom": wecom},
    )
    policy.budget = pipeline.budget
    started = time.process_time()
    pipeline.start()  # as the bot runs it: a claim-and-send loop per lane
    while await asyncio.to_thread(notice_status, args.db) != "done":
        await asyncio.sleep(0.5)
    await service.stop_pipeline(pipeline, None)
    print(json.dumps({"pipeline_cpu_s": round(time.process_time() - started, 1)}))
    await client.close()
    await admin_bot.shutdown()
    await bot.shutdown()
    await engine.dispose()


def notice_status(db: str) -> str | None:
    """The notice's status as the pipeline recorded it (done once every row has its outcome)."""
    rows = query(db, "SELECT status FROM broadcast ORDER BY id LIMIT 1")
    return rows[0][0] if rows else None


# --- the parent: the fakes and the audit -----------------------------------------------------


async def main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="stabot-two-channels-"))
    db = f"sqlite+aiosqlite:///{work / 'bench.db'}"
    broadcast_id, rows = await populate(db, args.people, args.wecom_share)
    telegram = FakeBotApi(faults=parse_faults(args.faults, args.seed))
    port = free_port()
    server = make_server(telegram, port)
    config = DeliverySettings()
    limits = WeComLimits(app_per_minute=int(config.wecom_rate * 60))
    wecom = FakeWeComAPI(
        CORP, SECRET, AGENT, SystemClock(),
        users={userid(n) for n in range(args.people)},
        limits=limits,
        faults=_wecom_faults(args),
    )
    arrivals: list[float] = []
    wecom_send = wecom._deliver  # note each accepted message's arrival (perf_counter)

    def noted(payload: Any) -> Any:
        arrivals.append(time.perf_counter())
        return wecom_send(payload)

    wecom._deliver = noted  # type: ignore[method-assign]
    started = time.perf_counter()
    async with serving(wecom.app()) as wecom_url:
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--child", "--db", db, "--tg-port", str(port),
            "--wecom-url", wecom_url, stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(child.communicate(), args.timeout)
    server.stop()
    elapsed = time.perf_counter() - started
    return {
        "people": args.people,
        "rows": rows,
        "faults": args.faults,
        "wall_seconds": round(elapsed, 1),
        "child": json.loads(out.decode().strip().splitlines()[-1]) if out else None,
        "telegram": telegram_figures(telegram),
        "wecom": wecom_figures(wecom, arrivals, limits),
        "audit": audit(db, broadcast_id, telegram, wecom),
        "report_per_channel": await report(db, broadcast_id),
    }


def _wecom_faults(args: argparse.Namespace) -> WeComFaults | None:
    if not args.faults:
        return None
    error_5xx, drop = (float(v) for v in args.faults.split(","))
    return WeComFaults(error_5xx=error_5xx, drop=drop, seed=args.seed)


def telegram_figures(api: FakeBotApi) -> dict[str, Any]:
    times = sorted(t for t, chat, _ in api.accepted if chat >= TELEGRAM_BASE)
    return {
        **_rate(times),
        "429s": api.rejected_429,
        "429s_by_limit": dict(api.rejected_by),
        "faults": _log(api.fault_log),
    }


def wecom_figures(api: FakeWeComAPI, arrivals: list[float], limits: WeComLimits) -> dict:
    return {
        **_rate(sorted(arrivals)),
        "busiest_minute": busiest_window(sorted(arrivals), 60.0),
        "app_cap_per_minute": limits.app_per_minute,
        "45009s": api.refused_45009,
        "dropped_past_member_limit": len(api.dropped),
        "faults": {" ".join(k): n for k, n in sorted(api.faults.log.items())}
        if api.faults
        else {},
    }


def _log(log: Counter[tuple[str, str, str]]) -> dict[str, int]:
    return {" ".join(k): n for k, n in sorted(log.items())}


def _rate(times: list[float]) -> dict[str, Any]:
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return {
        "accepted": len(times),
        "mean_rate": round((len(times) - 1) / span, 2) if span else 0.0,
        "busiest_second": busiest_second(times),
        "seconds": round(span, 1),
    }


def busiest_window(times: list[float], seconds: float) -> int:
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


def audit(db: str, broadcast_id: int, telegram: FakeBotApi, wecom: FakeWeComAPI) -> dict:
    """Every row against what its fake received: duplicates, silent losses, unknown ones."""
    rows = query(
        db,
        "SELECT d.channel, d.chat_id, d.status, i.external_id FROM broadcast_delivery d"
        " LEFT JOIN channel_identity i ON d.channel = 'wecom'"
        f" AND i.id = d.chat_id - {CHANNEL_BASE[Channel.WECOM]}"
        f" WHERE d.broadcast_id = {broadcast_id}",
    )
    got_wecom = wecom.delivered_to()
    final = {"sent", "failed", "blocked", "unknown", "cancelled"}
    figures: dict[str, Counter[str]] = {}
    for channel, chat_id, status, external in rows:
        got = telegram.per_chat[chat_id] if channel == "telegram" else got_wecom[external]
        tally = figures.setdefault(channel, Counter())
        tally[status] += 1
        tally["duplicates"] += max(0, got - 1)
        tally["silent_losses"] += int(status not in final or (status == "sent" and got == 0))
        tally["unknown_that_arrived"] += int(status == "unknown" and got > 0)
        tally["failed_but_received"] += int(status == "failed" and got > 0)
    return {channel: dict(tally) for channel, tally in figures.items()}


async def report(db: str, broadcast_id: int) -> list[dict[str, Any]]:
    """The delivery report's lines per channel (bot/services/broadcasts.progress)."""
    engine = create_engine(db)
    async with transaction(session_factory(engine)) as session:
        figures = await broadcasts.progress(session, broadcast_id)
    await engine.dispose()
    return [part.__dict__ for part in figures.channels]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--wecom-share", type=float, default=0.4)
    parser.add_argument("--faults", default=None, help="5xx share,drop share (0.10,0.03)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--tg-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--wecom-url", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    logging.getLogger("tornado.access").setLevel(logging.CRITICAL)  # a line per 5xx otherwise
    arguments = parse_args()
    if arguments.child:
        asyncio.run(run_pipeline(arguments))
    else:
        print(json.dumps(asyncio.run(main(arguments)), ensure_ascii=False, indent=2))
