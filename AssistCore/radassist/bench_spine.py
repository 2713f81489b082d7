"""`radassist bench spine`: SpineAssist speed and memory on the real cervical samples.

The PSR-oriented sagittal cervical T2 plus the oblique 19-slice axial T2, folder to report, run in a fresh
interpreter so that its peak memory (ru_maxrss) and its first case (imports, model load) are its own; then a
second case in the same process (models cached).
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

from .fresh_process import call_in_fresh_interpreter


def spine_samples(data_dir: Path) -> tuple[Path, Path]:
    """(sagittal cervical T2, axial cervical T2) of the real samples."""
    sagittal = Path(data_dir) / "spine_sct_cervical" / "t2" / "t2.nii.gz"
    axial = Path(data_dir) / "spine_sct_axial" / "t2_axial_cervical.nii.gz"
    for path in (sagittal, axial):
        if not path.is_file():
            from assistcore.errors import InputError

            raise InputError(f"Spine sample {path} not found.", "Set RADASSIST_DATA to the shared data folder.")
    return sagittal, axial


def _measure(data_dir: Path, model_id: str | None) -> dict:
    from .spine_app import run_case_to_folder

    sagittal, axial = spine_samples(data_dir)
    cases = []
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(2):
            started = time.perf_counter()
            options = {"device": "cpu", "model_id": model_id}
            report = run_case_to_folder(sagittal, Path(scratch) / f"out{index}", options, ax_t2=[axial], case_id="CERV")
            cases.append((time.perf_counter() - started, report))
    (first_s, first), (second_s, second) = cases
    return {
        "model": first["model"]["model_id"],
        "sagittal_size": first["series"]["sag_t2"]["size_ijk"],
        "axial_size": first["series"]["ax_t2"]["size_ijk"],
        "first_case_s": first_s,
        "first_case_stages_s": first["seconds_per_stage"],
        "second_case_s": second_s,
        "second_case_stages_s": second["seconds_per_stage"],
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "scene_helper_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
    }


def run_spine_benchmark(data_dir: Path, model_id: str | None = None) -> dict:
    """The numbers, measured in a fresh interpreter."""
    return call_in_fresh_interpreter("radassist.bench_spine", "_measure", Path(data_dir), model_id)
