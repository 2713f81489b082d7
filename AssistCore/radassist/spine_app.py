"""The SpineAssist job behind `radassist spine` (and the demo): series in, a folder of results out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistcore.image_io import read_image
from assistcore.pipelines.spine import run
from assistcore.result_folders import CaseOutputs

from .case_job import case_job
from .naming import case_id_for


def run_case_to_folder(
    sag_t2: str | Path,
    out: Path,
    options: dict[str, Any],
    sag_t1: str | Path | None = None,
    ax_t2: list[str | Path] | None = None,
    case_id: str | None = None,
    progress: Callable | None = None,
    cancel_token=None,
    overwrite: bool = False,
) -> dict:
    """Read the series, find levels and findings, write levels/findings/segmentations/overview/report/scene."""
    with case_job(out, "spine", overwrite) as job:
        images: dict[str, Any] = {"sag_t2": read_image(sag_t2, as_scan=True)}
        if sag_t1:
            images["sag_t1"] = read_image(sag_t1, as_scan=True)
        images["ax_t2"] = [read_image(path, as_scan=True) for path in ax_t2 or []]
        options = dict(options)
        if options.get("labels") and not hasattr(options["labels"], "array_kji"):
            options["labels"] = read_image(options["labels"])
        job.read_done()
        result = run(images, options, progress=progress, cancel_token=cancel_token)
        case_id = case_id_for(images["sag_t2"], Path(sag_t2), case_id)
        job.writing()
        job.submit_scene("radassist.spine_app:build_scene", result, case_id)
        report = CaseOutputs("spine", result, job.staging, case_id).write_report(job.finish(result.seconds_per_stage))
    return report


def build_scene(scene, logics, result, case_id: str) -> None:
    """The spine case's scene: volumes, coded segmentation, vertebra points, disc planes, findings table."""
    from AssistCoreLib.spine import addSpineResultToScene

    addSpineResultToScene(scene, logics, result, case_id)
