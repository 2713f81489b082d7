"""Which source names the vertebral levels: the network's C2, the user's anchor or the PAM50 atlas, or none.

:func:`name_levels` applies the rules of issue 17 (a level named wrong is worse than no level) and
:func:`complete_levels` fills what the network did not segment from the atlas discs. The atlas match itself is
:mod:`assistcore.spine.atlas`. Geometry in LPS mm; arrays (k, j, i).
"""

from __future__ import annotations

import itertools

import numpy as np

from ..image import Image
from .atlas import (
    AtlasDisc,
    AtlasMatch,
    cord_centreline,
    label_from_atlas,
    match_atlas,
    rename_discs,
    split_disc_name,
    template,
)
from .levels import (
    _FIXED_LEVEL_VALUES,
    DISC_VALUE,
    VERTEBRA_VALUE,
    DiscLevel,
    Labelling,
    VertebraLevel,
    level_map_from_classes,
    measure_levels,
)

#: the order of the vertebrae down the spine, for counting from an anchor
SPINE_ORDER = [f"C{n}" for n in range(1, 8)] + [f"T{n}" for n in range(1, 13)] + [f"L{n}" for n in range(1, 6)]
#: how far (mm, along the superior axis) a network disc and the atlas disc of the same name may lie apart
AGREEMENT_MM = 8.0


def _anchor_first_disc(match: AtlasMatch, anchor: tuple[np.ndarray, str]) -> str | None:
    """The name the top atlas disc takes when the body at the anchor point is the anchor's vertebra."""
    point, name = np.asarray(anchor[0], dtype=float), anchor[1]
    if name not in VERTEBRA_VALUE or name not in SPINE_ORDER:
        return None
    rows = np.array([d.row_mm for d in match.discs])
    along = (point - match.centreline.points) @ np.array([0.0, 0.0, 1.0])
    row = float(np.argmin(np.abs(along)))  # the centreline row at the anchor's height
    below = int(np.searchsorted(rows, row))  # discs above the anchor body: indices < below
    names = [d["name"] for d in template()[1]["discs"]]
    # template disc index i lies above vertebra SPINE_ORDER[i + 1]; the atlas disc just above the anchor body
    # (index below - 1) is therefore template disc position - 1, and the top atlas disc template position - below
    first_index = SPINE_ORDER.index(name) - below
    return names[first_index] if 0 <= first_index < len(names) else None


def _fixed_levels(classes: Image) -> np.ndarray:
    """The level values that do not depend on naming (cord, sac, ligaments...) on ``classes``' grid."""
    array = np.asarray(classes.array_kji)
    fixed = np.zeros(array.shape, dtype=np.uint8)
    for class_value, level_value in _FIXED_LEVEL_VALUES.items():
        if level_value != 1:
            fixed[array == class_value] = level_value
    return fixed


def _network_labelling(network_map: Image, network, match: AtlasMatch, warnings: list[str]) -> Labelling:
    """The network's C2 count, checked against the atlas: agreement raises the confidence, a conflict warns."""
    _vertebrae, network_discs = measure_levels(network_map, network)
    network_heights = {n.name: n.center_lps[2] for n in network_discs}
    same = [d for d in match.discs if d.name in network_heights]
    agree = [d for d in same if abs(network_heights[d.name] - d.center_lps[2]) <= AGREEMENT_MM]
    reason = "C2 (with the dens) was found by the segmentation network; the levels are counted from it."
    confidence = network.confidence
    if match.confident and same and len(agree) == len(same):
        reason += " The PAM50 atlas match names the same discs."
        confidence = max(confidence, match.confidence)
    elif match.confident and same:
        warnings.append(
            "The PAM50 atlas match names the discs differently from the network's C2 count; the network's C2 "
            "was used (the dens was seen). Check the levels."
        )
        confidence *= 0.7
    return Labelling("network", round(float(confidence), 3), True, None, warnings, reason)


