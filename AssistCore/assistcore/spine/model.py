"""SpineAssist networks: a 2D segmentation network for sagittal and axial pictures, a 3D classifier for
osteophytes on crops around each vertebral body, and a 2D classifier for the axial slice through each disc.

All three are MONAI networks described by MONAI-style configs in one model card (the segmentation network is
the card's ``network``; the classifiers are its ``components``).

**Pictures.** Every series is resampled in-plane to :data:`PIXEL_MM` (its slices and orientation kept), each
slice turned to radiological screen orientation (:func:`assistcore.pictures.slice_display`: sagittal anterior
left and superior up, axial patient right on the left and anterior up), intensities windowed per series from
the 0.5th to the 99.5th percentile to 0..1. The network sees sagittal and axial pictures alike and predicts
:data:`~assistcore.spine.levels.SEG_CLASSES`. A series whose slices are not sagittal (e.g. a 3D volume stored
axially) is first resampled onto an axis-aligned sagittal grid.

**Crops.** Osteophytes: 32 (L, 1 mm) x 64 (S, 0.5 mm) x 32 (P, 1 mm) voxels around each body centre, the
study's 32x32x64. Axial findings: 224 x 224 pixels of 0.35 mm in the plane of the axial slice nearest the disc
centre, centred on it, in screen orientation; outputs 5 herniation logits (:data:`HERNIATION_TYPES`), 3 side
logits (none, left, right), PLL thickened and LF thickened logits.

Arrays are (k, j, i) unless said otherwise; geometry LPS mm.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..crm.detector import window
from ..image import Image
from ..pictures import slice_display
from ..resample import resample_to_reference
from .labels import HERNIATION_TYPES
from .levels import SEG_CLASSES, level_map_to_classes

PIXEL_MM = 0.6
SIZE_MULTIPLE = 8
SIDES = ("none", "left", "right")
OSTEOPHYTE_SHAPE_KJI = (32, 64, 32)  # L, S, P
OSTEOPHYTE_SPACING_IJK = (1.0, 0.5, 1.0)  # P, S, L (mm)
AXIAL_CROP = 224
AXIAL_CROP_MM = 0.35

SEGMENTATION_NETWORK = {
    "_target_": "monai.networks.nets.UNet",
    "spatial_dims": 2,
    "in_channels": 1,
    "out_channels": len(SEG_CLASSES),
    "channels": [16, 32, 64, 128],
    "strides": [2, 2, 2],
    "num_res_units": 1,
}
OSTEOPHYTE_NETWORK = {
    "_target_": "monai.networks.nets.ResNet",
    "block": "basic",
    "layers": [1, 1, 1, 1],
    "block_inplanes": [16, 32, 64, 128],
    "spatial_dims": 3,
    "n_input_channels": 1,
    "num_classes": 1,
}
AXIAL_NETWORK = {
    "_target_": "monai.networks.nets.ResNet",
    "block": "basic",
    "layers": [1, 1, 1, 1],
    "block_inplanes": [16, 32, 64, 128],
    "spatial_dims": 2,
    "n_input_channels": 1,
    "num_classes": len(HERNIATION_TYPES) + len(SIDES) + 2,
}

# the sagittal screen grid: i = posterior, j = inferior, k = left
_SAGITTAL_DIRECTION = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


# ----- grids and pictures -------------------------------------------------------------------------------------
def inplane_working_grid(image: Image, pixel_mm: float = PIXEL_MM) -> Image:
    """``image``'s slices resampled to ``pixel_mm`` in plane (same direction, slice positions and extent)."""
    spacing = np.array(image.spacing_mm, dtype=float)
    size = np.array(image.size_ijk, dtype=float)
    new_size = np.maximum(1, np.round(size[:2] * spacing[:2] / pixel_mm)).astype(int)
    new_spacing = np.array([*(size[:2] * spacing[:2] / new_size), spacing[2]])
    # the box edges stay where they were: shift the first voxel centre by half the change in voxel size
    shift = np.array([(new_spacing[0] - spacing[0]) / 2, (new_spacing[1] - spacing[1]) / 2, 0.0])
    origin = np.asarray(image.origin_lps) + image.direction_lps @ shift
    array = np.zeros((int(size[2]), int(new_size[1]), int(new_size[0])), dtype=np.float32)
    return Image(
        array,
        tuple(float(v) for v in new_spacing),
        tuple(float(v) for v in origin),
        image.direction_lps.copy(),
        image.metadata,
    )


