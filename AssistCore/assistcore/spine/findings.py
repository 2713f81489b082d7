"""Per-level findings measured on the segmentation: spondylolisthesis (sagittal) and ligament thickness (axial).

Both read a level map (:data:`~assistcore.phantoms.spine.SPINE_LABELS` values) and work in LPS mm, so they
do not depend on how the series was stored.

**Spondylolisthesis.** In the disc's frame (normal ``n`` pointing superior, ``p`` the patient's posterior
direction within the disc plane) the offset is the posterior wall of the upper body near its inferior endplate
minus the posterior wall of the lower body near its superior endplate, along ``p``; positive: the upper
vertebra lies posterior (retrolisthesis). Only voxels within :data:`MIDLINE_HALF_WIDTH_MM` of the midline count;
the 1.5 mm next to each endplate are skipped and the endplates are found where the body is wide, so corner
osteophytes do not pass for a slip. The fraction is
the offset over the lower body's superior endplate length; the grade is its quarter (Meyerding I-IV) once the
offset reaches :data:`LISTHESIS_MIN_MM` and :data:`LISTHESIS_MIN_FRACTION` of the endplate.

**Ligament thickness.** On each axial slice of a level, twice the largest in-plane distance from inside the
PLL (or LF) mask to its edge, minus one pixel: the thickness of the band at its thickest. The largest over the
level's slices is reported; thickened over :data:`THICKENED_MM`.
"""

from __future__ import annotations

import math

import numpy as np

from ..image import Image
from .labels import LF, PLL
from .levels import VERTEBRA_VALUE, DiscLevel

MIDLINE_HALF_WIDTH_MM = 4.0
ENDPLATE_SKIP_MM = 1.5
WALL_BAND_MM = 3.0
LISTHESIS_MIN_MM = 1.5
LISTHESIS_MIN_FRACTION = 0.08
THICKENED_MM = 2.0


def _points(level_map: Image, value: int) -> np.ndarray:
    kji = np.argwhere(np.asarray(level_map.array_kji) == value)
    return level_map.index_to_lps(kji[:, ::-1].astype(float)) if len(kji) else np.zeros((0, 3))


def _wall(along_p: np.ndarray, along_n: np.ndarray, band: tuple[float, float], step_mm: float) -> float | None:
    """Mean over height rows (``step_mm`` thick) within ``band`` of the most posterior position in each row."""
    inside = (along_n >= band[0]) & (along_n <= band[1])
    if not inside.any():
        return None
    rows = np.floor(along_n[inside] / step_mm).astype(int)
    values = along_p[inside]
    order = np.argsort(rows)
    rows, values = rows[order], values[order]
    starts = np.r_[0, np.nonzero(np.diff(rows))[0] + 1]
    return float(np.mean(np.maximum.reduceat(values, starts)))


def _body_extent(along_p: np.ndarray, along_n: np.ndarray, step_mm: float) -> tuple[float, float]:
    """Lowest and highest height of the rows where the body is at least 60 % of its median AP width: the
    endplates, not the tips of osteophytes growing past them (narrow rows)."""
    rows = np.floor(along_n / step_mm).astype(int)
    order = np.argsort(rows)
    rows, values = rows[order], along_p[order]
    starts = np.r_[0, np.nonzero(np.diff(rows))[0] + 1]
    widths = np.maximum.reduceat(values, starts) - np.minimum.reduceat(values, starts)
    wide = rows[starts][widths >= 0.6 * np.median(widths)]
    return float(wide.min() * step_mm), float((wide.max() + 1) * step_mm)


def measure_listhesis(level_map: Image, disc: DiscLevel) -> dict:
    """The slip at ``disc``: offset (mm), fraction of the lower endplate, grade 0-4, direction of the upper body.

    :returns: ``{"offset_mm", "fraction", "grade", "direction", "endplate_mm", "point_lps"}``; ``grade`` None
        when a body is missing from the map.
    """
    centre, normal = np.asarray(disc.center_lps), np.asarray(disc.normal_lps)
    posterior = np.array([0.0, 1.0, 0.0]) - normal[1] * normal
    posterior /= max(np.linalg.norm(posterior), 1e-6)
    lateral = np.cross(normal, posterior)
    step = float(min(level_map.spacing_mm[:2]))
    result = {
        "offset_mm": None,
        "fraction": None,
        "grade": None,
        "direction": None,
        "endplate_mm": None,
        "point_lps": disc.center_lps,
    }
    frames = {}
    for role, name in (("upper", disc.upper), ("lower", disc.lower)):
        points = _points(level_map, VERTEBRA_VALUE[name]) - centre
        points = points[np.abs(points @ lateral) <= MIDLINE_HALF_WIDTH_MM]
        if len(points) < 20:
            return result
        frames[role] = (points @ posterior, points @ normal)
    upper_p, upper_n = frames["upper"]
    lower_p, lower_n = frames["lower"]
    upper_floor, _ = _body_extent(upper_p, upper_n, step)
    _, lower_top = _body_extent(lower_p, lower_n, step)
    upper_wall = _wall(
        upper_p, upper_n, (upper_floor + ENDPLATE_SKIP_MM, upper_floor + ENDPLATE_SKIP_MM + WALL_BAND_MM), step
    )
    lower_wall = _wall(
        lower_p, lower_n, (lower_top - ENDPLATE_SKIP_MM - WALL_BAND_MM, lower_top - ENDPLATE_SKIP_MM), step
    )
    endplate_points = lower_p[lower_n >= lower_top - ENDPLATE_SKIP_MM - WALL_BAND_MM]
    if upper_wall is None or lower_wall is None or len(endplate_points) == 0:
        return result
    endplate = float(np.percentile(endplate_points, 98) - np.percentile(endplate_points, 2)) + step
    offset = upper_wall - lower_wall
    fraction = abs(offset) / max(endplate, 1e-6)
    slipped = abs(offset) >= LISTHESIS_MIN_MM and fraction >= LISTHESIS_MIN_FRACTION
    grade = min(4, max(1, math.ceil(fraction * 4))) if slipped else 0
    corner = centre + posterior * lower_wall
    return {
        "offset_mm": round(offset, 2),
        "fraction": round(fraction, 3),
        "grade": grade,
        "direction": ("posterior" if offset > 0 else "anterior") if grade else None,
        "endplate_mm": round(endplate, 2),
        "point_lps": [round(float(v), 2) for v in corner],
    }


def band_thickness_mm(mask_ji: np.ndarray, pixel_mm: tuple[float, float]) -> float:
    """Thickness (mm) of a band-like 2D mask at its thickest: 2 x the largest inner distance, less a pixel."""
    from scipy import ndimage

    if not mask_ji.any():
        return 0.0
    distance = ndimage.distance_transform_edt(mask_ji, sampling=(pixel_mm[1], pixel_mm[0]))
    return float(max(0.0, 2.0 * distance.max() - min(pixel_mm)))


def ligament_thickness(axial_level_map: Image, slice_indices: list[int]) -> dict[str, float | None]:
    """Largest PLL and LF thickness (mm) over ``slice_indices`` of an axial level map; None without slices."""
    if not slice_indices:
        return {"pll_mm": None, "lf_mm": None}
    array = np.asarray(axial_level_map.array_kji)
    pixel = (float(axial_level_map.spacing_mm[0]), float(axial_level_map.spacing_mm[1]))
    result = {}
    for key, value in (("pll_mm", PLL), ("lf_mm", LF)):
        result[key] = round(max(band_thickness_mm(array[k] == value, pixel) for k in slice_indices), 2)
    return result
