"""Reading and writing images with exact geometry: DICOM series, NIfTI, NRRD, MHA.

Every reader returns :class:`assistcore.image.Image`: voxels ``array_kji`` with axes (k, j, i), spacing
(i, j, k) in mm, origin and direction in LPS, and the on-disk pixel type (never cast to float).

DICOM folders
    Headers are read with pydicom (pixel data deferred, never decoded here). Files are grouped by
    SeriesInstanceUID and each series' slices are ordered by ImagePositionPatient projected on the slice
    normal (the cross product of the ImageOrientationPatient row and column vectors), never by file name.
    Pixels are decoded by SimpleITK (GDCM) from that explicit file list, which also applies the rescale
    slope and intercept. No DICOM decoding is written here.

    Checks made while listing, so that no volume with a silently wrong grid is ever returned:

    * a file that starts like DICOM but stops before its pixel data ends (truncated, partly copied) is
      named in a :class:`~assistcore.errors.DicomError`;
    * within one series: one orientation, one pixel size and one matrix size, no two slices at the same
      position (several echoes, phases or b-values sharing a series), and regular slice gaps.

    **Irregular gaps are an error, not a warning.** A volume on a regular grid cannot represent a series
    with a missing slice: SimpleITK would stack the slices at a uniform spacing and every slice past the
    gap would sit at the wrong place in the patient. A gap counts as irregular when it differs from the
    median gap by more than :data:`SLICE_GAP_TOLERANCE` (5 %): a missing slice is a 100 % jump, while
    scanners' rounding of positions to decimal strings stays far below 1 %.

    Geometry problems of one series (a localiser mixing three planes, a diffusion series with several
    b-values) do not stop the listing of the others: :class:`SeriesInfo` carries them in ``problem`` and
    reading that series raises the DicomError.

Writers
    NIfTI (``.nii``, ``.nii.gz``), NRRD (``.nrrd``) and MetaImage (``.mha``), picked by suffix, written under a
    temporary name beside the target and renamed into place (no half-written file is ever left).
    Round-trip accuracy, measured on the oblique ProstateX series and the PSR cervical NIfTI: NRRD and MHA
    store geometry as doubles and come back exact to double rounding (1e-15). NIfTI stores the sform in
    float32, so the origin comes back within half a float32 step (3e-6 mm at 100 mm from the scanner's
    origin; under 1e-5 mm anywhere within 256 mm of it), direction cosines within 2e-8 and spacing within
    1e-8 relative. SimpleITK also writes a qform (a float32 quaternion) that on oblique grids is up to about
    1e-4 off; ITK, nibabel and Slicer read the sform.
    Voxels are written in their own type and come back identical.
"""

from __future__ import annotations

import os
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_path
from .errors import AmbiguousSeriesError, DicomError, GeometryError, ImageValueError, InputError
from .image import Image, ImageMetadata
from .volume_files import verify_volume_file

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
#: Single-file formats only: a ``.mhd``/``.nhdr`` header with a separate data file cannot be renamed atomically.
WRITABLE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha")
#: Files never worth opening as DICOM in a series folder (matched on the name before its first dot).
_SKIP_NAMES = {"dicomdir", "readme", "license", "licence", "copying", "notice", "index"}
#: Suffixes of files that may be DICOM without the 128-byte preamble (old exports): parsed with force=True.
_FORCE_SUFFIXES = ("", ".dcm", ".dicom", ".ima", ".img")
#: Largest relative deviation of one slice gap from the median gap before a series counts as irregular.
SLICE_GAP_TOLERANCE = 0.05
#: Two slices closer than this along the normal (mm) sit at the same position.
DUPLICATE_POSITION_MM = 1e-3
#: Differences in ImageOrientationPatient cosines or PixelSpacing (mm) tolerated within one series.
ORIENTATION_TOLERANCE = 1e-4
PIXEL_SPACING_TOLERANCE_MM = 1e-4
#: Elements larger than this are not read while listing (pixel data, big private blobs).
_DEFER_BYTES = 4096