def is_sagittal(image: Image) -> bool:
    """Slices within 45 degrees of the patient's sagittal plane (slice normal along left-right)."""
    return abs(float(image.slice_normal_lps()[0])) >= math.cos(math.radians(45))


def sagittal_working_grid(image: Image, pixel_mm: float = PIXEL_MM) -> Image:
    """The grid the network reads a sagittal series on: in-plane resampled if its slices are sagittal, else an
    axis-aligned sagittal grid (i posterior, j inferior, k left) over the same physical box, slices 1.5 mm."""
    if is_sagittal(image):
        return inplane_working_grid(image, pixel_mm)
    size = np.array(image.size_ijk, dtype=float) - 1
    corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=float) * size
    points = image.index_to_lps(corners)
    low, high = points.min(axis=0), points.max(axis=0)
    spacing = np.array([pixel_mm, pixel_mm, 1.5])
    extent = np.array([high[1] - low[1], high[2] - low[2], high[0] - low[0]])  # P, S, L
    counts = np.maximum(1, np.floor(extent / spacing).astype(int) + 1)
    origin = np.array([low[0], low[1], high[2]])
    array = np.zeros((counts[2], counts[1], counts[0]), dtype=np.float32)
    return Image(
        array,
        tuple(float(v) for v in spacing),
        tuple(float(v) for v in origin),
        _SAGITTAL_DIRECTION.copy(),
        image.metadata,
    )


def series_pictures(
    image: Image, grid: Image, window_low_high: tuple[float, float] | None = None
) -> tuple[np.ndarray, Any]:
    """``image`` on ``grid`` as screen-oriented 0..1 pictures (slices, y, x) float32, and the display used.

    ``window_low_high``: the series' intensity window if the caller has it (default: computed here).
    """
    resampled = resample_to_reference(image.with_array(image.array_kji.astype(np.float32)), grid, "linear")
    low, high = window_low_high or window(image.array_kji)
    display = slice_display(grid)
    values = np.clip((np.nan_to_num(resampled.array_kji, nan=low) - low) / (high - low), 0.0, 1.0)
    pictures = np.stack([display.apply(plane) for plane in values]).astype(np.float32)
    return pictures, display


def labels_as_pictures(level_map: Image, grid: Image, display) -> np.ndarray:
    """A level map on ``grid`` as network classes in screen orientation (slices, y, x) uint8."""
    classes = level_map_to_classes(resample_to_reference(level_map, grid, "nearest").array_kji)
    return np.stack([display.apply(plane) for plane in classes]).astype(np.uint8)


def _pad_to_multiple(picture: np.ndarray, multiple: int = SIZE_MULTIPLE) -> tuple[np.ndarray, tuple[int, int]]:
    height, width = picture.shape[-2:]
    pad_y, pad_x = (-height) % multiple, (-width) % multiple
    padding = [(0, 0)] * (picture.ndim - 2) + [(0, pad_y), (0, pad_x)]
    return np.pad(picture, padding), (height, width)


def segment_pictures(
    network,
    pictures: np.ndarray,
    batch_size: int = 4,
    cancel_check: Callable[[], None] | None = None,
    progress: Callable[[float, str], None] | None = None,
    device: str = "cpu",
) -> np.ndarray:
    """Class map (slices, y, x) uint8 of 0..1 pictures (slices, y, x), a batch of slices at a time."""
    from ..models.onnx_runtime import run_network

    padded, (height, width) = _pad_to_multiple(pictures)
    out = np.zeros(pictures.shape, dtype=np.uint8)
    for start in range(0, len(pictures), batch_size):
        if cancel_check:
            cancel_check()
        logits = run_network(network, padded[start : start + batch_size, None], device)
        out[start : start + batch_size] = logits.argmax(1)[:, :height, :width].astype(np.uint8)
        if progress:
            progress(min(1.0, (start + batch_size) / len(pictures)), f"slice {start + batch_size}/{len(pictures)}")
    return out


