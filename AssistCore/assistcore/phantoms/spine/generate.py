"""The spine phantom generator: plan, shape, paint, pose, acquire, render and measure, in that order.

Everything random is drawn from one ``numpy.random.default_rng(seed)`` in a fixed order, so a seed gives the same
phantom (``Testing/test_phantom_hashes.py`` holds the generator to the samples the bundled models were trained on).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ...image import Image
from ...spine.labels import LABEL_OF, VERTEBRAE
from .acquisition import _Acquisition, _check_spacing, _render, _sample_codes
from .paint import _paint_world
from .plan import _check_findings, _plan
from .planning import _disc_geometry, _displacement_field, _plan_axial_blocks, _plan_sagittal
from .shape import _draw_pose, _draw_shape, _Pose
from .tissues import _CODE_SHIFT, _JITTER, _MEAN_RANGES, _WORLD_SPACING
from .truth import SpineLevel, SpinePhantom, SpineVertebra, _round
from .world import _measure, _World


def generate_spine_phantom(
    seed: int,
    *,
    sagittal_spacing_mm: Sequence[float] | None = None,
    with_t1: bool = True,
    with_axial: bool = True,
    findings: Mapping[str, Mapping[str, Any]] | None = None,
    cut_c2: bool | None = None,
    pose: bool = True,
    max_rotation_deg: float = 5.0,
    max_translation_mm: float = 10.0,
) -> SpinePhantom:
    """One synthetic cervical-spine MRI case, the same for the same arguments.

    :param seed: seeds ``numpy.random.default_rng``; everything random is drawn from it.
    :param sagittal_spacing_mm: (i, j, k) of the sagittal grid: in-plane (AP, SI) and slice spacing; None draws
        in-plane 0.7-1.0 mm and 3-4 mm slices (thickness = spacing, or 90 % of it with a gap).
    :param with_t1: also render sagittal T1 (same grid as T2).
    :param with_axial: render oblique axial T2 blocks, one per visible cervical disc (C2/3..C6/7, C7/T1 half the
        time), 3-4 thick slices each, 3-4 mm thick, 0.5-0.75 mm in plane.
    :param findings: force findings, by disc level (``{"C5/6": {"herniation": "central", "depth_mm": 4.0,
        "listhesis_grade": 1, "listhesis_direction": "anterior", "pll_mm": 4.0, "lf_mm": 1.2,
        "degenerated": True}}``, keys of :data:`FINDING_LEVELS`) or by vertebra C2..T1 (``{"C5":
        {"osteophyte_mm": 3.0, "osteophyte_site": "anterior-inferior"}}``). Everything else is drawn as usual.
    :param cut_c2: place the top of the sagittal field of view below the C2 body centre (first visible vertebra
        C3); None draws it (15 %).
    :param pose: random patient rotation (up to ``max_rotation_deg`` per axis) and shift (``max_translation_mm``).
    :returns: a :class:`SpinePhantom`; arrays (k, j, i), geometry in LPS.
    """
    spacing = _check_spacing(sagittal_spacing_mm)
    forced = _check_findings(findings)
    rng = np.random.default_rng(seed)
    plan = _plan(rng, forced)
    plan["neck"] = (rng.uniform(10.0, 20.0), rng.uniform(62.0, 72.0), rng.uniform(50.0, 60.0))
    plan["fat_mm"] = rng.uniform(3.0, 9.0)
    plan["airway_gap"] = rng.uniform(14.0, 22.0)
    plan["cortex_mm"] = rng.uniform(0.8, 1.4)
    shape = _draw_shape(rng, plan)
    world = _World(shape.h_range, shape.offset_of_h)
    _paint_world(plan, world)
    measured = _measure(plan, world)
    posed = _draw_pose(rng, plan, shape, pose, max_rotation_deg, max_translation_mm)
    sagittal = _plan_sagittal(rng, plan, posed, spacing, cut_c2)
    inside_sagittal = sagittal.contains()
    disc_geometry = _disc_geometry(plan, posed)
    axial_plans, axial_parameters = _plan_axial_blocks(rng, disc_geometry, inside_sagittal, with_axial)
    field_transform = _displacement_field([sagittal.acquisition] + [a for _n, a in axial_plans], posed)
    source = _code_volume(world)
    means = _draw_means(rng)
    images = _render_images(rng, seed, source, field_transform, posed, means, sagittal.acquisition, axial_plans)
    sag_t2, sag_t1, labels_image, blocks, label_blocks, block_levels, rendered = images
    vertebrae = _vertebra_truth(plan, measured, posed, inside_sagittal)
    levels = _level_truth(plan, measured, disc_geometry, inside_sagittal, block_levels)
    visible_bodies = [v.name for v in vertebrae[1:] if v.visible]
    parameters = _parameters(plan, shape, posed, sagittal, with_t1, rendered, axial_parameters, means)
    return SpinePhantom(
        sag_t2,
        sag_t1 if with_t1 else None,
        labels_image,
        blocks,
        label_blocks,
        block_levels,
        vertebrae,
        levels,
        visible_bodies[0] if visible_bodies else None,
        int(seed),
        parameters,
    )


def _code_volume(world: _World):
    """The painted world as one SimpleITK uint16 image of ``label << CODE_SHIFT | class`` (x, p, h mm)."""
    import SimpleITK as sitk

    codes = world.labels.astype(np.uint16) << _CODE_SHIFT | world.classes
    source = sitk.GetImageFromArray(codes)
    source.SetSpacing(_WORLD_SPACING)
    source.SetOrigin((float(world.x[0]), float(world.p[0]), float(world.h[0])))
    return source


def _draw_means(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One mean intensity per tissue class and contrast (``t1``, ``t2``) for this sample."""
    means = {}
    for column, contrast in enumerate(("t1", "t2")):
        ranges = [_MEAN_RANGES[k][column] for k in range(len(_MEAN_RANGES))]
        means[contrast] = np.array(
            [rng.uniform(max(0.0, low - _JITTER), high + _JITTER) if high > 0 else 0.0 for low, high in ranges]
        )
    return means


