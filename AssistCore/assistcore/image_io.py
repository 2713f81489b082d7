"""Reading and writing images with exact geometry: DICOM series, NIfTI, NRRD, MHA.

DICOM folders: headers are read with pydicom (no pixel data), files are grouped by SeriesInstanceUID and
slices are ordered by their ImagePositionPatient projected on the slice normal (the cross product of the
ImageOrientationPatient row and column vectors), never by file name. Pixels are decoded by SimpleITK
(GDCM) from that explicit file list; no DICOM decoding is written here.

Every reader returns :class:`assistcore.image.Image` (array (k, j, i), geometry in LPS mm). Writers pick
the format from the suffix and write under a temporary name first (no half-written files).
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import AmbiguousSeriesError, DicomError, GeometryError, ImageValueError, InputError
from .image import Image, ImageMetadata

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
WRITABLE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha")
#: Files never worth opening as DICOM in a series folder.
_SKIP_NAMES = {"dicomdir", "readme", "license", "licence"}
#: Relative tolerance on the spacing between consecutive slices before the series counts as irregular.
SLICE_GAP_TOLERANCE = 0.05


@dataclass(frozen=True)
class SeriesInfo:
    """One DICOM series found in a folder; ``files`` are ordered along the slice normal."""

    series_instance_uid: str
    series_description: str
    series_number: int | None
    modality: str
    patient_id: str
    study_description: str
    study_instance_uid: str
    rows: int
    columns: int
    files: tuple[str, ...]

    @property
    def number_of_files(self) -> int:
        return len(self.files)

    def describe(self) -> str:
        return (
            f"{self.series_instance_uid} ({self.series_description or 'no description'}, "
            f"{self.modality}, {len(self.files)} files)"
        )


def _is_volume_file(path: Path) -> bool:
    return path.name.lower().endswith(VOLUME_SUFFIXES)


def _slice_normal(orientation: list[float]) -> np.ndarray:
    row, column = np.asarray(orientation[:3], float), np.asarray(orientation[3:6], float)
    return np.cross(row, column)


def list_dicom_series(folder: str | os.PathLike[str]) -> list[SeriesInfo]:
    """Every image series under ``folder`` (recursively), slices ordered by position along the normal.

    :raises InputError: the folder is missing or holds no DICOM image.
    :raises DicomError: a series mixes orientations or pixel sizes, or has duplicate slice positions.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"Input path does not exist: {folder}.", "Check the path (and its spelling).")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder.", "Give the folder holding the DICOM series.")
    groups: dict[str, list[tuple[str, object]]] = defaultdict(list)
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.lower().split(".")[0] in _SKIP_NAMES or path.name.startswith("."):
            continue
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError):
            continue  # not DICOM: text files, pictures, licences
        if "PixelData" not in header and not hasattr(header, "ImagePositionPatient"):
            continue
        uid = str(getattr(header, "SeriesInstanceUID", ""))
        if uid:
            groups[uid].append((str(path), header))
    if not groups:
        raise InputError(
            f"No DICOM image series found in {folder}.",
            "Point to the folder that holds the series' .dcm files, or give a NIfTI/NRRD file.",
        )
    return sorted((_series_info(uid, members) for uid, members in groups.items()), key=_series_sort_key)


def _series_sort_key(info: SeriesInfo) -> tuple:
    return (info.series_number if info.series_number is not None else 1 << 30, info.series_instance_uid)


