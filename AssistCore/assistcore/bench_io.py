"""I/O benchmark numbers for ``radassist bench io`` (printed, never asserted in tests).

Times are wall-clock seconds on the calling machine: the first call in this process (``*_first_s``, which
includes importing pydicom/SimpleITK and a cold file cache) is reported apart from the median of
``repeats`` further calls. ``dicom_read_fresh_process_s`` is what a command-line user waits for: a new
interpreter importing assistcore and reading the series. Target from issue 2: the 19-slice series in
under 1 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The target the issue sets for reading the 19-slice ProstateX series.
DICOM_READ_TARGET_S = 1.0


def _seconds(function: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(first call, median of the following ``repeats`` calls) in wall seconds."""
    started = time.perf_counter()
    function()
    first = time.perf_counter() - started
    timings = []
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return first, statistics.median(timings)


def _fresh_process_read_seconds(series_dir: Path) -> float:
    """Wall seconds for a new interpreter to import assistcore.image_io and read ``series_dir``."""
    code = (
        "import time; t = time.perf_counter(); from assistcore.image_io import read_image; "
        f"read_image({str(series_dir)!r}); print(time.perf_counter() - t)"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def _peak_rss_mb() -> float:
    """This process's peak resident memory in MB (NaN where ``resource`` is missing, i.e. Windows)."""
    try:
        import resource
    except ImportError:
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0  # bytes on macOS, KiB on Linux


def run_io_benchmark(data_dir: str | os.PathLike[str], repeats: int = 5) -> dict[str, Any]:
    """Seconds for the I/O steps every assistant runs, on the real samples in ``data_dir``.

    Measured: listing and reading the 19-slice ProstateX-0000 axial T2 DICOM series, its NIfTI write + read,
    resampling the raw TCGA-FG-6692 FLAIR onto the T1 grid, rigid registration of the raw T2 onto the T1
    (one run), and the process's peak resident memory (MB, ``getrusage``).

    :returns: name -> number (seconds unless the name says otherwise), plus a few descriptive strings.
    """
    from .image_io import list_dicom_series, read_image, write_image
    from .resample import register_rigid, resample_to_reference

    data_dir = Path(data_dir)
    series_dir = next((data_dir / "pelvis_prostatex_dicom" / "ProstateX-0000").glob("*/*t2tsetra*"))
    results: dict[str, Any] = {"series": series_dir.name}
    results["dicom_list_first_s"], results["dicom_list_s"] = _seconds(lambda: list_dicom_series(series_dir), repeats)
    results["dicom_read_19_slices_first_s"], results["dicom_read_19_slices_s"] = _seconds(
        lambda: read_image(series_dir), repeats
    )
    results["dicom_read_fresh_process_s"] = _fresh_process_read_seconds(series_dir)
    results["dicom_read_target_s"] = DICOM_READ_TARGET_S
    image = read_image(series_dir)
    results["series_size_ijk"] = "x".join(str(v) for v in image.size_ijk)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "t2.nii.gz"
        _, results["nifti_write_read_s"] = _seconds(lambda: read_image(write_image(image, path)), repeats)
    raw = data_dir / "brain_tcga" / "TCGA-FG-6692_raw"
    t1 = read_image(next(raw.glob("T1_AX*")))
    flair = read_image(next(raw.glob("MRHR_FLAIR*")))
    t2 = read_image(next(raw.glob("MRHR_T2*")))
    _, results["resample_flair_onto_t1_s"] = _seconds(lambda: resample_to_reference(flair, t1), repeats)
    started = time.perf_counter()
    registration = register_rigid(t2, t1)
    results["register_t2_onto_t1_s"] = time.perf_counter() - started
    results["register_t2_onto_t1_iterations"] = registration.iterations
    results["register_t2_onto_t1_rotation_deg"] = registration.rotation_degrees
    results["peak_rss_mb"] = _peak_rss_mb()
    return results
