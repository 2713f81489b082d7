"""Write outputs so that nothing half-written is ever left behind: temporary name, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before worker threads create files
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


_UMASK = _read_umask()


def _default_mode(directory: bool) -> int:
    """What ``open``/``mkdir`` give under the umask (mkstemp/mkdtemp make private 0600/0700 files)."""
    return (0o777 if directory else 0o666) & ~_UMASK


@contextlib.contextmanager
def atomic_path(final_path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; rename it into place only if the block succeeds.

    The temporary name keeps the file's suffixes (``.nii.gz`` writers pick the format from them).
    On any exception the temporary file is removed and ``final_path`` is left untouched.
    """
    final = Path(final_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    suffixes = "".join(final.suffixes)
    descriptor, temporary_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f".tmp{suffixes}", dir=final.parent)
    os.close(descriptor)
    temporary = Path(temporary_name)
    try:
        yield temporary
        if temporary.exists():
            os.chmod(temporary, _default_mode(directory=False))  # results readable like any other file
        os.replace(temporary, final)
    finally:
        if temporary.exists():
            temporary.unlink()


@contextlib.contextmanager
def atomic_directory(final_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``final_dir``; it replaces ``final_dir`` only on success.

    An existing ``final_dir`` is replaced as a whole (moved aside, then removed), so a reader
    never sees a mixture of old and new results.
    """
    final = Path(final_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield temporary
        os.chmod(temporary, _default_mode(directory=True))
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(temporary, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(temporary, final)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def csv_text(records: list[dict], fields: list[str] | tuple[str, ...] | None = None) -> str:
    """CSV text (header, then one line per record, ``\n`` line ends) of ``records``; ``fields`` default to the
    keys of the first record."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(fields) if fields else list(records[0]) if records else [],
                            lineterminator="\n")  # fmt: skip
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


def write_csv_atomic(path: str | os.PathLike[str], records: list[dict], fields=None) -> Path:
    """:func:`csv_text` of ``records`` written to ``path`` atomically."""
    return write_text_atomic(path, csv_text(records, fields))
