"""Quality checks on brain tumour labels, following the CNS-tumour annotation consensus.

Every lesion (connected component of the whole tumour) is listed with its volume and first/last axial
slice; regions out of nesting, islands below a size, labels outside the brain and lesions whose first or
last slice looks missed are flagged. Arrays are (k, j, i); spacing is (i, j, k) in mm as in
:class:`assistcore.image.Image`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..arrays import bounding_box, box_start
from ..errors import InputError
from ..image import Image
from .regions import region_masks

#: Nesting rules of the consensus: (inner region, outer region).
NESTING_RULES = (
    ("enhancing", "tumor_body"),
    ("non_enhancing", "tumor_body"),
    ("tumor_body", "whole_tumor"),
)

#: Islands smaller than this are flagged (0.05 mL = 50 mm^3, a few voxels at 1 mm: below what a reader
#: would draw on purpose, the size of a stray brush click).
DEFAULT_MIN_ISLAND_ML = 0.05

#: A lesion "ends abruptly" when its cross-section on its first or last axial slice is still at least this
#: fraction of its largest cross-section: real lesions taper, so a large end section suggests missed slices.
ABRUPT_END_FRACTION = 0.5
#: ... and only lesions at least this large (mm^2 largest cross-section) are judged, small ones are noise.
ABRUPT_END_MIN_AREA_MM2 = 50.0


@dataclass
class Lesion:
    """One connected component of the whole tumour."""

    index: int
    volume_ml: float
    first_axial_slice: int
    last_axial_slice: int
    centroid_lps: list[float]
    region_volumes_ml: dict[str, float]


@dataclass
class QaFlag:
    """One QA finding: which check, how serious, where."""

    check: str  # nesting | island | outside_brain | abrupt_end | empty
    severity: str  # error | warning
    region: str
    message: str
    voxels: int = 0
    axial_slice: int | None = None


@dataclass
class QaReport:
    """Lesions, flags, region volumes and the reader's image quality grade (1 good .. 3 poor)."""

    axial_axis: str
    lesions: list[Lesion] = field(default_factory=list)
    flags: list[QaFlag] = field(default_factory=list)
    region_volumes_ml: dict[str, float] = field(default_factory=dict)
    image_quality_grade: int | None = None

    @property
    def passed(self) -> bool:
        return not any(flag.severity == "error" for flag in self.flags)

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def axial_array_axis(image: Image) -> int:
    """Array axis (0 = k, 1 = j, 2 = i) that runs closest to superior-inferior: axial slices are across it."""
    index_axis = int(np.argmax(np.abs(image.direction_lps[2, :])))  # S component of each index axis
    return 2 - index_axis


def voxel_volume_ml(image: Image) -> float:
    return float(np.prod(image.spacing_mm)) / 1000.0


