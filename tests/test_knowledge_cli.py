"""The `stabot index` / `stabot ask` contract, run as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot import PROJECT_ROOT

ANSWER_KEYS = {"doc", "title", "section", "text", "score"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment pointing Settings at a temporary data dir and the bundled corpus."""
    data = tmp_path_factory.mktemp("data")
    return {**os.environ, "DATA_DIR": str(data), "CORPUS_DIR": str(PROJECT_ROOT / "corpus")}


def stabot(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot …` and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def test_ask_with_an_argument_prints_one_json_object(env: dict[str, str]) -> None:
    question = "民营企业搞技术的人够多少就得单独建科协？"
    proc = stabot(env, "ask", "--json", "--top-k", "2", question)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    payload = json.loads(lines[0])
    assert payload["question"] == question
    assert 1 <= len(payload["answers"]) <= 2
    first = payload["answers"][0]
    assert set(first) == ANSWER_KEYS
    assert first["doc"] == "001_2b194d99716c1ff7.txt"
    assert "30人以上（含30人）" in first["text"]
    assert isinstance(first["score"], float)


def test_ask_reads_stdin_one_question_per_line(env: dict[str, str]) -> None:
    questions = ["内蒙古一共配了多少辆科普大篷车？", "科协会员证去哪里办理？", "", "🙂"]
    proc = stabot(env, "ask", "--json", "--top-k", "5", stdin="\n".join(questions) + "\n")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [row["question"] for row in rows] == questions
    assert "119 辆" in rows[0]["answers"][0]["text"]
    assert [row["answers"] for row in rows[1:]] == [[], [], []]


def test_ask_without_json_is_readable(env: dict[str, str]) -> None:
    proc = stabot(env, "ask", "“两中心”指的是哪两个中心？")
    assert proc.returncode == 0, proc.stderr
    assert "基层党群服务中心、新时代文明实践中心" in proc.stdout
    assert "《在内蒙古科协八届三次全委会上的工作报告》" in proc.stdout


def test_index_adds_files_and_reports_bad_ones(env: dict[str, str], tmp_path: Path) -> None:
    good = tmp_path / "notice.md"
    good.write_text("# 关于开展科普讲座的通知\n\n## 一、时间安排\n\n每季度举办一次科普讲座。\n")
    bad = tmp_path / "table.xlsx"
    bad.write_bytes(b"PK")
    proc = stabot(env, "index", str(good), str(bad))
    assert proc.returncode == 1
    assert "notice.md" in proc.stdout
    assert "unsupported_type" in proc.stderr
    answer = stabot(env, "ask", "--json", "科普讲座多久举办一次？")
    assert "每季度举办一次" in json.loads(answer.stdout)["answers"][0]["text"]
