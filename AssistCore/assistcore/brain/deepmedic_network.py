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
import json
from typing import Any

#: CaPTk 1.9's brain tumour model (modelConfig.txt of ``dm1Sc3Thin3Seg40_gt4C_HGG587_forCaPTk124``), as the
#: constructor's keyword arguments (also the model card's ``network`` section, with the ``_target_``)
CAPTK_BRAIN_TUMOR_CONFIG: dict[str, Any] = {
    "in_channels": 4,
    "num_classes": 5,
    "fms_normal": [10, 12, 14, 16, 18, 20, 22, 25],
    "fms_subsampled": [[10, 12, 14, 16, 18, 20, 22, 25], [10, 12, 14, 16, 18, 20, 22, 25]],
    "subsample_factors": [3, 5],
    "kernel_size": 3,
    "residual_layers": [4, 6, 8],
    "fms_fc": [60, 80],
    "kernel_first_fc": 3,
    "residual_layers_fc": [2],
    "dropout_fc": [0.0, 0.3, 0.3],
    "rolling_batches": 60,
}

#: smallest positive float32: DeepMedic adds it to the variance inside the square root
_TINY = 1.1754943508222875e-38


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
    import torch
    import torch.nn.functional as functional
    from torch import nn

    class Block(nn.Module):
        """DeepMedic's ConvBlock: [batch norm | bias] -> [PReLU] -> [dropout] -> conv (valid or mirror)."""

        def __init__(
            self,
            fms_in: int,
            fms_out: int,
            kernel: int,
            batch_norm: bool,
            prelu: bool,
            dropout: float,
            mirror: bool,
            rolling_batches: int,
        ) -> None:
            super().__init__()
            self.batch_norm = batch_norm
            if batch_norm:
                self.bn_gamma = nn.Parameter(torch.ones(fms_in))
                self.bn_beta = nn.Parameter(torch.zeros(fms_in))
                self.register_buffer("bn_rolling_mean", torch.zeros(rolling_batches, fms_in))
                self.register_buffer("bn_rolling_var", torch.ones(rolling_batches, fms_in))
            else:
                self.bias = nn.Parameter(torch.zeros(fms_in))
            self.prelu = nn.Parameter(torch.full((fms_in,), 0.01)) if prelu else None
            self.keep = 1.0 - float(dropout)
            self.mirror = mirror
            self.kernel = kernel
            self.weight = nn.Parameter(torch.zeros(fms_out, fms_in, kernel, kernel, kernel))
            nn.init.kaiming_normal_(self.weight, nonlinearity="relu")  # DeepMedic's fanIn 2; replaced on loading

        def context(self) -> int:
            """Voxels lost per side (0 with mirror padding)."""
            return 0 if self.mirror else (self.kernel - 1) // 2

        def forward(self, x):
            shape = (1, -1, 1, 1, 1)
            if self.batch_norm:  # one multiply-add: ONNX Runtime folds scale and shift (4 passes over x -> 2)
                scale = self.bn_gamma / torch.sqrt(self.bn_rolling_var.mean(dim=0) + _TINY)
                shift = self.bn_beta - self.bn_rolling_mean.mean(dim=0) * scale
                x = x * scale.reshape(shape) + shift.reshape(shape)
            else:
                x = x + self.bias.reshape(shape)
            if self.prelu is not None:
                x = functional.prelu(x, self.prelu)
            if self.keep < 1.0:
                x = x * self.keep
            if self.mirror and self.kernel > 1:
                x = _mirror_pad(x, (self.kernel - 1) // 2, self.kernel // 2)
            return functional.conv3d(x, self.weight)

    def _mirror_pad(x, left: int, right: int):
        """DeepMedic's ``pad_by_mirroring``: the edge voxels and their neighbours mirrored, edge included."""
        if left <= 1 and right <= 1:  # one voxel: the edge repeated (a single ONNX Pad, mode edge)
            return functional.pad(x, (left, right) * 3, mode="replicate")
        for dim in (2, 3, 4):
            parts = []
            if left:
                parts.append(torch.flip(x.narrow(dim, 0, left), (dim,)))
            parts.append(x)
            if right:
                index = [slice(None)] * 5
                index[dim] = slice(-right, None)
                parts.append(torch.flip(x[tuple(index)], (dim,)))
            x = torch.cat(parts, dim=dim)
        return x

    def _residual(earlier, deeper, crop: int):
        """``deeper`` + ``earlier`` centre-cropped by ``crop`` per side, zero channels added (or cut)."""
        if crop:
            earlier = earlier[:, :, crop:-crop, crop:-crop, crop:-crop]
        extra = deeper.shape[1] - earlier.shape[1]
        if extra > 0:
            earlier = functional.pad(earlier, (0, 0, 0, 0, 0, 0, 0, extra))
        elif extra < 0:
            earlier = earlier[:, : deeper.shape[1]]
        return deeper + earlier

    class Pathway(nn.Module):
        """A stack of blocks with DeepMedic's residual connections (block indices from 0)."""

        def __init__(self, blocks: list[Block], residual_at: list[int]) -> None:
            super().__init__()
            self.blocks = nn.ModuleList(blocks)
            self.residual_at = [int(index) for index in residual_at]
            for index in self.residual_at:
                if not 0 < index < len(blocks):
                    raise ValueError(f"residual connection at block {index + 1}: allowed are 2..{len(blocks)}")

        def context(self) -> int:
            return sum(block.context() for block in self.blocks)

        def forward(self, x):
            input_to_previous, current = None, x
            for index, block in enumerate(self.blocks):
                out = block(current)
                if index in self.residual_at:
                    crop = self.blocks[index - 1].context() + block.context()
                    out = _residual(input_to_previous, out, crop)
                input_to_previous, current = current, out
            return current

    class DeepMedic(nn.Module):
        """DeepMedic with a normal and any number of subsampled pathways; one input block, probabilities out.

        Arguments are plain JSON values (a model card's ``network`` section); defaults are CaPTk's brain
        tumour model (:data:`CAPTK_BRAIN_TUMOR_CONFIG`). Layer numbers in ``residual_layers*`` count from 1
        as in DeepMedic's config; ``dropout_fc`` has one rate per FC layer including the classification layer.

        ``forward(x)``: ``x`` (batch, in_channels, k + 2 margin, j + 2 margin, i + 2 margin) float32 ->
        probabilities (batch, num_classes, k, j, i), softmax applied.
        """

        def __init__(
            self,
            in_channels: int = 4,
            num_classes: int = 5,
            fms_normal: list[int] | None = None,
            fms_subsampled: list[list[int]] | None = None,
            subsample_factors: list[int] | None = None,
            kernel_size: int = 3,
            residual_layers: list[int] | None = None,
            fms_fc: list[int] | None = None,
            kernel_first_fc: int = 3,
            residual_layers_fc: list[int] | None = None,
            dropout_fc: list[float] | None = None,
            rolling_batches: int = 60,
        ) -> None:
            def pick(value: Any, key: str) -> Any:
                return json.loads(json.dumps(CAPTK_BRAIN_TUMOR_CONFIG[key] if value is None else value))

            fms_normal, fms_subsampled = pick(fms_normal, "fms_normal"), pick(fms_subsampled, "fms_subsampled")
            subsample_factors, fms_fc = pick(subsample_factors, "subsample_factors"), pick(fms_fc, "fms_fc")
            residual_layers = pick(residual_layers, "residual_layers")
            residual_layers_fc = pick(residual_layers_fc, "residual_layers_fc")
            dropout_fc = pick(dropout_fc, "dropout_fc")
            super().__init__()
            factors = [int(f) for f in subsample_factors]
            if len(fms_subsampled) != len(factors):
                raise ValueError(f"{len(fms_subsampled)} subsampled pathways for {len(factors)} factors")
            if any(f < 1 or f % 2 == 0 for f in factors) or kernel_size % 2 == 0 or kernel_first_fc % 2 == 0:
                raise ValueError("subsampling factors and kernel sizes must be odd (DeepMedic's even case differs)")
            if len(dropout_fc) != len(fms_fc) + 1:
                raise ValueError(f"dropout_fc needs {len(fms_fc) + 1} rates (FC layers + classification layer)")
            self.in_channels, self.num_classes, self.factors = int(in_channels), int(num_classes), factors

            def pathway(fms: list[int]) -> Pathway:
                blocks, fms_in = [], self.in_channels
                for index, fms_out in enumerate(fms):
                    first = index == 0
                    blocks.append(
                        Block(
                            fms_in,
                            int(fms_out),
                            kernel_size,
                            batch_norm=not first,
                            prelu=not first,
                            dropout=0.0,
                            mirror=False,
                            rolling_batches=rolling_batches,
                        )
                    )
                    fms_in = int(fms_out)
                return Pathway(blocks, [layer - 1 for layer in residual_layers])

            self.normal = pathway(list(fms_normal))
            self.subsampled = nn.ModuleList(pathway(list(fms)) for fms in fms_subsampled)
            contexts = {self.normal.context(), *(path.context() for path in self.subsampled)}
            if len(contexts) != 1:
                raise ValueError("DeepMedic needs the same receptive field in every pathway")
            self.context = self.normal.context()
            self.margin = self.context * max([1, *factors])
            fc_blocks, fms_in = [], int(fms_normal[-1]) + sum(int(fms[-1]) for fms in fms_subsampled)
            for index, fms_out in enumerate([*fms_fc, self.num_classes]):
                kernel = kernel_first_fc if index == 0 else 1
                fc_blocks.append(
                    Block(
                        fms_in,
                        int(fms_out),
                        kernel,
                        batch_norm=True,
                        prelu=True,
                        dropout=float(dropout_fc[index]),
                        mirror=kernel > 1,
                        rolling_batches=rolling_batches,
                    )
                )
                fms_in = int(fms_out)
            self.fc = Pathway(fc_blocks, [layer - 1 for layer in residual_layers_fc])
            self.classifier_bias = nn.Parameter(torch.zeros(self.num_classes))

        def forward(self, x):
            edge = self.margin - self.context
            normal = self.normal(x[:, :, edge:-edge, edge:-edge, edge:-edge] if edge else x)
            features = [normal]
            for factor, path in zip(self.factors, self.subsampled):
                start = self.margin - self.context * factor
                stop = -start if start else None
                low = path(x[:, :, start:stop:factor, start:stop:factor, start:stop:factor])
                for dim in (2, 3, 4):  # repeat each voxel factor times, keep the normal output's size
                    index = torch.div(torch.arange(normal.shape[dim], device=x.device), factor, rounding_mode="floor")
                    low = low.index_select(dim, index)
                features.append(low)
            logits = self.fc(torch.cat(features, dim=1)) + self.classifier_bias.reshape(1, -1, 1, 1, 1)
            return torch.softmax(logits, dim=1)

    return {"DeepMedic": DeepMedic, "Block": Block, "Pathway": Pathway}


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
