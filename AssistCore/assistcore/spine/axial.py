"""Axial slices mapped onto disc levels: each slice belongs to the disc whose plane it crosses within tolerance.

Works for one axial stack or several oblique blocks (each slice has its own plane: the series' slice normal
through the slice centre). A slice crosses a disc when the disc centre lies within ``tolerance`` of the slice
plane (half the disc height plus half the slice thickness, at least 2 mm, by default), the two planes are
within ``max_angle_deg`` of each other, and the disc centre projects inside the slice's field of view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..image import Image
from .levels import DiscLevel

MAX_ANGLE_DEG = 35.0


@dataclass
class SliceLevel:
    """One axial slice: its index, the disc it crosses (or None), signed distance from the disc centre to the
    slice plane along the slice normal (mm), and the angle between slice and disc planes (degrees)."""

    series: str
    slice_index: int
    level: str | None
    distance_mm: float | None
    angle_deg: float | None

    def to_dict(self) -> dict:
        return {
            "series": self.series,
            "slice_index": self.slice_index,
            "level": self.level,
            "distance_mm": None if self.distance_mm is None else round(self.distance_mm, 2),
            "angle_deg": None if self.angle_deg is None else round(self.angle_deg, 1),
        }


def slice_thickness_mm(image: Image) -> float:
    """The slice thickness the header states, else the slice spacing."""
    stated = image.metadata.extra.get("slice_thickness_mm") if image.metadata.extra else None
    return float(stated) if stated else float(image.spacing_mm[2])


def map_axial_slices(
    discs: list[DiscLevel],
    axial: Image,
    series: str = "ax_t2",
    tolerance_mm: float | None = None,
    max_angle_deg: float = MAX_ANGLE_DEG,
) -> list[SliceLevel]:
    """The disc level of every slice of ``axial`` (k order); fills each disc's ``axial_slices`` as well.

    :param tolerance_mm: largest distance from a disc centre to the slice plane; None: half the disc height
        plus half the slice thickness, at least 2 mm.
    """
    normal = axial.slice_normal_lps()
    size_i, size_j, size_k = axial.size_ijk
    thickness = slice_thickness_mm(axial)
    results: list[SliceLevel] = []
    for k in range(size_k):
        centre = axial.index_to_lps(np.array([[(size_i - 1) / 2, (size_j - 1) / 2, k]], dtype=float))[0]
        best: tuple[float, DiscLevel, float] | None = None
        for disc in discs:
            disc_centre = np.asarray(disc.center_lps)
            distance = float((disc_centre - centre) @ normal)
            angle = float(np.degrees(np.arccos(min(1.0, abs(float(np.asarray(disc.normal_lps) @ normal))))))
            limit = tolerance_mm if tolerance_mm is not None else max(2.0, disc.height_mm / 2 + thickness / 2)
            if abs(distance) > limit or angle > max_angle_deg:
                continue
            i, j, _ = axial.lps_to_index(disc_centre[None, :])[0]
            if not (-0.5 <= i <= size_i - 0.5 and -0.5 <= j <= size_j - 0.5):
                continue
            if best is None or abs(distance) < abs(best[0]):
                best = (distance, disc, angle)
        if best is None:
            results.append(SliceLevel(series, k, None, None, None))
            continue
        distance, disc, angle = best
        results.append(SliceLevel(series, k, disc.name, distance, angle))
        disc.axial_slices.append({"series": series, "slice_index": k, "distance_mm": round(distance, 2)})
    return results


def slices_overlap_sagittal(axial: Image, sagittal: Image) -> bool:
    """Whether any part of the axial series' box lies inside the sagittal series' box (physical space)."""
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float)
    size = np.array(axial.size_ijk, dtype=float) - 1
    samples = np.concatenate([corners * size, np.array([[0.5, 0.5, t] for t in np.linspace(0, 1, 5)]) * size])
    inside = sagittal.lps_to_index(axial.index_to_lps(samples))
    upper = np.array(sagittal.size_ijk, dtype=float) - 0.5
    return bool(np.any(np.all((inside >= -0.5) & (inside <= upper), axis=1)))
