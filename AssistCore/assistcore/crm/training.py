"""Training and evaluating the CRM detector on slice pictures (phantoms, LabelImg VOC folders, COCO files).

Training crops: square crops of ``crop_size`` pixels (faster on a CPU than whole slices; the network is
fully convolutional up to its RoI heads, so it then runs on whole slices at native size), centred near a
box two times out of three, else anywhere; random left-right flips (tumours sit on either side), random
gamma and contrast. Batches of ``batch_size`` pictures; AdamW with warm-up and cosine decay; gradients
clipped. Evaluation follows the study's table: per image (slice) and per patient accuracy, sensitivity,
specificity, PPV, NPV at the operating threshold, AUC with its 95 % CI, and seconds per image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..detectors.training import DetectorTrainingResult, detector_card_sections, train_detector
from ..models.card import image_input_format
from .data import SliceSample
from .detector import detect_pictures

#: the CRM detector is the shared detector trained on CRM slices
CrmTrainingResult = DetectorTrainingResult
train_crm_detector = train_detector


# ----- evaluation -----------------------------------------------------------------------------------------
@dataclass
class EvaluationCase:
    """One patient: slice pictures (screen orientation, 0..1) and the truth per slice (boxes; any box = positive)."""

    case_id: str
    pictures: list[np.ndarray]
    truth_boxes: list[np.ndarray]


def evaluate_detector(
    network, cases: Sequence[EvaluationCase], threshold: float, device: str = "cpu", box_iou: float = 0.1
) -> dict:
    """The study's table for ``cases``: per image and per patient, plus AUC (95 % CI) and seconds per image.

    An image is called positive when its highest box reaches ``threshold``; a patient when any of its images
    is. AUC over image maximum scores (DeLong CI) and patient maximum scores (bootstrap CI when small).
    Box-level: the fraction of truth boxes hit by a box at threshold with IoU >= ``box_iou``.
    """
    from ..metrics import box_iou as iou_matrix
    from ..metrics import diagnostic_table, roc_analysis

    image_truth, image_scores, patient_truth, patient_scores, seconds = [], [], [], [], []
    truth_boxes_total, truth_boxes_hit = 0, 0
    rows = []
    for case in cases:
        found = detect_pictures(network, case.pictures, device)
        maxima = []
        for (boxes, scores, per_image), truth in zip(found, case.truth_boxes):
            maximum = float(scores.max()) if len(scores) else 0.0
            maxima.append(maximum)
            image_truth.append(int(len(truth) > 0))
            image_scores.append(maximum)
            seconds.append(per_image)
            if len(truth):
                truth_boxes_total += len(truth)
                confident = boxes[scores >= threshold]
                if len(confident):
                    truth_boxes_hit += int((iou_matrix(truth, confident) >= box_iou).any(axis=1).sum())
        patient_truth.append(int(any(len(t) for t in case.truth_boxes)))
        patient_scores.append(max(maxima, default=0.0))
        rows.append(
            {"case_id": case.case_id, "truth": patient_truth[-1], "max_probability": round(patient_scores[-1], 4)}
        )

    def table(truth, scores) -> dict:
        result = diagnostic_table(truth, [int(s >= threshold) for s in scores]).to_dict()
        result["auc"], result["auc_ci95"], result["auc_ci_method"] = None, None, None
        if 0 < sum(truth) < len(truth):
            # DeLong needs enough cases of each class; few patients get the bootstrap interval
            method = "delong" if min(sum(truth), len(truth) - sum(truth)) >= 10 else "bootstrap"
            roc = roc_analysis(truth, scores, method=method)
            result["auc"], result["auc_ci95"], result["auc_ci_method"] = roc.auc, list(roc.ci), method
        return result

    return {
        "threshold": threshold,
        "per_image": table(image_truth, image_scores),
        "per_patient": table(patient_truth, patient_scores),
        "box_sensitivity": truth_boxes_hit / truth_boxes_total if truth_boxes_total else None,
        "seconds_per_image": float(np.mean(seconds)) if seconds else None,
        "images": len(image_truth),
        "patients": len(patient_truth),
        "cases": rows,
        "_scores": {
            "image_truth": image_truth,
            "image_scores": image_scores,
            "patient_truth": patient_truth,
            "patient_scores": patient_scores,
        },
    }


def voc_evaluation_cases(folder) -> list[EvaluationCase]:
    """A LabelImg folder as evaluation cases: pictures grouped by patient (file name up to its last ``_``)."""

    from .data import read_voc_folder

    by_patient: dict[str, EvaluationCase] = {}
    for sample in read_voc_folder(folder):
        stem = Path(sample.source).stem
        patient = stem.rsplit("_", 1)[0] if "_" in stem else stem
        case = by_patient.setdefault(patient, EvaluationCase(patient, [], []))
        case.pictures.append(sample.picture)
        case.truth_boxes.append(sample.boxes_xy)
    return list(by_patient.values())


def _phantom_slices(seed: int):
    """One rectal phantom as (case id, samples of its evaluated slices in screen orientation)."""
    from ..phantoms.rectum import generate_rectal_phantom
    from .data import volume_slice_samples

    phantom = generate_rectal_phantom(seed)
    boxes: dict[int, list] = {}
    for box in phantom.boxes:
        k, i0, j0, i1, j1 = box.voxel_corners(phantom.t2)
        boxes.setdefault(int(k), []).append([i0, j0, i1, j1])
    first, last = phantom.evaluated_slices
    slices = range(first, last + 1)
    arrays = {k: np.array(v, float) for k, v in boxes.items()}
    return f"phantom{seed}", volume_slice_samples(phantom.t2, arrays, slices, case_id=f"phantom{seed}")


def phantom_samples(n_cases: int, seed: int = 0) -> list[SliceSample]:
    """Training pictures from ``n_cases`` phantoms (seeds ``seed`` .. ``seed + n_cases - 1``), evaluated slices."""
    samples: list[SliceSample] = []
    for index in range(n_cases):
        samples += _phantom_slices(seed + index)[1]
    return samples


def phantom_evaluation_cases(n_cases: int, seed: int = 1000) -> list[EvaluationCase]:
    """``n_cases`` fresh phantoms as evaluation cases (choose seeds the training did not use)."""
    cases = []
    for index in range(n_cases):
        case_id, samples = _phantom_slices(seed + index)
        cases.append(EvaluationCase(case_id, [s.picture for s in samples], [s.boxes_xy for s in samples]))
    return cases


def crm_model_card(
    result: CrmTrainingResult,
    command: str,
    model_id: str,
    seed: int,
    backbone: str,
    data_description: str,
    synthetic: bool,
    threshold: float = 0.7,
) -> dict:
    """The model card of a detector trained by :func:`train_crm_detector` (MONAI bundle metadata keys)."""
    from ..labels import card_labels
    from ..models.card import trained_card_header

    labels = card_labels("crm_labels")
    return {
        **trained_card_header(
            model_id,
            "CRMAssist Faster R-CNN" + (" (demo)" if synthetic else ""),
            "crm",
            "CRM-positive region detection on axial T2 MRI of rectal cancer (boxes per slice)",
            f"torchvision Faster R-CNN ({backbone}) trained from random weights by `radassist crm train` on "
            f"{data_description}.",
            "Train and validate on your own annotated patients (`radassist crm train --voc DIR`) before use.",
            synthetic,
        ),
        "data_source": data_description,
        "data_type": "dicom or nifti axial T2 series",
        "image_classes": "1 channel (grey, copied to 3): one axial T2 slice in radiological screen orientation",
        "label_classes": "1 CRM-positive region (box)",
        "pred_classes": "boxes (x0, y0, x1, y1) with scores after NMS",
        "network_data_format": {
            "inputs": {"image": image_input_format(["T2", "T2", "T2"])},
            "outputs": {
                "pred": {
                    "type": "object_detection",
                    "format": "boxes",
                    "num_channels": 1,
                    "channel_def": {"0": "CRM+"},
                }
            },
        },
        "network": result.network,
        "input_channels": [{"name": "T2", "role": "t2", "description": "required: axial T2 (fat-suppressed or not)"}],
        "preprocessing": [
            {"step": "slice_to_radiological_screen_orientation"},
            {"step": "window_percentiles", "low": 0.5, "high": 99.5, "per": "series", "to": [0.0, 1.0]},
            {"step": "grey_to_3_channels"},
            {"step": "network_normalize", "mean": 0.5, "std": 0.25},
            {"step": "native_resolution", "note": "no in-plane resampling; the network's resize follows each series"},
        ],
        "postprocessing": [
            {"step": "nms", "note": "torchvision RoI heads, IoU 0.5"},
            {"step": "link_adjacent_slices", "iou": 0.3},
        ],
        "inference": {"mode": "per_slice", "batch_size": 4},
        "labels": labels,
        "operating_thresholds": {"crm_positive": threshold},
        **detector_card_sections(result, command, seed, backbone),
    }
