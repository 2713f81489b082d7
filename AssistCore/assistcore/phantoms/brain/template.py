"""The MNI ICBM152 2009a template (shipped in nilearn's wheel) and the anatomy derived from it once per process."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...errors import InputError
from ...image import Image
from .tissues import CSF, GREY, TEMPLATE_FILE, WHITE


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
