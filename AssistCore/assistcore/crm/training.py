"""Training and evaluating the CRM detector on slice pictures (phantoms, LabelImg VOC folders, COCO files).

Training crops: square crops of ``crop_size`` pixels (faster on a CPU than whole slices; the network is
fully convolutional up to its RoI heads, so it then runs on whole slices at native size), centred near a
box two times out of three, else anywhere; random left-right flips (tumours sit on either side), random
gamma and contrast. Batches of ``batch_size`` pictures; AdamW with warm-up and cosine decay; gradients
clipped. Evaluation follows the study's table: per image (slice) and per patient accuracy, sensitivity,
specificity, PPV, NPV at the operating threshold, AUC with its 95 % CI, and seconds per image.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import SliceSample
from .detector import DEFAULT_BACKBONE, detect_pictures, network_config


@dataclass
class CrmTrainingResult:
    weights_path: Path
    steps: int
    seconds: float
    final_loss: float
    network: dict
    validation: dict = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)
    #: the card's ``exported_program`` entry (``model.ts``), or None when scripting failed
    exported_program: dict | None = None


def _crop(sample: SliceSample, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A ``size`` x ``size`` crop (zero-padded if the picture is smaller) and the boxes clipped into it.

    Boxes keeping under half their area inside the crop are dropped (a sliver is not a finding).
    """
    height, width = sample.picture.shape
    boxes = sample.boxes_xy
    if len(boxes) and rng.random() < 0.67:
        x0, y0, x1, y1 = boxes[rng.integers(len(boxes))]
        centre = np.array([(y0 + y1) / 2, (x0 + x1) / 2]) + rng.uniform(-size / 4, size / 4, 2)
    else:
        centre = np.array([rng.uniform(0, height), rng.uniform(0, width)])
    top = int(np.clip(centre[0] - size / 2, 0, max(height - size, 0)))
    left = int(np.clip(centre[1] - size / 2, 0, max(width - size, 0)))
    crop = np.zeros((size, size), np.float32)
    piece = sample.picture[top : top + size, left : left + size]
    crop[: piece.shape[0], : piece.shape[1]] = piece
    kept = []
    for x0, y0, x1, y1 in boxes:
        clipped = np.clip([x0 - left, y0 - top, x1 - left, y1 - top], 0, size)
        area = (x1 - x0) * (y1 - y0)
        if area > 0 and (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) >= 0.5 * area:
            kept.append(clipped)
    return crop, np.array(kept, np.float32).reshape(-1, 4)


