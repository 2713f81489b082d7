"""The CRMAssist job behind `radassist crm` (and the demo): an axial T2 series in, a folder of results out."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistcore.atomic import result_directory
from assistcore.image_io import read_image
from assistcore.pipelines.crm import run, write_report, write_result_files

from .naming import case_id_for
from .scene_writer import SceneWriter


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
    started = time.perf_counter()
    with SceneWriter() as scene_writer, result_directory(out, "crm", overwrite) as staging:
        image = read_image(t2_path, series_uid=series_uid, as_scan=True)
        read_seconds = time.perf_counter() - started
        result = run({"t2": image}, options, progress=progress, cancel_token=cancel_token)
        case_id = case_id_for(image, Path(t2_path), case_id)
        write_started = time.perf_counter()
        # the helper builds the scene while this process writes boxes, table and overlay pictures
        scene_writer.submit("radassist.crm_app:build_scene", staging / "scene.mrb", result, case_id)
        files = write_result_files(result, staging, case_id)
        scene_note = scene_writer.finish()
        result.seconds_per_stage["read"] = round(read_seconds, 3)
        result.seconds_per_stage["write"] = round(time.perf_counter() - write_started, 3)
        result.seconds_per_stage["total"] = round(time.perf_counter() - started, 3)
        extra = {"files": [] if scene_note else ["scene.mrb"], "scene_note": scene_note}
        report = write_report(result, staging, case_id, files, extra=extra)
    return report


def build_scene(scene, logics, result, case_id: str) -> None:
    """The CRM case's scene: T2 volume, ROIs coloured by probability, slice table (SceneWriter builder)."""
    from AssistCoreLib.crm import addCrmResultToScene

    addCrmResultToScene(scene, result, case_id)
