"""JSON and text files written atomically (temp file + rename), so readers never see half."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def read_json(path: Path) -> Any:
    """Parsed JSON of a file, or None when missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically."""
    write_text(path, to_json(payload))


def to_json(payload: Any) -> str:
    """Compact JSON text (UTF-8 kept)."""
    # dumps() runs the C encoder; dump() to a stream falls back to the pure-Python one.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
