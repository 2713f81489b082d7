"""The cases of a batch: one sub-folder of the cases folder per case (or, for single-input assistants, one
file), matched to the assistant's inputs by file name.

A folder with a ``radassist-case.json`` (the Station's case file: ``{"assistant": "crm", "inputs": {"t2":
"t2_axial"}}``, paths relative to the folder) is read from it. Otherwise, per assistant:

- brain: NIfTI/NRRD/MHA files named by sequence (``*_t1``, ``*_t1c``, ``*_t2``, ``*_flair``...), as
  ``radassist brain prelabel`` matches them;
- crm: the axial T2: a volume file named ``*t2*`` (else the only volume file), else the folder itself when it
  holds DICOM files (a series);
- spine: ``*sag_t2*`` (else the only volume file), optional ``*sag_t1*`` and every ``*ax_t2*``;
- breast-us: the only cine in the folder (a DICOM, video or picture file), else the folder of frames.

Files whose names say ``seg``, ``label``, ``mask`` or ``truth`` are never inputs. For crm, spine and
breast-us a loose image file directly in the cases folder is a case of its own (its name without suffixes).
What cannot be matched is returned as a problem (case, reason), never raised: one bad case does not stop a
batch.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import ASSISTANTS

CASE_FILE = "radassist-case.json"
VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
CINE_SUFFIXES = (".dcm", ".dicom", ".mp4", ".avi", ".mov", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_NOT_INPUT = re.compile(r"seg|label|mask|truth", re.IGNORECASE)
#: the input roles of each assistant; a list-valued role (``ax_t2``) holds several series
ROLES = {
    "brain": ("t1", "t1c", "t2", "flair"),
    "crm": ("t2",),
    "spine": ("sag_t2", "sag_t1", "ax_t2"),
    "breast-us": ("cine",),
}
REQUIRED = {"brain": ("t1c", "flair"), "crm": ("t2",), "spine": ("sag_t2",), "breast-us": ("cine",)}


@dataclass(frozen=True)
class BatchCase:
    """One case of a batch: its id (the folder or file name), where it lives and its inputs.

    ``inputs``: role -> path, or a list of paths for list-valued roles (spine ``ax_t2``).
    """

    case_id: str
    folder: Path
    inputs: dict[str, Any]

    def input_files(self) -> list[Path]:
        """Every input path (files, and DICOM folders as given), in role order."""
        found: list[Path] = []
        for value in self.inputs.values():
            found.extend(Path(item) for item in (value if isinstance(value, list) else [value]))
        return found


@dataclass(frozen=True)
class CaseProblem:
    """A case that cannot run: its id and the one-line reason (what is wrong, what to do)."""

    case_id: str
    reason: str


def check_assistant(assistant: str) -> str:
    """:raises InputError: ``assistant`` is not one of :data:`~assistcore.batch.ASSISTANTS`."""
    if assistant not in ASSISTANTS:
        raise InputError(f"Unknown assistant {assistant!r}.", f"Use one of: {', '.join(ASSISTANTS)}.")
    return assistant


def _is_candidate(path: Path, suffixes: tuple[str, ...]) -> bool:
    name = path.name
    return (
        path.is_file() and not name.startswith(".") and name.lower().endswith(suffixes) and not _NOT_INPUT.search(name)
    )


def _volumes(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if _is_candidate(path, VOLUME_SUFFIXES))


def _from_case_file(folder: Path, assistant: str) -> dict[str, Any]:
    marker = folder / CASE_FILE
    try:
        spec = json.loads(marker.read_text(encoding="utf-8"))
        named, given = spec.get("assistant", "brain"), spec.get("inputs", {})
    except (OSError, ValueError, AttributeError) as error:
        raise InputError(
            f"{marker} is not a JSON object.", 'Write e.g. {"assistant": "crm", "inputs": {"t2": "t2"}}.'
        ) from error
    if named != assistant:
        raise InputError(f"{marker} is a {named} case, not {assistant}.", f"Run it with radassist batch {named}.")
    if assistant == "brain" and not given:
        return _match_brain(folder)
    inputs: dict[str, Any] = {}
    for role, value in given.items():
        if role not in ROLES[assistant]:
            raise InputError(
                f"{marker}: {assistant} has no input {role!r}.", f"Its inputs: {', '.join(ROLES[assistant])}."
            )
        paths = [folder / item for item in value] if isinstance(value, list) else [folder / value]
        for path in paths:
            if not path.exists():
                raise InputError(f"{marker}: {role} input {path} does not exist.")
        inputs[role] = paths if isinstance(value, list) else paths[0]
    return inputs


def _match_brain(folder: Path) -> dict[str, Any]:
    from ..brain.inputs import match_files_in_folder

    return dict(match_files_in_folder(folder))


def _holds_dicom(folder: Path, looked_at: int = 50) -> bool:
    """True when one of the first ``looked_at`` files under ``folder`` is DICOM (suffix or ``DICM`` magic)."""
    from ..image_io import has_dicom_magic

    for index, path in enumerate(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if path.suffix.lower() in (".dcm", ".dicom", ".ima") or has_dicom_magic(path):
            return True
        if index >= looked_at:
            break
    return False


def _named(volumes: list[Path], pattern: str) -> list[Path]:
    return [path for path in volumes if re.search(pattern, path.name, re.IGNORECASE)]


def _match_folder(folder: Path, assistant: str) -> dict[str, Any]:
    """Role -> input of a case folder without a case file (see the module docstring)."""
    if assistant == "brain":
        return _match_brain(folder)
    if assistant == "breast-us":
        cines = sorted(path for path in folder.iterdir() if _is_candidate(path, CINE_SUFFIXES))
        if len(cines) > 1 and all(path.suffix.lower() in (".dcm", ".dicom") for path in cines):
            raise InputError(
                f"{folder} holds {len(cines)} DICOM files ({cines[0].name}, ...): one cine per case folder.",
                "Put each cine in a folder of its own, or name the input in radassist-case.json.",
            )
        return {"cine": cines[0] if len(cines) == 1 else folder} if cines else {}
    volumes = _volumes(folder)
    if assistant == "crm":
        named = _named(volumes, r"t2")
        chosen = named if len(named) == 1 else volumes if len(volumes) == 1 else []
        if chosen:
            return {"t2": chosen[0]}
        return {} if volumes or not _holds_dicom(folder) else {"t2": folder}  # the folder as a DICOM series
    sag_t2 = _named(volumes, r"sag_?t2") or (volumes if len(volumes) == 1 else [])
    inputs: dict[str, Any] = {"sag_t2": sag_t2[0]} if len(sag_t2) == 1 else {}
    if sag_t1 := _named(volumes, r"sag_?t1"):
        inputs["sag_t1"] = sag_t1[0]
    if ax_t2 := _named(volumes, r"ax_?t2"):
        inputs["ax_t2"] = ax_t2
    return inputs


def case_inputs(folder: str | os.PathLike[str], assistant: str) -> dict[str, Any]:
    """Role -> input path(s) of one case folder for ``assistant``.

    :raises InputError: a required input is missing or ambiguous, or the case file is unreadable or names
        another assistant (the message names the folder and what to do).
    """
    folder = Path(folder)
    check_assistant(assistant)
    inputs = _from_case_file(folder, assistant) if (folder / CASE_FILE).is_file() else _match_folder(folder, assistant)
    missing = [role for role in REQUIRED[assistant] if not inputs.get(role)]
    if missing:
        raise InputError(
            f"Case {folder.name}: no {' or '.join(missing)} input found in {folder} for {assistant}.",
            f"Name the files by role ({', '.join(ROLES[assistant])}) or add a {CASE_FILE}.",
        )
    return inputs


def _loose_case_id(path: Path) -> str:
    name = path.name
    for suffix in sorted(VOLUME_SUFFIXES + CINE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def discover_cases(cases_root: str | os.PathLike[str], assistant: str) -> tuple[list[BatchCase], list[CaseProblem]]:
    """The cases under ``cases_root`` for ``assistant`` (sorted by id) and those that could not be matched.

    :raises InputError: ``cases_root`` is not a folder, or holds no case at all.
    """
    root = Path(cases_root)
    check_assistant(assistant)
    if not root.is_dir():
        raise InputError(f"Cases folder {root} does not exist.", "Give --cases a folder with one sub-folder per case.")
    cases: list[BatchCase] = []
    problems: list[CaseProblem] = []
    loose_suffixes = CINE_SUFFIXES if assistant == "breast-us" else VOLUME_SUFFIXES
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            try:
                cases.append(BatchCase(entry.name, entry.resolve(), case_inputs(entry, assistant)))
            except InputError as error:
                problems.append(CaseProblem(entry.name, str(error)))
            except OSError as error:
                problems.append(CaseProblem(entry.name, f"Cannot read case folder {entry}: {error.strerror or error}."))
        elif assistant != "brain" and _is_candidate(entry, loose_suffixes):
            role = REQUIRED[assistant][0]
            cases.append(BatchCase(_loose_case_id(entry), root.resolve(), {role: entry.resolve()}))
    seen: set[str] = set()
    for case in cases:
        if case.case_id in seen:
            problems.append(CaseProblem(case.case_id, f"Two cases in {root} are named {case.case_id}; rename one."))
        seen.add(case.case_id)
    cases = [case for case in cases if case.case_id not in {p.case_id for p in problems}]
    if not cases and not problems:
        raise InputError(
            f"Cases folder {root} holds no case for {assistant}.", "Put one sub-folder per case in it (see README)."
        )
    return cases, problems
