"""Seed vectors: the bundled corpus's passage vectors, shipped beside it in the repository.

Embedding the 168 bundled passages takes 20-50 s of two cores, so a fresh checkout would answer
lexically (the bot) or wait (``stabot ask``) that long. The vectors are generated once by
``stabot index --seed-vectors`` into ``<corpus>/vectors/<model key>.npz`` (float16, keyed by
the hash of the embedded text, as the cache is) and read as part of the cache: a passage whose
text is unchanged is never embedded on a user's machine, while new or changed documents still
are, in the background. A test fails when the file no longer covers the bundled passages.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

SEEDS_DIR = "vectors"
# float16 keeps three significant digits of each component: cosines move by about 1e-4, and
# no answer of the question sets changes (README, "Policy answers").
SEED_DTYPE = np.float16


def seed_file(folder: Path, key: str) -> Path:
    """The seed file of a model in a folder of seed files (``<corpus>/vectors``)."""
    return Path(folder) / f"{key}.npz"


def read_seeds(path: Path | None) -> dict[str, np.ndarray]:
    """Seed vectors by text hash, as unit float32 vectors; empty when there is no usable file."""
    if path is None:
        return {}
    try:
        with np.load(path) as data:
            hashes, vectors = data["hashes"], data["vectors"]
    except (OSError, ValueError, KeyError):
        return {}
    matrix = vectors.astype(np.float32)
    # Rounding to float16 moves the norm off 1 by up to ~1e-3: cosines are dot products.
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return {h.decode("ascii"): matrix[i] for i, h in enumerate(hashes.tolist())}


def write_seeds(path: Path, vectors: dict[str, np.ndarray], key: str) -> None:
    """Write seed vectors (sorted by hash, so regenerating unchanged ones changes no byte)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    hashes = sorted(vectors)
    matrix = np.stack([vectors[h] for h in hashes]).astype(SEED_DTYPE)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as handle:
        np.savez_compressed(
            handle, hashes=np.asarray(hashes, dtype="S32"), vectors=matrix, model=np.str_(key)
        )
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would make the committed file private
    os.replace(tmp, path)
