#!/usr/bin/env python3
"""Score the quick log's reading of free texts against a table of sentences.

Each line of the file is a JSON object: ``text``, ``outcome`` (log / offer / none / invalid /
multi) and the expected fields ``type``, ``date``, ``place``, ``participants``, ``amount``
(``title_hint`` is not scored), or ``activities`` (a list of such fields) for multi. Every text
goes through `bot.flows.activity_views.read_free_text`, the function the bot's quick log uses.

How strictly each field is compared:
- outcome: exactly.
- none rows: only the outcome. offer rows: the outcome and the fields the row gives (not null).
- log, invalid and each activity of a multi row: type, date, place, participants and amount;
  a null there means the reader must find nothing.
- type, participants, amount: exactly. date: the ISO day; for a value the bot cannot take (an
  invalid row's raw ``2月30日``, a day still ahead), the value the refusal names, compared after
  NFKC with 号 read as 日. participants of an invalid row: the refused count when one is refused.
- place: spaces removed, equal, or one containing the other with the shorter at least half as
  long as the longer (青山区富强社区 for 富强社区 passes, 社区 for 青山区富强社区 does not).

    python benchmarks/activity_eval.py                       # tests/data/activity_sentences.jsonl
    python benchmarks/activity_eval.py held_out.jsonl --today 2026-03-18 --misses
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.flows.quick_log import read_free_text  # noqa: E402
from bot.services.activity_text import Reading, Understood  # noqa: E402

DEFAULT_SET = ROOT / "tests" / "data" / "activity_sentences.jsonl"
DEFAULT_TODAY = date(2026, 3, 18)
FIELDS = ("type", "date", "place", "participants", "amount")


@dataclass(frozen=True)
class Miss:
    """One disagreement: the row, the field (``outcome``, ``count`` or ``N.field`` in a multi
    row), what the row expects and what the reader gave."""

    row: str
    field: str
    expected: Any
    got: Any


@dataclass
class Score:
    """Per outcome and per field: right / compared; and every miss."""

    outcomes: Counter[str] = field(default_factory=Counter)
    outcomes_right: Counter[str] = field(default_factory=Counter)
    fields: Counter[str] = field(default_factory=Counter)
    fields_right: Counter[str] = field(default_factory=Counter)
    misses: list[Miss] = field(default_factory=list)
    rows: int = 0
    rows_right: int = 0
    cpu: float = 0.0  # seconds of CPU reading the sentences once more, warm


def load(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSONL file (blank lines skipped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def check(row: dict[str, Any], today: date) -> tuple[list[tuple[str, bool]], list[Miss]]:
    """Each comparison made for a row (name, right) and its misses."""
    understood = read_free_text(row["text"], today)
    return compare(row, understood)


def compare(
    row: dict[str, Any], understood: Understood
) -> tuple[list[tuple[str, bool]], list[Miss]]:
    """Compare what the reader understood with what the row expects."""
    made: list[tuple[str, bool]] = []
    misses: list[Miss] = []
    rid = str(row.get("id", row["text"][:20]))

    def note(name: str, right: bool, expected: Any, got: Any) -> None:
        made.append((name.split(".")[-1], right))
        if not right:
            misses.append(Miss(rid, name, expected, got))

    note("outcome", understood.outcome == row["outcome"], row["outcome"], understood.outcome)
    if row["outcome"] == "none":
        return made, misses
    if row["outcome"] == "multi":
        expected = row.get("activities") or []
        got = list(understood.readings) if understood.outcome == "multi" else []
        note("count", len(got) == len(expected), len(expected), len(got))
        for index, wanted in enumerate(expected):
            reading = got[index] if index < len(got) else Reading()
            _fields(wanted, reading, f"{index + 1}.", note, only_given=False)
        return made, misses
    reading = understood.readings[0] if understood.readings else Reading()
    _fields(row, reading, "", note, only_given=row["outcome"] == "offer")
    return made, misses


def _fields(
    wanted: dict[str, Any], reading: Reading, prefix: str, note, *, only_given: bool
) -> None:
    for name in FIELDS:
        expected = wanted.get(name)
        if only_given and expected is None:
            continue
        got = _value(reading, name, expected)
        note(prefix + name, _same(name, expected, got), expected, got)


def _value(reading: Reading, name: str, expected: Any) -> Any:
    """What the reading gives for a field; a refused value when the reading refused one."""
    refused = {p.field: p.value for p in reading.problems}
    if name == "date":
        if reading.day is not None and "day" not in refused:
            return reading.day.isoformat()
        return refused.get("day")
    if name == "participants":
        return refused.get("participants", reading.participants)
    return getattr(reading, name)


def _same(name: str, expected: Any, got: Any) -> bool:
    if expected is None or got is None:
        return expected is None and got is None
    if name == "place":
        return same_place(str(expected), str(got))
    if name == "date":
        return _day_text(expected) == _day_text(got)
    return expected == got


def _day_text(value: Any) -> str:
    return unicodedata.normalize("NFKC", str(value)).replace("号", "日").strip()


def same_place(expected: str, got: str) -> bool:
    """Places agree: equal, or one inside the other and at least half as long (spaces out)."""
    a, b = "".join(expected.split()), "".join(got.split())
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    return bool(short) and short in long_ and 2 * len(short) >= len(long_)


def score(rows: list[dict[str, Any]], today: date) -> Score:
    """Run every row and count; then read them all again for the CPU figure (the first pass
    paid for the imports and dateparser's language data)."""
    result = Score()
    for row in rows:
        made, misses = check(row, today)
        result.rows += 1
        result.rows_right += not misses
        result.outcomes[row["outcome"]] += 1
        result.outcomes_right[row["outcome"]] += dict(made)["outcome"]
        for name, right in made:
            if name != "outcome":
                result.fields[name] += 1
                result.fields_right[name] += right
        result.misses.extend(misses)
    started = time.process_time()
    for row in rows:
        read_free_text(row["text"], today)
    result.cpu = time.process_time() - started
    return result


def report(result: Score, *, show_misses: bool) -> str:
    """The figures as text."""
    whole = _pct(result.rows_right, result.rows)
    lines = [f"rows fully right: {result.rows_right}/{result.rows} ({whole})"]
    if result.rows:
        lines.append(f"CPU per sentence: {1000 * result.cpu / result.rows:.2f} ms")
    lines.append("outcome      right/rows")
    for outcome in ("log", "offer", "none", "invalid", "multi"):
        if result.outcomes[outcome]:
            right, total = result.outcomes_right[outcome], result.outcomes[outcome]
            lines.append(f"  {outcome:<10} {right}/{total} ({_pct(right, total)})")
    lines.append("field        right/compared")
    for name in ("count", *FIELDS):
        if result.fields[name]:
            right, total = result.fields_right[name], result.fields[name]
            lines.append(f"  {name:<12} {right}/{total} ({_pct(right, total)})")
    if show_misses:
        lines.append(f"misses ({len(result.misses)}):")
        lines += [
            f"  {m.row} {m.field}: expected {m.expected!r}, got {m.got!r}" for m in result.misses
        ]
    return "\n".join(lines)


def _pct(right: int, total: int) -> str:
    return f"{100 * right / total:.1f}%" if total else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_SET)
    parser.add_argument("--today", type=date.fromisoformat, default=DEFAULT_TODAY)
    parser.add_argument("--misses", action="store_true", help="list every miss")
    args = parser.parse_args(argv)
    print(report(score(load(args.file), args.today), show_misses=args.misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
