"""The source DICOM series a report's SEG and SR reference, checked against what the run recorded.

A report records, per series, the grid the assistant ran on (size, spacing, origin, direction in LPS) and, for
DICOM input, the SeriesInstanceUID and a digest of the SOPInstanceUIDs at draft time. Exports refuse a series
whose UIDs or geometry differ: the references would point at images the results were not computed on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DicomError, GeometryError, InputError
from ..image import Image

#: positions and spacings agree within this (mm): DICOM stores decimal strings of limited precision
GRID_TOLERANCE_MM = 1e-3


@dataclass
class SourceSeries:
    """One source series: its name in the report, folder, the pydicom datasets ordered by slice index ``k``
    (``datasets[k]`` holds slice k of ``image``), and the image as the assistants read it (arrays (k, j, i))."""

    name: str
    folder: Path
    datasets: list
    image: Image | None
    #: True for a derived series written with its k axis reversed (a left-handed NIfTI grid cannot be stored as
    #: DICOM slices in its own order): the case's slice k is ``datasets[-1 - k]``, its label maps flip along k
    reversed_k: bool = False

    @property
    def frame_of_reference_uid(self) -> str:
        return str(self.datasets[0].get("FrameOfReferenceUID", ""))

    @property
    def is_cine(self) -> bool:
        """One file whose frames are the case's slices (an ultrasound cine or picture): no 3D geometry."""
        return self.image is None

    def dataset_for_slice(self, k: int) -> Any:
        """The DICOM image of the case's slice ``k`` (None outside the series)."""
        if self.is_cine:
            return self.datasets[0] if 0 <= k < int(self.datasets[0].get("NumberOfFrames", 1) or 1) else None
        if not 0 <= k < len(self.datasets):
            return None
        return self.datasets[len(self.datasets) - 1 - k] if self.reversed_k else self.datasets[k]

    def frame_numbers(self, k: int) -> list[int] | None:
        """DICOM frame numbers (1-based) of slice ``k`` in a multi-frame file, None for single-frame images."""
        frames = int(self.datasets[0].get("NumberOfFrames", 1) or 1) if self.is_cine else 1
        return [k + 1] if frames > 1 else None


def nifti_message(name: str, path: str) -> str:
    return (
        f"Series {name!r} of this case was read from {path}, not from DICOM: DICOM SEG and SR must reference the "
        "source DICOM images."
    )


def check_grid(image: Image, entry: dict, what: str) -> None:
    """GeometryError unless ``image`` lies on the grid recorded in ``entry`` (size_ijk, spacing_mm, origin_lps,
    direction_lps), within :data:`GRID_TOLERANCE_MM` (and 1e-4 on direction cosines)."""
    if not entry.get("size_ijk"):
        return
    checks = [
        ("size", list(image.size_ijk), list(entry["size_ijk"]), 0.0),
        ("spacing (mm)", list(image.spacing_mm), list(entry["spacing_mm"]), GRID_TOLERANCE_MM),
        ("origin (LPS mm)", list(image.origin_lps), list(entry["origin_lps"]), 2e-3),
        (
            "direction",
            np.asarray(image.direction_lps).ravel().tolist(),
            np.ravel(entry["direction_lps"]).tolist(),
            1e-4,
        ),
    ]
    for label, seen, expected, tolerance in checks:
        if not np.allclose(seen, expected, atol=tolerance, rtol=0):
            raise GeometryError(
                f"{what}: {label} {np.round(seen, 4).tolist()} differs from the run's "
                f"{np.round(expected, 4).tolist()}; nothing written.",
                "Give the series the assistant ran on (--source-dicom), or run the assistant again on this series.",
            )


def load_source_series(name: str, entry: dict, folder: str | Path | None = None) -> SourceSeries:
    """Read the source series ``name`` (from ``folder``, default the path the run recorded) and check it.

    :raises InputError: the run used a NIfTI/NRRD file and no DICOM folder is given.
    :raises DicomError: the series' SeriesInstanceUID or SOPInstanceUIDs differ from the run's.
    :raises GeometryError: the series' grid differs from the one the run recorded.
    """
    import pydicom

    from ..image_io import choose_series, list_dicom_series, read_dicom_series
    from ..reports.case_files import sop_digest

    path = Path(folder or entry.get("path") or "")
    if folder is None and not entry.get("series_instance_uid"):
        raise InputError(nifti_message(name, str(path)), "Give --source-dicom DIR: the DICOM series it came from.")
    if entry.get("single_file") and folder is None:
        return _load_single_file(name, entry, path)
    location = path if path.is_dir() else path.parent
    if not location.is_dir():
        raise InputError(
            f"Source DICOM folder {location} of series {name!r} does not exist.", "Give --source-dicom DIR."
        )
    info = choose_series(list_dicom_series(location), entry.get("series_instance_uid") or None, None, where=location)
    recorded_uid = entry.get("series_instance_uid")
    if recorded_uid and recorded_uid != info.series_instance_uid:
        raise DicomError(f"Series in {location} has UID {info.series_instance_uid}, the run read {recorded_uid}.")
    recorded_digest = entry.get("sop_instance_uids_sha256")
    if recorded_digest and sop_digest(info.files)["sop_instance_uids_sha256"] != recorded_digest:
        raise DicomError(
            f"The files of series {info.series_instance_uid} in {location} changed since the run (their "
            "SOPInstanceUIDs differ from those recorded in the report); nothing written.",
            "Run the assistant again on the series as it is now, then export.",
        )
    image = read_dicom_series(location, series_uid=info.series_instance_uid)
    check_grid(image, entry, f"Source series {name!r} in {location}")
    datasets = [pydicom.dcmread(file) for file in info.files]
    for k, dataset in enumerate(datasets):
        expected = image.index_to_lps(np.array([0.0, 0.0, float(k)]))
        if not np.allclose(np.asarray(dataset.ImagePositionPatient, dtype=float), expected, atol=2e-3):
            raise DicomError(f"{info.files[k]} is not slice {k} of the series as read (ImagePositionPatient differs).")
    return SourceSeries(name, location, datasets, image)


def _load_single_file(name: str, entry: dict, path: Path) -> SourceSeries:
    """A one-file source (ultrasound cine or picture), checked against the UIDs the report recorded."""
    import pydicom

    from ..reports.case_files import sop_digest

    if not path.is_file():
        raise InputError(f"Source DICOM file {path} of series {name!r} does not exist.", "Put it back, then export.")
    dataset = pydicom.dcmread(path)
    same_series = str(dataset.SeriesInstanceUID) == entry.get("series_instance_uid")
    if not same_series or sop_digest([str(path)])["sop_instance_uids_sha256"] != entry.get("sop_instance_uids_sha256"):
        raise DicomError(
            f"{path} changed since the run (its SeriesInstanceUID or SOPInstanceUID differs from those recorded in "
            "the report); nothing written.",
            "Run the assistant again on the file as it is now, then export.",
        )
    return SourceSeries(name, path.parent, [dataset], None)
