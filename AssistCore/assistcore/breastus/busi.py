"""BUSI-style still pictures for training and validating the breast lesion detector on real images.

A BUSI folder holds ``<class>/<name>.png`` beside ``<name>_mask.png`` (and ``_mask_1.png`` ... for further
lesions); the class is the parent folder's name (``benign``, ``malignant``, ``normal``). This module

- lists the pairs, skipping (and naming) bad ones: a picture without a mask file, a mask of another size than
  its picture, an empty mask in a class that should hold a lesion (:func:`scan_busi`);
- groups near-duplicate pictures (BUSI holds the same lesion scanned twice, cropped or re-exported): pictures
  whose 32 x 32 thumbnails correlate at :data:`DUPLICATE_CORRELATION` or more are one group, transitively
  (:func:`duplicate_groups`);
- splits the groups into train / validation / test, stratified by class, with a fixed seed, so that no
  group straddles two parts (:func:`split_busi`), and records the split (file lists and their hash);
- scores a detector on still pictures: the FROC per picture (sensitivity against false positives per picture)
  at IoU 0.2 and 0.5, sensitivity at 0.1, 0.2 and 0.5 false positives per picture with Wilson 95 % intervals
  (:func:`evaluate_stills`).

BUSI: Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. Dataset of breast ultrasound images. Data in Brief 28:104863,
2020 (research use; cite it).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..detectors.data import PictureSample
from ..errors import InputError

BUSI_CITATION = (
    "Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. Dataset of breast ultrasound images. Data in Brief 28:104863, 2020."
)
BUSI_LICENCE = "BUSI is distributed for research use; cite the paper above when using it or models trained on it."
#: classes whose pictures must show a lesion (an empty mask there is a bad pair)
LESION_CLASSES = ("benign", "malignant")
#: thumbnails (32 x 32) correlating at least this much are near duplicates
DUPLICATE_CORRELATION = 0.95
THUMBNAIL = 32
SPLIT_FRACTIONS = (0.7, 0.15, 0.15)


@dataclass
class BusiPicture:
    """One annotated picture: its path relative to the folder, class, and lesion boxes (x0, y0, x1, y1)."""

    path: Path
    relative: str
    label: str
    boxes_xy: np.ndarray
    masks: list[Path] = field(default_factory=list)


def _picture_paths(folder: Path) -> list[Path]:
    from .training import _natural_key

    pictures = [p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg") and "_mask" not in p.stem]
    return sorted(pictures, key=lambda p: [*map(str, p.relative_to(folder).parent.parts), *_natural_key(p)])


def scan_busi(folder: str | os.PathLike[str]) -> tuple[list[BusiPicture], list[str]]:
    """The good (picture, masks) pairs of a BUSI-style folder, and one line per skipped bad pair."""
    from PIL import Image as PILImage
    from scipy import ndimage

    from .training import busi_mask, busi_mask_paths

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"BUSI folder {folder} does not exist.", "Give a folder of X.png with X_mask.png beside.")
    good, skipped = [], []
    for path in _picture_paths(folder):
        relative = path.relative_to(folder).as_posix()
        masks = busi_mask_paths(path)
        if not masks:
            skipped.append(f"{relative}: no mask file ({path.stem}_mask{path.suffix})")
            continue
        try:
            with PILImage.open(path) as picture:
                size_xy = picture.size
            merged = busi_mask(path, size_xy[::-1])
        except (OSError, InputError) as error:
            skipped.append(f"{relative}: {getattr(error, 'message', error)}")
            continue
        label = path.parent.name.lower() if path.parent != folder else ""
        if not merged.any() and label in LESION_CLASSES:
            skipped.append(f"{relative}: empty mask for a {label} picture")
            continue
        components, _count = ndimage.label(merged)
        boxes = [[s[1].start, s[0].start, s[1].stop, s[0].stop] for s in ndimage.find_objects(components) if s]
        good.append(BusiPicture(path, relative, label, np.array(boxes, np.float32).reshape(-1, 4), masks))
    if not good:
        raise InputError(f"No usable annotated pictures in {folder}.", "Put X_mask.png beside each picture X.png.")
    return good, skipped


def thumbnail(path: Path, size: int = THUMBNAIL) -> np.ndarray:
    """A (size * size,) zero-mean, unit-norm vector of the picture's grey thumbnail."""
    from PIL import Image as PILImage

    with PILImage.open(path) as picture:
        small = np.asarray(picture.convert("L").resize((size, size), PILImage.BILINEAR), np.float64).ravel()
    small -= small.mean()
    norm = np.linalg.norm(small)
    return small / norm if norm > 0 else small


def duplicate_groups(paths: Sequence[Path], threshold: float = DUPLICATE_CORRELATION) -> list[int]:
    """A group number per picture: pictures whose thumbnails correlate >= ``threshold`` share one, transitively."""
    if not len(paths):
        return []
    vectors = np.stack([thumbnail(Path(p)) for p in paths])
    correlation = vectors @ vectors.T
    parent = list(range(len(paths)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(correlation >= threshold, 1))):
        parent[root(int(j))] = root(int(i))
    roots = [root(i) for i in range(len(paths))]
    numbers = {r: n for n, r in enumerate(dict.fromkeys(roots))}
    return [numbers[r] for r in roots]


