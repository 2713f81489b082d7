"""A NIfTI/NRRD source written as a derived DICOM series (MR Image Storage, one file per slice ``k``), so that a
case run on NIfTI can still get a SEG and an SR that reference images. The series is new (new Study, Series and
Frame of Reference UIDs): it stands for the NIfTI, not for the scanner's original series, and says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import __version__
from ..image import Image

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def _stored_pixels(array_kji: np.ndarray) -> tuple[np.ndarray, float, float]:
    """int16 pixels with (slope, intercept): integers that fit are stored as they are, others rescaled."""
    if np.issubdtype(array_kji.dtype, np.integer) and array_kji.min() >= -32768 and array_kji.max() <= 32767:
        return array_kji.astype(np.int16), 1.0, 0.0
    low, high = float(np.min(array_kji)), float(np.max(array_kji))
    slope = (high - low) / 65000.0 if high > low else 1.0
    intercept = low + 32500.0 * slope
    return np.round((array_kji - intercept) / slope).astype(np.int16), slope, intercept


def write_derived_series(
    image: Image, folder: Path, patient_id: str, series_description: str, study: dict | None = None
) -> list[Path]:
    """Write ``image`` (arrays (k, j, i), LPS geometry) as MR slices ``slice_<k>.dcm`` in ``folder``.

    :param study: optional {"StudyInstanceUID", "PatientName", ...} to file the series into an existing study.
    :returns: the files in slice order (``files[k]`` is slice k).
    """
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    pixels, slope, intercept = _stored_pixels(np.asarray(image.array_kji))
    shared = _series_attributes(image, patient_id, series_description, dict(study or {}))
    shared.update(RescaleSlope=f"{slope:.10g}"[:16], RescaleIntercept=f"{intercept:.10g}"[:16], RescaleType="US")
    paths = []
    for k in range(image.shape_kji[0]):
        dataset = pydicom.Dataset()
        dataset.file_meta = FileMetaDataset()
        dataset.file_meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
        dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        dataset.SOPClassUID = MR_IMAGE_STORAGE
        dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID
        for keyword, value in shared.items():
            setattr(dataset, keyword, value)
        dataset.InstanceNumber = k + 1
        position = image.index_to_lps(np.array([0.0, 0.0, float(k)]))[0]
        dataset.ImagePositionPatient = [round(float(v), 4) for v in position]
        dataset.PixelData = np.ascontiguousarray(pixels[k]).tobytes()
        path = folder / f"slice_{k:04d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _series_attributes(image: Image, patient_id: str, series_description: str, study: dict) -> dict:
    """The attributes every slice of the derived series shares (patient, study, series, geometry, pixel format)."""
    from pydicom.uid import generate_uid

    return {
        "StudyInstanceUID": study.get("StudyInstanceUID") or generate_uid(),
        "SeriesInstanceUID": generate_uid(),
        "FrameOfReferenceUID": generate_uid(),
        "PatientName": study.get("PatientName") or f"{patient_id}^",
        "PatientID": patient_id,
        "PatientBirthDate": "",
        "PatientSex": "",
        "StudyDate": "",
        "StudyTime": "",
        "StudyID": "",
        "AccessionNumber": "",
        "ReferringPhysicianName": "",
        "Modality": "MR",
        "SeriesNumber": 900,
        "SeriesDescription": series_description[:64],
        "Manufacturer": "RadAssist",
        "SoftwareVersions": f"radassist {__version__}",
        "ImageType": ["DERIVED", "SECONDARY", "OTHER"],
        "Laterality": "",
        "PatientPosition": "",
        "PositionReferenceIndicator": "",
        "DerivationDescription": "Written by RadAssist from a NIfTI/NRRD volume for DICOM SEG and SR references"[:1024],
        "ScanningSequence": "RM",
        "SequenceVariant": "NONE",
        "ScanOptions": "",
        "MRAcquisitionType": "3D",
        "EchoTime": None,
        "RepetitionTime": None,
        "EchoTrainLength": None,
        "PixelSpacing": [float(image.spacing_mm[1]), float(image.spacing_mm[0])],
        "SliceThickness": float(image.spacing_mm[2]),
        "ImageOrientationPatient": [
            round(float(v), 6) for v in np.concatenate([image.direction_lps[:, 0], image.direction_lps[:, 1]])
        ],
        "Rows": int(image.shape_kji[1]),
        "Columns": int(image.shape_kji[2]),
        "SamplesPerPixel": 1,
        "PhotometricInterpretation": "MONOCHROME2",
        "BitsAllocated": 16,
        "BitsStored": 16,
        "HighBit": 15,
        "PixelRepresentation": 1,
    }
