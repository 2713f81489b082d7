"""The BreastUSAssist job behind `radassist breast-us` (and the demo): a cine in, a folder of results out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistcore.breastus.cine import frames_to_uint8, read_cine
from assistcore.pipelines.breast_us import run
from assistcore.result_folders import CaseOutputs, case_id_from

from .case_job import case_job


def detect_cine_to_folder(
    cine_path: str | Path,
    out: Path,
    options: dict[str, Any],
    case_id: str | None = None,
    require_multiframe: bool = False,
    progress: Callable | None = None,
    cancel_token=None,
    overwrite: bool = False,
) -> dict:
    """Read the cine, detect and fuse, write detections.json, report.json, overlays/ and scene.mrb atomically."""
    with case_job(out, "breast-us", overwrite) as job:
        cine = read_cine(cine_path, require_multiframe=require_multiframe)
        job.read_done()
        result = run(cine, options, progress=progress, cancel_token=cancel_token)
        case_id = case_id_from(case_id or cine.metadata.get("patient_id", ""), Path(cine_path))
        job.writing()
        # the helper builds the scene while this process writes the detections and overlay pictures
        # the helper gets the frames as 8-bit (a quarter of the bytes to send and to save) and the document
        job.submit_scene(
            "radassist.breast_us_app:build_scene", frames_to_uint8(result.cine.frames), result.document(), case_id
        )
        outputs = CaseOutputs("breast_us", result, job.staging, case_id)
        outputs.write_files()
        report = outputs.write_report(job.finish(result.seconds_per_stage))
    return report


def build_scene(scene, logics, frames_thw, document: dict, case_id: str) -> None:
    """The cine as a sequence with a browser, one ROI per fused detection, the detections table."""
    from AssistCoreLib.breastUs import addBreastUsResultToScene

    addBreastUsResultToScene(scene, frames_thw, document, case_id, logics.sequences)
