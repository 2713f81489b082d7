"""Case IDs for output file names."""

from __future__ import annotations

from pathlib import Path

from assistcore.result_folders import case_id_from


def case_id_for(image, path: Path, given: str | None = None) -> str:
    """``given`` (a --case-id), else the series' PatientID, else the file or folder name, reduced to letters,
    digits, ``-``, ``_`` and ``.`` (it names output files)."""
    return case_id_from(given or getattr(image.metadata, "patient_id", ""), path)
