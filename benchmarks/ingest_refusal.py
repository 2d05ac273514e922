"""How fast a knowledge file over the size limit is refused (it must be refused before reading).

    python benchmarks/ingest_refusal.py [--megabytes 50] [--repeat 20]

Writes a sparse file of that size and times ``KnowledgeBase.add_file`` refusing it: CPU seconds
(time.process_time) and wall seconds, the best and the median of ``--repeat`` runs. Reading 50 MB
would take tens of milliseconds at least; a refusal that looks only at the size takes well under
one. (This was a wall-clock assertion in tests/test_knowledge_ingest.py; tests do not time.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.services.knowledge import IngestCode, IngestError, KnowledgeBase  # noqa: E402


def refuse_once(kb: KnowledgeBase, path: Path) -> tuple[float, float]:
    """CPU and wall seconds of one refusal."""
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        kb.add_file(path)
    except IngestError as error:
        assert error.code == IngestCode.TOO_LARGE, error.code
    else:
        raise SystemExit("the file was not refused")
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "huge.pdf"
        with path.open("wb") as handle:
            handle.truncate(args.megabytes * 1024 * 1024)
        kb = KnowledgeBase(Path(folder) / "kb")
        runs = [refuse_once(kb, path) for _ in range(args.repeat)]
    for name, values in (("CPU", [c for c, _ in runs]), ("wall", [w for _, w in runs])):
        best, median = min(values) * 1000, statistics.median(values) * 1000
        print(f"{name:4} ms: best {best:.3f}, median {median:.3f} ({args.repeat} runs)")


if __name__ == "__main__":
    main()
