"""Vertebra and disc levels from a spine segmentation: instances, C2 identification, labels, disc planes.

Two label conventions meet here:

- **classes** (:data:`SEG_CLASSES`): what the segmentation network predicts on a sagittal (or axial) picture,
  without level identity except C1 and C2, which are told apart by shape (arches; body with the dens).
- **level map** (:data:`~assistcore.spine.labels.SPINE_LABELS`, also ``data/spine_labels.json``): one value
  per named vertebra C1..T3 and disc C2/3..T2/T3, plus dural sac, cord, PLL and LF. The phantoms' truth, the
  ``segmentation.nii.gz`` output and imported TotalSegmentator / TotalSpineSeg label files all become this.

:func:`level_map_from_classes` splits bodies into instances and names them from C2 down (or from a user's
anchor); :func:`level_map_from_named_labels` turns any label file with a value -> name table into a level map;
:func:`measure_levels` reads centres, disc planes and confidences from a level map. Geometry is in LPS mm;
arrays are (k, j, i). The body instances are found in :mod:`.body_instances`, imported label files read in
:mod:`.named_labels`, level maps measured in :mod:`.level_geometry`; their public names are importable from here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..image import Image
from .body_instances import (
    WAIST_RATIO,
    absorb_loose_voxels,
    centroids_lps,
    heights_and_edges,
    keep_instances,
    label_instances,
    on_the_column,
    split_at_waists,
)
from .labels import CORD, DISC_VALUE, DURAL_SAC, LF, PLL, VERTEBRA_VALUE, VERTEBRAE, disc_name
from .level_geometry import DiscLevel, VertebraLevel, fit_plane, measure_levels
from .named_labels import canonical_structure_name, level_map_from_named_labels

__all__ = [
    "CLASS_OF",
    "DISC_VALUE",
    "MIN_BODY_MM3",
    "MIN_DISC_MM3",
    "SEG_CLASSES",
    "VERTEBRA_VALUE",
    "WAIST_RATIO",
    "DiscLevel",
    "Labelling",
    "VertebraLevel",
    "canonical_structure_name",
    "disc_name",
    "fit_plane",
    "level_map_from_classes",
    "level_map_from_named_labels",
    "level_map_to_classes",
    "measure_levels",
]

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
#: smallest vertebral body (mm^3) kept as an instance; smaller pieces join the nearest body
MIN_BODY_MM3 = 400.0
MIN_DISC_MM3 = 40.0


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


@dataclass
class _Bodies:
    """Vertebral body instances (1..count in ``instances``), their centres (LPS mm), heights (mm) and their
    order top first (indices into ``centres``)."""

    instances: np.ndarray
    count: int
    centres: np.ndarray
    heights: np.ndarray
    order: np.ndarray

    def drop(self, keep: np.ndarray) -> None:
        """Keep only the instances where ``keep`` is True (renumbered), with their centres and heights."""
        self.instances = keep_instances(self.instances, keep)
        self.count = int(np.count_nonzero(keep))
        self.centres, self.heights = self.centres[keep], self.heights[keep]
        self.order = np.argsort(-_superior(self.centres))


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


def _column_bodies(classes: Image, instances: np.ndarray, count: int, warnings: list[str]) -> _Bodies:
    """Body instances split at waists, kept on the vertebral column, flat pieces set aside and a dens that came
    apart joined back to its body."""
    instances, count = split_at_waists(classes, instances, count)
    centres = centroids_lps(classes, instances, count)
    keep = on_the_column(centres, np.bincount(instances.ravel(), minlength=count + 1)[1:])
    if not keep.all():
        warnings.append(f"{int((~keep).sum())} body-like region(s) away from the vertebral column were ignored.")
        instances, count, centres = keep_instances(instances, keep), int(keep.sum()), centres[keep]
    heights, at_edge = heights_and_edges(classes, instances, count)
    bodies = _Bodies(instances, count, centres, heights, np.argsort(-_superior(centres)))
    typical = np.median(heights[~at_edge] if (~at_edge).any() else heights)
    partial = (at_edge & (heights < 0.6 * typical)) | (heights < 0.4 * typical)
    if partial.any() and (~partial).any():
        warnings.append(
            f"{int(partial.sum())} body piece(s) too flat for a vertebra (or cut by the edge of the "
            "field of view) were not named."
        )
        bodies.drop(~partial)
    bodies.instances, joined = _merge_top_pair_without_disc(classes, bodies.instances, bodies.centres, bodies.order)
    if joined:  # renumber without the top instance
        bodies.instances = keep_instances(bodies.instances, np.arange(bodies.count) != bodies.order[0])
        bodies.count -= 1
        bodies.centres = centroids_lps(classes, bodies.instances, bodies.count)
        bodies.heights, _ = heights_and_edges(classes, bodies.instances, bodies.count)
        bodies.order = np.argsort(-_superior(bodies.centres))
    return bodies


def _set_aside_atlas(bodies: _Bodies) -> np.ndarray | None:
    """A small piece on top of the column is C1's anterior arch, not a body: it is taken out of ``bodies`` and
    its mask returned (None when there is none, or when it lies too far above the next body to be C1 over C2)."""
    volumes = np.bincount(bodies.instances.ravel(), minlength=bodies.count + 1)[1:]
    order = bodies.order
    if not (bodies.count >= 3 and volumes[order[0]] < 0.4 * np.median(volumes[order[1:5]])):
        return None
    top = order[0]
    atlas = bodies.instances == top + 1
    atlas_centre = bodies.centres[top]
    bodies.drop(np.arange(bodies.count) != top)
    if np.linalg.norm(bodies.centres[bodies.order[0]] - atlas_centre) > 35.0:
        return None  # too far above to be C1 over C2: just a stray piece
    return atlas


def _c2_shares(array: np.ndarray, bodies: _Bodies, atlas: np.ndarray | None) -> np.ndarray:
    """0..1 per instance that it is C2: its share of C2-class voxels, raised for the top body when C1's arch
    sits on it or when it is about twice as tall as the bodies below it (the dens)."""
    order, heights = bodies.order, bodies.heights
    c2_share = np.array(
        [np.mean(array[bodies.instances == index + 1] == CLASS_OF["C2"]) for index in range(bodies.count)]
    )
    if atlas is not None:
        c2_share[order[0]] = max(c2_share[order[0]], 0.75)
    below = heights[order[1:5]]
    tall_ratio = float(heights[order[0]] / np.median(below)) if len(below) else 0.0
    c2_share[order[0]] = max(c2_share[order[0]], min(1.0, (tall_ratio - 1.2) / 0.5) if tall_ratio >= 1.45 else 0.0)
    return c2_share


def _naming_start(
    anchor: tuple[np.ndarray, str] | None,
    bodies: _Bodies,
    c2_candidates: list[int],
    c2_share: np.ndarray,
    warnings: list[str],
) -> tuple[int, str, float, dict | None]:
    """(index in VERTEBRAE of the top body, method, confidence, anchor record): from the anchor, else from the
    body taken for C2, else assuming the top body is C3."""
    centres, order = bodies.centres, bodies.order
    if anchor is not None:
        point, anchor_name = np.asarray(anchor[0], dtype=float), anchor[1]
        if anchor_name not in VERTEBRAE[1:]:
            raise InputError(f"Anchor level {anchor_name!r} is not a vertebra C2..T3.", "Use e.g. 10,20,30:C4.")
        nearest = int(np.argmin(np.linalg.norm(centres[order] - point, axis=1)))
        start = VERTEBRAE.index(anchor_name) - nearest
        if c2_candidates and start + c2_candidates[0] != 1:
            warnings.append(
                f"The anchor {anchor_name} disagrees with the body the network takes for C2; the anchor was used."
            )
        anchor_record = {
            "point_lps": [round(float(v), 2) for v in point],
            "level": anchor_name,
            "distance_mm": round(float(np.linalg.norm(centres[order][nearest] - point)), 2),
        }
        return start, "anchor", 1.0, anchor_record
    if c2_candidates:
        first = c2_candidates[0]
        confidence = float(c2_share[order[first]])
        if first > 0:
            warnings.append(f"{first} body-like region(s) above C2 were ignored.")
        if len(c2_candidates) > 1:
            warnings.append("More than one body looks like C2; the highest was taken.")
            confidence *= 0.5
        return 1 - first, "c2", confidence, None  # 1 - first: VERTEBRAE index of the top instance
    warnings.append(
        "C2 (the dens) is not in the field of view or was not recognised: labels assume the top body is C3. "
        "Give an anchor (--anchor X,Y,Z:LEVEL, LPS mm) to label from a known vertebra."
    )
    return 2, "assumed", 0.3, None


def _name_discs(level: np.ndarray, array: np.ndarray, classes: Image, names: list[str | None], bodies: _Bodies) -> None:
    """Disc-class components between two consecutive named bodies get their disc's value in ``level``."""
    disc_mask = array == CLASS_OF["disc"]
    disc_instances, disc_count = label_instances(disc_mask, classes.spacing_mm, MIN_DISC_MM3)
    disc_instances = absorb_loose_voxels(disc_instances, disc_mask)
    if not disc_count:
        return
    disc_centres = centroids_lps(classes, disc_instances, disc_count)
    order = bodies.order
    heights = _superior(bodies.centres[order])
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
    instances, count = label_instances(body_mask, classes.spacing_mm, MIN_BODY_MM3)
    instances = absorb_loose_voxels(instances, body_mask)
    warnings: list[str] = []
    level = np.zeros(array.shape, dtype=np.uint8)
    for class_value, level_value in _FIXED_LEVEL_VALUES.items():
        level[array == class_value] = level_value
    if count == 0:
        warnings.append("No vertebral body was found in the sagittal series: no levels could be named.")
        return classes.with_array(level), Labelling("none", 0.0, False, warnings=warnings)

    bodies = _column_bodies(classes, instances, count, warnings)
    atlas = _set_aside_atlas(bodies)
    c2_share = _c2_shares(array, bodies, atlas)
    c2_candidates = [rank for rank, index in enumerate(bodies.order) if c2_share[index] > 0.5]
    gaps = -np.diff(_superior(bodies.centres[bodies.order]))
    irregular = bool(len(gaps) >= 2 and (gaps.max() > 1.6 * np.median(gaps) or gaps.min() < 0.5 * np.median(gaps)))
    if irregular:
        warnings.append(
            "The spacing between vertebral bodies is irregular (a body may be missing or split): check the count."
        )
    start, method, confidence, anchor_record = _naming_start(anchor, bodies, c2_candidates, c2_share, warnings)
    if irregular:
        confidence *= 0.6
    names: list[str | None] = [None] * bodies.count
    for rank, index in enumerate(bodies.order):
        position = start + rank
        if 1 <= position < len(VERTEBRAE):
            names[index] = VERTEBRAE[position]
    for index, name in enumerate(names):
        if name is not None:
            level[bodies.instances == index + 1] = VERTEBRA_VALUE[name]

    _keep_c1_above_c2(level, array, classes, names, bodies.order, bodies.centres)
    if atlas is not None and names[bodies.order[0]] == "C2":
        level[atlas] = VERTEBRA_VALUE["C1"]
    _name_discs(level, array, classes, names, bodies)
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
    piece_centres = centroids_lps(classes, pieces, count)
    for index, centre in enumerate(piece_centres):
        if centre[2] > centres[top][2] and np.linalg.norm(centre - centres[top]) <= 35.0:
            level[pieces == index + 1] = 1
