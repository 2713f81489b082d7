"""Synthetic brain tumour cases: real brain anatomy (MNI ICBM152 2009a from nilearn's wheel) with drawn tumours.

SynthSeg-style (Billot et al., Medical Image Analysis 2023): every sample starts from a label map (anatomy +
lesions); each label's intensity is drawn at random per contrast around a loose ordering (so networks learn
shape and relative contrast, not absolute values), then partial-volume blur, a random bias field, noise and
optionally thick-slice blur are applied. Labels use the internal convention of
:mod:`assistcore.brain.regions`: 1 non-enhancing tumour, 2 edema, 3 enhancing tumour.

Arrays are (k, j, i); images carry LPS geometry derived from the template's RAS affine.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..image import Image, ImageMetadata

BACKGROUND, CSF, GREY, WHITE = 0, 1, 2, 3  # anatomy labels
ROLES = ("t1", "t1c", "t2", "flair")

#: Mean intensity (0..1) per contrast for: background, CSF, grey, white, non-enhancing, edema, enhancing.
#: The loose ordering of real MRI: edema bright on T2/FLAIR; enhancing bright on T1c only; necrosis and
#: cysts dark on T1/T1c and bright on T2; CSF dark on FLAIR and bright on T2.
_MEANS = {
    "t1": (0.0, 0.20, 0.50, 0.70, 0.30, 0.42, 0.45),
    "t1c": (0.0, 0.20, 0.52, 0.70, 0.28, 0.44, 0.95),
    "t2": (0.0, 0.95, 0.60, 0.45, 0.90, 0.80, 0.62),
    "flair": (0.0, 0.12, 0.55, 0.45, 0.55, 0.92, 0.65),
}


@dataclass
class BrainPhantom:
    """Four co-registered contrasts, the tumour labels, the brain mask and a description of the lesions."""

    images: dict[str, Image]
    labels_kji: np.ndarray
    brain_mask_kji: np.ndarray
    tumor_type: str
    lesions: list[dict] = field(default_factory=list)
    seed: int = 0


def _template_folder() -> Path:
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("The brain phantoms need nilearn's MNI template.", "pip install nilearn")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


@lru_cache(maxsize=4)
def template_anatomy(spacing_mm: float = 2.0) -> tuple[np.ndarray, Image]:
    """Anatomy labels (k, j, i) at ``spacing_mm`` isotropic and an Image carrying that grid (LPS).

    CSF = inside the filled brain but neither grey nor white matter (ventricles, sulci).
    """
    import SimpleITK as sitk
    from scipy import ndimage

    from ..resample import resample_to_spacing

    folder = _template_folder()
    name = "mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"
    grey = Image.from_sitk(sitk.ReadImage(str(folder / name.format("gm")), sitk.sitkFloat32))
    white = Image.from_sitk(sitk.ReadImage(str(folder / name.format("wm")), sitk.sitkFloat32))
    grey = resample_to_spacing(grey, (spacing_mm,) * 3)
    white = resample_to_spacing(white, (spacing_mm,) * 3)
    tissue = grey.array_kji + white.array_kji
    brain = ndimage.binary_fill_holes(ndimage.binary_closing(tissue > 0.25, iterations=2))
    anatomy = np.zeros(tissue.shape, dtype=np.uint8)
    anatomy[brain] = CSF
    anatomy[brain & (tissue > 0.5) & (grey.array_kji >= white.array_kji)] = GREY
    anatomy[brain & (tissue > 0.5) & (white.array_kji > grey.array_kji)] = WHITE
    return anatomy, grey.with_array(np.zeros(tissue.shape, np.float32))


def _smooth_noise(shape, rng: np.random.Generator, sigma_voxels: float) -> np.ndarray:
    from scipy import ndimage

    field_ = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma_voxels)
    return field_ / (field_.std() + 1e-6)


def _blob(shape, center_kji, radii_vox, rng, irregularity: float) -> np.ndarray:
    """An ellipsoid whose surface is pushed in and out by smooth noise (lobulated, not a sphere)."""
    k, j, i = np.ogrid[: shape[0], : shape[1], : shape[2]]
    distance = np.sqrt(
        ((k - center_kji[0]) / radii_vox[0]) ** 2
        + ((j - center_kji[1]) / radii_vox[1]) ** 2
        + ((i - center_kji[2]) / radii_vox[2]) ** 2
    )
    return distance + irregularity * _smooth_noise(shape, rng, max(1.5, min(radii_vox) / 2)) * 0.25 <= 1.0


def _draw_lesion(anatomy, brain, rng, spacing_mm: float, extra_axial: bool) -> tuple[np.ndarray, dict]:
    """Labels of one lesion (0 elsewhere) and its description."""
    from scipy import ndimage

    shape = anatomy.shape
    radius_mm = rng.uniform(5.0, 28.0)
    if extra_axial:
        surface = brain & ~ndimage.binary_erosion(brain, iterations=1)
        candidates = np.argwhere(surface)
    else:
        candidates = np.argwhere(ndimage.binary_erosion(anatomy == WHITE, iterations=2) | (anatomy == GREY))
    center = candidates[rng.integers(len(candidates))]
    radii = radius_mm / spacing_mm * rng.uniform(0.7, 1.3, 3)
    body = _blob(shape, center, radii, rng, rng.uniform(0.2, 1.0))
    labels = np.zeros(shape, dtype=np.uint8)
    has_enhancement = extra_axial or rng.random() < 0.75
    has_necrosis = not extra_axial and has_enhancement and rng.random() < 0.6 and radius_mm > 8
    has_edema = rng.random() < (0.6 if extra_axial else 0.9)
    if has_edema:
        edema = _blob(shape, center, radii * rng.uniform(1.3, 2.2), rng, rng.uniform(0.5, 1.5))
        labels[edema & (anatomy >= GREY) & brain] = 2  # edema lives in parenchyma
    if extra_axial:
        labels[body] = 3  # meningioma-like: homogeneous enhancement, also outside the brain
        tail = _blob(shape, center, radii * np.array([0.35, 1.8, 1.8]), rng, 0.3) & ~brain
        labels[ndimage.binary_dilation(tail, iterations=1) & ~body & (ndimage.distance_transform_edt(~brain) < 2)] = 3
    elif has_enhancement:
        labels[body] = 3
        if has_necrosis:
            thickness = max(1, round(rng.uniform(1.5, 5.0) / spacing_mm))
            labels[ndimage.binary_erosion(body, iterations=thickness)] = 1
        elif rng.random() < 0.3:  # partly solid non-enhancing
            labels[body & (_smooth_noise(shape, rng, 2.0) > 0.5)] = 1
    else:
        labels[body] = 1  # non-enhancing (low-grade-like) tumour
    if not extra_axial:
        labels[~brain] = 0
    description = {
        "center_kji": [int(c) for c in center],
        "radius_mm": round(float(radius_mm), 1),
        "extra_axial": bool(extra_axial),
        "has_enhancement": bool(has_enhancement),
        "has_necrosis": bool(has_necrosis),
        "has_edema": bool(has_edema),
    }
    return labels, description


def _bias_field(shape, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A smooth multiplicative field: exp of a random low-order polynomial over normalised coordinates."""
    grids = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in shape], indexing="ij")
    log_field = np.zeros(shape, dtype=np.float32)
    for axis in range(3):
        log_field += rng.normal(0, strength) * grids[axis] + rng.normal(0, strength / 2) * grids[axis] ** 2
    return np.exp(log_field)


