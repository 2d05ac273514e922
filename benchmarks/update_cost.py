"""CPU per update: ``stabot run`` filling the activity form against a bare python-telegram-bot
echo bot, each a child process long-polling the same loopback fake Bot API.

The echo bot is PTB at its defaults (HTTPXRequest, ``run_polling``) with one handler that
sends each text back; ``echo-aiohttp`` is the same bot on stabot's aiohttp transport, and
``stabot-httpx`` is stabot on PTB's (``BOT_API_TRANSPORT=httpx``), so that both bots can be
compared on either transport. Its users send texts; stabot's users fill the activity form (the 12
steps of benchmarks/form_step.py: typed answers and pressed buttons). Each user waits for the
bot's answer before the next input, ``--think`` seconds after it. The figure is the child's
CPU time (user + system, /proc) over the measured updates divided by their number, after a
warm-up that is not counted; the fake API and the users run in this process and are not
counted. Runs alternate echo and stabot so that both see the same load.

    python benchmarks/update_cost.py                       # 20 users, 3 rounds, SQLite
    python benchmarks/update_cost.py --think 1.0 --limits   # Telegram's pace and 429 limits
    python benchmarks/update_cost.py --json

By default the fake's 30/s and 1/s-per-chat limits are lifted, so that users without think
time are not answered with 429s (``--limits`` keeps them; then use ``--think 1`` or more).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import logging  # noqa: E402

from benchmarks.fake_bot_api import FakeBotApi, Limits, make_server  # noqa: E402
from benchmarks.form_step import SCRIPT, prepare  # noqa: E402
from benchmarks.scripted import (  # noqa: E402
    ScriptedUser,
    cpu_seconds,
    free_port,
    polling_delivery,
    stabot_env,
    start_process,
    users_of,
    wait_polling,
)

USER_BASE = 3_000_000
STEP_TIMEOUT = 30.0
ECHO_TEXTS = tuple(value for kind, value in SCRIPT if kind == "text")


def serve_echo(base_url: str, transport: str) -> None:
    """The bare echo bot (run in the child process), on PTB's transport or on stabot's."""
    from telegram import Update
    from telegram.ext import ApplicationBuilder, MessageHandler, filters

    async def echo(update: Update, _context: Any) -> None:
        await update.effective_message.reply_text(update.effective_message.text)

    builder = ApplicationBuilder().token(os.environ["BOT_TOKEN"]).base_url(base_url)
    if transport == "aiohttp":
        from bot.telegram.transport import AiohttpRequest

        builder = builder.request(AiohttpRequest()).get_updates_request(AiohttpRequest())
    app = builder.build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.run_polling(allowed_updates=Update.ALL_TYPES)


async def fill_forms(user: ScriptedUser, forms: int, think: float) -> int:
    """``forms`` whole activity forms; returns the number of steps sent."""
    for _ in range(forms):
        for kind, value in SCRIPT:
            if not await user.step(kind, value, STEP_TIMEOUT):
                raise TimeoutError(f"user {user.user.id}: no answer to {value!r}")
            await asyncio.sleep(think)
    return forms * len(SCRIPT)


async def echo_texts(user: ScriptedUser, forms: int, think: float) -> int:
    """As many texts as ``forms`` forms have steps, each echoed back."""
    for _ in range(forms):
        for value in (*ECHO_TEXTS, *ECHO_TEXTS)[: len(SCRIPT)]:
            if not await user.step("text", value, STEP_TIMEOUT):
                raise TimeoutError(f"user {user.user.id}: no echo of {value!r}")
            await asyncio.sleep(think)
    return forms * len(SCRIPT)


async def measure(bot: str, options: argparse.Namespace, round_no: int) -> dict[str, Any]:
    """One run of one bot: warm-up, then the measured steps; CPU per update in ms."""
    api = FakeBotApi(limits=Limits() if options.limits else Limits(10**6, 0.0))
    port = free_port()
    server = make_server(api, port)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        url = f"sqlite+aiosqlite:///{work / 'bot.db'}"
        base = USER_BASE + round_no * 1000
        users = users_of(api, base, options.users, polling_delivery(api), first_update_id=1)
        kind, _, transport = bot.partition("-")
        env = stabot_env(work, url, port, BOT_API_TRANSPORT=transport or "aiohttp")
        if kind == "stabot":
            await prepare(url, [u.user for u in users])
            process = await start_process(work, env, "-m", "bot", "run")
            drive = fill_forms
        else:
            base_url = f"http://127.0.0.1:{port}/bot"
            script = str(Path(__file__).resolve())
            args = (script, "--serve-echo", base_url, transport or "httpx")
            process = await start_process(work, env, *args)
            drive = echo_texts
        try:
            await wait_polling(api, process, 120)
            await asyncio.gather(*(drive(u, 1, options.think) for u in users))  # warm-up
            profiler = await _profile(process.pid, options, bot, work)
            cpu0, wall0 = cpu_seconds(process.pid), time.perf_counter()
            steps = await asyncio.gather(*(drive(u, options.forms, options.think) for u in users))
            await asyncio.sleep(0.2)  # the last updates' trailing calls and commits
            cpu, wall = cpu_seconds(process.pid) - cpu0, time.perf_counter() - wall0
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                await profiler.wait()
        finally:
            process.terminate()
            await process.wait()
            server.stop()
    updates = sum(steps)
    return {
        "bot": bot,
        "updates": updates,
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "cpu_ms_per_update": round(cpu / updates * 1000, 3),
        "updates_per_s": round(updates / wall, 1),
    }


async def _profile(pid: int, options: argparse.Namespace, bot: str, work: Path):
    """py-spy sampling the bot process (``--profile DIR``: collapsed stacks per run)."""
    if not options.profile:
        return None
    target = Path(options.profile) / f"{bot}-{time.strftime('%H%M%S')}.txt"
    command = ("py-spy", "record", "-p", str(pid), "-f", "raw", "-r", "250", "-o", str(target))
    log = (work / "py-spy.log").open("ab")
    return await asyncio.create_subprocess_exec(*command, stdout=log, stderr=log)


async def run(options: argparse.Namespace) -> dict[str, Any]:
    """Alternate echo and stabot for ``rounds`` rounds; the runs and a summary."""
    results: dict[str, Any] = {
        "conditions": {
            "users": options.users,
            "forms_per_user": options.forms,
            "think_s": options.think,
            "limits": options.limits,
            "load_before": round(os.getloadavg()[0], 2),
            "cores": os.cpu_count(),
        },
        "runs": [],
    }
    for round_no in range(options.rounds):
        for bot in options.bots:
            run_result = await measure(bot, options, round_no)
            results["runs"].append(run_result)
            if not options.json:
                print(
                    f"{bot:<7} {run_result['updates']} updates  cpu {run_result['cpu_s']:.2f} s"
                    f"  {run_result['cpu_ms_per_update']:.2f} ms/update  "
                    f"{run_result['updates_per_s']:.0f} updates/s (wall)",
                    flush=True,
                )
    results["summary"] = summary(results["runs"])
    results["conditions"]["load_after"] = round(os.getloadavg()[0], 2)
    return results


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and range of CPU per update of each bot, and stabot's against each echo's."""
    bots = list(dict.fromkeys(r["bot"] for r in runs))
    per_bot = {b: [r["cpu_ms_per_update"] for r in runs if r["bot"] == b] for b in bots}
    median = {b: statistics.median(v) for b, v in per_bot.items()}
    ratios = {
        f"{s}/{e}": round(median[s] / median[e], 2)
        for s in bots
        if s.startswith("stabot")
        for e in bots
        if e.startswith("echo")
    }
    return {
        "median_ms": median,
        "range_ms": {b: [min(v), max(v)] for b, v in per_bot.items()},
        "ratios": ratios,
    }


