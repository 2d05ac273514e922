"""Tokenise large batches on every core (reading, chunking and analysis are Python: the GIL)."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
# Below this many items (files) a pool costs more than it saves; a chat upload never forks.
MIN_PARALLEL_ITEMS = 50
MAX_WORKERS = 8

# The function run in the workers; set before forking, so children inherit it (and the jieba
# dictionary it uses) without pickling.
_TASK: Callable[[Any], Any] | None = None


def _run(item: Any) -> Any:
    """Worker side: apply the inherited task."""
    assert _TASK is not None
    return _TASK(item)


def parallel_map(
    func: Callable[[T], R], items: Sequence[T], *, min_items: int = MIN_PARALLEL_ITEMS
) -> list[R]:
    """``[func(x) for x in items]``, spread over forked workers when the batch is large."""
    global _TASK
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    if workers < 2 or len(items) < min_items or os.name != "posix":
        return [func(item) for item in items]
    _TASK = func
    try:
        context = multiprocessing.get_context("fork")
        with context.Pool(workers) as pool:
            return pool.map(_run, items, chunksize=max(1, len(items) // (workers * 8)))
    finally:
        _TASK = None
