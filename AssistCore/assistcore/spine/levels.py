"""Vertebra and disc levels from a spine segmentation: instances, C2 identification, labels, disc planes.

Two label conventions meet here:

- **classes** (:data:`SEG_CLASSES`): what the segmentation network predicts on a sagittal (or axial) picture,
  without level identity except C1 and C2, which are told apart by shape (arches; body with the dens).
- **level map** (:data:`~assistcore.phantoms.spine.SPINE_LABELS`, also ``data/spine_labels.json``): one value
  per named vertebra C1..T3 and disc C2/3..T2/T3, plus dural sac, cord, PLL and LF. The phantoms' truth, the
  ``segmentation.nii.gz`` output and imported TotalSegmentator / TotalSpineSeg label files all become this.

:func:`level_map_from_classes` splits bodies into instances and names them from C2 down (or from a user's
anchor); :func:`level_map_from_named_labels` turns any label file with a value -> name table into a level map;
:func:`measure_levels` reads centres, disc planes and confidences from a level map. Geometry is in LPS mm;
arrays are (k, j, i).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..image import Image
from .labels import CORD, DISCS, DURAL_SAC, LF, PLL, VERTEBRAE

#: the segmentation network's classes (index = class value)
SEG_CLASSES = ("background", "C1", "C2", "vertebra", "disc", "dural_sac", "cord", "PLL", "LF")
CLASS_OF = {name: value for value, name in enumerate(SEG_CLASSES)}
#: class value -> level-map value for the classes that need no instance naming
_FIXED_LEVEL_VALUES = {
    CLASS_OF["C1"]: 1,
    CLASS_OF["dural_sac"]: DURAL_SAC,
    CLASS_OF["cord"]: CORD,
    CLASS_OF["PLL"]: PLL,
    CLASS_OF["LF"]: LF,
}
VERTEBRA_VALUE = {name: index + 1 for index, name in enumerate(VERTEBRAE)}
DISC_VALUE = {name: index + 11 for index, name in enumerate(DISCS)}
#: smallest vertebral body (mm^3) kept as an instance; smaller pieces join the nearest body
MIN_BODY_MM3 = 400.0
MIN_DISC_MM3 = 40.0
#: a body instance is cut where its cross-section falls under this share of the bodies around it
WAIST_RATIO = 0.2


def level_map_to_classes(level_map: np.ndarray) -> np.ndarray:
    """A level map (SPINE_LABELS values) as network classes (SEG_CLASSES), e.g. phantom truth for training."""
    lookup = np.zeros(256, dtype=np.uint8)
    lookup[1] = CLASS_OF["C1"]
    lookup[2] = CLASS_OF["C2"]
    lookup[3:11] = CLASS_OF["vertebra"]
    lookup[11:19] = CLASS_OF["disc"]
    lookup[DURAL_SAC], lookup[CORD] = CLASS_OF["dural_sac"], CLASS_OF["cord"]
    lookup[PLL], lookup[LF] = CLASS_OF["PLL"], CLASS_OF["LF"]
    return lookup[np.asarray(level_map).astype(np.intp) & 255]


def disc_name(upper: str, lower: str) -> str:
    """``C5``, ``C6`` -> ``C5/6``; ``C7``, ``T1`` -> ``C7/T1``; ``T1``, ``T2`` -> ``T1/T2`` (as in :data:`DISCS`)."""
    return f"{upper}/{lower[1:]}" if upper[0] == lower[0] == "C" else f"{upper}/{lower}"


@dataclass
class Labelling:
    """How the vertebrae were named.

    :ivar method: here (:func:`level_map_from_classes`, :func:`level_map_from_named_labels`): ``c2`` |
        ``anchor`` | ``assumed`` | ``named_labels`` | ``none``; what the pipeline reports
        (:func:`assistcore.spine.level_naming.name_levels`): ``network`` (from the network's C2) | ``anchor`` |
        ``atlas`` (PAM50 match along the cord) | ``labels`` (a label file) | ``none`` (levels unknown).
    :ivar confidence: 0..1 that the names are right (C2 class share of the named instance, lowered by
        irregular spacing between bodies; 1 for imported named labels; 0.3 when assumed; the atlas match's
        confidence for ``atlas``).
    :ivar reason: which source named the levels and why (or why they are unknown).
    """

    method: str
    confidence: float
    c2_found: bool
    anchor: dict | None = None
    warnings: list[str] = field(default_factory=list)
    reason: str = ""


def _instances(mask: np.ndarray, spacing_mm: tuple[float, float, float], min_mm3: float) -> tuple[np.ndarray, int]:
    """Connected components (6-connected) of ``mask`` after a one-voxel opening, small ones dropped."""
    from scipy import ndimage

    opened = ndimage.binary_opening(mask, iterations=1) if mask.sum() > 0 else mask
    instances, count = ndimage.label(opened)
    if count == 0:
        return instances, 0
    voxel_mm3 = float(np.prod(spacing_mm))
    sizes = ndimage.sum_labels(np.ones_like(instances), instances, index=np.arange(1, count + 1)) * voxel_mm3
    keep = np.zeros(count + 1, dtype=np.int32)
    kept = [index + 1 for index in range(count) if sizes[index] >= min_mm3]
    keep[kept] = np.arange(1, len(kept) + 1)
    return keep[instances], len(kept)


def _absorb(instances: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` outside every instance (opening losses, small pieces) join the nearest instance."""
    from scipy import ndimage

    loose = mask & (instances == 0)
    if not loose.any() or not instances.any():
        return instances
    _, (kk, jj, ii) = ndimage.distance_transform_edt(instances == 0, return_indices=True)
    filled = instances.copy()
    filled[loose] = instances[kk[loose], jj[loose], ii[loose]]
    return filled


def _centroids_lps(image: Image, instances: np.ndarray, count: int) -> np.ndarray:
    from scipy import ndimage

    centres_kji = np.array(ndimage.center_of_mass(np.ones_like(instances), instances, range(1, count + 1)))
    return image.index_to_lps(centres_kji[:, ::-1]) if count else np.zeros((0, 3))


def _split_at_waists(
    image: Image, instances: np.ndarray, count: int, min_part_mm: float = 6.0
) -> tuple[np.ndarray, int]:
    """Split body instances joined across a disc the network missed: along height (1 mm bins), cut where the
    voxel count falls under :data:`WAIST_RATIO` of the peaks within 12 mm above and below (a thin bridge, not
    the neck of the dens); repeated until no waist is left."""
    instances = instances.copy()
    pending = list(range(1, count + 1))
    while pending:
        index = pending.pop()
        kji = np.argwhere(instances == index)
        if len(kji) < 50:
            continue
        height = image.index_to_lps(kji[:, ::-1].astype(float))[:, 2]
        low = float(height.min())
        bins = np.floor(height - low).astype(int)
        counts = np.convolve(np.bincount(bins).astype(float), np.ones(3) / 3, mode="same")
        best, depth = None, 1.0
        for cut in range(int(min_part_mm), len(counts) - int(min_part_mm)):
            below, above = counts[max(0, cut - 12) : cut].max(), counts[cut + 1 : cut + 13].max()
            ratio = counts[cut] / max(min(below, above), 1e-6)
            if ratio < WAIST_RATIO and ratio < depth:
                best, depth = cut, ratio
        if best is None:
            continue
        count += 1
        upper = kji[bins > best]
        instances[upper[:, 0], upper[:, 1], upper[:, 2]] = count
        lower = kji[bins == best]
        instances[lower[:, 0], lower[:, 1], lower[:, 2]] = 0  # the waist itself: neither body
        pending += [index, count]
    return instances, count


def _heights_and_edges(image: Image, instances: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per instance: its extent along the superior axis (2nd-98th percentile, mm) and whether it touches the
    in-plane border of the grid (cut by the field of view)."""
    heights = np.zeros(count)
    at_edge = np.zeros(count, dtype=bool)
    border = np.zeros(instances.shape, dtype=bool)
    border[:, [0, -1], :] = True
    border[:, :, [0, -1]] = True
    for index in range(count):
        mask = instances == index + 1
        kji = np.argwhere(mask)
        height = image.index_to_lps(kji[:, ::-1].astype(float))[:, 2]
        heights[index] = float(np.percentile(height, 98) - np.percentile(height, 2)) if len(kji) else 0.0
        at_edge[index] = bool((mask & border).any())
    return heights, at_edge


def _on_the_column(
    centres_lps: np.ndarray, sizes: np.ndarray, max_shift_mm: float = 12.0, max_gap_mm: float = 35.0
) -> np.ndarray:
    """Which body instances form the vertebral column: a chain grown up and down from the largest instance,
    each next body the nearest one above (below) lying within ``max_gap_mm`` in height and ``max_shift_mm``
    front-back and left-right of the last body of the chain; instances the chain skips are not vertebrae
    (skull base, jaw, sternum, noise)."""
    keep = np.zeros(len(centres_lps), dtype=bool)
    if len(centres_lps) == 0:
        return keep
    start = int(np.argmax(sizes))
    keep[start] = True
    for direction in (1.0, -1.0):
        last = centres_lps[start]
        candidates = [
            i for i in np.argsort(-direction * centres_lps[:, 2]) if direction * (centres_lps[i, 2] - last[2]) > 0
        ]
        for index in sorted(candidates, key=lambda i: direction * (centres_lps[i, 2] - last[2])):
            gap = direction * (centres_lps[index, 2] - last[2])
            shift = np.abs(centres_lps[index, :2] - last[:2]).max()
            if gap <= max_gap_mm and shift <= max_shift_mm:
                keep[index] = True
                last = centres_lps[index]
    return keep


def _merge_top_pair_without_disc(
    classes: Image, instances: np.ndarray, centres: np.ndarray, order: np.ndarray
) -> tuple[np.ndarray, bool]:
    """C2's dens can come apart from its body at the narrow neck; C1 and C2 have no disc between them, every
    lower pair has one. The top two instances are joined when no disc-class voxel lies between their centres
    (within 12 mm front-back and left-right of them), but only if the segmentation does show discs between
    most of the lower pairs: where it misses discs altogether, a missing disc says nothing."""
    if len(order) < 3:
        return instances, False
    disc = np.argwhere(np.asarray(classes.array_kji) == CLASS_OF["disc"])
    if not len(disc):
        return instances, False
    points = classes.index_to_lps(disc[:, ::-1].astype(float))

    def disc_between(upper: int, lower: int) -> bool:
        between = (points[:, 2] < centres[upper, 2]) & (points[:, 2] > centres[lower, 2])
        near = np.abs(points[:, :2] - 0.5 * (centres[upper, :2] + centres[lower, :2])).max(axis=1) <= 12.0
        return np.count_nonzero(between & near) >= 10

    lower_pairs = [disc_between(int(a), int(b)) for a, b in itertools.pairwise(order[1:])]
    top, second = int(order[0]), int(order[1])
    if np.mean(lower_pairs) < 0.5 or disc_between(top, second):
        return instances, False
    merged = instances.copy()
    merged[merged == top + 1] = second + 1
    return merged, True


def _superior(points_lps: np.ndarray) -> np.ndarray:
    return points_lps[:, 2]  # LPS z is superior


def level_map_from_classes(classes: Image, anchor: tuple[np.ndarray, str] | None = None) -> tuple[Image, Labelling]:
    """Name vertebrae and discs in a class map (SEG_CLASSES values) and return a level map on the same grid.

    Bodies (C2 and vertebra classes) are split into instances and ordered top-down along the patient's
    superior axis; bodies cut by the field of view's edge are set aside. The top instance is C2 when it is
    mostly C2 class or about twice as tall as the bodies below it (the dens); the rest follow C3, C4, ...; with an
    ``anchor`` (a point in LPS mm and its vertebra name) the instance nearest the point gets that name
    instead. Without either, the top body is assumed to be C3 (C2 out of the field of view), with a warning.
    Discs are the disc-class components between two consecutive bodies, named by them.
    """
    array = np.asarray(classes.array_kji)
    body_mask = (array == CLASS_OF["C2"]) | (array == CLASS_OF["vertebra"])
    instances, count = _instances(body_mask, classes.spacing_mm, MIN_BODY_MM3)
    instances = _absorb(instances, body_mask)
    warnings: list[str] = []
    level = np.zeros(array.shape, dtype=np.uint8)
    for class_value, level_value in _FIXED_LEVEL_VALUES.items():
        level[array == class_value] = level_value
    if count == 0:
        warnings.append("No vertebral body was found in the sagittal series: no levels could be named.")
        return classes.with_array(level), Labelling("none", 0.0, False, warnings=warnings)

    instances, count = _split_at_waists(classes, instances, count)
    centres = _centroids_lps(classes, instances, count)
    keep = _on_the_column(centres, np.bincount(instances.ravel(), minlength=count + 1)[1:])
    if not keep.all():
        warnings.append(f"{int((~keep).sum())} body-like region(s) away from the vertebral column were ignored.")
        relabel = np.zeros(count + 1, dtype=np.int32)
        relabel[1:][keep] = np.arange(1, int(keep.sum()) + 1)
        instances, count, centres = relabel[instances], int(keep.sum()), centres[keep]
    heights, at_edge = _heights_and_edges(classes, instances, count)
    typical = np.median(heights[~at_edge] if (~at_edge).any() else heights)
    partial = (at_edge & (heights < 0.6 * typical)) | (heights < 0.4 * typical)
    if partial.any() and (~partial).any():
        warnings.append(
            f"{int(partial.sum())} body piece(s) too flat for a vertebra (or cut by the edge of the "
            "field of view) were not named."
        )
        relabel = np.zeros(count + 1, dtype=np.int32)
        relabel[1:][~partial] = np.arange(1, int((~partial).sum()) + 1)
        instances, centres, heights = relabel[instances], centres[~partial], heights[~partial]
        count = len(centres)
    order = np.argsort(-_superior(centres))  # top first
    instances, joined = _merge_top_pair_without_disc(classes, instances, centres, order)
    if joined:  # renumber without the top instance
        keep = np.arange(count) != order[0]
        relabel = np.zeros(count + 1, dtype=np.int32)
        relabel[1:][keep] = np.arange(1, count)
        instances, count = relabel[instances], count - 1
        centres = _centroids_lps(classes, instances, count)
        heights, _ = _heights_and_edges(classes, instances, count)
        order = np.argsort(-_superior(centres))
    # a small piece on top of the column is C1's anterior arch, not a body: the body under it is C2
    atlas = None
    volumes = np.bincount(instances.ravel(), minlength=count + 1)[1:]
    if count >= 3 and volumes[order[0]] < 0.4 * np.median(volumes[order[1:5]]):
        top = order[0]
        atlas = instances == top + 1
        keep = np.arange(count) != top
        relabel = np.zeros(count + 1, dtype=np.int32)
        relabel[1:][keep] = np.arange(1, count)
        atlas_centre = centres[top]
        instances, count, centres, heights = relabel[instances], count - 1, centres[keep], heights[keep]
        order = np.argsort(-_superior(centres))
        if np.linalg.norm(centres[order[0]] - atlas_centre) > 35.0:
            atlas = None  # too far above to be C1 over C2: just a stray piece
    c2_share = np.array([np.mean(array[instances == index + 1] == CLASS_OF["C2"]) for index in range(count)])
    if atlas is not None:
        c2_share[order[0]] = max(c2_share[order[0]], 0.75)
    # C2 by shape as well: its body with the dens is about twice as tall as the bodies below it
    below = heights[order[1:5]]
    tall_ratio = float(heights[order[0]] / np.median(below)) if len(below) else 0.0
    c2_share[order[0]] = max(c2_share[order[0]], min(1.0, (tall_ratio - 1.2) / 0.5) if tall_ratio >= 1.45 else 0.0)
    c2_candidates = [rank for rank, index in enumerate(order) if c2_share[index] > 0.5]
    gaps = -np.diff(_superior(centres[order]))
    irregular = bool(len(gaps) >= 2 and (gaps.max() > 1.6 * np.median(gaps) or gaps.min() < 0.5 * np.median(gaps)))
    if irregular:
        warnings.append(
            "The spacing between vertebral bodies is irregular (a body may be missing or split): check the count."
        )

    names: list[str | None] = [None] * count
    if anchor is not None:
        point, anchor_name = np.asarray(anchor[0], dtype=float), anchor[1]
        if anchor_name not in VERTEBRAE[1:]:
            raise InputError(f"Anchor level {anchor_name!r} is not a vertebra C2..T3.", "Use e.g. 10,20,30:C4.")
        nearest = int(np.argmin(np.linalg.norm(centres[order] - point, axis=1)))
        start = VERTEBRAE.index(anchor_name) - nearest
        method, confidence = "anchor", 1.0
        if c2_candidates and start + c2_candidates[0] != 1:
            warnings.append(
                f"The anchor {anchor_name} disagrees with the body the network takes for C2; the anchor was used."
            )
        anchor_record = {
            "point_lps": [round(float(v), 2) for v in point],
            "level": anchor_name,
            "distance_mm": round(float(np.linalg.norm(centres[order][nearest] - point)), 2),
        }
    elif c2_candidates:
        first = c2_candidates[0]
        start = 1 - first  # VERTEBRAE index of the top instance
        confidence = float(c2_share[order[first]])
        method, anchor_record = "c2", None
        if first > 0:
            warnings.append(f"{first} body-like region(s) above C2 were ignored.")
        if len(c2_candidates) > 1:
            warnings.append("More than one body looks like C2; the highest was taken.")
            confidence *= 0.5
    else:
        start, method, confidence, anchor_record = 2, "assumed", 0.3, None
        warnings.append(
            "C2 (the dens) is not in the field of view or was not recognised: labels assume the top body is C3. "
            "Give an anchor (--anchor X,Y,Z:LEVEL, LPS mm) to label from a known vertebra."
        )
    if irregular:
        confidence *= 0.6
    for rank, index in enumerate(order):
        position = start + rank
        if 1 <= position < len(VERTEBRAE):
            names[index] = VERTEBRAE[position]
    for index, name in enumerate(names):
        if name is not None:
            level[instances == index + 1] = VERTEBRA_VALUE[name]

    _keep_c1_above_c2(level, array, classes, names, order, centres)
    if atlas is not None and names[order[0]] == "C2":
        level[atlas] = VERTEBRA_VALUE["C1"]

    # discs: components between two consecutive named bodies
    disc_mask = array == CLASS_OF["disc"]
    disc_instances, disc_count = _instances(disc_mask, classes.spacing_mm, MIN_DISC_MM3)
    disc_instances = _absorb(disc_instances, disc_mask)
    if disc_count:
        disc_centres = _centroids_lps(classes, disc_instances, disc_count)
        heights = _superior(centres[order])
        for index in range(disc_count):
            height = _superior(disc_centres[index : index + 1])[0]
            below = np.nonzero(heights < height)[0]
            if len(below) == 0 or below[0] == 0:
                continue  # above the top body or below the bottom one
            upper, lower = names[order[below[0] - 1]], names[order[below[0]]]
            if upper is None or lower is None or upper == "C1":
                continue
            name = disc_name(upper, lower)
            if name in DISC_VALUE:
                level[disc_instances == index + 1] = DISC_VALUE[name]
    labelling = Labelling(method, round(float(confidence), 3), bool(c2_candidates), anchor_record, warnings)
    return classes.with_array(level), labelling


def _keep_c1_above_c2(level, array, classes: Image, names, order, centres) -> None:
    """C1 (arches) is kept only just above a named C2 (within 35 mm of its centre); elsewhere it is noise."""
    from scipy import ndimage

    level[level == 1] = 0
    top = order[0]
    if names[top] != "C2":
        return
    pieces, count = ndimage.label(array == CLASS_OF["C1"])
    if count == 0:
        return
    piece_centres = _centroids_lps(classes, pieces, count)
    for index, centre in enumerate(piece_centres):
        if centre[2] > centres[top][2] and np.linalg.norm(centre - centres[top]) <= 35.0:
            level[pieces == index + 1] = 1


# ----- imported label files (TotalSegmentator, TotalSpineSeg, any value -> name table) ---------------------
_VERTEBRA_PATTERN = re.compile(r"(?<![a-z])([ct])(\d{1,2})(?!\d)", re.IGNORECASE)


def canonical_structure_name(name: str) -> str | None:
    """A label name from another tool as a level-map name: ``vertebrae_C5`` -> ``C5``, ``disc_C5_C6`` ->
    ``C5/6``, ``spinal_cord`` -> ``cord``, ``spinal_canal`` / ``dural sac`` -> ``dural_sac``; None if unknown."""
    text = name.strip()
    lowered = text.lower()
    if "cord" in lowered:
        return "cord"
    if "canal" in lowered or "dural" in lowered or "csf" in lowered or "thecal" in lowered:
        return "dural_sac"
    if "flavum" in lowered or lowered == "lf":
        return "LF"
    if "longitudinal" in lowered or lowered == "pll":
        return "PLL"
    levels = [(m.group(1).upper(), int(m.group(2))) for m in _VERTEBRA_PATTERN.finditer(text.replace("/", "_"))]
    if "disc" in lowered or "disk" in lowered or "/" in text:
        if len(levels) == 1 and "/" in text:  # C5/6
            region, number = levels[0]
            tail = re.search(r"/\s*([ct]?)(\d{1,2})", text, re.IGNORECASE)
            if tail:
                lower = (tail.group(1).upper() or region) + tail.group(2)
                name = disc_name(f"{region}{number}", lower)
                return name if name in DISC_VALUE else None
        if len(levels) >= 2:
            name = disc_name(f"{levels[0][0]}{levels[0][1]}", f"{levels[1][0]}{levels[1][1]}")
            return name if name in DISC_VALUE else None
        return None
    if levels:
        name = f"{levels[0][0]}{levels[0][1]}"
        return name if name in VERTEBRA_VALUE else None
    return None


def level_map_from_named_labels(labels: Image, value_names: dict[int, str]) -> tuple[Image, Labelling]:
    """Another tool's label map (e.g. TotalSegmentator, TotalSpineSeg) with its value -> name table, as a level map.

    Names are read by :func:`canonical_structure_name`; values with unknown names are dropped (listed in the
    warnings). The levels are as the file names them (confidence 1).
    """
    array = np.asarray(labels.array_kji).astype(np.int64)
    level = np.zeros(array.shape, dtype=np.uint8)
    fixed = {"dural_sac": DURAL_SAC, "cord": CORD, "PLL": PLL, "LF": LF}
    unknown = []
    for value, name in value_names.items():
        structure = canonical_structure_name(str(name))
        target = VERTEBRA_VALUE.get(structure) or DISC_VALUE.get(structure) or fixed.get(structure or "")
        if target is None:
            unknown.append(str(name))
            continue
        level[array == int(value)] = target
    warnings = [f"Labels not used (not spine levels): {', '.join(sorted(unknown)[:12])}"] if unknown else []
    if not (level >= 1).any() or not ((level >= 1) & (level <= 10)).any():
        raise InputError(
            "The label file has no vertebra labels SpineAssist can read.",
            "Give the level map (value -> name, e.g. 41: vertebrae_C2) that came with the label file.",
        )
    c2 = bool((level == VERTEBRA_VALUE["C2"]).any())
    return labels.with_array(level), Labelling("named_labels", 1.0, c2, warnings=warnings)


# ----- measuring a level map ---------------------------------------------------------------------------------
@dataclass
class VertebraLevel:
    """A named vertebra: centre of its voxels (LPS mm), volume (mL) and naming confidence."""

    name: str
    value: int
    center_lps: list[float]
    volume_ml: float
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DiscLevel:
    """A disc level: centre (LPS mm), unit normal pointing superior (fitted to the disc voxels, or the line
    between the two body centres when the disc was not segmented), height along the normal (mm), and the axial
    slices that cross its plane (filled by :func:`assistcore.spine.axial.map_axial_slices`)."""

    name: str
    upper: str
    lower: str
    value: int
    center_lps: list[float]
    normal_lps: list[float]
    height_mm: float
    fitted: bool
    confidence: float
    axial_slices: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _voxel_points_lps(image: Image, mask: np.ndarray) -> np.ndarray:
    kji = np.argwhere(mask)
    return image.index_to_lps(kji[:, ::-1].astype(float))


def fit_plane(points_lps: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(centre, unit normal pointing superior, extent along the normal in mm) of a flat cloud of points.

    The normal is the direction of least variance; the extent is the 2nd-98th percentile range along it.
    """
    centre = points_lps.mean(axis=0)
    _values, vectors = np.linalg.eigh(np.cov((points_lps - centre).T))
    normal = vectors[:, 0]
    if normal[2] < 0:
        normal = -normal
    along = (points_lps - centre) @ normal
    low, high = np.percentile(along, [2, 98])
    return centre, normal, float(high - low)


def measure_levels(level_map: Image, labelling: Labelling | None = None) -> tuple[list[VertebraLevel], list[DiscLevel]]:
    """Vertebrae (C1..T3 present) and discs between consecutive present vertebrae, top down."""
    array = np.asarray(level_map.array_kji)
    voxel_ml = float(np.prod(level_map.spacing_mm)) / 1000.0
    confidence = labelling.confidence if labelling else 1.0
    vertebrae: list[VertebraLevel] = []
    centres: dict[str, np.ndarray] = {}
    for name in VERTEBRAE:
        mask = array == VERTEBRA_VALUE[name]
        if not mask.any():
            continue
        points = _voxel_points_lps(level_map, mask)
        centres[name] = points.mean(axis=0)
        vertebrae.append(
            VertebraLevel(
                name,
                VERTEBRA_VALUE[name],
                [round(float(v), 2) for v in centres[name]],
                round(float(mask.sum()) * voxel_ml, 3),
                confidence,
            )
        )
    discs: list[DiscLevel] = []
    present = [v.name for v in vertebrae if v.name != "C1"]
    for upper, lower in itertools.pairwise(present):
        if VERTEBRAE.index(lower) != VERTEBRAE.index(upper) + 1:
            continue
        name = disc_name(upper, lower)
        if name not in DISC_VALUE:
            continue
        mask = array == DISC_VALUE[name]
        if mask.sum() >= 10:
            centre, normal, height = fit_plane(_voxel_points_lps(level_map, mask))
            fitted = True
        else:  # not segmented: halfway between the bodies, normal along the line joining them
            axis = centres[upper] - centres[lower]
            normal = axis / max(np.linalg.norm(axis), 1e-6)
            centre, height, fitted = 0.5 * (centres[upper] + centres[lower]), 0.0, False
        discs.append(
            DiscLevel(
                name,
                upper,
                lower,
                DISC_VALUE[name],
                [round(float(v), 2) for v in centre],
                [round(float(v), 4) for v in normal],
                round(height, 2),
                fitted,
                confidence if fitted else confidence * 0.5,
            )
        )
    return vertebrae, discs
