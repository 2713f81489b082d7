"""Planning the acquisitions of a spine phantom: the sagittal grid, one oblique axial block per cervical disc in
the sagittal field of view, and the displacement field that samples the straightened world onto them.

Grids are :class:`_Acquisition` (shape (k, j, i), spacing (i, j, k) mm, origin and direction LPS).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...image import Image
from ...spine.labels import DISCS
from .acquisition import _Acquisition, _rotation
from .shape import _Pose

#: Sagittal direction columns i=(0,1,0) (P), j=(0,0,-1) (I), k=(-1,0,0) (R).
SAGITTAL_DIRECTION = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass
class _SagittalPlan:
    acquisition: _Acquisition
    spacing: tuple[float, float, float]
    thickness: float
    n_slices: int
    fov: float
    cut_c2: bool

    def contains(self) -> Callable[[np.ndarray], bool]:
        """A test of whether an LPS point lies inside the sagittal grid (half a voxel beyond the centres)."""
        geometry = Image(
            np.zeros((1, 1, 1), np.uint8), self.spacing, tuple(self.acquisition.origin_lps), SAGITTAL_DIRECTION
        )
        shape_kji = self.acquisition.shape_kji

        def inside_sagittal(point: np.ndarray) -> bool:
            index = geometry.lps_to_index(point)[0]
            return bool(np.all(index >= -0.5) and np.all(index <= np.array(shape_kji[::-1]) - 0.5))

        return inside_sagittal


def _plan_sagittal(
    rng: np.random.Generator,
    plan: dict[str, Any],
    pose: _Pose,
    spacing: tuple[float, float, float] | None,
    cut_c2: bool | None,
) -> _SagittalPlan:
    """The sagittal grid: drawn spacing (unless given), slices, field of view, and its top above the skull base or
    (``cut_c2``) just below the C2 body centre."""
    bodies, to_lps = plan["bodies"], pose.to_lps
    drawn_in_plane = rng.uniform(0.7, 1.0)
    drawn_slice = rng.uniform(3.0, 4.0)
    gap = bool(rng.random() < 0.4)
    spacing = spacing or (drawn_in_plane, drawn_in_plane, drawn_slice)
    thickness = spacing[2] * (0.9 if gap else 1.0)
    n_slices = int(rng.integers(11, 16))
    fov = rng.uniform(200.0, 260.0)
    drawn_cut = bool(rng.random() < 0.15)
    cut_c2 = drawn_cut if cut_c2 is None else bool(cut_c2)
    c2_mid = 0.5 * (bodies["C2"]["top"] + bodies["C2"]["bottom"])
    below_c2_centre, top_h = rng.uniform(2.0, 6.0), rng.uniform(15.0, 55.0)
    lateral_error, ap_error = rng.uniform(-1.5, 1.5), rng.uniform(-10.0, 10.0)
    # S of the first row: above the skull base, or (cut) just below the C2 body centre
    top_s = to_lps(0.0, -bodies["C2"]["depth"] / 2, c2_mid)[2] - below_c2_centre if cut_c2 else to_lps(0, 0, top_h)[2]
    centre = to_lps(0.0, 8.0, 0.5 * (bodies["C3"]["top"] + bodies["C7"]["bottom"]))
    size_i = round(fov / spacing[0])
    size_j = round(fov / spacing[1])
    origin = np.array(
        [
            centre[0] + lateral_error + (n_slices - 1) / 2 * spacing[2],  # k runs towards the right (-L)
            centre[1] + ap_error - (size_i - 1) / 2 * spacing[0],
            top_s,
        ]
    )
    acquisition = _Acquisition((n_slices, size_j, size_i), spacing, origin, SAGITTAL_DIRECTION, thickness)
    return _SagittalPlan(acquisition, spacing, thickness, n_slices, fov, cut_c2)


def _disc_geometry(plan: dict[str, Any], pose: _Pose) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per disc: (centre, unit normal pointing superior, unit posterior direction), LPS."""
    geometry = {}
    for name, disc in plan["discs"].items():
        center = pose.to_lps(0.0, -disc["depth"] / 2, disc["center"])
        _point, up, post = pose.shape.curve.at(disc["center"])
        geometry[name] = (center, pose.direction_to_lps(up), pose.direction_to_lps(post))
    return geometry


