"""I/O benchmark numbers for `radassist bench io` (printed, never asserted in tests)."""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from pathlib import Path


def _seconds(function, repeats: int) -> tuple[float, float]:
    """(first call, median of the following ``repeats``) wall seconds."""
    started = time.perf_counter()
    function()
    first = time.perf_counter() - started
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return first, statistics.median(timings)


def run_io_benchmark(data_dir: Path, repeats: int = 5) -> dict:
    """Seconds for listing and reading the 19-slice ProstateX T2 series, a NIfTI round trip, resampling and
    rigid registration of the raw TCGA-FG-6692 series, and the process's peak memory."""
    from .image_io import list_dicom_series, read_image, write_image
    from .resample import register_rigid, resample_to_reference

    series_dir = next((data_dir / "pelvis_prostatex_dicom" / "ProstateX-0000").glob("*/*t2tsetra*"))
    results: dict[str, float | str] = {"series": str(series_dir.name)}
    results["dicom_list_first_s"], results["dicom_list_s"] = _seconds(lambda: list_dicom_series(series_dir), repeats)
    results["dicom_read_19_slices_first_s"], results["dicom_read_19_slices_s"] = _seconds(
        lambda: read_image(series_dir), repeats
    )
    image = read_image(series_dir)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "t2.nii.gz"
        _, results["nifti_write_read_s"] = _seconds(lambda: read_image(write_image(image, path)), repeats)
    raw = data_dir / "brain_tcga" / "TCGA-FG-6692_raw"
    t1 = read_image(next(raw.glob("T1_AX*")))
    flair = read_image(next(raw.glob("MRHR_FLAIR*")))
    t2 = read_image(next(raw.glob("MRHR_T2*")))
    _, results["resample_flair_onto_t1_s"] = _seconds(lambda: resample_to_reference(flair, t1), repeats)
    started = time.perf_counter()
    register_rigid(t2, t1)
    results["register_t2_onto_t1_s"] = time.perf_counter() - started
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return results