def main() -> None:
    """Parse the arguments and run (or serve the echo bot in the child process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--forms", type=int, default=3, help="measured forms per user")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--think", type=float, default=0.0, help="seconds between inputs")
    parser.add_argument("--limits", action="store_true", help="keep Telegram's 429 limits")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--profile", metavar="DIR", help="record py-spy profiles into DIR")
    parser.add_argument(
        "--bots",
        nargs="+",
        default=["echo", "stabot", "stabot-httpx", "echo-aiohttp"],
        help="echo (PTB's httpx), echo-aiohttp, stabot (aiohttp), stabot-httpx",
    )
    parser.add_argument(
        "--serve-echo", nargs=2, metavar=("BASE_URL", "TRANSPORT"), help=argparse.SUPPRESS
    )
    options = parser.parse_args()
    if options.serve_echo:
        serve_echo(*options.serve_echo)
        return
    logging.getLogger("tornado").setLevel(logging.CRITICAL)  # a poll cut off at the end
    results = asyncio.run(run(options))
    if options.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        s = results["summary"]
        medians = ", ".join(f"{b} {ms:.2f} ms" for b, ms in s["median_ms"].items())
        ratios = ", ".join(f"{pair} {ratio}x" for pair, ratio in s["ratios"].items())
        load = results["conditions"]
        print(f"median cpu per update: {medians}; {ratios}")
        print(f"load {load['load_before']} -> {load['load_after']}")


if __name__ == "__main__":
    main()
