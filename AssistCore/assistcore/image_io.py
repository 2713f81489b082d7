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
    reading that series raises the DicomError. Listing, ordering and these checks: :mod:`.dicom_series`.

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
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .dicom_series import DUPLICATE_POSITION_MM as DUPLICATE_POSITION_MM
from .dicom_series import ORIENTATION_TOLERANCE as ORIENTATION_TOLERANCE
from .dicom_series import PIXEL_SPACING_TOLERANCE_MM as PIXEL_SPACING_TOLERANCE_MM
from .dicom_series import SLICE_GAP_TOLERANCE as SLICE_GAP_TOLERANCE
from .dicom_series import VOLUME_SUFFIXES as VOLUME_SUFFIXES
from .dicom_series import WRITABLE_SUFFIXES as WRITABLE_SUFFIXES
from .dicom_series import SeriesInfo as SeriesInfo
from .dicom_series import (
    _floats,
    _frames,
    _read_header,
    _series_info,
    _slice_normal,
)
from .dicom_series import choose_series as choose_series
from .dicom_series import has_dicom_magic as has_dicom_magic
from .dicom_series import list_dicom_series as list_dicom_series
from .errors import DicomError, GeometryError, ImageValueError, InputError
from .image import Image, ImageMetadata
from .volume_files import verify_volume_file

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
        extra={
            "series_number": info.series_number,
            "number_of_files": info.number_of_files,
            "sop_instance_uids_sha256": info.sop_instance_uids_sha256,
        },
    )


def dicom_identity(image: Image) -> dict[str, str]:
    """``{"series_instance_uid", "sop_instance_uids_sha256"}`` of an image read from DICOM, as the run read it
    (the report and DICOM export refuse a source whose files changed since); empty for NIfTI/NRRD input."""
    uid = image.metadata.series_instance_uid
    digest = image.metadata.extra.get("sop_instance_uids_sha256", "")
    if not uid or not digest:
        return {}
    return {"series_instance_uid": uid, "sop_instance_uids_sha256": digest}


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
