"""Where the lesions go: sites (parenchyma, convexity, falx), sizes and the brain's displacement (mass effect)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .grid import _Grid
from .template import TemplateAnatomy


@dataclass
class _LesionPlan:
    """Where and how big one lesion is (drawn before the anatomy is sampled: mass effect needs it)."""

    center_lps: np.ndarray  # body centre in output LPS
    radius_mm: float
    extra_axial: bool
    site: str  # "parenchyma" | "convexity" | "falx"
    rng: np.random.Generator
    dura_normal_lps: np.ndarray | None = None  # from the tumour towards its dural attachment
    attachment_lps: np.ndarray | None = None  # the point on the dura
    falx_side: float = 0.0  # +1: tumour in the left hemisphere (L > 0), -1: right
    mass_effect_mm: float = 0.0


def _dome_on_dura(
    rng: np.random.Generator,
    attachment_lps: np.ndarray,
    towards_dura_lps: np.ndarray,
    radius: float,
    site: str,
    lesion_rng: np.random.Generator,
    to_output,
    rotation_to_output: np.ndarray,
    falx_side: float = 0.0,
) -> _LesionPlan:
    """An extra-axial (meningioma-like) dome based on the dura at ``attachment_lps`` (template LPS, mm) and
    growing away from it, against the unit vector ``towards_dura_lps``: its height is 0.6-1.0 ``radius`` (mm),
    its body centre 35-70 % of the height inside. Draws two numbers from ``rng``."""
    height = radius * rng.uniform(0.6, 1.0)
    center = attachment_lps - towards_dura_lps * height * rng.uniform(0.35, 0.7)
    return _LesionPlan(
        to_output(center),
        radius,
        True,
        site,
        lesion_rng,
        rotation_to_output @ towards_dura_lps,
        to_output(attachment_lps),
        falx_side,
    )


def _plan_lesions(
    rng: np.random.Generator,
    template: TemplateAnatomy,
    grid: _Grid,
    tumor_type: str,
    n_lesions: int,
    to_output,
    rotation_to_output: np.ndarray,
    mass_effect: bool,
) -> list[_LesionPlan]:
    """Sites, sizes and mass effect of each lesion, in output coordinates."""
    plans = []
    largest_diameter_mm = 60.0 if n_lesions == 1 else 40.0  # several lesions: metastasis-like, smaller
    for _ in range(n_lesions):
        lesion_rng = np.random.default_rng(rng.integers(2**63))
        diameter = float(np.exp(rng.uniform(np.log(5.0), np.log(largest_diameter_mm))))
        radius = diameter / 2.0
        for _attempt in range(50):
            if tumor_type == "intra-axial":
                # deep enough that most of the body lies in the brain
                eligible = np.flatnonzero(template.intra_axial_depth_mm >= min(0.7 * radius, 15.0) + 3.0)
                index = eligible[rng.integers(len(eligible))]
                plan = _LesionPlan(
                    to_output(template.intra_axial_sites_lps[index]), radius, False, "parenchyma", lesion_rng
                )
            elif rng.random() < 0.3:
                site = template.falx_sites_lps[rng.integers(len(template.falx_sites_lps))]
                side = 1.0 if rng.random() < 0.5 else -1.0
                # a dome based on the falx, bulging into one hemisphere
                towards_dura = np.array([-side, 0.0, 0.0])
                plan = _dome_on_dura(
                    rng, site, towards_dura, radius, "falx", lesion_rng, to_output, rotation_to_output, side
                )
            else:
                index = rng.integers(len(template.convexity_sites_lps))
                site, normal = template.convexity_sites_lps[index], template.convexity_normals_lps[index]
                # the dura lies 1-3 mm outside the brain surface; the dome grows inwards from it
                dura = site + 2.0 * normal
                plan = _dome_on_dura(rng, dura, normal, radius, "convexity", lesion_rng, to_output, rotation_to_output)
            center_ijk = grid.lps_to_index_ijk(plan.center_lps)
            if np.all(center_ijk >= 0) and np.all(center_ijk <= np.array(grid.shape_kji[::-1]) - 1):
                break
        # brain pushed aside by up to a third of the radius, more by a meningioma growing in from the dura
        # (always below the radius, so the warp stays one-to-one; capped: the skull holds the brain)
        amplitude = min(rng.uniform(0.1, 0.35) * radius * (1.6 if plan.extra_axial else 1.0), 10.0)
        plan.mass_effect_mm = amplitude if mass_effect and radius >= 5.0 else 0.0
        plans.append(plan)
    return plans


def _apply_mass_effect(maps: list[np.ndarray], grid: _Grid, plans: list[_LesionPlan]) -> None:
    """Push tissue away from each lesion centre (in place): every voxel samples from a point nearer the centre.

    Radial pull ``A * min(r / R, 1) * exp(-((r - R) / decay)^2)`` (zero at the centre, largest at the tumour
    edge, fading with distance); A < R keeps the mapping one-to-one.
    """
    from scipy import ndimage

    inverse = np.linalg.inv(grid.matrix).astype(np.float32)
    for plan in plans:
        amplitude = plan.mass_effect_mm
        if amplitude <= 0:
            continue
        radius, decay = plan.radius_mm, min(plan.radius_mm, 25.0)
        slices, offsets = grid.box(plan.center_lps, radius + 2.5 * decay)
        if slices is None:
            continue
        shape = tuple(s.stop - s.start for s in slices)
        offsets = [np.broadcast_to(o, shape) for o in offsets]
        distance = np.sqrt(sum(o * o for o in offsets)) + 1e-3
        outside = np.maximum(distance - radius, 0.0)
        pull = amplitude * np.minimum(distance / radius, 1.0) * np.exp(-((outside / decay) ** 2)) / distance
        # sampling point = voxel - pull * offset; convert the LPS shift into index units (i, j, k)
        shift_ijk = [-(sum(inverse[a, m] * offsets[m] for m in range(3)) * pull) for a in range(3)]
        base = np.indices(shape, dtype=np.float32)  # (k, j, i) box-local indices
        coordinates = np.stack([base[0] + shift_ijk[2], base[1] + shift_ijk[1], base[2] + shift_ijk[0]])
        for array in maps:
            array[slices] = ndimage.map_coordinates(array[slices], coordinates, order=1, mode="nearest")
