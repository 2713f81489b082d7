"""Metrics the source studies report: the diagnostic table, ROC AUC with a CI, FROC, Dice and HD95.

Conventions used throughout:

- Proportions (accuracy, sensitivity, specificity, PPV, NPV) carry Wilson score intervals (Wilson 1927;
  method 3 of Newcombe, Stat Med 1998): good coverage for small samples and proportions near 0 or 1, where
  the normal ("Wald") interval fails.
- A ratio whose denominator is zero is NaN when its numerator is zero too (0/0: undefined) and +inf
  otherwise (x/0, e.g. LR+ at specificity 1). Never an exception: a small test set can legitimately hold
  no negatives.
- AUC intervals use DeLong's variance (DeLong et al., Biometrics 1988) computed by the fast midrank algorithm
  of Sun & Xu (IEEE SPL 2014), or a seeded, stratified percentile bootstrap.
- Volumes are arrays in SimpleITK order (k, j, i); ``spacing_mm`` is in (i, j, k) order, as in
  :class:`assistcore.image.Image`.
- Boxes are (x0, y0, x1, y1) with x1 >= x0 and y1 >= y0, in any units used consistently (pixels or mm).

``to_dict()`` of every result gives strict JSON values: NaN becomes ``None`` and infinities become the
strings ``"inf"`` / ``"-inf"`` (Python's json would otherwise write ``NaN``/``Infinity``, which other JSON
readers reject).

Only numpy is imported at module level; scipy, scikit-learn and matplotlib are imported inside the
functions that need them (matplotlib through its object API, so the global backend is never touched).
"""

from __future__ import annotations

import math
import numbers
import os
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import GeometryError, InputError

Z_95 = 1.959963984540054  # two-sided 95 % quantile of the standard normal