def estimate_brain_mask(image: Image) -> np.ndarray:
    """A brain mask (k, j, i) bool for the outside-brain check.

    Skull-stripped inputs (BraTS style, zero outside the brain) give their non-zero voxels, holes filled.
    Otherwise: Otsu foreground, its largest connected component, holes filled. Coarse (it keeps the skull
    of unstripped images), but enough to catch labels in the air or outside the head.
    """
    import SimpleITK as sitk

    array = np.nan_to_num(image.array_kji.astype(np.float32))
    nonzero = array != 0
    if 0.02 < nonzero.mean() < 0.6:  # a stripped brain in a zero background
        return _fill_holes(nonzero)
    foreground = sitk.OtsuThreshold(sitk.GetImageFromArray(array), 0, 1)
    largest = sitk.RelabelComponent(sitk.ConnectedComponent(foreground), sortByObjectSize=True) == 1
    return _fill_holes(sitk.GetArrayFromImage(largest).astype(bool))


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``binary_fill_holes`` inside the mask's bounding box: the same result (background touching the box edge
    touches the outside), several times faster on a head in a large field of view."""
    from scipy import ndimage

    filled = np.zeros_like(mask, dtype=bool)
    box = bounding_box(mask)
    if box is not None:
        filled[box] = ndimage.binary_fill_holes(mask[box])
    return filled


def _components(mask: np.ndarray) -> tuple[np.ndarray, int, tuple[slice, ...], np.ndarray]:
    """26-connected components of ``mask`` labelled inside its bounding box (fast on full-resolution grids).

    :returns: (component labels of ``mask[box]``, count, box, the box's start (k, j, i) to add to positions).
    """
    from scipy import ndimage

    box = bounding_box(mask) or tuple(slice(0, 0) for _ in mask.shape)
    components, count = ndimage.label(mask[box], structure=np.ones((3, 3, 3), dtype=bool))
    return components, int(count), box, box_start(box)


def _as_region_masks(labels_or_masks: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if isinstance(labels_or_masks, dict):
        return {name: np.asarray(mask, dtype=bool) for name, mask in labels_or_masks.items()}
    return region_masks(np.asarray(labels_or_masks))


def list_lesions(masks: dict[str, np.ndarray], image: Image) -> list[Lesion]:
    """Connected components (26-connected) of the whole tumour, largest first, with region volumes.

    Vectorised over components (bincount, find_objects, center_of_mass): a noisy prediction with thousands
    of specks is listed in well under a second.
    """
    from scipy import ndimage

    whole = masks["whole_tumor"]
    components, count, box, start_kji = _components(whole)
    if count == 0:
        return []
    axis = axial_array_axis(image)
    voxel_ml = voxel_volume_ml(image)
    sizes = np.bincount(components.ravel(), minlength=count + 1)
    region_sizes = {
        name: np.bincount(components[(mask & whole)[box]], minlength=count + 1) for name, mask in masks.items()
    }
    centroids_kji = np.asarray(ndimage.center_of_mass(whole[box], components, range(1, count + 1)), dtype=float)
    centroids_lps = image.index_to_lps((centroids_kji.reshape(-1, 3) + start_kji)[:, ::-1])
    lesions = []
    for component, bounds in enumerate(ndimage.find_objects(components), start=1):
        lesions.append(
            Lesion(
                index=0,
                volume_ml=float(sizes[component] * voxel_ml),
                first_axial_slice=int(bounds[axis].start + start_kji[axis]),
                last_axial_slice=int(bounds[axis].stop - 1 + start_kji[axis]),
                centroid_lps=[round(float(v), 2) for v in centroids_lps[component - 1]],
                region_volumes_ml={name: float(counts[component] * voxel_ml) for name, counts in region_sizes.items()},
            )
        )
    lesions.sort(key=lambda lesion: -lesion.volume_ml)
    for number, lesion in enumerate(lesions, start=1):
        lesion.index = number
    return lesions


def check_nesting(masks: dict[str, np.ndarray]) -> list[QaFlag]:
    """Inner regions must lie inside their outer region (enhancing, non-enhancing in body, body in whole)."""
    flags = []
    for inner, outer in NESTING_RULES:
        if inner in masks and outer in masks:
            outside = int((masks[inner] & ~masks[outer]).sum())
            if outside:
                flags.append(
                    QaFlag("nesting", "error", inner, f"{outside} voxels of {inner} lie outside {outer}.", outside)
                )
    return flags


def check_islands(masks: dict[str, np.ndarray], image: Image, min_volume_ml: float) -> list[QaFlag]:
    """Connected pieces of each region smaller than ``min_volume_ml`` (likely stray strokes)."""
    from scipy import ndimage

    flags = []
    voxel_ml = voxel_volume_ml(image)
    axis = axial_array_axis(image)
    for name, mask in masks.items():
        components, count, _box, start_kji = _components(mask)
        if count == 0:
            continue
        sizes = np.bincount(components.ravel())[1:]
        bounds = ndimage.find_objects(components)
        for component in np.flatnonzero(sizes * voxel_ml < min_volume_ml) + 1:
            flags.append(
                QaFlag(
                    "island",
                    "warning",
                    name,
                    f"{name}: island of {sizes[component - 1]} voxels "
                    f"({sizes[component - 1] * voxel_ml * 1000:.1f} mm^3) below {min_volume_ml * 1000:.0f} mm^3.",
                    int(sizes[component - 1]),
                    int(bounds[component - 1][axis].start + start_kji[axis]),
                )
            )
    return flags


def check_outside_brain(masks: dict[str, np.ndarray], brain_mask: np.ndarray, extra_axial: bool) -> list[QaFlag]:
    """Labels outside the brain. Extra-axial tumours sit on the meninges, so only edema is held to the brain."""
    regions = ("whole_tumor",) if not extra_axial else ()
    flags = []
    for name in regions:
        outside = int((masks[name] & ~brain_mask).sum())
        if outside:
            flags.append(
                QaFlag("outside_brain", "error", name, f"{outside} voxels of {name} lie outside the brain.", outside)
            )
    if extra_axial and {"whole_tumor", "tumor_body"} <= masks.keys():
        edema = masks["whole_tumor"] & ~masks["tumor_body"]
        outside = int((edema & ~brain_mask).sum())
        if outside:
            flags.append(
                QaFlag(
                    "outside_brain",
                    "error",
                    "edema",
                    f"{outside} edema voxels lie outside the brain parenchyma (extra-axial mode).",
                    outside,
                )
            )
    return flags


def check_abrupt_ends(masks: dict[str, np.ndarray], image: Image) -> list[QaFlag]:
    """Lesions whose first or last axial cross-section is still large: slices were probably missed."""
    from scipy import ndimage

    axis = axial_array_axis(image)
    in_plane_mm2 = float(np.prod([s for index, s in enumerate(image.spacing_mm[::-1]) if index != axis]))
    components, count, _box, start_kji = _components(masks["whole_tumor"])
    if count == 0:
        return []  # find_objects cannot take the empty box of an empty mask
    flags = []
    for component, bounds in enumerate(ndimage.find_objects(components), start=1):
        in_lesion = components[bounds] == component
        other_axes = tuple(a for a in range(3) if a != axis)
        areas_mm2 = in_lesion.sum(axis=other_axes) * in_plane_mm2
        largest = float(areas_mm2.max())
        if largest < ABRUPT_END_MIN_AREA_MM2:
            continue
        for end, area in (("first", areas_mm2[0]), ("last", areas_mm2[-1])):
            if area >= ABRUPT_END_FRACTION * largest and len(areas_mm2) > 1:
                slice_index = start_kji[axis] + (bounds[axis].start if end == "first" else bounds[axis].stop - 1)
                flags.append(
                    QaFlag(
                        "abrupt_end",
                        "warning",
                        "whole_tumor",
                        f"Lesion ends abruptly on its {end} axial slice {slice_index}: cross-section "
                        f"{area:.0f} mm^2 is {area / largest:.0%} of its largest; check the neighbouring slices.",
                        int(in_lesion.sum()),
                        int(slice_index),
                    )
                )
    return flags


def run_qa(
    labels_or_masks: np.ndarray | dict[str, np.ndarray],
    reference: Image,
    brain_mask_kji: np.ndarray | None = None,
    extra_axial: bool = False,
    min_island_ml: float = DEFAULT_MIN_ISLAND_ML,
    image_quality_grade: int | None = None,
) -> QaReport:
    """Every consensus QA check on one case.

    :param labels_or_masks: internal label map (k, j, i) or region masks {region: bool (k, j, i)}.
    :param reference: the image the labels lie on (geometry, and the brain mask when none is given).
    :param image_quality_grade: the reader's grade, 1 (good) to 3 (poor), recorded as given.
    """
    if image_quality_grade is not None and image_quality_grade not in (1, 2, 3):
        raise InputError(f"Image quality grade must be 1, 2 or 3, got {image_quality_grade}.")
    masks = _as_region_masks(labels_or_masks)
    for name, mask in masks.items():
        if mask.shape != reference.shape_kji:
            raise InputError(
                f"Region {name} has shape {mask.shape}, the reference image {reference.shape_kji}.",
                "Resample the labels onto the reference grid first.",
            )
    masks.setdefault("whole_tumor", np.logical_or.reduce(list(masks.values())))
    brain = estimate_brain_mask(reference) if brain_mask_kji is None else brain_mask_kji.astype(bool)
    voxel_ml = voxel_volume_ml(reference)
    report = QaReport(
        axial_axis="kji"[axial_array_axis(reference)],
        lesions=list_lesions(masks, reference),
        region_volumes_ml={name: float(mask.sum() * voxel_ml) for name, mask in masks.items()},
        image_quality_grade=image_quality_grade,
    )
    if not masks["whole_tumor"].any():
        report.flags.append(QaFlag("empty", "warning", "whole_tumor", "No tumour labelled in this case."))
    report.flags += check_nesting(masks)
    report.flags += check_islands(masks, reference, min_island_ml)
    report.flags += check_outside_brain(masks, brain, extra_axial)
    report.flags += check_abrupt_ends(masks, reference)
    return report
