"""Acquiring the painted world: grids, sampling codes through thick slices, and rendering intensities.

Sampling follows ITK's resampling convention (output point -> source point) through a displacement field from
the posed anatomy frame to the straightened frame; intensities get partial volume, blur, a bias field, Rician
noise, gamma and scale. Arrays (k, j, i), geometry LPS mm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import InputError
from ...image import Image, ImageMetadata


@dataclass
class _Acquisition:
    shape_kji: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_lps: np.ndarray
    direction_lps: np.ndarray
    thickness_mm: float

    def corners_lps(self) -> np.ndarray:
        corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=float)
        extent = (np.array(self.shape_kji[::-1]) - 1) * np.array(self.spacing_mm)
        offsets = np.array([-0.5 * self.thickness_mm * (c * 2 - 1) for c in corners[:, 2]])
        points = self.origin_lps + (corners * extent) @ self.direction_lps.T
        return points + offsets[:, None] * self.direction_lps[:, 2]


def _sample_codes(acquisition: _Acquisition, source, field_transform, to_anatomy, n_sub: int = 3) -> list[np.ndarray]:
    """Painted codes (label * 32 + class) at ``n_sub`` sub-slices through each thick slice (nearest neighbour)."""
    import SimpleITK as sitk

    rotation, translation = to_anatomy
    direction = rotation @ acquisition.direction_lps
    results = []
    for m in range(n_sub):
        shift = (m - (n_sub - 1) / 2) * acquisition.thickness_mm / n_sub
        origin_lps = acquisition.origin_lps + shift * acquisition.direction_lps[:, 2]
        origin = rotation @ origin_lps + translation
        resampled = sitk.Resample(
            source,
            [int(v) for v in acquisition.shape_kji[::-1]],
            field_transform,
            sitk.sitkNearestNeighbor,
            tuple(float(v) for v in origin),
            tuple(float(v) for v in acquisition.spacing_mm),
            tuple(float(v) for v in direction.flatten()),
            0,
            sitk.sitkUInt16,
        )
        results.append(sitk.GetArrayViewFromImage(resampled).copy())
    return results


def _bias_field(shape_kji: Sequence[int], spacing_mm: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """A smooth multiplicative-field exponent (float32, about unit amplitude): a few random low-frequency waves."""
    axes = [(np.arange(n, dtype=np.float32) - (n - 1) / 2) * s for n, s in zip(shape_kji, spacing_mm[::-1])]
    result = np.zeros(tuple(shape_kji), np.float32)
    for _ in range(4):
        frequency = rng.normal(0.0, 1.0 / 250.0, 3)
        phase = rng.uniform(0, 2 * np.pi)
        result += np.cos(
            2
            * np.pi
            * (
                frequency[0] * axes[0][:, None, None]
                + frequency[1] * axes[1][None, :, None]
                + frequency[2] * axes[2][None, None, :]
            )
            + phase
        ).astype(np.float32)
    return result / 2.0


def _render(
    codes: list[np.ndarray],
    means: np.ndarray,
    acquisition: _Acquisition,
    rng: np.random.Generator,
    description: str,
    seed: int,
) -> tuple[Image, dict[str, float]]:
    """Intensities of one contrast: per-class means averaged over the sub-slices, blur, bias, noise, gamma."""
    from scipy import ndimage

    lut = means.astype(np.float32)
    volume = sum(lut[c & 31] for c in codes) / np.float32(len(codes))
    blur = rng.uniform(0.3, 0.7)
    volume = ndimage.gaussian_filter(volume, (0.0, blur, blur), truncate=3.0)
    bias_strength = rng.uniform(0.05, 0.3)
    volume *= np.exp(bias_strength * _bias_field(volume.shape, acquisition.spacing_mm, rng))
    noise = rng.uniform(0.01, 0.04)
    real = volume + rng.standard_normal(volume.shape, dtype=np.float32) * np.float32(noise)
    imaginary = rng.standard_normal(volume.shape, dtype=np.float32) * np.float32(noise)
    volume = np.sqrt(real * real + imaginary * imaginary)
    gamma = float(np.exp(rng.normal(0.0, 0.1)))
    scale = float(np.exp(rng.uniform(np.log(100.0), np.log(3000.0))))
    volume = (np.clip(volume, 0, None) ** gamma * scale).astype(np.float32)
    extra = {"slice_thickness_mm": round(acquisition.thickness_mm, 3)}
    image = Image(
        volume,
        acquisition.spacing_mm,
        tuple(acquisition.origin_lps),
        acquisition.direction_lps,
        ImageMetadata(patient_id=f"spine-phantom-{seed}", series_description=description, modality="MR", extra=extra),
    )
    parameters = {
        "blur_voxels": round(blur, 3),
        "bias_strength": round(bias_strength, 3),
        "noise": round(noise, 4),
        "gamma": round(gamma, 3),
        "scale": round(scale, 1),
    }
    return image, parameters


def _rotation(angles_deg: Sequence[float]) -> np.ndarray:
    a, b, c = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _check_spacing(spacing: Sequence[float] | None) -> tuple[float, float, float] | None:
    if spacing is None:
        return None
    values = tuple(float(v) for v in spacing)
    if (
        len(values) != 3
        or not all(np.isfinite(v) for v in values)
        or not (min(values[:2]) >= 0.3 and max(values[:2]) <= 2.0 and 1.0 <= values[2] <= 6.0)
    ):
        raise InputError(
            f"Sagittal spacing {spacing!r} mm is not usable.",
            "Give (i, j, k) with in-plane 0.3-2 mm and slices 1-6 mm, e.g. (0.8, 0.8, 3.0).",
        )
    return values  # type: ignore[return-value]
