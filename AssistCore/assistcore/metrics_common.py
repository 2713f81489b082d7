"""Helpers shared by the metric modules (:mod:`assistcore.metrics` states the conventions): ratios that never
raise, strict-JSON payloads, input checks, matplotlib figures without pyplot, and plain-text tables."""

from __future__ import annotations

import math
import numbers
import os
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import InputError

# --------------------------------------------------------------------------------------------- helpers

Z_95 = 1.959963984540054  # two-sided 95 % quantile of the standard normal


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
