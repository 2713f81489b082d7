"""ROC analysis with an AUC interval (DeLong's variance by Sun & Xu's midrank algorithm, or a seeded
stratified bootstrap), and the ROC picture. Conventions: :mod:`assistcore.metrics`."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .metrics_common import _binary_labels, _figure, _finite_scores, _json_safe, _save_figure, _z_for

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
