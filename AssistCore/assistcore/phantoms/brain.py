"""Synthetic brain tumour cases: a real brain (MNI ICBM152 2009a, shipped in nilearn's wheel) with drawn tumours.

Built the way SynthSeg builds its training data (Billot et al., Medical Image Analysis 2023): every sample
starts from *label maps* (anatomy plus lesions), then each tissue's intensity is drawn at random per contrast,
and a random bias field, random slice thickness with blur, Rician noise, a random head pose and a random
intensity scale are applied. Contrasts keep the typical ordering of clinical MRI only loosely (edema bright on
FLAIR and T2, enhancing tumour bright on T1c but not on T1, necrosis dark on T1c and bright on T2, CSF dark on
FLAIR and bright on T2), so a network learns shapes and relative contrast, not absolute values.

Tumour labels use the project's region convention (:mod:`assistcore.brain.regions`, the BraTS 2023 values):
**0** background, **1** non-enhancing tumour (necrosis, cyst, solid non-enhancing), **2** edema,
**3** enhancing tumour (in extra-axial, meningioma-like tumours also the thickened enhancing meninges of the
dural tail). The regions nest: tumour body = {1, 3}, whole tumour = {1, 2, 3}.

Anatomy labels (:data:`ANATOMY_NAMES`): 0 background, 1 CSF (ventricles, sulci, the layer under the skull),
2 grey matter, 3 white matter, 4 skull, 5 scalp.

Arrays are (k, j, i); images carry LPS geometry. The template's axes are kept (i towards the patient's right,
j towards anterior, k towards superior, so k-slices are axial); the head gets a random rigid pose inside that
grid. Everything random comes from ``numpy.random.default_rng(seed)``, so a seed gives the same phantom.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..brain.regions import EDEMA, ENHANCING, NON_ENHANCING
from ..errors import InputError
from ..image import Image, ImageMetadata

BACKGROUND, CSF, GREY, WHITE, SKULL, SCALP = 0, 1, 2, 3, 4, 5
ANATOMY_NAMES = {
    BACKGROUND: "background",
    CSF: "CSF",
    GREY: "grey matter",
    WHITE: "white matter",
    SKULL: "skull",
    SCALP: "scalp",
}
ROLES = ("t1", "t1c", "t2", "flair")
TUMOR_TYPES = ("intra-axial", "extra-axial")
TEMPLATE_FILE = "mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"

# Intensity classes (rows of the contrast tables). Tumour classes refine the labels: necrosis, cyst and
# solid non-enhancing tumour are all label 1 but look different (a cyst is CSF-like, dark on FLAIR).
_BG, _CSF, _GREY, _WHITE, _BONE, _SCALP, _NECROSIS, _CYST, _SOLID, _EDEMA, _ENHANCING, _MENINGIOMA = range(12)
_CLASS_OF_ANATOMY = np.array([_BG, _CSF, _GREY, _WHITE, _BONE, _SCALP], dtype=np.int8)

#: Mean intensity ranges (low, high) per class for T1, T2 and FLAIR, white matter around 0.3-0.8. Each sample
#: draws one mean per class and contrast from its range widened by ``_JITTER``, so ordering holds loosely.
_MEAN_RANGES = {
    #             T1            T2            FLAIR
    _BG: ((0.00, 0.00), (0.00, 0.00), (0.00, 0.00)),
    _CSF: ((0.08, 0.25), (0.85, 1.00), (0.03, 0.15)),  # dark on FLAIR (fluid suppressed), bright on T2
    _GREY: ((0.40, 0.55), (0.45, 0.62), (0.45, 0.60)),
    _WHITE: ((0.60, 0.80), (0.30, 0.45), (0.35, 0.48)),
    _BONE: ((0.02, 0.12), (0.02, 0.10), (0.02, 0.10)),  # cortical bone gives almost no signal
    _SCALP: ((0.60, 1.00), (0.45, 0.85), (0.45, 0.85)),  # fat: bright on T1
    _NECROSIS: ((0.10, 0.30), (0.70, 0.95), (0.35, 0.70)),
    _CYST: ((0.05, 0.22), (0.85, 1.00), (0.05, 0.30)),  # fluid-like
    _SOLID: ((0.30, 0.48), (0.60, 0.82), (0.62, 0.90)),
    _EDEMA: ((0.32, 0.50), (0.62, 0.85), (0.72, 1.00)),  # bright on T2 and FLAIR
    _ENHANCING: ((0.35, 0.55), (0.45, 0.70), (0.55, 0.80)),
    _MENINGIOMA: ((0.38, 0.55), (0.45, 0.70), (0.45, 0.65)),  # about grey matter before contrast
}
#: T1 post-contrast: the T1 value times a small gain for tissue that does not take up gadolinium; these ranges
#: for the classes that do (enhancing tumour, meningioma).
_T1C_ENHANCING_RANGES = {_ENHANCING: (0.85, 1.30), _MENINGIOMA: (0.90, 1.35)}
_JITTER = 0.05


# ----- the template ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TemplateAnatomy:
    """The MNI ICBM152 2009a brain on its own 1 mm grid (197 x 233 x 189 voxels, i x j x k), derived once.

    :ivar labels: anatomy labels (uint8 BACKGROUND/CSF/GREY/WHITE) on the template grid (LPS).
    :ivar grey_kji, white_kji: tissue probabilities 0..1 (float32, k, j, i).
    :ivar brain_kji: the filled brain outline (bool): parenchyma plus ventricles and sulci.
    :ivar distance_mm: signed distance to the brain surface in mm (negative inside) on a 2 mm grid.
    :ivar brain_center_lps: centre of the brain's bounding box (mm).
    :ivar intra_axial_sites_lps, intra_axial_depth_mm: parenchyma points at least 4 mm deep, and their depth.
    :ivar convexity_sites_lps, convexity_normals_lps: points on the cerebral surface and outward normals.
    :ivar falx_sites_lps: points in the interhemispheric fissure above the corpus callosum.
    """

    labels: Image
    grey_kji: np.ndarray
    white_kji: np.ndarray
    brain_kji: np.ndarray
    distance_mm: Image
    brain_center_lps: np.ndarray
    intra_axial_sites_lps: np.ndarray
    intra_axial_depth_mm: np.ndarray
    convexity_sites_lps: np.ndarray
    convexity_normals_lps: np.ndarray
    falx_sites_lps: np.ndarray


def template_folder() -> Path:
    """The folder of nilearn's bundled data holding the MNI ICBM152 2009a template files."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "The brain phantoms need the MNI ICBM152 template shipped inside the nilearn package, "
            "which is not installed.",
            "Install it with `pip install nilearn` (no download at run time: the files are in its wheel).",
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    missing = [kind for kind in ("t1", "gm", "wm") if not (folder / TEMPLATE_FILE.format(kind)).is_file()]
    if missing:
        raise InputError(
            f"nilearn at {folder} lacks the template files {[TEMPLATE_FILE.format(kind) for kind in missing]}.",
            "Reinstall nilearn (`pip install --force-reinstall nilearn`); its wheel carries these files.",
        )
    return folder


