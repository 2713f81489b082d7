"""The brain phantom generator: choices, head pose, lesion plans, anatomy sampled on the output grid (pushed by
the lesions' mass effect), lesions drawn, then each contrast rendered.

Everything random is drawn from ``numpy.random.default_rng(seed)`` in a fixed order (each lesion from its own
generator seeded from it), so a seed gives the same phantom (``Testing/test_phantom_hashes.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...brain.regions import EDEMA, ENHANCING, NON_ENHANCING
from ...errors import InputError
from ...image import Image, ImageMetadata
from .grid import _Grid, _output_grid, _smooth_field
from .intensities import _draw_contrasts, _render_contrast, _tissue
from .lesion_drawing import _draw_lesion
from .lesions import _apply_mass_effect, _LesionPlan, _plan_lesions
from .phantom import BrainPhantom
from .template import TemplateAnatomy, _source_images, template_anatomy
from .tissues import _CLASS_OF_ANATOMY, _MEAN_RANGES, CSF, GREY, ROLES, SCALP, SKULL, TUMOR_TYPES, WHITE


def _spacing_triple(spacing_mm: float | Sequence[float]) -> tuple[float, float, float]:
    values = (float(spacing_mm),) * 3 if np.isscalar(spacing_mm) else tuple(float(v) for v in spacing_mm)
    if len(values) != 3 or not all(np.isfinite(v) and 0.25 <= v <= 10.0 for v in values):
        raise InputError(
            f"Phantom spacing {spacing_mm!r} mm is not usable.",
            "Give one spacing or three (i, j, k) between 0.25 and 10 mm, for example 2.0.",
        )
    return values  # type: ignore[return-value]


@dataclass
class _HeadPose:
    """Output point -> template point (ITK resampling convention): the head posed inside the grid."""

    euler: Any  # SimpleITK Euler3DTransform
    inverse: Any
    to_template_matrix: np.ndarray
    to_template_offset: np.ndarray

    def to_output(self, point_lps: np.ndarray) -> np.ndarray:
        """A template point in output LPS mm."""
        return np.asarray(self.inverse.TransformPoint(tuple(float(v) for v in point_lps)))

    def to_template_l(self, center_lps: np.ndarray, offsets) -> np.ndarray:
        """Template L coordinate (mm; 0 on the midsagittal plane) of box voxels given as offsets from a point."""
        row = self.to_template_matrix[0]
        return sum(row[m] * (offsets[m] + np.float32(center_lps[m])) for m in range(3)) + self.to_template_offset[0]


def _head_pose(template: TemplateAnatomy, angles_deg: np.ndarray, translation_mm: np.ndarray) -> _HeadPose:
    """The rigid head pose about the brain's centre."""
    import SimpleITK as sitk

    euler = sitk.Euler3DTransform(
        tuple(float(v) for v in template.brain_center_lps),
        *(float(np.deg2rad(a)) for a in angles_deg),
        tuple(float(v) for v in translation_mm),
    )
    matrix = np.asarray(euler.GetMatrix()).reshape(3, 3)
    return _HeadPose(euler, euler.GetInverse(), matrix, np.asarray(euler.TransformPoint((0.0, 0.0, 0.0))))


