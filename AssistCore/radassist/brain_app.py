"""The BrainTumorLabel job behind `radassist brain` (and the demo): files in, a folder of results out."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistcore.atomic import result_directory
from assistcore.brain.inputs import load_case
from assistcore.brain.model import REQUIRED
from assistcore.pipelines.brain_tumor import export_labels, run, write_overlays, write_report

from .scene_writer import SceneWriter


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
    started = time.perf_counter()
    with SceneWriter() as scene_writer, result_directory(out, "brain", overwrite) as staging:
        case = load_case(paths, required_roles=REQUIRED, case_id=case_id, register=register)
        load_seconds = time.perf_counter() - started
        result = run(case.images, options, progress=progress, cancel_token=cancel_token)
        write_started = time.perf_counter()
        files = export_labels(result, staging, case.case_id, convention)
        overlays = write_overlays(result, case.images, staging, case.case_id)
        scene_note = scene_writer.write(
            "radassist.brain_app:build_scene", staging / "scene.mrb", result, case.images, case.case_id
        )
        timings = {"read_and_register": round(load_seconds, 3), "write": round(time.perf_counter() - write_started, 3)}
        timings["total"] = round(time.perf_counter() - started, 3)
        written = sorted(
            [path.name for path in files.values()]
            + [f"overlays/{p.name}" for p in overlays]
            + ["report.json"]
            + (["scene.mrb"] if not scene_note else [])
        )
        report = write_report(
            result,
            staging,
            case.case_id,
            case.alignment,
            case.sources,
            timings,
            extra={"files": written, "scene_note": scene_note},
        )
    return report


def build_scene(scene, logics, result, images: dict, case_id: str) -> None:
    """The brain case's scene: the sequences as volumes and the coded tumour segmentation (SceneWriter builder)."""
    from AssistCoreLib.brainTumor import addBrainResultToScene

    addBrainResultToScene(scene, logics, result, images, case_id)
