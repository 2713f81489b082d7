"""Vertebral body instances in a class map: connected components, split at thin waists, kept on the column.

Helpers of :func:`assistcore.spine.levels.level_map_from_classes`. Instances are int32 arrays (k, j, i) on the
class map's grid, 0 outside every instance and 1..count inside; centres are LPS mm.
"""

from __future__ import annotations

import numpy as np

from ..image import Image

#: a body instance is cut where its cross-section falls under this share of the bodies around it
WAIST_RATIO = 0.2


def keep_instances(instances: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``instances`` renumbered 1..n over the instances where ``keep`` (bool, one per instance 1..count) is
    True; the others become 0."""
    relabel = np.zeros(len(keep) + 1, dtype=np.int32)
    relabel[1:][keep] = np.arange(1, int(np.count_nonzero(keep)) + 1)
    return relabel[instances]


def label_instances(mask: np.ndarray, spacing_mm: tuple[float, float, float], min_mm3: float) -> tuple[np.ndarray, int]:
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


def absorb_loose_voxels(instances: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` outside every instance (opening losses, small pieces) join the nearest instance."""
    from scipy import ndimage

    loose = mask & (instances == 0)
    if not loose.any() or not instances.any():
        return instances
    _, (kk, jj, ii) = ndimage.distance_transform_edt(instances == 0, return_indices=True)
    filled = instances.copy()
    filled[loose] = instances[kk[loose], jj[loose], ii[loose]]
    return filled


def centroids_lps(image: Image, instances: np.ndarray, count: int) -> np.ndarray:
    """(count, 3) centres of mass (LPS mm) of instances 1..count on ``image``'s grid."""
    from scipy import ndimage

    centres_kji = np.array(ndimage.center_of_mass(np.ones_like(instances), instances, range(1, count + 1)))
    return image.index_to_lps(centres_kji[:, ::-1]) if count else np.zeros((0, 3))


def split_at_waists(
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


def heights_and_edges(image: Image, instances: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
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


def on_the_column(
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
