"""The DeepMedic network's torch modules (:mod:`assistcore.brain.deepmedic_network` describes the architecture).

This module imports torch at the top: only :func:`assistcore.brain.deepmedic_network._classes` imports it, when
a network is first built, so that importing the core stays free of torch (``*_torch`` modules are the only
ones allowed to import torch at module level; Testing/test_import_purity.py).
"""

from __future__ import annotations

import json
from typing import Any

import torch
import torch.nn.functional as functional
from torch import nn

from .deepmedic_config import CAPTK_BRAIN_TUMOR_CONFIG

#: smallest positive float32: DeepMedic adds it to the variance inside the square root
_TINY = 1.1754943508222875e-38


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
