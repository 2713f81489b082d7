"""Writing a sweep as an Ultrasound Multi-frame DICOM cine with its truth JSON, and reading the truth back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ...breastus.cine import frames_to_uint8
from ...errors import InputError
from .sweep import UltrasoundSweep
from .vocabulary import US_MULTIFRAME_SOP_CLASS


def _cine_dataset(sweep: UltrasoundSweep, case_id: str):
    """The sweep as a pydicom Dataset: 8-bit MONOCHROME2 frames, frame time, one 2D tissue region in cm."""
    import datetime

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    pixels = frames_to_uint8(sweep.frames)
    n_frames, rows, columns = pixels.shape
    instance_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_MULTIFRAME_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    now = datetime.datetime.now()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.SOPClassUID = US_MULTIFRAME_SOP_CLASS
    ds.SOPInstanceUID = instance_uid
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AccessionNumber = ""
    ds.Modality = "US"
    ds.Manufacturer = "RadAssist synthetic phantom"
    ds.ReferringPhysicianName = ""
    ds.SeriesDescription = "Synthetic breast ultrasound sweep"
    ds.PatientName = case_id
    ds.PatientID = case_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "F"
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.BodyPartExamined = "BREAST"
    ds.LossyImageCompression = "00"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = n_frames
    ds.FrameTime = f"{sweep.frame_time_ms:.3f}"
    ds.FrameIncrementPointer = 0x00181063  # Frame Time
    ds.CineRate = round(1000.0 / sweep.frame_time_ms)
    ds.RecommendedDisplayFrameRate = ds.CineRate
    region = Dataset()
    region.RegionSpatialFormat = 1  # 2D
    region.RegionDataType = 1  # tissue
    region.RegionFlags = 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = columns - 1, rows - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
    region.PhysicalDeltaX = region.PhysicalDeltaY = float(sweep.pixel_spacing_mm) / 10.0
    ds.SequenceOfUltrasoundRegions = [region]
    ds.PixelData = pixels.tobytes()
    return ds


def _truth(sweep: UltrasoundSweep, case_id: str) -> dict:
    """The truth JSON document of a sweep (boxes rounded to 0.001 pixel)."""

    def boxes(per_frame: list[np.ndarray]) -> list[list[list[float]]]:
        return [[[round(float(v), 3) for v in box] for box in np.asarray(frame).reshape(-1, 4)] for frame in per_frame]

    return {
        "case_id": case_id,
        "seed": sweep.seed,
        "n_frames": sweep.n_frames,
        "shape_hw": list(sweep.frames.shape[1:]),
        "pixel_spacing_mm": sweep.pixel_spacing_mm,
        "frame_time_ms": sweep.frame_time_ms,
        "elevation_step_mm": sweep.elevation_step_mm,
        "box_convention": "x0, y0, x1, y1 pixel edges; row 0 = skin, column 0 = left",
        "boxes_xy": boxes(sweep.boxes_xy),
        "lesion_ids": [[int(i) for i in frame] for frame in sweep.lesion_ids],
        "lesions": sweep.lesions,
        "rib_boxes_xy": boxes(sweep.rib_boxes_xy),
        "description": sweep.description,
    }


def write_sweep_case(sweep: UltrasoundSweep, folder: str | os.PathLike[str], case_id: str) -> dict[str, Path]:
    """``<case_id>.dcm`` (Ultrasound Multi-frame Image Storage, 8-bit MONOCHROME2, one 2D tissue region in cm)
    and ``<case_id>_truth.json`` in ``folder``, both written atomically. Returns ``{"cine": ..., "truth": ...}``."""
    from pydicom import dcmwrite

    from ...atomic import atomic_path, write_text_atomic

    folder = Path(folder)
    cine = folder / f"{case_id}.dcm"
    with atomic_path(cine) as temporary:
        dcmwrite(temporary, _cine_dataset(sweep, case_id), enforce_file_format=True)
    truth = write_text_atomic(folder / f"{case_id}_truth.json", json.dumps(_truth(sweep, case_id), indent=1))
    return {"cine": cine, "truth": truth}


def read_sweep_truth(path: str | os.PathLike[str]) -> dict:
    """The truth JSON written by :func:`write_sweep_case`, boxes as (N, 4) float32 arrays and ids as int64."""
    try:
        truth = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(f"Cannot read sweep truth {path}: {error}.", "Write it with write_sweep_case.") from error
    for key in ("boxes_xy", "rib_boxes_xy"):
        truth[key] = [np.asarray(frame, np.float32).reshape(-1, 4) for frame in truth.get(key, [])]
    truth["lesion_ids"] = [np.asarray(frame, np.int64).reshape(-1) for frame in truth.get("lesion_ids", [])]
    return truth
