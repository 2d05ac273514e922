"""Broadcast benchmark: the real ``stabot run`` process drains a 10,000-recipient notice into a
loopback fake Bot API that enforces 30 messages/s overall and 1/s per chat (429 beyond), while
other users send /help; reports the achieved rate, 429s, duplicates, misses and reply latency.

    .venv/bin/python benchmarks/broadcast.py [--recipients 10000] [--timeout 900]
        [--faults 0.10,0.03 --seed 1]   # 10% answered 500/502, 3% dropped connections
        [--paid]                        # allow_paid_broadcast: the fake allows 1,000/s
        [--crash-at 0.5]                # SIGKILL half-way, then restart
        [--workers 3 --database-url postgresql://… [--kill-leader-at 0.3]]
                                        # N processes on one PostgreSQL: one budget

With faults, half of each kind strike after the fake processed the send (the message went
out, its answer is lost); the report checks every recipient against the outbox: duplicates,
silent losses (no message and no row saying so), and whether the report's figures add up.

Everything stays on 127.0.0.1 and in a temporary directory; the run is bounded by --timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.fake_bot_api import FakeBotApi, make_server, parse_faults  # noqa: E402
from bot.config import async_database_url  # noqa: E402
from bot.scheduler import sync_database_url  # noqa: E402
from bot.services import broadcasts  # noqa: E402
from bot.services.people import Scope  # noqa: E402
from storage import orgs_repo  # noqa: E402
from storage.db import create_engine, session_factory, transaction  # noqa: E402
from storage.migrate import upgrade_to_head  # noqa: E402
from storage.models import OrgLevel, Role, User  # noqa: E402

ADMIN_ID = 1_000
RECIPIENT_BASE = 5_000_000
PROBE_BASE = 6_000_000
PROBE_USERS = 20
PROBE_EVERY = 0.5  # seconds between two /help commands (each probe user every 10 s)
TOKEN = "123456:bench-token"
STARTUP = 5.0  # seconds the bot process takes to start, roughly
WARM_UP = 3.0  # the first seconds of replies (first queries, caches) are not measured


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def populate(url: str, recipients: int, start_in: float, paid: bool = False) -> int:
    """Schema, an org tree, the recipients and probe users, and one launched broadcast."""
    engine = create_engine(url)
    await upgrade_to_head(engine)
    now = datetime.now(UTC)
    async with transaction(session_factory(engine)) as session:
        province = await orgs_repo.create_org(
            session=session, name="自治区科协", level=OrgLevel.PROVINCE, parent=None, now=now
        )
        cities = [
            await orgs_repo.create_org(
                session=session, name=f"市科协{i}", level=OrgLevel.CITY, parent=province, now=now
            )
            for i in range(10)
        ]
        rows = [user_row(ADMIN_ID, province.id, Role.ADMIN, now)]
        rows += [
            user_row(RECIPIENT_BASE + i, cities[i % 10].id, Role.INFO_OFFICER, now)
            for i in range(recipients)
        ]
        rows += [
            user_row(PROBE_BASE + i, cities[0].id, Role.LIAISON, now) for i in range(PROBE_USERS)
        ]
        await session.exec(insert(User), params=rows)  # type: ignore[call-overload]
        # Later than the start: the first seconds measure replies without a broadcast.
        _, total = await launch_notice(
            session, now=now, scheduled_at=now + timedelta(seconds=start_in), paid=paid
        )
    await engine.dispose()
    return total


async def launch_notice(
    session: Any, *, now: datetime, scheduled_at: datetime | None, paid: bool = False
) -> tuple[int, int]:
    """The admin's notice to every info officer, with a receipt, launched by the same service
    calls the form's confirm and "send" buttons make; its id and its outbox rows."""
    draft, _ = await broadcasts.create_draft(
        session,
        scope=Scope(None),
        admin_id=ADMIN_ID,
        admin_locale="zh_CN",
        audience=broadcasts.Audience("role", role=Role.INFO_OFFICER.value),
        content={"text": "<b>关于报送2026年科普工作落实情况的通知</b>\n请于12月9日前报送。"},
        receipt=True,
        scheduled_at=scheduled_at,
        now=now,
    )
    draft.paid = paid  # what a superadmin's "paid" choice in the form sets
    total = await broadcasts.launch(
        session, draft, scope=Scope(None), default_locale="zh_CN", now=now
    )
    return int(draft.id), total  # type: ignore[arg-type]


def user_row(telegram_id: int, org_id: int, role: Role, now: datetime) -> dict[str, Any]:
    return {
        "telegram_id": telegram_id,
        "real_name": f"用户{telegram_id}",
        "org_id": org_id,
        "role": role.value,
        "active": True,
        "blocked_bot": False,
        "registered_at": now,
        "created_at": now,
    }


