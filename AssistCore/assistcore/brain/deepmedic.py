"""CaPTk's DeepMedic brain tumour model without TensorFlow: its normalisation and its segment-wise inference.

Pure numpy (no torch anywhere here): the network is called only through
:func:`assistcore.models.onnx_runtime.run_network`, with an ONNX Runtime program or a torch module that
:mod:`assistcore.brain.deepmedic_network` built.

What CaPTk 1.9 does (``src/applications/DeepMedic.cxx``) and what is reproduced here:

- inputs: T1, T1c, T2, FLAIR (:data:`CHANNEL_ORDER`), skull-stripped, co-registered, 1 mm isotropic in BraTS
  (SRI24) space; each channel normalised by CaPTk's ``ZScoreNormalizer`` (:func:`captk_zscore`).
- DeepMedic 0.8.4 pads the volume by mirroring (numpy ``reflect``) by the receptive field's half-width
  (8 voxels), tiles it in segments whose outputs follow each other (CaPTk's config: 45^3 input, 29^3
  output), and where a subsampled pathway's context reaches beyond the padded volume it fills the mean of
  the padded volume's 8 corner voxels (``calc_border_int_of_3d_img``). :func:`predict_probabilities` does the
  same, computing every output voxel exactly once: tiles start at multiples of the segment size and the last
  tile of an axis is cut to what is left.
- outputs: 5 classes. Class 3 is never predicted (the training labels were BraTS 0, 1, 2, 4): classes 1, 2, 4
  are BraTS 1 (necrosis / non-enhancing core), 2 (peritumoral edema), 4 (enhancing tumour).

Two places where DeepMedic 0.8.4 itself differs from this (deliberately not copied):

- at the low end of an axis, when a subsampled pathway's context starts before the padded volume,
  ``get_subsampl_segment`` places the sampled voxels at ``|start| // factor`` instead of on its grid, which
  shifts that segment's low-resolution context by ``|start| mod factor`` voxels (here: the first output
  segment of an axis for factor 3, the first two for factor 5, at 29^3 outputs). Here the grid stays put.
- the last segment of an axis: DeepMedic moves a whole segment back to end at the volume's end and
  overwrites the overlap; here the last segment is shorter. Outputs in that part differ where the FC layer's
  mirror padding and the subsampled grid fall differently.

Everywhere else the probabilities are DeepMedic's (Testing/test_deepmedic.py compares with DeepMedic 0.8.4
run by TensorFlow on a real case).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import GeometryError, ImageValueError

#: the network's input channels in order (CaPTk's DeepMedic.cxx: -t1 -t1c -t2 -fl)
CHANNEL_ORDER: tuple[str, ...] = ("t1", "t1c", "t2", "flair")
#: network class -> BraTS label value (class 3 never wins; CaPTk itself rewrites a 3 to 4)
CLASS_TO_BRATS: tuple[int, ...] = (0, 1, 2, 1, 4)
#: network class -> our internal brain tumour label (0 background, 1 non-enhancing/necrosis, 2 edema, 3 enhancing)
CLASS_TO_LABEL: tuple[int, ...] = (0, 1, 2, 1, 3)
#: receptive field of the normal pathway in voxels (8 valid 3x3x3 convolutions); the first FC layer's 3x3x3
#: kernel works inside the output segment with mirror padding at its faces
RECEPTIVE_FIELD = 17
#: voxels DeepMedic pads each side of the volume (numpy "reflect"): the receptive field's half-width
VOLUME_PAD = (RECEPTIVE_FIELD - 1) // 2
#: largest subsampling factor of CaPTk's model (pathways at 1, 3 and 5)
SUBSAMPLE_FACTORS: tuple[int, ...] = (3, 5)
#: voxels of input context the network's one input block holds on each side of the output segment
CONTEXT_MARGIN = VOLUME_PAD * max(SUBSAMPLE_FACTORS)
#: CaPTk's inference segment (modelConfig.txt segmentsDimInference 45^3): 29^3 output voxels
CAPTK_SEGMENT_OUTPUT: tuple[int, int, int] = (29, 29, 29)
#: the longest output segment edge by default (:func:`balanced_segment_output`). Every segment pays for its
#: context (40 voxels each side) once, so fewer, larger segments are faster: ONNX Runtime, 2 CPU cores, seconds
#: per million output voxels: 11.5 at 29^3, 8.3 at 48^3, 7.8 at 64^3, 7.3 at 80^3; the network's own peak
#: memory 0.15, 0.5, 1.0, 1.9 GB. A skull-stripped brain's box (about 130 x 160 x 130) becomes 2 x 2 x 2 equal
#: segments of about 65 x 80 x 65 instead of 3 x 4 x 3 segments of 48 with thin leftovers (1.5 GB peak for a
#: process running only the network on that box).
MAX_SEGMENT_EDGE = 84


def captk_zscore_statistics(
    array_kji: np.ndarray,
    brain_mask: np.ndarray | None = None,
    quantiles: tuple[float, float] = (5.0, 95.0),
    cutoff_sd: tuple[float, float] = (3.0, 3.0),
) -> tuple[float, float]:
    """The (mean, sd) CaPTk's ``ZScoreNormalizer`` normalises with (see :func:`captk_zscore`).

    From the voxels above 0 (inside ``brain_mask`` if given) whose values lie within the tighter of the
    ``quantiles`` percentiles and mean +- ``cutoff_sd`` standard deviations of those voxels, bounds included;
    standard deviations with ``n - 1`` (cbica::Statistics). CaPTk takes the percentiles from an ITK histogram
    with one bin per intensity unit; here they are numpy's (linear interpolation), which differs by less than
    one intensity unit.

    :raises ImageValueError: fewer than two voxels above 0 to take statistics from, or all of one value.
    """
    data = np.asarray(array_kji)
    inside = data > 0
    if brain_mask is not None:
        if brain_mask.shape != data.shape:
            raise GeometryError(f"Brain mask of shape {brain_mask.shape} for an image of shape {data.shape}.")
        inside &= np.asarray(brain_mask) > 0
    values = data[inside].astype(np.float64)
    if values.size < 2:
        raise ImageValueError(
            f"Cannot normalise a channel with {values.size} voxel(s) above 0 (inside the brain mask).",
            "Check that every sequence is a skull-stripped brain image.",
        )
    lower, upper = float(values.min()), float(values.max())
    if quantiles[0] and quantiles[1]:  # CaPTk applies each cut only when both of its bounds are non-zero
        low_q, high_q = np.percentile(values, quantiles)
        lower, upper = max(lower, float(low_q)), min(upper, float(high_q))
    if cutoff_sd[0] and cutoff_sd[1]:
        mean, sd = float(values.mean()), float(values.std(ddof=1))
        lower, upper = max(lower, mean - cutoff_sd[0] * sd), min(upper, mean + cutoff_sd[1] * sd)
    kept = values[(values >= lower) & (values <= upper)]
    if kept.size < 2 or float(kept.std(ddof=1)) == 0.0:
        raise ImageValueError(
            f"Cannot normalise a channel whose voxels within {lower:g}..{upper:g} are all one value.",
            "Check the sequence: it looks empty or constant.",
        )
    return float(kept.mean()), float(kept.std(ddof=1))


def captk_zscore(
    array_kji: np.ndarray,
    brain_mask: np.ndarray | None = None,
    quantiles: tuple[float, float] = (5.0, 95.0),
    cutoff_sd: tuple[float, float] = (3.0, 3.0),
) -> np.ndarray:
    """CaPTk's ``ZScoreNormalizer`` as its DeepMedic.cxx calls it: float32 ``(x - mean) / sd`` over every
    voxel (background becomes ``-mean / sd``), with the statistics of :func:`captk_zscore_statistics`.

    Computed in float64, rounded once to float32.
    """
    mean, sd = captk_zscore_statistics(array_kji, brain_mask, quantiles, cutoff_sd)
    return ((np.asarray(array_kji, dtype=np.float64) - mean) / sd).astype(np.float32)


def border_values(channels_ckji: np.ndarray, pad: int = VOLUME_PAD) -> np.ndarray:
    """Per channel, the value DeepMedic fills outside the padded volume: the mean of the 8 corner voxels of
    the volume padded by ``pad`` (numpy reflect), i.e. of the voxels ``pad`` in from each corner."""
    corners = [np.pad(np.arange(size), pad, mode="reflect")[[0, -1]] for size in channels_ckji.shape[1:]]
    picked = channels_ckji[np.ix_(np.arange(channels_ckji.shape[0]), *corners)]
    return picked.reshape(channels_ckji.shape[0], -1).astype(np.float64).mean(axis=1).astype(np.float32)


def segment_starts(size: int, segment: int) -> list[tuple[int, int]]:
    """(start, length) of the output segments along one axis: from 0 in steps of ``segment``, the last one
    cut to the volume's end, so every voxel is in exactly one."""
    if size < 1 or segment < 1:
        raise GeometryError(f"Cannot tile an axis of {size} voxels into segments of {segment}.")
    return [(start, min(segment, size - start)) for start in range(0, size, segment)]