def split_busi(
    pictures: Sequence[BusiPicture],
    seed: int = 0,
    fractions: Sequence[float] = SPLIT_FRACTIONS,
    threshold: float = DUPLICATE_CORRELATION,
) -> dict:
    """Train / validation / test lists of relative paths, duplicate groups kept together, stratified by class.

    Groups take the class of their first picture; per class the groups are shuffled (``seed``) and dealt out
    until each part holds its fraction of that class's pictures. Returns the split record for a model card.
    """
    groups = duplicate_groups([p.path for p in pictures], threshold)
    members: dict[int, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(group, []).append(index)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[str]] = {"train": [], "validation": [], "test": []}
    names = list(parts)
    for label in sorted({p.label for p in pictures}):
        class_groups = [g for g in members if pictures[members[g][0]].label == label]
        class_groups = [class_groups[i] for i in rng.permutation(len(class_groups))]
        total = sum(len(members[g]) for g in class_groups)
        targets = np.cumsum(fractions) / np.sum(fractions) * total
        done = 0
        for group in class_groups:
            part = names[min(int(np.searchsorted(targets, done, side="right")), len(names) - 1)]
            parts[part] += [pictures[i].relative for i in members[group]]
            done += len(members[group])
    for part in parts.values():
        part.sort()
    duplicates = [[pictures[i].relative for i in m] for m in members.values() if len(m) > 1]
    labels = {p.relative: p.label for p in pictures}
    return {
        "seed": seed,
        "method": f"near-duplicate groups (32 x 32 grey thumbnails, Pearson correlation >= {threshold} linked "
        f"transitively) dealt per class in seeded random order into train / validation / test "
        f"{'/'.join(f'{f:g}' for f in fractions)}; no group straddles two parts",
        "sizes": {name: len(files) for name, files in parts.items()},
        "sizes_by_class": {
            name: {label: sum(labels[f] == label for f in files) for label in sorted(set(labels.values()))}
            for name, files in parts.items()
        },
        "sha256": {name: hashlib.sha256("\n".join(files).encode()).hexdigest() for name, files in parts.items()},
        "duplicate_groups": duplicates,
        "files": parts,
    }


def split_samples(pictures: Sequence[BusiPicture], split: dict, part: str) -> list[PictureSample]:
    """The pictures of one part of ``split`` as training/evaluation samples (grey 0..1)."""
    from ..detectors.data import read_grey_picture

    wanted = set(split["files"][part])
    return [
        PictureSample(read_grey_picture(p.path), p.boxes_xy.copy(), p.relative, p.label)
        for p in pictures
        if p.relative in wanted
    ]


# ----- evaluation on stills -------------------------------------------------------------------------------
def detect_stills(network, samples: Sequence[PictureSample], shorter_side: int, device: str = "cpu") -> list:
    """Per picture (boxes, scores) as the pipeline reports them (above its floor, inside the imaging area)."""
    from ..detectors.network import detect_pictures
    from ..pipelines.breast_us import reported_frame_boxes
    from .imaging_area import imaging_area_mask

    found = []
    for sample in samples:
        raw = detect_pictures(network, [sample.picture], device, shorter_side=shorter_side)
        frames, _outside = reported_frame_boxes(raw, [0], imaging_area_mask(sample.picture[None]))
        found.append((frames[0].boxes, frames[0].scores))
    return found


def score_stills(
    detections: Sequence,
    samples: Sequence[PictureSample],
    fp_rates: Sequence[float] = (0.1, 0.2, 0.5),
    iou_thresholds: Sequence[float] = (0.2, 0.5),
) -> dict:
    """FROC per picture: sensitivity (with Wilson 95 % interval) at each FP-per-picture rate and IoU."""
    from ..metrics import froc, wilson_interval

    truth = [np.asarray(s.boxes_xy, float).reshape(-1, 4) for s in samples]
    rows, curves = [], {}
    for iou in iou_thresholds:
        result = froc(list(detections), truth, iou, fp_rates)
        curves[f"iou{iou:g}"] = result
        for rate in fp_rates:
            index = result.thresholds.index(result.threshold_at[rate])
            found = round(result.sensitivity[index] * result.n_lesions)
            low, high = wilson_interval(found, result.n_lesions)
            rows.append(
                {
                    "iou": iou,
                    "fp_per_picture": rate,
                    "sensitivity": round(result.sensitivity_at[rate], 4),
                    "ci95": [round(low, 4), round(high, 4)],
                    "found": found,
                    "lesions": result.n_lesions,
                    "false_positives": round(result.fp_per_sequence[index] * result.n_sequences),
                    "threshold": result.threshold_at[rate],
                }
            )
    return {"rows": rows, "froc": curves, "n_pictures": len(samples), "n_lesions": curves[next(iter(curves))].n_lesions}


def operating_point(curve, threshold: float) -> dict:
    """Sensitivity and false positives per picture of a FROC curve at a fixed score threshold."""
    thresholds = np.asarray(curve.thresholds)
    kept = np.flatnonzero(thresholds >= threshold)
    index = int(kept[-1]) if kept.size else 0
    return {
        "threshold": threshold,
        "sensitivity": round(float(curve.sensitivity[index]), 4),
        "fp_per_picture": round(float(curve.fp_per_sequence[index]), 4),
    }


def evaluate_stills(network, samples: Sequence[PictureSample], shorter_side: int, device: str = "cpu") -> dict:
    """:func:`score_stills` on the detector's reported boxes, plus seconds per picture."""
    import time

    began = time.perf_counter()
    detections = detect_stills(network, samples, shorter_side, device)
    metrics = score_stills(detections, samples)
    metrics["seconds_per_picture"] = (time.perf_counter() - began) / max(len(samples), 1)
    metrics["detections"] = detections
    return metrics


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
