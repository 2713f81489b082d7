"""The SpineAssist job behind `radassist spine` (and the demo): series in, a folder of results out."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistcore.atomic import result_directory
from assistcore.image_io import read_image
from assistcore.pipelines.spine import run, write_outputs

from .naming import case_id_for
from .scene_writer import SceneWriter


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
    started = time.perf_counter()
    with SceneWriter() as scene_writer, result_directory(out, "spine", overwrite) as staging:
        images: dict[str, Any] = {"sag_t2": read_image(sag_t2, as_scan=True)}
        if sag_t1:
            images["sag_t1"] = read_image(sag_t1, as_scan=True)
        images["ax_t2"] = [read_image(path, as_scan=True) for path in ax_t2 or []]
        options = dict(options)
        if options.get("labels") and not hasattr(options["labels"], "array_kji"):
            options["labels"] = read_image(options["labels"])
        read_seconds = time.perf_counter() - started
        result = run(images, options, progress=progress, cancel_token=cancel_token)
        case_id = case_id_for(images["sag_t2"], Path(sag_t2), case_id)
        write_started = time.perf_counter()
        scene_writer.submit("radassist.spine_app:build_scene", staging / "scene.mrb", result, case_id)
        result.seconds_per_stage["read"] = round(read_seconds, 3)
        result.seconds_per_stage["total"] = round(time.perf_counter() - started, 3)
        scene_note = scene_writer.finish()
        result.seconds_per_stage["write"] = round(time.perf_counter() - write_started, 3)
        extra = {"files": [] if scene_note else ["scene.mrb"], "scene_note": scene_note}
        report = write_outputs(result, staging, case_id, extra=extra)
    return report


def build_scene(scene, logics, result, case_id: str) -> None:
    """The spine case's scene: volumes, coded segmentation, vertebra points, disc planes, findings table."""
    from AssistCoreLib.spine import addSpineResultToScene

    addSpineResultToScene(scene, logics, result, case_id)