def classes_on_grid(class_pictures: np.ndarray, grid: Image, display) -> Image:
    """Screen-oriented class pictures back onto ``grid`` (k, j, i)."""
    return grid.with_array(np.stack([display.unapply(p) for p in class_pictures]).astype(np.uint8))


# ----- crops for the classifiers --------------------------------------------------------------------------------
def osteophyte_crop_grid(center_lps: Sequence[float]) -> Image:
    """The 32 x 64 x 32 crop grid (k=L, j=S downwards, i=P) centred on a body centre."""
    spacing = np.array(OSTEOPHYTE_SPACING_IJK)
    half = (np.array(OSTEOPHYTE_SHAPE_KJI[::-1], dtype=float) - 1) / 2 * spacing
    origin = np.asarray(center_lps, dtype=float) - _SAGITTAL_DIRECTION @ half
    return Image(
        np.zeros(OSTEOPHYTE_SHAPE_KJI, dtype=np.float32), tuple(spacing), tuple(origin), _SAGITTAL_DIRECTION.copy()
    )


def osteophyte_crop(image: Image, center_lps: Sequence[float], window_low_high: tuple[float, float]) -> np.ndarray:
    """The crop (32, 64, 32) float32 0..1 of ``image`` around ``center_lps``."""
    low, high = window_low_high
    crop = resample_to_reference(
        image.with_array(image.array_kji.astype(np.float32)),
        osteophyte_crop_grid(center_lps),
        "linear",
        default_value=low,
    )
    return np.clip((crop.array_kji - low) / (high - low), 0.0, 1.0).astype(np.float32)


def axial_crop(
    axial: Image, slice_index: int, center_lps: Sequence[float], window_low_high: tuple[float, float]
) -> np.ndarray:
    """A 224 x 224 picture (0.35 mm, screen orientation, 0..1) of one axial slice centred on ``center_lps``
    projected into the slice plane."""
    direction = axial.direction_lps
    slice_centre = axial.index_to_lps(np.array([[0.0, 0.0, float(slice_index)]]))[0]
    centre = np.asarray(center_lps, dtype=float)
    normal = direction[:, 2] / np.linalg.norm(direction[:, 2])
    centre = centre - ((centre - slice_centre) @ normal) * normal
    spacing = (AXIAL_CROP_MM, AXIAL_CROP_MM, float(axial.spacing_mm[2]))
    half = (AXIAL_CROP - 1) / 2 * AXIAL_CROP_MM
    origin = centre - direction @ np.array([half, half, 0.0])
    grid = Image(np.zeros((1, AXIAL_CROP, AXIAL_CROP), dtype=np.float32), spacing, tuple(origin), direction.copy())
    low, high = window_low_high
    crop = resample_to_reference(
        axial.with_array(axial.array_kji.astype(np.float32)), grid, "linear", default_value=low
    )
    picture = slice_display(grid).apply(crop.array_kji[0])
    return np.clip((picture - low) / (high - low), 0.0, 1.0).astype(np.float32)


def axial_outputs(logits: np.ndarray) -> dict[str, Any]:
    """The axial classifier's 10 logits as probabilities: herniation (5), side (3), PLL and LF thickened."""
    n = len(HERNIATION_TYPES)

    def softmax(values: np.ndarray) -> np.ndarray:
        exp = np.exp(values - values.max())
        return exp / exp.sum()

    herniation = softmax(logits[:n])
    side = softmax(logits[n : n + 3])
    return {
        "herniation": {name: float(p) for name, p in zip(HERNIATION_TYPES, herniation)},
        "side": {name: float(p) for name, p in zip(SIDES, side)},
        "pll_thickened": float(1 / (1 + np.exp(-logits[n + 3]))),
        "lf_thickened": float(1 / (1 + np.exp(-logits[n + 4]))),
    }