@dataclass(frozen=True)
class SeriesInfo:
    """One DICOM series found in a folder.

    ``files`` are ordered by position along the slice normal (ascending), so ``files[0]`` holds the image's
    origin. ``problem`` is empty when the series can be read as one volume, else it says why not.
    """

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
    pixel_spacing_mm: tuple[float, float] | None = None  # (row spacing, column spacing) as in DICOM
    slice_spacing_mm: float | None = None  # median distance between neighbouring slices along the normal
    number_of_frames: int = 1  # frames in the file of a single-file (multi-frame) series
    problem: str = ""

    @property
    def number_of_files(self) -> int:
        return len(self.files)

    @property
    def readable(self) -> bool:
        return not self.problem

    def describe(self) -> str:
        """One line for listings and error messages: UID, description, modality, size."""
        text = (
            f"{self.series_instance_uid} ({self.series_description or 'no description'}, "
            f"{self.modality or 'no modality'}, {len(self.files)} file{'s' if len(self.files) != 1 else ''}"
        )
        if self.number_of_frames > 1:
            text += f", {self.number_of_frames} frames"
        if self.patient_id:
            text += f", patient {self.patient_id}"
        text += ")"
        return text + (f" [not readable as a volume: {self.problem}]" if self.problem else "")


# ----- header reading --------------------------------------------------------------------------


def has_dicom_magic(path: Path) -> bool:
    """True when the file has the DICOM preamble magic ``DICM`` at byte 128 (unreadable files: False)."""
    try:
        with open(path, "rb") as stream:
            stream.seek(128)
            return stream.read(4) == b"DICM"
    except OSError:
        return False


def _pixel_data_shortfall(header: Any, path: Path) -> int:
    """Bytes missing from the (deferred, uncompressed) pixel data element; 0 when complete or unknown."""
    for tag in (0x7FE00010, 0x7FE00008, 0x7FE00009):  # Pixel Data, Float and Double Float Pixel Data
        if tag not in header:
            continue
        try:
            element = header.get_item(tag, keep_deferred=True)
        except TypeError:  # pydicom < 2.4 has no keep_deferred: leave the check to the decoder
            return 0
        value_tell, length = getattr(element, "value_tell", None), getattr(element, "length", None)
        if value_tell is None or length is None or length == 0xFFFFFFFF:  # encapsulated: GDCM will check
            return 0
        return max(0, value_tell + length - path.stat().st_size)
    return 0


