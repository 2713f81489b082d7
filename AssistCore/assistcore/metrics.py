"""Metrics the source studies report: the diagnostic table, ROC AUC with a CI, FROC, Dice and HD95.

Proportions carry 95% Wilson score intervals (good coverage for small samples and proportions near 0 or 1,
unlike the normal approximation). AUC intervals use DeLong's variance (DeLong et al. 1988, the fast
algorithm of Sun & Xu 2014), or a seeded bootstrap. Ratios that divide by zero are NaN, never exceptions.
Volumes are arrays (k, j, i); spacing is (i, j, k) in mm as in :class:`assistcore.image.Image`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from .atomic import atomic_path
from .errors import InputError

Z_95 = 1.959963984540054


def _divide(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def wilson_interval(successes: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion (NaN, NaN when ``total`` is 0)."""
    if total == 0:
        return (float("nan"), float("nan"))
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class DiagnosticTable:
    """Confusion counts and the study metrics with 95% Wilson intervals for the proportions."""

    tp: int
    fp: int
    tn: int
    fn: int
    accuracy: float
    sensitivity: float
    specificity: float
    ppv: float
    npv: float
    positive_likelihood_ratio: float
    negative_likelihood_ratio: float
    f1: float
    ci95: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    def to_dict(self) -> dict:
        return {**asdict(self), "n": self.n}


def diagnostic_table(y_true: Iterable, y_pred: Iterable) -> DiagnosticTable:
    """The 2x2 table and its metrics for binary truth and predictions (anything truthy is positive)."""
    truth = np.asarray(list(y_true), dtype=bool)
    predicted = np.asarray(list(y_pred), dtype=bool)
    if truth.shape != predicted.shape:
        raise InputError(f"{truth.size} truths but {predicted.size} predictions.")
    tp = int(np.sum(truth & predicted))
    fp = int(np.sum(~truth & predicted))
    tn = int(np.sum(~truth & ~predicted))
    fn = int(np.sum(truth & ~predicted))
    sensitivity, specificity = _divide(tp, tp + fn), _divide(tn, tn + fp)
    ppv, npv = _divide(tp, tp + fp), _divide(tn, tn + fn)
    if specificity == 1.0 and sensitivity > 0:
        positive_lr = float("inf")
    else:
        positive_lr = _divide(sensitivity, 1 - specificity)
    negative_lr = _divide(1 - sensitivity, specificity)
    counts = {
        "accuracy": (tp + tn, tp + tn + fp + fn),
        "sensitivity": (tp, tp + fn),
        "specificity": (tn, tn + fp),
        "ppv": (tp, tp + fp),
        "npv": (tn, tn + fn),
    }
    return DiagnosticTable(
        tp,
        fp,
        tn,
        fn,
        accuracy=_divide(tp + tn, tp + tn + fp + fn),
        sensitivity=sensitivity,
        specificity=specificity,
        ppv=ppv,
        npv=npv,
        positive_likelihood_ratio=positive_lr,
        negative_likelihood_ratio=negative_lr,
        f1=_divide(2 * tp, 2 * tp + fp + fn),
        ci95={name: wilson_interval(*pair) for name, pair in counts.items()},
    )


def diagnostic_table_from_scores(y_true: Iterable, scores: Iterable, threshold: float) -> DiagnosticTable:
    """Positive when score >= threshold (the study's operating point, e.g. 0.7)."""
    return diagnostic_table(y_true, np.asarray(list(scores), dtype=float) >= threshold)


@dataclass
class RocResult:
    auc: float
    ci95: tuple[float, float]
    ci_method: str
    fpr: list[float]
    tpr: list[float]
    thresholds: list[float]
    youden_threshold: float
    n_positive: int
    n_negative: int

    def to_dict(self) -> dict:
        return asdict(self)