def _augment(picture: np.ndarray, boxes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if rng.random() < 0.5:  # left-right: the tumour may sit on either side
        width = picture.shape[1]
        picture = picture[:, ::-1]
        boxes = boxes.copy()
        boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
    picture = np.clip(picture, 0, 1) ** rng.uniform(0.7, 1.4)
    picture = np.clip(picture * rng.uniform(0.85, 1.15) + rng.normal(0, 0.03), 0, 1)
    return np.ascontiguousarray(picture, dtype=np.float32), boxes


def train_crm_detector(
    output_dir: Path,
    samples: Sequence[SliceSample],
    steps: int = 600,
    backbone: str = DEFAULT_BACKBONE,
    seed: int = 0,
    crop_size: int = 256,
    batch_size: int = 4,
    image_size: int = 384,
    learning_rate: float = 5e-4,
    positive_fraction: float = 0.7,
    progress: Callable[[str, float, str], None] | None = None,
) -> CrmTrainingResult:
    """Train a Faster R-CNN from random weights on ``samples``; write ``model.pt`` (state dict) in ``output_dir``.

    Pictures with boxes make ``positive_fraction`` of each batch (when both kinds exist), so a data set of
    mostly negative slices still teaches the boxes; every picture's RoI sampling still sees background.
    """
    import torch

    from ..errors import InputError
    from ..models.loader import build_network

    if not samples:
        raise InputError("No training pictures.", "Give phantoms, a VOC folder or a COCO file with pictures.")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    config = network_config(backbone, image_size)
    network = build_network(config)
    network.transform.min_size, network.transform.max_size = (crop_size,), crop_size
    network.train()
    positives = [s for s in samples if len(s.boxes_xy)]
    negatives = [s for s in samples if not len(s.boxes_xy)]
    parameters = [p for p in network.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=1e-4)
    warmup = max(1, min(50, steps // 10))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(step, steps) / steps)),
    )
    started = time.perf_counter()
    recent: list[float] = []
    for step in range(steps):
        pictures, targets = [], []
        for _ in range(batch_size):
            pool = positives if positives and (not negatives or rng.random() < positive_fraction) else negatives
            picture, boxes = _augment(*_crop(pool[rng.integers(len(pool))], crop_size, rng), rng)
            pictures.append(torch.from_numpy(picture).expand(3, -1, -1).contiguous())
            targets.append({"boxes": torch.from_numpy(boxes), "labels": torch.ones(len(boxes), dtype=torch.int64)})
        losses = network(pictures, targets)
        loss = sum(losses.values())
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 10.0)
        optimiser.step()
        schedule.step()
        recent.append(float(loss.detach()))
        if progress and (step % 10 == 0 or step == steps - 1):
            progress("training", (step + 1) / steps, f"step {step + 1}/{steps} loss {np.mean(recent[-20:]):.3f}")
    network.eval()
    output_dir.mkdir(parents=True, exist_ok=True)
    weights_path = output_dir / "model.pt"
    torch.save(network.state_dict(), weights_path)
    network.transform.min_size, network.transform.max_size = (image_size,), image_size
    recipe = {
        "optimizer": f"AdamW lr {learning_rate:g}, weight decay 1e-4, {warmup}-step warm-up then cosine, "
        "gradient clipping 10",
        "batch": f"{batch_size} crops of {crop_size} px, {positive_fraction:.0%} from pictures with boxes",
        "augmentation": "crops near a box 2/3 of the time, left-right flips, gamma 0.7-1.4, contrast +-15 %",
        "pictures": len(samples),
        "pictures_with_boxes": len(positives),
    }
    seconds = time.perf_counter() - started
    return CrmTrainingResult(weights_path, steps, seconds, float(np.mean(recent[-20:])), config, recipe=recipe,
                             exported_program=_script_for_cpu(network, output_dir / "model.ts"))  # fmt: skip


def _script_for_cpu(network, path: Path) -> dict | None:
    """The ``model.ts`` card entry (CPU inference without importing torchvision), or None if scripting fails.

    Not fatal: the state-dict weights are the model; the card then has no program.
    """
    from ..models.exporting import export_detector_script

    try:
        return export_detector_script(network, path)
    except Exception as error:  # scripting raises many types; training results must not be lost
        import logging

        logging.getLogger(__name__).warning("detector not scripted for CPU (%s); the weights still work", error)
        return None


# ----- evaluation -----------------------------------------------------------------------------------------
@dataclass
class EvaluationCase:
    """One patient: slice pictures (screen orientation, 0..1) and the truth per slice (boxes; any box = positive)."""

    case_id: str
    pictures: list[np.ndarray]
    truth_boxes: list[np.ndarray]


def evaluate_detector(network, cases: Sequence[EvaluationCase], threshold: float, device: str = "cpu",
                      box_iou: float = 0.1) -> dict:  # fmt: skip
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
        "_scores": {"image_truth": image_truth, "image_scores": image_scores,
                    "patient_truth": patient_truth, "patient_scores": patient_scores},
    }  # fmt: skip


def voc_evaluation_cases(folder) -> list[EvaluationCase]:
    """A LabelImg folder as evaluation cases: pictures grouped by patient (file name up to its last ``_``)."""
    from pathlib import Path

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
    from .. import __version__
    from ..labels import load_label_table
    from ..models.weights import weights_card_entry

    labels = [label.to_dict() for label in load_label_table("crm_labels")]
    for label in labels:
        label.pop("description", None)
    demo = "Demonstration of the pipeline only: trained on synthetic data, not for clinical use. "
    return {
        "id": model_id,
        "name": "CRMAssist Faster R-CNN" + (" (demo)" if synthetic else ""),
        "version": __version__,
        "assistant": "crm",
        "task": "CRM-positive region detection on axial T2 MRI of rectal cancer (boxes per slice)",
        "description": f"torchvision Faster R-CNN ({backbone}) trained from random weights by `radassist crm "
        f"train` on {data_description}.",
        "authors": ["RadAssist contributors"],
        "intended_use": (demo if synthetic else "")
        + "Train and validate on your own annotated patients (`radassist crm train --voc DIR`) before use.",
        "synthetic_training_data": synthetic,
        "data_source": data_description,
        "data_type": "dicom or nifti axial T2 series",
        "image_classes": "1 channel (grey, copied to 3): one axial T2 slice in radiological screen orientation",
        "label_classes": "1 CRM-positive region (box)",
        "pred_classes": "boxes (x0, y0, x1, y1) with scores after NMS",
        "network_data_format": {
            "inputs": {
                "image": {
                    "type": "image",
                    "format": "magnitude",
                    "modality": "MR",
                    "num_channels": 3,
                    "channel_def": {"0": "T2", "1": "T2", "2": "T2"},
                }
            },
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
        "weights": weights_card_entry(result.weights_path),
        **({"exported_program": result.exported_program} if result.exported_program else {}),
        "training": {
            "command": command,
            "seed": seed,
            "backbone": backbone,
            "steps": result.steps,
            **result.recipe,
            "seconds": round(result.seconds, 1),
            "final_loss": round(result.final_loss, 4),
        },
        "validation": [
            {
                "dataset": result.validation.get("dataset", ""),
                "metric": name,
                "value": value,
                "n": result.validation.get("n"),
            }
            for name, value in result.validation.items()
            if name not in ("dataset", "n")
        ],
    }