@lru_cache(maxsize=1)
def template_anatomy() -> TemplateAnatomy:
    """Derive (once per process) the anatomy of the MNI template: labels, probabilities, distances, sites.

    CSF is what lies inside the filled brain outline but is neither grey nor white matter (tissue
    probability under 0.5): ventricles, cisterns and sulci.
    """
    import SimpleITK as sitk
    from scipy import ndimage

    folder = template_folder()

    def read(kind: str) -> Image:
        return Image.from_sitk(sitk.ReadImage(str(folder / TEMPLATE_FILE.format(kind)), sitk.sitkFloat32))

    t1, grey_image, white_image = read("t1"), read("gm"), read("wm")
    # the files hold 0..255 (uint8 on disk); probabilities are those over 255
    grey = np.clip(grey_image.array_kji / 255.0, 0, 1).astype(np.float32)
    white = np.clip(white_image.array_kji / 255.0, 0, 1).astype(np.float32)
    tissue = grey + white
    # the template T1 is skull-stripped: its non-zero voxels are the brain with its CSF spaces
    brain = ndimage.binary_fill_holes(ndimage.binary_closing((t1.array_kji > 0) | (tissue > 0.5), iterations=1))
    labels = np.zeros(brain.shape, dtype=np.uint8)
    labels[brain] = CSF
    parenchyma = brain & (tissue >= 0.5)
    labels[parenchyma & (grey >= white)] = GREY
    labels[parenchyma & (white > grey)] = WHITE
    labels_image = t1.with_array(labels)

    # signed distance on a 2 mm grid: smooth enough for skull layers and sites, 8x cheaper than at 1 mm
    coarse = brain[::2, ::2, ::2]
    inside = ndimage.distance_transform_edt(coarse, sampling=2.0)
    outside = ndimage.distance_transform_edt(~coarse, sampling=2.0)
    # voxel centres lie half a voxel (1 mm) from the surface between them
    signed = np.where(coarse, 1.0 - inside, outside - 1.0).astype(np.float32)
    distance = Image(signed, (2.0, 2.0, 2.0), t1.origin_lps, t1.direction_lps)

    brain_index_kji = np.argwhere(brain)
    low, high = brain_index_kji.min(0), brain_index_kji.max(0)
    brain_center_lps = t1.index_to_lps(((low + high) / 2.0)[::-1])[0]
    points_lps = distance.index_to_lps(np.argwhere(np.ones(coarse.shape, bool))[:, ::-1]).reshape(*coarse.shape, 3)
    grey_coarse, white_coarse = grey[::2, ::2, ::2], white[::2, ::2, ::2]
    superior = points_lps[..., 2]
    # the template ends at the lower medulla: keep sites clear of that artificial cut
    bottom_s = superior[coarse].min()
    deep = coarse & (grey_coarse + white_coarse >= 0.5) & (signed <= -4.0) & (superior > bottom_s + 25.0)
    surface = (np.abs(signed) <= 1.0) & (superior > bottom_s + 35.0)
    gradient = np.stack(np.gradient(signed, 2.0), axis=-1)  # (k, j, i) derivatives -> convert to LPS below
    index_to_lps = distance.direction_lps  # unit direction per index axis; spacing is isotropic
    normals = gradient[surface][:, ::-1] @ index_to_lps.T
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-6
    midline = np.abs(points_lps[..., 0]) <= 1.5  # MNI symmetric: the midsagittal plane is x = 0
    # the fissure: midline CSF with no white matter above it (so not the ventricles under the corpus callosum)
    white_from_top = np.cumsum((white_coarse > 0.5)[::-1], axis=0)[::-1] > 0  # k runs inferior -> superior
    fissure = midline & coarse & (grey_coarse + white_coarse < 0.5) & ~white_from_top
    fissure &= superior > brain_center_lps[2]
    return TemplateAnatomy(
        labels=labels_image,
        grey_kji=grey,
        white_kji=white,
        brain_kji=brain,
        distance_mm=distance,
        brain_center_lps=brain_center_lps,
        intra_axial_sites_lps=points_lps[deep],
        intra_axial_depth_mm=-signed[deep],
        convexity_sites_lps=points_lps[surface],
        convexity_normals_lps=normals,
        falx_sites_lps=points_lps[fissure],
    )


