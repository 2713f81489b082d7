"""The BrainTumorLabel job behind `radassist brain` (and the demo): files in, a folder of results out."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistcore.atomic import atomic_directory
from assistcore.brain.inputs import load_case
from assistcore.brain.model import REQUIRED
from assistcore.pipelines.brain_tumor import export_labels, run, write_overlays, write_report


def label_case_to_folder(
    paths: dict[str, Any],
    out: Path,
    options: dict[str, Any],
    case_id: str | None = None,
    convention: str = "brats2021",
    register: bool = True,
    progress: Callable | None = None,
    cancel_token=None,
) -> dict:
    """Read, register onto the reference grid, label, export (NIfTI + sidecar), report, overlays, scene.mrb."""
    started = time.perf_counter()
    case = load_case(paths, required_roles=REQUIRED, case_id=case_id, register=register)
    load_seconds = time.perf_counter() - started
    result = run(case.images, options, progress=progress, cancel_token=cancel_token)
    with atomic_directory(out) as staging:
        write_started = time.perf_counter()
        files = export_labels(result, staging, case.case_id, convention)
        overlays = write_overlays(result, case.images, staging, case.case_id)
        scene_note = _write_scene(result, case, staging / "scene.mrb")
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


def _write_scene(result, case, path: Path) -> str:
    try:
        from AssistCoreLib.brainTumor import addBrainResultToScene
        from AssistCoreLib.headless import createHeadlessScene
        from AssistCoreLib.scenes import saveSceneBundle
    except ImportError as error:
        return f"scene.mrb not written: slicer-core missing ({error})"
    scene, logics = createHeadlessScene()
    addBrainResultToScene(scene, logics, result, case.images, case.case_id)
    saveSceneBundle(scene, path)
    return ""
