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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
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


# ----- training -----------------------------------------------------------------------------------------------
@dataclass
class SpineTrainingData:
    """Training material from phantoms: pictures with class maps, osteophyte crops, axial crops with targets."""

    pictures: list[np.ndarray] = field(default_factory=list)  # (y, x) float32
    classes: list[np.ndarray] = field(default_factory=list)  # (y, x) uint8
    osteophyte_crops: list[np.ndarray] = field(default_factory=list)
    osteophyte_labels: list[int] = field(default_factory=list)
    axial_crops: list[np.ndarray] = field(default_factory=list)
    axial_targets: list[tuple[int, int, int, int]] = field(default_factory=list)  # herniation, side, pll, lf


def phantom_training_data(
    seeds: Sequence[int], progress: Callable[[float, str], None] | None = None, jitter_mm: float = 2.0
) -> SpineTrainingData:
    """Pictures, crops and targets from the phantoms of ``seeds`` (truth centres jittered by ``jitter_mm``)."""
    from ..phantoms.spine import generate_spine_phantom

    data = SpineTrainingData()
    for count, seed in enumerate(seeds):
        rng = np.random.default_rng(seed + 7)
        phantom = generate_spine_phantom(int(seed), with_t1=False)
        add_case_to_training_data(data, phantom, rng, jitter_mm)
        if progress:
            progress((count + 1) / len(seeds), f"phantom {count + 1}/{len(seeds)}")
    return data


def add_case_to_training_data(data: SpineTrainingData, phantom, rng: np.random.Generator, jitter_mm: float) -> None:
    """One phantom's sagittal and axial pictures, its vertebra crops and disc-level axial crops."""
    sagittal = phantom.sagittal_t2
    grid = sagittal_working_grid(sagittal)
    pictures, display = series_pictures(sagittal, grid)
    classes = labels_as_pictures(phantom.sagittal_labels, grid, display)
    data.pictures.extend(pictures)
    data.classes.extend(classes)
    for block, labels in zip(phantom.axial_t2_blocks, phantom.axial_label_blocks):
        block_grid = inplane_working_grid(block)
        block_pictures, block_display = series_pictures(block, block_grid)
        data.pictures.extend(block_pictures)
        data.classes.extend(labels_as_pictures(labels, block_grid, block_display))
    sagittal_window = window(sagittal.array_kji)
    for vertebra in phantom.vertebrae:
        if not vertebra.visible or vertebra.name in ("C1",):
            continue
        centre = np.asarray(vertebra.center_lps) + rng.normal(0, jitter_mm / 2, 3)
        data.osteophyte_crops.append(osteophyte_crop(sagittal, centre, sagittal_window))
        data.osteophyte_labels.append(int(vertebra.osteophyte))
    for block, level_name in zip(phantom.axial_t2_blocks, phantom.axial_block_levels):
        level = phantom.level(level_name)
        centre = np.asarray(level.disc_center_lps)
        k = round(block.lps_to_index(centre[None, :])[0][2])
        k = min(max(k, 0), block.shape_kji[0] - 1)
        jittered = centre + rng.normal(0, jitter_mm / 2, 3)
        data.axial_crops.append(axial_crop(block, k, jittered, window(block.array_kji)))
        side = SIDES.index(level.side) if level.side else 0
        data.axial_targets.append(
            (HERNIATION_TYPES.index(level.herniation), side, int(level.pll_thickened), int(level.lf_thickened))
        )


def _random_patch_2d(picture: np.ndarray, classes: np.ndarray, size: int, rng: np.random.Generator):
    """A ``size`` x ``size`` patch, centred on a spine voxel 80 % of the time (zero-padded at the edges).

    (Drawing the centre's class uniformly, so that C1 and C2 are seen as often as the other bodies, was tried:
    the network then named levels worse on fresh phantoms, 8 of 12 cases against 10.)
    """
    height, width = picture.shape
    foreground = np.argwhere(classes > 0)
    if len(foreground) and rng.random() < 0.8:
        cy, cx = foreground[rng.integers(len(foreground))]
    else:
        cy, cx = rng.integers(height), rng.integers(width)
    padded = np.pad(picture, size), np.pad(classes, size)
    y0, x0 = int(cy) + size - size // 2, int(cx) + size - size // 2
    return padded[0][y0 : y0 + size, x0 : x0 + size], padded[1][y0 : y0 + size, x0 : x0 + size]