def _read_header(path: Path) -> tuple[Any | None, str]:
    """``(header, "")`` for a DICOM image file, ``(header or None, reason)`` for a damaged one, ``(None, "")``
    for anything else (not DICOM, or DICOM without an image: reports, presentation states)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    has_magic = has_dicom_magic(path)
    try:
        header = pydicom.dcmread(path, defer_size=_DEFER_BYTES)
    except InvalidDicomError:
        if path.suffix.lower() not in _FORCE_SUFFIXES:
            return None, ""
        try:  # DICOM written without the preamble still starts with group 0008 elements
            with warnings.catch_warnings():  # forcing a non-DICOM file open makes pydicom guess and warn
                warnings.simplefilter("ignore")
                header = pydicom.dcmread(path, defer_size=_DEFER_BYTES, force=True)
        except Exception:
            return None, ""
        if "SeriesInstanceUID" not in header or not ("Rows" in header or "PixelData" in header):
            return None, ""
    except Exception as error:  # pydicom raises several types on damaged files
        return (None, f"cannot be parsed ({type(error).__name__}: {error})") if has_magic else (None, "")
    file_meta = getattr(header, "file_meta", None) or {}
    sop_class = str(header.get("SOPClassUID", "") or file_meta.get("MediaStorageSOPClassUID", ""))
    has_pixels = any(tag in header for tag in (0x7FE00010, 0x7FE00008, 0x7FE00009))
    if has_pixels:
        missing = _pixel_data_shortfall(header, path)
        if missing:
            return header, f"is truncated: its pixel data lacks {missing} bytes"
        if "SeriesInstanceUID" not in header:
            return header, "has no SeriesInstanceUID"
        return header, ""
    from pydicom.uid import UID

    if "Rows" in header or UID(sop_class).name.endswith("Image Storage"):
        return header, "ends before its pixel data (truncated?)"
    if has_magic and not sop_class:
        return header, "stops inside its header (truncated?)"
    return None, ""  # a DICOM object that holds no image


def _floats(values: Any) -> np.ndarray:
    return np.asarray([float(v) for v in values], dtype=np.float64)


def _slice_normal(orientation: np.ndarray) -> np.ndarray:
    """Unit normal of a slice (row cosines x column cosines): the direction SimpleITK stacks slices along."""
    normal = np.cross(orientation[:3], orientation[3:6])
    return normal / np.linalg.norm(normal)


def _frames(header: Any) -> int:
    try:
        return max(1, int(header.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


# ----- series discovery ------------------------------------------------------------------------


def list_dicom_series(folder: str | os.PathLike[str]) -> list[SeriesInfo]:
    """Every DICOM image series under ``folder`` (searched recursively), sorted by series number.

    Headers only are read (pixel data is deferred); DICOMDIR, README, licence files and non-DICOM files are
    skipped. Slices are ordered by position along the slice normal. Per-series geometry problems are recorded
    in :attr:`SeriesInfo.problem` (see the module docstring) instead of stopping the listing.

    :raises InputError: ``folder`` is missing, not a folder, or holds no DICOM image.
    :raises DicomError: a file starts like DICOM but is damaged and its series cannot be told (it could
        belong to any series, so no series of the folder can be trusted to be complete).
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"Input path does not exist: {folder}.", "Check the path (and its spelling).")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder.", "Give the folder holding the DICOM series.")
    groups: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    damaged_by_series: dict[str, list[str]] = defaultdict(list)
    damaged_orphans: list[str] = []
    for path in sorted(folder.rglob("*")):
        if path.name.startswith(".") or path.name.lower().split(".")[0] in _SKIP_NAMES or not path.is_file():
            continue
        header, damage = _read_header(path)
        uid = str(header.get("SeriesInstanceUID", "")) if header is not None else ""
        if damage:
            if uid:
                damaged_by_series[uid].append(f"{path} {damage}")
            else:
                damaged_orphans.append(f"{path} {damage}")
        elif header is not None:
            groups[uid].append((str(path), header))
    if damaged_orphans:
        shown = "; ".join(damaged_orphans[:5])
        if len(damaged_orphans) > 5:
            shown += f"; and {len(damaged_orphans) - 5} more"
        raise DicomError(
            f"Damaged DICOM file{'s' if len(damaged_orphans) > 1 else ''} in {folder}: {shown}.",
            "Copy or export the series again, or remove the damaged file if it does not belong to the series you need.",
        )
    for uid in damaged_by_series:
        groups.setdefault(uid, [])
    if not groups:
        raise InputError(
            f"No DICOM image series found in {folder}.",
            "Point to the folder that holds the series' DICOM files, or give a NIfTI/NRRD/MHA file.",
        )
    series = [_series_info(uid, members, damaged_by_series.get(uid, [])) for uid, members in groups.items()]
    return sorted(series, key=_series_sort_key)


def _series_sort_key(info: SeriesInfo) -> tuple:
    return (info.series_number if info.series_number is not None else 1 << 30, info.series_instance_uid)


def _series_info(uid: str, members: list[tuple[str, Any]], damaged: list[str]) -> SeriesInfo:
    """Order one series' files along the normal and record the first reason it cannot be one volume."""
    problems = []
    if damaged:
        problems.append(damaged[0] + (f" (and {len(damaged) - 1} more damaged files)" if len(damaged) > 1 else ""))
    ordered = [path for path, _ in members]
    headers = [header for _, header in members]
    first = headers[0] if headers else None
    pixel_spacing = slice_spacing = None
    if first is not None and "PixelSpacing" in first:
        pixel_spacing = tuple(float(v) for v in first.PixelSpacing[:2])
    if len(members) > 1:
        slice_spacing, ordered, problem = _order_slices(members)
        if problem:
            problems.append(problem)
        if any(_frames(header) > 1 for header in headers):
            problems.append("it holds several multi-frame files; read each file on its own")
    elif not members:
        problems.append("none of its files could be read")

    def text(keyword: str) -> str:
        return str(first.get(keyword, "") or "") if first is not None else ""

    number = first.get("SeriesNumber", None) if first is not None else None
    return SeriesInfo(
        series_instance_uid=uid,
        series_description=text("SeriesDescription"),
        series_number=int(number) if number not in (None, "") else None,
        modality=text("Modality"),
        patient_id=text("PatientID"),
        study_description=text("StudyDescription"),
        study_instance_uid=text("StudyInstanceUID"),
        rows=int(first.get("Rows", 0) or 0) if first is not None else 0,
        columns=int(first.get("Columns", 0) or 0) if first is not None else 0,
        files=tuple(ordered),
        pixel_spacing_mm=pixel_spacing,  # type: ignore[arg-type]
        slice_spacing_mm=slice_spacing,
        number_of_frames=_frames(first) if first is not None and len(members) == 1 else 1,
        problem="; ".join(problems),
    )