def name_levels(image: Image, classes: Image, anchor: tuple[np.ndarray, str] | None = None):
    """Vertebrae and discs named from the network's C2, an anchor or the PAM50 atlas, or not at all.

    Returns (level map on ``classes``' grid, Labelling with method ``network`` | ``anchor`` | ``atlas`` |
    ``none``, the atlas match or None, the atlas discs used for naming). Rules: the network's C2 (the dens seen)
    names the levels, checked against the atlas; an anchor names the atlas discs (or the network's bodies when the
    atlas found none); otherwise the atlas names them when its match is unambiguous; else nothing is named and
    the reason is given. Raises InputError when no cord is visible or it spans less than 4 cm.
    """
    centreline = cord_centreline(classes)  # refuses a series without a usable cord
    match = match_atlas(image, classes, centreline)
    network_map, network = level_map_from_classes(classes, anchor)
    warnings = [w for w in network.warnings if "assume the top body is C3" not in w]
    fixed = _fixed_levels(classes)

    def atlas_map(discs: list[AtlasDisc]) -> Image:
        named = label_from_atlas(classes, discs, centreline, match.scale)
        return classes.with_array(np.where(named > 0, named, fixed).astype(np.uint8))

    if network.method == "c2":
        return network_map, _network_labelling(network_map, network, match, warnings), match, []
    if anchor is not None:
        first = _anchor_first_disc(match, anchor) if match.discs else None
        if first is None:
            reason = "Named from the user's anchor on the network's bodies."
            labelling = Labelling("anchor", network.confidence, network.c2_found, network.anchor, warnings, reason)
            return network_map, labelling, match, []
        discs = rename_discs(match, first)
        record = {"point_lps": [round(float(v), 2) for v in anchor[0]], "level": anchor[1]}
        reason = "Named from the user's anchor; disc positions from the PAM50 atlas match along the cord."
        return atlas_map(discs), Labelling("anchor", 1.0, False, record, warnings, reason), match, discs
    if match.confident:
        reason = (
            "C2 was not found by the network; the discs were located and named by matching the "
            "intensity pattern along the cord to the PAM50 template."
        )
        labelling = Labelling("atlas", match.confidence, False, None, warnings, reason)
        return atlas_map(match.discs), labelling, match, match.discs
    warnings.append(
        "Levels unknown: C2 (the dens) was not recognised in the field of view and the atlas match is ambiguous. "
        f"{match.reason} Give an anchor (--anchor X,Y,Z:LEVEL, LPS mm) to name the levels."
    )
    labelling = Labelling("none", 0.0, False, None, warnings, "Levels unknown: " + (match.reason or ""))
    return classes.with_array(fixed), labelling, match, []


def complete_levels(work_levels: Image, labelling: Labelling, discs: list[AtlasDisc]):
    """measure_levels on an atlas-named level map, completed by the atlas: a disc the network did not segment
    takes the atlas disc's centre and plane; a vertebra between two named discs with no body voxels gets a
    centre halfway between them (volume 0). Returns (vertebrae, discs), each top down."""
    vertebrae, measured = measure_levels(work_levels, labelling)
    if not discs:
        return vertebrae, measured
    estimated = round(labelling.confidence * 0.8, 3)  # positions from the atlas only: less sure
    by_name = {d.name: d for d in measured if d.fitted}
    final = []
    for disc in discs:
        if disc.name not in DISC_VALUE:
            continue
        if disc.name in by_name:
            final.append(by_name[disc.name])
            continue
        upper, lower = split_disc_name(disc.name)
        value = DISC_VALUE[disc.name]
        final.append(DiscLevel(disc.name, upper, lower, value, disc.center_lps, disc.normal_lps, 0.0, False, estimated))
    present = {v.name for v in vertebrae}
    for upper_disc, lower_disc in itertools.pairwise(discs):
        name = split_disc_name(upper_disc.name)[1]
        if name in present or name not in VERTEBRA_VALUE:
            continue
        centre = 0.5 * (np.asarray(upper_disc.center_lps) + np.asarray(lower_disc.center_lps))
        rounded = [round(float(v), 2) for v in centre]
        vertebrae.append(VertebraLevel(name, VERTEBRA_VALUE[name], rounded, 0.0, estimated))
    vertebrae.sort(key=lambda v: VERTEBRA_VALUE[v.name])
    final.sort(key=lambda d: DISC_VALUE[d.name])
    return vertebrae, final