def _midrank(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(values, method="average")


def delong_variance(y_true: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """AUC and its DeLong variance (fast algorithm: midranks of positives, negatives and both)."""
    positives, negatives = scores[y_true], scores[~y_true]
    m, n = positives.size, negatives.size
    ranks_all = _midrank(np.concatenate([positives, negatives]))
    ranks_positive, ranks_negative = _midrank(positives), _midrank(negatives)
    auc = (ranks_all[:m].sum() - m * (m + 1) / 2) / (m * n)
    v10 = (ranks_all[:m] - ranks_positive) / n  # structural components of the positives
    v01 = 1.0 - (ranks_all[m:] - ranks_negative) / m  # ... and of the negatives
    s10 = np.var(v10, ddof=1) if m > 1 else 0.0
    s01 = np.var(v01, ddof=1) if n > 1 else 0.0
    return float(auc), float(s10 / m + s01 / n)


def roc_analysis(
    y_true: Iterable, scores: Iterable, method: str = "delong", n_bootstrap: int = 2000, seed: int = 0
) -> RocResult:
    """ROC curve (scikit-learn), AUC with a 95% CI (DeLong, or a percentile bootstrap), Youden threshold."""
    from sklearn.metrics import roc_auc_score, roc_curve

    truth = np.asarray(list(y_true), dtype=bool)
    values = np.asarray(list(scores), dtype=float)
    if truth.all() or not truth.any():
        raise InputError(
            f"ROC analysis needs positive and negative cases; got {int(truth.sum())} positive of {truth.size}.",
            "Evaluate on a set holding both classes.",
        )
    auc = float(roc_auc_score(truth, values))
    if method == "delong":
        _, variance = delong_variance(truth, values)
        half = Z_95 * math.sqrt(variance)
        ci = (max(0.0, auc - half), min(1.0, auc + half))
    elif method == "bootstrap":
        rng = np.random.default_rng(seed)
        samples = []
        for _ in range(n_bootstrap):
            index = rng.integers(0, truth.size, truth.size)
            if truth[index].all() or not truth[index].any():
                continue
            samples.append(roc_auc_score(truth[index], values[index]))
        ci = tuple(float(v) for v in np.percentile(samples, [2.5, 97.5]))
    else:
        raise InputError(f"Unknown CI method {method!r}.", "Use delong or bootstrap.")
    fpr, tpr, thresholds = roc_curve(truth, values)
    best = int(np.argmax(tpr - fpr))
    return RocResult(
        auc,
        ci,
        method,
        fpr.tolist(),
        tpr.tolist(),
        [float(t) for t in thresholds],
        float(thresholds[best]),
        int(truth.sum()),
        int((~truth).sum()),
    )


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 5), dpi=120)
    FigureCanvasAgg(figure)
    return figure


def _save_figure(figure, path) -> None:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")