def _order_slices(members: list[tuple[str, Any]]) -> tuple[float | None, list[str], str]:
    """``(median gap mm, files ordered along the normal, problem)`` for a series of single-slice files."""
    paths = [path for path, _ in members]
    headers = [header for _, header in members]
    lacking = [path for path, h in members if "ImagePositionPatient" not in h or "ImageOrientationPatient" not in h]
    if lacking:
        instance = [int(h.get("InstanceNumber", 0) or 0) for h in headers]
        ordered = [paths[i] for i in np.argsort(instance, kind="stable")]
        return (
            None,
            ordered,
            (
                f"{len(lacking)} of its files (e.g. {lacking[0]}) have no "
                "ImagePositionPatient/ImageOrientationPatient, so the slices cannot be placed in space"
            ),
        )
    orientations = np.array([_floats(h.ImageOrientationPatient) for h in headers])
    odd = np.flatnonzero(np.abs(orientations - orientations[0]).max(axis=1) > ORIENTATION_TOLERANCE)
    normal = _slice_normal(orientations[0])
    positions = np.array([_floats(h.ImagePositionPatient) for h in headers]) @ normal
    order = np.argsort(positions, kind="stable")
    ordered = [paths[i] for i in order]
    if odd.size:
        return (
            None,
            ordered,
            (f"it mixes slice orientations ({paths[odd[0]]} differs from {paths[0]}): a localiser or several blocks"),
        )
    sizes = {(int(h.get("Rows", 0) or 0), int(h.get("Columns", 0) or 0)) for h in headers}
    if len(sizes) > 1:
        return None, ordered, f"its slices have different matrix sizes {sorted(sizes)}"
    spacings = np.array([_floats(h.get("PixelSpacing", [0.0, 0.0]))[:2] for h in headers])
    if np.abs(spacings - spacings[0]).max() > PIXEL_SPACING_TOLERANCE_MM:
        varied = sorted({tuple(np.round(s, 4)) for s in spacings})
        return None, ordered, f"its slices have different pixel spacings {varied} mm"
    gaps = np.diff(positions[order])
    if np.any(gaps < DUPLICATE_POSITION_MM):
        at = int(np.argmin(gaps))
        return (
            None,
            ordered,
            (
                f"two slices lie at the same position ({ordered[at]} and {ordered[at + 1]}): several echoes, phases or "
                "b-values share the series, or it was copied twice"
            ),
        )
    median_gap = float(np.median(gaps))
    worst = int(np.argmax(np.abs(gaps - median_gap)))
    if abs(gaps[worst] - median_gap) > SLICE_GAP_TOLERANCE * median_gap:
        return (
            median_gap,
            ordered,
            (
                f"its slice spacing is irregular: {gaps[worst]:.3f} mm between {Path(ordered[worst]).name} and "
                f"{Path(ordered[worst + 1]).name} where the other gaps are about {median_gap:.3f} mm "
                "(a missing slice, or several stacks in one series)"
            ),
        )
    return median_gap, ordered, ""


def choose_series(
    series: list[SeriesInfo],
    series_uid: str | None = None,
    series_description: str | None = None,
    where: str | os.PathLike[str] = "",
) -> SeriesInfo:
    """Pick one series: by exact SeriesInstanceUID, or by description (case-insensitive: an exact match
    first, then a substring), or the only one there is.

    :raises InputError: no series has that UID or description (the series present are listed).
    :raises AmbiguousSeriesError: several series remain (listed in the message and in ``error.series``).
    """
    where = str(where) or "the input"
    listing = "; ".join(info.describe() for info in series)
    hint = (
        "Choose one by UID (--series-uid UID, series_uid=...) or by description "
        "(--series DESCRIPTION, series_description=...; an unambiguous part is enough)."
    )
    if series_uid:
        for info in series:
            if info.series_instance_uid == series_uid.strip():
                return info
        raise InputError(f"Series {series_uid} not found in {where}. Series there: {listing}.", hint)
    if series_description:
        wanted = series_description.strip().casefold()
        exact = [info for info in series if info.series_description.strip().casefold() == wanted]
        matches = exact or [info for info in series if wanted in info.series_description.casefold()]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise InputError(
                f"No series described like {series_description!r} in {where}. Series there: {listing}.", hint
            )
        raise AmbiguousSeriesError(
            f"{len(matches)} series in {where} match {series_description!r}: "
            f"{'; '.join(info.describe() for info in matches)}.",
            series=matches,
            hint=hint,
        )
    if len(series) == 1:
        return series[0]
    raise AmbiguousSeriesError(f"{where} holds {len(series)} series: {listing}.", series=series, hint=hint)


