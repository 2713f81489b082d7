"""`radassist bench breast-us`: BreastUSAssist speed and memory on cines of 30 frames.

Runs in a fresh interpreter so that its peak memory (ru_maxrss) and its first case (imports, model load)
are its own. A 30-frame synthetic sweep of 512 x 512 frames (the issue's size) as a multi-frame DICOM, file to
report: first in the fresh process (imports, model load), then again (model cached); then the real 30-frame
cine of the sample data (240 x 320). The detector's own time per frame is reported for each.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

from .fresh_process import call_in_fresh_interpreter


def real_cine(data_dir: Path) -> Path:
    """The 30-frame ultrasound cine of the sample data."""
    path = Path(data_dir) / "us_cine_dicom" / "examples_ybr_color.dcm"
    if not path.is_file():
        from assistcore.errors import InputError

        raise InputError(f"The ultrasound cine {path} is missing.", "Set RADASSIST_DATA to the sample data folder.")
    return path


def _measure(data_dir: Path, model_id: str | None) -> dict:
    from assistcore.phantoms.breast_us import generate_breast_sweep, write_sweep_case

    from .breast_us_app import detect_cine_to_folder

    options = {"device": "cpu", "model_id": model_id}
    results: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        sweep = generate_breast_sweep(7, n_frames=30, shape_hw=(512, 512), pixel_spacing_mm=0.08, n_lesions=1)
        big = write_sweep_case(sweep, Path(scratch) / "inputs", "SWEEP512")["cine"]
        runs = (("sweep512_first_case", big), ("sweep512_second_case", big), ("real_cine", real_cine(data_dir)))
        for name, path in runs:
            started = time.perf_counter()
            report = detect_cine_to_folder(path, Path(scratch) / name, options, case_id=name)
            results[name] = {
                "frames": report["cine"]["n_frames"],
                "frame_hw": report["cine"]["shape_hw"],
                "folder_to_report_s": round(time.perf_counter() - started, 3),
                "stages_s": report["seconds_per_stage"],
                "detector_s_per_frame": report["seconds_per_frame"],
            }
        results["model"] = report["model"]["model_id"]
    results["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    # the scene writer's helper process, reported apart: it is another process
    results["scene_helper_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return results


def run_breast_us_benchmark(data_dir: Path, model_id: str | None = None) -> dict:
    """The numbers, measured in a fresh interpreter."""
    return call_in_fresh_interpreter("radassist.bench_breast_us", "_measure", Path(data_dir), model_id)
