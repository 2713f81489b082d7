"""What makes a batch resumable and safe to share: input hashes, the per-case run ledger, the output lock.

Layout of a batch output folder::

    OUT/<case_id>/                     each case's results, written atomically by the assistant's job
    OUT/.radassist-batch/ledger/<case_id>.json   the last run of that case (this module's LedgerEntry)
    OUT/.radassist-batch/lock          held while a batch runs (pid, host); refused to a second batch
    OUT/batch_summary.csv              the last run's table

A case is skipped when its ledger says ``ok`` for the same inputs (sha256 of their contents, not dates),
the same model weights (sha256 from the model card) and the same options, and its result folder is there.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import RESULT_MARKER, write_text_atomic
from ..errors import InputError, OutputError
from .cases import BatchCase

BATCH_FOLDER = ".radassist-batch"
LOCK_NAME = "lock"
SUMMARY_NAME = "batch_summary.csv"
_CHUNK = 1 << 20


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def input_sha256(case: BatchCase) -> str:
    """One sha256 over the contents of all the case's inputs (a DICOM folder: every file under it).

    Names enter relative to the case folder, so moving the archive keeps the hash; editing, adding or
    removing an input file changes it. :raises InputError: an input cannot be read.
    """
    digest = hashlib.sha256()
    for role, value in case.inputs.items():
        for item in value if isinstance(value, list) else [value]:
            path = Path(item)
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for file in files:
                try:
                    name = file.relative_to(case.folder).as_posix()
                except ValueError:
                    name = file.name
                try:
                    content = _file_sha256(file)
                except OSError as error:
                    raise InputError(
                        f"Cannot read input {file} of case {case.case_id}: {error.strerror or error}."
                    ) from error
                digest.update(f"{role}\0{name}\0{content}\n".encode())
    return digest.hexdigest()


def options_sha256(options: dict[str, Any]) -> str:
    """sha256 of the options that change a result (JSON with sorted keys)."""
    return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class LedgerEntry:
    """The last run of one case. ``status``: ``ok`` or ``failed``; ``seconds``: wall time of the task (s)."""

    case_id: str
    assistant: str
    status: str
    inputs_sha256: str
    model_id: str
    model_sha256: str
    options_sha256: str
    seconds: float = 0.0
    worker: str = ""
    error: str = ""
    uncertainty: float | None = None
    labels_path: str = ""
    model_version: str = ""
    finished_at: float = field(default_factory=time.time)


def batch_folder(out: str | os.PathLike[str]) -> Path:
    return Path(out) / BATCH_FOLDER


def ledger_path(out: str | os.PathLike[str], case_id: str) -> Path:
    return batch_folder(out) / "ledger" / f"{case_id}.json"


def write_entry(out: str | os.PathLike[str], entry: LedgerEntry) -> Path:
    """Write the case's ledger entry atomically (a killed writer leaves the previous entry)."""
    return write_text_atomic(ledger_path(out, entry.case_id), json.dumps(asdict(entry), indent=1) + "\n")


def read_entry(out: str | os.PathLike[str], case_id: str) -> LedgerEntry | None:
    """The case's ledger entry, or None when there is none or it is unreadable (then the case runs again)."""
    try:
        data = json.loads(ledger_path(out, case_id).read_text(encoding="utf-8"))
        return LedgerEntry(**data)
    except (OSError, ValueError, TypeError):
        return None


def is_up_to_date(entry: LedgerEntry | None, expected: LedgerEntry, out: str | os.PathLike[str]) -> bool:
    """True when ``entry`` is a successful run with ``expected``'s inputs, model and options, and the case's
    result folder (with its marker) is still there."""
    if entry is None or entry.status != "ok":
        return False
    same = (entry.inputs_sha256, entry.model_sha256, entry.options_sha256, entry.assistant) == (
        expected.inputs_sha256,
        expected.model_sha256,
        expected.options_sha256,
        expected.assistant,
    )
    return same and (Path(out) / entry.case_id / RESULT_MARKER).is_file()


# ----- the lock -------------------------------------------------------------------------------------


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _read_lock(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def batch_lock(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``OUT/.radassist-batch/lock`` for the block: created with O_EXCL, so of two batches started on
    one output folder (on any machine sharing it) exactly one gets it.

    A lock left by a process of this host that no longer runs (a killed batch) is stale: it is replaced.
    :raises OutputError: another batch holds the folder (the message names its host and pid).
    """
    path = batch_folder(out) / LOCK_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"Cannot create {path.parent}: {error.strerror or error}.", "Choose a writable --out."
        ) from error
    here = socket.gethostname()
    for _attempt in range(2):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_lock(path)
            pid, host = int(holder.get("pid", 0) or 0), str(holder.get("host", ""))
            if host == here and pid and not _process_alive(pid):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # stale: its batch was killed
                continue
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(holder.get("started", 0) or 0)))
            raise OutputError(
                f"Output folder {out} is in use by another batch (pid {pid or '?'} on {host or '?'}, since {started}).",
                f"Wait for it, or give another --out; if no batch runs there any more, remove {path}.",
            ) from None
        except OSError as error:
            if error.errno in (errno.EROFS, errno.EACCES):
                raise OutputError(f"Cannot lock {path}: {error.strerror}.", "Choose a writable --out.") from error
            raise
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            json.dump({"pid": os.getpid(), "host": here, "started": time.time()}, stream)
        break
    else:
        raise OutputError(f"Could not take the lock {path}.", "Run the batch again.")
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            if _read_lock(path).get("pid") == os.getpid():
                path.unlink()
