"""Ultrasound frames from pictures (PNG, JPEG, BMP, TIFF, one or several pages) and from folders of pictures or
of single-frame DICOM files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..image_io import has_dicom_magic
from .cine_dicom import (
    _first_line,
    _positive,
    _read_dicom_folder,
)
from .cine_frames import (
    DICOM_SUFFIXES,
    PICTURE_SUFFIXES,
    Cine,
    _empty_metadata,
    _FrameCollector,
    _natural_key,
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
