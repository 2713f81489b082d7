"""Small case folders as the assistants write them, a synthetic oblique DICOM series, and the Report panel on Qt
stand-ins (:func:`load_report_panel_module`, the ``report_panel_module`` fixture), for the report tests."""

from __future__ import annotations

import json
import types
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


def _disc_row(level: str, disc: str, pll: float, lf: float, grade=None, offset=None) -> dict:
    return {
        "level": level,
        "kind": "disc",
        "disc": disc,
        "disc_probability": 0.8,
        "disc_side": "left" if disc == "paracentral" else "none",
        "listhesis_grade": "" if grade is None else grade,
        "listhesis_direction": "" if grade is None else "anterior",
        "listhesis_offset_mm": "" if offset is None else offset,
        "pll_thickness_mm": pll,
        "lf_thickness_mm": lf,
        "sagittal_slice": 20,
        "axial_series": "ax_t2",
        "axial_slice": 9,
    }


def write_spine_case(case_dir: Path) -> Path:
    """A `radassist spine` folder with C2..C5 (discs C2/3..C4/5): C3/4 a left paracentral herniation, grade 1
    listhesis of -2.5 mm (anterior), PLL 2.4 mm; C2/3 normal with PLL 1.2 mm; C4 with an osteophyte."""
    case_dir.mkdir(parents=True, exist_ok=True)
    vertebrae = [{"level": f"C{n}", "kind": "vertebra", "osteophyte": n == 4} for n in (2, 3, 4, 5)]
    discs = [
        _disc_row("C2/3", "normal", 1.2, 1.5),
        _disc_row("C3/4", "paracentral", 2.4, 1.9, grade=1, offset=-2.5),
        _disc_row("C4/5", "bulge", 1.0, 1.1),
    ]
    levels = {
        row["level"]: {
            "kind": "disc",
            "point_lps": [1.0, 2.0, 30.0 - 10 * index],
            "sagittal_slice": 20,
            "axial": {"series": "ax_t2", "slice_index": 12 - 3 * index},
        }
        for index, row in enumerate(discs)
    }
    document = {"levels": levels, "reviews": {}, "rows": vertebrae + discs}
    (case_dir / "findings.json").write_text(json.dumps(document))
    report = {
        "case_id": "S1",
        "series": {"sag_t2": {"source": "/nowhere/t2.nii.gz"}, "ax_t2": {"source": "/nowhere/ax.nii.gz"}},
        "labelling": {"method": "anchor", "reason": "Named from the user's anchor."},
        "warnings": [],
        "model": {**MODEL, "model_id": "spine-test"},
    }
    (case_dir / "report.json").write_text(json.dumps(report))
    (case_dir / ".radassist-result.json").write_text(json.dumps({"command": "spine", "files": []}))
    return case_dir


def write_crm_case(case_dir: Path, rectum_center_lps=None) -> Path:
    """A `radassist crm` folder at threshold 0.7: region 1 (slices 5-7, peak 0.9 on slice 6, left-anterior of the
    rectum centre) is involved, region 2 (peak 0.3) is not."""
    case_dir.mkdir(parents=True, exist_ok=True)
    corners = [[10.0, -20.0, 0.0], [20.0, -20.0, 0.0], [20.0, -10.0, 0.0], [10.0, -10.0, 0.0]]
    boxes = [{"slice_index": 6, "corners_lps_mm": corners, "score": 0.9, "region_id": 1}]
    regions = [
        {"region_id": 1, "first_index": 5, "last_index": 7, "peak_index": 6, "peak_score": 0.9},
        {"region_id": 2, "first_index": 2, "last_index": 2, "peak_index": 2, "peak_score": 0.3},
    ]
    verdict = {"crm_positive_risk": True, "max_probability": 0.9, "threshold": 0.7, "slices_involved": [5, 6, 7]}
    report = {"case_id": "R1", "verdict": verdict, "series": {"source": "/nowhere/t2.nii.gz"}, "regions": regions}
    report["model"] = {**MODEL, "model_id": "crm-test"}
    if rectum_center_lps is not None:
        report["rectum"] = {"center_lps": rectum_center_lps}
    (case_dir / "report.json").write_text(json.dumps(report))
    (case_dir / "boxes.json").write_text(json.dumps({"boxes": boxes, "regions": regions}))
    (case_dir / ".radassist-result.json").write_text(json.dumps({"command": "crm", "files": []}))
    return case_dir


