"""Training the BrainTumorLabel network (:mod:`assistcore.brain.model`) on phantoms or on annotated cases, and
the model card of the result."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..models.card import image_input_format
from ..resample import resample_to_reference
from .model import CHANNELS, FAST_SPACING_MM, NETWORK, REQUIRED, SIZE_MULTIPLE, STANDARD_SPACING_MM, _take, prepare


@dataclass
class TrainingResult:
    weights_path: Path
    steps: int
    seconds: float
    final_loss: float
    validation: dict = field(default_factory=dict)
    validation_n: int = 0
    #: the card's ``exported_program`` entry (``model.onnx``), or None when export failed
    exported_program: dict | None = None


def _phantom_sample(seed: int, spacing_mm: float):
    from ..phantoms.brain import generate_brain_phantom

    phantom = generate_brain_phantom(seed, spacing_mm=spacing_mm)
    prepared = prepare(phantom.images, spacing_mm)
    labels = resample_to_reference(
        phantom.images["flair"].with_array(phantom.labels_kji), prepared.working, "nearest"
    ).array_kji
    return prepared.array, labels.astype(np.int64)


def _case_sample(folder: Path, spacing_mm: float):
    """A real annotated case of the training layout: <ID>_<role>.nii.gz and <ID>_seg.nii.gz (BraTS 2021)."""
    from ..image_io import read_image
    from .inputs import load_case, match_files_in_folder
    from .regions import from_convention

    case = load_case(match_files_in_folder(folder), required_roles=REQUIRED)
    prepared = prepare(case.images, spacing_mm)
    segmentation = read_image(next(folder.glob("*_seg.nii.gz")))
    labels = segmentation.with_array(from_convention(segmentation.array_kji, "brats2021"))
    labels = resample_to_reference(labels, prepared.working, "nearest").array_kji
    return prepared.array, labels.astype(np.int64)


def _random_patch(array: np.ndarray, labels: np.ndarray, size: int, rng: np.random.Generator):
    """A patch of ``size``^3 (padded if needed) centred on a voxel of a class drawn uniformly from those present.

    Class-balanced like MONAI's RandCropByLabelClasses with equal ratios: small classes (non-enhancing tumour
    is often a few hundred voxels beside thousands of edema) are seen as often as large ones.
    """
    shape = np.array(labels.shape)
    present = [int(value) for value in np.unique(labels)]
    chosen = present[rng.integers(len(present))]
    if chosen == 0 and rng.random() < 0.5:
        centre = np.array([rng.integers(n) for n in shape])  # anywhere, including outside the head
    else:
        positions = np.argwhere(labels == chosen)
        centre = positions[rng.integers(len(positions))]
    start = np.clip(centre - size // 2, 0, np.maximum(shape - size, 0))
    box = tuple(slice(int(s), int(s) + size) for s in start)
    return np.stack([_take(channel, box) for channel in array]), _take(labels, box)


def train_brain_model(
    output_dir: Path,
    n_phantoms: int = 96,
    steps: int = 1500,
    patch_size: int = 64,
    seed: int = 0,
    validation_phantoms: int = 12,
    progress: Callable[[str, float, str], None] | None = None,
    data_dir: Path | None = None,
) -> TrainingResult:
    """Train the network on freshly generated phantoms; write ``model.pt`` and return validation Dice.

    Phantoms at 2 mm and 3 mm; each step: one random patch, random flips, random channel dropout of T1/T2
    (so FLAIR + T1c alone work), DiceCE loss, AdamW with cosine decay. Validation on other seeds (1000+).
    """
    import torch
    from monai.losses import DiceCELoss

    from ..models.loader import build_network

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    pool = _training_pool(seed, n_phantoms, data_dir, progress)
    network = build_network(NETWORK)
    optimiser = torch.optim.AdamW(network.parameters(), lr=2e-3, weight_decay=1e-5)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    loss_function = DiceCELoss(to_onehot_y=True, softmax=True)
    network.train()
    recent = []
    for step in range(steps):
        array, labels = pool[rng.integers(len(pool))]
        patch, patch_labels = _augmented_patch(array, labels, patch_size, rng)
        inputs = torch.from_numpy(np.ascontiguousarray(patch[None], dtype=np.float32))
        target = torch.from_numpy(np.ascontiguousarray(patch_labels[None, None]))
        optimiser.zero_grad()
        loss = loss_function(network(inputs), target)
        loss.backward()
        optimiser.step()
        schedule.step()
        recent.append(float(loss.detach()))
        if progress and (step % 10 == 0 or step == steps - 1):
            progress("training", (step + 1) / steps, f"step {step + 1}/{steps} loss {np.mean(recent[-50:]):.3f}")
    weights_path = output_dir / "model.pt"
    torch.save(network.state_dict(), weights_path)
    network.eval()
    exported = _export_for_cpu(network, output_dir / "model.onnx")
    validation = _validation_dice(network, seed, validation_phantoms)
    seconds = time.perf_counter() - started
    return TrainingResult(
        weights_path, steps, seconds, float(np.mean(recent[-50:])), validation, validation_phantoms, exported
    )


def _training_pool(
    seed: int, n_phantoms: int, data_dir: Path | None, progress: Callable[[str, float, str], None] | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(channels, k, j, i) arrays and their (k, j, i) labels to draw patches from: the annotated cases of
    ``data_dir``, else ``n_phantoms`` phantoms; every third at the fast-mode spacing."""
    pool = []
    case_folders = sorted(path for path in data_dir.iterdir() if path.is_dir()) if data_dir else []
    count = len(case_folders) if data_dir else n_phantoms
    for index in range(count):
        spacing = STANDARD_SPACING_MM if index % 3 else FAST_SPACING_MM
        pool.append(
            _case_sample(case_folders[index], spacing) if data_dir else _phantom_sample(seed * 100000 + index, spacing)
        )
        if progress:
            progress("phantoms", (index + 1) / count, f"{index + 1}/{count}")
    if not pool:
        from ..errors import InputError

        raise InputError(f"No training cases in {data_dir}.", "Export accepted cases with `brain export-training`.")
    return pool


