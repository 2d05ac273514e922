"""benchmarks/qa_eval.py against a system whose output has a line that is not JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.qa_eval import align, score
from bot import PROJECT_ROOT

# A system under test: answers, refuses, answers with low confidence, and for two questions
# prints a log line instead.
FAKE_SYSTEM = '''
import json, sys
for line in sys.stdin:
    q = line.rstrip("\\n")
    answer = {"doc": "a.txt", "title": "t", "section": "", "text": "每季度一次", "score": 1.0}
    if q.startswith("坏"):
        print("WARNING: dictionary cache rebuilt for " + q, flush=True)
    elif q == "停车费多少？":
        print(json.dumps({"question": q, "confident": True, "answers": []}, ensure_ascii=False))
    elif q.startswith("低"):
        row = {"question": q, "confident": False, "answers": [answer]}
        print(json.dumps(row, ensure_ascii=False))
    else:
        print(json.dumps({"question": q, "answers": [answer]}, ensure_ascii=False))
'''
ITEMS = [
    {"id": "a", "q": "科普讲座多久举办一次？", "doc": "a.txt", "answer_phrases": ["每季度"],
     "kind": "fact"},
    {"id": "b", "q": "坏了的问题？", "doc": "a.txt", "answer_phrases": ["每季度"], "kind": "fact"},
    {"id": "c", "q": "坏了的拒答？", "doc": None, "answer_phrases": [], "kind": "unanswerable"},
    {"id": "d", "q": "停车费多少？", "doc": None, "answer_phrases": [], "kind": "unanswerable"},
    {"id": "e", "q": "低信心的问题？", "doc": "a.txt", "answer_phrases": ["每季度"],
     "kind": "fact"},
    {"id": "f", "q": "低信心的拒答？", "doc": None, "answer_phrases": [], "kind": "unanswerable"},
]
SCORE_PY = PROJECT_ROOT.parent / "shared" / "qa" / "score.py"


def _fixtures(tmp_path: Path) -> tuple[str, Path]:
    """The fake system's command and the question set, written to ``tmp_path``."""
    system = tmp_path / "system.py"
    system.write_text(FAKE_SYSTEM, encoding="utf-8")
    questions = tmp_path / "set.jsonl"
    questions.write_text("".join(json.dumps(it, ensure_ascii=False) + "\n" for it in ITEMS),
                         encoding="utf-8")
    return f"{sys.executable} {system}", questions


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=60, check=False)


def test_a_line_that_is_not_json_is_reported_and_counted_as_a_miss(tmp_path: Path) -> None:
    command, questions = _fixtures(tmp_path)
    proc = _run("benchmarks/qa_eval.py", "--set", str(questions), "--command", command,
                "--details", str(tmp_path / "d.jsonl"))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "PROBLEM: output line 2 is not a JSON object: WARNING: dictionary cache" in proc.stderr
    figures = dict(line.rsplit(None, 1) for line in proc.stdout.splitlines()[1:8])
    assert figures == {"hit@1": "0.67", "hit@3": "0.67", "hit@5": "0.67", "mrr": "0.67",
                       "unanswerable_declined": "0.67", "answerable_declined": "0.67",
                       "answerable_no_answer": "0.33"}
    assert "PROBLEM: 2 output line(s) not JSON objects" in proc.stdout
    assert "PROBLEM: 2 question(s) without a JSON answer, counted as misses" in proc.stdout
    details = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert [d["valid"] for d in details] == [True, False, False, True, True, True]
    assert [d["declined"] for d in details] == [False, True, True, True, True, True]


@pytest.mark.skipif(not SCORE_PY.is_file(), reason="../shared/qa/score.py is not beside the repo")
def test_qa_eval_agrees_with_the_reference_scorer(tmp_path: Path) -> None:
    command, questions = _fixtures(tmp_path)
    ours = _run("benchmarks/qa_eval.py", "--set", str(questions), "--command", command)
    reference = _run(str(SCORE_PY), "-q", "--set", str(questions), command)
    mine = dict(line.rsplit(None, 1) for line in ours.stdout.splitlines()[1:8])
    theirs = dict(pair.split("=") for pair in reference.stdout.split()[:7])
    names = {"hit@1": "hit@1", "hit@3": "hit@3", "hit@5": "hit@5", "mrr": "mrr",
             "unanswerable_declined": "unans", "answerable_declined": "false_refusal",
             "answerable_no_answer": "hard_refusal"}
    assert set(names.values()) <= set(theirs)
    assert {name: mine[name] for name in names} == {
        name: theirs[ref] for name, ref in names.items()
    }


def test_rows_pair_by_position_when_questions_are_not_echoed() -> None:
    rows = [{"answers": [{"text": "每季度"}]}, None, {"answers": []}]
    aligned = align(ITEMS, rows)
    assert aligned == [rows[0], None, rows[2], None, None, None]
    figures = score(ITEMS[:4], aligned[:4])
    assert (figures["hit@1"], figures["answerable_declined"]) == (0.5, 0.5)
    assert figures["unanswerable_declined"] == 0.5
