"""Brain phantom intensities: per-class means per contrast, partial volume, texture, bias field, thick slices,
Rician noise, gamma and scale.

Volumes are float32 (k, j, i) on the output grid; every draw comes from the sample's generator in a fixed
order (contrast by contrast, in :data:`ROLES` order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...brain.regions import EDEMA
from .grid import _smooth_field
from .tissues import _BG, _CSF, _EDEMA, _GREY, _JITTER, _MEAN_RANGES, _T1C_ENHANCING_RANGES, _WHITE, ROLES


def _draw_contrasts(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per contrast, one mean intensity per class (12,), drawn from the loose ranges."""
    means = {}
    table = np.array([_MEAN_RANGES[tissue_class] for tissue_class in range(len(_MEAN_RANGES))], dtype=np.float64)
    for column, role in enumerate(("t1", "t2", "flair")):
        ranges = table[:, column]
        means[role] = np.clip(rng.uniform(ranges[:, 0] - _JITTER, ranges[:, 1] + _JITTER), 0.01, None)
        means[role][_BG] = 0.0
    # gadolinium barely changes tissue without uptake: T1c = T1 times a small gain, except the enhancing classes
    means["t1c"] = means["t1"] * rng.uniform(0.97, 1.12)
    for tissue_class, (low, high) in _T1C_ENHANCING_RANGES.items():
        means["t1c"][tissue_class] = rng.uniform(low - _JITTER, high + _JITTER)
    return {role: means[role] for role in ROLES}


