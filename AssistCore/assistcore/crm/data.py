"""CRM training data: LabelImg (Pascal VOC XML) and COCO JSON boxes on slice pictures, and slices + boxes
exported from a labelled volume.

A training sample is one slice picture as the detector sees it: grey values 0..1, shape (screen_y, screen_x),
in radiological screen orientation (:func:`assistcore.pictures.slice_display`), with boxes (N, 4) as
(x0, y0, x1, y1) screen pixel edges. PNGs exported here are exactly that picture (8-bit), so boxes drawn on
them in LabelImg map back to voxels with :meth:`assistcore.pictures.SliceDisplay.unmap_point`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..detectors.data import PictureSample, read_coco, write_voc  # noqa: F401  (re-exported)
from ..detectors.data import export_voc as _export_voc
from ..detectors.data import read_voc_folder as _read_voc_folder
from ..image import Image
from ..pictures import slice_display
from . import detector

#: a CRM training picture is the shared detector's picture sample
SliceSample = PictureSample
POSITIVE_NAMES = ("CRM+", "crm+", "CRM", "crm", "crm_positive", "positive")


def read_voc_folder(folder, positive_names: Iterable[str] = POSITIVE_NAMES) -> list[PictureSample]:
    """A LabelImg folder of CRM boxes (objects named as in :data:`POSITIVE_NAMES`); see the shared reader."""
    return _read_voc_folder(folder, positive_names)


def export_voc(samples: list[PictureSample], folder, prefix: str = "") -> list[Path]:
    """CRM samples as LabelImg pictures + VOC XML with objects named ``CRM+``."""
    return _export_voc(samples, folder, prefix, name="CRM+")


def volume_slice_samples(
    image: Image, boxes_by_slice: dict[int, np.ndarray], slices: Iterable[int] | None = None, case_id: str = ""
) -> list[SliceSample]:
    """Training samples from a volume: each slice as the detector sees it, voxel boxes (i0, j0, i1, j1) turned
    to screen boxes. Slices without boxes are negatives."""
    display = slice_display(image)
    low, high = detector.window(image.array_kji)
    size_ji = image.shape_kji[1:]
    chosen = range(image.shape_kji[0]) if slices is None else slices
    return [
        SliceSample(
            detector.display_slice(image, k, display, low, high),
            detector.voxel_boxes_to_screen(np.asarray(boxes_by_slice.get(k, np.zeros((0, 4)))), display, size_ji),
            f"{image.metadata.source_path}#slice{k}",
            case_id,
        )
        for k in chosen
    ]


def boxes_from_label_map(labels_kji: np.ndarray, positive_values: Iterable[int] = (1,)) -> dict[int, np.ndarray]:
    """Voxel-edge boxes (i0, j0, i1, j1) of each connected region of the positive labels, per k-slice."""
    from scipy import ndimage

    mask = np.isin(labels_kji, list(positive_values))
    boxes: dict[int, np.ndarray] = {}
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        components, _count = ndimage.label(mask[k])
        found = [[s[1].start, s[0].start, s[1].stop, s[0].stop] for s in ndimage.find_objects(components) if s]
        boxes[int(k)] = np.array(found, float)
    return boxes
