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

Augmenting stills and building pseudo-cine sweeps from them: :mod:`.busi_sweeps`.

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
from .busi_sweeps import busi_sweep_cases as busi_sweep_cases
from .busi_sweeps import sweep_from_still as sweep_from_still
from .busi_sweeps import ultrasound_augment as ultrasound_augment

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
