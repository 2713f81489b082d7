"""Fine-tuning a site's own annotated cases into the DeepMedic brain model (``radassist brain train --init``).

Training data: BraTS-layout folders, ``<case>/<case>_{t1,t1ce,t2,flair,seg}.nii.gz`` (``t1c`` accepted for
``t1ce``), labels in BraTS 2021 values (1 necrosis/non-enhancing, 2 oedema, 4 enhancing), as the worklist's
``brain export-training`` writes them. Each case is prepared exactly as inference prepares it (the card's
spacing and CaPTk z-score, :func:`assistcore.brain.model.prepare`), so the fine-tuned model sees what it will
see. Batch-norm statistics stay the converted model's rolling averages (a handful of local cases cannot
estimate better ones); every other weight is trained with Adam on the negative log-likelihood of the
network's softmax over output segments, half of them centred on tumour voxels.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, ModelError

#: file suffix of each sequence in a BraTS-layout case folder (several spellings are in use)
BRATS_FILES = {"t1": ("t1",), "t1c": ("t1ce", "t1c"), "t2": ("t2",), "flair": ("flair",), "seg": ("seg",)}
#: output segment edge (voxels) of one training sample; the input adds the network's margin on every side
SAMPLE_OUTPUT = 9


@dataclass
class FineTuneResult:
    weights_path: Path
    steps: int
    seconds: float
    final_loss: float
    cases: list[str] = field(default_factory=list)


def brats_case_files(folder: str | Path) -> dict[str, Path]:
    """role -> file of one BraTS-layout case folder.

    :raises InputError: a sequence or the label file is missing (named, with the folder).
    """
    folder = Path(folder)
    found = {}
    for role, suffixes in BRATS_FILES.items():
        matches = [path for suffix in suffixes for path in folder.glob(f"*_{suffix}.nii*")]
        if not matches:
            raise InputError(
                f"Case folder {folder} has no {role} file (expected {folder.name}_{suffixes[0]}.nii.gz).",
                "Every training case needs t1, t1ce, t2, flair and seg (radassist brain export-training writes them).",
            )
        found[role] = matches[0]
    return found


def prepare_training_case(folder: Path, card) -> tuple[np.ndarray, np.ndarray]:
    """(channels, k, j, i) float32 network input and (k, j, i) int64 class targets of one case."""
    from ..image_io import read_image
    from ..resample import check_same_grid, resample_to_reference
    from .model import prepare

    files = brats_case_files(folder)
    images = {role: read_image(path, as_scan=role != "seg") for role, path in files.items()}
    labels = images.pop("seg")
    check_same_grid({str(files[role]): image for role, image in {**images, "seg": labels}.items()})
    unknown = sorted(set(np.unique(labels.array_kji).astype(int)) - {0, 1, 2, 4})
    if unknown:
        raise InputError(f"{files['seg']} holds label values {unknown}.", "Use BraTS 2021 values 0, 1, 2, 4.")
    roles = tuple(channel["role"].lower() for channel in card.input_channels)
    spacing = next((float(step["spacing_mm"]) for step in card.preprocessing if "spacing_mm" in step), 1.0)
    prepared = prepare(images, spacing, roles, "zscore_captk")
    targets = resample_to_reference(labels, prepared.working, "nearest").array_kji.astype(np.int64)
    return prepared.array, targets  # BraTS values are the network's class indices (class 3 unused)


def finetune_deepmedic(
    init_card,
    data_dir: str | Path,
    output_dir: Path,
    steps: int = 200,
    seed: int = 0,
    learning_rate: float = 1e-4,
    batch_size: int = 2,
    progress: Callable[[str, float, str], None] | None = None,
) -> FineTuneResult:
    """Fine-tune ``init_card``'s DeepMedic on the cases in ``data_dir``; write ``model.pt`` into ``output_dir``.

    :raises InputError: no case folder, a case missing a sequence, grids that differ.
    :raises ModelError: the initial model is not a DeepMedic with state-dict weights.
    """
    import torch

    from ..models.loader import network_from_weights

    if "DeepMedic" not in str(init_card.network.get("_target_", "")):
        raise ModelError(f"Model {init_card.id} is not a DeepMedic network.", "Give --init a DeepMedic model id.")
    folders = sorted(path for path in Path(data_dir).iterdir() if path.is_dir()) if Path(data_dir).is_dir() else []
    if not folders:
        raise InputError(f"No case folders in {data_dir}.", "Give the folder radassist brain export-training wrote.")
    started = time.perf_counter()
    cases = []
    for index, folder in enumerate(folders):
        cases.append(prepare_training_case(folder, init_card))
        if progress:
            progress("cases", (index + 1) / len(folders), folder.name)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    network = network_from_weights(init_card, "cpu").train()
    for module in network.modules():  # batch norm keeps the converted rolling averages
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    margin = int(network.margin)
    optimiser = torch.optim.Adam([p for p in network.parameters() if p.requires_grad], lr=learning_rate)
    losses = []
    for step in range(steps):
        inputs, targets = zip(*(_sample(cases[rng.integers(len(cases))], margin, rng) for _ in range(batch_size)))
        probabilities = network(torch.from_numpy(np.stack(inputs)))
        log_probabilities = torch.log(probabilities.clamp_min(1e-7))
        loss = torch.nn.functional.nll_loss(log_probabilities, torch.from_numpy(np.stack(targets)))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
        if progress:
            progress("training", (step + 1) / max(1, steps), f"step {step + 1}/{steps} loss {losses[-1]:.3f}")
    network.eval()
    output_dir.mkdir(parents=True, exist_ok=True)
    weights_path = output_dir / "model.pt"
    torch.save(network.state_dict(), weights_path)
    final = float(np.mean(losses[-20:])) if losses else float("nan")
    return FineTuneResult(weights_path, steps, time.perf_counter() - started, final, [f.name for f in folders])


def _sample(case: tuple[np.ndarray, np.ndarray], margin: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """One (channels, S + 2 margin, ...) input block and its (S, S, S) targets; half centred on tumour."""
    channels, targets = case
    size = SAMPLE_OUTPUT
    tumour = np.argwhere(targets > 0)
    if len(tumour) and rng.random() < 0.5:
        centre = tumour[rng.integers(len(tumour))]
    else:
        centre = np.array([rng.integers(n) for n in targets.shape])
    start = centre - size // 2
    target = _block(targets, start, size, fill=0)
    block = np.stack(
        [_block(channel, start - margin, size + 2 * margin, fill=float(channel.min())) for channel in channels]
    )
    return block.astype(np.float32), target


def _block(array: np.ndarray, start: np.ndarray, size: int, fill: float) -> np.ndarray:
    """``array[start : start + size]`` on every axis, ``fill`` where it leaves the array."""
    out = np.full((size,) * 3, fill, dtype=array.dtype)
    source = tuple(slice(max(int(s), 0), min(int(s) + size, n)) for s, n in zip(start, array.shape))
    target = tuple(slice(src.start - int(s), src.stop - int(s)) for src, s in zip(source, start))
    if all(src.stop > src.start for src in source):
        out[target] = array[source]
    return out


def finetuned_card(
    init_card,
    result: FineTuneResult,
    model_id: str,
    command: str,
    data_dir: str,
    seed: int,
    exported_program: dict | None,
) -> dict:
    """The fine-tuned model's card: the initial card with new id and weights, and its provenance."""
    from ..models.weights import weights_card_entry

    card = json.loads(json.dumps(init_card.data))
    card["id"] = model_id
    card["name"] = f"{init_card.name} fine-tuned on {len(result.cases)} local case(s)"
    card["version"] = f"{init_card.version}+ft{time.strftime('%Y%m%d')}"
    card["weights"] = weights_card_entry(result.weights_path)
    card.pop("exported_program", None)
    if exported_program:
        card["exported_program"] = exported_program
    card["training"] = {
        "command": command,
        "fine_tuned_from": {
            "id": init_card.id,
            "version": init_card.version,
            "weights_sha256": init_card.weights_sha256,
        },
        "data": str(data_dir),
        "cases": result.cases,
        "steps": result.steps,
        "seed": seed,
        "final_loss": round(result.final_loss, 4),
        "seconds": round(result.seconds, 1),
        "recipe": "Adam, negative log-likelihood over 9^3 output segments (half centred on tumour), batch norm "
        "statistics frozen at the initial model's",
        "earlier_training": init_card.data.get("training", {}),
    }
    # the initial model's numbers do not describe these weights: validate on held-out local cases
    # (radassist brain evaluate) and add them here
    card["validation"] = []
    return card