def generate_brain_phantom(
    seed: int,
    spacing_mm: float | Sequence[float] = 2.0,
    tumor_type: str | None = None,
    n_lesions: int | None = None,
    thick_slices: bool | None = None,
    *,
    shape_kji: Sequence[int] | None = None,
    skull: bool = False,
    mass_effect: bool | None = None,
    pose: bool = True,
    max_rotation_deg: float = 10.0,
    max_translation_mm: float = 8.0,
) -> BrainPhantom:
    """One synthetic brain tumour case, the same for the same arguments.

    :param seed: seeds ``numpy.random.default_rng``; everything random is drawn from it.
    :param spacing_mm: voxel size, one value (isotropic) or (i, j, k). 2 mm suits CPU training, 1 mm a demo.
    :param tumor_type: ``intra-axial`` (glioma/metastasis-like) or ``extra-axial`` (meningioma-like, on the
        convexity or the falx); None draws it (30 % extra-axial).
    :param n_lesions: 1..5; None draws 1, 2 or 3.
    :param thick_slices: simulate thick-slice acquisitions (blur and down/up-sampling along one axis, per
        contrast a thickness of 3-7 mm); None draws it (35 %).
    :param shape_kji: crop/pad the grid to this many voxels (k, j, i) around the brain; None keeps the
        template's field of view (197 x 233 x 189 mm).
    :param skull: keep CSF layer, skull and scalp in the images (raw clinical series); False gives
        skull-stripped images with zero background (BraTS style).
    :param mass_effect: push the brain away from lesions of 5 mm radius and more; None draws it (60 %).
    :param pose: random head rotation (up to ``max_rotation_deg`` per axis) and shift (``max_translation_mm``).
    :returns: a :class:`BrainPhantom`; arrays (k, j, i), geometry in LPS.
    """
    if tumor_type is not None and tumor_type not in TUMOR_TYPES:
        raise InputError(f"Unknown tumour type {tumor_type!r}.", f"Use one of {', '.join(TUMOR_TYPES)}.")
    if n_lesions is not None and not 1 <= int(n_lesions) <= 5:
        raise InputError(f"n_lesions={n_lesions} is outside 1..5.", "Ask for 1 to 5 lesions, or None for random.")
    spacing = _spacing_triple(spacing_mm)
    if shape_kji is not None and (len(shape_kji) != 3 or min(shape_kji) < 8):
        raise InputError(
            f"shape_kji={shape_kji!r} is not a 3D shape of at least 8 voxels per axis.", "Use e.g. (96, 96, 96)."
        )
    template = template_anatomy()
    rng = np.random.default_rng(seed)
    choices = _draw_choices(
        rng, tumor_type, n_lesions, mass_effect, thick_slices, pose, max_rotation_deg, max_translation_mm
    )
    grid = _output_grid(template, spacing, None if shape_kji is None else tuple(int(v) for v in shape_kji))
    head = _head_pose(template, choices["angles_deg"], choices["translation_mm"])
    plans = _plan_lesions(
        rng,
        template,
        grid,
        choices["tumor_type"],
        choices["n_lesions"],
        head.to_output,
        head.to_template_matrix.T,
        choices["mass_effect"],
    )
    fields = _sample_anatomy(rng, grid, spacing, head, plans, skull)
    drawn = _draw_lesions(plans, grid, fields, head, spacing)
    images, parameters = _render_images(rng, seed, grid, spacing, fields, drawn, skull, choices)
    # the brain outline excludes extra-axial masses: they displace the brain, they are not part of it
    brain_mask = fields["brain"] & ~drawn["extra_axial_mass"]
    return BrainPhantom(
        images,
        drawn["labels"],
        brain_mask,
        choices["tumor_type"],
        drawn["lesions"],
        int(seed),
        fields["anatomy"],
        parameters,
    )


def _draw_choices(
    rng: np.random.Generator,
    tumor_type: str | None,
    n_lesions: int | None,
    mass_effect: bool | None,
    thick_slices: bool | None,
    pose: bool,
    max_rotation_deg: float,
    max_translation_mm: float,
) -> dict[str, Any]:
    """Tumour type, lesion count, mass effect, thick slices and head pose. Every choice is drawn even when the
    caller fixes it, so fixing one leaves the others unchanged."""
    drawn_type = "extra-axial" if rng.random() < 0.3 else "intra-axial"
    tumor_type = tumor_type or drawn_type
    count_odds = [0.75, 0.2, 0.05] if tumor_type == "extra-axial" else [0.6, 0.25, 0.15]
    drawn_count = int(rng.choice([1, 2, 3], p=count_odds))
    drawn_mass_effect, drawn_thick = bool(rng.random() < 0.6), bool(rng.random() < 0.35)
    return {
        "tumor_type": tumor_type,
        "n_lesions": int(n_lesions) if n_lesions is not None else drawn_count,
        "mass_effect": drawn_mass_effect if mass_effect is None else bool(mass_effect),
        "thick": drawn_thick if thick_slices is None else bool(thick_slices),
        "angles_deg": rng.uniform(-max_rotation_deg, max_rotation_deg, 3) if pose else np.zeros(3),
        "translation_mm": rng.uniform(-max_translation_mm, max_translation_mm, 3) if pose else np.zeros(3),
    }


