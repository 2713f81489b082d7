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

import os
from pathlib import Path

from ..errors import InputError
from ..image_io import has_dicom_magic
from .cine_dicom import _read_dicom_file
from .cine_frames import BORDER_FRACTION as BORDER_FRACTION
from .cine_frames import COLOUR_SPREAD as COLOUR_SPREAD
from .cine_frames import DICOM_SUFFIXES as DICOM_SUFFIXES
from .cine_frames import DOPPLER_FRACTION as DOPPLER_FRACTION
from .cine_frames import MAX_TOTAL_PIXELS as MAX_TOTAL_PIXELS
from .cine_frames import PICTURE_SUFFIXES as PICTURE_SUFFIXES
from .cine_frames import VIDEO_SUFFIXES as VIDEO_SUFFIXES
from .cine_frames import Cine as Cine
from .cine_frames import doppler_fraction as doppler_fraction
from .cine_frames import frames_to_uint8 as frames_to_uint8
from .cine_frames import luminance as luminance
from .cine_pictures import _read_folder, _read_picture_file
from .cine_video import _read_video


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
