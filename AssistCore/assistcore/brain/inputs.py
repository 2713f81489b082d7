"""The four input sequences of a brain tumour case: matching series to roles, loading onto one grid.

Roles: ``t1``, ``t1c`` (T1 post-contrast), ``t2``, ``flair``. Series are matched to roles by regular
expressions over their series description or file name; users override the patterns. Sequences on
different grids are rigidly registered onto the reference sequence and resampled onto its grid.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..image import Image

ROLES = ("t1", "t1c", "t2", "flair")
ROLE_NAMES = {"t1": "T1", "t1c": "T1 post-contrast", "t2": "T2", "flair": "FLAIR"}

#: Role -> pattern (case-insensitive) over a series description or file name. Tried in this order, and
#: a name claimed by an earlier role is not offered to later ones (a "T1 post gad" is T1c, not T1;
#: "T2 FLAIR" is FLAIR, not T2).
DEFAULT_ROLE_PATTERNS: dict[str, str] = {
    "flair": r"flair|(^|[^a-z])fla([^a-z]|$)|tirm|dark[ _-]?fluid",
    "t1c": r"t1[^/]*(post|gad|gd|\+c|contrast|ce([^a-z]|$))|(^|[^a-z])t1c([^a-z]|$)|t1ce|mprage",
    "t2": r"t2(?!\*)",
    "t1": r"t1",
}


def match_roles(
    candidates: Mapping[str, str], patterns: Mapping[str, str] | None = None, roles: tuple[str, ...] = ROLES
) -> dict[str, str]:
    """Match candidate names to roles.

    :param candidates: key (a path or series UID) -> text to match (file name or series description).
    :param patterns: role -> regular expression, overriding :data:`DEFAULT_ROLE_PATTERNS` per role.
    :returns: role -> key for every role that matched exactly one candidate.
    :raises InputError: when a role matches several candidates (names them; say which to use).
    """
    active = {**DEFAULT_ROLE_PATTERNS, **(patterns or {})}
    claimed: set[str] = set()
    matched: dict[str, str] = {}
    for role in sorted(roles, key=list(DEFAULT_ROLE_PATTERNS).index):
        regex = re.compile(active[role], re.IGNORECASE)
        hits = [key for key, text in candidates.items() if key not in claimed and regex.search(text)]
        if len(hits) > 1:
            raise InputError(
                f"Several inputs look like {ROLE_NAMES[role]}: " + ", ".join(f"{candidates[k]!r}" for k in hits) + ".",
                f"Name the {ROLE_NAMES[role]} input explicitly (--{role}) or adjust the {role} pattern.",
            )
        if hits:
            matched[role] = hits[0]
            claimed.add(hits[0])
    return matched


def match_files_in_folder(folder: str | os.PathLike[str], patterns: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Role -> file for the NIfTI/NRRD/MHA files of a case folder, matched by file name."""
    folder = Path(folder)
    suffixes = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
    files = {str(path): path.name for path in sorted(folder.iterdir()) if path.name.lower().endswith(suffixes)}
    files = {key: name for key, name in files.items() if not re.search(r"seg|label|mask", name, re.IGNORECASE)}
    return {role: Path(key) for role, key in match_roles(files, patterns).items()}


@dataclass
class BrainCase:
    """The sequences of one case on one grid (the reference sequence's), plus what was done to get there."""

    case_id: str
    images: dict[str, Image]
    reference_role: str
    sources: dict[str, str]
    alignment: dict[str, dict] = field(default_factory=dict)

    @property
    def reference(self) -> Image:
        return self.images[self.reference_role]


def load_case(
    paths: Mapping[str, str | os.PathLike[str]],
    required_roles: tuple[str, ...] = ROLES,
    reference_role: str | None = None,
    case_id: str | None = None,
    register: bool = True,
) -> BrainCase:
    """Read each role's file or DICOM folder and bring all sequences onto the reference grid.

    :param paths: role -> file or DICOM series folder.
    :param required_roles: roles the model needs; a missing one is named in the error.
    :param reference_role: the grid everything is resampled onto (default: FLAIR if given, else T1c, ...).
    """
    from ..image_io import read_image
    from ..resample import align_to_reference

    missing = [role for role in required_roles if not paths.get(role)]
    if missing:
        raise InputError(
            "Missing sequence(s): " + ", ".join(ROLE_NAMES[r] for r in missing) + ".",
            "Give them (--" + ", --".join(missing) + "), or choose a model that needs only the sequences you have "
            "(for example the FLAIR + T1c variant).",
        )
    given = {role: Path(path) for role, path in paths.items() if path}
    resolved: dict[Path, str] = {}
    for role, path in given.items():
        key = path.resolve()
        if key in resolved:
            raise InputError(
                f"The same input {path} is given for {ROLE_NAMES[resolved[key]]} and {ROLE_NAMES[role]}.",
                "Each sequence must come from its own series or file.",
            )
        resolved[key] = role
    images = {role: read_image(path, as_scan=True) for role, path in given.items()}
    reference_role = reference_role or next(r for r in ("flair", "t1c", "t2", "t1") if r in images)
    if reference_role not in images:
        raise InputError(f"Reference sequence {reference_role} was not given.")
    reference = images[reference_role]
    aligned, alignment = {}, {}
    for role, image in images.items():
        if role == reference_role:
            aligned[role] = image
            alignment[role] = {"action": "reference"}
            continue
        aligned[role], report = align_to_reference(image, reference, register=register)
        alignment[role] = report.to_dict() if hasattr(report, "to_dict") else dict(vars(report))
    inferred_id = case_id or reference.metadata.patient_id or _case_id_from_path(given[reference_role])
    return BrainCase(inferred_id, aligned, reference_role, {r: str(p) for r, p in given.items()}, alignment)


def _case_id_from_path(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".mha"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return re.split(r"[_-](t1c?|t2|fla(ir)?)([_-]|$)", name, maxsplit=1, flags=re.IGNORECASE)[0] or name
