"""ONNX exports of trained networks: CPU inference with ONNX Runtime, without torch in the process.

Why ONNX Runtime and not torch on the CPU: 3D Slicer runs the assistants in its own process, which renders
with VTK OpenGL, and ``import triton`` after a GL context exists kills the process (segfault). Importing
torchvision or MONAI imports ``torch._dynamo`` and with it triton, and so does loading a ``torch.export``
program. ONNX Runtime imports in about 0.15 s (torch: 2.4 s, 0.7 GB), runs the same graphs, and was faster
than torch on these networks here (``radassist bench desktop``).

What each kind of network becomes (the card's ``exported_program`` entry, ``format: onnx``):

- segmentation networks (2D or 3D): input ``image`` (batch, channels, *spatial) float32, batch and every
  spatial axis dynamic (multiples of the network's down-sampling factor); output ``logits``.
- classifiers on crops of one size (components with ``input_shape``): the batch dynamic; output ``logits``.
- torchvision detectors: input ``image`` (3, height, width) float32 in 0..1, any size; outputs ``boxes``
  (n, 4) x0, y0, x1, y1 in the input picture's pixels and ``scores`` (n,). A card with
  ``inference.shorter_side`` resizes inside the graph exactly as torchvision's transform does; without it the
  picture runs at its own size (MRI slices), as in :func:`assistcore.detectors.network.detect_pictures`.

Every export is checked against the torch network on other inputs than the export example (other sizes); a
difference above the tolerance raises ``RuntimeError`` and nothing is written. The state-dict weights stay
the reference: training and GPUs use them.
"""

from __future__ import annotations

import copy
import types
from pathlib import Path
from typing import Any

import numpy as np

from .weights import sha256_of

#: ONNX opset of the exports (ONNX Runtime 1.16 and newer run it)
OPSET = 17


def _check_and_save(
    network: Any, example: tuple, checks: list[tuple], path: Path, names: dict, tolerance: float, rule: str
) -> dict:
    """Export ``network`` traced on ``example``, compare ONNX Runtime with torch on each of ``checks``, write
    ``path`` atomically and return the card entry."""
    import io
    import warnings

    import onnxruntime
    import torch

    from ..atomic import atomic_path

    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation and tracer notes
        torch.onnx.export(
            network,
            example,
            buffer,
            input_names=names["inputs"],
            output_names=names["outputs"],
            dynamic_axes=names["dynamic"],
            opset_version=OPSET,
            dynamo=False,
        )
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    difference = 0.0
    for check in checks:
        with torch.inference_mode():
            expected = network(*check)
        expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
        got = session.run(None, {name: value.numpy() for name, value in zip(names["inputs"], check)})
        for want, have in zip(expected, got):
            if tuple(want.shape) != have.shape:
                raise RuntimeError(f"ONNX export of {path.name} gives shape {have.shape}, torch {tuple(want.shape)}")
            if have.size:
                difference = max(difference, float(np.abs(want.float().numpy() - have).max()))
    if difference > tolerance:
        raise RuntimeError(f"ONNX export of {path.name} differs from the network by {difference:.2e} (> {tolerance:g})")
    with atomic_path(path) as temporary:
        temporary.write_bytes(buffer.getvalue())
    return {
        "file": path.name,
        "format": "onnx",
        "sha256": sha256_of(path),
        "opset": OPSET,
        "torch_version": torch.__version__.split("+")[0],
        "onnxruntime_version_checked": onnxruntime.__version__,
        "max_difference_to_torch": float(f"{difference:.3g}"),
        "dynamic_shapes": rule,
        "size_bytes": path.stat().st_size,
    }


def export_network_onnx(
    network: Any,
    in_channels: int,
    path: Path,
    size_multiple: int = 8,
    spatial_dims: int = 3,
    input_shape: tuple[int, ...] | None = None,
    tolerance: float = 1e-3,
) -> dict:
    """Export a segmentation network or a crop classifier (input (batch, in_channels, *spatial)) to ``path``.

    Without ``input_shape``: batch and spatial axes dynamic, checked on two other sizes (multiples of
    ``size_multiple``). With it: those spatial sizes, any batch.

    :returns: the card's ``exported_program`` entry.
    """
    import torch

    network = network.eval()
    if input_shape is None:
        axes = "kji"[3 - spatial_dims :]
        example = (torch.randn(1, in_channels, *[(2 + n) * size_multiple for n in range(spatial_dims)]),)
        checks = [
            (torch.randn(2, in_channels, *[(5 - 2 * (n % 2) + n) * size_multiple for n in range(spatial_dims)]),),
            (torch.randn(1, in_channels, *[(3 + n) * size_multiple for n in range(spatial_dims)]),),
        ]
        spatial = {2 + n: f"size_{axis}" for n, axis in enumerate(axes)}
        dynamic = {"image": {0: "batch", **spatial}, "logits": {0: "batch"}}
        rule = f"(batch, {in_channels}, " + ", ".join(f"{size_multiple}{axis}" for axis in axes) + ")"
    else:
        example = (torch.randn(2, in_channels, *input_shape),)
        checks = [(torch.randn(3, in_channels, *input_shape),)]
        dynamic = {"image": {0: "batch"}, "logits": {0: "batch"}}
        rule = f"(batch, {in_channels}, {', '.join(map(str, input_shape))})"
    names = {"inputs": ["image"], "outputs": ["logits"], "dynamic": dynamic}
    return _check_and_save(network, example, checks, path, names, tolerance, rule)


