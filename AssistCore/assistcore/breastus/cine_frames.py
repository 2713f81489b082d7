"""The :class:`Cine` record and its frames: the readers' common checks, grey conversion and the colour Doppler
check (:mod:`assistcore.breastus.cine` describes the inputs, grey values and checks)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ImageValueError, InputError

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


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
