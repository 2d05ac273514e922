"""Photos and files members sent on a channel whose ids expire (WeCom's media ids live three
days), kept under DATA_DIR by the SHA-256 of their bytes.

A form stores the reference (``stored:<sha256>:<file name>``) where Telegram's forms store a
file id; it never expires, and the same bytes sent twice are kept once. Files, not database
rows: a photo is up to 10 MB and a file 20 MB, which would swell every backup and hold a
transaction open while written; a content-addressed file is written once, atomically, and a
retried event that writes it again changes nothing. Workers on several machines need DATA_DIR
on a shared volume (as the policy library's uploads do).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

PREFIX = "stored:"
MEDIA_DIR = "media"  # under DATA_DIR
_NAME_UNSAFE = re.compile(r"[\x00-\x1f/\\:]")
_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class StoredFile:
    """A kept file's bytes and the name it was sent with."""

    data: bytes
    filename: str


def is_stored(file_id: str | None) -> bool:
    """Whether a form's file id is a reference to this store (not a channel's own id)."""
    return bool(file_id) and str(file_id).startswith(PREFIX)


def ref_digest(ref: str) -> str:
    """The SHA-256 a reference names (a unique id for the file's bytes)."""
    return ref.removeprefix(PREFIX).partition(":")[0]


@dataclass(frozen=True)
class MediaStore:
    """The content-addressed store under ``root`` (DATA_DIR/media)."""

    root: Path

    def put(self, data: bytes, filename: str) -> str:
        """Keep ``data``; its reference (the same bytes: the same file, written once)."""
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed: a reader never sees half a file.
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                tmp.write(data)
            os.replace(tmp.name, path)
        name = _NAME_UNSAFE.sub("_", filename)[:200]
        return f"{PREFIX}{digest}:{name}"

    def get(self, ref: str) -> StoredFile | None:
        """The file behind a reference; None when it is not one or the file is gone."""
        if not is_stored(ref):
            return None
        digest, name = ref_digest(ref), ref.removeprefix(PREFIX).partition(":")[2]
        if not _DIGEST.fullmatch(digest):
            return None
        path = self._path(digest)
        if not path.is_file():
            return None
        return StoredFile(path.read_bytes(), name)

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest
