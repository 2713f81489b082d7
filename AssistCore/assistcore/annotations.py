"""Annotations that are not voxels: oriented boxes with scores, labelled points. LPS millimetres."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .image import Image


@dataclass
class Box:
    """An oriented box: centre and full edge lengths (mm) along three unit axes (columns of ``axes_lps``).

    Detection boxes are one slice thick and oriented with their volume: axes = the volume's i, j, k
    directions, so the box lies exactly in its slice even in oblique series.
    """

    center_lps: tuple[float, float, float]
    size_mm: tuple[float, float, float]
    axes_lps: np.ndarray = field(default_factory=lambda: np.eye(3))
    score: float | None = None
    label: str = ""
    slice_index: int | None = None
    model_id: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.center_lps = tuple(float(v) for v in self.center_lps)  # type: ignore[assignment]
        self.size_mm = tuple(float(v) for v in self.size_mm)  # type: ignore[assignment]
        self.axes_lps = np.asarray(self.axes_lps, dtype=np.float64).reshape(3, 3)

    @classmethod
    def from_slice_corners(
        cls, image: Image, slice_index: int, i0: float, j0: float, i1: float, j1: float, **fields: Any
    ) -> Box:
        """A box on slice ``slice_index`` of ``image`` covering voxel-edge coordinates i0..i1, j0..j1.

        Voxel-edge coordinates: pixel (i, j) spans i..i+1 and j..j+1 (what detectors return), so the box's
        centre in continuous index space is ((i0 + i1) / 2 - 0.5, (j0 + j1) / 2 - 0.5, k).
        """
        center_index = np.array([(i0 + i1) / 2 - 0.5, (j0 + j1) / 2 - 0.5, float(slice_index)])
        size = (abs(i1 - i0) * image.spacing_mm[0], abs(j1 - j0) * image.spacing_mm[1], image.spacing_mm[2])
        return cls(
            tuple(image.index_to_lps(center_index)[0]),
            size,
            image.direction_lps.copy(),
            slice_index=slice_index,
            **fields,
        )

    def voxel_corners(self, image: Image) -> tuple[int, float, float, float, float]:
        """(slice_index, i0, j0, i1, j1) of this box on ``image`` (inverse of :meth:`from_slice_corners`)."""
        center = image.lps_to_index(self.center_lps)[0]
        half_i = self.size_mm[0] / image.spacing_mm[0] / 2
        half_j = self.size_mm[1] / image.spacing_mm[1] / 2
        ci, cj = center[0] + 0.5, center[1] + 0.5
        return round(center[2]), ci - half_i, cj - half_j, ci + half_i, cj + half_j


@dataclass
class LabelledPoint:
    """A named point (e.g. a vertebra centre), LPS mm."""

    position_lps: tuple[float, float, float]
    label: str
    description: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
