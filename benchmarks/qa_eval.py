#!/usr/bin/env python3
"""Score `stabot ask --json --top-k 5` on a question set (default: benchmarks/data/qa_dev.jsonl).

Runs the command as a subprocess, feeding the questions on stdin, and prints hit@1/3/5, MRR,
the share of unanswerable questions refused, the share of answerable ones wrongly refused,
and wall time. A hit is a returned passage containing one of the item's answer_phrases
(verbatim or with whitespace removed), exactly as ../shared/qa/score.py counts it.

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


def run(command: list[str], questions: list[str]) -> tuple[list[dict], float]:
    """Feed the questions to the command; its JSON lines and the wall time."""
    stdin = "".join(q.replace("\n", " ") + "\n" for q in questions)
    start = time.perf_counter()
    proc = subprocess.run(
        command, input=stdin, capture_output=True, text=True, cwd=ROOT, check=False
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-2000:])
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return rows, wall


def score(items: list[dict], rows: list[dict]) -> dict[str, float]:
    """The metrics, computed like the reference scorer."""
    by_question = {row.get("question"): row for row in rows}
    answerable = [it for it in items if it["kind"] != "unanswerable"]
    unanswerable = [it for it in items if it["kind"] == "unanswerable"]
    ranks = []
    refused = 0
    for item in answerable:
        answers = by_question.get(item["q"], {}).get("answers", [])
        refused += not answers
        ranks.append(first_hit(answers, item["answer_phrases"]))
    refused_ok = sum(not by_question.get(it["q"], {}).get("answers") for it in unanswerable)
    n = max(len(answerable), 1)
    return {
        "hit@1": sum(r == 1 for r in ranks if r) / n,
        "hit@3": sum(r <= 3 for r in ranks if r) / n,
        "hit@5": sum(r <= 5 for r in ranks if r) / n,
        "mrr": sum(1 / r for r in ranks if r) / n,
        "unanswerable_refused": refused_ok / max(len(unanswerable), 1),
        "answerable_refused": refused / n,
    }


def main() -> int:
    """Run the evaluation and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="question set (JSONL)")
    parser.add_argument("--command", default=DEFAULT_COMMAND, help="system under test")
    parser.add_argument("--details", type=Path, help="write per-question ranks here (JSONL)")
    args = parser.parse_args()
    items = [json.loads(line) for line in args.set.read_text("utf-8").splitlines() if line]
    rows, wall = run(shlex.split(args.command), [it["q"] for it in items])
    figures = score(items, rows)
    if args.details:
        _write_details(args.details, items, rows)
    n_unans = sum(it["kind"] == "unanswerable" for it in items)
    print(f"set: {args.set.name} ({len(items)} questions, {n_unans} unanswerable)")
    for name, value in figures.items():
        print(f"{name:<22}{value:.2f}")
    print(f"{'wall time':<22}{wall:.2f} s ({1000 * wall / max(len(items), 1):.0f} ms/question)")
    if len(rows) != len(items):
        print(f"PROBLEM: {len(rows)} output lines for {len(items)} questions")
        return 1
    return 0


def _write_details(path: Path, items: list[dict], rows: list[dict]) -> None:
    """One line per question: its rank (or refusal) and the top passage."""
    by_question = {row.get("question"): row for row in rows}
    with path.open("w", encoding="utf-8") as handle:
        for item in items:
            answers = by_question.get(item["q"], {}).get("answers", [])
            record = {
                "id": item["id"],
                "kind": item["kind"],
                "rank": first_hit(answers, item["answer_phrases"]) if item["doc"] else None,
                "refused": not answers,
                "top": answers[0]["text"][:80] if answers else None,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
