"""Weights files are verified against the sha256 in their model card before anything loads them."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import ChecksumError, ModelError

_CHUNK_BYTES = 1 << 20


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


#: (path, size, mtime_ns) -> sha256 already verified in this process
_verified: dict[tuple[str, int, int], str] = {}


def verify_weights(card) -> Path:
    """Check the card's weights file exists and matches its sha256; return its path.

    A file verified once is not hashed again in this process unless its size or time stamp changed.
    """
    path = Path(card.weights_path)
    if not path.is_file():
        raise ModelError(
            f"Weights file of model {card.id} is missing: {path}.",
            "Re-import the model (`radassist models import PATH`).",
        )
    status = path.stat()
    key = (str(path.resolve()), status.st_size, status.st_mtime_ns)
    if _verified.get(key) == card.weights_sha256:
        return path
    actual = sha256_of(path)
    if actual != card.weights_sha256:
        raise ChecksumError(
            f"Weights file {path} of model {card.id} fails its checksum: expected sha256 {card.weights_sha256}, "
            f"got {actual}.",
            "The file is damaged or was replaced: re-import the model (`radassist models import PATH --overwrite`) "
            "and check with `radassist models verify`.",
        )
    _verified[key] = actual
    return path