def _plan_axial_blocks(
    rng: np.random.Generator,
    disc_geometry: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    inside_sagittal: Callable[[np.ndarray], bool],
    with_axial: bool,
) -> tuple[list[tuple[str, _Acquisition]], dict[str, float]]:
    """(disc name, block grid) for C2/3..C6/7 (C7/T1 half the time) whose centre lies in the sagittal field of
    view, each tilted a little off the disc plane and shifted; and the blocks' shared parameters. Every draw is
    made even for skipped blocks, so ``with_axial`` changes nothing else."""
    include_c7_t1 = bool(rng.random() < 0.5)
    axial_plans = []
    axial_parameters = {
        "in_plane_mm": rng.uniform(0.5, 0.75),
        "thickness_mm": rng.uniform(3.0, 4.0),
        "n_slices": int(rng.integers(3, 5)),
        "fov_mm": rng.uniform(120.0, 160.0),
    }
    for name in (*DISCS[:5], *(("C7/T1",) if include_c7_t1 else ())):
        center, normal, _post = disc_geometry[name]
        tilt = _rotation(rng.uniform(-2.5, 2.5, 3))
        along = rng.uniform(-0.6, 0.6)
        in_plane_shift = rng.uniform(-4.0, 4.0, 2)
        if not (with_axial and inside_sagittal(center)):
            continue
        k_axis = tilt @ normal
        k_axis /= np.linalg.norm(k_axis)
        i_axis = np.array([1.0, 0.0, 0.0]) - k_axis[0] * k_axis
        i_axis /= np.linalg.norm(i_axis)
        j_axis = np.cross(k_axis, i_axis)
        direction = np.stack([i_axis, j_axis, k_axis], axis=1)
        pixel, n = axial_parameters["in_plane_mm"], axial_parameters["n_slices"]
        size = round(axial_parameters["fov_mm"] / pixel)
        block_spacing = (pixel, pixel, axial_parameters["thickness_mm"])
        block_centre = center + along * k_axis + direction[:, :2] @ in_plane_shift + 10.0 * j_axis
        block_origin = block_centre - direction @ (np.array(block_spacing) * (np.array([size, size, n]) - 1) / 2)
        axial_plans.append(
            (
                name,
                _Acquisition((n, size, size), block_spacing, block_origin, direction, axial_parameters["thickness_mm"]),
            )
        )
    return axial_plans, axial_parameters


def _displacement_field(acquisitions: list[_Acquisition], pose: _Pose):
    """SimpleITK displacement-field transform: anatomy frame (X, Y, Z) -> straightened (x, p, h), 1 mm steps in
    Y and Z over every grid's extent (5 mm margin), constant along X."""
    import SimpleITK as sitk

    to_anatomy = pose.to_anatomy
    corners = np.concatenate([acquisition.corners_lps() for acquisition in acquisitions])
    corners_anatomy = corners @ to_anatomy[0].T + to_anatomy[1]
    field_step = 1.0
    low, high = corners_anatomy.min(0) - 5.0, corners_anatomy.max(0) + 5.0
    ys = np.arange(low[1], high[1] + field_step, field_step)
    zs = np.arange(low[2], high[2] + field_step, field_step)
    yy, zz = np.meshgrid(ys, zs)  # (z, y)
    p_map, h_map = pose.shape.curve.straighten(np.stack([yy.ravel(), zz.ravel()], axis=1))
    plane = np.zeros((len(zs), len(ys), 3))
    plane[..., 1] = p_map.reshape(yy.shape) - yy
    plane[..., 2] = h_map.reshape(yy.shape) - zz
    displacement = np.repeat(plane[:, :, None, :], 2, axis=2)  # (z, y, x = 2 samples, 3): constant along X
    field_image = sitk.GetImageFromArray(displacement, isVector=True)  # (z, y, x, 3) -> size (x=2, y, z)
    x_span = max(abs(low[0]), abs(high[0])) + 10.0
    field_image.SetOrigin((-x_span, float(ys[0]), float(zs[0])))
    field_image.SetSpacing((2 * x_span, field_step, field_step))
    return sitk.DisplacementFieldTransform(field_image)