def plot_roc(
    curves: RocResult | Sequence[tuple[str, RocResult]], path: str | os.PathLike[str], title: str = "ROC"
) -> None:
    """ROC curves as PNG, AUC and 95% CI in the legend, the chance diagonal dashed."""
    if isinstance(curves, RocResult):
        curves = [("model", curves)]
    figure = _figure()
    axes = figure.add_subplot(1, 1, 1)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    for name, roc in curves:
        axes.plot(
            roc.fpr,
            roc.tpr,
            linewidth=2,
            label=f"{name}: AUC {roc.auc:.3f} (95% CI {roc.ci95[0]:.3f}-{roc.ci95[1]:.3f})",
        )
    axes.set(xlabel="1 - specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    axes.legend(loc="lower right", fontsize=8)
    _save_figure(figure, path)


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes (x0, y0, x1, y1): shape (N, M)."""
    a = np.asarray(boxes_a, dtype=float).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=float).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1), 0.0)


@dataclass
class SequenceDetections:
    """Detections of one sequence: boxes (N, 4), scores (N,), optional frame index per box."""

    boxes: np.ndarray
    scores: np.ndarray
    frames: np.ndarray | None = None


@dataclass
class SequenceLesions:
    """Reference lesions of one sequence: boxes (L, 4), optional frame index per box."""

    boxes: np.ndarray
    frames: np.ndarray | None = None


@dataclass
class FrocResult:
    iou_threshold: float
    sensitivity_at: dict[float, float]
    fp_per_sequence: list[float]
    sensitivity: list[float]
    thresholds: list[float]
    n_lesions: int
    n_sequences: int

    def to_dict(self) -> dict:
        return {**asdict(self), "sensitivity_at": {str(k): v for k, v in self.sensitivity_at.items()}}


def froc(
    detections: Sequence[SequenceDetections],
    lesions: Sequence[SequenceLesions],
    iou_threshold: float,
    fp_rates: Sequence[float] = (0.1, 0.2, 0.5),
) -> FrocResult:
    """Free-response ROC over sequences.

    Rules, at every score threshold t (all distinct detection scores, high to low):
    a lesion is detected when a detection with score >= t overlaps it with IoU >= ``iou_threshold`` (on the
    same frame when frames are given); a detection with score >= t that overlaps no lesion that well is a
    false positive. Sensitivity = detected lesions / all lesions; FP rate = false positives / sequences.
    ``sensitivity_at[r]`` is the highest sensitivity reached with an FP rate <= r (0 when none).
    """
    if len(detections) != len(lesions):
        raise InputError(f"{len(detections)} detection sequences but {len(lesions)} reference sequences.")
    total_lesions = sum(len(np.asarray(les.boxes).reshape(-1, 4)) for les in lesions)
    matches = []  # per sequence: (scores, matched (N, L) bool)
    for found, truth in zip(detections, lesions):
        boxes, truth_boxes = np.asarray(found.boxes).reshape(-1, 4), np.asarray(truth.boxes).reshape(-1, 4)
        overlap = box_iou(boxes, truth_boxes) >= iou_threshold
        if found.frames is not None and truth.frames is not None:
            overlap &= np.asarray(found.frames)[:, None] == np.asarray(truth.frames)[None, :]
        matches.append((np.asarray(found.scores, dtype=float), overlap))
    all_scores = np.unique(np.concatenate([m[0] for m in matches] or [np.zeros(0)]))[::-1]
    fp_rates_curve, sensitivities = [0.0], [0.0]
    for threshold in all_scores:
        detected, false_positives = 0, 0
        for scores, overlap in matches:
            kept = scores >= threshold
            detected += int(overlap[kept].any(axis=0).sum()) if overlap.shape[1] else 0
            false_positives += int((kept & ~overlap.any(axis=1)).sum()) if overlap.size else int(kept.sum())
        fp_rates_curve.append(false_positives / max(len(detections), 1))
        sensitivities.append(_divide(detected, total_lesions))
    curve_fp, curve_sensitivity = np.array(fp_rates_curve), np.array(sensitivities)
    sensitivity_at = {
        float(rate): float(np.nanmax(np.where(curve_fp <= rate, curve_sensitivity, 0.0))) for rate in fp_rates
    }
    return FrocResult(
        iou_threshold,
        sensitivity_at,
        fp_rates_curve,
        sensitivities,
        [float("inf"), *all_scores.tolist()],
        total_lesions,
        len(detections),
    )


def plot_froc(curves: Sequence[tuple[str, FrocResult]], path: str | os.PathLike[str], title: str = "FROC") -> None:
    figure = _figure()
    axes = figure.add_subplot(1, 1, 1)
    for name, result in curves:
        axes.step(
            result.fp_per_sequence,
            result.sensitivity,
            where="post",
            linewidth=2,
            label=f"{name} (IoU {result.iou_threshold})",
        )
    axes.set(xlabel="false positives per sequence", ylabel="sensitivity", title=title, ylim=(0, 1.01))
    axes.legend(loc="lower right", fontsize=8)
    _save_figure(figure, path)


def dice_per_label(prediction_kji: np.ndarray, reference_kji: np.ndarray, labels: Iterable[int]) -> dict[int, float]:
    """Dice per label value; 1.0 when both are empty for that label (nothing to find, nothing found)."""
    result = {}
    for label in labels:
        predicted, reference = prediction_kji == label, reference_kji == label
        total = int(predicted.sum() + reference.sum())
        result[int(label)] = 1.0 if total == 0 else 2.0 * int((predicted & reference).sum()) / total
    return result


def _surface(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return mask & ~ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(3, 1), border_value=0)


def hausdorff95(prediction: np.ndarray, reference: np.ndarray, spacing_mm: Sequence[float]) -> float:
    """95th-percentile symmetric surface distance in mm between two masks (k, j, i), spacing (i, j, k).

    Both empty: 0 (they agree). One empty: inf (no surface to measure to; report it, do not average it).
    """
    from scipy import ndimage

    prediction, reference = prediction.astype(bool), reference.astype(bool)
    if not prediction.any() and not reference.any():
        return 0.0
    if not prediction.any() or not reference.any():
        return float("inf")
    sampling_kji = tuple(float(s) for s in spacing_mm)[::-1]
    surface_p, surface_r = _surface(prediction), _surface(reference)
    distance_to_r = ndimage.distance_transform_edt(~surface_r, sampling=sampling_kji)
    distance_to_p = ndimage.distance_transform_edt(~surface_p, sampling=sampling_kji)
    distances = np.concatenate([distance_to_r[surface_p], distance_to_p[surface_r]])
    return float(np.percentile(distances, 95))


def hausdorff95_per_label(
    prediction_kji: np.ndarray, reference_kji: np.ndarray, labels: Iterable[int], spacing_mm: Sequence[float]
) -> dict[int, float]:
    return {int(label): hausdorff95(prediction_kji == label, reference_kji == label, spacing_mm) for label in labels}


def format_table(rows: Sequence[dict], float_format: str = "{:.3f}") -> str:
    """Rows of dicts as an aligned plain-text table for the command line."""
    if not rows:
        return "(no rows)"
    columns = list(dict.fromkeys(key for row in rows for key in row))

    def cell(value) -> str:
        return float_format.format(value) if isinstance(value, float) else str(value)

    cells = [[cell(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(column), *(len(r[i]) for r in cells)) for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths))]
    lines += ["  ".join(value.ljust(width) for value, width in zip(row, widths)) for row in cells]
    return "\n".join(lines)
