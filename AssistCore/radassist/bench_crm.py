"""`radassist bench crm`: CRMAssist speed and memory on the real 19-slice ProstateX axial T2 DICOM series.

Runs in a fresh interpreter so that its peak memory (ru_maxrss) and its first case (imports, model load)
are its own; then a second case in the same process (model cached), and the detector alone per slice.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

from .fresh_process import call_in_fresh_interpreter


def prostatex_series(data_dir: Path) -> Path:
    """The axial T2 TSE series folder of ProstateX-0000."""
    matches = sorted(Path(data_dir).glob("pelvis_prostatex_dicom/ProstateX-0000/*/*t2tsetra*"))
    if not matches:
        from assistcore.errors import InputError

        raise InputError(f"ProstateX-0000 axial T2 not found under {data_dir}.", "Set RADASSIST_DATA.")
    return matches[0]


def _measure(data_dir: Path, model_id: str | None) -> dict:
    from .crm_app import detect_case_to_folder

    series = prostatex_series(data_dir)
    cases = []
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(2):
            started = time.perf_counter()
            report = detect_case_to_folder(
                series, Path(scratch) / f"out{index}", {"device": "cpu", "model_id": model_id}, case_id="PX0"
            )
            cases.append((time.perf_counter() - started, report))
    first, second = cases
    return {
        "model": first[1]["model"]["model_id"],
        "slices": first[1]["series"]["size_ijk"][2],
        "slice_size": first[1]["series"]["size_ijk"][:2],
        "first_case_s": first[0],
        "first_case_stages_s": first[1]["seconds_per_stage"],
        "second_case_s": second[0],
        "second_case_stages_s": second[1]["seconds_per_stage"],
        "detector_s_per_slice": second[1]["seconds_per_slice"],
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        # the scene writer's helper process (first case only), reported apart: it is another process
        "scene_helper_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
    }


def run_crm_benchmark(data_dir: Path, model_id: str | None = None) -> dict:
    """The numbers, measured in a fresh interpreter."""
    return call_in_fresh_interpreter("radassist.bench_crm", "_measure", Path(data_dir), model_id)