def _series_info(uid: str, members: list[tuple[str, object]]) -> SeriesInfo:
    first = members[0][1]
    ordered = [path for path, _ in members]
    if len(members) > 1 and all(
        hasattr(h, "ImagePositionPatient") and hasattr(h, "ImageOrientationPatient") for _, h in members
    ):
        orientation = [float(v) for v in first.ImageOrientationPatient]
        for path, header in members:
            if not np.allclose([float(v) for v in header.ImageOrientationPatient], orientation, atol=1e-4):
                raise DicomError(
                    f"Series {uid} mixes slice orientations ({path} differs from {members[0][0]}).",
                    "Split the series (for example localiser blocks) before reading it.",
                )
        normal = _slice_normal(orientation)
        positions = np.array([[float(v) for v in h.ImagePositionPatient] for _, h in members]) @ normal
        order = np.argsort(positions, kind="stable")
        ordered = [members[index][0] for index in order]
        gaps = np.diff(positions[order])
        if np.any(gaps < 1e-3):
            duplicate = ordered[int(np.argmin(gaps)) + 1]
            raise DicomError(
                f"Series {uid} has two slices at the same position (one is {duplicate}).",
                "The folder may hold the series twice or several echoes/phases: keep one copy per position.",
            )
    return SeriesInfo(
        series_instance_uid=uid,
        series_description=str(getattr(first, "SeriesDescription", "")),
        series_number=int(first.SeriesNumber) if getattr(first, "SeriesNumber", None) not in (None, "") else None,
        modality=str(getattr(first, "Modality", "")),
        patient_id=str(getattr(first, "PatientID", "")),
        study_description=str(getattr(first, "StudyDescription", "")),
        study_instance_uid=str(getattr(first, "StudyInstanceUID", "")),
        rows=int(getattr(first, "Rows", 0) or 0),
        columns=int(getattr(first, "Columns", 0) or 0),
        files=tuple(ordered),
    )


def choose_series(
    series: list[SeriesInfo], series_uid: str | None = None, series_description: str | None = None, where: str = ""
) -> SeriesInfo:
    """Pick one series by UID or description (exact match first, then substring, case-insensitive)."""
    listing = "; ".join(info.describe() for info in series)
    if series_uid:
        for info in series:
            if info.series_instance_uid == series_uid:
                return info
        raise InputError(f"Series {series_uid} not found in {where}. Series there: {listing}.")
    if series_description:
        wanted = series_description.casefold()
        exact = [info for info in series if info.series_description.casefold() == wanted]
        matches = exact or [info for info in series if wanted in info.series_description.casefold()]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise InputError(f"No series described like {series_description!r} in {where}. Series there: {listing}.")
        series = matches
    if len(series) == 1:
        return series[0]
    raise AmbiguousSeriesError(
        f"{where} holds {len(series)} series: {'; '.join(info.describe() for info in series)}.",
        series=series,
        hint="Choose one with --series-uid UID or by its description.",
    )


def read_dicom_series(
    folder: str | os.PathLike[str], series_uid: str | None = None, series_description: str | None = None
) -> Image:
    """Read one DICOM series of ``folder`` as a 3D image (see :func:`choose_series` for the choice)."""
    import SimpleITK as sitk

    info = choose_series(list_dicom_series(folder), series_uid, series_description, where=str(folder))
    if len(info.files) < 2:
        # a single file can still be a multi-frame volume; SimpleITK reads it as such
        return _read_with_sitk(Path(info.files[0]), _metadata(info, folder))
    _check_regular_spacing(info)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(list(info.files))
    try:
        sitk_image = reader.Execute()
    except RuntimeError as error:
        bad = _first_unreadable(info.files)
        raise DicomError(
            f"Cannot decode DICOM series {info.series_instance_uid} in {folder}"
            f"{': ' + bad + ' is truncated or corrupt' if bad else ''} ({str(error).strip().splitlines()[-1]}).",
            "Re-export the series from the PACS or remove the damaged file.",
        ) from error
    return Image.from_sitk(sitk_image, _metadata(info, folder))


def _check_regular_spacing(info: SeriesInfo) -> None:
    import pydicom

    headers = [
        pydicom.dcmread(path, stop_before_pixels=True) for path in (info.files[0], info.files[1], info.files[-1])
    ]
    if not all(hasattr(h, "ImagePositionPatient") for h in headers):
        return
    normal = _slice_normal([float(v) for v in headers[0].ImageOrientationPatient])
    first, second, last = (np.array([float(v) for v in h.ImagePositionPatient]) @ normal for h in headers)
    expected = (last - first) / (len(info.files) - 1)
    if abs((second - first) - expected) > SLICE_GAP_TOLERANCE * abs(expected):
        raise DicomError(
            f"Series {info.series_instance_uid} has irregular slice spacing ({second - first:.3f} mm then an average "
            f"of {expected:.3f} mm): slices are missing or the series holds several blocks.",
            "Read each block separately, or re-export the complete series.",
        )


