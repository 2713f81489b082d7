"""The batch summary (one row per case) and what each assistant's result gives the worklist.

Uncertainty, in 0..1 and higher for cases a person should look at first, so the worklist can mix assistants:

- brain: the report's ``uncertainty`` (test-time-augmentation disagreement or mean entropy in the tumour box);
- crm: how close the highest box probability is to the operating threshold,
  ``1 - |p - t| / max(t, 1 - t)`` (1 at the threshold, 0 at a certain yes or no);
- breast-us: the same closeness for the fused lesion score nearest the threshold (the highest score when no
  lesion was reported);
- spine: ``1 - confidence`` of the level naming (the names of the levels are what an annotator checks first).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import write_csv_atomic

SUMMARY_FIELDS = ("case_id", "status", "seconds", "worker", "uncertainty", "error")
#: the file of a result folder the worklist points at (brain: the label map the Station opens)
LABELS_FILES = {"crm": "boxes.json", "spine": "segmentation.nii.gz", "breast-us": "detections.json"}


@dataclass
class CaseRow:
    """One line of the summary. ``status``: ok, skipped (unchanged since its last success), failed or
    unmatched (no inputs found); ``seconds``: task wall time; ``error``: one line."""

    case_id: str
    status: str
    seconds: float = 0.0
    worker: str = ""
    uncertainty: float | None = None
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "worker": self.worker,
            "uncertainty": "" if self.uncertainty is None else round(self.uncertainty, 4),
            "error": self.error.splitlines()[0] if self.error else "",
        }


def _closeness(probability: float, threshold: float) -> float:
    """1 at the threshold, falling linearly to 0 at 0 or 1 (whichever is further)."""
    span = max(threshold, 1.0 - threshold) or 1.0
    return max(0.0, 1.0 - abs(probability - threshold) / span)


def uncertainty_from_report(assistant: str, report: dict) -> float | None:
    """The case's uncertainty in 0..1 from its ``report.json`` (see the module docstring); None if absent."""
    if assistant == "brain":
        value = report.get("uncertainty")
        return None if value is None else float(value)
    if assistant == "crm":
        verdict = report.get("verdict", {})
        return _closeness(float(verdict.get("max_probability", 0.0)), float(verdict.get("threshold", 0.5)))
    if assistant == "breast-us":
        summary = report.get("summary", {})
        threshold = float(summary.get("threshold", 0.5))
        scores = [float(item["fused_score"]) for item in report.get("fused", []) if "fused_score" in item]
        scores = scores or [float(summary.get("max_fused_score", 0.0))]
        return max(_closeness(score, threshold) for score in scores)
    if assistant == "spine":
        confidence = report.get("labelling", {}).get("confidence")
        return None if confidence is None else round(1.0 - float(confidence), 4)
    return None


def labels_file(assistant: str, result_folder: str | os.PathLike[str], report: dict) -> Path:
    """The file of a case's result that the worklist records (the brain label map in BraTS 2021 values)."""
    folder = Path(result_folder)
    if assistant == "brain":
        names = [name for name in report.get("files", []) if name.endswith("_seg-brats2021.nii.gz")]
        return folder / (names[0] if names else f"{report.get('case_id', folder.name)}_flair_seg-brats2021.nii.gz")
    return folder / LABELS_FILES[assistant]


def format_rows(rows: list[CaseRow]) -> str:
    """The summary as a fixed-width table for the terminal (errors cut to 70 characters)."""
    table = [row.as_dict() for row in rows]
    if not table:
        return "no cases"
    for row in table:
        row["error"] = row["error"][:70]
    widths = {name: max(len(name), *(len(str(row[name])) for row in table)) for name in SUMMARY_FIELDS}
    lines = ["  ".join(name.ljust(widths[name]) for name in SUMMARY_FIELDS)]
    lines += ["  ".join(str(row[name]).ljust(widths[name]) for name in SUMMARY_FIELDS) for row in table]
    return "\n".join(line.rstrip() for line in lines)


def write_summary(path: str | os.PathLike[str], rows: list[CaseRow]) -> Path:
    """Write the summary CSV atomically (columns :data:`SUMMARY_FIELDS`)."""
    return write_csv_atomic(path, [row.as_dict() for row in rows], SUMMARY_FIELDS)


def counts(rows: list[CaseRow]) -> dict[str, int]:
    """Cases per status."""
    found: dict[str, int] = {}
    for row in rows:
        found[row.status] = found.get(row.status, 0) + 1
    return found
