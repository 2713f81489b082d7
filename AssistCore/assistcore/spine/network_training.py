"""Training the three SpineAssist networks on phantom material (:mod:`.training_data`), from random weights or,
for the segmentation network, fine-tuned from a trained model's weights.

Each trainer draws one augmented batch per step and saves the state dict; the draw order of the random
generators is part of what the bundled model was trained with, so it is kept as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .labels import HERNIATION_TYPES
from .model import AXIAL_NETWORK, OSTEOPHYTE_NETWORK, SEGMENTATION_NETWORK
from .training_data import SpineTrainingData, _domain_randomise, intensity_augment, random_patch_2d


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
    initial_state: dict | None = None,
) -> tuple[float, float]:
    """Train a network built from ``config`` from random weights (or from ``initial_state``, a state dict loaded
    strictly): AdamW (weight decay 1e-4) with a one-cycle schedule peaking at ``learning_rate``,
    ``batch_loss(network, rng)`` drawing and scoring one batch per step (torch seeded with ``seed``, the batch
    generator with ``seed + rng_offset``); the state dict is saved to ``path`` in eval mode.
    Returns (seconds, mean loss of the last 50 steps)."""
    import torch

    from ..models.loader import build_network

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + rng_offset)
    network = build_network(config)
    if initial_state is not None:
        network.load_state_dict(initial_state, strict=True)
    network = network.train()
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


def _draw(
    pools: tuple[np.ndarray, np.ndarray],
    first_share: float,
    count: int,
    rng: np.random.Generator,
    pools_first: bool = False,
) -> list[int]:
    """``count`` indices, each from ``pools[0]`` with probability ``first_share`` (else ``pools[1]``); an empty
    pool gives way to the other. ``pools_first`` draws every pool choice before every member (the order the
    bundled osteophyte classifier was trained with), else choice and member alternate."""
    first, second = pools

    def choose_pool() -> np.ndarray:
        return first if len(first) and (not len(second) or rng.random() < first_share) else second

    if pools_first:
        chosen = [choose_pool() for _ in range(count)]
        return [int(pool[rng.integers(len(pool))]) for pool in chosen]
    indices = []
    for _ in range(count):
        pool = choose_pool()
        indices.append(int(pool[rng.integers(len(pool))]))
    return indices


def _crop_batch(
    crops: list[np.ndarray],
    indices: list[int],
    flip_axis: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(augmented batch, flipped): the crops at ``indices`` stacked (batch, ...), half of them (at random)
    mirrored along batch axis ``flip_axis`` (the patient's left-right), then :func:`intensity_augment`;
    ``flipped`` (batch,) bool says which were mirrored. Contiguous float32, ready for torch."""
    batch = np.stack([crops[i] for i in indices])
    flipped = rng.random(len(indices)) < 0.5
    batch[flipped] = np.flip(batch[flipped], axis=flip_axis)
    return np.ascontiguousarray(intensity_augment(batch, rng)), flipped


#: share of segmentation patches that get :func:`_domain_randomise` with ``domain_randomisation``: all of
#: them (the first try) found real bodies and discs but cost 0.07 vertebra Dice on phantoms (blur, shading)
DOMAIN_RANDOMISED_FRACTION = 0.5

#: peak learning rate of the segmentation network from random weights, and fine-tuned from trained weights
#: (lower, so that what the trained network knows of the phantoms is kept while it learns the randomised look)
SEGMENTATION_LEARNING_RATE = 3e-3
FINE_TUNE_LEARNING_RATE = 7e-4


def train_segmentation(
    data: SpineTrainingData,
    path: Path,
    steps: int,
    seed: int,
    batch_size: int = 8,
    patch: int = 128,
    progress: Callable[[float, str], None] | None = None,
    domain_randomisation: float = 0.0,
    initial_weights: Path | None = None,
    learning_rate: float | None = None,
) -> ComponentTraining:
    """The 2D segmentation network on sagittal and axial phantom pictures (DiceCE loss). ``domain_randomisation``
    is the share of patches (0..1; ``True`` means :data:`DOMAIN_RANDOMISED_FRACTION`) that first get
    :func:`_domain_randomise` (0 by default: models trained so from random weights found real bodies and discs
    better but fell on several phantom metrics, see the README). ``initial_weights``: a state dict file of
    :data:`SEGMENTATION_NETWORK` to fine-tune from, at :data:`FINE_TUNE_LEARNING_RATE` instead of
    :data:`SEGMENTATION_LEARNING_RATE` (``learning_rate``: another peak)."""
    import torch
    from monai.losses import DiceCELoss

    from ..models.loader import load_state_dict_file

    loss_function = DiceCELoss(to_onehot_y=True, softmax=True)
    fraction = DOMAIN_RANDOMISED_FRACTION if domain_randomisation is True else float(domain_randomisation)
    initial_state = load_state_dict_file(initial_weights) if initial_weights is not None else None
    if learning_rate is None:
        learning_rate = SEGMENTATION_LEARNING_RATE if initial_state is None else FINE_TUNE_LEARNING_RATE

    def batch_loss(network, rng):
        pairs = [
            random_patch_2d(data.pictures[i], data.classes[i], patch, rng)
            for i in rng.integers(len(data.pictures), size=batch_size)
        ]
        targets = np.stack([c for _, c in pairs]).astype(np.int64)
        pictures = np.stack([p for p, _ in pairs])
        if fraction > 0:  # a share of the patches: the phantoms' own look stays in the mix
            chosen = rng.random(len(pictures)) < fraction
            if chosen.any():
                pictures[chosen] = _domain_randomise(pictures[chosen], targets[chosen], rng)
        pictures = intensity_augment(pictures, rng)
        return loss_function(network(torch.from_numpy(pictures[:, None])), torch.from_numpy(targets[:, None]))

    seconds, loss = _fit(
        SEGMENTATION_NETWORK, steps, learning_rate, seed, 0, batch_loss, path, "segmentation", progress, initial_state
    )
    recipe = {
        "loss": "DiceCE (softmax)",
        "optimizer": f"AdamW {learning_rate:g} one-cycle, weight decay 1e-4",
        "batch": f"{batch_size} patches of {patch} px, 80 % centred on spine voxels",
        "augmentation": (
            f"domain randomisation on {fraction:.0%} of the patches (per-class intensity "
            "factors, marrow texture, Modic-like endplate bands, dark discs, coil shading, blur), then "
            if fraction > 0
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
        indices = _draw(pools, 0.5, batch_size, rng, pools_first=True)
        crops, _ = _crop_batch(data.osteophyte_crops, indices, 1, rng)  # left-right: the crop's k axis
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
        crops, flips = _crop_batch(data.axial_crops, indices, 2, rng)  # screen left-right = patient right-left
        batch_targets = targets[indices].copy()
        side = batch_targets[:, 1]
        side[flips & (side > 0)] = 3 - side[flips & (side > 0)]  # sides swap on flipped crops
        logits = network(torch.from_numpy(crops[:, None]))
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
