"""Measuring a level map: vertebra centres and volumes, disc planes (centre, normal, height), top down.

Geometry is LPS mm, arrays (k, j, i); the level map holds :data:`~assistcore.spine.labels.SPINE_LABELS` values.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..image import Image
from .labels import DISC_VALUE, VERTEBRA_VALUE, VERTEBRAE, disc_name

if TYPE_CHECKING:
    from .levels import Labelling


@dataclass
class VertebraLevel:
    """A named vertebra: centre of its voxels (LPS mm), volume (mL) and naming confidence."""

    name: str
    value: int
    center_lps: list[float]
    volume_ml: float
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DiscLevel:
    """A disc level: centre (LPS mm), unit normal pointing superior (fitted to the disc voxels, or the line
    between the two body centres when the disc was not segmented), height along the normal (mm), and the axial
    slices that cross its plane (filled by :func:`assistcore.spine.axial.map_axial_slices`)."""

    name: str
    upper: str
    lower: str
    value: int
    center_lps: list[float]
    normal_lps: list[float]
    height_mm: float
    fitted: bool
    confidence: float
    axial_slices: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _voxel_points_lps(image: Image, mask: np.ndarray) -> np.ndarray:
    kji = np.argwhere(mask)
    return image.index_to_lps(kji[:, ::-1].astype(float))


def fit_plane(points_lps: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(centre, unit normal pointing superior, extent along the normal in mm) of a flat cloud of points.

    The normal is the direction of least variance; the extent is the 2nd-98th percentile range along it.
    """
    centre = points_lps.mean(axis=0)
    _values, vectors = np.linalg.eigh(np.cov((points_lps - centre).T))
    normal = vectors[:, 0]
    if normal[2] < 0:
        normal = -normal
    along = (points_lps - centre) @ normal
    low, high = np.percentile(along, [2, 98])
    return centre, normal, float(high - low)


def measure_levels(level_map: Image, labelling: Labelling | None = None) -> tuple[list[VertebraLevel], list[DiscLevel]]:
    """Vertebrae (C1..T3 present) and discs between consecutive present vertebrae, top down."""
    array = np.asarray(level_map.array_kji)
    voxel_ml = float(np.prod(level_map.spacing_mm)) / 1000.0
    confidence = labelling.confidence if labelling else 1.0
    vertebrae: list[VertebraLevel] = []
    centres: dict[str, np.ndarray] = {}
    for name in VERTEBRAE:
        mask = array == VERTEBRA_VALUE[name]
        if not mask.any():
            continue
        points = _voxel_points_lps(level_map, mask)
        centres[name] = points.mean(axis=0)
        vertebrae.append(
            VertebraLevel(
                name,
                VERTEBRA_VALUE[name],
                [round(float(v), 2) for v in centres[name]],
                round(float(mask.sum()) * voxel_ml, 3),
                confidence,
            )
        )
    discs: list[DiscLevel] = []
    present = [v.name for v in vertebrae if v.name != "C1"]
    for upper, lower in itertools.pairwise(present):
        if VERTEBRAE.index(lower) != VERTEBRAE.index(upper) + 1:
            continue
        name = disc_name(upper, lower)
        if name not in DISC_VALUE:
            continue
        mask = array == DISC_VALUE[name]
        if mask.sum() >= 10:
            centre, normal, height = fit_plane(_voxel_points_lps(level_map, mask))
            fitted = True
        else:  # not segmented: halfway between the bodies, normal along the line joining them
            axis = centres[upper] - centres[lower]
            normal = axis / max(np.linalg.norm(axis), 1e-6)
            centre, height, fitted = 0.5 * (centres[upper] + centres[lower]), 0.0, False
        discs.append(
            DiscLevel(
                name,
                upper,
                lower,
                DISC_VALUE[name],
                [round(float(v), 2) for v in centre],
                [round(float(v), 4) for v in normal],
                round(height, 2),
                fitted,
                confidence if fitted else confidence * 0.5,
            )
        )
    return vertebrae, discs
