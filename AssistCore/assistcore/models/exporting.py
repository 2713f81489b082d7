"""Exported programs of trained networks: CPU inference that needs torch but not MONAI or torchvision's Python.

Importing MONAI costs about 5 s of a fresh process on a 2-core CPU, more than a fast-mode case takes to run;
importing torchvision costs about 2.7 s (its RoI ops pull in ``torch._dynamo``).

- 3D segmentation networks: a ``torch.export`` program (``model.pt2``) holds the same graph and weights, loads
  with ``torch.export.load`` alone, and takes spatial sizes that are any multiple of the network's
  down-sampling factor (dynamic shapes).
- torchvision detectors (Faster R-CNN: data-dependent proposal counts, which ``torch.export`` cannot trace):
  a TorchScript module (``model.ts``, torchvision's own supported scripting path) that needs only torchvision's
  compiled operators (NMS, RoI align), loaded from its shared library without importing the package.

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


def export_program(
    network: Any,
    in_channels: int,
    path: Path,
    size_multiple: int = 8,
    tolerance: float = 1e-4,
    spatial_dims: int = 3,
    input_shape: tuple[int, ...] | None = None,
    dynamic_batch: bool = False,
) -> dict:
    """Export ``network`` (input (batch, in_channels, *spatial)) to ``path`` and return its card entry.

    Without ``input_shape`` (segmentation networks): every spatial axis dynamic in steps of ``size_multiple``
    (up to ``MAX_MULTIPLES`` of them), batch 1 (or 1..64 with ``dynamic_batch``, for slice-wise 2D networks).
    With ``input_shape`` (classifiers on crops of one size): those spatial sizes, any batch of 1..64.
    The program is checked against the eager network on another input than the export example; a difference
    above ``tolerance`` raises ``RuntimeError`` and nothing is written.

    :returns: the card's ``exported_program`` entry (file name relative to ``path``'s folder, sha256, size,
        torch version, dynamic shape rule).
    """
    import torch

    from ..atomic import atomic_path

    network = network.eval()
    first_spatial = 2
    if input_shape is None:
        axes = "kji"[3 - spatial_dims :]
        dims = [torch.export.Dim(f"multiples_{axis}", min=1, max=MAX_MULTIPLES) for axis in axes]
        # distinct example sizes, so the exporter cannot tie two axes together; small, as the file keeps it
        batch = (2, 3) if dynamic_batch else (1, 1)
        example = torch.randn(batch[0], in_channels, *[(2 + n) * size_multiple for n in range(spatial_dims)])
        dynamic = {first_spatial + n: size_multiple * dim for n, dim in enumerate(dims)}
        if dynamic_batch:
            dynamic[0] = torch.export.Dim("batch", min=1, max=64)
        check_sizes = [(5 - 2 * (n % 2) + n) * size_multiple for n in range(spatial_dims)]
        check = torch.randn(batch[1], in_channels, *check_sizes)
        rule = f"({'batch 1-64' if dynamic_batch else 1}, {in_channels}, " + ", ".join(
            f"{size_multiple}{axis}" for axis in axes) + ")"
    else:
        example = torch.randn(2, in_channels, *input_shape)
        dynamic = {0: torch.export.Dim("batch", min=1, max=64)}
        check = torch.randn(3, in_channels, *input_shape)
        rule = f"(batch 1-64, {in_channels}, {', '.join(map(str, input_shape))})"
    with torch.no_grad():
        program = torch.export.export(network, (example,), dynamic_shapes=(dynamic,))
        difference = float((program.module()(check) - network(check)).abs().max())
    if difference > tolerance:
        raise RuntimeError(f"exported program differs from the network by {difference:.2e} (> {tolerance:.0e})")
    with atomic_path(path) as temporary:
        torch.export.save(program, temporary)
    return {
        "file": path.name,
        "sha256": sha256_of(path),
        "torch_version": torch.__version__.split("+")[0],
        "dynamic_shapes": rule,
        "size_bytes": path.stat().st_size,
    }


def export_detector_script(network: Any, path: Path, check_size: tuple[int, int] = (320, 288),
                            tolerance: float = 1e-3) -> dict:  # fmt: skip
    """Script a torchvision detector to ``path`` (TorchScript) and return its card entry.

    The scripted module is checked against the eager one on a picture of ``check_size`` (height, width) with
    a bright block, so that both find boxes; boxes or scores differing by more than ``tolerance`` raise
    ``RuntimeError`` and nothing is written.
    """
    import warnings

    import torch

    from ..atomic import atomic_path

    network = network.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit deprecation and torchvision's "(Losses, Detections)" notes
        scripted = torch.jit.script(network)
        generator = torch.Generator().manual_seed(0)
        picture = torch.rand(3, *check_size, generator=generator) * 0.2
        picture[:, check_size[0] // 3 : check_size[0] // 2, check_size[1] // 3 : check_size[1] // 2] = 0.9
        with torch.inference_mode():
            eager = network([picture])[0]
            script = detector_outputs(scripted([picture]))[0]
    for key in ("boxes", "scores"):
        if eager[key].shape != script[key].shape or (
            eager[key].numel() and float((eager[key] - script[key]).abs().max()) > tolerance
        ):
            raise RuntimeError(f"scripted detector differs from the network in its {key}")
    with atomic_path(path) as temporary:
        scripted.save(str(temporary))
    return {
        "file": path.name,
        "format": "torchscript",
        "ops_libraries": ["torchvision"],
        "sha256": sha256_of(path),
        "torch_version": torch.__version__.split("+")[0],
        "size_bytes": path.stat().st_size,
    }


def detector_outputs(outputs: Any) -> list[dict]:
    """A detector's per-picture output dicts, from eager torchvision or its TorchScript module.

    Scripted torchvision detectors always return ``(losses, detections)``; eager ones in eval mode return the
    detections alone.
    """
    return outputs[1] if isinstance(outputs, tuple) else outputs


def load_torchvision_ops() -> None:
    """Register torchvision's compiled operators (``torch.ops.torchvision.nms``, ...) without importing it.

    A scripted detector calls them by name. Loading the shared library takes milliseconds; ``import
    torchvision`` seconds. Falls back to the import when the library file is not where the wheel puts it.
    """
    import importlib.util

    import torch

    if hasattr(torch.ops.torchvision, "nms"):
        return
    spec = importlib.util.find_spec("torchvision")
    folders = list(spec.submodule_search_locations or []) if spec else []
    libraries = sorted(p for folder in folders for p in Path(folder).glob("_C*.so") if "image" not in p.name)
    libraries += sorted(p for folder in folders for p in Path(folder).glob("_C*.pyd"))
    for library in libraries:
        try:
            torch.ops.load_library(str(library))
            return
        except OSError:
            continue
    import torchvision  # noqa: F401  (registers the ops as a side effect)


def load_exported_program(path: Path, device: str, entry: dict | None = None) -> Any | None:
    """The program at ``path`` as a callable module on ``device`` ("cpu" only), or None when it cannot run here.

    ``entry`` is the card's ``exported_program`` entry: its ``format`` is "torch.export" (the default) or
    "torchscript" (then its ``ops_libraries`` are registered first). None (with a log line) on a GPU, or when
    this torch cannot read the file (another torch version): the caller then builds the network from the card
    and loads the state-dict weights.
    """
    if device != "cpu":
        return None
    import torch

    entry = entry or {}
    try:
        if entry.get("format") == "torchscript":
            import warnings

            if "torchvision" in entry.get("ops_libraries", []):
                load_torchvision_ops()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice, on every load
                return torch.jit.load(str(path), map_location=device).eval()
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


def is_detector(card) -> bool:
    """Whether the card's network is an object detector (its ``pred`` output is ``object_detection``)."""
    outputs = card.data.get("network_data_format", {}).get("outputs", {})
    return outputs.get("pred", {}).get("type") == "object_detection"