# ----- reading ---------------------------------------------------------------------------------


def read_dicom_series(
    folder: str | os.PathLike[str], series_uid: str | None = None, series_description: str | None = None
) -> Image:
    """Read one DICOM series of ``folder`` as a 3D image (see :func:`choose_series` for the choice).

    :returns: voxels (k, j, i) with k ascending along the slice normal; ``origin_lps`` is the
        ImagePositionPatient of the first slice along the normal; pixel type as SimpleITK decodes it
        (integer when the rescale is the identity, else float).
    :raises AmbiguousSeriesError: several series and no (unambiguous) choice.
    :raises DicomError: the series cannot be one volume (see :attr:`SeriesInfo.problem`), or a file fails to
        decode (the file is named).
    :raises GeometryError: the series is a single 2D slice.
    """
    import SimpleITK as sitk

    info = choose_series(list_dicom_series(folder), series_uid, series_description, where=folder)
    if info.problem:
        raise DicomError(
            f"Series {info.series_instance_uid} ({info.series_description or 'no description'}) in {folder} "
            f"cannot be read as one volume: {info.problem}.",
            "Re-export the series, remove the files that do not belong to it, or choose another series.",
        )
    metadata = _metadata(info, folder)
    if len(info.files) == 1:  # a single file is a 2D slice (refused) or a multi-frame volume
        return _read_single_file_volume(Path(info.files[0]), metadata)
    reader = sitk.ImageSeriesReader()
    reader.SetImageIO("GDCMImageIO")
    reader.SetFileNames(list(info.files))
    try:
        sitk_image = reader.Execute()
    except RuntimeError as error:
        bad = _first_undecodable(info.files)
        raise DicomError(
            f"Cannot decode DICOM series {info.series_instance_uid} in {folder}"
            f"{': ' + bad + ' is truncated or corrupt' if bad else ''} ({_last_line(error)}).",
            "Copy or export the series again, or remove the damaged file.",
        ) from error
    image = Image.from_sitk(sitk_image, metadata)
    _check_against_headers(image, info)
    return image


def _last_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _first_undecodable(files: tuple[str, ...]) -> str:
    """The first file SimpleITK cannot decode on its own (the decoder that failed on the series)."""
    import SimpleITK as sitk

    for path in files:
        try:
            sitk.ReadImage(path, imageIO="GDCMImageIO")
        except RuntimeError:
            return path
    return ""


def _check_against_headers(image: Image, info: SeriesInfo) -> None:
    """Safety net: SimpleITK's origin, slice spacing and slice axis must agree with the headers just read."""
    import pydicom

    header = pydicom.dcmread(info.files[0], stop_before_pixels=True)
    first_position = _floats(header.ImagePositionPatient)
    normal = _slice_normal(_floats(header.ImageOrientationPatient))
    disagreements = []
    if np.abs(np.subtract(image.origin_lps, first_position)).max() > 1e-3:
        disagreements.append(f"origin {np.round(image.origin_lps, 3)} vs first slice {np.round(first_position, 3)}")
    expected_gap = info.slice_spacing_mm
    if expected_gap and abs(image.spacing_mm[2] - expected_gap) > SLICE_GAP_TOLERANCE * expected_gap:
        disagreements.append(f"slice spacing {image.spacing_mm[2]:.4f} vs {info.slice_spacing_mm:.4f} mm")
    if abs(float(image.direction_lps[:, 2] @ normal)) < 1 - 1e-4:
        disagreements.append("slice axis is not the slice normal")
    if disagreements:
        raise DicomError(
            f"Series {info.series_instance_uid} decoded with a geometry that disagrees with its headers: "
            f"{'; '.join(disagreements)}.",
            "Please report this series; export it as NIfTI with another tool meanwhile.",
        )


