"""WeCom's callback URL under a burst: how fast each callback is answered (WeCom waits 5 s).

This process plays WeCom: it POSTs ``--callbacks`` encrypted text messages from ``--members``
members, ``--in-flight`` at a time, to the real callback server (bot/wecom/channel.py: check
the signature, decrypt, store in the inbox, answer an empty 200) on loopback, while the
inbox's workers hand the events to a handler that does one small database write of its own
(standing in for the dispatcher's, which is measured elsewhere). Measured: the answer time of
each callback as WeCom sees it (p50, p95, max), the seconds until every event is handled,
rows stored and handled (each exactly once), and this process's CPU per callback (client and
server share the process and its event loop, so the answer times are an upper bound).

    python benchmarks/wecom_callback.py [--callbacks 2000] [--members 200] [--in-flight 100]
        [--database-url postgresql://…]   (default: a temporary SQLite file)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import storage.all_models  # noqa: E402, F401
from benchmarks.scripted import free_port  # noqa: E402
from bot.common.clock import SystemClock  # noqa: E402
from bot.config import async_database_url  # noqa: E402
from bot.wecom.channel import wecom_running  # noqa: E402
from bot.wecom.crypto import WeComCrypto  # noqa: E402
from bot.wecom.events import WeComEvent  # noqa: E402
from bot.wecom.inbox import mark_handled  # noqa: E402
from bot.wecom.settings import WeComSettings  # noqa: E402
from offline.wecom_api import WeComCallbacks  # noqa: E402
from storage.db import create_engine, session_factory, transaction  # noqa: E402
from storage.migrate import upgrade_to_head  # noqa: E402
from storage.wecom_inbox_models import WeComInboxEvent  # noqa: E402

CORP_ID = "ww0123456789abcdef"
TOKEN = "bench-token"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
PATH = "/wecom/callback"


def settings_for(port: int) -> WeComSettings:
    """The WeCom settings of a benchmark's callback server on a loopback ``port``."""
    return WeComSettings(
        corp_id=CORP_ID,
        agent_id=1,
        secret="s",  # type: ignore[arg-type]
        token=TOKEN,  # type: ignore[arg-type]
        aes_key=AES_KEY,  # type: ignore[arg-type]
        listen=f"127.0.0.1:{port}",
        callback_path=PATH,
    )


def callbacks_for() -> WeComCallbacks:
    """WeCom's side: callbacks encrypted as for ``settings_for``'s application."""
    return WeComCallbacks(CORP_ID, 1, WeComCrypto(TOKEN, AES_KEY, CORP_ID), SystemClock())


async def fresh_database(url: str):
    """An engine on ``url``, emptied (PostgreSQL: the public schema) and migrated."""
    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    await upgrade_to_head(engine)
    return engine


async def run(args: argparse.Namespace) -> dict[str, float]:
    engine = await fresh_database(args.database_url)
    sessions = session_factory(engine)
    clock = SystemClock()
    handled: list[str] = []

    async def handler(event: WeComEvent) -> None:
        async with transaction(sessions) as session:  # the dispatcher's transaction, in small
            await mark_handled(session, clock.now())
        handled.append(event.text)

    port = free_port()
    settings = settings_for(port)
    callbacks = callbacks_for()
    requests = [
        callbacks.text(f"member{n % args.members}", f"第{n}条", msg_id=n)
        for n in range(args.callbacks)
    ]
    url = f"http://127.0.0.1:{port}{PATH}"
    answers: list[float] = []
    gate = asyncio.Semaphore(args.in_flight)
    async with wecom_running(settings, sessions, clock, handler) as inbox:
        connector = aiohttp.TCPConnector(limit=args.in_flight)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def one(request) -> None:
                async with gate:
                    started = time.perf_counter()
                    status, _ = await callbacks.deliver(http, url, request)
                    answers.append(time.perf_counter() - started)
                    assert status == 200, status

            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(*(one(request) for request in requests))
            burst = time.perf_counter() - wall
            while len(handled) < args.callbacks:
                await inbox.idle()
                await asyncio.sleep(0.01)
            drained = time.perf_counter() - wall
            cpu = time.process_time() - cpu
    async with transaction(sessions) as session:
        stored = (await session.exec(select(func.count()).select_from(WeComInboxEvent))).scalar()
        done = WeComInboxEvent.done_at.is_not(None)
        query = select(func.count()).select_from(WeComInboxEvent).where(done)
        marked = (await session.exec(query)).scalar()
    await engine.dispose()
    answers.sort()
    return {
        "callbacks": args.callbacks,
        "answer_p50_ms": 1000 * statistics.median(answers),
        "answer_p95_ms": 1000 * answers[int(0.95 * len(answers)) - 1],
        "answer_max_ms": 1000 * answers[-1],
        "burst_s": burst,
        "all_handled_s": drained,
        "stored": stored,
        "done": marked,
        "handled": len(handled),
        "handled_distinct": len(set(handled)),
        "cpu_ms_per_callback": 1000 * cpu / args.callbacks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callbacks", type=int, default=2000)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--in-flight", type=int, default=100)
    parser.add_argument("--database-url", default=os.environ.get("STABOT_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.database_url:
            args.database_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        args.database_url = async_database_url(args.database_url)
        result = asyncio.run(run(args))
    print(f"load: {os.getloadavg()[0]:.2f}")
    for name, value in result.items():
        print(f"{name}: {value:.1f}" if isinstance(value, float) else f"{name}: {value}")


if __name__ == "__main__":
    main()
