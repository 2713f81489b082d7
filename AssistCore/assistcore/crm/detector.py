"""The CRM detector: torchvision Faster R-CNN on axial T2 slices shown in radiological orientation.

Each slice is turned to the screen orientation a radiologist reads it in (:func:`assistcore.pictures.slice_display`:
patient's right on the left, anterior at the top), so the network sees every series the same way however it
was stored, and boxes drawn on displayed slices (LabelImg, the study's tool) train it directly. Boxes come
back as voxel-edge coordinates (i0, j0, i1, j1) of the stored slice.

Intensities: one window per series, the 0.5th to 99.5th percentile of its voxels mapped to 0..1, the grey
value copied into 3 channels; the network then normalises with its ``image_mean``/``image_std`` (0.5/0.25).
Slices keep their native pixel size (``min_size``/``max_size`` follow each series).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..detectors.network import (  # noqa: F401  (re-exported: cards name assistcore.crm.detector builders)
    BACKBONES,
    DEFAULT_BACKBONE,
    IMAGE_MEAN,
    IMAGE_STD,
    detect_pictures,
    fasterrcnn_mobilenet_v3_lite,
    fasterrcnn_vgg16,
)
from ..detectors.network import network_config as _network_config
from ..image import Image
from ..pictures import SliceDisplay, slice_display

CLASS_NAMES = ("background", "CRM+")
WINDOW_PERCENTILES = (0.5, 99.5)


def network_config(backbone: str = DEFAULT_BACKBONE, image_size: int = 384) -> dict:
    """The CRM card's ``network`` section (one class: CRM+); see :func:`assistcore.detectors.network.network_config`."""
    return _network_config(backbone, image_size, len(CLASS_NAMES))


def window(volume: np.ndarray) -> tuple[float, float]:
    """The series' intensity window: its 0.5th and 99.5th percentiles over finite voxels."""
    finite = volume[np.isfinite(volume)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(finite, WINDOW_PERCENTILES)
    return float(low), float(high if high > low else low + 1.0)


def display_slice(image: Image, slice_index: int, display: SliceDisplay, low: float, high: float) -> np.ndarray:
    """One k-slice in screen orientation, windowed to 0..1 float32, shape (screen_y, screen_x)."""
    plane = np.nan_to_num(image.array_kji[slice_index].astype(np.float32), nan=low)
    return np.ascontiguousarray(np.clip((display.apply(plane) - low) / (high - low), 0.0, 1.0), dtype=np.float32)


@dataclass
class SliceDetections:
    """Boxes of one slice after NMS: voxel-edge coordinates (i0, j0, i1, j1) of the stored slice, scores 0..1."""

    slice_index: int
    boxes_ij: np.ndarray  # (N, 4) float: i0, j0, i1, j1
    scores: np.ndarray  # (N,)
    seconds: float = 0.0
    attributes: dict = field(default_factory=dict)


def detect_slices(
    network,
    image: Image,
    slice_indices: list[int] | None = None,
    device: str = "cpu",
    batch_size: int = 4,
    cancel_check: Callable[[], None] | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> list[SliceDetections]:
    """Run the detector on k-slices of ``image`` (all by default) and return their boxes, stored orientation.

    Slices are turned to screen orientation and windowed (the module docstring), detected at native size,
    and the boxes mapped back to voxel-edge (i, j) coordinates of the stored slice.
    """
    indices = list(range(image.shape_kji[0])) if slice_indices is None else list(slice_indices)
    display = slice_display(image)
    low, high = window(image.array_kji)
    size_ji = image.shape_kji[1:]
    pictures = [display_slice(image, k, display, low, high) for k in indices]
    found = detect_pictures(network, pictures, device, batch_size, cancel_check, progress)
    return [
        SliceDetections(k, screen_boxes_to_voxel(boxes, display, size_ji), scores, seconds)
        for k, (boxes, scores, seconds) in zip(indices, found)
    ]


def screen_boxes_to_voxel(boxes_xy: np.ndarray, display: SliceDisplay, size_ji: tuple[int, int]) -> np.ndarray:
    """(N, 4) screen boxes (x0, y0, x1, y1) -> voxel-edge boxes (i0, j0, i1, j1) with i0 <= i1, j0 <= j1."""
    out = np.zeros((len(boxes_xy), 4), dtype=np.float64)
    for row, (x0, y0, x1, y1) in enumerate(boxes_xy):
        i_a, j_a = display.unmap_point(float(x0), float(y0), size_ji)
        i_b, j_b = display.unmap_point(float(x1), float(y1), size_ji)
        out[row] = (min(i_a, i_b), min(j_a, j_b), max(i_a, i_b), max(j_a, j_b))
    return out


def voxel_boxes_to_screen(boxes_ij: np.ndarray, display: SliceDisplay, size_ji: tuple[int, int]) -> np.ndarray:
    """(N, 4) voxel-edge boxes (i0, j0, i1, j1) -> screen boxes (x0, y0, x1, y1), the inverse of the above."""
    out = np.zeros((len(boxes_ij), 4), dtype=np.float64)
    for row, (i0, j0, i1, j1) in enumerate(boxes_ij):
        x_a, y_a = display.map_point(float(i0), float(j0), size_ji)
        x_b, y_b = display.map_point(float(i1), float(j1), size_ji)
        out[row] = (min(x_a, x_b), min(y_a, y_b), max(x_a, x_b), max(y_a, y_b))
    return out
