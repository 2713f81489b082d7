"""Small array helpers shared by the pipelines (pure numpy)."""

from __future__ import annotations

import numpy as np


def bounding_box(mask: np.ndarray, margin: int = 0, clip: bool = True) -> tuple[slice, ...] | None:
    """Slices per axis of the smallest box holding every True voxel of ``mask``, grown by ``margin`` voxels.

    :param clip: keep the box inside the array (else the margin may give negative starts or stops past the
        end, for callers that pad).
    :returns: None when ``mask`` has no True voxel.
    """
    if not mask.any():
        return None
    box = []
    for axis in range(mask.ndim):
        found = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        start, stop = int(found[0]) - margin, int(found[-1]) + 1 + margin
        if clip:
            start, stop = max(start, 0), min(stop, mask.shape[axis])
        box.append(slice(start, stop))
    return tuple(box)


def box_start(box: tuple[slice, ...]) -> np.ndarray:
    """The first index of each axis of ``box`` (slices with steps of 1)."""
    return np.array([0 if s.start is None else s.start for s in box], dtype=int)
