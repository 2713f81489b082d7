"""The CRMAssist job behind `radassist crm` (and the demo): an axial T2 series in, a folder of results out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistcore.image_io import read_image
from assistcore.pipelines.crm import run
from assistcore.result_folders import CaseOutputs

from .case_job import case_job
from .naming import case_id_for


def detect_case_to_folder(
    t2_path: str | Path,
    out: Path,
    options: dict[str, Any],
    case_id: str | None = None,
    series_uid: str | None = None,
    progress: Callable | None = None,
    cancel_token=None,
    overwrite: bool = False,
) -> dict:
    """Read the series, detect, write boxes.json, slices.csv, report.json, overlays/ and scene.mrb atomically."""
    with case_job(out, "crm", overwrite) as job:
        image = read_image(t2_path, series_uid=series_uid, as_scan=True)
        job.read_done()
        result = run({"t2": image}, options, progress=progress, cancel_token=cancel_token)
        case_id = case_id_for(image, Path(t2_path), case_id)
        job.writing()
        # the helper builds the scene while this process writes boxes, table and overlay pictures
        job.submit_scene("radassist.crm_app:build_scene", result, case_id)
        outputs = CaseOutputs("crm", result, job.staging, case_id)
        outputs.write_files()
        report = outputs.write_report(job.finish(result.seconds_per_stage))
    return report


def build_scene(scene, logics, result, case_id: str) -> None:
    """The CRM case's scene: T2 volume, ROIs coloured by probability, slice table (SceneWriter builder)."""
    from AssistCoreLib.crm import addCrmResultToScene

    addCrmResultToScene(scene, result, case_id)
