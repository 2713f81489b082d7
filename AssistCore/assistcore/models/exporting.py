"""``torch.export`` programs of trained networks: CPU inference that needs torch but not MONAI.

Importing MONAI costs about 5 s of a fresh process on a 2-core CPU, more than a fast-mode case takes to run.
A ``.pt2`` program holds the same network graph and weights, loads with ``torch.export.load`` alone, and
takes spatial sizes that are any multiple of the network's down-sampling factor (dynamic shapes).
The state-dict weights stay the reference: training, GPUs and other torch versions use them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .weights import sha256_of

log = logging.getLogger(__name__)

#: the largest spatial size an exported program accepts, in multiples of the network's size multiple
MAX_MULTIPLES = 96


def export_program(network: Any, in_channels: int, path: Path, size_multiple: int = 8, tolerance: float = 1e-4) -> dict:
    """Export ``network`` (3D, input (1, in_channels, k, j, i)) to ``path`` and return its card entry.

    Every spatial axis is dynamic in steps of ``size_multiple`` (up to ``MAX_MULTIPLES`` of them). The program
    is checked against the eager network on an input of other sizes than the export example; a difference
    above ``tolerance`` raises ``RuntimeError`` and nothing is written.

    :returns: the card's ``exported_program`` entry (file name relative to ``path``'s folder, sha256, size,
        torch version, dynamic shape rule).
    """
    import torch

    from ..atomic import atomic_path

    network = network.eval()
    dims = [torch.export.Dim(f"multiples_{axis}", min=1, max=MAX_MULTIPLES) for axis in "kji"]
    # distinct example sizes, so the exporter cannot tie two axes together; small, as the file keeps it
    example = torch.randn(1, in_channels, 2 * size_multiple, 3 * size_multiple, 4 * size_multiple)
    with torch.no_grad():
        program = torch.export.export(
            network, (example,), dynamic_shapes=({2: size_multiple * dims[0], 3: size_multiple * dims[1],
                                                  4: size_multiple * dims[2]},)
        )  # fmt: skip
        check = torch.randn(1, in_channels, 5 * size_multiple, 3 * size_multiple, 6 * size_multiple)
        difference = float((program.module()(check) - network(check)).abs().max())
    if difference > tolerance:
        raise RuntimeError(f"exported program differs from the network by {difference:.2e} (> {tolerance:.0e})")
    with atomic_path(path) as temporary:
        torch.export.save(program, temporary)
    return {
        "file": path.name,
        "sha256": sha256_of(path),
        "torch_version": torch.__version__.split("+")[0],
        "dynamic_shapes": f"(1, {in_channels}, {size_multiple}k, {size_multiple}j, {size_multiple}i)",
        "size_bytes": path.stat().st_size,
    }


def load_exported_program(path: Path, device: str) -> Any | None:
    """The program at ``path`` as a callable module on ``device`` ("cpu" only), or None when it cannot run here.

    None (with a log line) on a GPU, or when this torch cannot read the file (another torch version): the
    caller then builds the network from the card and loads the state-dict weights.
    """
    if device != "cpu":
        return None
    import torch

    try:
        return torch.export.load(str(path)).module()
    except Exception as error:  # version skew shows as many error types; the weights still work
        log.info("exported program %s not usable with torch %s (%s); using the weights", path, torch.__version__, error)
        return None


def _size_multiple(card) -> int:
    """The spatial multiple the card's preprocessing guarantees (its crop step), else 16 (4 halvings)."""
    for step in card.preprocessing:
        if "multiple_of" in step:
            return int(step["multiple_of"])
    return 16


def add_exported_program(card) -> dict:
    """Export a card's state-dict network to ``model.pt2`` beside its weights and record it in the card.

    The card is rewritten atomically with the new ``exported_program`` entry; the weights are untouched
    (and verified first). For 3D networks taking (1, channels, k, j, i).
    """
    import json

    from ..atomic import write_text_atomic
    from ..errors import ModelError
    from .loader import network_from_weights

    if card.weights_format != "state_dict" or card.network.get("spatial_dims", 3) != 3:
        raise ModelError(
            f"Model {card.id} is not a 3D network with state-dict weights; nothing to export.",
            "Export works for 3D segmentation networks described by the card's network section.",
        )
    network = network_from_weights(card, "cpu")  # the weights, even if an older program exists
    in_channels = int(card.network.get("in_channels", len(card.input_channels)))
    entry = export_program(network, in_channels, card.folder / "model.pt2", _size_multiple(card))
    data = dict(card.data)
    data["exported_program"] = entry
    write_text_atomic(card.card_path, json.dumps(data, indent=2) + "\n")
    return entry