def _first_unreadable(files: tuple[str, ...]) -> str:
    import pydicom

    for path in files:
        try:
            dataset = pydicom.dcmread(path)
            _ = dataset.pixel_array
        except Exception:
            return path
    return ""


def _metadata(info: SeriesInfo, folder: str | os.PathLike[str]) -> ImageMetadata:
    return ImageMetadata(
        patient_id=info.patient_id,
        study_description=info.study_description,
        series_description=info.series_description,
        modality=info.modality,
        series_instance_uid=info.series_instance_uid,
        study_instance_uid=info.study_instance_uid,
        source_path=str(folder),
    )


def _read_with_sitk(path: Path, metadata: ImageMetadata) -> Image:
    import SimpleITK as sitk

    try:
        sitk_image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError(
            f"Cannot read image file {path} ({str(error).strip().splitlines()[-1]}).",
            "Check that the file is complete and is NIfTI, NRRD, MHA or DICOM.",
        ) from error
    if sitk_image.GetDimension() == 3 and 1 in sitk_image.GetSize():
        raise GeometryError(
            f"{path} holds a single slice (size {sitk_image.GetSize()}), a 2D image.",
            "Give the whole 3D series or volume.",
        )
    if sitk_image.GetDimension() == 4 and sitk_image.GetSize()[3] == 1:
        sitk_image = sitk_image[:, :, :, 0]
    return Image.from_sitk(sitk_image, metadata)


def read_image(
    path: str | os.PathLike[str],
    series_uid: str | None = None,
    series_description: str | None = None,
    require_finite: bool = False,
) -> Image:
    """Read a 3D image from a DICOM folder, a single DICOM file (its series), NIfTI, NRRD or MHA.

    :param require_finite: raise :class:`ImageValueError` when voxels are NaN or infinite.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"Input path does not exist: {path}.", "Check the path (and its spelling).")
    if path.is_dir():
        if not any(path.iterdir()):
            raise InputError(f"Input folder {path} is empty.", "Point to the folder holding the DICOM series.")
        image = read_dicom_series(path, series_uid, series_description)
    elif _is_volume_file(path):
        image = _read_with_sitk(path, ImageMetadata(source_path=str(path), series_description=path.name))
    else:
        image = _read_single_dicom_file(path)
    if require_finite:
        check_finite(image)
    return image


def _read_single_dicom_file(path: Path) -> Image:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError) as error:
        raise InputError(
            f"{path} is neither a DICOM file nor a NIfTI/NRRD/MHA volume ({error}).",
            "Give a DICOM folder or a .nii/.nii.gz/.nrrd/.mha file.",
        ) from error
    frames = int(getattr(header, "NumberOfFrames", 1) or 1)
    if frames > 1:
        return _read_with_sitk(
            path, ImageMetadata(source_path=str(path), modality=str(getattr(header, "Modality", "")))
        )
    return read_dicom_series(path.parent, series_uid=str(header.SeriesInstanceUID))


def check_finite(image: Image) -> None:
    """Raise :class:`ImageValueError` naming the source when voxels are NaN or infinite."""
    if np.issubdtype(image.array_kji.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(image.array_kji)))
        if bad:
            raise ImageValueError(
                f"{image.metadata.source_path or 'The image'} has {bad} NaN or infinite voxels.",
                "Fix the export that produced it, or replace them (for example with 0) before running.",
            )


def write_image(image: Image, path: str | os.PathLike[str], compress: bool = True) -> Path:
    """Write ``image`` as NIfTI, NRRD or MHA (chosen by suffix) atomically, creating parent folders.

    Geometry round-trips: NRRD and MHA store it in double precision; NIfTI stores the sform in float32,
    so origin and direction come back within about 1e-5 mm / 1e-6.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.name.lower().endswith(WRITABLE_SUFFIXES):
        raise InputError(f"Cannot write {path}: unknown format.", f"Use one of {', '.join(WRITABLE_SUFFIXES)}.")
    with atomic_path(path) as temporary:
        sitk.WriteImage(image.to_sitk(), str(temporary), useCompression=compress)
    return path
