"""Training a box detector from random weights on 0..1 grey pictures with boxes (CRM slices, ultrasound frames).

Training crops: square crops of ``crop_size`` pixels (faster on a CPU than whole pictures; the network is
fully convolutional up to its RoI heads, so it then runs on whole pictures), centred near a box two times out
of three, else anywhere; random left-right flips, random gamma and contrast. Batches of ``batch_size``
pictures, ``positive_fraction`` of them from pictures with boxes; AdamW with warm-up and cosine decay;
gradients clipped.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import PictureSample, resize_sample
from .network import DEFAULT_BACKBONE, network_config


@dataclass
class DetectorTrainingResult:
    weights_path: Path
    steps: int
    seconds: float
    final_loss: float
    network: dict
    validation: dict = field(default_factory=dict)
    recipe: dict = field(default_factory=dict)
    #: the card's ``exported_program`` entry (``model.onnx``), or None when the export failed
    exported_program: dict | None = None


def _crop(sample: PictureSample, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A ``size`` x ``size`` crop (zero-padded if the picture is smaller) and the boxes clipped into it.

    Boxes keeping under half their area inside the crop are dropped (a sliver is not a finding).
    """
    height, width = sample.picture.shape
    boxes = sample.boxes_xy
    if len(boxes) and rng.random() < 0.67:
        x0, y0, x1, y1 = boxes[rng.integers(len(boxes))]
        centre = np.array([(y0 + y1) / 2, (x0 + x1) / 2]) + rng.uniform(-size / 4, size / 4, 2)
    else:
        centre = np.array([rng.uniform(0, height), rng.uniform(0, width)])
    top = int(np.clip(centre[0] - size / 2, 0, max(height - size, 0)))
    left = int(np.clip(centre[1] - size / 2, 0, max(width - size, 0)))
    crop = np.zeros((size, size), np.float32)
    piece = sample.picture[top : top + size, left : left + size]
    crop[: piece.shape[0], : piece.shape[1]] = piece
    kept = []
    for x0, y0, x1, y1 in boxes:
        clipped = np.clip([x0 - left, y0 - top, x1 - left, y1 - top], 0, size)
        area = (x1 - x0) * (y1 - y0)
        if area > 0 and (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) >= 0.5 * area:
            kept.append(clipped)
    return crop, np.array(kept, np.float32).reshape(-1, 4)


def _augment(picture: np.ndarray, boxes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if rng.random() < 0.5:  # left-right: the tumour may sit on either side
        width = picture.shape[1]
        picture = picture[:, ::-1]
        boxes = boxes.copy()
        boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
    picture = np.clip(picture, 0, 1) ** rng.uniform(0.7, 1.4)
    picture = np.clip(picture * rng.uniform(0.85, 1.15) + rng.normal(0, 0.03), 0, 1)
    return np.ascontiguousarray(picture, dtype=np.float32), boxes


def _training_batch(
    positives: Sequence[PictureSample],
    negatives: Sequence[PictureSample],
    batch_size: int,
    positive_fraction: float,
    crop_size: int,
    augment: Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]],
    rng: np.random.Generator,
) -> tuple[list, list[dict]]:
    """``batch_size`` augmented crops as (3, H, W) tensors and their targets (boxes, labels 1): a crop comes
    from a picture with boxes with probability ``positive_fraction`` when both kinds exist."""
    import torch

    pictures, targets = [], []
    for _ in range(batch_size):
        pool = positives if positives and (not negatives or rng.random() < positive_fraction) else negatives
        picture, boxes = augment(*_crop(pool[rng.integers(len(pool))], crop_size, rng), rng)
        pictures.append(torch.from_numpy(picture).expand(3, -1, -1).contiguous())
        targets.append({"boxes": torch.from_numpy(boxes), "labels": torch.ones(len(boxes), dtype=torch.int64)})
    return pictures, targets


def _optimise(
    network,
    draw_batch: Callable[[], tuple[list, list[dict]]],
    steps: int,
    learning_rate: float,
    warmup: int,
    time_budget_s: float | None,
    progress: Callable[[str, float, str], None] | None,
) -> tuple[int, list[float]]:
    """AdamW on batches from ``draw_batch``: a linear warm-up of ``warmup`` steps, then cosine decay over
    whichever of ``steps`` and ``time_budget_s`` is further along; returns the steps done and their losses."""
    import torch

    parameters = [p for p in network.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=1e-4)
    started = time.perf_counter()
    recent: list[float] = []
    done = 0
    for step in range(steps):
        along = step / steps
        if time_budget_s:
            along = max(along, (time.perf_counter() - started) / time_budget_s)
            if along >= 1.0:
                break
        for group in optimiser.param_groups:  # warm-up, then cosine decay
            group["lr"] = learning_rate * min(1.0, (step + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(along, 1.0)))
        pictures, targets = draw_batch()
        losses = network(pictures, targets)
        loss = sum(losses.values())
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 10.0)
        optimiser.step()
        done = step + 1
        recent.append(float(loss.detach()))
        if progress and (step % 10 == 0 or step == steps - 1):
            fraction = max(done / steps, (time.perf_counter() - started) / time_budget_s if time_budget_s else 0.0)
            progress("training", min(fraction, 1.0), f"step {done}/{steps} loss {np.mean(recent[-20:]):.3f}")
    return done, recent


