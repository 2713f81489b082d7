"""DeepMedic (Kamnitsas et al., Medical Image Analysis 36:61-78, 2017) in PyTorch, for CaPTk's brain tumour model.

The network is built exactly as DeepMedic 0.8.4 builds it from a model config (``deepmedic/neuralnet``):

- each pathway is a stack of blocks, every block ``[batch norm | bias] -> [PReLU] -> [dropout] -> conv``
  (He et al.'s pre-activation order). The first block of the normal and the subsampled pathways gets a bias
  and no activation (it sees the image); every other block gets batch norm and PReLU.
- batch norm uses the stored rolling averages: the mean of the ``rolling_batches`` (60) per-batch means and
  of the per-batch variances, ``(x - mu) / sqrt(var + tiny) * gamma + beta`` (DeepMedic's inference mode; no
  training-mode statistics here). Dropout at inference multiplies by the keep probability, as DeepMedic does.
- a residual connection at block ``i`` adds the input of block ``i - 1``, centre-cropped to the output's
  size and zero-padded in channels (``layersWithResidualConn*``, numbered from 1 in the config).
- subsampled pathways see every ``factor``-th voxel (no averaging) and their output is repeated ``factor``
  times per axis and cut to the normal pathway's output size; the concatenation goes through the FC
  pathway (convolutions: the first 3x3x3 with MIRROR padding, i.e. the segment's edge voxels repeated, the
  others 1x1x1), then the classification bias and a softmax.

One input tensor: ``forward(x)`` takes ``x`` (batch, channels, k + 2m, j + 2m, i + 2m), the output segment
(k, j, i) with a margin ``m`` = :attr:`DeepMedic.margin` (40 for CaPTk's model: 8 voxels of receptive field
each side times the largest factor, 5) on every side, and returns class probabilities (batch, classes, k, j,
i). Inside, the normal pathway takes the central (k + 16, j + 16, i + 16) block and the pathway with factor
``f`` takes every ``f``-th voxel from ``m - 8 f`` voxels in on each side, which is DeepMedic's own sampling
grid (``dataManagement/sampling.py``, ``get_subsampl_segment``): low-resolution output voxel ``q`` sits over
output voxel ``f q`` and covers ``f q .. f q + f - 1``. So an ONNX export has one input.

Axes: arrays here are (k, j, i) = (z, y, x) as read by SimpleITK; DeepMedic's are nibabel's (x, y, z).
Weights are stored transposed accordingly (:func:`state_dict_from_checkpoint`), so the same image gives the
same probabilities.

torch is imported only when the class is first used (``DeepMedic`` is built on attribute access), so
importing this module stays free of torch like the rest of the core.
"""

from __future__ import annotations

import functools
from typing import Any

from .deepmedic_config import CAPTK_BRAIN_TUMOR_CONFIG


