"""Small case folders as the assistants write them, and a synthetic oblique DICOM series, for the report tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from assistcore.image import Image


def oblique_image(shape_kji=(6, 20, 24)) -> Image:
    """A right-handed oblique grid (20 degrees about the patient's left-right axis), 1.1 x 0.9 x 3 mm."""
    angle = np.deg2rad(20.0)
    direction = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(angle), -np.sin(angle)], [0.0, np.sin(angle), np.cos(angle)]])
    array_kji = (np.arange(np.prod(shape_kji)) % 251).reshape(shape_kji).astype(np.int16)
    return Image(array_kji, (1.1, 0.9, 3.0), (-14.0, 22.5, -8.0), direction)


def write_dicom_series(folder: Path, image: Image, patient_id: str = "SYN-001") -> list[Path]:
    """Write ``image`` as an MR Image Storage series (one file per slice k, ``slice_<k>.dcm``)."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame_of_reference = generate_uid(), generate_uid(), generate_uid()
    direction = np.asarray(image.direction_lps)
    paths = []
    for k in range(image.shape_kji[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        dataset = pydicom.Dataset()
        dataset.file_meta = meta
        dataset.SOPClassUID, dataset.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study, series
        dataset.FrameOfReferenceUID = frame_of_reference
        dataset.PatientName, dataset.PatientID = "Synthetic^Case", patient_id
        dataset.PatientBirthDate, dataset.PatientSex = "19700101", "O"
        dataset.StudyDate, dataset.StudyTime, dataset.StudyID = "20260101", "120000", "1"
        dataset.AccessionNumber, dataset.ReferringPhysicianName = "A1", "Referrer^Ann"
        dataset.Modality, dataset.SeriesNumber, dataset.InstanceNumber = "MR", 3, k + 1
        dataset.Manufacturer = "Synthetic"
        dataset.ImagePositionPatient = [round(float(v), 4) for v in image.index_to_lps(np.array([0.0, 0.0, k]))[0]]
        dataset.ImageOrientationPatient = [round(float(v), 6) for v in list(direction[:, 0]) + list(direction[:, 1])]
        dataset.PixelSpacing = [image.spacing_mm[1], image.spacing_mm[0]]
        dataset.SliceThickness = image.spacing_mm[2]
        dataset.Rows, dataset.Columns = image.shape_kji[1], image.shape_kji[2]
        dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 16, 15, 1
        dataset.ScanningSequence, dataset.SequenceVariant, dataset.ScanOptions = "SE", "NONE", ""
        dataset.MRAcquisitionType, dataset.EchoTime, dataset.RepetitionTime = "2D", 90.0, 4000.0
        dataset.EchoTrainLength, dataset.ImageType = 1, ["ORIGINAL", "PRIMARY", "AXIAL"]
        dataset.PixelData = np.ascontiguousarray(image.array_kji[k].astype(np.int16)).tobytes()
        path = folder / f"slice_{k:03d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _grid(image: Image, source: str) -> dict:
    return {
        "source": source,
        "size_ijk": list(image.size_ijk),
        "spacing_mm": list(image.spacing_mm),
        "origin_lps": list(image.origin_lps),
        "direction_lps": np.asarray(image.direction_lps).round(6).tolist(),
    }


MODEL = {
    "model_id": "brain-test",
    "model_version": "0.0.1",
    "model_name": "Test model 0.0.1",
    "synthetic_demo_model": True,
}


def write_brain_case(case_dir: Path, image: Image, source: str, labels_kji: np.ndarray) -> Path:
    """A `radassist brain` folder whose reference sequence (flair) is ``source`` with label map ``labels_kji``
    (BraTS values 1, 2, 4) and one lesion on the image's left side."""
    from assistcore.image_io import write_image
    from assistcore.labels import load_label_table

    case_dir.mkdir(parents=True, exist_ok=True)
    write_image(image.with_array(labels_kji.astype(np.uint8)), case_dir / "C1_flair_seg-brats2021.nii.gz")
    labels = [label.to_dict() for label in load_label_table("brain_tumor_labels")]
    for entry in labels:
        entry["value"] = 4 if entry["value"] == 3 else entry["value"]
    (case_dir / "C1_labels.json").write_text(
        json.dumps({"case_id": "C1", "files": {"labels": "C1_flair_seg-brats2021.nii.gz"}, "labels": labels})
    )
    centroid = image.index_to_lps(np.array([image.size_ijk[0] * 0.8, image.size_ijk[1] * 0.3, 3.0]))[0]
    report = {
        "case_id": "C1",
        "reference_grid": {**_grid(image, ""), "sequence": "flair"},
        "inputs": {"flair": source},
        "region_volumes_ml": {"whole_tumor": 1.2, "tumor_body": 0.4, "enhancing": 0.1, "non_enhancing": 0.3},
        "lesions": [
            {
                "index": 1,
                "volume_ml": 1.2,
                "first_axial_slice": 1,
                "last_axial_slice": 4,
                "centroid_lps": [round(float(v), 2) for v in centroid],
                "region_volumes_ml": {"whole_tumor": 1.2, "tumor_body": 0.4, "enhancing": 0.1, "non_enhancing": 0.3},
            }
        ],
        "qa": {
            "passed": True,
            "flags": [{"check": "island", "message": "edema: island of 3 voxels", "axial_slice": 2}],
        },
        "model": MODEL,
    }
    (case_dir / "report.json").write_text(json.dumps(report))
    (case_dir / ".radassist-result.json").write_text(json.dumps({"command": "brain", "files": []}))
    return case_dir
