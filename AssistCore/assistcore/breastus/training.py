"""Training data, evaluation and the model card of the breast ultrasound lesion detector.

Training pictures are cine frames (grey 0..1, (y, x)) with lesion boxes (x0, y0, x1, y1) pixel edges: from
synthetic sweeps (:mod:`assistcore.phantoms.breast_us`), BUSI-style folders (``<name>.png`` beside
``<name>_mask.png``, boxes from the mask's connected regions) or COCO JSON. The detector itself is the shared
one (:mod:`assistcore.detectors`), trained at the scale inference uses: frames resized so their shorter side
is ``shorter_side`` pixels.

Evaluation follows the breast cine study: per sweep, detections of one random frame ("single frame", drawn
among all the sweep's frames as the study did, so a frame that misses the lesion misses it) against
the fused detections of all frames ("multi-frame"), each as FROC (sensitivity against false positives per
sequence) at IoU 0.2 and 0.5, read at 0.1, 0.2 and 0.5 false positives per sequence, the two compared with
Pearson chi-square. A fused detection is its best frame's box; it hits a lesion when that box overlaps the
lesion's box on the same frame. A lesion counts once per sweep however many frames show it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..detectors.data import PictureSample
from ..detectors.training import detector_card_sections
from ..errors import InputError

FP_RATES = (0.1, 0.2, 0.5)
IOU_THRESHOLDS = (0.2, 0.5)
#: the frame size phantom sweeps are generated at (rows, columns)
PHANTOM_SHAPE_HW = (256, 256)


@dataclass
class SweepCase:
    """One sweep with its truth: frames (T, H, W) 0..1, per frame boxes (N_t, 4) and lesion ids (N_t,)."""

    case_id: str
    frames: np.ndarray
    truth_boxes: list[np.ndarray]
    truth_lesion_ids: list[np.ndarray]


def phantom_sweep_cases(n_cases: int, seed: int, n_frames: int = 30) -> list[SweepCase]:
    """``n_cases`` synthetic sweeps, seeds ``seed`` .. ``seed + n_cases - 1``."""
    from ..phantoms.breast_us import generate_breast_sweep

    cases = []
    for index in range(n_cases):
        sweep = generate_breast_sweep(seed + index, n_frames=n_frames, shape_hw=PHANTOM_SHAPE_HW)
        cases.append(SweepCase(f"sweep{seed + index}", sweep.frames, sweep.boxes_xy, sweep.lesion_ids))
    return cases


def phantom_samples(n_sweeps: int, seed: int = 0, n_frames: int = 30) -> list[PictureSample]:
    """Every frame of ``n_sweeps`` synthetic sweeps as training pictures (frames without a lesion: negatives)."""
    samples = []
    for case in phantom_sweep_cases(n_sweeps, seed, n_frames):
        for t, boxes in enumerate(case.truth_boxes):
            samples.append(
                PictureSample(
                    case.frames[t],
                    np.asarray(boxes, np.float32).reshape(-1, 4),
                    f"{case.case_id}#frame{t}",
                    case.case_id,
                )
            )
    return samples


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def busi_mask_paths(picture_path: Path) -> list[Path]:
    """``X_mask.png``, ``X_mask_1.png``, ... beside picture ``X.png`` (BUSI's layout), sorted."""
    return sorted(picture_path.parent.glob(f"{glob_escape(picture_path.stem)}_mask*{picture_path.suffix}"))


def busi_mask(picture_path: Path, shape_hw: tuple[int, int]) -> np.ndarray:
    """The union (height, width) bool of the picture's lesion masks (grey above 127).

    :raises InputError: a mask whose size is not the picture's ``shape_hw``, naming both.
    """
    from PIL import Image as PILImage

    merged = np.zeros(shape_hw, bool)
    for mask_path in busi_mask_paths(picture_path):
        with PILImage.open(mask_path) as mask_picture:
            mask = np.asarray(mask_picture.convert("L")) > 127
        if mask.shape != merged.shape:
            raise InputError(
                f"Mask {mask_path} is {mask.shape[1]} x {mask.shape[0]} but its picture is "
                f"{shape_hw[1]} x {shape_hw[0]}.",
                "Give masks of the picture's size.",
            )
        merged |= mask
    return merged


def read_busi_folder(folder: str | os.PathLike[str]) -> list[PictureSample]:
    """A BUSI-style folder (searched recursively): each picture ``X.png`` with masks ``X_mask*.png``.

    Every connected region of the masks (merged) becomes a box; a picture whose masks are empty (BUSI's
    "normal" class) is a negative. Pictures without any mask file are skipped: they are not annotated.
    """
    from scipy import ndimage

    from ..detectors.data import read_grey_picture

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"BUSI folder {folder} does not exist.", "Give a folder of X.png with X_mask.png beside.")
    samples = []
    pictures = [p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg") and "_mask" not in p.stem]
    for picture_path in sorted(pictures, key=_natural_key):
        if not busi_mask_paths(picture_path):
            continue
        picture = read_grey_picture(picture_path)
        merged = busi_mask(picture_path, picture.shape)
        components, _count = ndimage.label(merged)
        boxes = [[s[1].start, s[0].start, s[1].stop, s[0].stop] for s in ndimage.find_objects(components) if s]
        samples.append(PictureSample(picture, np.array(boxes, np.float32).reshape(-1, 4), str(picture_path)))
    if not samples:
        raise InputError(f"No annotated pictures in {folder}.", "Put X_mask.png beside each picture X.png.")
    return samples


def glob_escape(text: str) -> str:
    """``text`` with glob's special characters escaped (BUSI names hold brackets and parentheses)."""
    return re.sub(r"([*?\[\]])", r"[\1]", text)


# ----- evaluation -----------------------------------------------------------------------------------------
def _froc_counts(result, rate: float) -> dict:
    """TP/FN/FP counts at the FROC operating point for ``rate`` false positives per sequence."""
    index = result.thresholds.index(result.threshold_at[rate])
    detected = round(result.sensitivity[index] * result.n_lesions) if result.n_lesions else 0
    false_positives = round(result.fp_per_sequence[index] * result.n_sequences)
    return {
        "tp": detected,
        "fn": result.n_lesions - detected,
        "fp": false_positives,
        "sensitivity": result.sensitivity_at[rate],
        "threshold": result.threshold_at[rate],
    }


def detect_sweeps(network, cases: Sequence[SweepCase], shorter_side: int, device: str = "cpu"):
    """Run the detector on every frame of every case: per case, a list of FrameBoxes (the boxes the pipeline
    reports: above its floor and in the imaging area) and the seconds per frame."""
    from ..detectors.network import detect_pictures
    from ..pipelines.breast_us import reported_frame_boxes
    from .imaging_area import imaging_area_mask

    per_case, seconds = [], []
    for case in cases:
        found = detect_pictures(network, list(case.frames), device, shorter_side=shorter_side)
        seconds += [per_frame for _boxes, _scores, per_frame in found]
        frames, _outside = reported_frame_boxes(found, list(range(len(found))), imaging_area_mask(case.frames))
        per_case.append(frames)
    return per_case, seconds


def evaluate_sweeps(
    network,
    cases: Sequence[SweepCase],
    shorter_side: int,
    iou_fuse: float = 0.3,
    device: str = "cpu",
    seed: int = 0,
    fp_rates: Sequence[float] = FP_RATES,
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
) -> dict:
    """The study's tables for ``cases`` (:func:`score_sweeps` on the detector's boxes) plus seconds per frame."""
    detections, seconds = detect_sweeps(network, cases, shorter_side, device)
    metrics = score_sweeps(detections, cases, iou_fuse, seed, fp_rates, iou_thresholds)
    metrics["seconds_per_frame"] = float(np.mean(seconds)) if seconds else None
    return metrics


def _sweep_lesions(case: SweepCase):
    """The sweep's true lesion boxes as :class:`~assistcore.metrics.SequenceLesions` (frame and lesion id per box)."""
    from ..metrics import SequenceLesions

    boxes = [np.asarray(b, float).reshape(-1, 4) for b in case.truth_boxes]
    lesion_boxes = np.concatenate(boxes) if boxes else np.zeros((0, 4))
    lesion_frames = np.concatenate([np.full(len(b), t) for t, b in enumerate(boxes)]) if boxes else np.zeros(0)
    lesion_ids = np.concatenate([np.asarray(i).reshape(-1) for i in case.truth_lesion_ids]) if boxes else None
    return SequenceLesions(lesion_boxes, lesion_frames.astype(int), lesion_ids)


def _chi_square_row(results: dict, iou: float, rate: float) -> dict:
    """Single frame against multi-frame sensitivity at one FP rate: the chi-square row of :func:`score_sweeps`."""
    from ..metrics import compare_sensitivities_chi_square

    a, b = _froc_counts(results["single_frame"], rate), _froc_counts(results["multi_frame"], rate)
    total = results["single_frame"].n_lesions
    statistic, p_value = compare_sensitivities_chi_square(a["tp"], total, b["tp"], total)
    # undefined when both methods find none or all of the lesions: null in JSON, not NaN
    statistic, p_value = (None, None) if not np.isfinite(statistic) else (statistic, p_value)
    return {
        "iou": iou,
        "fp_per_sequence": rate,
        "single_frame_tp": a["tp"],
        "multi_frame_tp": b["tp"],
        "lesions": total,
        "chi2": statistic,
        "p": p_value,
    }


def score_sweeps(
    detections: Sequence[Sequence],
    cases: Sequence[SweepCase],
    iou_fuse: float = 0.3,
    seed: int = 0,
    fp_rates: Sequence[float] = FP_RATES,
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
) -> dict:
    """Single random frame against multi-frame fusion, from per-case lists of FrameBoxes (one per frame).

    :returns: {"rows": one row per (iou, method) with sensitivity and TP/FN/FP at each FP rate, "chi_square":
        per (iou, rate) chi2 and p single vs fused, "froc": {name: FrocResult}, "n_sequences", "n_lesions",
        "cases": per-sweep rows}.
    """
    from ..metrics import SequenceDetections, froc
    from ..pipelines.breast_us import fuse_frames

    if len(detections) != len(cases):
        raise InputError(f"{len(detections)} detected sweeps but {len(cases)} sweeps with truth.")
    rng = np.random.default_rng(seed)
    single, fused, truth, case_rows = [], [], [], []
    for case, frames in zip(cases, detections):
        chosen = int(rng.integers(len(frames)))
        single.append(
            SequenceDetections(frames[chosen].boxes, frames[chosen].scores, np.full(len(frames[chosen].scores), chosen))
        )
        groups = fuse_frames(frames, iou_fuse)
        fused.append(
            SequenceDetections(
                np.array([g.best_box_xy for g in groups], float).reshape(-1, 4),
                np.array([g.fused_score for g in groups], float),
                np.array([g.region.peak_index for g in groups], int),
            )
        )
        truth.append(_sweep_lesions(case))
        lesion_ids = truth[-1].lesion_ids
        case_rows.append(
            {
                "case_id": case.case_id,
                "lesions": len(np.unique(lesion_ids)) if lesion_ids is not None else 0,
                "single_frame": chosen,
                "single_frame_boxes": len(single[-1].scores),
                "fused_detections": len(groups),
                "max_fused_score": round(max((g.fused_score for g in groups), default=0.0), 4),
            }
        )
    rows, chi_square, curves = [], [], {}
    for iou in iou_thresholds:
        results = {
            name: froc(found, truth, iou, fp_rates)
            for name, found in (("single_frame", single), ("multi_frame", fused))
        }
        for name, result in results.items():
            curves[f"{name}_iou{iou:g}"] = result
            row = {"iou": iou, "method": name}
            for rate in fp_rates:
                counts = _froc_counts(result, rate)
                row[f"sensitivity_at_{rate:g}fp"] = round(counts["sensitivity"], 4)
                row[f"tp_fn_fp_at_{rate:g}fp"] = f"{counts['tp']}/{counts['fn']}/{counts['fp']}"
            rows.append(row)
        chi_square += [_chi_square_row(results, iou, rate) for rate in fp_rates]
    return {
        "rows": rows,
        "chi_square": chi_square,
        "froc": curves,
        "n_sequences": len(cases),
        "n_lesions": curves[next(iter(curves))].n_lesions if curves else 0,
        "iou_fuse": iou_fuse,
        "cases": case_rows,
    }


def tuned_threshold(
    network, cases: Sequence[SweepCase], shorter_side: int, iou_fuse: float, device: str = "cpu", fp_rate: float = 0.2
) -> float:
    """The fused-score threshold giving the best sensitivity at ``fp_rate`` false positives per sequence (IoU
    0.2) on ``cases`` (tuning sweeps, not the validation ones); 0.5 when no threshold qualifies."""
    metrics = evaluate_sweeps(
        network, cases, shorter_side, iou_fuse, device, iou_thresholds=(0.2,), fp_rates=(fp_rate,)
    )
    threshold = metrics["froc"]["multi_frame_iou0.2"].threshold_at[fp_rate]
    return round(float(threshold), 4) if np.isfinite(threshold) else 0.5


def breast_us_model_card(
    result,
    command: str,
    model_id: str,
    seed: int,
    backbone: str,
    data_description: str,
    synthetic: bool,
    threshold: float,
    shorter_side: int,
    iou_fuse: float,
    threshold_note: str,
) -> dict:
    """The model card of a detector trained by :func:`assistcore.detectors.training.train_detector` on frames."""
    from ..labels import card_labels
    from ..models.card import trained_card_header

    labels = card_labels("breast_us_labels")
    return {
        **trained_card_header(
            model_id,
            "BreastUSAssist Faster R-CNN" + (" (demo)" if synthetic else ""),
            "breast_us",
            "Breast lesion detection on ultrasound cine frames, fused across the frames of a sweep",
            f"torchvision Faster R-CNN ({backbone}) trained from random weights by `radassist breast-us train` on "
            f"{data_description}.",
            "Train and validate on your own annotated sweeps (`radassist breast-us train --busi DIR`) before use.",
            synthetic,
        ),
        "data_source": data_description,
        "data_type": "ultrasound cine: multi-frame DICOM, video file or folder of frames (B-mode, grey)",
        "image_classes": "1 channel (grey, copied to 3): one B-mode frame, row 0 at the skin",
        "label_classes": "1 breast lesion (box)",
        "pred_classes": "boxes (x0, y0, x1, y1) with scores after NMS, per frame; fused detections per sweep",
        "network_data_format": {
            "inputs": {
                "image": {
                    "type": "image",
                    "format": "magnitude",
                    "modality": "US",
                    "num_channels": 3,
                    "channel_def": {"0": "B-mode", "1": "B-mode", "2": "B-mode"},
                }
            },
            "outputs": {
                "pred": {
                    "type": "object_detection",
                    "format": "boxes",
                    "num_channels": 1,
                    "channel_def": {"0": "lesion"},
                }
            },
        },
        "network": result.network,
        "input_channels": [{"name": "B-mode", "role": "cine", "description": "required: grey B-mode frames"}],
        "preprocessing": [
            {"step": "grey_luminance", "note": "colour frames to BT.601 luminance; colour Doppler is refused"},
            {"step": "scale_to_unit", "note": "8-bit / 255 (other depths by their stored range)"},
            {"step": "grey_to_3_channels"},
            {"step": "resize_shorter_side", "pixels": shorter_side},
            {"step": "network_normalize", "mean": 0.5, "std": 0.25},
        ],
        "postprocessing": [
            {"step": "nms", "note": "torchvision RoI heads, IoU 0.5"},
            {"step": "report_floor", "score": 0.05},
            {
                "step": "fuse_frames",
                "iou": iou_fuse,
                "note": "boxes of any two frames with IoU >= this are one "
                "lesion; fused score = the group's highest box score",
            },
        ],
        "inference": {"mode": "per_frame", "batch_size": 4, "shorter_side": shorter_side},
        "labels": labels,
        "operating_thresholds": {"lesion": threshold},
        "operating_threshold_note": threshold_note,
        **detector_card_sections(result, command, seed, backbone),
    }


def validation_numbers(metrics: dict, n_sweeps: int) -> dict:
    """The card's validation entries from :func:`evaluate_sweeps`: sensitivity at each FP rate and IoU."""
    numbers: dict = {"dataset": f"{n_sweeps} fresh synthetic sweeps (seeds not used in training)", "n": n_sweeps}
    for row in metrics["rows"]:
        for key, value in row.items():
            if key.startswith("sensitivity_at_"):
                numbers[f"{row['method']}_{key}_iou{row['iou']:g}"] = value
    numbers["seconds_per_frame"] = metrics["seconds_per_frame"]
    return numbers
