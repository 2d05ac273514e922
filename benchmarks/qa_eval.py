#!/usr/bin/env python3
"""Score `stabot ask --json --top-k 5` on a question set (default: benchmarks/data/qa_dev.jsonl).

Runs the command as a subprocess, feeding the questions on stdin, and prints hit@1/3/5, MRR,
the share of unanswerable questions declined, the share of answerable ones declined, the share
of answerable ones with no passage at all, and wall time, exactly as ../shared/qa/score.py
counts them: a hit is a returned passage containing one of the item's answer_phrases
(verbatim or with whitespace removed; low-confidence passages count, the user sees them), and
a question is declined when its answers are empty or it carries ``"confident": false``.

    python benchmarks/qa_eval.py
    python benchmarks/qa_eval.py --set benchmarks/data/qa_extra.jsonl --details /tmp/d.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SET = ROOT / "benchmarks" / "data" / "qa_dev.jsonl"
DEFAULT_COMMAND = f"{shlex.quote(sys.executable)} -m bot ask --json --top-k 5"
_WS = re.compile(r"\s+")


def phrase_hit(text: str, phrases: list[str]) -> bool:
    """True when the passage contains a phrase, verbatim or ignoring whitespace."""
    flat = _WS.sub("", text)
    return any(p in text or _WS.sub("", p) in flat for p in phrases)


def first_hit(answers: list[dict], phrases: list[str]) -> int | None:
    """1-based rank of the first answer holding a phrase, or None."""
    for rank, answer in enumerate(answers, 1):
        if isinstance(answer.get("text"), str) and phrase_hit(answer["text"], phrases):
            return rank
    return None


def run(command: list[str], questions: list[str]) -> tuple[list[dict | None], float]:
    """Feed the questions to the command; its output lines (None: not a JSON object), wall time."""
    stdin = "".join(q.replace("\n", " ") + "\n" for q in questions)
    start = time.perf_counter()
    proc = subprocess.run(
        command, input=stdin, capture_output=True, text=True, cwd=ROOT, check=False
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-2000:])
    return parse_lines(proc.stdout), wall


def parse_lines(out: str) -> list[dict | None]:
    """Each non-empty output line as a JSON object; None (reported on stderr) when it is not."""
    rows: list[dict | None] = []
    for number, line in enumerate(out.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            sys.stderr.write(f"PROBLEM: output line {number} is not a JSON object: {line[:200]}\n")
            row = None
        rows.append(row)
    return rows


def align(items: list[dict], rows: list[dict | None]) -> list[dict | None]:
    """Each item's output row, None when missing or broken: by the echoed question when every
    JSON row has one (a stray line shifts nothing), else by position, as score.py pairs them."""
    good = [row for row in rows if row is not None]
    if good and all(isinstance(row.get("question"), str) for row in good):
        pool: dict[str, list[dict]] = {}
        for row in good:
            pool.setdefault(_WS.sub("", row["question"]), []).append(row)
        return [(pool.get(_WS.sub("", it["q"])) or [None]).pop(0) for it in items]
    return [rows[i] if i < len(rows) else None for i in range(len(items))]


def answers_of(row: dict | None) -> list[dict] | None:
    """A row's answers, or None when the row is missing or has no answers list."""
    answers = row.get("answers") if row is not None else None
    return [a for a in answers if isinstance(a, dict)] if isinstance(answers, list) else None


def declined(row: dict | None) -> bool:
    """No passage, or passages shown as a low-confidence answer (``"confident": false``)."""
    return not answers_of(row) or (row is not None and row.get("confident") is False)


def score(items: list[dict], rows: list[dict | None]) -> dict[str, float]:
    """The metrics, computed like the reference scorer (``rows`` aligned with ``items``).

    A missing or broken row is a miss and a refusal, and never a correct refusal.
    """
    pairs = list(zip(items, rows, strict=True))
    answerable = [(it, row) for it, row in pairs if it["kind"] != "unanswerable"]
    unanswerable = [row for it, row in pairs if it["kind"] == "unanswerable"]
    ranks = [first_hit(answers_of(row) or [], it["answer_phrases"]) for it, row in answerable]
    declined_ok = sum(answers_of(row) is not None and declined(row) for row in unanswerable)
    n = max(len(answerable), 1)
    return {
        "hit@1": sum(r == 1 for r in ranks if r) / n,
        "hit@3": sum(r <= 3 for r in ranks if r) / n,
        "hit@5": sum(r <= 5 for r in ranks if r) / n,
        "mrr": sum(1 / r for r in ranks if r) / n,
        "unanswerable_declined": declined_ok / max(len(unanswerable), 1),
        "answerable_declined": sum(declined(row) for _, row in answerable) / n,
        "answerable_no_answer": sum(not answers_of(row) for _, row in answerable) / n,
    }


def problems(items: list[dict], rows: list[dict | None], aligned: list[dict | None]) -> list[str]:
    """What went wrong with the command's output, if anything."""
    found = []
    if len(rows) != len(items):
        found.append(f"{len(rows)} output lines for {len(items)} questions")
    if broken := sum(row is None for row in rows):
        found.append(f"{broken} output line(s) not JSON objects")
    if missing := sum(answers_of(row) is None for row in aligned):
        found.append(f"{missing} question(s) without a JSON answer, counted as misses")
    return found


def main() -> int:
    """Run the evaluation and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="question set (JSONL)")
    parser.add_argument("--command", default=DEFAULT_COMMAND, help="system under test")
    parser.add_argument("--details", type=Path, help="write per-question ranks here (JSONL)")
    args = parser.parse_args()
    items = [json.loads(line) for line in args.set.read_text("utf-8").splitlines() if line]
    rows, wall = run(shlex.split(args.command), [it["q"] for it in items])
    aligned = align(items, rows)
    figures = score(items, aligned)
    if args.details:
        _write_details(args.details, items, aligned)
    n_unans = sum(it["kind"] == "unanswerable" for it in items)
    print(f"set: {args.set.name} ({len(items)} questions, {n_unans} unanswerable)")
    for name, value in figures.items():
        print(f"{name:<22}{value:.2f}")
    print(f"{'wall time':<22}{wall:.2f} s ({1000 * wall / max(len(items), 1):.0f} ms/question)")
    for problem in problems(items, rows, aligned):
        print(f"PROBLEM: {problem}")
    return 1 if problems(items, rows, aligned) else 0


def _write_details(path: Path, items: list[dict], rows: list[dict | None]) -> None:
    """One line per question: its rank (or refusal) and the top passage."""
    with path.open("w", encoding="utf-8") as handle:
        for item, row in zip(items, rows, strict=True):
            answers = answers_of(row) or []
            record = {
                "id": item["id"],
                "kind": item["kind"],
                "rank": first_hit(answers, item["answer_phrases"]) if item["doc"] else None,
                "empty": not answers,
                "declined": declined(row),
                "valid": answers_of(row) is not None,
                "top": str(answers[0].get("text", ""))[:80] if answers else None,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