@lru_cache(maxsize=3)
def _source_images(spacing_mm_kji: tuple[float, float, float]):
    """Grey, white, brain-fraction maps and the distance map as SimpleITK images, ready to be sampled on a
    grid of ``spacing_mm_kji``.

    For coarse grids the 1 mm maps are anti-aliased with a Gaussian (sigma 0.45 x (spacing - 1 mm)), so a
    4 mm phantom shows partial-volume grey/white boundaries instead of aliasing, and kept at half the output
    spacing (whole millimetres) to save memory (about 100 MB per cached spacing at 1 mm).
    """
    from scipy import ndimage

    template = template_anatomy()
    maps = [template.grey_kji, template.white_kji, template.brain_kji.astype(np.float32)]
    smoothing_mm_kji = [max(0.0, 0.45 * (s - 1.0)) for s in spacing_mm_kji]
    if max(smoothing_mm_kji) > 0.3:
        maps = [ndimage.gaussian_filter(array, smoothing_mm_kji, truncate=3.0) for array in maps]
    step = max(1, int(min(spacing_mm_kji) // 2))
    labels = template.labels
    images = [
        Image(
            np.ascontiguousarray(array[::step, ::step, ::step], dtype=np.float32),
            tuple(step * v for v in labels.spacing_mm),
            labels.origin_lps,
            labels.direction_lps,
        ).to_sitk()
        for array in maps
    ]
    return (*images, template.distance_mm.to_sitk())


# ----- grids and boxes -----------------------------------------------------------------------------------
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


# ----- smooth random fields ----------------------------------------------------------------------------
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


# ----- lesions -----------------------------------------------------------------------------------------
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
                towards_dura = np.array([-side, 0.0, 0.0])
                # a dome based on the falx, bulging into one hemisphere
                height = radius * rng.uniform(0.6, 1.0)
                center = site - towards_dura * height * rng.uniform(0.35, 0.7)
                plan = _LesionPlan(
                    to_output(center),
                    radius,
                    True,
                    "falx",
                    lesion_rng,
                    rotation_to_output @ towards_dura,
                    to_output(site),
                    side,
                )
            else:
                index = rng.integers(len(template.convexity_sites_lps))
                site, normal = template.convexity_sites_lps[index], template.convexity_normals_lps[index]
                height = radius * rng.uniform(0.6, 1.0)
                # the dura lies 1-3 mm outside the brain surface; the dome grows inwards from it
                dura = site + 2.0 * normal
                center = dura - normal * height * rng.uniform(0.35, 0.7)
                plan = _LesionPlan(
                    to_output(center),
                    radius,
                    True,
                    "convexity",
                    lesion_rng,
                    rotation_to_output @ normal,
                    to_output(dura),
                )
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


def _draw_lesion(plan: _LesionPlan, grid: _Grid, fields: dict[str, np.ndarray], to_template_l) -> dict[str, Any]:
    """Labels (0/1/2/3) and intensity classes of one lesion inside its box, with its description."""
    from scipy import ndimage

    rng = plan.rng
    spacing_kji = np.array(grid.spacing_mm[::-1])
    radius = plan.radius_mm
    edema_factor = rng.uniform(1.3, 2.5) if not plan.extra_axial else rng.uniform(1.15, 1.6)
    edema_reach = min(radius * edema_factor, radius + 30.0)
    # the box holds everything the lesion can reach (edema is held within 1.45 x its reach below)
    slices, offsets = grid.box(plan.center_lps, 1.5 * max(edema_reach, 1.5 * radius) + 2 * max(grid.spacing_mm))
    empty = {"slices": None}
    if slices is None:
        return empty
    shape = tuple(s.stop - s.start for s in slices)
    center_index = tuple(round(v) for v in grid.lps_to_index_ijk(plan.center_lps)[::-1])
    local_center = tuple(c - s.start for c, s in zip(center_index, slices))
    inside_box = all(0 <= c < n for c, n in zip(local_center, shape))
    local_center = local_center if inside_box else None

    # ellipsoid with random axes and orientation; for meningiomas flattened along the dural normal
    if plan.extra_axial:
        rotation = _basis_with_first_axis(plan.dura_normal_lps, rng)
        axes = radius * np.array([rng.uniform(0.6, 1.0), rng.uniform(0.9, 1.3), rng.uniform(0.9, 1.3)])
    else:
        rotation = _random_rotation(rng)
        axes = radius * rng.uniform(0.75, 1.25, 3)
    rotated = [sum(rotation[m, a] * offsets[m] for m in range(3)) for a in range(3)]
    ellipsoid = np.sqrt(sum((r / axis) ** 2 for r, axis in zip(rotated, axes)))  # 1 on the surface
    ellipsoid = np.broadcast_to(ellipsoid, shape)
    wavelength = np.maximum(radius / spacing_kji, 1.0)

    brain, parenchyma = fields["brain"][slices], fields["parenchyma"][slices]
    intracranial = fields["intracranial"][slices]
    grey, white = fields["grey"][slices], fields["white"][slices]

    irregularity = rng.uniform(0.15, 0.45)
    body = ellipsoid + irregularity * _smooth_field(shape, wavelength, rng) < 1.0
    if plan.extra_axial:
        body &= intracranial  # meningiomas do not cross the skull
        if plan.site == "falx":
            body &= plan.falx_side * to_template_l(plan.center_lps, offsets) >= -0.5 * max(grid.spacing_mm)
    else:
        body &= brain
    if local_center is not None and (brain[local_center] or plan.extra_axial):
        body[local_center] = True  # a lesion is never lost to coarse sampling
    body = _largest_component_with(body, local_center)

    labels = np.zeros(shape, dtype=np.uint8)
    classes = np.zeros(shape, dtype=np.int8)
    description = {"pattern": "", "has_necrosis": False, "has_edema": False, "dural_tail": False}
    inner_distance = ndimage.distance_transform_edt(body, sampling=spacing_kji) if body.any() else np.zeros(shape)
    thickness_field = _smooth_field(shape, wavelength * 0.5, rng)

    def core(thickness_mm: float) -> np.ndarray:
        """Body voxels deeper than a rim of irregular thickness, never thinner than one voxel (so the core
        never touches the outside of the body)."""
        voxel = float(spacing_kji.max())
        return inner_distance > np.maximum(max(thickness_mm, voxel) * (1.0 + 0.35 * thickness_field), voxel)

    if plan.extra_axial:
        description["pattern"] = "meningioma"
        labels[body], classes[body] = ENHANCING, _MENINGIOMA
        if radius >= 8.0 and rng.random() < 0.25:  # calcification or cyst: non-enhancing
            part = core(rng.uniform(0.35, 0.6) * float(inner_distance.max()))
            labels[part], classes[part] = NON_ENHANCING, _CYST if rng.random() < 0.5 else _NECROSIS
            description["has_necrosis"] = bool(part.any())
        if rng.random() < 0.7:
            tail = _dural_tail(plan, grid, slices, offsets, fields, rng, to_template_l) & ~body
            labels[tail], classes[tail] = ENHANCING, _MENINGIOMA
            description["dural_tail"] = bool(tail.any())
        has_edema = rng.random() < 0.5
    else:
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
                solid = body & (_smooth_field(shape, wavelength * 0.6, rng) > rng.uniform(-0.3, 0.5))
                labels[solid], classes[solid] = NON_ENHANCING, _SOLID
        has_edema = rng.random() < (0.5 if pattern == "none" else 0.85)
    if has_edema:
        # vasogenic edema spreads along white matter and spares the cortex
        reach = ellipsoid * radius / edema_reach
        # a steep penalty from 1.1 x the reach in mm keeps edema inside the box (1.5 x the reach), so it never
        # ends on a flat box face
        beyond = np.maximum(np.sqrt(sum(o * o for o in offsets)) / edema_reach - 1.1, 0.0)
        spread = reach + 6.0 * beyond + 0.3 * _smooth_field(shape, wavelength, rng) - 0.25 * (white - grey)
        edema = (spread < 1.0) & parenchyma & (labels == 0)
        connected, _ = ndimage.label(edema | (labels > 0))
        touching = np.unique(connected[labels > 0])
        edema &= np.isin(connected, touching[touching > 0])
        labels[edema], classes[edema] = EDEMA, _EDEMA
        description["has_edema"] = bool(edema.any())
    description["has_enhancement"] = bool((labels == ENHANCING).any())
    # tumour texture: intensity varies inside the lesion over a few millimetres
    texture = _smooth_field(shape, np.maximum(rng.uniform(3.0, 8.0) / spacing_kji, 0.5), rng)
    # edema fades into the surrounding tissue over a few millimetres instead of ending in a step
    edema = labels == EDEMA
    depth = ndimage.distance_transform_edt(edema, sampling=spacing_kji) if edema.any() else np.zeros(shape)
    strength = (0.45 + 0.55 * np.clip(depth / rng.uniform(2.0, 8.0), 0.0, 1.0)).astype(np.float32)
    return {
        "slices": slices,
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


# ----- intensities ---------------------------------------------------------------------------------------
def _draw_contrasts(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per contrast, one mean intensity per class (12,), drawn from the loose ranges."""
    means = {}
    table = np.array([_MEAN_RANGES[tissue_class] for tissue_class in range(len(_MEAN_RANGES))], dtype=np.float64)
    for column, role in enumerate(("t1", "t2", "flair")):
        ranges = table[:, column]
        means[role] = np.clip(rng.uniform(ranges[:, 0] - _JITTER, ranges[:, 1] + _JITTER), 0.01, None)
        means[role][_BG] = 0.0
    # gadolinium barely changes tissue without uptake: T1c = T1 times a small gain, except the enhancing classes
    means["t1c"] = means["t1"] * rng.uniform(0.97, 1.12)
    for tissue_class, (low, high) in _T1C_ENHANCING_RANGES.items():
        means["t1c"][tissue_class] = rng.uniform(low - _JITTER, high + _JITTER)
    return {role: means[role] for role in ROLES}


def _resample_axis(volume: np.ndarray, axis: int, positions: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``volume`` along ``axis`` at fractional ``positions`` (clamped to the ends)."""
    n = volume.shape[axis]
    positions = np.clip(positions, 0, n - 1)
    lower = np.floor(positions).astype(int)
    upper = np.minimum(lower + 1, n - 1)
    shape = [1, 1, 1]
    shape[axis] = -1
    weight = (positions - lower).astype(np.float32).reshape(shape)
    return np.take(volume, lower, axis=axis) * (1 - weight) + np.take(volume, upper, axis=axis) * weight


def _rician(volume: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise of ``sigma`` on both channels (Rician noise)."""
    real = volume + rng.standard_normal(volume.shape, dtype=np.float32) * np.float32(sigma)
    imaginary = rng.standard_normal(volume.shape, dtype=np.float32) * np.float32(sigma)
    return np.sqrt(real * real + imaginary * imaginary)


# ----- the phantom ---------------------------------------------------------------------------------------
@dataclass
class BrainPhantom:
    """One synthetic case: four co-registered contrasts with their ground truth.

    :ivar images: role (``t1``, ``t1c``, ``t2``, ``flair``) -> :class:`Image` (float32, all on one grid, LPS).
    :ivar labels_kji: uint8 (k, j, i) tumour labels in BraTS 2023 values: 1 non-enhancing tumour
        (necrosis, cyst, solid non-enhancing), 2 edema, 3 enhancing tumour (incl. a meningioma's dural tail).
    :ivar brain_mask_kji: bool (k, j, i): the brain (parenchyma with its ventricles and sulci), pushed by the
        tumours' mass effect. Intra-axial tumours lie inside it; extra-axial masses (and dural tails) outside.
    :ivar tumor_type: ``intra-axial`` or ``extra-axial``.
    :ivar lesions: one dict per lesion: ``center_lps`` (mm), ``radius_mm``, ``extra_axial``, ``site``
        (parenchyma | convexity | falx), ``pattern`` (rim | solid | patchy | none | meningioma),
        ``has_enhancement``, ``has_necrosis``, ``has_edema``, ``dural_tail``, ``mass_effect_mm``, ``volume_ml``.
    :ivar seed: the seed that regenerates this phantom.
    :ivar anatomy_kji: uint8 (k, j, i) anatomy under the tumours (:data:`ANATOMY_NAMES`).
    :ivar parameters: what was drawn (pose, slice thickness per contrast, noise, skull), JSON-serialisable.
    """

    images: dict[str, Image]
    labels_kji: np.ndarray
    brain_mask_kji: np.ndarray
    tumor_type: str
    lesions: list[dict] = field(default_factory=list)
    seed: int = 0
    anatomy_kji: np.ndarray | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    def label_image(self) -> Image:
        """The tumour labels as an :class:`Image` on the phantom's grid (uint8, BraTS 2023 values)."""
        reference = self.images["flair"]
        return reference.with_array(self.labels_kji.astype(np.uint8), series_description="tumour labels")


def _spacing_triple(spacing_mm: float | Sequence[float]) -> tuple[float, float, float]:
    values = (float(spacing_mm),) * 3 if np.isscalar(spacing_mm) else tuple(float(v) for v in spacing_mm)
    if len(values) != 3 or not all(np.isfinite(v) and 0.25 <= v <= 10.0 for v in values):
        raise InputError(
            f"Phantom spacing {spacing_mm!r} mm is not usable.",
            "Give one spacing or three (i, j, k) between 0.25 and 10 mm, for example 2.0.",
        )
    return values  # type: ignore[return-value]


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
    import SimpleITK as sitk

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
    # every choice is drawn even when the caller fixes it, so fixing one leaves the others unchanged
    drawn_type = "extra-axial" if rng.random() < 0.3 else "intra-axial"
    tumor_type = tumor_type or drawn_type
    count_odds = [0.75, 0.2, 0.05] if tumor_type == "extra-axial" else [0.6, 0.25, 0.15]
    drawn_count = int(rng.choice([1, 2, 3], p=count_odds))
    n_lesions = int(n_lesions) if n_lesions is not None else drawn_count
    drawn_mass_effect, drawn_thick = bool(rng.random() < 0.6), bool(rng.random() < 0.35)
    mass_effect = drawn_mass_effect if mass_effect is None else bool(mass_effect)
    thick = drawn_thick if thick_slices is None else bool(thick_slices)
    angles_deg = rng.uniform(-max_rotation_deg, max_rotation_deg, 3) if pose else np.zeros(3)
    translation_mm = rng.uniform(-max_translation_mm, max_translation_mm, 3) if pose else np.zeros(3)

    grid = _output_grid(template, spacing, None if shape_kji is None else tuple(int(v) for v in shape_kji))
    # output point -> template point (ITK resampling convention): the head is posed inside the grid
    euler = sitk.Euler3DTransform(
        tuple(float(v) for v in template.brain_center_lps),
        *(float(np.deg2rad(a)) for a in angles_deg),
        tuple(float(v) for v in translation_mm),
    )
    to_template_matrix = np.asarray(euler.GetMatrix()).reshape(3, 3)
    to_template_offset = np.asarray(euler.TransformPoint((0.0, 0.0, 0.0)))
    inverse = euler.GetInverse()

    def to_output(point_lps: np.ndarray) -> np.ndarray:
        return np.asarray(inverse.TransformPoint(tuple(float(v) for v in point_lps)))

    def to_template_l(center_lps: np.ndarray, offsets) -> np.ndarray:
        """Template L coordinate (mm; 0 on the midsagittal plane) of box voxels given as offsets from a point."""
        row = to_template_matrix[0]
        return sum(row[m] * (offsets[m] + np.float32(center_lps[m])) for m in range(3)) + to_template_offset[0]

    plans = _plan_lesions(rng, template, grid, tumor_type, n_lesions, to_output, to_template_matrix.T, mass_effect)

    # sample the anatomy maps on the output grid
    grey_source, white_source, brain_source, distance_source = _source_images(tuple(spacing[::-1]))
    reference = sitk.Image([int(v) for v in grid.shape_kji[::-1]], sitk.sitkUInt8)
    reference.SetSpacing(spacing)
    reference.SetOrigin(tuple(float(v) for v in grid.origin_lps))
    reference.SetDirection(tuple(float(v) for v in grid.direction_lps.flatten()))

    def sample(source, default: float) -> np.ndarray:
        resampled = sitk.Resample(source, reference, euler, sitk.sitkLinear, default, sitk.sitkFloat32)
        return sitk.GetArrayFromImage(resampled)

    grey, white, brain_fraction = sample(grey_source, 0.0), sample(white_source, 0.0), sample(brain_source, 0.0)
    distance = sample(distance_source, 100.0)  # outside the template: far from the brain
    _apply_mass_effect([grey, white, brain_fraction], grid, plans)

    # anatomy labels on the output grid
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

    # tumours
    fields = {
        "brain": brain,
        "parenchyma": parenchyma,
        "intracranial": intracranial,
        "grey": grey,
        "white": white,
        "distance": distance,
        "csf_thickness_mm": csf_thickness,
    }
    labels = np.zeros(grid.shape_kji, dtype=np.uint8)
    classes = _CLASS_OF_ANATOMY[anatomy]
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
    tumour = labels > 0

    # intensities
    means = _draw_contrasts(rng)
    standard_deviations = {role: rng.uniform(0.005, 0.04, len(_MEAN_RANGES)) for role in ROLES}
    soft = brain & ~tumour  # partial volume from the tissue probabilities
    grey_soft, white_soft = grey[soft], white[soft]
    csf_soft = np.clip(1.0 - grey_soft - white_soft, 0.0, 1.0)
    edema = labels == EDEMA
    grey_edema, white_edema, strength_edema = grey[edema], white[edema], edema_strength[edema]
    csf_edema = np.clip(1.0 - grey_edema - white_edema, 0.0, 1.0)
    # skull stripping keeps the intracranial space: brain, the CSF around it and extra-axial tumours
    visible = np.ones(grid.shape_kji, bool) if skull else (intracranial | tumour)
    thick_axis = int(rng.choice([0, 1, 2], p=[0.6, 0.2, 0.2])) if thick else None  # k (axial) most often
    parameters: dict[str, Any] = {
        "spacing_mm": list(spacing),
        "skull": skull,
        "mass_effect": mass_effect,
        "rotation_deg": [round(float(a), 2) for a in angles_deg],
        "translation_mm": [round(float(t), 2) for t in translation_mm],
        "thick_slice_axis_kji": thick_axis,
        "contrasts": {},
    }
    images = {}
    for role in ROLES:
        mean, deviation = means[role].astype(np.float32), standard_deviations[role].astype(np.float32)
        volume = mean[classes]
        volume[soft] = grey_soft * mean[_GREY] + white_soft * mean[_WHITE] + csf_soft * mean[_CSF]
        under = grey_edema * mean[_GREY] + white_edema * mean[_WHITE] + csf_edema * mean[_CSF]
        volume[edema] = under + strength_edema * (mean[_EDEMA] - under)
        volume += deviation[classes] * rng.standard_normal(volume.shape, dtype=np.float32)
        volume[tumour] *= 1.0 + rng.uniform(0.0, 0.15) * heterogeneity[tumour]
        partial_volume_sigma = rng.uniform(0.3, 0.8)
        volume = _blur(volume, [partial_volume_sigma] * 3)
        bias_strength = rng.uniform(0.0, 0.2)
        volume *= np.exp(bias_strength * _smooth_field(grid.shape_kji, [n * 1.5 for n in grid.shape_kji], rng))
        noise_sigma = float(rng.uniform(0.005, 0.035))
        contrast = {"bias_strength": round(bias_strength, 3), "noise_sigma": round(noise_sigma, 4)}
        thickness_mm = rng.uniform(3.0, 7.0) if thick_axis is not None else 0.0
        factor = thickness_mm / spacing[2 - thick_axis] if thick_axis is not None else 0.0
        if factor >= 1.5:
            # thick slices: the slice profile blurs along the axis (FWHM = thickness), the scanner samples
            # every `factor` voxels, noise is added to those, and the viewer interpolates back
            sigma = [0.0, 0.0, 0.0]
            sigma[thick_axis] = factor / 2.355
            blurred = _blur(volume, sigma)
            positions = np.arange(0.0, volume.shape[thick_axis] - 1 + 1e-6, factor)
            low = _rician(_resample_axis(blurred, thick_axis, positions), noise_sigma, rng)
            volume = _resample_axis(low, thick_axis, np.arange(volume.shape[thick_axis]) / factor)
            contrast["slice_thickness_mm"] = round(float(thickness_mm), 2)
        else:
            volume = _rician(volume, noise_sigma, rng)
        gamma = float(np.exp(rng.normal(0.0, 0.1)))
        every_other = (slice(None, None, 2),) * 3  # a percentile needs no full-resolution sort
        peak = float(np.percentile(volume[every_other][visible[every_other]], 99.5)) if visible.any() else 1.0
        volume = peak * np.clip(volume / max(peak, 1e-6), 0.0, None) ** gamma
        scale = float(np.exp(rng.uniform(np.log(100.0), np.log(3000.0))))
        volume *= np.float32(scale)
        volume[~visible] = 0.0
        contrast.update(
            {"gamma": round(gamma, 3), "scale": round(scale, 1), "means": [round(float(v), 3) for v in mean]}
        )
        parameters["contrasts"][role] = contrast
        images[role] = Image(
            volume.astype(np.float32),
            spacing,
            tuple(grid.origin_lps),
            grid.direction_lps.copy(),
            ImageMetadata(patient_id=f"phantom-{seed}", series_description=role, modality="MR"),
        )
    # the brain outline excludes extra-axial masses: they displace the brain, they are not part of it
    brain_mask = brain & ~extra_axial_mass
    return BrainPhantom(images, labels, brain_mask, tumor_type, lesions, int(seed), anatomy, parameters)


def _blur(volume: np.ndarray, sigma_kji: Sequence[float]) -> np.ndarray:
    from scipy import ndimage

    return ndimage.gaussian_filter(volume, sigma_kji, truncate=3.0) if max(sigma_kji) > 0 else volume


# ----- output ---------------------------------------------------------------------------------------------
def write_phantom_case(phantom: BrainPhantom, folder: str | os.PathLike[str], case_id: str) -> dict[str, Path]:
    """Write ``<case_id>_<role>.nii.gz`` per contrast and ``<case_id>_seg.nii.gz`` (BraTS 2023 values, uint8).

    :returns: role -> path, plus ``seg`` -> the label file. Files are written atomically.
    """
    from ..image_io import write_image

    folder = Path(folder)
    paths = {role: write_image(image, folder / f"{case_id}_{role}.nii.gz") for role, image in phantom.images.items()}
    labels = phantom.label_image()
    labels = labels.with_array(labels.array_kji, patient_id=case_id)
    paths["seg"] = write_image(labels, folder / f"{case_id}_seg.nii.gz")
    return paths


#: Consensus colours: non-enhancing blue, edema (whole tumour) yellow, enhancing purple.
LABEL_COLORS_RGB = {NON_ENHANCING: (40, 90, 255), EDEMA: (255, 220, 0), ENHANCING: (170, 40, 240)}


def render_phantom_montage(
    phantoms: Sequence[BrainPhantom], path: str | os.PathLike[str], upscale: int | None = None
) -> Path:
    """A PNG with one row per phantom: T1, T1c, T2, FLAIR and FLAIR with the labels, on the axial slice
    holding the most tumour (the middle slice when there is none). Written atomically."""
    from PIL import ImageDraw

    from ..pictures import render_slice, save_png, tile_grid

    rows = []
    for phantom in phantoms:
        per_slice = (phantom.labels_kji > 0).sum(axis=(1, 2))
        k = int(np.argmax(per_slice)) if per_slice.any() else phantom.labels_kji.shape[0] // 2
        zoom = upscale or max(1, round(phantom.images["flair"].spacing_mm[0]))
        tiles = [render_slice(phantom.images[role], k, upscale=zoom) for role in ROLES]
        tiles.append(
            render_slice(
                phantom.images["flair"],
                k,
                label_plane_ji=phantom.labels_kji[k],
                label_colors_rgb=LABEL_COLORS_RGB,
                label_opacity=0.5,
                upscale=zoom,
            )
        )
        caption = f"seed {phantom.seed} {phantom.tumor_type} {len(phantom.lesions)} lesion(s) k={k}"
        ImageDraw.Draw(tiles[0]).text((3, 3), caption, fill=(255, 255, 0))
        for role, tile in zip((*ROLES, "labels"), tiles):
            ImageDraw.Draw(tile).text((3, tile.height - 14), role, fill=(0, 255, 0))
        rows.append(tiles)
    return save_png(tile_grid(rows), path)