class _DetectorForOnnx:
    """Builds the traceable module: a picture (3, H, W) in, (boxes, scores) in that picture's pixels out."""

    @staticmethod
    def build(detector: Any, shorter_side: int | None) -> Any:
        import torch

        detector = copy.deepcopy(detector).eval()
        transform = detector.transform
        if shorter_side is None:  # native size: the picture is not resized at all
            transform.resize = types.MethodType(lambda self, image, target=None: (image, target), transform)
        else:  # torchvision's own resize, the shorter side to shorter_side whatever the longer one
            transform.min_size, transform.max_size = (int(shorter_side),), 1_000_000

        class Detector(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.detector = detector

            def forward(self, image):
                found = self.detector([image])[0]
                return found["boxes"], found["scores"]

        return Detector().eval()


def export_detector_onnx(network: Any, path: Path, shorter_side: int | None = None, tolerance: float = 1e-3) -> dict:
    """Export a torchvision detector to ``path`` (see the module docstring) and return its card entry.

    Checked against the torch detector on pictures of two other sizes with bright blocks (so both find boxes).
    """
    import torch

    module = _DetectorForOnnx.build(network, shorter_side)
    generator = torch.Generator().manual_seed(0)

    def picture(height: int, width: int) -> torch.Tensor:
        values = torch.rand(3, height, width, generator=generator) * 0.2
        values[:, height // 3 : height // 2, width // 3 : width // 2] = 0.9
        return values

    names = {
        "inputs": ["image"],
        "outputs": ["boxes", "scores"],
        "dynamic": {"image": {1: "height", 2: "width"}, "boxes": {0: "n"}, "scores": {0: "n"}},
    }
    entry = _check_and_save(
        module,
        (picture(256, 320),),
        [(picture(320, 288),), (picture(384, 384),)],
        path,
        names,
        tolerance,
        "(3, height, width)",
    )
    entry["shorter_side"] = shorter_side
    return entry


def is_detector(card) -> bool:
    """Whether the card's network is an object detector (its ``pred`` output is ``object_detection``)."""
    outputs = card.data.get("network_data_format", {}).get("outputs", {})
    return outputs.get("pred", {}).get("type") == "object_detection"


def _in_channels(network_config: dict, default: int) -> int:
    return int(network_config.get("in_channels", network_config.get("n_input_channels", default)))


def _size_multiple(card) -> int:
    """The spatial multiple the card's preprocessing guarantees (its crop step), else 16 (4 halvings)."""
    for step in card.preprocessing:
        if "multiple_of" in step:
            return int(step["multiple_of"])
    return 16


def add_exported_program(card) -> dict:
    """Export a card's state-dict networks to ONNX beside their weights and record them in the card.

    The main network becomes ``model.onnx``; each component ``<component>.onnx`` (recorded in its entry).
    Earlier programs (``model.pt2``, ``model.ts`` of older versions) named by the card are removed. The card
    is rewritten atomically; the weights are untouched (and verified first).

    :returns: the main network's ``exported_program`` entry.
    """
    import json

    from ..atomic import write_text_atomic
    from ..errors import ModelError
    from .loader import build_network, load_state_dict_file, network_from_weights
    from .weights import verify_file

    data = json.loads(json.dumps(card.data))
    earlier = [card.data.get("exported_program")] + [c.get("exported_program") for c in card.components.values()]
    stale = [card.folder / entry["file"] for entry in earlier if entry and not entry["file"].endswith(".onnx")]
    if card.weights_format != "state_dict":
        raise ModelError(
            f"Model {card.id} has {card.weights_format} weights; only state-dict networks can be exported.",
            "Export works for segmentation networks, classifiers and detectors described by the card's network.",
        )
    network = network_from_weights(card, "cpu")
    if is_detector(card):
        shorter_side = card.data.get("inference", {}).get("shorter_side")
        entry = export_detector_onnx(network, card.folder / "model.onnx", shorter_side)
    elif int(card.network.get("spatial_dims", 3)) in (2, 3):
        entry = export_network_onnx(
            network,
            _in_channels(card.network, len(card.input_channels)),
            card.folder / "model.onnx",
            _size_multiple(card),
            spatial_dims=int(card.network.get("spatial_dims", 3)),
        )
    else:
        raise ModelError(f"Model {card.id} is not a 2D/3D network or detector; nothing to export.")
    data["exported_program"] = entry
    for name, component in card.components.items():
        path = verify_file(card.component_weights_path(name), component["weights"]["sha256"], card.id, name)
        network = build_network(component["network"])
        network.load_state_dict(load_state_dict_file(path), strict=True)
        spatial_dims = int(component["network"].get("spatial_dims", 3))
        input_shape = tuple(component["input_shape"]) if "input_shape" in component else None
        data["components"][name]["exported_program"] = export_network_onnx(
            network,
            _in_channels(component["network"], 1),
            card.folder / f"{name}.onnx",
            spatial_dims=spatial_dims,
            input_shape=input_shape,
        )
    write_text_atomic(card.card_path, json.dumps(data, indent=2) + "\n")
    for path in stale:
        path.unlink(missing_ok=True)
    return entry
