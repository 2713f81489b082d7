"""Where the ultrasound image is: the imaging area of a cine's frames, apart from black background and labels.

Exported frames often hold the scan sector (or rectangle) on a black background with text and scales around
it. Black background is as dark and smooth as a cyst, so a lesion detector marks it; boxes there are not
findings. The imaging area is found from speckle: the local standard deviation (7 x 7 pixels) averaged over
up to 8 frames is above :data:`TEXTURE_STD` inside tissue and near 0 on background; the largest textured
region (labels and scales are small and apart) and its convex hull (a linear rectangle or a sector are
convex, and the hull takes in dark structures such as cysts or heart chambers) make the area. With a valid
ultrasound region from the DICOM header the area is also limited to that region.
"""

from __future__ import annotations

import numpy as np

#: local standard deviation (0..1 grey) above which a pixel counts as textured (speckle)
TEXTURE_STD = 0.02
#: a box is kept when at least this fraction of its area lies in the imaging area
MIN_INSIDE_FRACTION = 0.5
#: an area under this fraction of the frame is not trusted (nothing textured enough): the whole frame is used
MIN_AREA_FRACTION = 0.05


def imaging_area_mask(frames_thw: np.ndarray, region_xy: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """(H, W) bool: True where the frames show the ultrasound image (see the module docstring).

    :param frames_thw: (T, H, W) grey 0..1.
    :param region_xy: a trusted ultrasound region (x0, y0, x1, y1) pixel edges, or None.
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw
    from scipy import ndimage
    from scipy.spatial import ConvexHull, QhullError

    height, width = frames_thw.shape[1:]
    chosen = np.unique(np.linspace(0, len(frames_thw) - 1, min(8, len(frames_thw))).round().astype(int))
    spread = np.zeros((height, width), np.float32)
    for t in chosen:
        frame = frames_thw[t].astype(np.float32)
        mean = ndimage.uniform_filter(frame, 7)
        spread += np.sqrt(np.clip(ndimage.uniform_filter(frame * frame, 7) - mean * mean, 0.0, None))
    textured = ndimage.binary_opening(spread / len(chosen) > TEXTURE_STD, np.ones((5, 5), bool))
    if region_xy is not None:
        x0, y0, x1, y1 = region_xy
        inside_region = np.zeros_like(textured)
        inside_region[max(0, y0) : y1, max(0, x0) : x1] = True
        textured &= inside_region
    everything = np.ones((height, width), bool)  # what "cannot tell" falls back to: the frame or the region
    if region_xy is not None:
        everything[:] = False
        everything[max(0, y0) : y1, max(0, x0) : x1] = True
    labels, count = ndimage.label(textured)
    if count == 0:
        return everything
    sizes = ndimage.sum(textured, labels, range(1, count + 1))
    ys, xs = np.nonzero(labels == int(np.argmax(sizes)) + 1)
    if ys.size < MIN_AREA_FRACTION * height * width:
        return everything
    points = np.column_stack([xs, ys]).astype(float)
    try:
        hull = ConvexHull(points)
    except QhullError:  # a line of pixels: no area to speak of
        return everything
    picture = PILImage.new("L", (width, height), 0)
    ImageDraw.Draw(picture).polygon([tuple(points[v]) for v in hull.vertices], fill=1, outline=1)
    return np.asarray(picture, dtype=bool)


def summed_area_table(mask_hw: np.ndarray) -> np.ndarray:
    """(H + 1, W + 1) int: entry [y, x] counts the True pixels of ``mask_hw`` above row y and left of column x."""
    return np.pad(np.cumsum(np.cumsum(mask_hw, axis=0, dtype=np.int64), axis=1), ((1, 0), (1, 0)))


def inside_fractions(boxes_xy: np.ndarray, mask_hw: np.ndarray, integral: np.ndarray | None = None) -> np.ndarray:
    """(N,) fraction of each box (x0, y0, x1, y1 pixel edges) lying in ``mask_hw`` (0 for an empty box).

    :param integral: :func:`summed_area_table` of ``mask_hw`` when the caller has it (one per cine, not per frame).
    """
    height, width = mask_hw.shape
    if integral is None:
        integral = summed_area_table(mask_hw)
    fractions = np.zeros(len(boxes_xy))
    for row, (x0, y0, x1, y1) in enumerate(np.asarray(boxes_xy, float).reshape(-1, 4)):
        a, b = int(np.clip(np.floor(x0), 0, width)), int(np.clip(np.ceil(x1), 0, width))
        c, d = int(np.clip(np.floor(y0), 0, height)), int(np.clip(np.ceil(y1), 0, height))
        area = (b - a) * (d - c)
        if area > 0:
            fractions[row] = (integral[d, b] - integral[c, b] - integral[d, a] + integral[c, a]) / area
    return fractions