def write_breast_case(case_dir: Path, cine_source: str = "/nowhere/cine.mp4") -> Path:
    """A `radassist breast-us` folder: lesion 1 (12 x 8 mm, frames 3-9, described), lesion 2 rejected."""
    case_dir.mkdir(parents=True, exist_ok=True)

    def lesion(number: int, score: float) -> dict:
        return {
            "detection_id": number,
            "first_frame": 3,
            "last_frame": 9,
            "best_frame": 5,
            "best_box_xy": [10.0, 20.0, 130.0, 100.0],
            "fused_score": score,
            "size_mm": [12.0, 8.0],
            "above_threshold": True,
            "malignancy_score": 0.7,
        }

    document = {
        "threshold": 0.5,
        "model": {**MODEL, "model_id": "breast-test"},
        "fused": [lesion(1, 0.8), lesion(2, 0.6)],
        "descriptors": [{"detection_id": 1, "shape": "irregular", "margin": "spiculated", "orientation": None}],
        "reviews": {"2": "reject"},
    }
    (case_dir / "detections.json").write_text(json.dumps(document))
    report = {"case_id": "B1", "cine": {"source": cine_source}, "warnings": []}
    (case_dir / "report.json").write_text(json.dumps(report))
    (case_dir / ".radassist-result.json").write_text(json.dumps({"command": "breast-us", "files": []}))
    return case_dir


# ----- the Slicer panel's glue, on Qt stand-ins (the real widgets exist only inside Slicer) -------------------
class _Widget:
    """A stand-in for the panel's Qt widgets: plain attributes (PythonQt properties) and recorded slots."""

    def __init__(self) -> None:
        self.slots, self.enabled, self.readOnly, self.text, self.plainText = {}, True, False, "", ""
        self.directory, self.checked, self.rowCount, self.current, self.cells = "", False, 0, -1, {}

    def connect(self, signal, slot) -> None:
        self.slots[signal] = slot

    def horizontalHeader(self):
        return types.SimpleNamespace(setStretchLastSection=lambda on: None)

    def clearContents(self) -> None:
        self.cells = {}

    def setItem(self, row, column, item) -> None:
        self.cells[row, column] = item

    def item(self, row, column):
        return self.cells[row, column]

    def currentRow(self) -> int:
        return self.current


class _Item:
    def __init__(self, text="") -> None:
        self._text, self._flags, self._data, self.toolTip = text, 0xFF, {}, ""

    text = lambda self: self._text  # noqa: E731 - Qt's getter is a method
    flags = lambda self: self._flags  # noqa: E731

    def setText(self, text) -> None:
        self._text = text

    def setFlags(self, flags) -> None:
        self._flags = flags

    def setForeground(self, brush) -> None:
        pass

    def setToolTip(self, text) -> None:
        self.toolTip = text

    def setData(self, role, value) -> None:
        self._data[role] = value

    def data(self, role):
        return self._data.get(role)


def load_report_panel_module(monkeypatch):
    """AssistCoreLib/reportPanel.py loaded against qt/slicer stand-ins whose widgets are those its .ui defines."""
    import contextlib
    import importlib.util
    import sys
    import xml.etree.ElementTree as ElementTree
    from pathlib import Path

    core = Path(__file__).resolve().parents[1] / "AssistCore"
    names = [w.get("name") for w in ElementTree.parse(core / "Resources/UI/ReportPanel.ui").iter("widget")]
    shown = []

    @contextlib.contextmanager
    def try_with_error_display(message=None, waitCursor=False):
        yield  # errors propagate to the test, as Slicer's re-raises them after showing

    util = types.SimpleNamespace(
        loadUI=lambda path: _Widget(),
        childWidgetVariables=lambda widget: types.SimpleNamespace(**{name: _Widget() for name in names}),
        tryWithErrorDisplay=try_with_error_display,
        infoDisplay=shown.append,
    )
    qt = types.SimpleNamespace(
        QTableWidgetItem=_Item,
        Qt=types.SimpleNamespace(ItemIsEditable=2, UserRole=32),
        QBrush=lambda color: color,
        QColor=lambda name: name,
        QInputDialog=types.SimpleNamespace(getText=lambda *args: "LF remeasured"),
        QSettings=lambda: types.SimpleNamespace(value=lambda key: None),
    )
    i18n = types.SimpleNamespace(tr=lambda text: text)
    slicer = types.SimpleNamespace(util=util, i18n=i18n)
    for name, module in (("qt", qt), ("slicer", slicer), ("slicer.util", util), ("slicer.i18n", i18n)):
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("_report_panel_under_test", core / "AssistCoreLib/reportPanel.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.shown = shown
    return module
