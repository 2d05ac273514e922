"""Scale-out: 1 against 3 ``stabot run`` worker processes in webhook mode on one PostgreSQL.

This process plays Telegram and a trivial load balancer: it POSTs each update (with the
webhook's secret token) to the next worker in turn, and serves the Bot API the workers call
(the loopback fake of benchmarks/fake_bot_api.py, its 429 limits lifted: the subject here is
updates, not Telegram's sending limits). Two kinds of users, all at once:
- form users fill the activity form (12 steps), each waiting for the answer before the next;
- burst users send two messages back to back (a quick log, then the answer to its first
  question): the second is delivered as soon as the first is stored (Telegram's order),
  without waiting for it to be handled, and usually to another worker, which must wait for
  the first: only when they are handled in that order does the form end at the audience step
  with that title. ``--simultaneous`` POSTs both at the same moment instead; then the order
  they are stored in is the order they arrive in, which may be either.

Measured: updates handled per second (all updates / wall time until the inbox is empty), the
chats whose order broke, updates not handled exactly once, and the workers' CPU seconds. With
``--broadcast N``, each worker count then also drains a notice to N recipients
(benchmarks/broadcast.py on the same database: the fake's limits on, 30/s and 1/s per chat, and
other users' /help every ``--probe-every`` seconds, answered by whichever worker gets them),
so the send budget the workers share in PostgreSQL is measured beside the updates.

    STABOT_BENCH_DATABASE_URL=postgresql://… python benchmarks/workers.py [--workers 1 3]
        [--form-users 20] [--forms 2] [--burst-users 100] [--broadcast 3000
        --probe-every 1.0] [--json]

The database is emptied (``DROP SCHEMA public CASCADE``) and migrated before each run: use a
throw-away one. The results are a dict per worker count (``--json`` prints it whole), so that
more measurements (the broadcast rate of N workers) can join it as functions of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import broadcast  # noqa: E402
from benchmarks.fake_bot_api import FakeBotApi, Limits, make_server  # noqa: E402
from benchmarks.form_step import SCRIPT, prepare  # noqa: E402
from benchmarks.scripted import (  # noqa: E402
    TOKEN,
    ScriptedUser,
    cpu_seconds,
    free_port,
    stabot_env,
    start_process,
    users_of,
)
from bot.config import async_database_url  # noqa: E402
from bot.telegram.inbox.webhook import SECRET_HEADER, derived_secret  # noqa: E402
from storage.db import create_engine  # noqa: E402

FORM_BASE = 7_000_000
BURST_BASE = 7_100_000
QUICK = "昨天在青山区社区开展科普讲座，约120人参加"
TITLE = "社区科普讲座"
STEP_TIMEOUT = 60.0


class Balancer:
    """Round robin over the workers' webhook endpoints, retrying as Telegram does."""

    def __init__(self, ports: list[int]) -> None:
        self.urls = itertools.cycle([f"http://127.0.0.1:{p}/hook" for p in ports])
        self.client = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=40))
        self.headers = {SECRET_HEADER: derived_secret(TOKEN)}
        self.retries = 0

    async def deliver(self, update: dict[str, Any]) -> None:
        """POST the update to the next worker until one answers 200."""
        body = json.dumps(update, ensure_ascii=False).encode()
        for _ in range(20):
            try:
                url = next(self.urls)
                answer = await self.client.post(url, content=body, headers=self.headers)
                if answer.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            self.retries += 1
            await asyncio.sleep(0.1)
        raise RuntimeError(f"no worker took update {update['update_id']}")


