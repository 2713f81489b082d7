"""Write outputs so that nothing half-written is ever left behind: temporary name, then rename."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputError


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
    suffixes = "".join(final.suffixes)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary_name = tempfile.mkstemp(
            prefix=f".{final.name}.", suffix=f".tmp{suffixes}", dir=final.parent
        )
    except OSError as error:
        raise output_error(error, final.parent) from error
    os.close(descriptor)
    temporary = Path(temporary_name)
    try:
        try:
            yield temporary
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise output_error(error, final.parent) from error
            raise
        try:
            if temporary.exists():
                os.chmod(temporary, _default_mode(directory=False))  # results readable like any other file
            os.replace(temporary, final)
        except OSError as error:
            raise output_error(error, final.parent) from error
    finally:
        if temporary.exists():
            temporary.unlink()


@contextlib.contextmanager
def atomic_directory(final_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``final_dir``; it replaces ``final_dir`` as a whole only on success.

    Only for folders RadAssist owns entirely (imported models, Station copies under a fresh name): an
    existing ``final_dir`` is moved aside and removed with everything in it. Folders a user names (``--out``)
    go through :func:`result_directory`, which never removes what RadAssist did not write.
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


# ----- result folders a user names (--out) --------------------------------------------------------

#: Written with every result: the command that wrote the folder and the files that are RadAssist's own.
RESULT_MARKER = ".radassist-result.json"
_STAGING_PREFIX = ".radassist-staging-"
_PREVIOUS_PREFIX = ".radassist-previous-"
#: errno -> the words a user reads; these mean "the output place cannot take the results", never a bug
_OUTPUT_ERRNO_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


def output_error(error: OSError, where: str | os.PathLike[str]) -> OutputError:
    """The one-line :class:`OutputError` for an ``OSError`` met while writing results to ``where``."""
    reason = _OUTPUT_ERRNO_REASONS.get(error.errno, error.strerror or str(error))
    return OutputError(
        f"Cannot write results to {where}: {reason} ({Path(error.filename).name if error.filename else 'folder'}).",
        "Free disk space, or choose a folder you can write to (--out); nothing was written.",
    )


@dataclass(frozen=True)
class ResultMarker:
    """What :data:`RESULT_MARKER` records: the command (``brain``, ``crm train``...) and its files
    (POSIX paths relative to the folder)."""

    command: str
    files: tuple[str, ...]


def read_result_marker(folder: str | os.PathLike[str]) -> ResultMarker | None:
    """The marker of an earlier RadAssist result in ``folder``; None when there is none (or it is unreadable)."""
    try:
        data = json.loads((Path(folder) / RESULT_MARKER).read_text(encoding="utf-8"))
        return ResultMarker(str(data["command"]), tuple(str(name) for name in data["files"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _relative_files(folder: Path) -> list[str]:
    """Files and links under ``folder`` (links not followed), as sorted POSIX paths relative to it."""
    found = []
    for root, directories, names in os.walk(folder):
        directories[:] = [d for d in directories if not d.startswith((_STAGING_PREFIX, _PREVIOUS_PREFIX))]
        found += [(Path(root) / name).relative_to(folder).as_posix() for name in names]
        found += [(Path(root) / d).relative_to(folder).as_posix() for d in directories if (Path(root) / d).is_symlink()]
    return sorted(name for name in found if not name.startswith((_STAGING_PREFIX, _PREVIOUS_PREFIX)))


def check_output_folder(
    final_dir: str | os.PathLike[str], command: str, overwrite: bool = False
) -> ResultMarker | None:
    """Refuse an output folder RadAssist may not write into; return its earlier result's marker, if any.

    Accepted: a folder that does not exist, an empty one, or an earlier result of the same ``command``;
    with ``overwrite`` any folder (its other files are kept). Call it before long work, so that a refusal
    costs nothing.

    :raises OutputError: ``final_dir`` is a file, or holds files that are not a result of ``command``.
    """
    final = Path(final_dir)
    if final.exists() and not final.is_dir():
        raise OutputError(f"Output {final} is a file, not a folder.", "Give a new folder for the results (--out).")
    if not final.is_dir():
        return None
    previous = read_result_marker(final)
    present = _relative_files(final)
    if not present or overwrite or (previous is not None and previous.command == command):
        return previous
    if previous is not None:
        raise OutputError(
            f"Output folder {final} holds the results of `radassist {previous.command}`, not `radassist {command}`.",
            "Choose another folder, or add --overwrite to write beside them (only RadAssist's own files are replaced).",
        )
    raise OutputError(
        f"Output folder {final} already holds {len(present)} file(s) that RadAssist did not write "
        f"(for example {present[0]}).",
        "Choose a new or empty folder, or add --overwrite to write the results beside them "
        "(files RadAssist did not write are never replaced or removed).",
    )


@contextlib.contextmanager
def result_directory(
    final_dir: str | os.PathLike[str], command: str, overwrite: bool = False, accumulate: bool = False
) -> Iterator[Path]:
    """Yield an empty staging folder for one result; on success its files land in ``final_dir``.

    - ``final_dir`` new: the staging folder (beside it) is renamed to it.
    - ``final_dir`` an earlier result of ``command`` (its :data:`RESULT_MARKER`): that result's files are
      replaced by the new ones; files RadAssist did not write (a reader's notes) stay.
    - anything else is refused (:func:`check_output_folder`) unless ``overwrite``; then the results are
      added beside the folder's files, and a new file whose name is taken by a file RadAssist did not write
      is refused, so nothing of the user's is ever replaced or removed.

    Atomic per result: the files are moved in only after the block succeeded; if moving fails half way the
    earlier result is put back. The marker listing the new files is written with them.

    :param command: the command writing the folder (``brain``, ``crm train``), recorded in the marker.
    :param accumulate: an earlier result of ``command`` is kept and added to (a training folder filled case
        by case): only its files with the same names as new ones are replaced.
    :raises OutputError: the folder is refused, read-only or full (one line; nothing half-written stays).
    """
    final = Path(final_dir)
    previous = check_output_folder(final, command, overwrite)
    try:
        if final.is_dir():  # staging inside: same file system, and the folder's parent may be read-only
            staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=final))
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    except OSError as error:
        raise output_error(error, final) from error
    try:
        try:
            yield staging
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
                raise output_error(error, final) from error
            raise  # EACCES in the block may be an unreadable input: the caller's error, not the output's
        files = _relative_files(staging)
        same_command = previous is not None and previous.command == command
        kept = [name for name in previous.files if (final / name).exists()] if same_command and accumulate else []
        try:
            (staging / RESULT_MARKER).write_text(
                json.dumps({"command": command, "files": sorted({*files, *kept})}, indent=1) + "\n", encoding="utf-8"
            )
            if final.is_dir():
                _move_into(staging, final, files, previous, remove_earlier=same_command and not accumulate)
            else:
                os.chmod(staging, _default_mode(directory=True))
                os.replace(staging, final)
        except OSError as error:
            raise output_error(error, final) from error
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _move_into(
    staging: Path, final: Path, files: list[str], previous: ResultMarker | None, remove_earlier: bool
) -> None:
    """Move ``files`` (and the marker, last) from ``staging`` into the existing ``final``; see
    :func:`result_directory`. ``remove_earlier``: the files of ``previous`` go, not only those replaced.
    Rolls back on failure."""
    owned = set(previous.files) if previous is not None else set()
    owned.add(RESULT_MARKER)
    taken = []
    for name in files:
        parts = Path(name).parts
        folders = [Path(final, *parts[:count]) for count in range(1, len(parts))]
        blocked_folder = any(p.exists() and not p.is_dir() for p in folders)  # a file where a folder must go
        foreign_file = ((final / name).exists() or (final / name).is_symlink()) and name not in owned
        if blocked_folder or foreign_file:
            taken.append(name)
    if taken:
        raise OutputError(
            f"Output folder {final} already has {taken[0]}, which RadAssist did not write: it is not replaced.",
            "Move that file away, or choose another folder (--out).",
        )
    to_remove = sorted((owned if remove_earlier else set(files)) | {RESULT_MARKER})
    backup = Path(tempfile.mkdtemp(prefix=_PREVIOUS_PREFIX, dir=final))
    moved_aside: list[str] = []
    moved_in: list[str] = []
    try:
        for name in to_remove:
            if (final / name).is_file() or (final / name).is_symlink():
                (backup / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(final / name, backup / name)
                moved_aside.append(name)
        for name in [*files, RESULT_MARKER]:
            (final / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, final / name)
            moved_in.append(name)
    except BaseException:
        for name in reversed(moved_in):
            with contextlib.suppress(OSError):
                os.replace(final / name, staging / name)
        for name in reversed(moved_aside):
            with contextlib.suppress(OSError):
                os.replace(backup / name, final / name)
        raise
    finally:
        shutil.rmtree(backup, ignore_errors=True)
        _remove_emptied_folders(final, moved_aside)


def _remove_emptied_folders(final: Path, removed: list[str]) -> None:
    """Remove sub-folders of ``final`` that the ``removed`` files leave empty (never ``final`` itself)."""
    for name in removed:
        for parent in Path(name).parents:
            if parent == Path("."):
                break
            with contextlib.suppress(OSError):
                (final / parent).rmdir()  # fails, harmlessly, unless empty


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
    writer = csv.DictWriter(
        buffer, list(fields) if fields else list(records[0]) if records else [], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


def write_csv_atomic(path: str | os.PathLike[str], records: list[dict], fields=None) -> Path:
    """:func:`csv_text` of ``records`` written to ``path`` atomically."""
    return write_text_atomic(path, csv_text(records, fields))
