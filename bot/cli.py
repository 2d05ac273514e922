"""The ``stabot`` command line: one sub-command per job, each registered by its module."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# Each module exposes ``register(subparsers)`` and sets ``func(args, settings)`` on its parsers;
# the order here is the order of ``stabot --help``.
COMMAND_MODULES = (
    "bot.commands.core",
    "bot.commands.knowledge",
    "bot.commands.activities",
    "bot.commands.exports",
)
# Which module defines each sub-command: a command imports only its own module, so that
# ``stabot ask`` does not pay for the database stack (about a second of imports).
COMMAND_HOMES = {
    **dict.fromkeys(
        ("run", "chat", "migrate", "org", "invite", "admin", "demo-data"), "bot.commands.core"
    ),
    **dict.fromkeys(("index", "ask"), "bot.commands.knowledge"),
    "activity": "bot.commands.activities",
    **dict.fromkeys(("export", "stats"), "bot.commands.exports"),
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser with the sub-command named in ``argv`` (or all of them)."""
    parser = argparse.ArgumentParser(
        prog="stabot", description="stabot: a Telegram assistant for STA liaisons"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True)
    words = [word for word in (argv or []) if not word.startswith("-")]
    home = COMMAND_HOMES.get(words[0]) if words else None
    for name in (home,) if home else COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and ``python -m bot``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    # The terminal chat shares the screen with the conversation: only problems are logged there.
    quiet = args.command == "chat"
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request URL, and the URL carries the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    # transitions logs every state a form enters and leaves at INFO: two lines per form step,
    # 2.5% of a step's CPU, and nothing an operator reads.
    logging.getLogger("transitions").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    from bot.config import Settings  # after parsing: ``--help`` does not pay for pydantic

    return int(args.func(args, Settings()) or 0)  # the settings, read once