def _resample_axis(volume: np.ndarray, axis: int, positions: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``volume`` along ``axis`` at fractional ``positions`` (clamped to the ends)."""
    n = volume.shape[axis]
    positions = np.clip(positions, 0, n - 1)
    lower = np.floor(positions).astype(int)
    upper = np.minimum(lower + 1, n - 1)
    shape = [1, 1, 1]
    shape[axis] = -1
    weight = (positions - lower).astype(np.float32).reshape(shape)
    return np.take(volume, lower, axis=axis) * (1 - weight) + np.take(volume, upper, axis=axis) * weight


def _rician(volume: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise of ``sigma`` on both channels (Rician noise)."""
    real = volume + rng.standard_normal(volume.shape, dtype=np.float32) * np.float32(sigma)
    imaginary = rng.standard_normal(volume.shape, dtype=np.float32) * np.float32(sigma)
    return np.sqrt(real * real + imaginary * imaginary)


def _blur(volume: np.ndarray, sigma_kji: Sequence[float]) -> np.ndarray:
    from scipy import ndimage

    return ndimage.gaussian_filter(volume, sigma_kji, truncate=3.0) if max(sigma_kji) > 0 else volume


@dataclass
class _Tissue:
    """What every contrast is rendered from: intensity classes, brain partial volume outside the tumours, edema
    over the tissue under it, tumour texture and the voxels shown."""

    classes: np.ndarray
    soft: np.ndarray
    grey_soft: np.ndarray
    white_soft: np.ndarray
    csf_soft: np.ndarray
    edema: np.ndarray
    grey_edema: np.ndarray
    white_edema: np.ndarray
    csf_edema: np.ndarray
    strength_edema: np.ndarray
    tumour: np.ndarray
    heterogeneity: np.ndarray
    visible: np.ndarray


def _tissue(fields: dict[str, Any], drawn: dict[str, Any], skull: bool) -> _Tissue:
    """The :class:`_Tissue` of a phantom from its anatomy ``fields`` and its drawn lesions."""
    grey, white, brain, labels = fields["grey"], fields["white"], fields["brain"], drawn["labels"]
    tumour = labels > 0
    soft = brain & ~tumour  # partial volume from the tissue probabilities
    grey_soft, white_soft = grey[soft], white[soft]
    edema = labels == EDEMA
    grey_edema, white_edema = grey[edema], white[edema]
    # skull stripping keeps the intracranial space: brain, the CSF around it and extra-axial tumours
    visible = np.ones(labels.shape, bool) if skull else (fields["intracranial"] | tumour)
    return _Tissue(
        drawn["classes"],
        soft,
        grey_soft,
        white_soft,
        np.clip(1.0 - grey_soft - white_soft, 0.0, 1.0),
        edema,
        grey_edema,
        white_edema,
        np.clip(1.0 - grey_edema - white_edema, 0.0, 1.0),
        drawn["edema_strength"][edema],
        tumour,
        drawn["heterogeneity"],
        visible,
    )


def _render_contrast(
    tissue: _Tissue,
    mean: np.ndarray,
    deviation: np.ndarray,
    spacing: tuple[float, float, float],
    thick_axis: int | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict[str, Any]]:
    """One contrast (float32 volume, its drawn parameters) from the class means and standard deviations."""
    classes, shape_kji = tissue.classes, tissue.classes.shape
    volume = mean[classes]
    volume[tissue.soft] = (
        tissue.grey_soft * mean[_GREY] + tissue.white_soft * mean[_WHITE] + tissue.csf_soft * mean[_CSF]
    )
    under = tissue.grey_edema * mean[_GREY] + tissue.white_edema * mean[_WHITE] + tissue.csf_edema * mean[_CSF]
    volume[tissue.edema] = under + tissue.strength_edema * (mean[_EDEMA] - under)
    volume += deviation[classes] * rng.standard_normal(volume.shape, dtype=np.float32)
    volume[tissue.tumour] *= 1.0 + rng.uniform(0.0, 0.15) * tissue.heterogeneity[tissue.tumour]
    partial_volume_sigma = rng.uniform(0.3, 0.8)
    volume = _blur(volume, [partial_volume_sigma] * 3)
    bias_strength = rng.uniform(0.0, 0.2)
    volume *= np.exp(bias_strength * _smooth_field(shape_kji, [n * 1.5 for n in shape_kji], rng))
    noise_sigma = float(rng.uniform(0.005, 0.035))
    contrast = {"bias_strength": round(bias_strength, 3), "noise_sigma": round(noise_sigma, 4)}
    thickness_mm = rng.uniform(3.0, 7.0) if thick_axis is not None else 0.0
    factor = thickness_mm / spacing[2 - thick_axis] if thick_axis is not None else 0.0
    if factor >= 1.5:
        # thick slices: the slice profile blurs along the axis (FWHM = thickness), the scanner samples
        # every `factor` voxels, noise is added to those, and the viewer interpolates back
        sigma = [0.0, 0.0, 0.0]
        sigma[thick_axis] = factor / 2.355
        blurred = _blur(volume, sigma)
        positions = np.arange(0.0, volume.shape[thick_axis] - 1 + 1e-6, factor)
        low = _rician(_resample_axis(blurred, thick_axis, positions), noise_sigma, rng)
        volume = _resample_axis(low, thick_axis, np.arange(volume.shape[thick_axis]) / factor)
        contrast["slice_thickness_mm"] = round(float(thickness_mm), 2)
    else:
        volume = _rician(volume, noise_sigma, rng)
    visible = tissue.visible
    gamma = float(np.exp(rng.normal(0.0, 0.1)))
    every_other = (slice(None, None, 2),) * 3  # a percentile needs no full-resolution sort
    peak = float(np.percentile(volume[every_other][visible[every_other]], 99.5)) if visible.any() else 1.0
    volume = peak * np.clip(volume / max(peak, 1e-6), 0.0, None) ** gamma
    scale = float(np.exp(rng.uniform(np.log(100.0), np.log(3000.0))))
    volume *= np.float32(scale)
    volume[~visible] = 0.0
    contrast.update({"gamma": round(gamma, 3), "scale": round(scale, 1), "means": [round(float(v), 3) for v in mean]})
    return volume.astype(np.float32), contrast