def help_update(update_id: int, user_id: int) -> dict[str, Any]:
    """A private /help command from a probe user."""
    user = {"id": user_id, "is_bot": False, "first_name": "探针", "language_code": "zh-hans"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": user,
            "chat": {"id": user_id, "type": "private", "first_name": "探针"},
            "date": int(time.time()),
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }


def start_bot(work: Path, url: str, port: int, rate: float | None) -> asyncio.subprocess.Process:
    """``stabot run`` against the fake server, in the temporary directory."""
    env = {
        **os.environ,
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{port}/bot",
        "DATABASE_URL": url,
        "DATA_DIR": str(work / "data"),
        "CORPUS_DIR": str(work / "corpus"),
        "KNOWLEDGE_WARMUP": "false",
    }
    if rate is not None:
        env["DELIVERY_RATE"] = str(rate)
    log = (work / "bot.log").open("ab")
    return asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=work, env=env, stdout=log, stderr=log
    )


async def probe(
    api: FakeBotApi, stop: asyncio.Event, sent: dict[int, tuple[int, int]], every: float
) -> None:
    """Other users' /help commands, one every ``every`` seconds."""
    update_id = 1
    while not stop.is_set():
        user_id = PROBE_BASE + update_id % PROBE_USERS
        sent[update_id] = (user_id, len(api.accepted))
        api.push_update(help_update(update_id, user_id))
        update_id += 1
        await asyncio.sleep(every)


def latencies(
    api: FakeBotApi, probes: dict[int, tuple[int, int]], window: tuple[float, float]
) -> dict[str, tuple[list[float], int]]:
    """Reply latencies (seconds from handing the update out to the reply) and lost replies,
    for probes before the broadcast ("baseline") and while it drained ("during")."""
    result: dict[str, tuple[list[float], int]] = {"baseline": ([], 0), "during": ([], 0)}
    warm = min(api.update_handed_out.values(), default=0.0) + WARM_UP
    for update_id, (chat_id, _) in probes.items():
        handed = api.update_handed_out.get(update_id)
        if handed is None or handed > window[1] or handed < warm:
            continue
        phase = "during" if handed >= window[0] else "baseline"
        values, lost = result[phase]
        replies = [t for t, chat, _ in api.accepted if chat == chat_id and t >= handed]
        if replies:
            values.append(min(replies) - handed)
        else:
            result[phase] = (values, lost + 1)
    return result