def _metadata(info: SeriesInfo, folder: str | os.PathLike[str]) -> ImageMetadata:
    return ImageMetadata(
        patient_id=info.patient_id,
        study_description=info.study_description,
        series_description=info.series_description,
        modality=info.modality,
        series_instance_uid=info.series_instance_uid,
        study_instance_uid=info.study_instance_uid,
        source_path=str(folder),
        extra={"series_number": info.series_number, "number_of_files": info.number_of_files},
    )


def _read_with_sitk(path: Path, metadata: ImageMetadata, image_io: str = "") -> Image:
    """Read one file with SimpleITK and refuse what is not a 3D scalar volume."""
    import SimpleITK as sitk

    try:
        sitk_image = sitk.ReadImage(str(path), imageIO=image_io)
    except RuntimeError as error:
        raise InputError(
            f"Cannot read image file {path} ({_last_line(error)}).",
            "Check that the file is complete and is NIfTI, NRRD, MHA or DICOM.",
        ) from error
    components = sitk_image.GetNumberOfComponentsPerPixel()
    if components != 1:
        raise GeometryError(
            f"{path} is a colour or vector image ({components} components per voxel, size {sitk_image.GetSize()}).",
            "Give a greyscale (single-channel) volume; convert colour images to one channel first.",
        )
    size = sitk_image.GetSize()
    if sitk_image.GetDimension() == 4 and size[3] == 1:  # NIfTI often stores a 3D volume as (x, y, z, 1)
        sitk_image = sitk_image[:, :, :, 0]
        size = sitk_image.GetSize()
    if sitk_image.GetDimension() == 4:
        raise GeometryError(
            f"{path} is a 4D image of size {size} (a time series or several volumes).",
            "Give one 3D volume (split the 4D file, for example with SimpleITK or nibabel).",
        )
    if sitk_image.GetDimension() == 2 or 1 in size:
        raise GeometryError(
            f"{path} holds a single 2D slice (size {size}); a 3D volume is needed.",
            "Give the whole 3D series (its DICOM folder) or a 3D NIfTI/NRRD/MHA volume.",
        )
    return Image.from_sitk(sitk_image, metadata)


def _read_single_file_volume(path: Path, metadata: ImageMetadata) -> Image:
    """A multi-frame DICOM file (enhanced MR/CT, NM, US) read by SimpleITK, its frame geometry checked."""
    image = _read_with_sitk(path, metadata, image_io="GDCMImageIO")
    _check_frame_positions(path, image)
    return image


def _check_frame_positions(path: Path, image: Image) -> None:
    """GDCM assumes frames are stored in order at a uniform spacing (and falls back to 1 mm voxels when not):
    check each frame's PlanePositionSequence against the decoded grid."""
    import pydicom

    header = pydicom.dcmread(path, stop_before_pixels=True)
    per_frame = header.get("PerFrameFunctionalGroupsSequence", None)
    if not per_frame or len(per_frame) != image.shape_kji[0]:
        return
    try:
        positions = np.array([_floats(frame.PlanePositionSequence[0].ImagePositionPatient) for frame in per_frame])
    except (AttributeError, IndexError, KeyError):
        return  # no per-frame positions (classic multi-frame): nothing to compare with
    expected = image.index_to_lps(np.array([[0.0, 0.0, k] for k in range(len(positions))]))
    deviation_mm = float(np.linalg.norm(positions - expected, axis=1).max())
    if deviation_mm > max(1e-3, 0.01 * image.spacing_mm[2]):
        raise DicomError(
            f"The frames of {path} are not stacked at a uniform spacing in file order (a frame lies "
            f"{deviation_mm:.2f} mm from where the decoded grid puts it): the volume's geometry would be wrong.",
            "Convert the file with a tool that sorts frames (for example dcm2niix) and give the NIfTI.",
        )