# --------------------------------------------------------------------------------------------- helpers


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator; 0/0 -> NaN, x/0 -> +inf (x > 0); NaN in -> NaN out."""
    if math.isnan(numerator) or math.isnan(denominator):
        return float("nan")
    if denominator == 0:
        return float("nan") if numerator == 0 else float("inf")
    return numerator / denominator


def _json_safe(value):
    """Recursively turn a ``to_dict`` payload into strict-JSON values (NaN -> None, inf -> "inf")."""
    if isinstance(value, dict):
        return {str(key) if not isinstance(key, str) else key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    return value


def _z_for(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise InputError(f"Confidence level {level!r} is not between 0 and 1.", "Use e.g. 0.95 for a 95% interval.")
    return statistics.NormalDist().inv_cdf(0.5 + level / 2.0)


def _binary_labels(values: Iterable, name: str) -> np.ndarray:
    """1-D bool array from bools or numbers that are all 0 or 1 (so labels 1/2 are not silently all positive)."""
    array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
    if array.ndim != 1:
        raise InputError(f"{name} must be one-dimensional; got shape {array.shape}.", "Pass one value per case.")
    if array.dtype == bool:
        return array
    if array.size and not np.issubdtype(array.dtype, np.number):
        raise InputError(f"{name} must be 0/1 or True/False; got values of type {array.dtype}.")
    unexpected = np.setdiff1d(np.unique(array), [0, 1]) if array.size else np.zeros(0)
    if unexpected.size:
        raise InputError(
            f"{name} must hold only 0 and 1; found {unexpected[:5].tolist()}.",
            "Map the classes to 1 = positive (disease present) and 0 = negative first.",
        )
    return array.astype(bool)


def _finite_scores(values: Iterable, name: str = "scores") -> np.ndarray:
    array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    if array.ndim != 1:
        raise InputError(f"{name} must be one-dimensional; got shape {array.shape}.", "Pass one score per case.")
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} hold {int((~np.isfinite(array)).sum())} NaN or infinite values.", "Fix the model.")
    return array


# --------------------------------------------------------------------------------- diagnostic table


def wilson_interval(successes: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``successes / total``.

    ``(centre ± half) / (1 + z²/n)`` with ``centre = p + z²/2n`` and ``half = z·sqrt(p(1-p)/n + z²/4n²)``.
    Returns (NaN, NaN) when ``total`` is 0. ``z`` = 1.96 gives the 95 % interval.
    """
    if total == 0:
        return (float("nan"), float("nan"))
    if not 0 <= successes <= total:
        raise InputError(f"Wilson interval of {successes} successes out of {total} is undefined.")
    p = successes / total
    denominator = 1.0 + z * z / total
    centre = (p + z * z / (2.0 * total)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / total + z * z / (4.0 * total * total)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass
class DiagnosticTable:
    """A 2x2 table and the metrics the source studies report.

    ``ci95`` maps each proportion (accuracy, sensitivity, specificity, ppv, npv) to its 95 % Wilson score
    interval (low, high). The likelihood ratios and F1 are not proportions and have no interval here.
    """

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
        """Number of cases."""
        return self.tp + self.fp + self.tn + self.fn

    def to_dict(self) -> dict:
        """Strict-JSON dict of every field plus ``n`` (NaN -> None, inf -> "inf")."""
        return _json_safe({**asdict(self), "n": self.n})

    def rows(self) -> list[dict]:
        """One row per metric (``metric``, ``value``, ``ci95_low``, ``ci95_high``), for :func:`format_table`."""
        names = [
            "accuracy",
            "sensitivity",
            "specificity",
            "ppv",
            "npv",
            "positive_likelihood_ratio",
            "negative_likelihood_ratio",
            "f1",
        ]
        nan = (float("nan"), float("nan"))
        return [
            {
                "metric": name,
                "value": getattr(self, name),
                "ci95_low": self.ci95.get(name, nan)[0],
                "ci95_high": self.ci95.get(name, nan)[1],
            }
            for name in names
        ]


def diagnostic_table(y_true: Iterable, y_pred: Iterable) -> DiagnosticTable:
    """The 2x2 table of binary truth against binary predictions, with its metrics.

    :param y_true: one 0/1 (or bool) per case, 1 = disease present.
    :param y_pred: one 0/1 (or bool) per case, 1 = called positive.
    :return: counts; accuracy, sensitivity, specificity, PPV, NPV each with a 95 % Wilson score interval;
        LR+ = sensitivity / (1 - specificity), LR- = (1 - sensitivity) / specificity, F1 = 2TP / (2TP+FP+FN).
        A zero denominator gives NaN for 0/0 and +inf otherwise (LR+ at specificity 1 is inf, unless the
        sensitivity is 0 too).
    :raises InputError: values other than 0/1, or different lengths.
    """
    truth = _binary_labels(y_true, "y_true")
    predicted = _binary_labels(y_pred, "y_pred")
    if truth.shape != predicted.shape:
        raise InputError(f"{truth.size} truth values but {predicted.size} predictions.", "Pass one of each per case.")
    tp = int(np.sum(truth & predicted))
    fp = int(np.sum(~truth & predicted))
    tn = int(np.sum(~truth & ~predicted))
    fn = int(np.sum(truth & ~predicted))
    counts = {
        "accuracy": (tp + tn, tp + tn + fp + fn),
        "sensitivity": (tp, tp + fn),
        "specificity": (tn, tn + fp),
        "ppv": (tp, tp + fp),
        "npv": (tn, tn + fn),
    }
    proportions = {name: _ratio(*pair) for name, pair in counts.items()}
    sensitivity, specificity = proportions["sensitivity"], proportions["specificity"]
    return DiagnosticTable(
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        **proportions,
        positive_likelihood_ratio=_ratio(sensitivity, 1.0 - specificity),
        negative_likelihood_ratio=_ratio(1.0 - sensitivity, specificity),
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        ci95={name: wilson_interval(*pair) for name, pair in counts.items()},
    )


def diagnostic_table_from_scores(y_true: Iterable, scores: Iterable, threshold: float) -> DiagnosticTable:
    """:func:`diagnostic_table` with a case called positive when ``score >= threshold`` (e.g. the CRM study's 0.7)."""
    return diagnostic_table(y_true, _finite_scores(scores) >= threshold)


# ------------------------------------------------------------------------------------------------ ROC


@dataclass
class RocResult:
    """ROC analysis of one scorer.

    ``ci`` is the ``ci_level`` interval of the AUC by ``ci_method`` ("delong" or "bootstrap").
    ``fpr``/``tpr``/``thresholds`` are scikit-learn's ``roc_curve`` (the first threshold is +inf: nothing
    called positive). The Youden threshold maximises sensitivity + specificity - 1; a case is positive when
    its score is >= that threshold.
    """

    auc: float
    ci: tuple[float, float]
    ci_level: float
    ci_method: str
    auc_standard_error: float
    fpr: list[float]
    tpr: list[float]
    thresholds: list[float]
    youden_threshold: float
    youden_sensitivity: float
    youden_specificity: float
    n_positive: int
    n_negative: int

    def to_dict(self) -> dict:
        """Strict-JSON dict of every field (the +inf first threshold becomes "inf")."""
        return _json_safe(asdict(self))


def _midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given the mean of the ranks they span (Sun & Xu's ``compute_midrank``)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ordered)) + 1]
    ends = np.r_[starts[1:], ordered.size]  # exclusive
    ranks = np.empty(values.size, dtype=float)
    ranks[order] = np.repeat((starts + 1 + ends) / 2.0, ends - starts)
    return ranks


def delong_variance(y_true: Iterable, scores: Iterable) -> tuple[float, float]:
    """AUC and DeLong's variance of it, by the fast midrank algorithm (O((m+n) log(m+n))).

    With m positives X and n negatives Y: the structural components are V10(X_i) = fraction of negatives
    scored below X_i (ties count 1/2) and V01(Y_j) = fraction of positives scored above Y_j; AUC is their
    mean and Var(AUC) = S10/m + S01/n with S the sample variances (ddof 1) of the components. Ties count 1/2,
    so this AUC equals the Mann-Whitney estimate and ``roc_auc_score``.

    :raises InputError: when either class is empty.
    """
    truth = _binary_labels(y_true, "y_true")
    values = _finite_scores(scores)
    positives, negatives = values[truth], values[~truth]
    m, n = positives.size, negatives.size
    if m == 0 or n == 0:
        raise InputError(
            f"AUC needs positive and negative cases; got {m} positive and {n} negative.",
            "Evaluate on a set holding both classes.",
        )
    ranks_all = _midranks(np.concatenate([positives, negatives]))
    v10 = (ranks_all[:m] - _midranks(positives)) / n
    v01 = 1.0 - (ranks_all[m:] - _midranks(negatives)) / m
    auc = float(v10.mean())
    s10 = float(np.var(v10, ddof=1)) if m > 1 else 0.0
    s01 = float(np.var(v01, ddof=1)) if n > 1 else 0.0
    return auc, s10 / m + s01 / n


def _auc_by_sorting(positives: np.ndarray, sorted_negatives: np.ndarray) -> float:
    below = np.searchsorted(sorted_negatives, positives, side="left")
    below_or_tied = np.searchsorted(sorted_negatives, positives, side="right")
    return float((below + below_or_tied).sum() / (2.0 * positives.size * sorted_negatives.size))


def roc_analysis(
    y_true: Iterable,
    scores: Iterable,
    ci: float = 0.95,
    method: str = "delong",
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> RocResult:
    """ROC curve, AUC with a confidence interval, and the Youden-optimal threshold.

    :param y_true: one 0/1 per case, 1 = positive.
    :param scores: one finite score per case, higher = more likely positive.
    :param ci: confidence level of the AUC interval.
    :param method: ``"delong"``: AUC ± z·SE with DeLong's SE, clipped to [0, 1] (with perfect separation the
        variance is 0 and the interval collapses to the point). ``"bootstrap"``: percentile interval of
        ``n_bootstrap`` stratified resamples (positives and negatives resampled separately, so every resample
        keeps the class counts), seeded by ``seed``; the SE is the resamples' standard deviation.
    :raises InputError: single-class input, NaN scores, an unknown method.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    truth = _binary_labels(y_true, "y_true")
    values = _finite_scores(scores)
    if truth.shape != values.shape:
        raise InputError(f"{truth.size} truth values but {values.size} scores.", "Pass one of each per case.")
    n_positive, n_negative = int(truth.sum()), int((~truth).sum())
    if n_positive == 0 or n_negative == 0:
        raise InputError(
            f"ROC analysis needs positive and negative cases; got {n_positive} positive and {n_negative} negative.",
            "Evaluate on a set holding both classes.",
        )
    z = _z_for(ci)
    auc = float(roc_auc_score(truth, values))
    if method == "delong":
        _, variance = delong_variance(truth, values)
        standard_error = math.sqrt(variance)
        interval = (max(0.0, auc - z * standard_error), min(1.0, auc + z * standard_error))
    elif method == "bootstrap":
        if n_bootstrap < 10:
            raise InputError(f"n_bootstrap={n_bootstrap} is too few resamples.", "Use at least 1000.")
        rng = np.random.default_rng(seed)
        positives, negatives = values[truth], values[~truth]
        samples = np.empty(n_bootstrap)
        for index in range(n_bootstrap):
            resampled_positives = positives[rng.integers(0, n_positive, n_positive)]
            resampled_negatives = np.sort(negatives[rng.integers(0, n_negative, n_negative)])
            samples[index] = _auc_by_sorting(resampled_positives, resampled_negatives)
        low, high = np.percentile(samples, [50.0 * (1.0 - ci), 50.0 * (1.0 + ci)])
        interval, standard_error = (float(low), float(high)), float(np.std(samples, ddof=1))
    else:
        raise InputError(f"Unknown AUC interval method {method!r}.", "Use 'delong' or 'bootstrap'.")
    fpr, tpr, thresholds = roc_curve(truth, values)
    best = int(np.argmax(tpr - fpr))  # first maximum = the highest such threshold (fewest positives)
    return RocResult(
        auc=auc,
        ci=(float(interval[0]), float(interval[1])),
        ci_level=float(ci),
        ci_method=method,
        auc_standard_error=float(standard_error),
        fpr=fpr.tolist(),
        tpr=tpr.tolist(),
        thresholds=[float(t) for t in thresholds],
        youden_threshold=float(thresholds[best]),
        youden_sensitivity=float(tpr[best]),
        youden_specificity=float(1.0 - fpr[best]),
        n_positive=n_positive,
        n_negative=n_negative,
    )


# ------------------------------------------------------------------------------------------ figures


def _figure():
    """A Figure with its own Agg canvas: no pyplot, no global backend change, safe inside Slicer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 5.0), dpi=120)
    FigureCanvasAgg(figure)
    return figure


def _save_figure(figure, path: str | os.PathLike[str]) -> Path:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")
    return Path(path)


def plot_roc(
    roc: RocResult | Sequence[tuple[str, RocResult]], path: str | os.PathLike[str], title: str = "ROC curve"
) -> Path:
    """Write ROC curves as a PNG (written atomically) and return its path.

    :param roc: one result, or (name, result) pairs to overlay. The legend gives each AUC with its interval;
        the dashed diagonal is chance.
    """
    curves = [("model", roc)] if isinstance(roc, RocResult) else list(roc)
    if not curves:
        raise InputError("plot_roc was given no ROC curves.")
    figure = _figure()
    axes = figure.add_subplot(1, 1, 1)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    for name, result in curves:
        level = round(100 * result.ci_level)
        axes.plot(
            result.fpr,
            result.tpr,
            linewidth=2,
            drawstyle="steps-post",
            label=f"{name}: AUC {result.auc:.3f} ({level}% CI {result.ci[0]:.3f}-{result.ci[1]:.3f})",
        )
    axes.set(xlabel="1 - specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    axes.set_aspect("equal")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    return _save_figure(figure, path)


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


def compare_sensitivities_chi_square(
    detected_a: int, total_a: int, detected_b: int, total_b: int
) -> tuple[float, float]:
    """Pearson chi-square (no continuity correction) of detected/missed counts of two methods: (chi2, p).

    The breast cine study compared single-frame and multi-frame sensitivity this way (its 131/171 against
    132/171 gives chi2 0.016, p 0.898). NaN when a row or column of the 2 x 2 table is empty.
    """
    from scipy.stats import chi2_contingency

    table = np.array([[detected_a, total_a - detected_a], [detected_b, total_b - detected_b]], dtype=float)
    if (table < 0).any():
        raise InputError(f"Detected counts exceed totals: {detected_a}/{total_a}, {detected_b}/{total_b}.")
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        return float("nan"), float("nan")
    statistic, p_value, _dof, _expected = chi2_contingency(table, correction=False)
    return float(statistic), float(p_value)


# ------------------------------------------------------------------------------------ segmentation


def _check_same_shape(prediction: np.ndarray, reference: np.ndarray) -> None:
    if prediction.shape != reference.shape:
        raise GeometryError(
            f"Prediction shape {prediction.shape} differs from reference shape {reference.shape}.",
            "Resample both onto one grid first.",
        )


def dice_per_label(prediction_kji: np.ndarray, reference_kji: np.ndarray, labels: Iterable[int]) -> dict[int, float]:
    """Dice = 2|P∩R| / (|P|+|R|) per label value of two label maps on one grid (any shape, same for both).

    A label absent from both maps scores 1.0: nothing to find and nothing found is full agreement (the
    BraTS convention), so a model is not punished for an absent enhancing region it correctly left empty.
    """
    prediction_kji, reference_kji = np.asarray(prediction_kji), np.asarray(reference_kji)
    _check_same_shape(prediction_kji, reference_kji)
    result = {}
    for label in labels:
        predicted, reference = prediction_kji == label, reference_kji == label
        total = int(predicted.sum()) + int(reference.sum())
        result[int(label)] = 1.0 if total == 0 else 2.0 * int((predicted & reference).sum()) / total
    return result


def _surface(mask: np.ndarray) -> np.ndarray:
    """Mask voxels with a face neighbour outside the mask (outside the array counts as outside)."""
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def hausdorff95(
    prediction: np.ndarray, reference: np.ndarray, spacing_mm: Sequence[float], percentile: float = 95.0
) -> float:
    """Symmetric percentile Hausdorff distance in mm between two masks on one grid.

    :param prediction: bool mask, array order (k, j, i) (2-D (j, i) works too).
    :param reference: bool mask, same shape.
    :param spacing_mm: voxel size in (i, j, k) order as in :class:`assistcore.image.Image`; it is reversed
        to the array's (k, j, i) order for the distance transform.
    :param percentile: 95 for HD95, 100 for the classic Hausdorff distance.

    Surfaces are the mask voxels with a face neighbour outside the mask. For each surface voxel of one mask
    the Euclidean distance (scipy ``distance_transform_edt`` with ``sampling`` = spacing in array order) to
    the nearest surface voxel of the other is taken; the result is the larger of the two directed
    percentiles, as in MONAI's ``compute_hausdorff_distance`` and the BraTS evaluation.

    Empty masks: both empty -> 0.0 (they agree; consistent with Dice 1.0). Exactly one empty -> +inf: there is
    no surface to measure to, so the distance is unbounded; inf (not NaN) keeps a missed or hallucinated
    structure visible as the worst value instead of being silently dropped by ``nanmean``.
    """
    from scipy import ndimage

    prediction, reference = np.asarray(prediction).astype(bool), np.asarray(reference).astype(bool)
    _check_same_shape(prediction, reference)
    spacing = tuple(float(s) for s in spacing_mm)
    if len(spacing) != prediction.ndim:
        raise GeometryError(f"{len(spacing)} spacing values for a {prediction.ndim}-D mask.", "Give one per axis.")
    if not prediction.any() and not reference.any():
        return 0.0
    if not prediction.any() or not reference.any():
        return float("inf")
    # Crop to the bounding box of both masks: every surface voxel lies inside it and voxels outside it are
    # background, so the distances are unchanged and large volumes cost only what the structures span.
    union = np.argwhere(prediction | reference)
    box = tuple(slice(low, high + 1) for low, high in zip(union.min(axis=0), union.max(axis=0)))
    prediction, reference = prediction[box], reference[box]
    sampling_kji = spacing[::-1]
    surface_prediction, surface_reference = _surface(prediction), _surface(reference)
    to_reference = ndimage.distance_transform_edt(~surface_reference, sampling=sampling_kji)[surface_prediction]
    to_prediction = ndimage.distance_transform_edt(~surface_prediction, sampling=sampling_kji)[surface_reference]
    return float(max(np.percentile(to_reference, percentile), np.percentile(to_prediction, percentile)))


def hausdorff95_per_label(
    prediction_kji: np.ndarray, reference_kji: np.ndarray, labels: Iterable[int], spacing_mm: Sequence[float]
) -> dict[int, float]:
    """:func:`hausdorff95` (mm) per label value of two label maps (k, j, i); ``spacing_mm`` in (i, j, k) order."""
    prediction_kji, reference_kji = np.asarray(prediction_kji), np.asarray(reference_kji)
    return {int(label): hausdorff95(prediction_kji == label, reference_kji == label, spacing_mm) for label in labels}


# ------------------------------------------------------------------------------------------- output


def format_table(rows: Sequence[dict], float_format: str = "{:.3f}") -> str:
    """Rows of dicts as an aligned plain-text table for the command line.

    Columns appear in first-seen order; numbers are right-aligned, text left-aligned; a missing cell or
    None is blank.
    """
    if not rows:
        return "(no rows)"
    columns = list(dict.fromkeys(key for row in rows for key in row))

    def cell(value) -> str:
        if value is None:
            return ""
        if isinstance(value, numbers.Real) and not isinstance(value, (numbers.Integral, bool, np.bool_)):
            return float_format.format(float(value))
        return str(value)

    def is_number(value) -> bool:
        return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))

    cells = [[cell(row.get(column)) for column in columns] for row in rows]
    numeric = [all(is_number(row.get(c)) for row in rows if row.get(c) is not None) for c in columns]
    widths = [max(len(str(column)), *(len(r[i]) for r in cells)) for i, column in enumerate(columns)]

    def line(values: list[str]) -> str:
        parts = [
            value.rjust(width) if right else value.ljust(width) for value, width, right in zip(values, widths, numeric)
        ]
        return "  ".join(parts).rstrip()

    header = line([str(column) for column in columns])
    return "\n".join([header, "-" * len(header), *(line(row) for row in cells)])
