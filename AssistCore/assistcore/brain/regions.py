"""Tumour regions of the CNS-tumour annotation consensus and the label conventions they export to.

Internally a case is one exclusive label map in the **BraTS 2023 values**:
0 background, 1 non-enhancing tumour (necrosis, cyst, haemorrhage, solid non-enhancing), 2 edema,
3 enhancing tumour. The four consensus regions are unions of those labels and may be edited as
separate, overlapping masks (Slicer segments):

* whole tumour incl. edema (drawn on FLAIR)          = {1, 2, 3}
* tumour body without edema (T2; BraTS "tumour core") = {1, 3}
* enhancing tumour (T1c against T1)                   = {3}
* non-enhancing tumour                                = {1}
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from ..errors import InputError

NON_ENHANCING, EDEMA, ENHANCING = 1, 2, 3

#: region name -> internal labels it is made of (BraTS 2023 values)
REGION_LABELS: dict[str, tuple[int, ...]] = {
    "whole_tumor": (NON_ENHANCING, EDEMA, ENHANCING),
    "tumor_body": (NON_ENHANCING, ENHANCING),
    "enhancing": (ENHANCING,),
    "non_enhancing": (NON_ENHANCING,),
}


class LabelConvention(str, Enum):
    """How labels are written on export."""

    BRATS2021 = "brats2021"  # 1 necrosis/non-enhancing, 2 edema, 4 enhancing
    BRATS2023 = "brats2023"  # 1, 2, 3
    REGIONS = "regions"  # the four consensus regions as separate binary masks


#: internal label -> value written, for the single-file conventions
EXPORT_VALUES = {
    LabelConvention.BRATS2021: {NON_ENHANCING: 1, EDEMA: 2, ENHANCING: 4},
    LabelConvention.BRATS2023: {NON_ENHANCING: 1, EDEMA: 2, ENHANCING: 3},
}


def region_masks(labels_kji: np.ndarray) -> dict[str, np.ndarray]:
    """The four consensus regions as boolean masks (k, j, i) from an internal label map."""
    return {name: np.isin(labels_kji, values) for name, values in REGION_LABELS.items()}


def labels_from_region_masks(masks: dict[str, np.ndarray]) -> np.ndarray:
    """Rebuild an exclusive internal label map from (possibly overlapping) region masks.

    Precedence follows the nesting of the consensus: enhancing wins over non-enhancing, which wins over
    the rest of the tumour body and edema. Tumour-body voxels that are neither enhancing nor non-enhancing
    count as non-enhancing (solid non-enhancing tumour); whole-tumour voxels outside the body are edema.
    Regions that break the nesting are kept (an enhancing voxel outside the whole tumour still becomes
    label 3): the QA checks report such voxels instead of silently dropping them.
    """
    shape = next(iter(masks.values())).shape
    labels = np.zeros(shape, dtype=np.uint8)
    if "whole_tumor" in masks:
        labels[masks["whole_tumor"]] = EDEMA
    if "tumor_body" in masks:
        labels[masks["tumor_body"]] = NON_ENHANCING
    if "non_enhancing" in masks:
        labels[masks["non_enhancing"]] = NON_ENHANCING
    if "enhancing" in masks:
        labels[masks["enhancing"]] = ENHANCING
    return labels


def to_convention(labels_kji: np.ndarray, convention: LabelConvention | str) -> dict[str, np.ndarray]:
    """Convert an internal label map for export.

    :returns: for BraTS conventions ``{"labels": uint8 map}``; for ``regions`` one uint8 0/1 mask per region.
    """
    convention = LabelConvention(convention)
    if convention is LabelConvention.REGIONS:
        return {name: mask.astype(np.uint8) for name, mask in region_masks(labels_kji).items()}
    mapping = EXPORT_VALUES[convention]
    exported = np.zeros(labels_kji.shape, dtype=np.uint8)
    for internal, value in mapping.items():
        exported[labels_kji == internal] = value
    return {"labels": exported}


def from_convention(labels_kji: np.ndarray, convention: LabelConvention | str) -> np.ndarray:
    """Read a BraTS 2021 or 2023 label map into internal values; unknown values raise InputError."""
    convention = LabelConvention(convention)
    if convention is LabelConvention.REGIONS:
        raise InputError("Region masks are separate files; use labels_from_region_masks to combine them.")
    inverse = {value: internal for internal, value in EXPORT_VALUES[convention].items()}
    unexpected = sorted(set(np.unique(labels_kji).tolist()) - set(inverse) - {0})
    if unexpected:
        raise InputError(
            f"Label values {unexpected} are not part of the {convention.value} convention "
            f"(expected 0 and {sorted(inverse)}).",
            "Choose the label convention the file was written with (brats2021 uses 4 for enhancing).",
        )
    internal = np.zeros(labels_kji.shape, dtype=np.uint8)
    for value, label in inverse.items():
        internal[labels_kji == value] = label
    return internal
