"""Reading an ultrasound cine (or a single ultrasound frame) as grey B-mode frames.

:func:`read_cine` takes any of:

* a DICOM file, single or multi-frame: MONOCHROME1/2, RGB, YBR_* (pydicom converts those to RGB),
  PALETTE COLOR (the palette is applied), 8 or 16 bits, native or compressed as far as pydicom's decoders
  reach; MPEG-2 / H.264 / HEVC encapsulated cines are handed to PyAV;
* a video file (``.mp4 .avi .mov .mkv .webm .gif .mpg .mpeg .m4v .wmv``), decoded with PyAV;
* a folder of frame pictures (PNG, JPEG, BMP, TIFF) in natural name order (``frame2`` before ``frame10``), or a
  folder of single-frame DICOM files in InstanceNumber order;
* one picture (PNG, JPEG, BMP, TIFF; every page of a multi-page TIFF or animated PNG is a frame).

and returns a :class:`Cine`: frames ``(T, H, W)`` float32 in 0..1, row 0 at the top, column 0 on the left, as the
scanner showed them.

Grey values
    Colour frames become their ITU-R BT.601 luminance ``0.299 R + 0.587 G + 0.114 B``. Integers are scaled by
    their stored range: 8 bits by 255, DICOM by ``BitsStored`` (signed data shifted so its lowest value is 0),
    16-bit pictures by 65535, a palette by its entries' range. Float pictures already within 0..1 are kept;
    others are scaled by the minimum and maximum of the whole cine (one scale for all frames, so brightness
    stays comparable across frames). MONOCHROME1 is inverted. No window or contrast stretch is applied.

Colour Doppler
    The models downstream read grey B-mode. A colour or power Doppler frame paints flow in saturated colours
    over the tissue, which those models have never seen, so such frames are refused, not converted. A pixel
    counts as coloured when its channels spread by more than :data:`COLOUR_SPREAD` (50 of 255); a frame is
    Doppler when more than :data:`DOPPLER_FRACTION` of the pixels of its image area are coloured. The image
    area is the ultrasound tissue region of the DICOM header when it fits the frame, else the frame less a
    :data:`BORDER_FRACTION` margin on every side (where vendors put text, colour bars and logos). Rows of that
    area at least half filled with one flat colour (a vendor's title band, like the blue band of Philips
    screens) are left out: Doppler flow is never one flat colour across half the picture. Every frame of a
    cine is checked, on a subsample of at most about 40 000 pixels each.

Pixel spacing
    ``pixel_spacing_mm`` is (row/y, column/x) in mm. It comes from the 2D tissue region of the DICOM
    SequenceOfUltrasoundRegions (PhysicalDeltaY/X in cm, times 10), else from PixelSpacing or
    ImagerPixelSpacing, else it is None (videos and pictures carry no calibration). A region that does not fit
    inside the frame betrays a file resized or cropped after acquisition (the pydicom sample
    ``examples_ybr_color.dcm`` is a 320x240 copy of a frame whose region ends at x=595): its calibration, and
    any pixel-size tag of the same file, is then not trusted, a warning says so and the spacing is None.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DicomError, ImageValueError, InputError
from ..image_io import has_dicom_magic

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif", ".mpg", ".mpeg", ".m4v", ".wmv")
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Files treated as DICOM by their name (any other file starting with the 'DICM' preamble is DICOM too).
DICOM_SUFFIXES = (".dcm", ".dicom", ".dic", "")
#: A pixel is "coloured" when max(R, G, B) - min(R, G, B) exceeds this, in 0..255 units. JPEG chroma noise on
#: grey echo stays under 30; Doppler colours (orange, yellow, red, blue) spread 150 to 255.
COLOUR_SPREAD = 50
#: A frame with more than this fraction of coloured pixels in its image area is refused as colour Doppler.
#: Measured: grey B-mode with calipers and coloured marks under 0.3 %; the pydicom power Doppler sample 7 %.
DOPPLER_FRACTION = 0.015
#: Without a usable ultrasound region the image area is the frame less this fraction on every side.
BORDER_FRACTION = 0.10
#: A row of the image area at least this coloured, in one flat colour, is a vendor UI band (not Doppler): the
#: Philips title band is 78 % blue between the white letters of its text.
_UI_BAND_COLOURED = 0.5
_UI_BAND_COLOUR_STD = 0.05  # per-channel standard deviation (0..1) of a band's coloured pixels
#: Pixels looked at per frame by the Doppler check (a strided subsample of the image area).
_CHECK_PIXELS = 40_000
#: Refuse cines larger than this many pixels in all (4 GB of float32 frames, 8 GB while stacking).
MAX_TOTAL_PIXELS = 1_000_000_000
#: PhysicalUnitsX/YDirection code for centimetres, RegionSpatialFormat for 2D, RegionDataType for tissue.
_UNITS_CM = 3
_SPATIAL_2D = 1
_DATA_TISSUE = 1
#: Encapsulated video transfer syntaxes (MPEG-2, MPEG-4 AVC/H.264, HEVC/H.265): decoded with PyAV.
_VIDEO_TRANSFER_SYNTAX_PREFIX = "1.2.840.10008.1.2.4.10"
_METADATA_KEYS = ("patient_id", "study_uid", "series_uid", "sop_uid", "manufacturer", "model", "modality")


def frames_to_uint8(frames: np.ndarray) -> np.ndarray:
    """Grey 0..1 frames -> 8-bit (0..255, rounded), the depth ultrasound is acquired at: what phantom DICOMs and
    scene bundles store (a quarter of float32's bytes; frames read from 8-bit files come back unchanged)."""
    return np.round(np.clip(np.asarray(frames, dtype=np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


@dataclass
class Cine:
    """Grey B-mode frames of one ultrasound acquisition and what is known about their geometry and timing.

    :ivar frames: ``(T, H, W)`` float32 in 0..1 (frame, row, column); row 0 is the top of the picture (the
        skin side for a usual probe), column 0 its left.
    :ivar source_path: the file or folder read.
    :ivar kind: ``"dicom"``, ``"video"``, ``"frames_folder"`` or ``"image"``.
    :ivar frame_time_ms: time between frames in ms, or None when unknown.
    :ivar pixel_spacing_mm: (row/y, column/x) pixel size in mm, or None when unknown or not trusted.
    :ivar region_xy: the ultrasound tissue region used, ``(x0, y0, x1, y1)`` pixel edges (x1, y1 exclusive),
        or None.
    :ivar warnings: things the caller should show the user (untrusted calibration, guessed order...).
    :ivar metadata: ``patient_id, study_uid, series_uid, sop_uid, manufacturer, model, modality`` always
        present ("" when unknown), plus reader-specific entries (``photometric_interpretation``,
        ``transfer_syntax``, ``codec``, ``files``...).
    """

    frames: np.ndarray
    source_path: str
    kind: str
    frame_time_ms: float | None = None
    pixel_spacing_mm: tuple[float, float] | None = None
    region_xy: tuple[int, int, int, int] | None = None
    warnings: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def shape_hw(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])


def read_cine(path: str | os.PathLike, require_multiframe: bool = False) -> Cine:
    """Read an ultrasound cine or frame (see the module docstring for inputs, grey values and checks).

    :param path: a DICOM file, a video file, a folder of frame pictures or single-frame DICOM files, or a picture.
    :param require_multiframe: refuse a single frame (the caller needs motion, not a still).
    :returns: the :class:`Cine`, frames ``(T, H, W)`` float32 in 0..1.
    :raises InputError: missing path, unsupported file, empty folder, frames of different sizes, a colour
        Doppler frame, a single frame when ``require_multiframe``; :class:`~assistcore.errors.DicomError`
        for a corrupt or undecodable DICOM file; :class:`~assistcore.errors.ImageValueError` for NaN/inf.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"Input path does not exist: {path}.", "Check the path (and its spelling).")
    if path.is_dir():
        cine = _read_folder(path)
    else:
        suffix = path.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            cine = _read_video(path)
        elif suffix in PICTURE_SUFFIXES:
            cine = _read_picture_file(path)
        elif suffix in DICOM_SUFFIXES or has_dicom_magic(path):
            cine = _read_dicom_file(path)
        else:
            raise InputError(
                f"Cannot read {path}: '{suffix}' is not a supported ultrasound format.",
                "Give a DICOM file, a video ("
                + " ".join(VIDEO_SUFFIXES)
                + "), a picture ("
                + " ".join(PICTURE_SUFFIXES)
                + ") or a folder of frame pictures.",
            )
    if require_multiframe and cine.n_frames < 2:
        raise InputError(
            f"{path} is a single frame, not a cine.",
            "Give a multi-frame file (a DICOM cine loop or a video) or a folder of frames, or drop --require-cine.",
        )
    return cine


# ----- frames, grey conversion and the Doppler check -------------------------------------------------


class _FrameCollector:
    """Collects frames of one input: checks sizes and colour, converts to grey float32.

    ``region_xy`` is the image area the Doppler check looks at (None: the frame less its borders).
    """

    def __init__(self, source: Path, region_xy: tuple[int, int, int, int] | None = None) -> None:
        self.source = source
        self.region_xy = region_xy
        self.frames: list[np.ndarray] = []
        self.first_name = ""
        self.needs_rescale = False  # float frames outside 0..1: one min-max scale for the whole cine
        self._pixels = 0

    def add(self, values: np.ndarray, name: str = "", needs_rescale: bool = False) -> None:
        """Add one frame: ``(H, W)`` grey or ``(H, W, 3)`` RGB, float in 0..1 (unless ``needs_rescale``).

        ``name`` names the frame in errors (a file of a folder, or "frame 12 of ...").
        """
        label = name or str(self.source)
        if self.frames and values.shape[:2] != self.frames[0].shape:
            height, width = values.shape[:2]
            first_height, first_width = self.frames[0].shape
            raise InputError(
                f"{label} is {width}x{height} pixels (width x height) but {self.first_name or 'the first frame'} "
                f"is {first_width}x{first_height}: the frames of {self.source} differ in size.",
                "Export every frame of the cine at the same size, or remove the frames that do not belong.",
            )
        if not self.frames:
            self.first_name = label
        self._pixels += values.shape[0] * values.shape[1]
        if self._pixels > MAX_TOTAL_PIXELS:
            raise InputError(
                f"{self.source} is too large to hold in memory (over {MAX_TOTAL_PIXELS:,} pixels by frame "
                f"{len(self.frames) + 1}).",
                "Trim the cine to the sweep you need, or export it at a lower resolution.",
            )
        if np.issubdtype(values.dtype, np.floating):
            bad = int(np.count_nonzero(~np.isfinite(values)))
            if bad:
                raise ImageValueError(
                    f"{label} has {bad} NaN or infinite pixel values (of {values.size}).",
                    "Export the frames again as 8- or 16-bit pictures, or with finite values.",
                )
        if values.ndim == 3:
            fraction = doppler_fraction(values, self.region_xy)
            if fraction > DOPPLER_FRACTION:
                where = label if str(self.source) in label else f"{label} of {self.source}"
                raise InputError(
                    f"{where} looks like a colour/power Doppler frame ({100 * fraction:.1f} % coloured pixels in the "
                    f"image area).",
                    "Export the grey B-mode sweep (Doppler off) and give that instead.",
                )
            values = luminance(values)
        self.needs_rescale |= needs_rescale
        self.frames.append(values.astype(np.float32, copy=False))

    def stack(self) -> np.ndarray:
        """All frames ``(T, H, W)`` float32 in 0..1."""
        if not self.frames:
            raise InputError(f"{self.source} holds no frame.", "Give a file or folder with at least one frame.")
        frames = np.stack(self.frames)
        self.frames = []
        if frames.min() == frames.max():  # a blank export: a single blank frame inside a sweep is fine
            raise ImageValueError(
                f"{self.source} holds no image: every pixel of its {len(frames)} frame(s) is {frames.flat[0]!r}.",
                "Export the sweep again, or give the right file.",
            )
        if self.needs_rescale:
            low, high = float(frames.min()), float(frames.max())
            frames = (frames - low) / (high - low) if high > low else np.zeros_like(frames)
        return np.clip(frames, 0.0, 1.0, out=frames).astype(np.float32, copy=False)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luminance of ``(..., 3)`` RGB values (same units in, same units out, float32)."""
    rgb = np.asarray(rgb, dtype=np.float32)
    return rgb[..., 0] * np.float32(0.299) + rgb[..., 1] * np.float32(0.587) + rgb[..., 2] * np.float32(0.114)


def doppler_fraction(rgb: np.ndarray, region_xy: tuple[int, int, int, int] | None = None) -> float:
    """Fraction (0..1) of strongly coloured pixels in the image area of one ``(H, W, 3)`` RGB frame in 0..1.

    The image area is ``region_xy`` (x0, y0, x1, y1 pixel edges) or the frame less :data:`BORDER_FRACTION` on
    every side; rows filled with one flat colour (vendor UI bands) are left out. A strided subsample of about
    :data:`_CHECK_PIXELS` pixels is looked at, so the check stays cheap on every frame of a cine.
    """
    height, width = rgb.shape[:2]
    if region_xy is not None:
        x0, y0, x1, y1 = region_xy
    else:
        dy, dx = int(height * BORDER_FRACTION), int(width * BORDER_FRACTION)
        x0, y0, x1, y1 = dx, dy, width - dx, height - dy
    area = rgb[y0:y1, x0:x1]
    if area.size == 0:
        return 0.0
    step = max(1, int(math.sqrt(area.shape[0] * area.shape[1] / _CHECK_PIXELS)))
    sample = np.asarray(area[::step, ::step], dtype=np.float32)
    coloured = (sample.max(axis=-1) - sample.min(axis=-1)) > COLOUR_SPREAD / 255.0
    keep = np.ones(coloured.shape[0], dtype=bool)
    for row in np.flatnonzero(coloured.mean(axis=1) >= _UI_BAND_COLOURED):
        # A flat-coloured row (a vendor's title band) is UI; Doppler colour varies along a row.
        if sample[row][coloured[row]].std(axis=0).max() < _UI_BAND_COLOUR_STD:
            keep[row] = False
    if not keep.any():
        return 0.0
    return float(coloured[keep].mean())


def _natural_key(name: str) -> list:
    """Sort key putting ``frame2`` before ``frame10`` (digit runs compared as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _empty_metadata() -> dict:
    return dict.fromkeys(_METADATA_KEYS, "")


# ----- DICOM ------------------------------------------------------------------------------------------


def _read_dicom_dataset(path: Path) -> Any:
    """The whole dataset of a DICOM image file, or DicomError saying it is corrupt, truncated or holds no image."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    hint = "Copy or export the file again from the scanner or PACS (the file is damaged or not DICOM)."
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                dataset = pydicom.dcmread(path)
            except InvalidDicomError:
                # DICOM written without the 128-byte preamble still parses when forced; anything else that
                # "parses" when forced holds no Rows and is refused below.
                dataset = pydicom.dcmread(path, force=True)
    except Exception as error:  # pydicom raises many types on damaged files
        raise DicomError(f"{path} cannot be read as DICOM ({type(error).__name__}: {error}).", hint) from error
    # pydicom warns (and may return an empty dataset) when a file ends inside an encapsulated element.
    if any("end of file" in str(warning.message).lower() for warning in caught):
        raise DicomError(f"DICOM file {path} is truncated: it ends inside an element (pixel data or header).", hint)
    if "Rows" not in dataset or "Columns" not in dataset:
        raise DicomError(f"{path} is not a DICOM image (corrupt, truncated in its header, or not DICOM at all).", hint)
    if not any(tag in dataset for tag in (0x7FE00010, 0x7FE00008, 0x7FE00009)):
        raise DicomError(f"DICOM file {path} has no pixel data (truncated before it, or not an image).", hint)
    missing = _native_pixel_shortfall(dataset)
    if missing:
        raise DicomError(f"DICOM file {path} is truncated: its pixel data lacks {missing} bytes.", hint)
    return dataset


def _is_compressed(dataset: Any) -> bool:
    from pydicom.uid import UID

    syntax = _text(getattr(dataset, "file_meta", {}) or {}, "TransferSyntaxUID")
    return bool(syntax) and UID(syntax).is_compressed


def _native_pixel_shortfall(dataset: Any) -> int:
    """Bytes missing from uncompressed Pixel Data (pydicom reads a short value without complaint); 0 if complete."""
    if _is_compressed(dataset) or 0x7FE00010 not in dataset:
        return 0
    try:
        pixels = int(dataset.Rows) * int(dataset.Columns) * int(dataset.get("SamplesPerPixel", 1) or 1)
        pixels *= int(dataset.get("NumberOfFrames", 1) or 1)
        bits = int(dataset.BitsAllocated)
        value = dataset.PixelData
    except (AttributeError, TypeError, ValueError):
        return 0  # the decoder will say what is wrong
    expected = (pixels + 7) // 8 if bits == 1 else pixels * bits // 8
    return max(0, expected - len(value or b""))


def _text(dataset: Any, keyword: str) -> str:
    value = dataset.get(keyword, "")
    return "" if value is None else str(value)


def _dicom_metadata(dataset: Any) -> dict:
    metadata = _empty_metadata()
    metadata.update(
        patient_id=_text(dataset, "PatientID"),
        study_uid=_text(dataset, "StudyInstanceUID"),
        series_uid=_text(dataset, "SeriesInstanceUID"),
        sop_uid=_text(dataset, "SOPInstanceUID"),
        manufacturer=_text(dataset, "Manufacturer"),
        model=_text(dataset, "ManufacturerModelName"),
        modality=_text(dataset, "Modality"),
        sop_class=_text(dataset, "SOPClassUID"),
        photometric_interpretation=_text(dataset, "PhotometricInterpretation"),
        transfer_syntax=_text(getattr(dataset, "file_meta", {}) or {}, "TransferSyntaxUID"),
        study_date=_text(dataset, "StudyDate"),
    )
    return metadata


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _dicom_frame_time_ms(dataset: Any) -> float | None:
    """FrameTime (ms), else the mean FrameTimeVector step, else 1000 / CineRate or RecommendedDisplayFrameRate."""
    frame_time = _positive(dataset.get("FrameTime", None))
    if frame_time:
        return frame_time
    vector = dataset.get("FrameTimeVector", None)
    if vector is not None:
        # The vector's first entry is the time of frame 1 relative to itself (0): the steps are the rest.
        steps = [v for v in (_positive(value) for value in list(vector)[1:]) if v]
        if steps:
            return float(np.mean(steps))
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _positive(dataset.get(keyword, None))
        if rate:
            return 1000.0 / rate
    return None


def _dicom_geometry(
    dataset: Any, path: Path
) -> tuple[tuple[float, float] | None, tuple[int, int, int, int] | None, list[str]]:
    """``(pixel_spacing_mm (row, column), region_xy, warnings)`` from the ultrasound regions or PixelSpacing."""
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    notes: list[str] = []
    tissue = []
    for region in dataset.get("SequenceOfUltrasoundRegions", None) or []:
        if region.get("RegionSpatialFormat", None) != _SPATIAL_2D or region.get("RegionDataType", None) != _DATA_TISSUE:
            continue  # M-mode, spectral Doppler, waveforms, graphics: not the 2D picture
        try:
            # Max X1/Y1 are the last pixel inside the region: +1 makes exclusive edges.
            x0, y0 = int(region.RegionLocationMinX0), int(region.RegionLocationMinY0)
            x1, y1 = int(region.RegionLocationMaxX1) + 1, int(region.RegionLocationMaxY1) + 1
        except (AttributeError, TypeError, ValueError):
            continue
        tissue.append((x0, y0, x1, y1, region))
    fitting = []
    for x0, y0, x1, y1, region in tissue:
        # One pixel of slack: some vendors write the exclusive edge (x1 = Columns) where the standard wants the last
        # pixel, as the Philips palette sample does.
        if 0 <= x0 < x1 <= columns + 1 and 0 <= y0 < y1 <= rows + 1:
            fitting.append((x0, y0, min(x1, columns), min(y1, rows), region))
    if tissue and not fitting:
        x0, y0, x1, y1, _ = tissue[0]
        notes.append(
            f"{path}: the ultrasound tissue region ({x0},{y0})-({x1 - 1},{y1 - 1}) (first and last pixel, x,y) "
            f"does not fit the {columns}x{rows} frame: "
            "the image was resized or cropped after acquisition, so its calibration cannot be trusted; "
            "pixel spacing unknown (sizes will be in pixels)."
        )
        return None, None, notes
    if not fitting:
        return _pixel_spacing_tag(dataset), None, notes
    if len(fitting) > 1:
        notes.append(f"{path} has {len(fitting)} 2D tissue regions (side-by-side views?); the largest is used.")
    x0, y0, x1, y1, region = max(fitting, key=lambda item: (item[2] - item[0]) * (item[3] - item[1]))
    units_x, units_y = region.get("PhysicalUnitsXDirection", None), region.get("PhysicalUnitsYDirection", None)
    delta_x = _positive(region.get("PhysicalDeltaX", None))
    delta_y = _positive(region.get("PhysicalDeltaY", None))
    if units_x == _UNITS_CM and units_y == _UNITS_CM and delta_x and delta_y:
        return (10.0 * delta_y, 10.0 * delta_x), (x0, y0, x1, y1), notes
    return _pixel_spacing_tag(dataset), (x0, y0, x1, y1), notes


def _pixel_spacing_tag(dataset: Any) -> tuple[float, float] | None:
    """(row, column) mm from PixelSpacing, else ImagerPixelSpacing, else None."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        values = dataset.get(keyword, None)
        if values is not None and len(values) >= 2:
            row, column = _positive(values[0]), _positive(values[1])
            if row and column:
                return row, column
    return None


def _dicom_frames(dataset: Any) -> Iterator[np.ndarray]:
    """Each frame as ``(H, W)`` grey or ``(H, W, 3)`` RGB, float32 in 0..1 (MONOCHROME1 already inverted)."""
    from pydicom.pixels import apply_color_lut, iter_pixels

    photometric = _text(dataset, "PhotometricInterpretation").upper()
    bits_stored = int(dataset.get("BitsStored", dataset.get("BitsAllocated", 8)) or 8)
    signed = int(dataset.get("PixelRepresentation", 0) or 0) == 1
    low = -(2 ** (bits_stored - 1)) if signed else 0
    span = float(2**bits_stored - 1)
    palette_span = None
    if photometric == "PALETTE COLOR":
        # Palette entries are 8 or 16 bits; some files declare 16 bits but hold 8-bit values: use the real range.
        entries = apply_color_lut(np.arange(2**bits_stored, dtype=np.uint16 if bits_stored > 8 else np.uint8), dataset)
        # 8-bit colours stored in 16-bit entries as value * 256 (as in the Philips sample) top out at 65280.
        top = int(entries.max())
        palette_span = 255.0 if top <= 255 else 65280.0 if not np.any(entries % 256) else 65535.0
    for raw in iter_pixels(dataset):
        if photometric == "PALETTE COLOR":
            yield apply_color_lut(raw, dataset).astype(np.float32) / np.float32(palette_span)
        elif np.issubdtype(raw.dtype, np.floating):
            yield raw.astype(np.float32)  # float pixel data: the collector checks finiteness and rescales
        else:
            values = (raw.astype(np.float32) - np.float32(low)) / np.float32(span)
            if photometric == "MONOCHROME1":  # low values are white
                values = 1.0 - values
            yield values


def _require_pydicom_3() -> None:
    """pydicom.pixels (iter_pixels, apply_color_lut, YBR to RGB on decoding) arrived in pydicom 3.0."""
    try:
        from pydicom.pixels import apply_color_lut, iter_pixels  # noqa: F401
    except ImportError as error:
        import pydicom

        raise InputError(
            f"Reading ultrasound DICOM needs pydicom 3.0 or newer (this is pydicom {pydicom.__version__}).",
            "Upgrade it: pip install 'pydicom>=3'.",
        ) from error


def _read_dicom_file(path: Path) -> Cine:
    _require_pydicom_3()
    dataset = _read_dicom_dataset(path)
    spacing, region, notes = _dicom_geometry(dataset, path)
    collector = _FrameCollector(path, region)
    transfer_syntax = _text(getattr(dataset, "file_meta", {}) or {}, "TransferSyntaxUID")
    frame_time = _dicom_frame_time_ms(dataset)
    metadata = _dicom_metadata(dataset)
    if transfer_syntax.startswith(_VIDEO_TRANSFER_SYNTAX_PREFIX):
        # MPEG-2 / H.264 / HEVC cines: the fragments hold one video stream that pydicom cannot decode.
        video_time = _decode_video(_encapsulated_video(dataset, path), path, collector, metadata)
        frame_time = frame_time or video_time
    else:
        float_data = 0x7FE00010 not in dataset
        number_of_frames = int(dataset.get("NumberOfFrames", 1) or 1)
        try:
            for index, frame in enumerate(_dicom_frames(dataset)):
                name = f"frame {index + 1} of {path}" if number_of_frames > 1 else ""
                collector.add(frame, name, needs_rescale=float_data)
        except InputError:
            raise
        except Exception as error:  # decoder errors: truncated fragments, codec without a plugin
            plugin = (
                "; its compression may need a decoder plugin (pip install pylibjpeg pylibjpeg-libjpeg "
                "pylibjpeg-openjpeg), or export it uncompressed"
                if _is_compressed(dataset)
                else ""
            )
            raise DicomError(
                f"Cannot decode the pixel data of {path} ({type(error).__name__}: {_first_line(error)}).",
                f"Copy or export the file again{plugin}.",
            ) from error
    return Cine(
        frames=collector.stack(),
        source_path=str(path),
        kind="dicom",
        frame_time_ms=frame_time,
        pixel_spacing_mm=spacing,
        region_xy=region,
        warnings=notes,
        metadata=metadata,
    )


def _encapsulated_video(dataset: Any, path: Path) -> bytes:
    """The video bitstream of an MPEG-encapsulated DICOM file (all fragments joined)."""
    from pydicom.encaps import generate_fragments

    try:
        return b"".join(generate_fragments(dataset.PixelData))
    except Exception as error:
        raise DicomError(
            f"Cannot extract the video stream of {path} ({type(error).__name__}: {_first_line(error)}).",
            "Copy or export the file again, or export the cine as an MP4 video.",
        ) from error


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


# ----- video ------------------------------------------------------------------------------------------


def _decode_video(source: Path | bytes, path: Path, collector: _FrameCollector, metadata: dict) -> float | None:
    """Decode every frame of ``source`` (a file, or bytes of a DICOM-encapsulated stream) into ``collector``.

    :returns: the frame time in ms from the stream's average (else guessed) frame rate, None when unknown.
    """
    import av

    hint = "Check that the file is a complete video (copy or export it again), or export the cine as DICOM or MP4."
    try:
        container = av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source))
    except Exception as error:  # av.error.InvalidDataError and friends on garbage or truncated files
        raise InputError(
            f"Cannot open {path} as a video ({type(error).__name__}: {_first_line(error)}).", hint
        ) from error
    with container:
        if not container.streams.video:
            raise InputError(f"{path} holds no video stream.", hint)
        stream = container.streams.video[0]
        metadata.update(codec=stream.codec_context.name, container=container.format.name)
        rate = stream.average_rate or stream.guessed_rate
        index = 0
        try:
            for frame in container.decode(stream):
                # rgb24 whatever the stored pixel format, so that the Doppler check sees the colours.
                collector.add(
                    frame.to_ndarray(format="rgb24").astype(np.float32) / np.float32(255.0),
                    f"frame {index + 1} of {path}",
                )
                index += 1
        except InputError:
            raise
        except Exception as error:
            raise InputError(
                f"Cannot decode frame {index + 1} of {path} ({type(error).__name__}: {_first_line(error)}).", hint
            ) from error
    if index == 0:
        raise InputError(f"{path} holds no decodable video frame.", hint)
    if rate:
        rate = Fraction(rate)
        if rate > 0:
            return float(1000 / rate)
    return None


def _read_video(path: Path) -> Cine:
    collector = _FrameCollector(path)
    metadata = _empty_metadata()
    frame_time = _decode_video(path, path, collector, metadata)
    return Cine(
        frames=collector.stack(), source_path=str(path), kind="video", frame_time_ms=frame_time, metadata=metadata
    )


# ----- pictures and folders ---------------------------------------------------------------------------


def _picture_values(picture: Any, path: Path) -> tuple[np.ndarray, bool]:
    """``(values, needs_rescale)`` of one PIL picture: ``(H, W)`` or ``(H, W, 3)`` float32, 0..1 unless flagged."""
    mode = picture.mode
    if mode in ("RGB", "RGBA", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(picture.convert("RGB"), dtype=np.float32) / np.float32(255.0), False
    if mode in ("L", "LA", "1"):
        return np.asarray(picture.convert("L"), dtype=np.float32) / np.float32(255.0), False
    values = np.asarray(picture)
    if np.issubdtype(values.dtype, np.floating):  # 'F' TIFFs
        values = values.astype(np.float32)
        finite = values[np.isfinite(values)]
        in_unit_range = finite.size == values.size and (finite.size == 0 or (finite.min() >= 0 and finite.max() <= 1))
        return values, not in_unit_range
    if values.dtype == np.uint16 or mode.startswith("I;16"):
        return values.astype(np.float32) / np.float32(65535.0), False
    if np.issubdtype(values.dtype, np.integer):  # mode 'I' (32-bit): 16-bit data stored wide, else min-max
        if values.size and values.min() >= 0 and values.max() <= 65535:
            return values.astype(np.float32) / np.float32(65535.0), False
        return values.astype(np.float32), True
    raise InputError(f"{path} has an unsupported picture mode {mode!r}.", "Save the frames as 8-bit grey or RGB PNG.")


def _add_picture_file(path: Path, collector: _FrameCollector, name: str) -> int:
    """Add every page of one picture file; returns the number of frames added."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    hint = "Check that the file is a complete PNG/JPEG/BMP/TIFF picture (save or export it again)."
    added = 0
    try:
        with Image.open(path) as picture:
            for page in ImageSequence.Iterator(picture):
                page.load()
                values, needs_rescale = _picture_values(page, path)
                page_name = name if added == 0 else f"page {added + 1} of {path}"
                collector.add(values, page_name, needs_rescale=needs_rescale)
                added += 1
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:  # PIL's ways of saying "corrupt"
        raise InputError(f"Cannot read picture {path} ({type(error).__name__}: {_first_line(error)}).", hint) from error
    return added


def _read_picture_file(path: Path) -> Cine:
    from PIL import Image

    collector = _FrameCollector(path)
    frame_time = None
    if _add_picture_file(path, collector, "") > 1:
        try:  # animated PNG: 'duration' is the display time of a frame in ms
            with Image.open(path) as picture:
                frame_time = _positive(picture.info.get("duration", None))
        except Exception:
            frame_time = None
    return Cine(
        frames=collector.stack(),
        source_path=str(path),
        kind="image",
        frame_time_ms=frame_time,
        metadata=_empty_metadata(),
    )


def _read_folder(folder: Path) -> Cine:
    files = sorted(
        (entry for entry in folder.iterdir() if entry.is_file() and not entry.name.startswith(".")),
        key=lambda entry: _natural_key(entry.name),
    )
    pictures = [entry for entry in files if entry.suffix.lower() in PICTURE_SUFFIXES]
    if pictures:
        collector = _FrameCollector(folder)
        for picture in pictures:
            _add_picture_file(picture, collector, str(picture))
        notes = []
        skipped = len(files) - len(pictures)
        if skipped:
            notes.append(f"{folder}: {skipped} file(s) that are not pictures were ignored.")
        metadata = _empty_metadata()
        metadata["files"] = [str(picture) for picture in pictures]
        return Cine(
            frames=collector.stack(), source_path=str(folder), kind="frames_folder", warnings=notes, metadata=metadata
        )
    dicoms = [entry for entry in files if entry.suffix.lower() in DICOM_SUFFIXES[:-1] or has_dicom_magic(entry)]
    if not dicoms:
        raise InputError(
            f"No frame pictures (PNG, JPEG, BMP, TIFF) or DICOM files found in {folder}.",
            "Point to the folder holding the cine's frames, or give the DICOM or video file itself.",
        )
    return _read_dicom_folder(folder, dicoms)


def _read_dicom_folder(folder: Path, files: list[Path]) -> Cine:
    """A folder of single-frame DICOM files, one frame each, ordered by InstanceNumber."""
    _require_pydicom_3()
    datasets = [(path, _read_dicom_dataset(path)) for path in files]
    series = {_text(dataset, "SeriesInstanceUID") for _, dataset in datasets}
    if len(series) > 1:
        raise InputError(
            f"{folder} holds DICOM files of {len(series)} series; a cine is one series.",
            "Put the files of one series in their own folder, or give a single multi-frame DICOM file.",
        )
    for path, dataset in datasets:
        if int(dataset.get("NumberOfFrames", 1) or 1) > 1:
            raise InputError(
                f"{path} is a multi-frame DICOM file inside a folder of frames.",
                "Give that file on its own (it is a cine by itself).",
            )
    notes: list[str] = []
    numbers = [dataset.get("InstanceNumber", None) for _, dataset in datasets]
    if all(number not in (None, "") for number in numbers):
        order = sorted(range(len(datasets)), key=lambda i: (int(numbers[i]), _natural_key(datasets[i][0].name)))
        if len({int(number) for number in numbers}) < len(numbers):
            notes.append(f"{folder}: several files share an InstanceNumber; those are ordered by file name.")
        datasets = [datasets[i] for i in order]
    else:
        notes.append(f"{folder}: some DICOM files lack InstanceNumber; frames are in file-name order.")
    first = datasets[0][1]
    spacing, region, geometry_notes = _dicom_geometry(first, datasets[0][0])
    notes += geometry_notes
    collector = _FrameCollector(folder, region)
    for path, dataset in datasets:
        try:
            for frame in _dicom_frames(dataset):
                collector.add(frame, str(path), needs_rescale=0x7FE00010 not in dataset)
        except InputError:
            raise
        except Exception as error:
            raise DicomError(
                f"Cannot decode the pixel data of {path} ({type(error).__name__}: {_first_line(error)}).",
                "Copy or export the file again, or remove it from the folder.",
            ) from error
    metadata = _dicom_metadata(first)
    metadata["files"] = [str(path) for path, _ in datasets]
    return Cine(
        frames=collector.stack(),
        source_path=str(folder),
        kind="frames_folder",
        frame_time_ms=_dicom_frame_time_ms(first),
        pixel_spacing_mm=spacing,
        region_xy=region,
        warnings=notes,
        metadata=metadata,
    )
