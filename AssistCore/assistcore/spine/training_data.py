"""SpineAssist training material from phantoms: pictures with class maps, osteophyte and axial crops with their
targets, and the augmentations applied to training batches.

Pictures and crops are made exactly as at inference (:mod:`assistcore.spine.model`); arrays (k, j, i) or
(batch, y, x), geometry LPS mm.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..crm.detector import window
from .labels import HERNIATION_TYPES
from .model import (
    SIDES,
    axial_crop,
    inplane_working_grid,
    labels_as_pictures,
    osteophyte_crop,
    sagittal_working_grid,
    series_pictures,
)


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


def random_patch_2d(picture: np.ndarray, classes: np.ndarray, size: int, rng: np.random.Generator):
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


def intensity_augment(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per item of ``batch`` (batch, ...) of 0..1 values: a random gamma (0.7-1.5), scale (0.85-1.15) and
    Gaussian noise (sigma 0-0.04), clipped to 0..1.2; float32."""
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