def _in_channels(network_config: dict, default: int) -> int:
    return int(network_config.get("in_channels", network_config.get("n_input_channels", default)))


def add_exported_program(card) -> dict:
    """Export a card's state-dict networks beside their weights and record them in the card.

    2D/3D segmentation networks become ``model.pt2`` (spatial sizes dynamic); torchvision detectors ``model.ts``;
    each component with an ``input_shape`` (classifiers on crops) ``<component>.pt2``, recorded in its entry.
    The card is rewritten atomically; the weights are untouched (and verified first).

    :returns: the main network's ``exported_program`` entry.
    """
    import json

    from ..atomic import write_text_atomic
    from ..errors import ModelError
    from .loader import build_network, load_state_dict_file, network_from_weights
    from .weights import verify_file

    data = json.loads(json.dumps(card.data))
    if card.weights_format == "state_dict" and is_detector(card):
        entry = export_detector_script(network_from_weights(card, "cpu"), card.folder / "model.ts")
    elif card.weights_format == "state_dict" and card.network.get("spatial_dims", 3) in (2, 3):
        network = network_from_weights(card, "cpu")  # the weights, even if an older program exists
        in_channels = _in_channels(card.network, len(card.input_channels))
        spatial_dims = int(card.network.get("spatial_dims", 3))
        entry = export_program(network, in_channels, card.folder / "model.pt2", _size_multiple(card),
                               spatial_dims=spatial_dims, dynamic_batch=spatial_dims == 2)  # fmt: skip
    else:
        raise ModelError(
            f"Model {card.id} is not a 2D/3D network or detector with state-dict weights; nothing to export.",
            "Export works for segmentation networks and detectors described by the card's network section.",
        )
    data["exported_program"] = entry
    for name, component in card.components.items():
        if "input_shape" not in component:
            continue
        path = verify_file(card.component_weights_path(name), component["weights"]["sha256"], card.id, name)
        network = build_network(component["network"])
        network.load_state_dict(load_state_dict_file(path), strict=True)
        data["components"][name]["exported_program"] = export_program(
            network, _in_channels(component["network"], 1), card.folder / f"{name}.pt2",
            input_shape=tuple(component["input_shape"]),
        )  # fmt: skip
    write_text_atomic(card.card_path, json.dumps(data, indent=2) + "\n")
    return entry