def read_image(
    path: str | os.PathLike[str],
    series_uid: str | None = None,
    series_description: str | None = None,
    as_scan: bool = False,
) -> Image:
    """Read a 3D scalar image from a DICOM folder, a DICOM file (its whole series), NIfTI, NRRD or MHA.

    :param path: a folder (DICOM series, chosen by ``series_uid``/``series_description`` when there are
        several), a ``.nii``/``.nii.gz``/``.nrrd``/``.nhdr``/``.mha``/``.mhd`` file, or one DICOM file.
    :param as_scan: the image is a scan to analyse (not a label map): refuse NaN or infinite voxels, checked
        in the file's stored values before ITK converts them, and volumes whose voxels all hold one value.
        Volume files are always checked to be whole (:func:`assistcore.volume_files.verify_volume_file`).
    :returns: the image in its on-disk pixel type, geometry in LPS (see :mod:`assistcore.image`).
    :raises InputError: missing path, empty folder, folder without DICOM, unreadable file.
    :raises GeometryError: a 2D image, a 4D image or a colour/vector image.
    :raises DicomError, AmbiguousSeriesError: see :func:`read_dicom_series`.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"Input path does not exist: {path}.", "Check the path (and its spelling).")
    if path.is_dir():
        if not any(path.iterdir()):
            raise InputError(f"Input folder {path} is empty.", "Point to the folder holding the DICOM series.")
        image = read_dicom_series(path, series_uid, series_description)
    elif path.name.lower().endswith(VOLUME_SUFFIXES):
        verify_volume_file(path, require_finite=as_scan)
        image = _read_with_sitk(path, ImageMetadata(source_path=str(path), series_description=path.name))
    else:
        image = _read_dicom_file(path)
    if as_scan:
        check_finite(image)
        check_not_constant(image)
    return image


def _read_dicom_file(path: Path) -> Image:
    """One DICOM file: a multi-frame volume on its own, or a slice standing for its whole series."""
    header, damage = _read_header(path)
    if damage:
        raise DicomError(f"DICOM file {path} {damage}.", "Copy or export the file again.")
    if header is None:
        raise InputError(
            f"{path} is neither a DICOM image nor a NIfTI/NRRD/MHA volume.",
            "Give a DICOM folder or file, or a .nii/.nii.gz/.nrrd/.mha file.",
        )
    if _frames(header) > 1:
        info = _series_info(str(header.SeriesInstanceUID), [(str(path), header)], [])
        return _read_single_file_volume(path, _metadata(info, path))
    return read_dicom_series(path.parent, series_uid=str(header.SeriesInstanceUID))


def check_finite(image: Image) -> None:
    """Raise :class:`ImageValueError` naming the source and the count when voxels are NaN or infinite."""
    if np.issubdtype(image.array_kji.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(image.array_kji)))
        if bad:
            raise ImageValueError(
                f"{image.metadata.source_path or 'The image'} has {bad} NaN or infinite voxels "
                f"(of {image.array_kji.size}).",
                "Fix the export that produced it, or replace them (for example with 0) before running.",
            )


def check_not_constant(image: Image) -> None:
    """Raise :class:`ImageValueError` when every voxel holds the same value (an empty or blanked export)."""
    array = image.array_kji
    if array.size and array.min() == array.max():
        raise ImageValueError(
            f"{image.metadata.source_path or 'The image'} holds no image: all {array.size} voxels are "
            f"{array.flat[0]!r}.",
            "Export the series again (the file is empty or blanked), or give the right file.",
        )


# ----- writing ---------------------------------------------------------------------------------


def write_image(image: Image, path: str | os.PathLike[str], compress: bool = True) -> Path:
    """Write ``image`` as NIfTI (``.nii``, ``.nii.gz``), NRRD (``.nrrd``) or MetaImage (``.mha``), by suffix.

    Written atomically (temporary name beside ``path``, then renamed; parent folders created), in the
    image's own pixel type (boolean masks as uint8). Geometry accuracy is in the module docstring: exact for
    NRRD and MHA, within 1e-5 mm and 1e-6 for NIfTI's float32 sform.

    :param compress: gzip the voxels of NRRD and MHA (NIfTI compression follows the ``.gz`` suffix).
    :returns: ``path``.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.name.lower().endswith(WRITABLE_SUFFIXES):
        raise InputError(f"Cannot write {path}: unknown format.", f"Use one of {', '.join(WRITABLE_SUFFIXES)}.")
    if image.array_kji.dtype == np.bool_:  # ITK has no boolean pixel type
        image = image.with_array(image.array_kji.astype(np.uint8))
    with atomic_path(path) as temporary:
        sitk.WriteImage(image.to_sitk(), str(temporary), useCompression=compress)
    return path
