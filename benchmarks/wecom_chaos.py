"""WeCom chaos: ``kill -9`` the process serving the callback URL at random moments while
members send messages, restart it each time, then count what was lost, doubled or reordered.

``--members`` members (default 20) each send ``--messages`` numbered texts (default 100),
one after another ``--think`` seconds apart (default 0.1), as WeCom delivers them: a callback
not answered 200 (the process is dead, or answered 500) is delivered again after a short pause,
until it is. Meanwhile the server process (the real callback server and inbox workers,
bot/wecom/channel.py, with a handler that records each event's effect in the same transaction
as its done mark, ``mark_handled``) is killed with SIGKILL ``--kills`` times (default 20),
each 0.5–2 s after it answered its first callback again, and restarted.

Counted at the end, once every message was answered 200 and the inbox is empty:
- lost: messages answered 200 whose effect is missing;
- doubled: effects recorded more than once;
- out of order: a member's effects in another order than the member sent them;
- pending or given up: inbox rows not done, or done as given up.

    python benchmarks/wecom_chaos.py [--kills 20] [--members 20] [--messages 100] [--seed 1]
        [--database-url postgresql://…]   (default: a temporary SQLite file)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import storage.all_models  # noqa: E402, F401
from benchmarks.scripted import free_port  # noqa: E402
from benchmarks.wecom_callback import (  # noqa: E402
    PATH,
    callbacks_for,
    fresh_database,
    settings_for,
)
from bot.common.clock import SystemClock  # noqa: E402
from bot.config import async_database_url  # noqa: E402
from bot.wecom.channel import wecom_running  # noqa: E402
from bot.wecom.events import WeComEvent  # noqa: E402
from bot.wecom.inbox import mark_handled  # noqa: E402
from offline.wecom_api import WeComCallbacks  # noqa: E402
from storage.db import create_engine, session_factory, transaction  # noqa: E402
from storage.wecom_inbox_models import WeComInboxEvent  # noqa: E402

EFFECTS = Table(
    "chaos_effect",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("member", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
)


# --- the server process ----------------------------------------------------------------------


async def serve(database_url: str, port: int) -> None:
    """The callback server and workers until SIGTERM (or SIGKILL)."""
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    clock = SystemClock()

    async def record(event: WeComEvent) -> None:
        member, seq = event.user_id, int(event.text)
        async with transaction(sessions) as session:
            if await mark_handled(session, clock.now()):
                await session.exec(EFFECTS.insert().values(member=member, seq=seq))

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with wecom_running(settings_for(port), sessions, clock, record):
        await stop.wait()
    await engine.dispose()


# --- WeCom and the killer --------------------------------------------------------------------


async def prepare(database_url: str) -> None:
    engine = await fresh_database(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(EFFECTS.metadata.create_all)
    await engine.dispose()


async def start_server(database_url: str, port: int, log) -> asyncio.subprocess.Process:
    args = (__file__, "--serve", "--database-url", database_url, "--port", str(port))
    return await asyncio.create_subprocess_exec(sys.executable, *args, stdout=log, stderr=log)


async def member(
    number: int,
    args: argparse.Namespace,
    callbacks: WeComCallbacks,
    http,
    url: str,
    answered: list,
) -> None:
    """One member's messages, each delivered until WeCom gets its 200."""
    name = f"member{number:02d}"
    for seq in range(args.messages):
        await asyncio.sleep(args.think)
        request = callbacks.text(name, str(seq), msg_id=number * 100_000 + seq)
        while True:
            try:
                status, _ = await callbacks.deliver(http, url, request)
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            if status == 200:
                answered.append((name, seq))
                break
            await asyncio.sleep(0.2)  # WeCom tries again after a pause


async def chaos(args: argparse.Namespace, work: Path) -> dict[str, int | float]:
    await prepare(args.database_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}{PATH}"
    rng = random.Random(args.seed)
    callbacks = callbacks_for()
    answered: list[tuple[str, int]] = []
    log = (work / "server.log").open("ab")
    server = await start_server(args.database_url, port, log)
    started = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=5)  # WeCom's wait
    async with aiohttp.ClientSession(timeout=timeout) as http:
        senders = asyncio.gather(
            *(member(n, args, callbacks, http, url, answered) for n in range(args.members))
        )
        kills = 0
        while kills < args.kills and not senders.done():
            before = len(answered)
            while len(answered) == before and not senders.done():  # serving again
                await asyncio.sleep(0.05)
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            server.kill()  # SIGKILL
            await server.wait()
            kills += 1
            server = await start_server(args.database_url, port, log)
        await senders
        result = await drain(args.database_url, args.members * args.messages)
        server.send_signal(signal.SIGTERM)
        await server.wait()
    result |= {"kills": kills, "answered": len(answered), "seconds": time.perf_counter() - started}
    return result


async def drain(database_url: str, expected: int) -> dict[str, int | float]:
    """Wait until the inbox is empty (at most 60 s), then count."""
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    pending = WeComInboxEvent.done_at.is_(None)
    for _ in range(600):
        async with transaction(sessions) as session:
            query = select(func.count()).select_from(WeComInboxEvent).where(pending)
            if not (await session.exec(query)).scalar():
                break
        await asyncio.sleep(0.1)
    async with transaction(sessions) as session:
        rows = (await session.exec(select(EFFECTS).order_by(EFFECTS.c.id))).all()
        left = (
            await session.exec(select(func.count()).select_from(WeComInboxEvent).where(pending))
        ).scalar()
        gave_up = (
            await session.exec(
                select(func.count()).select_from(WeComInboxEvent).where(WeComInboxEvent.gave_up)
            )
        ).scalar()
    await engine.dispose()
    seen: dict[str, list[int]] = {}
    for row in rows:
        seen.setdefault(row.member, []).append(row.seq)
    distinct = {(m, s) for m, seqs in seen.items() for s in seqs}
    return {
        "messages": expected,
        "effects": len(rows),
        "lost": expected - len(distinct),
        "doubled": len(rows) - len(distinct),
        "members_out_of_order": sum(seqs != sorted(seqs) for seqs in seen.values()),
        "pending": left,
        "given_up": gave_up,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--think", type=float, default=0.1, help="seconds between messages")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=os.environ.get("STABOT_BENCH_DATABASE_URL"))
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.database_url, args.port))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if not args.database_url:
            args.database_url = f"sqlite+aiosqlite:///{tmp}/chaos.db"
        args.database_url = async_database_url(args.database_url)
        result = asyncio.run(chaos(args, Path(tmp)))
    print(f"load: {os.getloadavg()[0]:.2f}")
    for name, value in result.items():
        print(f"{name}: {value:.1f}" if isinstance(value, float) else f"{name}: {value}")


if __name__ == "__main__":
    main()