def _sample_anatomy(
    rng: np.random.Generator,
    grid: _Grid,
    spacing: tuple[float, float, float],
    head: _HeadPose,
    plans: list[_LesionPlan],
    skull: bool,
) -> dict[str, Any]:
    """The template's maps sampled on the output grid through the head pose, pushed by the lesions' mass effect,
    and the anatomy labels (CSF layer of random thickness, grey, white; skull and scalp when asked)."""
    import SimpleITK as sitk

    grey_source, white_source, brain_source, distance_source = _source_images(tuple(spacing[::-1]))
    reference = sitk.Image([int(v) for v in grid.shape_kji[::-1]], sitk.sitkUInt8)
    reference.SetSpacing(spacing)
    reference.SetOrigin(tuple(float(v) for v in grid.origin_lps))
    reference.SetDirection(tuple(float(v) for v in grid.direction_lps.flatten()))

    def sample(source, default: float) -> np.ndarray:
        resampled = sitk.Resample(source, reference, head.euler, sitk.sitkLinear, default, sitk.sitkFloat32)
        return sitk.GetArrayFromImage(resampled)

    grey, white, brain_fraction = sample(grey_source, 0.0), sample(white_source, 0.0), sample(brain_source, 0.0)
    distance = sample(distance_source, 100.0)  # outside the template: far from the brain
    _apply_mass_effect([grey, white, brain_fraction], grid, plans)
    csf_thickness = float(rng.uniform(1.0, 3.0))
    intracranial = distance <= csf_thickness
    brain = (brain_fraction >= 0.5) & intracranial
    tissue = grey + white
    parenchyma = brain & (tissue >= 0.5)
    anatomy = np.zeros(grid.shape_kji, dtype=np.uint8)
    anatomy[intracranial] = CSF
    anatomy[parenchyma & (grey >= white)] = GREY
    anatomy[parenchyma & (white > grey)] = WHITE
    if skull:
        wavelength = [60.0 / s for s in spacing[::-1]]
        bone_thickness = rng.uniform(4.0, 8.0) * (1.0 + 0.2 * _smooth_field(grid.shape_kji, wavelength, rng))
        scalp_thickness = rng.uniform(3.0, 8.0) * (1.0 + 0.25 * _smooth_field(grid.shape_kji, wavelength, rng))
        bone = ~intracranial & (distance <= csf_thickness + bone_thickness)
        anatomy[bone] = SKULL
        anatomy[~intracranial & ~bone & (distance <= csf_thickness + bone_thickness + scalp_thickness)] = SCALP
    return {
        "brain": brain,
        "parenchyma": parenchyma,
        "intracranial": intracranial,
        "grey": grey,
        "white": white,
        "distance": distance,
        "csf_thickness_mm": csf_thickness,
        "anatomy": anatomy,
    }


