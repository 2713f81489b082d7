"""The BrainTumorLabel job behind `radassist brain` (and the demo): files in, a folder of results out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistcore.brain.inputs import load_case
from assistcore.brain.model import REQUIRED
from assistcore.pipelines.brain_tumor import run
from assistcore.result_folders import CaseOutputs

from .case_job import case_job


def label_case_to_folder(
    paths: dict[str, Any],
    out: Path,
    options: dict[str, Any],
    case_id: str | None = None,
    convention: str = "brats2021",
    register: bool = True,
    progress: Callable | None = None,
    cancel_token=None,
    overwrite: bool = False,
) -> dict:
    """Read, register onto the reference grid, label, export (NIfTI + sidecar), report, overlays, scene.mrb.

    The scene bundle is built by a :class:`~radassist.scene_writer.SceneWriter` started first, so that
    slicer-core's import overlaps with the work in a fresh process.
    """
    with case_job(out, "brain", overwrite) as job:
        case = load_case(paths, required_roles=REQUIRED, case_id=case_id, register=register)
        job.read_done()
        result = run(case.images, options, progress=progress, cancel_token=cancel_token)
        job.writing()
        job.submit_scene("radassist.brain_app:build_scene", result, case.images, case.case_id)
        outputs = CaseOutputs(
            "brain_tumor",
            result,
            job.staging,
            case.case_id,
            images=case.images,
            sources=case.sources,
            alignment=case.alignment,
            convention=convention,
        )
        outputs.write_files()
        timings: dict[str, float] = {}
        extra = job.finish(timings, read_stage="read_and_register")
        report = outputs.write_report(extra, extra_timings=timings)
    return report


def build_scene(scene, logics, result, images: dict, case_id: str) -> None:
    """The brain case's scene: the sequences as volumes and the coded tumour segmentation (SceneWriter builder)."""
    from AssistCoreLib.brainTumor import addBrainResultToScene

    addBrainResultToScene(scene, logics, result, images, case_id)
