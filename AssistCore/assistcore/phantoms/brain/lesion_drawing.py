"""Drawing one lesion inside its box: the body's shape, its enhancement pattern (rim, solid, patchy, none, or a
meningioma with its dural tail), necrosis or cyst, vasogenic edema and texture.

Labels use the BraTS 2023 values (1 non-enhancing, 2 edema, 3 enhancing); intensity classes refine them
(:mod:`.tissues`). Arrays are the lesion's box of the output grid (k, j, i); offsets are LPS mm from the lesion
centre. Each lesion draws from its own generator (``plan.rng``) in a fixed order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...brain.regions import EDEMA, ENHANCING, NON_ENHANCING
from .grid import _basis_with_first_axis, _Grid, _random_rotation, _smooth_field
from .lesions import _LesionPlan
from .tissues import _CYST, _EDEMA, _ENHANCING, _MENINGIOMA, _NECROSIS, _SOLID


@dataclass
class _LesionBox:
    """The lesion's box: index slices, LPS offsets from the centre, shape, the centre's local index (None when
    outside the box), voxel size (k, j, i) mm, the random ellipsoid (1 on its surface) and its wavelength."""

    slices: tuple
    offsets: list[np.ndarray]
    shape: tuple[int, int, int]
    local_center: tuple[int, int, int] | None
    spacing_kji: np.ndarray
    ellipsoid: np.ndarray
    wavelength: np.ndarray


def _largest_component_with(mask: np.ndarray, seed_index: tuple[int, int, int] | None) -> np.ndarray:
    """The connected component of ``mask`` holding ``seed_index`` (else the largest one)."""
    from scipy import ndimage

    components, count = ndimage.label(mask)
    if count <= 1:
        return mask
    if seed_index is not None and components[seed_index]:
        return components == components[seed_index]
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return components == int(np.argmax(sizes))


def _lesion_box(plan: _LesionPlan, grid: _Grid, edema_reach: float) -> _LesionBox | None:
    """The box around the lesion (holding everything it can reach, edema up to 1.5 x its reach) with an
    ellipsoid of random axes and orientation, flattened along the dural normal for meningiomas."""
    rng, radius = plan.rng, plan.radius_mm
    spacing_kji = np.array(grid.spacing_mm[::-1])
    slices, offsets = grid.box(plan.center_lps, 1.5 * max(edema_reach, 1.5 * radius) + 2 * max(grid.spacing_mm))
    if slices is None:
        return None
    shape = tuple(s.stop - s.start for s in slices)
    center_index = tuple(round(v) for v in grid.lps_to_index_ijk(plan.center_lps)[::-1])
    local_center = tuple(c - s.start for c, s in zip(center_index, slices))
    inside_box = all(0 <= c < n for c, n in zip(local_center, shape))
    if plan.extra_axial:
        rotation = _basis_with_first_axis(plan.dura_normal_lps, rng)
        axes = radius * np.array([rng.uniform(0.6, 1.0), rng.uniform(0.9, 1.3), rng.uniform(0.9, 1.3)])
    else:
        rotation = _random_rotation(rng)
        axes = radius * rng.uniform(0.75, 1.25, 3)
    rotated = [sum(rotation[m, a] * offsets[m] for m in range(3)) for a in range(3)]
    ellipsoid = np.sqrt(sum((r / axis) ** 2 for r, axis in zip(rotated, axes)))  # 1 on the surface
    return _LesionBox(
        slices,
        offsets,
        shape,
        local_center if inside_box else None,
        spacing_kji,
        np.broadcast_to(ellipsoid, shape),
        np.maximum(radius / spacing_kji, 1.0),
    )


def _lesion_body(plan: _LesionPlan, box: _LesionBox, fields: dict[str, np.ndarray], to_template_l) -> np.ndarray:
    """The tumour body: the ellipsoid made irregular, kept in the brain (intra-axial) or inside the skull and on
    its side of the falx (extra-axial), one connected piece holding the centre."""
    rng, slices, local_center = plan.rng, box.slices, box.local_center
    brain, intracranial = fields["brain"][slices], fields["intracranial"][slices]
    irregularity = rng.uniform(0.15, 0.45)
    body = box.ellipsoid + irregularity * _smooth_field(box.shape, box.wavelength, rng) < 1.0
    if plan.extra_axial:
        body &= intracranial  # meningiomas do not cross the skull
        if plan.site == "falx":
            voxel = 0.5 * max(box.spacing_kji)
            body &= plan.falx_side * to_template_l(plan.center_lps, box.offsets) >= -voxel
    else:
        body &= brain
    if local_center is not None and (brain[local_center] or plan.extra_axial):
        body[local_center] = True  # a lesion is never lost to coarse sampling
    return _largest_component_with(body, local_center)


def _core_of(
    body: np.ndarray, box: _LesionBox, rng: np.random.Generator
) -> tuple[Callable[[float], np.ndarray], float]:
    """(``core(thickness_mm)``, deepest body voxel in mm): the core is the body voxels deeper than a rim of
    irregular thickness, never thinner than one voxel (so the core never touches the outside of the body)."""
    from scipy import ndimage

    spacing_kji = box.spacing_kji
    inner_distance = ndimage.distance_transform_edt(body, sampling=spacing_kji) if body.any() else np.zeros(box.shape)
    thickness_field = _smooth_field(box.shape, box.wavelength * 0.5, rng)

    def core(thickness_mm: float) -> np.ndarray:
        voxel = float(spacing_kji.max())
        return inner_distance > np.maximum(max(thickness_mm, voxel) * (1.0 + 0.35 * thickness_field), voxel)

    return core, float(inner_distance.max())


def _fill_meningioma(plan, grid, box, body, cores, fields, to_template_l, labels, classes, description) -> bool:
    """A meningioma: enhancing throughout, sometimes a calcification or cyst, often a dural tail. Returns
    whether it has edema."""
    rng, (core, max_depth_mm) = plan.rng, cores
    description["pattern"] = "meningioma"
    labels[body], classes[body] = ENHANCING, _MENINGIOMA
    if plan.radius_mm >= 8.0 and rng.random() < 0.25:  # calcification or cyst: non-enhancing
        part = core(rng.uniform(0.35, 0.6) * max_depth_mm)
        labels[part], classes[part] = NON_ENHANCING, _CYST if rng.random() < 0.5 else _NECROSIS
        description["has_necrosis"] = bool(part.any())
    if rng.random() < 0.7:
        tail = _dural_tail(plan, grid, box.slices, box.offsets, fields, rng, to_template_l) & ~body
        labels[tail], classes[tail] = ENHANCING, _MENINGIOMA
        description["dural_tail"] = bool(tail.any())
    return rng.random() < 0.5


def _fill_intra_axial(plan, box, body, core, labels, classes, description) -> bool:
    """An intra-axial tumour: rim enhancement around necrosis, solid, patchy or none (low-grade-like, sometimes
    with a cyst). Returns whether it has edema."""
    rng, radius = plan.rng, plan.radius_mm
    small = radius < 4.0
    pattern = rng.choice(
        ["solid", "none"] if small else ["rim", "solid", "patchy", "none"],
        p=[0.6, 0.4] if small else [0.45, 0.2, 0.15, 0.2],
    )
    description["pattern"] = str(pattern)
    if pattern == "none":  # low-grade-like: no enhancement, sometimes a cyst
        labels[body], classes[body] = NON_ENHANCING, _SOLID
        if radius >= 8.0 and rng.random() < 0.3:
            cyst = core(rng.uniform(2.0, 6.0))
            classes[cyst] = _CYST
            description["has_necrosis"] = bool(cyst.any())
    else:
        labels[body], classes[body] = ENHANCING, _ENHANCING
        if pattern == "rim":
            necrosis = core(rng.uniform(1.5, 6.0))
            labels[necrosis], classes[necrosis] = NON_ENHANCING, _NECROSIS if rng.random() < 0.7 else _CYST
            description["has_necrosis"] = bool(necrosis.any())
        elif pattern == "patchy":
            solid = body & (_smooth_field(box.shape, box.wavelength * 0.6, rng) > rng.uniform(-0.3, 0.5))
            labels[solid], classes[solid] = NON_ENHANCING, _SOLID
    return rng.random() < (0.5 if pattern == "none" else 0.85)


def _add_edema(plan, box, fields, edema_reach: float, labels, classes) -> bool:
    """Vasogenic edema around the tumour, spreading along white matter and sparing the cortex, connected to the
    tumour; a steep penalty from 1.1 x the reach keeps it inside the box (never ending on a flat box face)."""
    from scipy import ndimage

    rng, slices, offsets = plan.rng, box.slices, box.offsets
    parenchyma, grey, white = fields["parenchyma"][slices], fields["grey"][slices], fields["white"][slices]
    reach = box.ellipsoid * plan.radius_mm / edema_reach
    beyond = np.maximum(np.sqrt(sum(o * o for o in offsets)) / edema_reach - 1.1, 0.0)
    spread = reach + 6.0 * beyond + 0.3 * _smooth_field(box.shape, box.wavelength, rng) - 0.25 * (white - grey)
    edema = (spread < 1.0) & parenchyma & (labels == 0)
    connected, _ = ndimage.label(edema | (labels > 0))
    touching = np.unique(connected[labels > 0])
    edema &= np.isin(connected, touching[touching > 0])
    labels[edema], classes[edema] = EDEMA, _EDEMA
    return bool(edema.any())


def _draw_lesion(plan: _LesionPlan, grid: _Grid, fields: dict[str, np.ndarray], to_template_l) -> dict[str, Any]:
    """Labels (0/1/2/3) and intensity classes of one lesion inside its box, with its description."""
    from scipy import ndimage

    rng = plan.rng
    radius = plan.radius_mm
    edema_factor = rng.uniform(1.3, 2.5) if not plan.extra_axial else rng.uniform(1.15, 1.6)
    edema_reach = min(radius * edema_factor, radius + 30.0)
    box = _lesion_box(plan, grid, edema_reach)
    if box is None:
        return {"slices": None}
    body = _lesion_body(plan, box, fields, to_template_l)
    labels = np.zeros(box.shape, dtype=np.uint8)
    classes = np.zeros(box.shape, dtype=np.int8)
    description = {"pattern": "", "has_necrosis": False, "has_edema": False, "dural_tail": False}
    cores = _core_of(body, box, rng)
    if plan.extra_axial:
        has_edema = _fill_meningioma(plan, grid, box, body, cores, fields, to_template_l, labels, classes, description)
    else:
        has_edema = _fill_intra_axial(plan, box, body, cores[0], labels, classes, description)
    if has_edema:
        description["has_edema"] = _add_edema(plan, box, fields, edema_reach, labels, classes)
    description["has_enhancement"] = bool((labels == ENHANCING).any())
    spacing_kji = box.spacing_kji
    # tumour texture: intensity varies inside the lesion over a few millimetres
    texture = _smooth_field(box.shape, np.maximum(rng.uniform(3.0, 8.0) / spacing_kji, 0.5), rng)
    # edema fades into the surrounding tissue over a few millimetres instead of ending in a step
    edema = labels == EDEMA
    depth = ndimage.distance_transform_edt(edema, sampling=spacing_kji) if edema.any() else np.zeros(box.shape)
    strength = (0.45 + 0.55 * np.clip(depth / rng.uniform(2.0, 8.0), 0.0, 1.0)).astype(np.float32)
    return {
        "slices": box.slices,
        "labels": labels,
        "classes": classes,
        "texture": texture,
        "edema_strength": strength,
        **description,
    }


def _dural_tail(plan: _LesionPlan, grid: _Grid, slices, offsets, fields, rng, to_template_l) -> np.ndarray:
    """Thickened enhancing meninges spreading from the tumour's dural base, thinning with distance."""
    reach = plan.radius_mm * rng.uniform(1.3, 2.2)
    thickness = max(rng.uniform(1.0, 3.0), 0.8 * max(grid.spacing_mm))
    center_shift = plan.attachment_lps - plan.center_lps  # offsets are relative to the body centre
    from_attachment = np.sqrt(sum((o - c) ** 2 for o, c in zip(offsets, center_shift)))
    taper = np.clip(1.0 - from_attachment / reach, 0.0, 1.0)
    intracranial, distance = fields["intracranial"][slices], fields["distance"][slices]
    if plan.site == "falx":
        # along the falx: a sheet in the midsagittal plane
        sheet = np.abs(to_template_l(plan.center_lps, offsets)) <= thickness * taper
        # only in the fissure (near the brain's surface), not down through the deep midline structures
        return intracranial & sheet & (taper > 0) & (distance > -4.0)
    inner_table = fields["csf_thickness_mm"]
    return intracranial & (distance > inner_table - thickness * taper) & (taper > 0)