async def reset(url: str) -> None:
    """An empty public schema (the benchmark's database is a throw-away one)."""
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def start_workers(work: Path, url: str, api_port: int, count: int):
    """``count`` webhook workers, each on its own port; returns (processes, ports)."""
    ports = [free_port() for _ in range(count)]
    processes = []
    for number, port in enumerate(ports):
        # The fake's limits are lifted, so are the bot's own per-chat pauses (a scripted user
        # answers at once; a person takes longer than the second between two messages).
        env = stabot_env(work, url, api_port, DELIVERY_PER_CHAT_INTERVAL="0")
        args = ("-m", "bot", "run", "--webhook-url", f"http://127.0.0.1:{port}/hook")
        args += ("--listen", "127.0.0.1", "--port", str(port))
        processes.append(await start_process(work, env, *args, log_name=f"worker{number}.log"))
    async with httpx.AsyncClient() as client:
        for port in ports:
            await _wait_healthy(client, port)
    return processes, ports


async def _wait_healthy(client: httpx.AsyncClient, port: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if (await client.get(f"http://127.0.0.1:{port}/hook/healthz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError(f"worker on port {port} did not start")


async def form_user(user: ScriptedUser, forms: int) -> None:
    """Whole activity forms, one step after the other's answer."""
    for _ in range(forms):
        for kind, value in SCRIPT:
            if not await user.step(kind, value, STEP_TIMEOUT):
                raise TimeoutError(f"user {user.user.id}: no answer to {value!r}")


async def burst_user(user: ScriptedUser, simultaneous: bool) -> None:
    """The quick log and the answer to its first question, one right after the other."""
    first = user.factory.message(user.user, QUICK)
    second = user.factory.message(user.user, TITLE)
    if simultaneous:
        await asyncio.gather(user.send(first), user.send(second))
    else:
        await user.send(first)
        await user.send(second)


async def inbox_state(url: str) -> dict[str, int]:
    """Pending and done rows of the inbox."""
    engine = create_engine(url)
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT count(*) FILTER (WHERE done_at IS NULL), count(*) FROM inbox")
            )
        ).one()
    await engine.dispose()
    return {"pending": row[0], "rows": row[1]}


async def broken_chats(url: str, users: list[ScriptedUser]) -> int:
    """Burst chats whose form did not end at the audience step with the title sent second."""
    engine = create_engine(url)
    query = text("SELECT chat_id, step, data FROM conversation_state")
    async with engine.connect() as connection:
        states = {r.chat_id: (r.step, r.data) for r in await connection.execute(query)}
    await engine.dispose()
    return sum(
        1
        for u in users
        if states.get(u.user.id, ("", ""))[0] != "audience" or TITLE not in states[u.user.id][1]
    )


async def wait_drained(url: str, timeout: float = 120) -> None:
    """Until no update is pending."""
    deadline = time.monotonic() + timeout
    while (await inbox_state(url))["pending"] and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def measure_updates(options: argparse.Namespace, count: int) -> dict[str, Any]:
    """One run with ``count`` workers: updates/s, broken orders, exactly-once."""
    url = async_database_url(os.environ["STABOT_BENCH_DATABASE_URL"])
    await reset(url)
    api = FakeBotApi(limits=Limits(10**6, 0.0))
    api_port = free_port()
    server = make_server(api, api_port)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        processes, ports = [], []
        balancer: Balancer | None = None
        try:
            form_users = users_of(api, FORM_BASE, options.form_users, _unset, 1)
            bursts = users_of(api, BURST_BASE, options.burst_users, _unset, 10**6)
            await prepare(url, [u.user for u in form_users + bursts])
            processes, ports = await start_workers(work, url, api_port, count)
            balancer = Balancer(ports)
            for user in form_users + bursts:
                user.deliver = balancer.deliver
            cpu0 = sum(cpu_seconds(p.pid) for p in processes)
            began = time.perf_counter()
            await asyncio.gather(
                *(form_user(u, options.forms) for u in form_users),
                *(burst_user(u, options.simultaneous) for u in bursts),
            )
            await wait_drained(url)
            wall = time.perf_counter() - began
            cpu = sum(cpu_seconds(p.pid) for p in processes) - cpu0
            pushed = sum(len(u.pushed) for u in form_users + bursts)
            state = await inbox_state(url)
            broken = await broken_chats(url, bursts)
        finally:
            if balancer is not None:
                await balancer.client.aclose()
            for process in processes:
                process.terminate()
            for process in processes:
                await process.wait()
            server.stop()
    return {
        "workers": count,
        "updates": pushed,
        "wall_s": round(wall, 2),
        "updates_per_s": round(pushed / wall, 1),
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_update": round(cpu / pushed * 1000, 2),
        "not_done": state["pending"] + (pushed - state["rows"]),
        "burst_chats": len(bursts),
        "burst_chats_out_of_order": broken,
        "webhook_retries": balancer.retries if balancer else None,
        "set_webhook_calls": api.webhook_sets,
    }


async def measure_broadcast(options: argparse.Namespace, count: int) -> dict[str, Any]:
    """One notice drained by ``count`` workers on the emptied database (benchmarks/broadcast.py):
    the rate, the busiest second of all sends, 429s, and other users' reply latency."""
    url = os.environ["STABOT_BENCH_DATABASE_URL"]
    await reset(async_database_url(url))
    figures = await broadcast.main(
        argparse.Namespace(
            recipients=options.broadcast,
            rate=None,
            faults=None,
            seed=1,
            after_processing_share=None,
            paid=False,
            probe_every=options.probe_every,
            workers=count,
            database_url=url,
            kill_leader_at=0.0,
            timeout=900.0,
            crash_at=0.0,
            baseline=10.0,
        )
    )
    keep = ("achieved_rate", "busiest_second", "busiest_second_all_sends", "429s", "429s_by_limit")
    during = figures["replies_during_broadcast"]
    return {
        "workers": count,
        "recipients": options.broadcast,
        **{key: figures[key] for key in keep},
        "duplicates": figures["duplicates"],
        "misses": figures["misses"],
        "replies_during": {key: during[key] for key in ("commands", "lost", "p50_ms", "p95_ms")},
    }


async def _unset(_update: dict[str, Any]) -> None:
    raise RuntimeError("delivery is set once the workers run")


async def run(options: argparse.Namespace) -> dict[str, Any]:
    """Each worker count in turn."""
    results: dict[str, Any] = {
        "conditions": {
            "form_users": options.form_users,
            "forms": options.forms,
            "burst_users": options.burst_users,
            "simultaneous": options.simultaneous,
            "load_before": round(os.getloadavg()[0], 2),
            "cores": os.cpu_count(),
        },
        "updates": {},
        "broadcast": {},
    }
    for count in options.workers:
        figures = await measure_updates(options, count)
        results["updates"][str(count)] = figures
        if not options.json:
            print(json.dumps(figures, ensure_ascii=False), flush=True)
        if options.broadcast:
            sent = await measure_broadcast(options, count)
            results["broadcast"][str(count)] = sent
            if not options.json:
                print(json.dumps(sent, ensure_ascii=False), flush=True)
    results["conditions"]["load_after"] = round(os.getloadavg()[0], 2)
    return results


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--form-users", type=int, default=20)
    parser.add_argument("--forms", type=int, default=2)
    parser.add_argument("--burst-users", type=int, default=100)
    parser.add_argument("--simultaneous", action="store_true", help="burst updates at once")
    parser.add_argument("--broadcast", type=int, default=0, help="recipients of a notice")
    parser.add_argument("--probe-every", type=float, default=1.0, help="seconds between /help")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    if not os.environ.get("STABOT_BENCH_DATABASE_URL"):
        parser.error("set STABOT_BENCH_DATABASE_URL to a throw-away PostgreSQL database")
    logging.getLogger("tornado").setLevel(logging.CRITICAL)
    results = asyncio.run(run(options))
    print(json.dumps(results, ensure_ascii=False, indent=2 if options.json else None))


if __name__ == "__main__":
    main()
