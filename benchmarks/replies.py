"""Replies under faults: the real ``stabot run`` process answers commands from many users while
the loopback fake Bot API fails a share of requests (500/502 answers and dropped connections,
half of them after it processed the request); counts how many commands got exactly one reply.

    .venv/bin/python benchmarks/replies.py [--users 300] [--faults 0.20,0.05] [--seed 1]
        [--mix help|buttons|both]

``help``: each user sends /help once (one sendMessage). ``buttons``: each user opens /lang and
presses a language button (answerCallbackQuery and editMessageText, retried safely).
"Exactly one reply": for /help, one message arrived (the answer or the "please try again");
for /lang and its button, one message came and the press edited it (or, when the /lang answer
was lost, one "please try again" came instead). Loopback only; bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.broadcast import free_port, start_bot, stop_bot  # noqa: E402
from benchmarks.fake_bot_api import EDITS, FakeBotApi, Faults, make_server, parse_faults  # noqa: E402
from storage.db import create_engine  # noqa: E402
from storage.migrate import upgrade_to_head  # noqa: E402

USER_BASE = 8_000_000
PACE = 0.1  # seconds between two users' first commands


def user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "用户", "language_code": "zh-hans"}


def command(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    """A private command message."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": user(user_id),
            "chat": {"id": user_id, "type": "private", "first_name": "用户"},
            "date": int(time.time()),
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


def press(update_id: int, user_id: int, message: dict[str, Any], data: str) -> dict[str, Any]:
    """The user presses a button under the bot's message."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": str(update_id),
            "from": user(user_id),
            "chat_instance": str(user_id),
            "message": message,
            "data": data,
        },
    }


async def drive(api: FakeBotApi, users: int, mix: str) -> dict[str, str]:
    """Push each user's command (and, for buttons, the press once the keyboard arrived)."""
    kinds: dict[str, str] = {}
    update_id = 1
    for i in range(users):
        user_id = USER_BASE + i
        kind = mix if mix != "both" else ("help" if i % 2 else "buttons")
        kinds[str(user_id)] = kind
        api.push_update(command(update_id, user_id, "/help" if kind == "help" else "/lang"))
        update_id += 1
        await asyncio.sleep(PACE)
    return kinds


async def press_buttons(api: FakeBotApi, kinds: dict[str, str], deadline: float) -> set[int]:
    """Press 中文/English under each /lang keyboard as it arrives; returns who could press."""
    pressed: set[int] = set()
    update_id = 1_000_000
    while time.perf_counter() < deadline and len(pressed) < sum(
        1 for k in kinds.values() if k == "buttons"
    ):
        for chat_id in list(api.chat_messages):
            message = api.keyboard(chat_id)
            if chat_id in pressed or message is None:
                continue
            data = message["reply_markup"]["inline_keyboard"][0][-1]["callback_data"]
            api.push_update(press(update_id, chat_id, message, data))
            update_id += 1
            pressed.add(chat_id)
        await asyncio.sleep(0.2)
    return pressed


def verdicts(api: FakeBotApi, kinds: dict[str, str], pressed: set[int]) -> dict[str, Any]:
    """Per kind: exactly one reply, none, or more than one."""
    result: dict[str, Counter[str]] = {"help": Counter(), "buttons": Counter()}
    for raw, kind in kinds.items():
        chat_id = int(raw)
        sends = api.per_chat[chat_id]
        if kind == "help":
            verdict = "exactly_one" if sends == 1 else ("none" if sends == 0 else "more")
        elif chat_id not in pressed:  # /lang's keyboard never came: one "try again" is fine
            verdict = {0: "none", 1: "exactly_one"}.get(sends, "more")
        else:
            edits = sum(method in EDITS for _, method in api.chat_calls.get(chat_id, []))
            extra = sends - 1  # the /lang message itself
            verdict = "more" if extra else "exactly_one" if edits >= 1 else "none"
        result[kind][verdict] += 1
    total = sum(c["exactly_one"] for c in result.values())
    return {
        "commands": len(kinds),
        "exactly_one": total,
        "exactly_one_share": round(total / len(kinds), 4),
        "by_kind": {k: dict(v) for k, v in result.items() if v},
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="stabot-replies-"))
    (work / "corpus").mkdir()
    url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
    engine = create_engine(url)
    await upgrade_to_head(engine)
    await engine.dispose()
    faults: Faults = parse_faults(args.faults, args.seed, args.after_processing_share)
    api, port = FakeBotApi(faults=faults), free_port()
    server = make_server(api, port)
    process = await start_bot(work, url, port, None)
    started = time.perf_counter()
    kinds = await drive(api, args.users, args.mix)
    deadline = min(started + args.timeout, time.perf_counter() + 20.0)  # keyboards lost stay so
    pressed = await press_buttons(api, kinds, deadline)
    await asyncio.sleep(args.settle)  # the last replies, retries and "try again" messages
    await stop_bot(process)
    server.stop()
    return {
        "faults": faults.describe(),
        "seed": args.seed,
        "mix": args.mix,
        **verdicts(api, kinds, pressed),
        "faults_injected": {" ".join(k): n for k, n in sorted(api.fault_log.items())},
        "429s": api.rejected_429,
        "429s_by_limit": dict(api.rejected_by),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--faults", default="0.20,0.05")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--after-processing-share",
        default=None,
        help="of the 5xx answers and of the drops, the share after processing (default 0,0.5)",
    )
    parser.add_argument("--mix", choices=("help", "buttons", "both"), default="both")
    parser.add_argument("--settle", type=float, default=8.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    return parser.parse_args()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse_args())), ensure_ascii=False, indent=2))
