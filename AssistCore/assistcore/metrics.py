"""Metrics the source studies report: the diagnostic table, ROC AUC with a CI, FROC, Dice and HD95.

This module holds the diagnostic table and the chi-square test and gives every metric's public name; the
others live in :mod:`.metrics_roc`, :mod:`.metrics_froc`, :mod:`.metrics_segmentation` and the shared
helpers in :mod:`.metrics_common`.

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
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import InputError
from .metrics_common import Z_95 as Z_95
from .metrics_common import _binary_labels, _finite_scores, _json_safe, _ratio
from .metrics_common import _figure as _figure
from .metrics_common import _save_figure as _save_figure
from .metrics_common import format_table as format_table
from .metrics_froc import FrocResult as FrocResult
from .metrics_froc import SequenceDetections as SequenceDetections
from .metrics_froc import SequenceLesions as SequenceLesions
from .metrics_froc import box_iou as box_iou
from .metrics_froc import froc as froc
from .metrics_froc import plot_froc as plot_froc
from .metrics_roc import RocResult as RocResult
from .metrics_roc import delong_variance as delong_variance
from .metrics_roc import plot_roc as plot_roc
from .metrics_roc import roc_analysis as roc_analysis
from .metrics_segmentation import dice_per_label as dice_per_label
from .metrics_segmentation import hausdorff95 as hausdorff95
from .metrics_segmentation import hausdorff95_per_label as hausdorff95_per_label

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
