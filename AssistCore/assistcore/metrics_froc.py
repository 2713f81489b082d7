"""Detection metrics: box IoU, lesion hits per sequence and the FROC (sensitivity against false positives per
sequence) with its picture. Boxes are (x0, y0, x1, y1) with x1 >= x0 and y1 >= y0, in any units used
consistently. Conventions: :mod:`assistcore.metrics`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .metrics_common import _figure, _json_safe, _save_figure

# ------------------------------------------------------------------------------------- detection / FROC


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes (..., 4) broadcast against boxes (..., 4); zero-area unions give 0."""
    top_left = np.maximum(a[..., :2], b[..., :2])
    bottom_right = np.minimum(a[..., 2:], b[..., 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0.0, None), axis=-1)
    area_a = np.prod(np.clip(a[..., 2:] - a[..., :2], 0.0, None), axis=-1)
    area_b = np.prod(np.clip(b[..., 2:] - b[..., :2], 0.0, None), axis=-1)
    union = area_a + area_b - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair: boxes (N, 4) and (M, 4) as (x0, y0, x1, y1) -> (N, M).

    Units are whatever the boxes use (they must agree). Pairs whose union has zero area get IoU 0.
    """
    a = np.asarray(boxes_a, dtype=float).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=float).reshape(-1, 4)
    return _iou(a[:, None, :], b[None, :, :])


def _hit_pairs(
    found: SequenceDetections, truth: SequenceLesions, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """(detection index, lesion-box index) of every pair with IoU >= threshold (on the same frame if framed).

    With frames only same-frame pairs are compared, so a cine clip of thousands of frames costs what its
    per-frame pairs cost, not detections x lesion boxes.
    """
    n_boxes = truth.boxes.shape[0]
    if found.frames is None or truth.frames is None:
        detection_index, box_index = (x.ravel() for x in np.indices((found.boxes.shape[0], n_boxes)))
    else:
        order = np.argsort(found.frames, kind="stable")
        sorted_frames = found.frames[order]
        starts = np.searchsorted(sorted_frames, truth.frames, side="left")
        counts = np.searchsorted(sorted_frames, truth.frames, side="right") - starts
        box_index = np.repeat(np.arange(n_boxes), counts)
        # positions starts[b] .. starts[b] + counts[b] - 1 for every box b, concatenated without a loop
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        detection_index = order[np.repeat(starts, counts) + offsets]
    keep = _iou(found.boxes[detection_index], truth.boxes[box_index]) >= iou_threshold
    return detection_index[keep], box_index[keep]


@dataclass
class SequenceDetections:
    """Detections of one sequence (e.g. one ultrasound cine clip).

    ``boxes`` (N, 4) as (x0, y0, x1, y1); ``scores`` (N,); ``frames`` (N,) frame index of each box, or None.
    """

    boxes: np.ndarray
    scores: np.ndarray
    frames: np.ndarray | None = None


@dataclass
class SequenceLesions:
    """Reference lesions of one sequence.

    ``boxes`` (L, 4); ``frames`` (L,) frame index of each box, or None; ``lesion_ids`` (L,) or None. Without
    ids every box is its own lesion; boxes sharing an id are one lesion seen on several frames, detected
    when any of its boxes is hit (so sensitivity counts lesions, not lesion-frames).
    """

    boxes: np.ndarray
    frames: np.ndarray | None = None
    lesion_ids: np.ndarray | None = None


@dataclass
class FrocResult:
    """Free-response ROC over sequences.

    The curve (``thresholds``, ``fp_per_sequence``, ``sensitivity``) starts at (+inf, 0, 0) and has one point
    per distinct detection score, high to low. ``sensitivity_at[r]`` / ``threshold_at[r]``: the best
    sensitivity with at most ``r`` false positives per sequence, and the lowest score threshold reaching it
    (+inf when no threshold keeps the FP rate that low: nothing may be called).
    """

    iou_threshold: float
    fp_rates: list[float]
    sensitivity_at: dict[float, float]
    threshold_at: dict[float, float]
    thresholds: list[float]
    fp_per_sequence: list[float]
    sensitivity: list[float]
    n_lesions: int
    n_sequences: int

    def to_dict(self) -> dict:
        """Strict-JSON dict; the rate keys become strings ("0.1")."""
        return _json_safe(asdict(self))


def _as_detections(item, index: int) -> SequenceDetections:
    if isinstance(item, SequenceDetections):
        found = item
    elif isinstance(item, (tuple, list)) and len(item) in (2, 3):
        found = SequenceDetections(*item)
    else:
        raise InputError(
            f"Detections of sequence {index} are a {type(item).__name__}.",
            "Give (boxes (N,4), scores (N,)) or (boxes, scores, frames) or a SequenceDetections.",
        )
    boxes = np.asarray(found.boxes, dtype=float).reshape(-1, 4) if np.size(found.boxes) else np.zeros((0, 4))
    scores = np.asarray(found.scores, dtype=float).reshape(-1)
    if scores.size != boxes.shape[0]:
        raise InputError(f"Sequence {index}: {boxes.shape[0]} detection boxes but {scores.size} scores.")
    if not np.all(np.isfinite(scores)):
        raise InputError(f"Sequence {index}: detection scores hold NaN or infinite values.")
    frames = None if found.frames is None else np.asarray(found.frames).reshape(-1)
    if frames is not None and frames.size != boxes.shape[0]:
        raise InputError(f"Sequence {index}: {boxes.shape[0]} detection boxes but {frames.size} frame indices.")
    return SequenceDetections(boxes, scores, frames)


def _as_lesions(item, index: int) -> SequenceLesions:
    if isinstance(item, SequenceLesions):
        truth = item
    elif isinstance(item, (tuple, list)) and len(item) in (2, 3) and np.ndim(item[0]) == 2:
        truth = SequenceLesions(*item)  # (boxes, frames[, lesion_ids])
    else:
        truth = SequenceLesions(item)  # a bare (L, 4) array or list of boxes
    boxes = np.asarray(truth.boxes, dtype=float).reshape(-1, 4) if np.size(truth.boxes) else np.zeros((0, 4))
    frames = None if truth.frames is None else np.asarray(truth.frames).reshape(-1)
    ids = np.arange(boxes.shape[0]) if truth.lesion_ids is None else np.asarray(truth.lesion_ids).reshape(-1)
    for name, values in (("frame indices", frames), ("lesion ids", ids)):
        if values is not None and values.size != boxes.shape[0]:
            raise InputError(f"Sequence {index}: {boxes.shape[0]} lesion boxes but {values.size} {name}.")
    return SequenceLesions(boxes, frames, ids)


def froc(
    detections: Sequence,
    ground_truth: Sequence,
    iou_threshold: float,
    fp_rates: Sequence[float] = (0.1, 0.2, 0.5),
) -> FrocResult:
    """FROC per sequence: sensitivity against false positives per sequence, over all score thresholds.

    :param detections: one entry per sequence: ``(boxes (N, 4), scores (N,))``, ``(boxes, scores, frames
        (N,))`` or a :class:`SequenceDetections`.
    :param ground_truth: one entry per sequence, same order: a (L, 4) array of lesion boxes, ``(boxes,
        frames (L,))``, ``(boxes, frames, lesion_ids)`` or a :class:`SequenceLesions` (empty for a sequence
        without lesions).
    :param iou_threshold: minimum IoU for a detection to hit a lesion box (the breast study used 0.2 and 0.5).
    :param fp_rates: the operating points reported, in false positives per sequence.

    Rules, at each score threshold t (every distinct detection score, from high to low; a detection is kept
    when its score >= t):

    1. A detection hits a lesion box when their IoU >= ``iou_threshold`` and, when frame indices are given,
       both lie on the same frame. Frames must be given for both or neither (else :class:`InputError`).
    2. A lesion is detected when any kept detection hits any of its boxes. Sensitivity = detected lesions /
       all lesions over all sequences (NaN when there are none).
    3. A kept detection that hits no lesion box of its sequence is one false positive. A second detection
       on an already-found lesion is not a false positive (nor a second hit).
    4. FP per sequence = all false positives / number of sequences (sequences without lesions count).
    5. ``sensitivity_at[r]`` = the highest sensitivity on the curve with FP per sequence <= r (0 when only
       the empty operating point qualifies).
    """
    if len(detections) != len(ground_truth):
        raise InputError(f"{len(detections)} detection sequences but {len(ground_truth)} ground-truth sequences.")
    if not len(detections):
        raise InputError("FROC needs at least one sequence.")
    all_scores, unmatched_scores, lesion_scores = [], [], []
    for index, (found_item, truth_item) in enumerate(zip(detections, ground_truth)):
        found, truth = _as_detections(found_item, index), _as_lesions(truth_item, index)
        if (found.frames is None) != (truth.frames is None) and found.boxes.shape[0] and truth.boxes.shape[0]:
            raise InputError(
                f"Sequence {index}: frame indices given for the "
                f"{'detections' if truth.frames is None else 'lesions'} only.",
                "Give frames for both (per-frame matching) or for neither.",
            )
        detection_index, box_index = _hit_pairs(found, truth, iou_threshold)
        matched = np.zeros(found.scores.size, dtype=bool)
        matched[detection_index] = True
        all_scores.append(found.scores)
        unmatched_scores.append(found.scores[~matched])
        # best score hitting each lesion: the lesion is found at every threshold <= that score
        _, lesion_of_box = np.unique(truth.lesion_ids, return_inverse=True)
        lesion_best = np.full(int(lesion_of_box.max(initial=-1)) + 1, -np.inf)
        np.maximum.at(lesion_best, lesion_of_box[box_index], found.scores[detection_index])
        lesion_scores.append(lesion_best)
    scores = np.concatenate(all_scores)
    unmatched = np.sort(np.concatenate(unmatched_scores))
    lesion_best = np.sort(np.concatenate(lesion_scores))
    n_sequences, n_lesions = len(detections), lesion_best.size
    thresholds = np.r_[np.inf, np.unique(scores)[::-1]]
    # counts of values >= t in a sorted array: size minus the insertion point on the left of t
    false_positives = unmatched.size - np.searchsorted(unmatched, thresholds, side="left")
    detected = lesion_best.size - np.searchsorted(lesion_best, thresholds, side="left")
    fp_per_sequence = false_positives / n_sequences
    sensitivity = detected / n_lesions if n_lesions else np.full(thresholds.size, np.nan)
    sensitivity_at, threshold_at = {}, {}
    for rate in fp_rates:
        allowed = np.flatnonzero(fp_per_sequence <= rate)  # never empty: the +inf point has 0 FP
        last = int(allowed[-1])  # both curves grow with falling t, so the last allowed point is the best
        sensitivity_at[float(rate)] = float(sensitivity[last])
        threshold_at[float(rate)] = float(thresholds[last])
    return FrocResult(
        iou_threshold=float(iou_threshold),
        fp_rates=[float(rate) for rate in fp_rates],
        sensitivity_at=sensitivity_at,
        threshold_at=threshold_at,
        thresholds=thresholds.tolist(),
        fp_per_sequence=fp_per_sequence.tolist(),
        sensitivity=sensitivity.tolist(),
        n_lesions=n_lesions,
        n_sequences=n_sequences,
    )


def plot_froc(
    froc_result: FrocResult | Sequence[tuple[str, FrocResult]], path: str | os.PathLike[str], title: str = "FROC"
) -> Path:
    """Write FROC curves as a PNG (written atomically) and return its path.

    :param froc_result: one result, or (name, result) pairs to overlay (e.g. IoU 0.2 and 0.5). The reported
        operating points (``sensitivity_at``) are marked and listed in the legend.
    """
    curves = [("model", froc_result)] if isinstance(froc_result, FrocResult) else list(froc_result)
    if not curves:
        raise InputError("plot_froc was given no FROC curves.")
    figure = _figure()
    axes = figure.add_subplot(1, 1, 1)
    largest_rate = 0.0
    for name, result in curves:
        points = ", ".join(f"{rate:g}: {result.sensitivity_at[rate]:.2f}" for rate in result.fp_rates)
        (line,) = axes.step(
            result.fp_per_sequence,
            result.sensitivity,
            where="post",
            linewidth=2,
            label=f"{name} (IoU {result.iou_threshold:g}; sens. at FP/seq {points})",
        )
        axes.plot(result.fp_rates, [result.sensitivity_at[r] for r in result.fp_rates], "o", color=line.get_color())
        largest_rate = max(largest_rate, *result.fp_rates, min(result.fp_per_sequence[-1], 4 * max(result.fp_rates)))
    axes.set(
        xlabel="false positives per sequence",
        ylabel="sensitivity",
        title=title,
        xlim=(0, largest_rate * 1.05 or 1.0),
        ylim=(0, 1.01),
    )
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=7)
    return _save_figure(figure, path)
