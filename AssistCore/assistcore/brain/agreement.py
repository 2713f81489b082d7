"""Agreement between two label maps of one case, per consensus region (annotator vs annotator, model vs truth)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..metrics import dice_per_label, hausdorff95
from .regions import region_masks


def region_agreement(labels_a_kji: np.ndarray, labels_b_kji: np.ndarray, spacing_mm: Sequence[float]) -> list[dict]:
    """Dice, HD95 (mm) and volumes (mL) per region for two internal label maps on one grid.

    Volume difference is b - a, and as a percentage of the mean of the two volumes (symmetric, so swapping the
    annotators only flips the sign).
    """
    voxel_ml = float(np.prod(spacing_mm)) / 1000.0
    masks_a, masks_b = region_masks(labels_a_kji), region_masks(labels_b_kji)
    rows = []
    for region in masks_a:
        a, b = masks_a[region], masks_b[region]
        volume_a, volume_b = float(a.sum() * voxel_ml), float(b.sum() * voxel_ml)
        mean_volume = (volume_a + volume_b) / 2
        rows.append(
            {
                "region": region,
                "dice": dice_per_label(a.astype(np.uint8), b.astype(np.uint8), [1])[1],
                "hd95_mm": hausdorff95(a, b, spacing_mm),
                "volume_a_ml": round(volume_a, 3),
                "volume_b_ml": round(volume_b, 3),
                "volume_difference_ml": round(volume_b - volume_a, 3),
                "volume_difference_percent": round(100 * (volume_b - volume_a) / mean_volume, 1)
                if mean_volume
                else 0.0,
            }
        )
    return rows
