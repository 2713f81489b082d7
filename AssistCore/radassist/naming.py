"""Case IDs for output file names."""

from __future__ import annotations

from pathlib import Path


def case_id_for(image, path: Path, given: str | None = None) -> str:
    """``given`` (a --case-id), else the series' PatientID, else the file or folder name, reduced to letters,
    digits, ``-``, ``_`` and ``.`` (it names output files)."""
    return case_id_from(given or getattr(image.metadata, "patient_id", ""), path)


def case_id_from(patient_id: str, path: Path) -> str:
    """``patient_id``, else the file or folder name, reduced to letters, digits, ``-``, ``_`` and ``.``."""
    for value in (patient_id, Path(path).stem.replace(".nii", "")):
        if value:
            return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(value))
    return "case"
