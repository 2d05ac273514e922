"""The `stabot index` / `stabot ask` contract, run as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot import PROJECT_ROOT

ANSWER_KEYS = {"doc", "title", "section", "text", "score", "doc_number"}


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
    assert first["doc_number"] == "宁科协发[2017]212号"
    assert "30人以上（含30人）" in first["text"]
    assert isinstance(first["score"], float)


def test_ask_reads_stdin_one_question_per_line(env: dict[str, str]) -> None:
    questions = ["内蒙古一共配了多少辆科普大篷车？", "科协会员证去哪里办理？", "", "🙂"]
    proc = stabot(env, "ask", "--json", "--top-k", "5", stdin="\n".join(questions) + "\n")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [row["question"] for row in rows] == questions
    assert "119 辆" in rows[0]["answers"][0]["text"]
    assert [row["confident"] for row in rows] == [True, False, False, False]
    # Low confidence keeps the closest passages; empty and emoji-only questions get none.
    assert rows[1]["answers"] and [row["answers"] for row in rows[2:]] == [[], []]


def test_ask_without_json_is_readable(env: dict[str, str]) -> None:
    proc = stabot(env, "ask", "“两中心”指的是哪两个中心？")
    assert proc.returncode == 0, proc.stderr
    assert "基层党群服务中心、新时代文明实践中心" in proc.stdout
    source = "《在内蒙古科协八届三次全委会上的工作报告》（内蒙古自治区科学技术协会，2022-03-18）› "
    assert source in proc.stdout


BAD_QUESTIONS = ["", "🙂🙂👍", "How many members?", "科协" * 300 + "？"]


def test_ask_json_keeps_its_contract_for_bad_questions(env: dict[str, str]) -> None:
    questions = ["企业科技人员多少人要单独成立科协？", *BAD_QUESTIONS]
    proc = stabot(env, "ask", "--json", stdin="\n".join(questions) + "\n")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert all(set(row) == {"question", "confident", "answers"} for row in rows)
    assert [row["question"] for row in rows] == questions
    assert all(set(answer) == ANSWER_KEYS for answer in rows[0]["answers"])
    assert [row["answers"] for row in rows[1:]] == [[], [], [], []]
    assert [row["confident"] for row in rows] == [True, False, False, False, False]
    assert proc.stderr == ""


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("zh_CN", ["问题是空的", "没有读出文字", "请用中文提问", "问题太长了（最多 500 个字）"]),
        ("en", ["The question is empty", "I couldn't read any words", "please ask in Chinese",
                "too long (at most 500 characters)"]),
    ],
)
def test_ask_text_says_why_a_question_cannot_be_answered(
    env: dict[str, str], locale: str, expected: list[str]
) -> None:
    proc = stabot({**env, "DEFAULT_LOCALE": locale}, "ask",
                  stdin="\n".join(BAD_QUESTIONS) + "\n")
    assert proc.returncode == 0, proc.stderr
    answers = proc.stdout.strip().split("\n\n")
    assert len(answers) == len(expected)
    for answer, message in zip(answers, expected, strict=True):
        assert message in answer
    assert "没有找到" not in proc.stdout and "No " not in proc.stdout


def test_ask_text_in_english_names_the_source(env: dict[str, str]) -> None:
    proc = stabot({**env, "DEFAULT_LOCALE": "en"}, "ask", "“两中心”指的是哪两个中心？")
    first = "Q: “两中心”指的是哪两个中心？\n1. “在内蒙古科协八届三次全委会上的工作报告”"
    assert proc.stdout.startswith(first)
    numbered = stabot({**env, "DEFAULT_LOCALE": "en"}, "ask", "企业科技人员多少人要单独成立科协？")
    assert ("1. “关于加强企业科协组织建设的意见” (宁夏回族自治区科学技术协会, "
            "宁科协发[2017]212号, 2017-11-29) › ") in numbered.stdout
    unknown = stabot({**env, "DEFAULT_LOCALE": "en"}, "ask", "手把肉咋煮才嫩？")
    assert unknown.stdout == (
        "Q: 手把肉咋煮才嫩？\nThe indexed documents don't answer this question.\n\n"
    )
    unsure = stabot({**env, "DEFAULT_LOCALE": "en"}, "ask", "科协的食堂几点开饭？")
    assert unsure.stdout.startswith(
        "Q: 科协的食堂几点开饭？\nThe documents may not answer this directly. The closest "
        "passages:\n\n1. “"
    )


def test_index_adds_files_and_reports_bad_ones(env: dict[str, str], tmp_path: Path) -> None:
    good = tmp_path / "notice.md"
    good.write_text("# 关于开展科普讲座的通知\n\n## 一、时间安排\n\n每季度举办一次科普讲座。\n")
    bad = tmp_path / "table.xlsx"
    bad.write_bytes(b"PK")
    broken = tmp_path / "broken.docx"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    proc = stabot(env, "index", str(good), str(bad), str(broken))
    assert proc.returncode == 1
    assert "+ notice.md\t《关于开展科普讲座的通知》（2 段）" in proc.stdout
    assert proc.stdout.splitlines()[-1].startswith("共收录 ")
    assert proc.stderr.splitlines() == [
        f"! {bad}：无法读取，只支持 .txt、.md、.docx 和 .pdf 文件。",
        f"! {broken}：文件已损坏或格式不对，无法打开。",
    ]
    english = stabot({**env, "DEFAULT_LOCALE": "en"}, "index", str(bad))
    refused = f"! {bad}: cannot be read; only .txt, .md, .docx and .pdf files are.\n"
    assert english.stderr == refused
    answer = stabot(env, "ask", "--json", "科普讲座多久举办一次？")
    assert "每季度举办一次" in json.loads(answer.stdout)["answers"][0]["text"]


def test_index_replaces_a_changed_file_and_follows_the_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lecture = corpus / "lecture.md"
    lecture.write_text("# 关于开展科普讲座的通知\n\n## 一、时间安排\n\n每月举办一次科普讲座。\n")
    other = corpus / "other.md"
    other.write_text("# 关于开展科普日活动的通知\n\n## 一、报送\n\n请于9月前报送科普日方案。\n")
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "CORPUS_DIR": str(corpus)}
    first = stabot(env, "index").stdout.splitlines()
    added = [line.split("\t")[0] for line in first]
    assert added == ["+ lecture.md", "+ other.md", "共收录 2 份文件。"]
    lecture.write_text("# 关于开展科普讲座的通知\n\n## 一、时间安排\n\n每季度举办一次科普讲座。\n")
    other.unlink()
    proc = stabot(env, "index")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "~ lecture.md\t《关于开展科普讲座的通知》（2 段），替换了旧版本《关于开展科普讲座的通知》",
        "- other.md\t《关于开展科普日活动的通知》：文件已不在语料目录中，已移除",
        "共收录 1 份文件。",
    ]
    answer = json.loads(stabot(env, "ask", "--json", "科普讲座多久举办一次？").stdout)
    assert {a["doc"] for a in answer["answers"]} == {"lecture.md"}
    assert "每季度举办一次" in answer["answers"][0]["text"]
