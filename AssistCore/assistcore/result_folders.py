"""One case's result folder, as ``radassist brain|spine|crm|breast-us --out`` writes it, from a pipeline result.

The command line jobs (``radassist/*_app.py``, which add the scene bundle) and the Slicer modules (after a run made
in the module panel, :func:`write_result_folder`) both write through :class:`CaseOutputs`, so a run made either way
has the same files and ``report.json``, and can be reported, signed and exported the same way
(:mod:`assistcore.reports`, :mod:`assistcore.dicom_export`).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import result_directory
from .errors import InputError
from .image import Image

#: pipeline / model-card assistant name -> the command that writes its result folder (the folder's marker)
RESULT_COMMANDS = {"brain_tumor": "brain", "spine": "spine", "crm": "crm", "breast_us": "breast-us"}


def case_id_from(patient_id: str, path: str | Path) -> str:
    """``patient_id`` (or any name, such as a Slicer node's), else the stem of file or folder ``path``, reduced to
    letters, digits, ``-``, ``_`` and ``.``, because it names output files; "case" when both are empty."""
    for value in (patient_id, Path(path).stem.replace(".nii", "")):
        if value:
            return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(value))
    return "case"


@dataclass
class CaseOutputs:
    """The files of one pipeline result in ``folder``: :meth:`write_files` (everything but the report), then
    :meth:`write_report` (``report.json``, which lists the files and may wait for a scene bundle written meanwhile).

    :param assistant: a key of :data:`RESULT_COMMANDS`.
    :param images: brain only: the sequences on the reference grid, role -> Image (the lesion pictures).
    :param sources: brain only: role -> the path each sequence was read from ("" when not from a file).
    :param alignment: brain only: what registration did per role (report.json's ``alignment``).
    :param convention: brain only: the label convention of the exported NIfTI files.
    """

    assistant: str
    result: Any
    folder: Path
    case_id: str
    images: dict[str, Image] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    alignment: dict[str, dict] = field(default_factory=dict)
    convention: str = "brats2021"
    files: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.assistant not in RESULT_COMMANDS:
            raise ValueError(f"unknown assistant {self.assistant!r}; expected one of {sorted(RESULT_COMMANDS)}")
        self.folder = Path(self.folder)

    def write_files(self) -> None:
        """The assistant's result files but ``report.json``: boxes, detections, labels, pictures (spine writes
        all of its files with the report, since its report is computed with them)."""
        if self.assistant == "crm":
            from .pipelines.crm import write_result_files
        elif self.assistant == "breast_us":
            from .pipelines.breast_us_outputs import write_result_files
        elif self.assistant == "brain_tumor":
            from .pipelines.brain_tumor import export_labels, write_overlays

            self.files = dict(export_labels(self.result, self.folder, self.case_id, self.convention))
            self.files["overlays"] = write_overlays(self.result, self.images, self.folder, self.case_id)
            return
        else:
            return
        self.files = write_result_files(self.result, self.folder, self.case_id)

    def write_report(self, extra: dict | None = None, extra_timings: dict | None = None) -> dict:
        """``report.json`` with ``extra`` entries (its ``files`` joined to the folder's list) and, for brain,
        ``extra_timings`` joined to the pipeline's seconds per stage; returns the report as written."""
        extra = dict(extra or {})
        if self.assistant == "spine":
            from .pipelines.spine import write_outputs

            return write_outputs(self.result, self.folder, self.case_id, extra=extra)
        if self.assistant == "brain_tumor":
            from .pipelines.brain_tumor import write_report

            written = [p.name for key, p in self.files.items() if key != "overlays"]
            overlays = [f"overlays/{p.name}" for p in self.files.get("overlays", [])]
            extra["files"] = sorted(written + overlays + ["report.json"] + list(extra.get("files", [])))
            return write_report(
                self.result, self.folder, self.case_id, self.alignment, self.sources, extra_timings, extra=extra
            )
        if self.assistant == "crm":
            from .pipelines.crm import write_report
        else:
            from .pipelines.breast_us_outputs import write_report
        return write_report(self.result, self.folder, self.case_id, self.files, extra=extra)


def new_run_folder(
    results_root: str | Path, case_id: str, assistant: str, when: datetime.datetime | None = None
) -> Path:
    """A folder for one run made in a Slicer module: ``<results_root>/<case_id>_<command>_<YYYYmmdd-HHMMSS>``,
    with ``-2``, ``-3``... added when that name is taken (two runs in the same second never share a folder)."""
    if not str(results_root):
        raise InputError("No results folder is set.", "Choose a folder for the runs' results in the Report section.")
    stamp = (when or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(results_root) / f"{case_id_from(case_id, '')}_{RESULT_COMMANDS[assistant]}_{stamp}"
    folder, number = base, 1
    while folder.exists():
        number += 1
        folder = base.with_name(f"{base.name}-{number}")
    return folder


#: report.json's ``alignment`` of each sequence of a brain run made in a Slicer module: the module runs on the
#: volumes as they are shown (linear transforms applied), it does not register them
AS_GIVEN_ALIGNMENT = {"action": "as_given", "message": "Used as shown in Slicer; not registered by RadAssist."}

#: report.json's ``scene_note`` for a run made in a Slicer module: its scene is the one open in Slicer
MODULE_SCENE_NOTE = "Run in a Slicer module: the result's nodes are in the Slicer scene (save it to keep them)."


def write_result_folder(
    assistant: str,
    result: Any,
    out: str | Path,
    case_id: str,
    images: dict[str, Image] | None = None,
) -> dict:
    """Write the result folder of a run made outside the command line (a Slicer module) into ``out``, atomically
    (:func:`assistcore.atomic.result_directory`; ``out`` must be new or an earlier result of the same command):
    the command line's files and ``report.json`` without ``scene.mrb``. Returns the report as written.

    :param images: the pipeline's input images by role; brain: the sequences (lesion pictures and each
        sequence's source path in the report).
    """
    images = dict(images or {})
    sources = {role: image.metadata.source_path for role, image in images.items() if isinstance(image, Image)}
    alignment = {role: dict(AS_GIVEN_ALIGNMENT) for role in sources} if assistant == "brain_tumor" else {}
    with result_directory(Path(out), RESULT_COMMANDS[assistant]) as staging:
        outputs = CaseOutputs(assistant, result, Path(staging), case_id, images, sources, alignment)
        outputs.write_files()
        return outputs.write_report({"files": [], "scene_note": MODULE_SCENE_NOTE})