def _intensity_augment(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gamma = rng.uniform(0.7, 1.5, (len(batch),) + (1,) * (batch.ndim - 1))
    scale = rng.uniform(0.85, 1.15, gamma.shape)
    noise = rng.normal(0, rng.uniform(0, 0.04), batch.shape)
    return np.clip(np.power(np.clip(batch, 0, 1), gamma) * scale + noise, 0, 1.2).astype(np.float32)


def _domain_randomise(pictures: np.ndarray, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Real-image variation the phantoms lack, per patch (batch, y, x) of 0..1 pictures with their classes:
    per-class intensity factors (SynthSeg-style), marrow texture in the bodies, Modic-like bands along the
    endplates, degenerated (dark) discs, coil shading (a smooth multiplicative field with a ramp) and partial
    volume (Gaussian blur)."""
    from scipy import ndimage

    out = pictures.astype(np.float32).copy()
    size_y, size_x = out.shape[1:]
    for index in range(len(out)):
        picture, labels = out[index], classes[index]
        if rng.random() < 0.5:
            for value in range(1, 9):
                picture[labels == value] *= rng.uniform(0.7, 1.3)
        bodies = (labels == 2) | (labels == 3)
        if bodies.any() and rng.random() < 0.7:
            texture = ndimage.gaussian_filter(rng.normal(0, 1, picture.shape), rng.uniform(1.0, 3.0))
            picture[bodies] *= 1 + rng.uniform(0.1, 0.4) * texture[bodies] / (texture.std() + 1e-6)
        discs = labels == 4
        if discs.any() and bodies.any() and rng.random() < 0.3:
            band = ndimage.binary_dilation(discs, iterations=int(rng.integers(2, 6))) & bodies
            picture[band] *= rng.uniform(0.5, 1.6)
        if discs.any() and rng.random() < 0.5:
            picture[discs] *= rng.uniform(0.25, 1.0)
        if rng.random() < 0.7:
            coarse = rng.normal(0, 1, (4, 4))
            field = ndimage.zoom(coarse, (size_y / 4, size_x / 4), order=3)[:size_y, :size_x]
            ramp = np.linspace(-1, 1, size_y)[:, None] * rng.uniform(-0.4, 0.4)
            picture *= np.exp(rng.uniform(0.05, 0.35) * field + ramp)
        if rng.random() < 0.5:
            picture[:] = ndimage.gaussian_filter(picture, rng.uniform(0.3, 1.2))
    return np.clip(out, 0, 1.5).astype(np.float32)


@dataclass
class ComponentTraining:
    """One trained network: weights file, steps, seconds, last loss and recipe."""

    weights_path: Path
    network: dict
    steps: int
    seconds: float
    final_loss: float
    recipe: dict


def _fit(
    config: dict,
    steps: int,
    learning_rate: float,
    seed: int,
    rng_offset: int,
    batch_loss: Callable[[Any, np.random.Generator], Any],
    path: Path,
    name: str,
    progress: Callable[[float, str], None] | None,
) -> tuple[float, float]:
    """Train a network built from ``config`` from random weights: AdamW (weight decay 1e-4) with a one-cycle
    schedule, ``batch_loss(network, rng)`` drawing and scoring one batch per step (torch seeded with ``seed``,
    the batch generator with ``seed + rng_offset``); the state dict is saved to ``path`` in eval mode.
    Returns (seconds, mean loss of the last 50 steps)."""
    import torch

    from ..models.loader import build_network

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + rng_offset)
    network = build_network(config).train()
    optimiser = torch.optim.AdamW(network.parameters(), lr=learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, learning_rate, total_steps=max(1, steps))
    started, recent = time.perf_counter(), []
    for step in range(steps):
        loss = batch_loss(network, rng)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        recent.append(float(loss.detach()))
        if progress and (step % 10 == 0 or step == steps - 1):
            progress((step + 1) / steps, f"{name} step {step + 1}/{steps} loss {np.mean(recent[-50:]):.3f}")
    torch.save(network.eval().state_dict(), path)
    return time.perf_counter() - started, float(np.mean(recent[-50:])) if recent else float("nan")


def _draw(pools: tuple[np.ndarray, np.ndarray], first_share: float, count: int, rng: np.random.Generator) -> list[int]:
    """``count`` indices, each from ``pools[0]`` with probability ``first_share`` (else ``pools[1]``); an empty
    pool gives way to the other."""
    first, second = pools
    indices = []
    for _ in range(count):
        pool = first if len(first) and (not len(second) or rng.random() < first_share) else second
        indices.append(int(pool[rng.integers(len(pool))]))
    return indices


def train_segmentation(
    data: SpineTrainingData,
    path: Path,
    steps: int,
    seed: int,
    batch_size: int = 8,
    patch: int = 128,
    progress: Callable[[float, str], None] | None = None,
    domain_randomisation: bool = False,
) -> ComponentTraining:
    """The 2D segmentation network on sagittal and axial phantom pictures (DiceCE loss); with
    ``domain_randomisation`` each patch first gets :func:`_domain_randomise` (off by default: the model trained
    so found real bodies and discs better but fell on several phantom metrics, see the README)."""
    import torch
    from monai.losses import DiceCELoss

    loss_function = DiceCELoss(to_onehot_y=True, softmax=True)

    def batch_loss(network, rng):
        pairs = [
            _random_patch_2d(data.pictures[i], data.classes[i], patch, rng)
            for i in rng.integers(len(data.pictures), size=batch_size)
        ]
        targets = np.stack([c for _, c in pairs]).astype(np.int64)
        pictures = np.stack([p for p, _ in pairs])
        if domain_randomisation:
            pictures = _domain_randomise(pictures, targets, rng)
        pictures = _intensity_augment(pictures, rng)
        return loss_function(network(torch.from_numpy(pictures[:, None])), torch.from_numpy(targets[:, None]))

    seconds, loss = _fit(SEGMENTATION_NETWORK, steps, 3e-3, seed, 0, batch_loss, path, "segmentation", progress)
    recipe = {
        "loss": "DiceCE (softmax)",
        "optimizer": "AdamW 3e-3 one-cycle, weight decay 1e-4",
        "batch": f"{batch_size} patches of {patch} px, 80 % centred on spine voxels",
        "augmentation": (
            "domain randomisation (per-class intensity factors, marrow texture, Modic-like endplate "
            "bands, dark discs, coil shading, blur), then "
            if domain_randomisation
            else ""
        )
        + "gamma 0.7-1.5, scale +-15 %, Gaussian noise",
        "pictures": len(data.pictures),
    }
    return ComponentTraining(path, SEGMENTATION_NETWORK, steps, seconds, loss, recipe)


def train_osteophyte(
    data: SpineTrainingData,
    path: Path,
    steps: int,
    seed: int,
    batch_size: int = 8,
    progress: Callable[[float, str], None] | None = None,
) -> ComponentTraining:
    """The 3D osteophyte classifier on body crops, positives half of each batch (binary cross-entropy)."""
    import torch

    labels = np.array(data.osteophyte_labels)
    pools = (np.nonzero(labels == 1)[0], np.nonzero(labels == 0)[0])

    def batch_loss(network, rng):
        positives, negatives = pools  # pools first, then members: the draw order the bundled model was trained with
        chosen = [
            positives if len(positives) and (not len(negatives) or rng.random() < 0.5) else negatives
            for _ in range(batch_size)
        ]
        indices = [int(pool[rng.integers(len(pool))]) for pool in chosen]
        crops = np.stack([data.osteophyte_crops[i] for i in indices])
        flips = rng.random(batch_size) < 0.5  # left-right: the k axis
        crops[flips] = crops[flips][:, ::-1]
        crops = _intensity_augment(crops, rng)
        target = torch.tensor([float(labels[i]) for i in indices])[:, None]
        return torch.nn.functional.binary_cross_entropy_with_logits(network(torch.from_numpy(crops[:, None])), target)

    seconds, loss = _fit(OSTEOPHYTE_NETWORK, steps, 2e-3, seed, 1, batch_loss, path, "osteophyte", progress)
    recipe = {
        "loss": "binary cross-entropy",
        "optimizer": "AdamW 2e-3 one-cycle, weight decay 1e-4",
        "batch": f"{batch_size} crops, half with osteophytes",
        "augmentation": "left-right flips, gamma, scale, noise; centres jittered 2 mm",
        "crops": len(labels),
        "crops_with_osteophytes": int(labels.sum()),
    }
    return ComponentTraining(path, OSTEOPHYTE_NETWORK, steps, seconds, loss, recipe)


def train_axial(
    data: SpineTrainingData,
    path: Path,
    steps: int,
    seed: int,
    batch_size: int = 8,
    progress: Callable[[float, str], None] | None = None,
) -> ComponentTraining:
    """The 2D axial-level classifier: herniation (5), side (3), PLL and LF thickened; abnormal levels over-sampled."""
    import torch
    from torch.nn import functional

    targets = np.array(data.axial_targets)
    abnormal = (targets[:, 0] > 0) | (targets[:, 2] > 0) | (targets[:, 3] > 0)
    pools = (np.nonzero(abnormal)[0], np.nonzero(~abnormal)[0])
    n = len(HERNIATION_TYPES)

    def batch_loss(network, rng):
        indices = _draw(pools, 0.6, batch_size, rng)
        crops = np.stack([data.axial_crops[i] for i in indices])
        batch_targets = targets[indices].copy()
        flips = rng.random(batch_size) < 0.5  # screen left-right = patient right-left: sides swap
        crops[flips] = crops[flips][:, :, ::-1]
        side = batch_targets[:, 1]
        side[flips & (side > 0)] = 3 - side[flips & (side > 0)]
        logits = network(torch.from_numpy(np.ascontiguousarray(_intensity_augment(crops, rng)[:, None])))
        t = torch.from_numpy(batch_targets)
        herniation = functional.cross_entropy(logits[:, :n], t[:, 0])
        side = functional.cross_entropy(logits[:, n : n + 3], t[:, 1])
        return herniation + side + functional.binary_cross_entropy_with_logits(logits[:, n + 3 :], t[:, 2:].float())

    seconds, loss = _fit(AXIAL_NETWORK, steps, 2e-3, seed, 2, batch_loss, path, "axial", progress)
    recipe = {
        "loss": "cross-entropy (herniation, side) + binary cross-entropy (PLL, LF)",
        "optimizer": "AdamW 2e-3 one-cycle, weight decay 1e-4",
        "batch": f"{batch_size} crops, 60 % from abnormal levels",
        "augmentation": "left-right flips (sides swapped), gamma, scale, noise; centres jittered 2 mm",
        "crops": len(targets),
        "abnormal_crops": int(abnormal.sum()),
    }
    return ComponentTraining(path, AXIAL_NETWORK, steps, seconds, loss, recipe)
