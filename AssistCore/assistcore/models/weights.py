"""Weights files are verified against the sha256 in their model card before anything reads them."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from ..errors import ChecksumError, ModelError

_CHUNK_BYTES = 1 << 20
VERIFY_HINT = (
    "The file is damaged or was replaced: download or copy the model again, re-import it "
    "(`radassist models import PATH --overwrite`), then check with `radassist models verify`."
)


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, streamed in 1 MiB chunks (weights files can be gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


#: (resolved path, size, mtime_ns, ctime_ns) -> sha256 verified in this process. ctime cannot be set back
#: by a user (unlike mtime), so an edited file always gets hashed again.
_verified: dict[tuple[str, int, int, int], str] = {}
_verified_lock = threading.Lock()


def _file_key(path: Path) -> tuple[str, int, int, int]:
    status = path.stat()
    return (str(path.resolve()), status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def forget_verified() -> None:
    """Hash every file again on its next verification (tests; after replacing files by hand)."""
    with _verified_lock:
        _verified.clear()


def verify_file(path: str | os.PathLike[str], expected_sha256: str, model_id: str, what: str = "Weights file") -> Path:
    """Check that ``path`` exists and matches ``expected_sha256``; return it as a Path.

    A file verified once is not hashed again in this process until its size or time stamps change.

    :raises ModelError: the file is missing.
    :raises ChecksumError: the hash differs; the error names the file, the expected and the actual hash
        (also as attributes ``path``, ``expected``, ``actual``).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(
            f"{what} of model {model_id} is missing: {path}.",
            "Copy the model folder again or re-import it (`radassist models import PATH --overwrite`).",
        )
    key = _file_key(path)
    with _verified_lock:
        if _verified.get(key) == expected_sha256:
            return path
    actual = sha256_of(path)
    if actual != expected_sha256:
        error = ChecksumError(
            f"{what} {path} of model {model_id} fails its checksum: expected sha256 {expected_sha256}, got {actual}.",
            VERIFY_HINT,
        )
        error.path, error.expected, error.actual = path, expected_sha256, actual
        raise error
    with _verified_lock:
        _verified[key] = actual
    return path


def verify_weights(card) -> Path:
    """Check that the card's weights file exists and matches its sha256; return the file's path.

    :param card: a :class:`~assistcore.models.card.ModelCard`.
    :raises ModelError: the file is missing.
    :raises ChecksumError: the hash differs (see :func:`verify_file`).
    """
    return verify_file(card.weights_path, card.weights_sha256, card.id)


def verify_exported_program(card) -> Path | None:
    """Check the card's optional exported program (``model.pt2``) like the weights; None when it has none."""
    if card.exported_program_path is None:
        return None
    return verify_file(card.exported_program_path, card.data["exported_program"]["sha256"], card.id, "Exported program")


def verify_components(card) -> list[Path]:
    """Check every component's weights file (``card.components``) like the main weights."""
    paths = []
    for name, entry in card.components.items():
        paths.append(
            verify_file(
                card.component_weights_path(name), entry["weights"]["sha256"], card.id, f"Component {name} weights"
            )
        )
        if "exported_program" in entry:
            program = entry["exported_program"]
            paths.append(
                verify_file(card.folder / program["file"], program["sha256"], card.id, f"Component {name} program")
            )
    return paths


def weights_card_entry(path: Path, weights_format: str = "state_dict") -> dict:
    """The card's ``weights`` entry for a weights file written beside the card: file name, sha256, format, size."""
    path = Path(path)
    return {"file": path.name, "sha256": sha256_of(path), "format": weights_format, "size_bytes": path.stat().st_size}
