"""The BrainTumorLabel network: preprocessing and prediction on the reference grid (training: :mod:`.training`).

The network (MONAI SegResNet, softmax over background / non-enhancing / edema / enhancing) sees the four
sequences as channels in the order of :data:`CHANNELS`, resampled to an isotropic working spacing (2 mm in
standard mode, 3 mm in fast mode), cropped to the brain and z-scored per channel over non-zero voxels.
Missing optional channels (T1, T2) are zeros; training drops them at random so the FLAIR + T1c variant works.
Probabilities are resampled back onto the reference grid (linear) before the argmax, so the labels lie
exactly on the input's grid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..arrays import bounding_box
from ..image import Image
from ..resample import resample_to_reference, resample_to_spacing

CHANNELS = ("t1", "t1c", "t2", "flair")
REQUIRED = ("t1c", "flair")
STANDARD_SPACING_MM, FAST_SPACING_MM = 2.0, 3.0

NETWORK = {
    "_target_": "monai.networks.nets.SegResNet",
    "spatial_dims": 3,
    "in_channels": 4,
    "out_channels": 4,
    "init_filters": 8,
    "blocks_down": [1, 2, 2, 4],
    "blocks_up": [1, 1, 1],
    "dropout_prob": 0.0,
}
#: the network downsamples 3 times: spatial sizes must be multiples of 8
SIZE_MULTIPLE = 8


@dataclass
class Prepared:
    """Network input (channels, k, j, i) and how to map its grid back."""

    array: np.ndarray
    working: Image  # the cropped working-spacing grid (geometry only)
    present: tuple[str, ...]


def normalise_channel(values: np.ndarray) -> np.ndarray:
    """z-score over non-zero voxels (skull-stripped data: zeros are background)."""
    mask = values != 0
    if mask.sum() < 10:
        return np.zeros_like(values, dtype=np.float32)
    mean, std = values[mask].mean(), values[mask].std() + 1e-6
    return np.where(mask, (values - mean) / std, 0.0).astype(np.float32)


def _crop_box(mask: np.ndarray, margin: int = 2) -> tuple[slice, ...]:
    """Bounding box of ``mask`` with a margin, grown to multiples of SIZE_MULTIPLE (may pad beyond the array)."""
    box = bounding_box(mask, margin, clip=False) or tuple(slice(0, n) for n in mask.shape)
    grown = []
    for found in box:
        length = int(np.ceil((found.stop - found.start) / SIZE_MULTIPLE) * SIZE_MULTIPLE)
        centre = (found.start + found.stop) // 2
        grown.append(slice(centre - length // 2, centre - length // 2 + length))
    return tuple(grown)


def _take(array: np.ndarray, box: tuple[slice, ...]) -> np.ndarray:
    """``array[box]`` with zero padding where the box leaves the array."""
    out = np.zeros(tuple(s.stop - s.start for s in box), dtype=array.dtype)
    source = tuple(slice(max(s.start, 0), min(s.stop, n)) for s, n in zip(box, array.shape))
    target = tuple(slice(src.start - s.start, src.stop - s.start) for src, s in zip(source, box))
    out[target] = array[source]
    return out


def prepare(
    images: dict[str, Image],
    spacing_mm: float,
    channel_roles: tuple[str, ...] = CHANNELS,
    normalisation: str = "zscore_nonzero",
    brain_mask_kji: np.ndarray | None = None,
) -> Prepared:
    """Resample the given sequences (all on one grid) to ``spacing_mm``, crop to the head, normalise.

    :param channel_roles: the network's input channel order (ours: T1, T1c, T2, FLAIR; MONAI's BraTS bundle:
        T1c, T1, T2, FLAIR); missing roles become zero channels, which is each normalised channel's mean.
    :param normalisation: ``zscore_nonzero`` (ours: z-score over non-zero voxels, background stays 0) or
        ``zscore_captk`` (CaPTk's, for its DeepMedic: statistics over trimmed brain voxels, applied to every
        voxel; :func:`assistcore.brain.deepmedic.captk_zscore`).
    :param brain_mask_kji: on the images' grid: voxels outside are set to 0 first (inputs that were not
        skull-stripped), and CaPTk's statistics come from inside it.
    """
    reference = images[REQUIRED[-1]] if REQUIRED[-1] in images else next(iter(images.values()))
    if brain_mask_kji is not None:
        images = {
            role: image.with_array(np.where(brain_mask_kji, image.array_kji, 0)) for role, image in images.items()
        }
    resampled = {role: resample_to_spacing(image, (spacing_mm,) * 3) for role, image in images.items()}
    grid = next(iter(resampled.values()))
    head = np.zeros(grid.shape_kji, dtype=bool)
    for image in resampled.values():
        head |= image.array_kji != 0
    box = _crop_box(head)
    if normalisation == "zscore_captk":
        from .deepmedic import captk_zscore as normalise
    else:
        normalise = normalise_channel
    # crop first (zero padding), then normalise: the box holds every non-zero voxel, so the statistics are
    # the whole image's, and padding gets the background's normalised value
    channels = [
        normalise(_take(resampled[role].array_kji.astype(np.float32), box))
        if role in resampled
        else np.zeros(tuple(s.stop - s.start for s in box), np.float32)
        for role in channel_roles
    ]
    start_ijk = np.array([box[2].start, box[1].start, box[0].start], dtype=float)
    origin = grid.index_to_lps(start_ijk)[0]
    working = Image(
        np.zeros(channels[0].shape, np.uint8), grid.spacing_mm, tuple(origin), grid.direction_lps, reference.metadata
    )
    return Prepared(np.stack(channels), working, tuple(role for role in channel_roles if role in images))


TTA_FLIPS: tuple[tuple[int, ...], ...] = ((), (2,), (3,), (4,), (2, 3), (2, 4), (3, 4), (2, 3, 4))


def predict_runs(
    network,
    prepared: Prepared,
    device: str,
    tta: bool = False,
    cancel_check: Callable[[], None] | None = None,
    activation: str = "softmax",
    inference: dict | None = None,
    class_map: list[int] | None = None,
) -> list[np.ndarray]:
    """Class probabilities (channels, k, j, i) on the working grid, one array per test-time-augmentation run.

    Without ``tta`` one run; with it one run per axis flip of :data:`TTA_FLIPS` (8), each flipped back.
    ``activation``: softmax over exclusive classes (ours) or sigmoid per overlapping region (MONAI BraTS).
    ``inference``: the card's inference section; mode ``deepmedic_segments`` runs the network segment by
    segment (:func:`assistcore.brain.deepmedic.predict_probabilities`, which returns probabilities).
    ``class_map``: the network's class -> internal label (0..3); probabilities of classes mapped to one label
    are summed (CaPTk's DeepMedic: ``[0, 1, 2, 1, 3]``).
    """
    from ..models.onnx_runtime import run_network, sigmoid, softmax

    segments = (inference or {}).get("mode") == "deepmedic_segments"
    array = prepared.array[None]  # (1, channels, k, j, i)
    runs = []
    for axes in TTA_FLIPS if tta else TTA_FLIPS[:1]:
        if cancel_check:
            cancel_check()
        flipped = np.flip(array, axes) if axes else array
        if segments:
            from .deepmedic import predict_probabilities as segmentwise

            segment = tuple(inference.get("segment_output", ())) or None
            probabilities = segmentwise(
                network,
                np.ascontiguousarray(flipped[0]),
                device,
                cancel_check=cancel_check,
                **({"segment_output": segment} if segment else {}),
            )[None]
        else:
            logits = run_network(network, flipped, device)
            probabilities = sigmoid(logits) if activation == "sigmoid" else softmax(logits, axis=1)
        probabilities = np.flip(probabilities, axes)[0] if axes else probabilities[0]
        if class_map is not None:
            probabilities = merge_classes(probabilities, class_map)
        runs.append(np.ascontiguousarray(probabilities))
    return runs


def merge_classes(probabilities: np.ndarray, class_map: list[int]) -> np.ndarray:
    """(classes, k, j, i) probabilities -> (max(class_map) + 1, k, j, i): class c's probability added to
    label ``class_map[c]``."""
    merged = np.zeros((max(class_map) + 1, *probabilities.shape[1:]), np.float32)
    for network_class, label in enumerate(class_map):
        merged[label] += probabilities[network_class]
    return merged


def tumour_box_on_reference(
    probabilities: np.ndarray,
    prepared: Prepared,
    reference: Image,
    activation: str = "softmax",
    threshold: float = 0.02,
    margin_voxels: int = 2,
) -> tuple[slice, slice, slice] | None:
    """The (k, j, i) box of the reference grid that holds every voxel any tumour class could claim.

    Working voxels where a tumour probability exceeds ``threshold``, grown by ``margin_voxels`` (so linear
    interpolation at the box edge only blends sub-threshold values), mapped through their 8 corners onto the
    reference grid. Outside the box the labels are background for sure; None when no voxel reaches it.
    Resampling only this box is what keeps post-processing fast on full-resolution grids.
    """
    tumour = probabilities[1:] if activation == "softmax" else probabilities
    candidate = tumour.max(axis=0) > threshold
    box = bounding_box(candidate, margin_voxels, clip=False)
    if box is None:
        return None
    ends_kji = [(found.start, found.stop - 1) for found in box]
    corners_ijk = np.array([[i, j, k] for k in ends_kji[0] for j in ends_kji[1] for i in ends_kji[2]], dtype=float)
    on_reference_ijk = reference.lps_to_index(prepared.working.index_to_lps(corners_ijk))
    start_ijk = np.maximum(np.floor(on_reference_ijk.min(axis=0)).astype(int) - 1, 0)
    stop_ijk = np.minimum(np.ceil(on_reference_ijk.max(axis=0)).astype(int) + 2, np.array(reference.size_ijk))
    if np.any(stop_ijk <= start_ijk):
        return None
    return tuple(slice(int(start_ijk[axis]), int(stop_ijk[axis])) for axis in (2, 1, 0))  # type: ignore[return-value]


def probabilities_to_reference(
    probabilities: np.ndarray, prepared: Prepared, reference: Image, background_first: bool = True
) -> np.ndarray:
    """Resample each class probability onto the reference grid (linear) -> (channels, k, j, i) float32.

    ``reference`` may be a crop of the full grid (:meth:`Image.crop` with :func:`tumour_box_on_reference`).
    Outside the working crop the background channel (softmax outputs) is 1 and every other channel 0.
    """
    return np.stack(
        [
            resample_to_reference(
                prepared.working.with_array(channel.astype(np.float32)),
                reference,
                "linear",
                default_value=1.0 if index == 0 and background_first else 0.0,
            ).array_kji
            for index, channel in enumerate(probabilities)
        ]
    )


def labels_from_region_probabilities(
    probabilities: np.ndarray, channel_names: list[str], threshold: float = 0.5
) -> np.ndarray:
    """Internal labels from sigmoid region channels named TC (tumour core), WT (whole tumour), ET (enhancing).

    ET -> enhancing; TC outside ET -> non-enhancing; WT outside TC -> edema (the BraTS region definitions).
    """
    from ..errors import ModelError

    index = {name.strip().lower(): position for position, name in enumerate(channel_names)}
    if not {"tc", "wt", "et"} <= index.keys():
        raise ModelError(
            f"Region outputs {channel_names} do not name TC, WT and ET.",
            "Use a model whose outputs are the BraTS regions or exclusive classes.",
        )
    core, whole, enhancing = (probabilities[index[name]] >= threshold for name in ("tc", "wt", "et"))
    labels = np.zeros(core.shape, dtype=np.uint8)
    labels[whole] = 2
    labels[core] = 1
    labels[enhancing] = 3
    return labels


def uncertainty_score(probabilities: np.ndarray, activation: str = "softmax") -> float:
    """Mean normalised entropy over voxels any tumour class claims with p > 0.1.

    0 = confident everywhere it sees tumour; 1 = maximally unsure. Used to queue cases for annotation.
    Softmax: entropy over the classes (background first); sigmoid: mean binary entropy of the regions.
    """
    tumour = probabilities[1:] if activation == "softmax" else probabilities
    foreground = tumour.max(axis=0) > 0.1
    if not foreground.any():
        return 0.0
    p = np.clip(probabilities[:, foreground], 1e-6, 1 - 1e-6)
    if activation == "softmax":
        entropy = -(p * np.log(p)).sum(axis=0) / np.log(p.shape[0])
    else:
        entropy = (-(p * np.log(p) + (1 - p) * np.log(1 - p)) / np.log(2)).mean(axis=0)
    return float(entropy.mean())


def labels_from_probabilities(probabilities: np.ndarray, activation: str, region_channels: list[str]) -> np.ndarray:
    """Internal labels (0..3) from softmax classes (argmax) or sigmoid BraTS regions (thresholded at 0.5)."""
    if activation == "softmax":
        return probabilities.argmax(axis=0).astype(np.uint8)
    return labels_from_region_probabilities(probabilities, region_channels)


def tta_disagreement(
    runs: list[np.ndarray], activation: str = "softmax", region_channels: list[str] | None = None
) -> float:
    """How much test-time-augmentation runs disagree: 1 - mean Dice of each run's regions against the consensus.

    Regions: whole tumour (any label), tumour core (non-enhancing + enhancing) and enhancing, each compared
    between one run's labels and the labels of the mean probabilities, averaged over runs and over the regions
    either side holds. 0 = every flip gives the same labels; 1 = no overlap at all. 0 for one run or no tumour.
    """
    if len(runs) < 2:
        return 0.0
    channels = list(region_channels or [])

    def regions(probabilities: np.ndarray) -> list[np.ndarray]:
        labels = labels_from_probabilities(probabilities, activation, channels)
        return [labels > 0, (labels == 1) | (labels == 3), labels == 3]

    consensus = regions(np.mean(runs, axis=0))
    dices = []
    for run in runs:
        for run_region, consensus_region in zip(regions(run), consensus):
            both = int(run_region.sum()) + int(consensus_region.sum())
            if both:
                dices.append(2.0 * int((run_region & consensus_region).sum()) / both)
    return float(1.0 - np.mean(dices)) if dices else 0.0
