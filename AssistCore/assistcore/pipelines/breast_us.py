"""BreastUSAssist pipeline: an ultrasound cine in, lesion boxes per frame and lesions fused across frames out.

Following the breast cine study: every frame goes through the lesion detector (single-frame output), then the
boxes of all frames of the sweep are grouped by IoU (decision-level fusion: two boxes on any two frames join
when their IoU reaches ``iou_fuse``; a group is one detection of the sequence) with its frame range, best
frame and fused score (the group's highest box score). Both outputs are kept.

Boxes are (x0, y0, x1, y1) pixel edges of the frame (x right, y down); with a known pixel spacing they are
also given in mm. ``run`` is what the Slicer module calls (cine already read); the command line adds reading
and the output folder (:mod:`radassist.breast_us_app`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..breastus.cine import Cine
from ..detection import FrameBoxes, link_boxes
from ..errors import InputError
from ..models.runner import CancelToken, ProgressReporter
from .breast_us_outputs import render_frame as render_frame
from .breast_us_outputs import write_overlays as write_overlays
from .breast_us_outputs import write_report as write_report
from .breast_us_outputs import write_result_files as write_result_files
from .breast_us_result import MALIGNANCY_NOTE as MALIGNANCY_NOTE
from .breast_us_result import BreastUsResult as BreastUsResult
from .breast_us_result import FusedDetection as FusedDetection

STAGES = (("load", 1.0), ("detect", 8.0), ("fuse", 0.2))
#: operating threshold when the model card names none
DEFAULT_THRESHOLD = 0.5
#: boxes below this are dropped before anything is reported or fused (the slider in Slicer starts here)
REPORT_FLOOR = 0.05
#: boxes on any two frames of a sweep overlapping at least this much are one lesion (the study's preset IoU)
FUSE_IOU = 0.3
#: the detector's input scale when the card gives none: the frame's shorter side resized to this many pixels
DEFAULT_SHORTER_SIDE = 256


def check_cine_frames(cine: Cine) -> None:
    """Refuse frames the detector cannot read: not (T, H, W), tiny, or not finite."""
    frames = cine.frames
    if frames.ndim != 3 or frames.shape[0] < 1:
        raise InputError(f"{cine.source_path}: frames have shape {frames.shape}, not (frames, rows, columns).")
    if min(frames.shape[1:]) < 32:
        raise InputError(
            f"{cine.source_path}: frames of {frames.shape[2]} x {frames.shape[1]} pixels are too small to read.",
            "Give the ultrasound frames at their stored size.",
        )
    if not np.isfinite(frames).all():
        raise InputError(f"{cine.source_path}: frames hold NaN or infinite values.", "Re-export the cine.")


def _card_and_network(model_id: str | None, device: str):
    """The model (the given one, else the breast US default), its network on the chosen device, the choice."""
    from ..models.registry import load_card_and_network

    return load_card_and_network("breast_us", model_id, device)


def card_threshold(card) -> float:
    """The card's operating threshold for a lesion, else :data:`DEFAULT_THRESHOLD`."""
    try:
        return card.threshold("lesion")
    except Exception:  # a card without an operating point
        return DEFAULT_THRESHOLD


def card_fuse_iou(card) -> float:
    """The fusion IoU the model was validated with (its card's ``fuse_frames`` step), else :data:`FUSE_IOU`."""
    steps = {step.get("step"): step for step in card.data.get("postprocessing", [])}
    return float(steps.get("fuse_frames", {}).get("iou", FUSE_IOU))


def card_shorter_side(card) -> int:
    """The frame size the detector was trained at (its card's ``inference.shorter_side``)."""
    return int(card.data.get("inference", {}).get("shorter_side", DEFAULT_SHORTER_SIDE))


def reported_frame_boxes(
    found: list[tuple[np.ndarray, np.ndarray, float]], indices: list[int], area_mask_hw: np.ndarray | None
) -> tuple[list[FrameBoxes], int]:
    """The detector's (boxes, scores, seconds) per frame as FrameBoxes of the boxes worth reporting: scoring
    at least :data:`REPORT_FLOOR` and, with an imaging-area mask, at least half inside it. Also returns how
    many boxes above the floor lay outside the imaging area."""
    from ..breastus.imaging_area import MIN_INSIDE_FRACTION, inside_fractions, summed_area_table

    frames, outside = [], 0
    integral = None if area_mask_hw is None else summed_area_table(area_mask_hw)
    for t, (boxes, scores, _seconds) in zip(indices, found):
        keep = scores >= REPORT_FLOOR
        if area_mask_hw is not None and keep.any():
            inside = inside_fractions(boxes, area_mask_hw, integral) >= MIN_INSIDE_FRACTION
            outside += int((keep & ~inside).sum())
            keep &= inside
        frames.append(FrameBoxes(t, boxes[keep].astype(np.float64), scores[keep].astype(np.float64)))
    return frames, outside


def fuse_frames(frames: list[FrameBoxes], iou_fuse: float) -> list[FusedDetection]:
    """Decision-level fusion: boxes of any two frames with IoU >= ``iou_fuse`` are one detection."""
    regions = link_boxes(frames, iou_fuse, max_gap=None)
    by_index = {frame.index: frame for frame in frames}
    return [
        FusedDetection(region, tuple(float(v) for v in by_index[region.peak_index].boxes[region.peak_row]))
        for region in regions
    ]