def __getattr__(name: str) -> Any:
    if name == "DeepMedic":
        return _classes()["DeepMedic"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def context_margin(fms_normal: list[int], subsample_factors: list[int], kernel_size: int = 3) -> int:
    """Voxels the input block needs around the output segment on each side: the normal pathway's one-sided
    receptive field (``len(fms_normal) * (kernel_size - 1) / 2``) times the largest subsampling factor."""
    return len(fms_normal) * (kernel_size // 2) * max([1, *subsample_factors])


@functools.lru_cache(maxsize=1)
def _classes() -> dict[str, type]:
    """The torch module classes, imported on first use (torch is not imported with this module)."""
    from . import deepmedic_torch

    return {"DeepMedic": deepmedic_torch.DeepMedic, "Block": deepmedic_torch.Block, "Pathway": deepmedic_torch.Pathway}


def checkpoint_variable_names(config: dict | None = None) -> dict[str, str]:
    """Our state-dict key -> the TensorFlow variable name (under ``net/``) in DeepMedic's checkpoint.

    TF1 names variables in creation order (``W``, ``W_1``, ...): the normal pathway's blocks, then each
    subsampled pathway's, then the FC blocks, then the classification bias. A block with batch norm creates
    ``gBn``, ``bBn``, ``muBnsForRollingAverage``, ``varBnsForRollingAverage`` (and two training-only
    variables not used here), then ``aPrelu``, then ``W``; a first block creates ``b`` then ``W``.
    """
    config = {**CAPTK_BRAIN_TUMOR_CONFIG, **(config or {})}
    counters = {"W": 0, "b": 0, "bn": 0, "prelu": 0}

    def name(kind: str, tf_name: str) -> str:
        number = counters[kind]
        counters[kind] += 1
        return f"net/{tf_name}" if number == 0 else f"net/{tf_name}_{number}"

    mapping: dict[str, str] = {}

    def block(prefix: str, first: bool) -> None:
        if first:
            mapping[f"{prefix}.bias"] = name("b", "b")
        else:
            bn = counters["bn"]
            suffix = "" if bn == 0 else f"_{bn}"
            counters["bn"] += 1
            mapping[f"{prefix}.bn_gamma"] = f"net/gBn{suffix}"
            mapping[f"{prefix}.bn_beta"] = f"net/bBn{suffix}"
            mapping[f"{prefix}.bn_rolling_mean"] = f"net/muBnsForRollingAverage{suffix}"
            mapping[f"{prefix}.bn_rolling_var"] = f"net/varBnsForRollingAverage{suffix}"
            mapping[f"{prefix}.prelu"] = name("prelu", "aPrelu")
        mapping[f"{prefix}.weight"] = name("W", "W")

    for index in range(len(config["fms_normal"])):
        block(f"normal.blocks.{index}", index == 0)
    for path, fms in enumerate(config["fms_subsampled"]):
        for index in range(len(fms)):
            block(f"subsampled.{path}.blocks.{index}", index == 0)
    for index in range(len(config["fms_fc"]) + 1):
        block(f"fc.blocks.{index}", False)
    mapping["classifier_bias"] = name("b", "b")
    return mapping


def state_dict_from_checkpoint(variables: dict[str, Any], config: dict | None = None) -> dict[str, Any]:
    """Our state dict (torch tensors) from DeepMedic's checkpoint variables (name -> numpy array).

    Convolution weights go from DeepMedic's [out, in, x, y, z] to our [out, in, k, j, i] (transpose
    0, 1, 4, 3, 2). Variables of the optimizer and the training-only ``sharedNew*`` ones are not used.

    :raises KeyError: a variable the network needs is missing.
    """
    import numpy as np
    import torch

    state = {}
    for key, tf_name in checkpoint_variable_names(config).items():
        if tf_name not in variables:
            raise KeyError(f"checkpoint variable {tf_name} (for {key}) is missing")
        value = np.asarray(variables[tf_name], dtype=np.float32)
        if key.endswith(".weight"):
            value = value.transpose(0, 1, 4, 3, 2)
        state[key] = torch.from_numpy(np.ascontiguousarray(value))
    return state


def export_deepmedic_onnx(network: Any, path, tolerance: float = 1e-4) -> dict:
    """Export a :class:`DeepMedic` to ONNX at ``path``: one input ``image`` (batch, channels, k + 2m, j + 2m,
    i + 2m), output ``probabilities`` (batch, classes, k, j, i), batch and spatial axes dynamic.

    Traced on one size and checked against torch on two others (output sizes not multiples of the factors).
    :returns: the card's ``exported_program`` entry.
    """
    from pathlib import Path

    import torch

    from ..models.exporting import _check_and_save

    network = network.eval()
    margin, channels = int(network.margin), int(network.in_channels)
    generator = torch.Generator().manual_seed(0)

    def block(batch: int, *outputs: int):
        return (torch.randn(batch, channels, *(n + 2 * margin for n in outputs), generator=generator),)

    dynamic = {
        "image": {0: "batch", 2: "k_in", 3: "j_in", 4: "i_in"},
        "probabilities": {0: "batch", 2: "k", 3: "j", 4: "i"},
    }
    names = {"inputs": ["image"], "outputs": ["probabilities"], "dynamic": dynamic}
    grown = ", ".join(f"{axis}+{2 * margin}" for axis in "kji")
    rule = f"(batch, {channels}, {grown}) -> (batch, {network.num_classes}, k, j, i)"
    return _check_and_save(
        network, block(1, 6, 6, 6), [block(2, 7, 11, 5), block(1, 16, 4, 10)], Path(path), names, tolerance, rule
    )