def generate_brain_phantom(
    seed: int,
    spacing_mm: float = 2.0,
    tumor_type: str | None = None,
    n_lesions: int | None = None,
    thick_slices: bool | None = None,
) -> BrainPhantom:
    """One synthetic case. Everything random is drawn from ``numpy.random.default_rng(seed)``."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    anatomy, grid = template_anatomy(float(spacing_mm))
    brain = anatomy > BACKGROUND
    tumor_type = tumor_type or ("extra-axial" if rng.random() < 0.25 else "intra-axial")
    n_lesions = n_lesions or int(rng.choice([1, 1, 1, 2, 3]))
    labels = np.zeros(anatomy.shape, dtype=np.uint8)
    lesions = []
    for _ in range(n_lesions):
        lesion_labels, description = _draw_lesion(anatomy, brain, rng, spacing_mm, tumor_type == "extra-axial")
        # later lesions do not overwrite earlier tumour (only edema)
        write = (lesion_labels > 0) & ((labels == 0) | (labels == 2))
        labels[write] = lesion_labels[write]
        lesions.append(description)
    # combined index: anatomy 0..3, tumour labels become 4 + (label - 1) for the intensity table
    tissue = anatomy.astype(np.int16)
    tissue[labels > 0] = 3 + labels[labels > 0]
    head = brain | (labels > 0)
    thick = rng.random() < 0.3 if thick_slices is None else thick_slices
    images = {}
    for role in ROLES:
        means = np.clip(np.array(_MEANS[role]) + rng.normal(0, 0.07, 7), 0.02, 1.2)
        means[0] = 0.0
        stds = rng.uniform(0.01, 0.05, 7)
        volume = means[tissue] + stds[tissue] * rng.standard_normal(tissue.shape).astype(np.float32)
        volume = ndimage.gaussian_filter(volume, rng.uniform(0.3, 0.8))  # partial volume
        volume *= _bias_field(volume.shape, rng, rng.uniform(0.0, 0.3))
        if thick:
            axis = int(rng.integers(3))
            sigma = [0.0, 0.0, 0.0]
            sigma[axis] = rng.uniform(1.0, 2.0)
            volume = ndimage.gaussian_filter(volume, sigma)
        volume += rng.normal(0, rng.uniform(0.005, 0.04), volume.shape)
        volume[~ndimage.binary_dilation(head, iterations=1)] = 0.0  # skull-stripped, as BraTS-style data
        scale = rng.uniform(200, 2000)
        images[role] = grid.with_array(
            np.clip(volume * scale, 0, None).astype(np.float32),
            series_description=role,
            patient_id=f"phantom-{seed}",
        )
    return BrainPhantom(images, labels, brain, tumor_type, lesions, seed)


def write_phantom_case(phantom: BrainPhantom, folder: str | Path, case_id: str) -> dict[str, Path]:
    """NIfTI files ``<case_id>_<role>.nii.gz`` and ``<case_id>_seg.nii.gz`` (labels in BraTS 2023 values)."""
    from ..image_io import write_image

    folder = Path(folder)
    paths = {role: write_image(image, folder / f"{case_id}_{role}.nii.gz") for role, image in phantom.images.items()}
    reference = phantom.images["flair"]
    labels = Image(
        phantom.labels_kji,
        reference.spacing_mm,
        reference.origin_lps,
        reference.direction_lps,
        ImageMetadata(patient_id=case_id),
    )
    paths["seg"] = write_image(labels, folder / f"{case_id}_seg.nii.gz")
    return paths