def _augmented_patch(
    array: np.ndarray, labels: np.ndarray, patch_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A class-balanced patch with random axis flips, per-channel gain and offset, and T1/T2 dropped at random
    (so FLAIR + T1c alone work)."""
    patch, patch_labels = _random_patch(array, labels, patch_size, rng)
    for axis in range(1, 4):
        if rng.random() < 0.5:
            patch, patch_labels = np.flip(patch, axis), np.flip(patch_labels, axis - 1)
    patch = patch * rng.uniform(0.9, 1.1, (4, 1, 1, 1)) + rng.normal(0, 0.1, (4, 1, 1, 1))
    for channel in (0, 2):  # T1, T2 optional
        if rng.random() < 0.2:
            patch[channel] = 0.0
    return patch, patch_labels


def _validation_dice(network, seed: int, validation_phantoms: int) -> dict[str, float | None]:
    """Mean Dice per label (1, 2, 3) and of the whole tumour on phantoms of seeds the training never saw."""
    import torch

    from ..metrics import dice_per_label

    dices = {1: [], 2: [], 3: [], "whole_tumor": []}
    for index in range(validation_phantoms):
        array, labels = _phantom_sample(seed * 100000 + 1000 + index, STANDARD_SPACING_MM)
        with torch.inference_mode():
            predicted = network(torch.from_numpy(array[None])).argmax(1)[0].numpy()
        for label, value in dice_per_label(predicted, labels, [1, 2, 3]).items():
            if (labels == label).any():
                dices[label].append(value)
        dices["whole_tumor"].append(dice_per_label((predicted > 0).astype(int), (labels > 0).astype(int), [1])[1])
    return {str(key): round(float(np.mean(values)), 3) if values else None for key, values in dices.items()}


def _export_for_cpu(network, path: Path) -> dict | None:
    """The ``model.onnx`` card entry (CPU inference with ONNX Runtime), or None if export fails.

    A failed export is not fatal: the state-dict weights are the model; the card then has no program.
    """
    from ..models.exporting import export_network_onnx

    try:
        return export_network_onnx(network, NETWORK["in_channels"], path, SIZE_MULTIPLE)
    except Exception as error:  # the exporter raises many types; training results must not be lost
        import logging

        logging.getLogger(__name__).warning("model not exported for CPU (%s); the weights still work", error)
        return None


def brain_model_card(
    result: TrainingResult, command: str, model_id: str, seed: int, n_phantoms: int, patch_size: int
) -> dict:
    """The model card of a network trained by :func:`train_brain_model` on phantoms."""
    from ..labels import card_labels
    from ..models.card import trained_card_header
    from ..models.weights import weights_card_entry

    labels = card_labels("brain_tumor_labels")
    return {
        **trained_card_header(
            model_id,
            "BrainTumorLabel demo SegResNet",
            "brain_tumor",
            "Brain tumour region pre-labelling (non-enhancing tumour, edema, enhancing tumour)",
            "MONAI SegResNet (init_filters 8) trained by `radassist brain train` on synthetic brain phantoms (MNI "
            "ICBM152 anatomy with drawn tumours, random contrasts, bias field, noise).",
            "Train on your own annotated patients with `radassist brain train --data DIR` before relying on it.",
            synthetic=True,
        ),
        "data_source": "Synthetic phantoms generated by assistcore.phantoms.brain (seeded)",
        "data_type": "nifti",
        "image_classes": "4 channels: T1, T1 post-contrast, T2, FLAIR (T1 and T2 optional, zeros when missing)",
        "label_classes": "0 background, 1 non-enhancing tumour, 2 edema, 3 enhancing tumour (BraTS 2023 values)",
        "pred_classes": "softmax over 4 classes, argmax on the reference grid",
        "network_data_format": {
            "inputs": {"image": image_input_format(CHANNELS)},
            "outputs": {
                "pred": {
                    "type": "image",
                    "format": "segmentation",
                    "num_channels": 4,
                    "channel_def": {"0": "background", "1": "non-enhancing", "2": "edema", "3": "enhancing"},
                }
            },
        },
        "network": NETWORK,
        "input_channels": [
            {"name": role.upper(), "role": role, "description": "required" if role in REQUIRED else "optional"}
            for role in CHANNELS
        ],
        "preprocessing": [
            {"step": "register_rigid_to_reference", "reference": "flair"},
            {"step": "resample_isotropic", "spacing_mm": STANDARD_SPACING_MM, "fast_mode_spacing_mm": FAST_SPACING_MM},
            {"step": "crop_to_nonzero", "multiple_of": SIZE_MULTIPLE},
            {"step": "normalize_intensity", "nonzero": True, "channel_wise": True},
        ],
        "postprocessing": [{"step": "softmax_argmax"}, {"step": "resample_probabilities_to_reference"}],
        "inference": {"mode": "whole_volume", "tta": False},
        "labels": labels,
        "operating_thresholds": {},
        "weights": weights_card_entry(result.weights_path),
        **({"exported_program": result.exported_program} if result.exported_program else {}),
        "training": {
            "command": command,
            "seed": seed,
            "phantoms": n_phantoms,
            "steps": result.steps,
            "patch_size": patch_size,
            "loss": "DiceCE",
            "optimizer": "AdamW lr 2e-3, cosine",
            "seconds": round(result.seconds, 1),
            "final_loss": round(result.final_loss, 4),
        },
        "validation": [
            {
                "dataset": "fresh synthetic phantoms (seeds not used in training)",
                "metric": f"dice_{name}",
                "value": value,
                "n": result.validation_n,
            }
            for name, value in result.validation.items()
        ],
    }
