"""The rectal phantom: generated slice by slice from its plan, intensities drawn per label, written as NIfTI."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...annotations import Box
from ...errors import InputError
from ...image import Image
from .anatomy import _plan, _slice_labels
from .labels import _FAT_LABELS, _T2_RANGES, BLADDER, CRM_DISTANCE_MM, PELVIS_LABELS
from .truth import _distance_and_boxes


@dataclass
class RectalPhantom:
    """One synthetic axial T2 series with its labels and the study's truth.

    ``t2``: float32 image. ``labels``: uint8 label map on the same grid (:data:`PELVIS_LABELS`).
    ``boxes``: CRM-positive boxes (on positive slices only). ``evaluated_slices``: (first, last) k, the
    slices between the levator ani plane and the peritoneal reflection that the study reads.
    ``slice_distance_mm``: tumour-to-fascia distance per slice (inf without tumour). ``description``: the
    drawn case (tumour height, extent, contrast, ...).
    """

    t2: Image
    labels: Image
    boxes: list[Box]
    evaluated_slices: tuple[int, int]
    slice_distance_mm: list[float]
    crm_positive: bool
    description: dict = field(default_factory=dict)

    @property
    def positive_slices(self) -> list[int]:
        return [k for k, d in enumerate(self.slice_distance_mm) if d <= CRM_DISTANCE_MM]


def _intensities(labels_kji: np.ndarray, rng: np.random.Generator, fat_suppressed: bool) -> np.ndarray:
    from scipy import ndimage

    means = {label: rng.uniform(*bounds) for label, bounds in _T2_RANGES.items()}
    if fat_suppressed:
        for label in _FAT_LABELS:
            means[label] = rng.uniform(60, 160)
        means[BLADDER] = rng.uniform(900, 1300)
    lut = np.zeros(max(PELVIS_LABELS) + 1, np.float32)
    for label, value in means.items():
        lut[label] = value
    image = lut[labels_kji]
    shape = labels_kji.shape
    texture = ndimage.gaussian_filter(rng.normal(0, 1, shape).astype(np.float32), (0, 3, 3))
    image *= 1.0 + rng.uniform(0.04, 0.12) * texture / (texture.std() + 1e-6)
    image = ndimage.gaussian_filter(image, (0, rng.uniform(0.5, 1.0), rng.uniform(0.5, 1.0)))
    k, j, i = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    coefficients = rng.normal(0, 0.15, 6)
    bias = np.exp(
        coefficients[0] * i
        + coefficients[1] * j
        + coefficients[2] * k
        + coefficients[3] * i * j
        + coefficients[4] * i**2
        + coefficients[5] * j**2
    )
    image *= bias.astype(np.float32)
    sigma = rng.uniform(0.015, 0.05) * float(np.percentile(image, 99))
    noisy = np.hypot(image + rng.normal(0, sigma, shape), rng.normal(0, sigma, shape))
    return noisy.astype(np.float32)


def generate_rectal_phantom(
    seed: int,
    *,
    crm_positive: bool | None = None,
    has_tumour: bool | None = None,
    fat_suppressed: bool | None = None,
    matrix: int | None = None,
    n_slices: int | None = None,
) -> RectalPhantom:
    """One synthetic axial T2 series of the rectum, the same for the same arguments.

    :param crm_positive: tumour reaching the fascia (True) or staying clear of it (False); None draws it
        (45 % positive among tumours). The truth recorded is what the label map shows.
    :param has_tumour: None draws it (85 % with tumour; always with ``crm_positive=True``); without tumour
        the phantom is a negative.
    :param fat_suppressed: None draws it (30 %).
    :param matrix: in-plane size (square); None draws 320, 384 or 448.
    :param n_slices: None draws 18..26 slices of 3-4 mm.
    """
    rng = np.random.default_rng(seed)
    drawn_tumour = rng.random() < 0.85
    drawn_positive = rng.random() < 0.45
    drawn_fs = rng.random() < 0.3
    if crm_positive and has_tumour is False:
        raise InputError("A CRM-positive phantom needs a tumour.", "Leave has_tumour unset or True.")
    # asking for a CRM-positive case means asking for a tumour: the draw must not turn it into a negative
    has_tumour = (True if crm_positive else drawn_tumour) if has_tumour is None else bool(has_tumour)
    crm_positive = (drawn_positive if crm_positive is None else bool(crm_positive)) and has_tumour
    fat_suppressed = drawn_fs if fat_suppressed is None else bool(fat_suppressed)
    matrix = int(rng.choice([320, 384, 448])) if matrix is None else int(matrix)
    n_slices = int(rng.integers(18, 27)) if n_slices is None else int(n_slices)
    if matrix < 64 or n_slices < 3:
        raise InputError(f"matrix={matrix}, n_slices={n_slices} is too small.", "Use at least 64 pixels and 3 slices.")
    fov_mm = rng.uniform(180, 260)
    pixel_mm = fov_mm / matrix
    thickness_mm = rng.uniform(3.0, 4.0)
    height_mm = thickness_mm * n_slices
    plan = _plan(rng, crm_positive, has_tumour, height_mm)
    # pixel centres in mm around the rectum: x towards the patient's left, y posterior
    offset = rng.uniform(-15, 15, 2)
    coordinates = (np.arange(matrix) - (matrix - 1) / 2) * pixel_mm
    y, x = np.meshgrid(coordinates + offset[1], coordinates + offset[0], indexing="ij")
    drawn = [_slice_labels(x, y, (k + 0.5) * thickness_mm, plan) for k in range(n_slices)]
    labels = np.stack([slice_labels for slice_labels, _line in drawn])
    # geometry: axial, tilted a few degrees about left-right and in plane
    tilt, turn = np.deg2rad(rng.uniform(-12, 12)), np.deg2rad(rng.uniform(-8, 8))
    rotation_x = np.array([[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)], [0, np.sin(tilt), np.cos(tilt)]])
    rotation_z = np.array([[np.cos(turn), -np.sin(turn), 0], [np.sin(turn), np.cos(turn), 0], [0, 0, 1]])
    direction = rotation_x @ rotation_z
    spacing = (pixel_mm, pixel_mm, thickness_mm)
    origin = tuple(rng.uniform(-120, -80, 3) * np.array([1, 1, 0.5]))
    labels_image = Image(labels, spacing, origin, direction)
    distances, boxes = [], []
    for k in range(n_slices):
        distance, slice_boxes = _distance_and_boxes(labels[k], drawn[k][1], (pixel_mm, pixel_mm))
        distances.append(distance)
        boxes += [Box.from_slice_corners(labels_image, k, *corners, label="CRM+", score=1.0) for corners in slice_boxes]
    t2 = labels_image.with_array(_intensities(labels, rng, fat_suppressed))
    tumour = plan["tumour"]
    description = {
        "has_tumour": has_tumour,
        "drawn_crm_positive": crm_positive,
        "fat_suppressed": fat_suppressed,
        "pixel_mm": round(pixel_mm, 3),
        "slice_thickness_mm": round(thickness_mm, 2),
        "tumour_height_mm": None if tumour is None else round(tumour["z0"], 1),
        "tumour_length_mm": None if tumour is None else round(tumour["length_mm"], 1),
        "tumour_arc_degrees": None if tumour is None else round(float(np.degrees(2 * tumour["half_arc"])), 0),
        "tumour_peak_reach": None if tumour is None else round(tumour["peak_reach"], 3),
        "min_distance_mm": round(min(distances), 2) if np.isfinite(min(distances)) else None,
    }
    evaluated = (1, n_slices - 2)
    return RectalPhantom(
        t2, labels_image, boxes, evaluated, distances, any(d <= CRM_DISTANCE_MM for d in distances), description
    )


def write_rectal_phantom_case(phantom: RectalPhantom, folder: str | os.PathLike[str], case_id: str) -> dict[str, Path]:
    """``<case_id>_t2.nii.gz``, ``<case_id>_labels.nii.gz`` and ``<case_id>_truth.json`` in ``folder``."""
    import json

    from ...atomic import write_text_atomic
    from ...image_io import write_image

    folder = Path(folder)
    paths = {
        "t2": write_image(phantom.t2, folder / f"{case_id}_t2.nii.gz"),
        "labels": write_image(phantom.labels, folder / f"{case_id}_labels.nii.gz"),
    }
    truth = {
        "case_id": case_id,
        "crm_positive": phantom.crm_positive,
        "evaluated_slices": list(phantom.evaluated_slices),
        "positive_slices": phantom.positive_slices,
        "slice_distance_mm": [None if not np.isfinite(d) else round(d, 2) for d in phantom.slice_distance_mm],
        "boxes": [
            dict(
                zip(
                    ("slice_index", "i0", "j0", "i1", "j1"), [round(float(v), 2) for v in box.voxel_corners(phantom.t2)]
                )
            )
            for box in phantom.boxes
        ],
        "labels": {str(k): v for k, v in PELVIS_LABELS.items()},
        "description": phantom.description,
    }
    paths["truth"] = write_text_atomic(folder / f"{case_id}_truth.json", json.dumps(truth, indent=2))
    return paths