def _draw_lesions(
    plans: list[_LesionPlan], grid: _Grid, fields: dict[str, Any], head: _HeadPose, spacing: tuple[float, float, float]
) -> dict[str, Any]:
    """Every lesion drawn into the tumour labels and intensity classes: bodies overwrite earlier edema, edema
    fills only free voxels. Returns labels, classes, texture, edema strength, extra-axial mass and the lesions'
    descriptions."""
    to_template_l = head.to_template_l
    labels = np.zeros(grid.shape_kji, dtype=np.uint8)
    classes = _CLASS_OF_ANATOMY[fields["anatomy"]]
    heterogeneity = np.zeros(grid.shape_kji, dtype=np.float32)
    extra_axial_mass = np.zeros(grid.shape_kji, dtype=bool)
    edema_strength = np.ones(grid.shape_kji, dtype=np.float32)
    lesions = []
    voxel_ml = float(np.prod(spacing)) / 1000.0
    for plan in plans:
        drawn = _draw_lesion(plan, grid, fields, to_template_l)
        description = {
            "center_lps": [round(float(v), 2) for v in plan.center_lps],
            "radius_mm": round(plan.radius_mm, 2),
            "extra_axial": plan.extra_axial,
            "site": plan.site,
            "mass_effect_mm": round(plan.mass_effect_mm, 2),
        }
        if drawn["slices"] is None:
            flags = dict.fromkeys(("has_enhancement", "has_necrosis", "has_edema", "dural_tail"), False)
            lesions.append({**description, "pattern": "outside the grid", **flags, "volume_ml": 0.0})
            continue
        slices, new_labels, new_classes = drawn["slices"], drawn["labels"], drawn["classes"]
        current = labels[slices]
        # tumour bodies overwrite earlier edema; edema fills only free voxels
        write = ((new_labels == EDEMA) & (current == 0)) | (
            np.isin(new_labels, (NON_ENHANCING, ENHANCING)) & np.isin(current, (0, EDEMA))
        )
        current[write] = new_labels[write]
        classes[slices][write] = new_classes[write]
        heterogeneity[slices][write] = drawn["texture"][write]
        edema_strength[slices][write] = drawn["edema_strength"][write]
        if plan.extra_axial:
            extra_axial_mass[slices] |= write & (new_labels != EDEMA)
        lesions.append(
            {
                **description,
                **{
                    key: drawn[key] for key in ("pattern", "has_enhancement", "has_necrosis", "has_edema", "dural_tail")
                },
                "volume_ml": round(float((new_labels > 0).sum()) * voxel_ml, 3),
            }
        )
    return {
        "labels": labels,
        "classes": classes,
        "heterogeneity": heterogeneity,
        "extra_axial_mass": extra_axial_mass,
        "edema_strength": edema_strength,
        "lesions": lesions,
    }


def _render_images(
    rng: np.random.Generator,
    seed: int,
    grid: _Grid,
    spacing: tuple[float, float, float],
    fields: dict[str, Any],
    drawn: dict[str, Any],
    skull: bool,
    choices: dict[str, Any],
) -> tuple[dict[str, Image], dict[str, Any]]:
    """The four contrasts (role -> float32 Image on the output grid) and the drawn parameters."""
    means = _draw_contrasts(rng)
    standard_deviations = {role: rng.uniform(0.005, 0.04, len(_MEAN_RANGES)) for role in ROLES}
    tissue = _tissue(fields, drawn, skull)
    thick_axis = int(rng.choice([0, 1, 2], p=[0.6, 0.2, 0.2])) if choices["thick"] else None  # k (axial) most often
    parameters: dict[str, Any] = {
        "spacing_mm": list(spacing),
        "skull": skull,
        "mass_effect": choices["mass_effect"],
        "rotation_deg": [round(float(a), 2) for a in choices["angles_deg"]],
        "translation_mm": [round(float(t), 2) for t in choices["translation_mm"]],
        "thick_slice_axis_kji": thick_axis,
        "contrasts": {},
    }
    images = {}
    for role in ROLES:
        mean, deviation = means[role].astype(np.float32), standard_deviations[role].astype(np.float32)
        volume, contrast = _render_contrast(tissue, mean, deviation, spacing, thick_axis, rng)
        parameters["contrasts"][role] = contrast
        images[role] = Image(
            volume,
            spacing,
            tuple(grid.origin_lps),
            grid.direction_lps.copy(),
            ImageMetadata(patient_id=f"phantom-{seed}", series_description=role, modality="MR"),
        )
    return images, parameters
