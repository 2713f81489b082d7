"""Output grids, boxes around points on them, smooth random fields and random rotations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .template import TemplateAnatomy


@dataclass(frozen=True)
class _Grid:
    """An output grid: shape (k, j, i), index -> LPS matrix ``matrix`` (columns i, j, k) and origin."""

    shape_kji: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_lps: np.ndarray
    direction_lps: np.ndarray

    @property
    def matrix(self) -> np.ndarray:
        return self.direction_lps @ np.diag(self.spacing_mm)

    def lps_to_index_ijk(self, point_lps: np.ndarray) -> np.ndarray:
        return np.linalg.solve(self.matrix, np.asarray(point_lps, dtype=np.float64) - self.origin_lps)

    def box(self, center_lps: np.ndarray, radius_mm: float):
        """Index slices (k, j, i) of the box of half-size ``radius_mm`` around a point (None if outside the
        grid) and the LPS offsets (three arrays broadcastable to the box shape) of its voxels from the point."""
        center_ijk = self.lps_to_index_ijk(center_lps)
        slices = []
        for axis_ijk in (2, 1, 0):
            half = radius_mm / self.spacing_mm[axis_ijk]
            start = max(0, int(np.floor(center_ijk[axis_ijk] - half)))
            stop = min(self.shape_kji[2 - axis_ijk], int(np.ceil(center_ijk[axis_ijk] + half)) + 1)
            if stop <= start:
                return None, None
            slices.append(slice(start, stop))
        index = [np.arange(s.start, s.stop, dtype=np.float32) for s in slices]  # k, j, i
        relative = [index[2 - a] - np.float32(center_ijk[a]) for a in range(3)]  # i, j, k
        shapes = [(1, 1, -1), (1, -1, 1), (-1, 1, 1)]
        matrix = self.matrix.astype(np.float32)
        offsets = [
            sum(matrix[m, a] * relative[a].reshape(shapes[a]) for a in range(3) if matrix[m, a] != 0)
            + np.zeros((1, 1, 1), np.float32)
            for m in range(3)
        ]
        return tuple(slices), offsets


def _output_grid(
    template: TemplateAnatomy, spacing_mm: tuple[float, float, float], shape_kji: tuple[int, int, int] | None
) -> _Grid:
    """The template's field of view at ``spacing_mm`` (i, j, k), or ``shape_kji`` voxels centred on the brain."""
    labels = template.labels
    direction = labels.direction_lps.copy()
    if shape_kji is None:
        extent = np.array(labels.size_ijk) * np.array(labels.spacing_mm)
        size_ijk = np.maximum(1, np.round(extent / np.array(spacing_mm))).astype(int)
        center = labels.index_to_lps((np.array(labels.size_ijk) - 1) / 2.0)[0]
    else:
        size_ijk = np.array(shape_kji[::-1], dtype=int)
        center = template.brain_center_lps
    origin = center - direction @ (np.array(spacing_mm) * (size_ijk - 1) / 2.0)
    return _Grid(tuple(int(v) for v in size_ijk[::-1]), tuple(spacing_mm), origin, direction)


def _smooth_field(shape_kji: Sequence[int], wavelength_voxels: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """A smooth random field (float32, zero mean, unit standard deviation) of the given shape.

    A random 3D cosine series with a Gaussian spectrum whose scale is ``wavelength_voxels`` (k, j, i).
    Separable basis functions make it cost (voxels x terms) instead of a wide convolution.
    """
    bases, frequencies = [], []
    for n, wavelength in zip(shape_kji, wavelength_voxels):
        terms = 1 if n < 2 else int(np.clip(np.ceil(3.5 * n / max(wavelength, 1e-3)), 2, 14))
        order = np.arange(terms)
        bases.append(np.cos(np.pi * np.outer(order, np.arange(n) + 0.5) / n).astype(np.float32))
        frequencies.append(order / (2.0 * n) * wavelength)  # cycles per wavelength
    squared = (
        frequencies[0][:, None, None] ** 2 + frequencies[1][None, :, None] ** 2 + frequencies[2][None, None, :] ** 2
    )
    weights = (rng.standard_normal(squared.shape) * np.exp(-0.5 * squared * 4.0)).astype(np.float32)
    weights.flat[0] = 0.0  # no constant term
    result = np.einsum("abc,ak,bj,ci->kji", weights, *bases, optimize=True)
    deviation = float(result.std())
    return (result - result.mean()) / deviation if deviation > 1e-8 else np.zeros(tuple(shape_kji), np.float32)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3x3 rotation matrix."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def _basis_with_first_axis(axis: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix whose first column is ``axis`` and whose other two are random around it."""
    axis = axis / np.linalg.norm(axis)
    helper = _random_rotation(rng)[:, 0]
    second = np.cross(axis, helper)
    second /= np.linalg.norm(second) + 1e-9
    return np.stack([axis, second, np.cross(axis, second)], axis=1)
