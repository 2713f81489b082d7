"""The BreastUSAssist job behind `radassist breast-us` (and the demo): a cine in, a folder of results out."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistcore.atomic import result_directory
from assistcore.breastus.cine import frames_to_uint8, read_cine
from assistcore.pipelines.breast_us import run, write_report, write_result_files

from .naming import case_id_from
from .scene_writer import SceneWriter


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
    started = time.perf_counter()
    with SceneWriter() as scene_writer, result_directory(out, "breast-us", overwrite) as staging:
        cine = read_cine(cine_path, require_multiframe=require_multiframe)
        read_seconds = time.perf_counter() - started
        result = run(cine, options, progress=progress, cancel_token=cancel_token)
        case_id = case_id_from(case_id or cine.metadata.get("patient_id", ""), Path(cine_path))
        write_started = time.perf_counter()
        # the helper builds the scene while this process writes the detections and overlay pictures
        # the helper gets the frames as 8-bit (a quarter of the bytes to send and to save) and the document
        scene_writer.submit(
            "radassist.breast_us_app:build_scene",
            staging / "scene.mrb",
            frames_to_uint8(result.cine.frames),
            result.document(),
            case_id,
        )
        files = write_result_files(result, staging, case_id)
        scene_note = scene_writer.finish()
        result.seconds_per_stage["read"] = round(read_seconds, 3)
        result.seconds_per_stage["write"] = round(time.perf_counter() - write_started, 3)
        result.seconds_per_stage["total"] = round(time.perf_counter() - started, 3)
        extra = {"files": [] if scene_note else ["scene.mrb"], "scene_note": scene_note}
        report = write_report(result, staging, case_id, files, extra=extra)
    return report


def build_scene(scene, logics, frames_thw, document: dict, case_id: str) -> None:
    """The cine as a sequence with a browser, one ROI per fused detection, the detections table."""
    from AssistCoreLib.breastUs import addBreastUsResultToScene

    addBreastUsResultToScene(scene, frames_thw, document, case_id, logics.sequences)