def _latency_figures(values: list[float], lost: int) -> dict[str, Any]:
    if len(values) < 2:
        return {"commands": len(values) + lost, "lost": lost}
    return {
        "commands": len(values) + lost,
        "lost": lost,
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p95_ms": round(statistics.quantiles(values, n=100)[94] * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def outbox_rows(db: str) -> dict[int, tuple[str, str | None]]:
    """Each recipient's row: chat id → (status, error)."""
    rows = query(
        db,
        "SELECT chat_id, status, error FROM broadcast_delivery"
        " WHERE broadcast_id = (SELECT min(id) FROM broadcast)",
    )
    return {chat: (status, error) for chat, status, error in rows}


def query(url: str, sql: str) -> list[Any]:
    """Rows of one query, read beside the running bot (SQLite in WAL mode, or PostgreSQL)."""
    engine = sqlalchemy.create_engine(sync_database_url(url))
    try:
        with engine.connect() as connection:
            return list(connection.execute(sqlalchemy.text(sql)).fetchall())
    finally:
        engine.dispose()


def audit(api: FakeBotApi, rows: dict[int, tuple[str, str | None]], ids: set[int]) -> dict:
    """Every recipient against what the fake saw: duplicates, silent losses, unknown ones."""
    final = {"sent", "failed", "blocked", "unknown", "cancelled"}
    got = {chat: api.per_chat[chat] for chat in ids}
    unknown = [c for c in ids if rows.get(c, ("",))[0] == "unknown"]
    return {
        "duplicates": sum(max(0, n - 1) for n in got.values()),
        "silent_losses": sum(
            1
            for c in ids
            if rows.get(c, ("missing",))[0] not in final or (rows[c][0] == "sent" and got[c] == 0)
        ),
        "sent_but_not_received": sum(1 for c in ids if rows[c][0] == "sent" and got[c] == 0),
        "failed_but_received": sum(1 for c in ids if rows[c][0] == "failed" and got[c] > 0),
        "unknown": len(unknown),
        "unknown_that_arrived": sum(1 for c in unknown if got[c] > 0),
        "report_adds_up": sum(1 for c in ids if rows.get(c, ("",))[0] in final) == len(ids),
    }


def send_delays(api: FakeBotApi, db: str, ids: set[int]) -> dict[str, float] | None:
    """How long after the bot recorded a send's start the fake received it (milliseconds): the
    jitter a client-side window must leave room for (same host, same wall clock)."""
    rows = query(
        db,
        "SELECT chat_id, sent_at FROM broadcast_delivery WHERE status = 'sent'"
        " AND broadcast_id = (SELECT min(id) FROM broadcast)",
    )
    started = {chat: _epoch(at) for chat, at in rows if at is not None}
    arrived: dict[int, float] = {}
    for (_, chat, _), wall in zip(api.accepted, api.accepted_wall, strict=True):
        if chat in ids and chat in started:
            arrived.setdefault(chat, wall)
    delays = sorted((arrived[c] - started[c]) * 1000 for c in arrived)
    if len(delays) < 100:
        return None
    at = statistics.quantiles(delays, n=1000)
    return {
        "min": round(delays[0], 2),
        "p50": round(at[499], 2),
        "p99": round(at[989], 2),
        "p99.9": round(at[998], 2),
        "max": round(delays[-1], 2),
    }


def _epoch(value: Any) -> float:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def outbox_statuses(db: str) -> dict[str, int]:
    """Rows per status (and error, when there is one) in the outbox, after the bot stopped."""
    rows = query(
        db,
        "SELECT status || coalesce(':' || error, ''), count(*) FROM broadcast_delivery"
        " WHERE broadcast_id = (SELECT min(id) FROM broadcast) GROUP BY 1",
    )
    return {str(k): int(n) for k, n in rows}


def broadcast_status(db: str) -> str | None:
    """The notice's status as the bot recorded it (read beside the running bot, WAL)."""
    rows = query(db, "SELECT status FROM broadcast WHERE parent_id IS NULL ORDER BY id LIMIT 1")
    return rows[0][0] if rows else None


def delivered(api: FakeBotApi, recipients: int) -> int:
    """Recipients who got the notice at least once."""
    return sum(1 for i in range(RECIPIENT_BASE, RECIPIENT_BASE + recipients) if api.per_chat[i])


async def wait_until_done(api: FakeBotApi, db: str, recipients: int, deadline: float) -> None:
    """Until every recipient got it, or the bot marked the notice done (after a crash)."""
    while time.perf_counter() < deadline:
        # Read in a thread: the fake answers the bot on this loop, and its arrival times
        # must not bunch behind a blocking query.
        done = await asyncio.to_thread(broadcast_status, db) == "done"
        if delivered(api, recipients) >= recipients or done:
            return
        await asyncio.sleep(1.0)


async def crash_and_restart(api: FakeBotApi, bot: dict[str, Any], args, start) -> None:
    """SIGKILL the bot once ``--crash-at`` of the recipients have the notice, then restart it."""
    while delivered(api, args.recipients) < args.crash_at * args.recipients:
        await asyncio.sleep(0.05)
    bot["process"].kill()
    await bot["process"].wait()
    bot["process"] = await start()


async def stop_bot(process: asyncio.subprocess.Process) -> None:
    """SIGINT (a graceful stop), and SIGKILL after 30 s; nothing for one already gone."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        process.kill()


async def kill_leader(api: FakeBotApi, bot: dict[str, Any], args) -> None:
    """SIGKILL the first worker (the pipeline's leader) at ``--kill-leader-at``; no restart."""
    while delivered(api, args.recipients) < args.kill_leader_at * args.recipients:
        await asyncio.sleep(0.05)
    bot["process"].kill()
    await bot["process"].wait()
    api.killed_at = time.perf_counter()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="stabot-bench-"))
    (work / "corpus").mkdir()
    url = async_database_url(args.database_url or f"sqlite+aiosqlite:///{work / 'bench.db'}")
    db = url
    total = await populate(url, args.recipients, args.baseline + STARTUP, args.paid)
    faults = parse_faults(args.faults, args.seed, args.after_processing_share)
    api, port = FakeBotApi(faults=faults), free_port()
    server = make_server(api, port)
    bot = {"process": await start_bot(work, url, port, args.rate)}
    others = []
    for _ in range(args.workers - 1):  # the first holds the pipeline's lock; these follow
        await asyncio.sleep(2.0)
        others.append(await start_bot(work, url, port, args.rate))
    if args.kill_leader_at:
        bot["killer"] = asyncio.create_task(kill_leader(api, bot, args))
    stop, probes = asyncio.Event(), {}
    probing = asyncio.create_task(probe(api, stop, probes, args.probe_every))
    started = time.perf_counter()
    if args.crash_at:
        restart = functools.partial(start_bot, work, url, port, args.rate)
        await crash_and_restart(api, bot, args, restart)
    await wait_until_done(api, db, args.recipients, started + args.timeout)
    await asyncio.sleep(3.0)  # let stragglers (and any duplicate) arrive
    stop.set()
    await probing
    for process in (bot["process"], *others):
        await stop_bot(process)
    server.stop()
    return report(api, probes, total, args, db, time.perf_counter() - started)