def _score_malignancy(card, cine: Cine, fused: list[FusedDetection]) -> None:
    """Each fused lesion's malignancy score on its best frame, when the model folder has ``malignancy.json``."""
    from ..breastus.malignancy import box_features, malignancy_score, read_malignancy_model

    model = read_malignancy_model(card.folder) if getattr(card, "folder", None) else None
    if model is None:
        return
    for item in fused:
        frame = np.asarray(cine.frames[item.region.peak_index], np.float32)
        item.malignancy_score = float(malignancy_score(model, box_features(frame, item.best_box_xy))[0])


def run(
    cine: Cine,
    options: dict[str, Any] | None = None,
    progress: Callable | None = None,
    cancel_token: CancelToken | None = None,
) -> BreastUsResult:
    """Detect lesions on every frame of ``cine`` and fuse them across frames.

    Options: ``threshold`` (default the model's operating point), ``iou_fuse`` (default the model's, 0.3), ``model_id``,
    ``device`` (auto), ``frames`` (an inclusive (first, last) frame range; default all), ``imaging_area``
    (True: boxes mostly outside the image's sector or rectangle, on black background or labels, are dropped;
    :mod:`assistcore.breastus.imaging_area`).
    """
    options = dict(options or {})
    cancel_token = cancel_token or CancelToken()
    report = ProgressReporter(STAGES, progress)
    check_cine_frames(cine)
    iou_fuse, (first, last) = _checked_fusion_and_frames(cine, options)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    report("load", 0.0, "loading model")
    card, network, device_choice = _card_and_network(options.get("model_id"), options.get("device", "auto"))
    timings["load_model"] = time.perf_counter() - started
    threshold = float(options["threshold"]) if options.get("threshold") is not None else card_threshold(card)
    iou_fuse = card_fuse_iou(card) if iou_fuse is None else iou_fuse
    cancel_token.raise_if_cancelled()

    started = time.perf_counter()
    report("detect", 0.0, f"detector on {device_choice.device}")
    indices = list(range(first, last + 1))
    found = _detect_frames(cine, indices, network, device_choice.device, card, cancel_token, report)
    timings["detect"] = time.perf_counter() - started

    started = time.perf_counter()
    report("fuse", 0.0, "fusing boxes across frames")
    area_mask = None
    if options.get("imaging_area", True):
        from ..breastus.imaging_area import imaging_area_mask

        area_mask = imaging_area_mask(cine.frames, cine.region_xy)
    frames, outside = reported_frame_boxes(found, indices, area_mask)
    fused = fuse_frames(frames, iou_fuse)
    _score_malignancy(card, cine, fused)
    timings["fuse"] = time.perf_counter() - started
    provenance = _provenance(card, device_choice, threshold, iou_fuse, (first, last))
    report("fuse", 1.0, "done")
    per_frame = float(np.mean([seconds for _b, _s, seconds in found])) if found else 0.0
    area = {
        "fraction_of_frame": round(float(area_mask.mean()), 4) if area_mask is not None else 1.0,
        "boxes_outside_dropped": outside,
        "used": area_mask is not None,
    }
    return BreastUsResult(
        cine,
        frames,
        fused,
        threshold,
        iou_fuse,
        provenance,
        {k: round(v, 3) for k, v in timings.items()},
        per_frame,
        imaging_area=area,
    )


def _checked_fusion_and_frames(cine: Cine, options: dict[str, Any]) -> tuple[float | None, tuple[int, int]]:
    """The ``iou_fuse`` option (None: the card's) and the inclusive frame range, refused when out of range."""
    iou_fuse = None if options.get("iou_fuse") is None else float(options["iou_fuse"])
    if iou_fuse is not None and not 0.0 < iou_fuse <= 1.0:
        raise InputError(f"Fusion IoU {iou_fuse} is outside (0, 1].", "Give --iou-fuse between 0 and 1, e.g. 0.3.")
    first, last = options.get("frames") or (0, cine.n_frames - 1)
    if not 0 <= first <= last < cine.n_frames:
        raise InputError(
            f"Frame range {first}..{last} is outside the cine (0..{cine.n_frames - 1}).", "Give frames within it."
        )
    return iou_fuse, (first, last)


def _detect_frames(
    cine: Cine, indices: list[int], network, device: str, card, cancel_token: CancelToken, report: ProgressReporter
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The detector's (boxes, scores, seconds) on each frame of ``indices``, cancellable between frames."""
    from ..detectors.network import detect_pictures

    return detect_pictures(
        network,
        [np.ascontiguousarray(cine.frames[t], dtype=np.float32) for t in indices],
        device,
        cancel_check=cancel_token.raise_if_cancelled,
        progress=lambda fraction, message: report("detect", fraction, message),
        shorter_side=card_shorter_side(card),
    )


def _provenance(card, device_choice, threshold: float, iou_fuse: float, frames: tuple[int, int]) -> dict:
    """The report's ``model`` section: the card's provenance, backbone and this run's parameters."""
    return {
        **card.provenance(device_choice),
        "backbone": card.data.get("training", {}).get("backbone", ""),
        "parameters": {
            "threshold": threshold,
            "iou_fuse": iou_fuse,
            "frames": list(frames),
            "shorter_side": card_shorter_side(card),
        },
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
