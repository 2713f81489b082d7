"""Ultrasound cines from DICOM: multi-frame files and folders of single-frame files, with the pixel spacing
and region from the ultrasound region sequence (:mod:`assistcore.breastus.cine` says which calibration is trusted)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DicomError, InputError
from .cine_frames import (
    _DATA_TISSUE,
    _SPATIAL_2D,
    _UNITS_CM,
    _VIDEO_TRANSFER_SYNTAX_PREFIX,
    Cine,
    _empty_metadata,
    _first_line,
    _FrameCollector,
    _natural_key,
)
from .cine_video import _decode_video

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
