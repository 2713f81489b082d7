"""Listing the DICOM series of a folder from their headers: grouping by SeriesInstanceUID, ordering slices
along the slice normal and the geometry checks that refuse a series no regular grid can hold, and choosing
one series (:mod:`assistcore.image_io` states the rules and reads the chosen series)."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AmbiguousSeriesError, DicomError, InputError

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
    #: sha256 of the series' SOPInstanceUIDs, sorted and joined by newlines (as the reports check them)
    sop_instance_uids_sha256: str = ""

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
        sop_instance_uids_sha256=_sop_digest(headers),
    )


def sop_uids_digest(uids: list[str] | tuple[str, ...]) -> str:
    """The identity of a series' files as the reports record it: sha256 of its SOPInstanceUIDs, sorted (file order
    does not matter) and joined by newlines; "" when there are none or one is empty."""
    uids = [str(uid or "") for uid in uids]
    if not uids or not all(uids):
        return ""
    return hashlib.sha256("\n".join(sorted(uids)).encode()).hexdigest()


def _sop_digest(headers: list[Any]) -> str:
    """:func:`sop_uids_digest` of the headers' SOPInstanceUIDs."""
    return sop_uids_digest([header.get("SOPInstanceUID", "") for header in headers])


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