def balanced_segment_output(shape: tuple[int, ...], max_edge: int = MAX_SEGMENT_EDGE) -> tuple[int, int, int]:
    """Output segment size (k, j, i) that tiles ``shape`` in the fewest segments no longer than ``max_edge``
    per axis, all of (nearly) one size: ``ceil(size / ceil(size / max_edge))`` per axis, so the last segment of
    an axis is at most one tile-count of voxels shorter instead of a thin leftover."""
    if max_edge < 1 or any(size < 1 for size in shape):
        raise GeometryError(f"Cannot tile a volume of {tuple(shape)} voxels into segments of at most {max_edge}.")
    counts = [-(-int(size) // max_edge) for size in shape]
    return tuple(-(-int(size) // count) for size, count in zip(shape, counts))  # type: ignore[return-value]


def _axis_index(start: int, length: int, size: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Volume index for each block position along one axis (reflect padding by ``pad``) and whether the
    position is inside the padded volume (else it takes the border value)."""
    positions = np.arange(start, start + length)
    inside = (positions >= -pad) & (positions < size + pad)
    reflected = np.pad(np.arange(size), pad, mode="reflect")
    index = reflected[np.clip(positions + pad, 0, size + 2 * pad - 1)]
    return index, inside


def input_block(
    channels_ckji: np.ndarray,
    origin: tuple[int, int, int],
    output: tuple[int, int, int],
    border: np.ndarray,
    margin: int = CONTEXT_MARGIN,
    pad: int = VOLUME_PAD,
) -> np.ndarray:
    """The network's input (channels, *(output + 2 margin)) for the output segment at ``origin`` of size
    ``output``: the volume padded by reflection by ``pad``, and ``border`` (per channel) beyond that."""
    starts = [o - margin for o in origin]
    stops = [o + n + margin for o, n in zip(origin, output)]
    if all(a >= 0 and b <= size for a, b, size in zip(starts, stops, channels_ckji.shape[1:])):  # inside: a copy
        return np.ascontiguousarray(
            channels_ckji[:, starts[0] : stops[0], starts[1] : stops[1], starts[2] : stops[2]], dtype=np.float32
        )
    indices, insides = zip(
        *(_axis_index(a, b - a, size, pad) for a, b, size in zip(starts, stops, channels_ckji.shape[1:]))
    )
    block = channels_ckji[np.ix_(np.arange(channels_ckji.shape[0]), *indices)]
    inside = insides[0][:, None, None] & insides[1][None, :, None] & insides[2][None, None, :]
    if not inside.all():
        block = np.where(inside[None], block, border.astype(block.dtype)[:, None, None, None])
    return np.ascontiguousarray(block, dtype=np.float32)


def predict_probabilities(
    network: Any,
    channels_ckji: np.ndarray,
    device: str = "cpu",
    segment_output: tuple[int, int, int] | None = None,
    cancel_check: Callable[[], None] | None = None,
    progress: Callable[[float, str], None] | None = None,
    margin: int = CONTEXT_MARGIN,
) -> np.ndarray:
    """Class probabilities (classes, k, j, i) float32 of DeepMedic over the whole volume, segment by segment.

    :param network: a :class:`~assistcore.brain.deepmedic_network.DeepMedic` or its ONNX export
        (:class:`~assistcore.models.onnx_runtime.OnnxNetwork`): block (1, channels, k + 2 margin, ...) in,
        probabilities (1, classes, k, j, i) out.
    :param channels_ckji: (4, k, j, i) float32, normalised (:func:`captk_zscore`), in :data:`CHANNEL_ORDER`.
    :param segment_output: output voxels per segment along (k, j, i); CaPTk's is :data:`CAPTK_SEGMENT_OUTPUT`;
        by default :func:`balanced_segment_output`. Every output voxel is computed once; segments at an axis'
        end may be shorter.
    :param cancel_check: called before each segment (raises to stop).
    :param progress: ``progress(fraction, "segment i/n")`` after each segment.
    :param margin: the network's context margin (:attr:`DeepMedic.margin`, 40 for CaPTk's model).
    """
    from ..models.onnx_runtime import run_network

    channels = np.asarray(channels_ckji, dtype=np.float32)
    if channels.ndim != 4:
        raise GeometryError(f"DeepMedic needs channels (c, k, j, i); got an array of shape {channels.shape}.")
    if not np.isfinite(channels).all():
        raise ImageValueError("The normalised channels contain NaN or infinite values.")
    shape = channels.shape[1:]
    segment_output = segment_output or balanced_segment_output(shape)
    tiles = [segment_starts(size, int(n)) for size, n in zip(shape, segment_output)]
    total = len(tiles[0]) * len(tiles[1]) * len(tiles[2])
    border = border_values(channels)
    probabilities: np.ndarray | None = None
    done = 0
    for k0, nk in tiles[0]:
        for j0, nj in tiles[1]:
            for i0, ni in tiles[2]:
                if cancel_check:
                    cancel_check()
                block = input_block(channels, (k0, j0, i0), (nk, nj, ni), border, margin)
                output = run_network(network, block[None], device)
                if output.shape[2:] != (nk, nj, ni):
                    raise GeometryError(
                        f"The network gave a segment of {output.shape[2:]} for a block of {block.shape[1:]} "
                        f"(expected {(nk, nj, ni)}: is its context margin {margin}?)."
                    )
                if probabilities is None:
                    probabilities = np.zeros((output.shape[1], *shape), np.float32)
                probabilities[:, k0 : k0 + nk, j0 : j0 + nj, i0 : i0 + ni] = output[0]
                done += 1
                if progress:
                    progress(done / total, f"segment {done}/{total}")
    assert probabilities is not None
    return probabilities