def report(api, probes, total, args, db, elapsed) -> dict[str, Any]:
    """The figures the README shows."""
    ids = set(range(RECIPIENT_BASE, RECIPIENT_BASE + args.recipients))
    times = sorted(t for t, chat, _ in api.accepted if chat in ids)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    rate = (len(times) - 1) / span if span else 0.0
    phases = latencies(api, probes, (times[0], times[-1]) if times else (0.0, 0.0))
    return {
        "recipients": total,
        "configured_rate": args.rate,
        "paid": args.paid,
        "faults": api.faults.describe() if args.faults else None,
        "achieved_rate": round(rate, 2),
        "rate_share_of_30": round(rate / 30, 3),
        "busiest_second": busiest_second(times),
        # Replies count against the same 30 a second at the fake: every send it accepted.
        "busiest_second_all_sends": busiest_second(sorted(t for t, _, _ in api.accepted)),
        "seconds_by_sends": seconds_by_sends(api, times),
        "broadcast_seconds": round(span, 1),
        "wall_seconds": round(elapsed, 1),
        "429s": api.rejected_429,
        "429s_by_limit": dict(api.rejected_by),
        "duplicates": sum(max(0, api.per_chat[i] - 1) for i in ids),
        "misses": sum(1 for i in ids if api.per_chat[i] == 0),
        "replies_before_broadcast": _latency_figures(*phases["baseline"]),
        "replies_during_broadcast": _latency_figures(*phases["during"]),
        "crash_at": args.crash_at or None,
        "workers": args.workers,
        "failover_gap_s": failover_gap(api, times),
        "outbox": outbox_statuses(db),
        "send_delay_ms": send_delays(api, db, ids),
        "audit": audit(api, outbox_rows(db), ids),
        "faults_injected": {" ".join(k): n for k, n in sorted(api.fault_log.items())},
    }


def failover_gap(api: FakeBotApi, times: list[float]) -> float | None:
    """Seconds without a notice after the leader was killed (the next leader's takeover)."""
    killed = getattr(api, "killed_at", None)
    if killed is None:
        return None
    after = [t for t in times if t > killed]
    return round(after[0] - killed, 1) if after else None


def seconds_by_sends(api: FakeBotApi, times: list[float]) -> dict[str, int]:
    """The whole seconds of the broadcast by how many sends (replies too) the fake accepted in
    each: where a lane below 30 loses its rate (a few slow seconds, or every one a little)."""
    if len(times) < 2:
        return {}
    first, last = times[0], times[-1]
    counts = Counter(int(t - first) for t, _, _ in api.accepted if first <= t < last)
    full = range(int(last - first))  # the last, partial second left out
    tally = Counter(min(counts.get(second, 0), 30) for second in full)
    return {("30" if n == 30 else str(n)): tally[n] for n in sorted(tally, reverse=True)}


def busiest_second(times: list[float]) -> int:
    """The most sends the fake accepted in any sliding second."""
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=None, help="DELIVERY_RATE for the bot")
    parser.add_argument("--faults", default=None, help="5xx share,drop share (0.10,0.03)")
    parser.add_argument("--seed", type=int, default=1, help="the faults' random seed")
    parser.add_argument(
        "--after-processing-share",
        default=None,
        help="of the 5xx answers and of the drops, the share after processing (default 0,0.5)",
    )
    parser.add_argument("--paid", action="store_true", help="a paid broadcast (1,000/s)")
    parser.add_argument("--probe-every", type=float, default=PROBE_EVERY)
    parser.add_argument("--workers", type=int, default=1, help="bot processes on one database")
    parser.add_argument("--database-url", default=None, help="PostgreSQL for --workers > 1")
    parser.add_argument("--kill-leader-at", type=float, default=0.0)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before giving up")
    parser.add_argument(
        "--crash-at",
        type=float,
        default=0.0,
        help="SIGKILL the bot once this share of recipients has the notice, then restart it",
    )
    parser.add_argument(
        "--baseline", type=float, default=15.0, help="seconds of replies before the broadcast"
    )
    return parser.parse_args()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse_args())), ensure_ascii=False, indent=2))
