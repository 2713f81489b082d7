"""Segmentation metrics: Dice per label and the 95th-percentile Hausdorff distance, on label maps in
SimpleITK order (k, j, i) with ``spacing_mm`` in (i, j, k) order. Conventions: :mod:`assistcore.metrics`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .errors import GeometryError

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