def _render_images(
    rng: np.random.Generator,
    seed: int,
    source,
    field_transform,
    posed: _Pose,
    means: dict[str, np.ndarray],
    sagittal: _Acquisition,
    axial_plans: list[tuple[str, _Acquisition]],
) -> tuple:
    """(sag T2, sag T1, sag labels, axial T2 blocks, their label blocks, block levels, render parameters): codes
    sampled through each thick slice, labels from the middle sub-slice. T1 is always rendered (the draws stay
    the same with and without it)."""
    to_anatomy = posed.to_anatomy
    sag_codes = _sample_codes(sagittal, source, field_transform, to_anatomy)
    sag_labels = (sag_codes[len(sag_codes) // 2] >> _CODE_SHIFT).astype(np.uint8)
    sag_t2, t2_parameters = _render(sag_codes, means["t2"], sagittal, rng, "sag T2", seed)
    sag_t1, t1_parameters = _render(sag_codes, means["t1"], sagittal, rng, "sag T1", seed)
    labels_image = sag_t2.with_array(sag_labels, series_description="sag labels")
    blocks: list[Image] = []
    label_blocks: list[Image] = []
    block_levels: list[str] = []
    block_parameters = []
    for name, acquisition in axial_plans:
        block_codes = _sample_codes(acquisition, source, field_transform, to_anatomy)
        image, parameters = _render(block_codes, means["t2"], acquisition, rng, f"ax T2 {name}", seed)
        blocks.append(image)
        label_blocks.append(
            image.with_array(
                (block_codes[len(block_codes) // 2] >> _CODE_SHIFT).astype(np.uint8),
                series_description=f"ax labels {name}",
            )
        )
        block_levels.append(name)
        block_parameters.append(parameters)
    rendered = {"t2": t2_parameters, "t1": t1_parameters, "blocks": block_parameters}
    return sag_t2, sag_t1, labels_image, blocks, label_blocks, block_levels, rendered


def _vertebra_truth(
    plan: dict[str, Any], measured: dict, posed: _Pose, inside_sagittal: Callable[[np.ndarray], bool]
) -> list[SpineVertebra]:
    """C1..T3 as rendered: centres in LPS, sizes, osteophytes as measured on the painted labels, visibility."""
    bodies, to_lps = plan["bodies"], posed.to_lps
    vertebrae = []
    for name in VERTEBRAE:
        if name == "C1":
            c2 = bodies["C2"]
            arch_h = c2["top"] + 0.55 * (0.0 - c2["top"])
            center = to_lps(0.0, -0.5 * c2["depth"] - 0.33 * c2["depth"] - 5.0, arch_h)
            vertebrae.append(
                SpineVertebra(name, LABEL_OF[name], _round(center), 0.0, 0.0, 0.0, visible=inside_sagittal(center))
            )
            continue
        body = bodies[name]
        center = to_lps(0.0, -body["depth"] / 2, 0.5 * (body["top"] + body["bottom"]))
        size = round(measured[name]["osteophyte_mm"], 2)
        vertebrae.append(
            SpineVertebra(
                name,
                LABEL_OF[name],
                _round(center),
                round(body["depth"], 2),
                round(body["width"], 2),
                round(body["height"], 2),
                size > 0,
                size,
                body["osteophyte_site"] if size > 0 else None,
                inside_sagittal(center),
            )
        )
    return vertebrae


def _level_truth(
    plan: dict[str, Any],
    measured: dict,
    disc_geometry: dict,
    inside_sagittal: Callable[[np.ndarray], bool],
    block_levels: list[str],
) -> list[SpineLevel]:
    """Disc levels C2/3..T2/T3 as rendered: plane, findings measured on the labels (listhesis graded by quarters
    of the lower endplate, ligaments thickened over 2 mm), visibility and axial block."""
    bodies, discs = plan["bodies"], plan["discs"]
    levels = []
    for name, disc in discs.items():
        center, normal, post = disc_geometry[name]
        values = measured[name]
        offset = values["offset_mm"]
        fraction = abs(offset) / bodies[disc["lower"]]["depth"]
        grade = 0 if abs(offset) < 1.0 else int(np.clip(np.ceil(fraction * 4.0), 1, 4))
        levels.append(
            SpineLevel(
                name,
                disc["upper"],
                disc["lower"],
                LABEL_OF[name],
                _round(center),
                _round(normal, 5),
                _round(post, 5),
                round(disc["height"], 2),
                disc["degenerated"],
                disc["herniation"],
                disc["side"],
                round(values["protrusion_mm"], 2),
                grade,
                ("anterior" if offset < 0 else "posterior") if grade else None,
                round(abs(offset), 2),
                round(values["pll_mm"], 2),
                round(values["lf_mm"], 2),
                values["pll_mm"] > 2.0,
                values["lf_mm"] > 2.0,
                inside_sagittal(center),
                block_levels.index(name) if name in block_levels else None,
            )
        )
    return levels


def _parameters(
    plan: dict[str, Any],
    shape,
    posed: _Pose,
    sagittal,
    with_t1: bool,
    rendered: dict,
    axial_parameters: dict[str, float],
    means: dict[str, np.ndarray],
) -> dict[str, Any]:
    """What was drawn (pose, curvature, acquisitions, render parameters, class means), JSON-serialisable."""
    angle_deg, variation, measured_angle = shape.angle_deg, shape.variation, shape.measured_angle
    angles, shift = posed.angles_deg, posed.shift_mm
    spacing, thickness, n_slices = sagittal.spacing, sagittal.thickness, sagittal.n_slices
    fov, cut_c2 = sagittal.fov, sagittal.cut_c2
    t2_parameters, t1_parameters = rendered["t2"], rendered["t1"] if with_t1 else None
    block_parameters = rendered["blocks"]
    parameters = {
        "curvature": shape.curvature,
        "lordosis_drawn_deg": round(float(angle_deg), 2),
        "lordosis_c2_c7_deg": round(measured_angle, 2),
        "curvature_variation": round(float(variation), 3),
        "rotation_deg": [round(float(a), 3) for a in angles],
        "translation_mm": [round(float(t), 3) for t in shift],
        "sagittal": {
            "spacing_mm": list(spacing),
            "thickness_mm": round(thickness, 3),
            "n_slices": n_slices,
            "fov_mm": round(fov, 1),
            "cut_c2": cut_c2,
            "t2": t2_parameters,
            "t1": t1_parameters,
        },
        "axial": {**{k: round(float(v), 3) for k, v in axial_parameters.items()}, "blocks": block_parameters},
        "canal": {k: round(float(v), 3) for k, v in plan["canal"].items()},
        "means_t1": [round(float(v), 3) for v in means["t1"]],
        "means_t2": [round(float(v), 3) for v in means["t2"]],
    }
    return parameters
