"""Real stills made to look like what the detector meets in use: ultrasound augmentation of a still (speckle,
gain, depth, probe-width crops, flips) and pseudo-cine sweeps built from a still (probe translation and small
rotation, elastic deformation, per-frame speckle, depth and gain drift, the lesion entering and leaving)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..detectors.data import PictureSample


# ----- augmentation ---------------------------------------------------------------------------------------
def _keep_boxes(boxes: np.ndarray, size_yx: tuple[int, int], original_area: np.ndarray) -> np.ndarray:
    """Boxes clipped to the picture, dropping those left with under half their area."""
    height, width = size_yx
    clipped = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
    area = (clipped[:, 2] - clipped[:, 0]).clip(0) * (clipped[:, 3] - clipped[:, 1]).clip(0)
    return clipped[area >= 0.5 * np.maximum(original_area, 1e-6)].reshape(-1, 4)


def ultrasound_augment(picture: np.ndarray, boxes: np.ndarray, rng: np.random.Generator):
    """Ultrasound-like variation of one training crop: left-right flip, depth (zoom 0.75-1.33 about the top
    centre), probe width (dark margins), gain (gamma, contrast, depth-dependent ramp) and speckle re-noise."""
    from scipy import ndimage

    picture = np.asarray(picture, np.float32)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4).copy()
    height, width = picture.shape
    if rng.random() < 0.5:
        picture = picture[:, ::-1]
        boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
    if rng.random() < 0.6:  # depth setting: zoom about the top centre (the skin stays at the top)
        zoom = float(np.exp(rng.uniform(np.log(0.75), np.log(1.33))))
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) * zoom * zoom
        rows = np.arange(height) / zoom
        columns = (np.arange(width) - width / 2) / zoom + width / 2
        grid = np.meshgrid(rows, columns, indexing="ij")
        picture = ndimage.map_coordinates(picture, grid, order=1, mode="constant", cval=0.0)
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] - width / 2) * zoom + width / 2
        boxes[:, [1, 3]] *= zoom
        boxes = _keep_boxes(boxes, (height, width), area)
    if rng.random() < 0.3:  # a narrower probe: dark side margins that leave the lesions alone
        limit_left = min([width * 0.2, *boxes[:, 0]]) if len(boxes) else width * 0.2
        limit_right = max([width * 0.8, *boxes[:, 2]]) if len(boxes) else width * 0.8
        picture = picture.copy()
        picture[:, : int(rng.uniform(0, max(limit_left, 0)))] = 0.0
        picture[:, int(rng.uniform(min(limit_right, width), width)) :] = 0.0
    picture = np.clip(picture, 0, 1) ** rng.uniform(0.7, 1.4)
    ramp = 1.0 + rng.uniform(-0.3, 0.3) * (np.arange(height, dtype=np.float32)[:, None] / height - 0.5)
    picture = picture * ramp * rng.uniform(0.8, 1.2) + rng.normal(0, 0.03)
    if rng.random() < 0.5:  # speckle re-noised: multiplicative, correlated over about a pixel
        noise = ndimage.gaussian_filter(rng.normal(0, 1, picture.shape).astype(np.float32), 0.8)
        picture = picture * (1.0 + rng.uniform(0.05, 0.25) * noise / max(float(noise.std()), 1e-6))
    return np.ascontiguousarray(np.clip(picture, 0, 1), dtype=np.float32), boxes


ultrasound_augment.description = (
    "left-right flips; depth zoom 0.75-1.33 about the top centre (60 %); dark probe-width margins (30 %); "
    "gamma 0.7-1.4, gain +-20 %, depth gain ramp +-15 %, offset sd 0.03; multiplicative speckle 5-25 % (50 %)"
)


# ----- pseudo-cine sweeps from stills ---------------------------------------------------------------------
def _smooth_field(shape: tuple[int, int], rng: np.random.Generator, amplitude: float, scale: float) -> np.ndarray:
    """A smooth random displacement field (pixels) for elastic deformation."""
    from scipy import ndimage

    field = ndimage.gaussian_filter(rng.normal(0, 1, shape), scale)
    spread = float(np.abs(field).max()) or 1.0
    return field / spread * amplitude


def sweep_from_still(
    sample: PictureSample, lesion_map: np.ndarray, seed: int, n_frames: int = 20, probe_fraction: float = 0.7
):
    """A pseudo-cine sweep (:class:`~assistcore.breastus.training.SweepCase`) made from one still.

    The probe (a window ``probe_fraction`` of the still's width) slides across the still so a lesion enters
    and leaves the field; each frame adds a small rotation (up to 3 degrees), an elastic deformation (up to 3
    pixels), depth (zoom 0.95-1.05 about the top) and gain drift, and re-noised speckle. Truth per frame: the
    box of each lesion (``lesion_map``: 0 background, k lesion k) whose visible part keeps at least 30 % of
    its area, with its lesion id.
    """
    from scipy import ndimage

    from .training import SweepCase

    rng = np.random.default_rng(seed)
    picture = np.asarray(sample.picture, np.float32)
    height, width = picture.shape
    window = max(8, round(width * probe_fraction))
    start, stop = (0, width - window) if rng.random() < 0.5 else (width - window, 0)
    areas = ndimage.sum(np.ones_like(lesion_map), lesion_map, range(1, int(lesion_map.max()) + 1))
    elastic_y = _smooth_field((height, width), rng, 3.0, 30.0)
    elastic_x = _smooth_field((height, width), rng, 3.0, 30.0)
    gain_start, gain_stop = rng.uniform(0.85, 1.15, 2)
    zoom_start, zoom_stop = rng.uniform(0.95, 1.05, 2)
    frames, boxes, ids = [], [], []
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    for t in range(n_frames):
        along = t / max(n_frames - 1, 1)
        angle = np.deg2rad(rng.uniform(-3, 3))
        zoom = zoom_start + (zoom_stop - zoom_start) * along
        left = round(start + (stop - start) * along)
        centre_x = width / 2
        # output pixel (r, c) reads the still at the rotated, zoomed, deformed position
        y = rows / zoom
        x = (columns - centre_x) / zoom
        source_y = np.cos(angle) * y - np.sin(angle) * x + elastic_y * (0.5 + 0.5 * np.sin(2 * np.pi * along))
        source_x = (
            np.sin(angle) * y + np.cos(angle) * x + centre_x + elastic_x * (0.5 + 0.5 * np.cos(2 * np.pi * along))
        )
        warped = ndimage.map_coordinates(picture, [source_y, source_x], order=1, mode="constant", cval=0.0)
        labels = ndimage.map_coordinates(lesion_map, [source_y, source_x], order=0, mode="constant", cval=0)
        frame = warped[:, left : left + window]
        labels = labels[:, left : left + window]
        speckle = ndimage.gaussian_filter(rng.normal(0, 1, frame.shape).astype(np.float32), 0.8)
        gain = gain_start + (gain_stop - gain_start) * along
        frame = np.clip(frame * gain * (1.0 + 0.12 * speckle / max(float(speckle.std()), 1e-6)), 0, 1)
        frames.append(frame.astype(np.float32))
        frame_boxes, frame_ids = [], []
        for lesion, piece in enumerate(ndimage.find_objects(labels), start=1):
            if piece is None or (labels[piece] == lesion).sum() < 0.3 * areas[lesion - 1] * zoom * zoom:
                continue
            frame_boxes.append([piece[1].start, piece[0].start, piece[1].stop, piece[0].stop])
            frame_ids.append(lesion)
        boxes.append(np.array(frame_boxes, np.float32).reshape(-1, 4))
        ids.append(np.array(frame_ids, int))
    name = Path(sample.source).stem.replace(" ", "_").replace("(", "").replace(")", "")
    return SweepCase(f"{name}-sweep", np.stack(frames), boxes, ids)


def busi_sweep_cases(
    folder: str | os.PathLike[str],
    split: dict,
    part: str = "test",
    n_frames: int = 20,
    limit: int | None = None,
    seed: int = 0,
) -> list:
    """Pseudo-cine sweeps from the stills of one part of ``split`` (each its own seed); ``limit`` keeps the
    first pictures of each class in turn (lesion classes and normals mixed as in the part)."""
    from scipy import ndimage

    from ..detectors.data import read_grey_picture
    from .training import busi_mask

    folder = Path(folder)
    names = list(split["files"][part])
    if limit is not None:
        by_class: dict[str, list[str]] = {}
        for name in names:
            by_class.setdefault(name.split("/")[0], []).append(name)
        ordered = [n for group in zip(*[iter(v) for v in by_class.values()], strict=False) for n in group]
        rest = [n for n in names if n not in ordered]
        names = (ordered + rest)[:limit]
    cases = []
    for index, name in enumerate(names):
        path = folder / name
        picture = read_grey_picture(path)
        lesion_map, _count = ndimage.label(busi_mask(path, picture.shape))
        sample = PictureSample(picture, np.zeros((0, 4), np.float32), name)
        cases.append(sweep_from_still(sample, lesion_map.astype(np.int32), seed * 100000 + index, n_frames))
    return cases