def train_detector(
    output_dir: Path,
    samples: Sequence[PictureSample],
    steps: int = 600,
    backbone: str = DEFAULT_BACKBONE,
    seed: int = 0,
    crop_size: int = 256,
    batch_size: int = 4,
    image_size: int = 384,
    learning_rate: float = 5e-4,
    positive_fraction: float = 0.7,
    num_classes: int = 2,
    shorter_side: int | None = None,
    progress: Callable[[str, float, str], None] | None = None,
    augment: Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]] | None = None,
    time_budget_s: float | None = None,
    initial_state: dict | None = None,
    initial_note: str = "",
) -> DetectorTrainingResult:
    """Train a Faster R-CNN from random weights on ``samples``; write ``model.pt`` (state dict) in ``output_dir``.

    Pictures with boxes make ``positive_fraction`` of each batch (when both kinds exist), so a data set of
    mostly negative slices still teaches the boxes; every picture's RoI sampling still sees background.
    ``shorter_side``: pictures are first resized so their shorter side has this many pixels, the scale
    :func:`~assistcore.detectors.network.detect_pictures` resizes to at inference (None: native pixel size,
    as for MRI slices). ``num_classes`` counts the background. ``augment``: (crop, boxes, rng) -> (crop, boxes)
    in place of the default flips, gamma and contrast; its ``description`` attribute goes into the recipe.
    ``time_budget_s``: training also ends when this much time has passed; the cosine decay then follows
    whichever of steps and time is further along, so a run on a busy machine still ends at a low rate.
    ``initial_state``: a state dict of the same network to start from (fine-tuning) instead of random weights;
    ``initial_note`` says where it came from (the recipe records it).
    """
    import torch

    from ..errors import InputError
    from ..models.loader import build_network

    if not samples:
        raise InputError("No training pictures.", "Give phantoms, a VOC folder or a COCO file with pictures.")
    if shorter_side is not None:  # train at the scale inference resizes pictures to
        samples = [resize_sample(sample, shorter_side) for sample in samples]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    config = network_config(backbone, image_size, num_classes)
    network = build_network(config)
    if initial_state is not None:
        network.load_state_dict(initial_state)
    network.transform.min_size, network.transform.max_size = (crop_size,), crop_size
    network.train()
    positives = [s for s in samples if len(s.boxes_xy)]
    negatives = [s for s in samples if not len(s.boxes_xy)]
    warmup = max(1, min(50, steps // 10))
    started = time.perf_counter()
    draw_batch = functools.partial(
        _training_batch, positives, negatives, batch_size, positive_fraction, crop_size, augment or _augment, rng
    )
    done, recent = _optimise(network, draw_batch, steps, learning_rate, warmup, time_budget_s, progress)
    network.eval()
    output_dir.mkdir(parents=True, exist_ok=True)
    weights_path = output_dir / "model.pt"
    torch.save(network.state_dict(), weights_path)
    network.transform.min_size, network.transform.max_size = (image_size,), image_size
    recipe = {
        "optimizer": f"AdamW lr {learning_rate:g}, weight decay 1e-4, {warmup}-step warm-up then cosine, "
        "gradient clipping 10",
        "batch": f"{batch_size} crops of {crop_size} px, {positive_fraction:.0%} from pictures with boxes",
        "augmentation": "crops near a box 2/3 of the time, "
        + getattr(augment, "description", "left-right flips, gamma 0.7-1.4, contrast +-15 %"),
        "pictures": len(samples),
        "pictures_with_boxes": len(positives),
        "initial_weights": initial_note or ("given state dict" if initial_state is not None else "random"),
        **({"time_budget_s": time_budget_s, "steps_planned": steps} if time_budget_s else {}),
    }
    seconds = time.perf_counter() - started
    exported = export_for_cpu(network, output_dir / "model.onnx", shorter_side)
    return DetectorTrainingResult(
        weights_path, done, seconds, float(np.mean(recent[-20:])), config, recipe=recipe, exported_program=exported
    )


def export_for_cpu(network, path: Path, shorter_side: int | None) -> dict | None:
    """The ``model.onnx`` card entry (CPU inference with ONNX Runtime), or None if the export fails.

    Not fatal: the state-dict weights are the model; the card then has no program.
    """
    from ..models.exporting import export_detector_onnx

    try:
        return export_detector_onnx(network, path, shorter_side)
    except Exception as error:  # the exporter raises many types; training results must not be lost
        import logging

        logging.getLogger(__name__).warning("detector not exported for CPU (%s); the weights still work", error)
        return None


def detector_card_sections(result: DetectorTrainingResult, command: str, seed: int, backbone: str) -> dict:
    """The card sections every trained detector shares: ``weights`` (with sha256), ``exported_program`` when
    scripting worked, ``training`` (command, seed, recipe, time, loss) and ``validation`` (one entry per number
    in ``result.validation``, whose "dataset" and "n" describe them all)."""
    from ..models.weights import weights_card_entry

    return {
        "weights": weights_card_entry(result.weights_path),
        **({"exported_program": result.exported_program} if result.exported_program else {}),
        "training": {
            "command": command,
            "seed": seed,
            "backbone": backbone,
            "steps": result.steps,
            **result.recipe,
            "seconds": round(result.seconds, 1),
            "final_loss": round(result.final_loss, 4),
        },
        "validation": [
            {
                "dataset": result.validation.get("dataset", ""),
                "metric": name,
                "value": value,
                "n": result.validation.get("n"),
            }
            for name, value in result.validation.items()
            if name not in ("dataset", "n")
        ],
    }
