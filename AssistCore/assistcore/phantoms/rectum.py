"""Synthetic rectal-cancer axial T2 phantoms for training and checking CRMAssist (SynthSeg-style).

Each phantom is drawn as a label map first, slice by slice in millimetres around the rectum: body outline
with subcutaneous fat, pelvic bones (sacrum, ischia), muscles (obturator internus, levator ani, gluteal),
bladder and the anterior organ (prostate or vagina), the mesorectum (fat with small nodes and vessels)
closed by the mesorectal fascia (a thin dark line), the rectal wall (bright submucosa, dark muscularis)
and lumen (gas or gel), and optionally a tumour growing from the wall through the muscularis into the
mesorectal fat with an irregular margin. Intensities are then drawn per label at random around T2-like
values (fat bright on plain T2, dark with fat suppression), with texture, a bias field, blur and Rician
noise.

Truth is what the label map shows: the tumour-to-fascia distance is measured on each slice (2D distance
transform, mm) and a slice is CRM-positive when it is 1 mm or less. Boxes follow the source study: on each
positive slice, one box per stretch of tumour-fascia contact, centred on it and spanning across the fascia,
about half over tumour and half over the tissue beyond. Boxes are :class:`assistcore.annotations.Box`
objects on the T2 grid (one slice thick, oriented with the volume).

Arrays are (k, j, i); geometry is LPS millimetres (:class:`assistcore.image.Image`). Axial slices: i runs
towards the patient's left, j posterior, k superior, with a random tilt of a few degrees.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..annotations import Box
from ..errors import InputError
from ..image import Image

#: Label values of the phantom's label map.
PELVIS_LABELS: dict[int, str] = {
    0: "air",
    1: "subcutaneous fat",
    2: "muscle",
    3: "bone",
    4: "bladder",
    5: "anterior organ (prostate or vagina)",
    6: "mesorectal fat",
    7: "mesorectal fascia",
    8: "rectal wall",
    9: "rectal lumen",
    10: "tumour",
    11: "mesorectal lymph node",
    12: "pelvic fat outside the mesorectum",
}
AIR, SUBCUT, MUSCLE, BONE, BLADDER, ANTERIOR, MESO_FAT, FASCIA, WALL, LUMEN, TUMOUR, NODE, PELVIC_FAT = range(13)

#: a slice is CRM-positive when tumour lies this close to the fascia (the study's and ESGAR's 1 mm)
CRM_DISTANCE_MM = 1.0
#: one box covers at most this much fascia contact (mm along the fascia); longer contacts get several
_MAX_CONTACT_MM = 25.0

# T2 intensity ranges per label (plain T2; fat-suppressed changes the fat rows), arbitrary units
_T2_RANGES = {
    AIR: (0, 5),
    SUBCUT: (600, 900),
    MUSCLE: (120, 220),
    BONE: (250, 450),
    BLADDER: (900, 1200),
    ANTERIOR: (300, 500),
    MESO_FAT: (550, 850),
    FASCIA: (60, 130),
    WALL: (180, 300),
    LUMEN: (0, 40),
    TUMOUR: (320, 480),
    NODE: (280, 420),
    PELVIC_FAT: (600, 900),
}
_FAT_LABELS = (SUBCUT, MESO_FAT, PELVIC_FAT, BONE)


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


def _ellipse(x: np.ndarray, y: np.ndarray, cx: float, cy: float, ax: float, ay: float, angle: float = 0.0):
    """Normalised elliptic radius (< 1 inside) of points (x, y) mm for an ellipse centred at (cx, cy)."""
    c, s = np.cos(angle), np.sin(angle)
    u, v = (x - cx) * c + (y - cy) * s, -(x - cx) * s + (y - cy) * c
    return np.sqrt((u / ax) ** 2 + (v / ay) ** 2)


def _radial_profile(rng: np.random.Generator, amplitude: float, harmonics: int = 4):
    """A smooth random function of angle: 1 + sum of low harmonics (shape irregularity)."""
    phases = rng.uniform(0, 2 * np.pi, harmonics)
    weights = rng.normal(0, amplitude, harmonics) / np.arange(1, harmonics + 1)

    def profile(theta: np.ndarray) -> np.ndarray:
        return 1.0 + sum(w * np.cos((n + 2) * theta + p) for n, (w, p) in enumerate(zip(weights, phases)))

    return profile


def _slice_labels(x, y, z, plan) -> tuple[np.ndarray, np.ndarray]:
    """The label map of one axial slice at height ``z`` mm (0 = anorectal junction), points (x, y) mm, and the
    fascia line as drawn before a tumour breaching it replaced part of it (for the truth)."""
    labels = np.full(x.shape, AIR, dtype=np.uint8)
    body = _ellipse(x, y, 0.0, plan["body_cy"], plan["body_ax"], plan["body_ay"])
    labels[body < 1.0] = PELVIC_FAT
    inner = _ellipse(
        x, y, 0.0, plan["body_cy"], plan["body_ax"] - plan["subcut_mm"], plan["body_ay"] - plan["subcut_mm"]
    )
    labels[(body < 1.0) & (inner >= 1.0)] = SUBCUT
    # gluteal muscles posterolaterally, obturator internus laterally
    for side in (-1.0, 1.0):
        labels[(_ellipse(x, y, side * 70, plan["body_cy"] + 55, 45, 30, side * 0.5) < 1.0) & (inner < 1.0)] = MUSCLE
        labels[_ellipse(x, y, side * 58, 5, 10, 32) < 1.0] = MUSCLE
        labels[_ellipse(x, y, side * 74, 8, 9, 28) < 1.0] = BONE  # ischium
    labels[_ellipse(x, y, 0.0, 62 + 0.15 * z, 42, 14) < 1.0] = BONE  # sacrum / coccyx, moving back with height
    cx, cy = plan["centre"](z)
    # bladder above, anterior organ (prostate or vagina) below
    if z > plan["bladder_from_mm"]:
        labels[_ellipse(x, y, cx, cy - 55, 38, 28) < 1.0] = BLADDER
    if z < plan["bladder_from_mm"] + 15:
        labels[_ellipse(x, y, cx, cy - 38, 20, 14) < 1.0] = ANTERIOR
    theta = np.arctan2(y - cy, x - cx)
    radius = np.hypot(x - cx, y - cy)
    fascia_r = plan["meso_radius"](theta) * plan["meso_scale"](z)
    # levator ani: a sling around the lower mesorectum
    if z < plan["levator_top_mm"]:
        sling = (radius > fascia_r + 1.5) & (radius < fascia_r + 6.0) & (y > cy - 10)
        labels[sling & (labels != BONE)] = MUSCLE
    inside_fascia = radius < fascia_r
    labels[inside_fascia] = MESO_FAT
    fascia_line = (radius >= fascia_r) & (radius < fascia_r + plan["fascia_mm"])
    labels[fascia_line] = FASCIA
    for node_x, node_y, node_r in plan["nodes"](z):
        labels[(np.hypot(x - node_x - cx, y - node_y - cy) < node_r) & inside_fascia] = NODE
    wall_outer = plan["wall_radius"](theta) * plan["lumen_scale"](z)
    lumen = plan["lumen_radius"](theta) * plan["lumen_scale"](z)
    labels[radius < wall_outer] = WALL
    labels[radius < lumen] = LUMEN
    tumour = plan["tumour"]
    if tumour is not None and tumour["z0"] <= z <= tumour["z1"]:
        along = np.sin(np.pi * (z - tumour["z0"]) / (tumour["z1"] - tumour["z0"])) ** 0.6
        offset = np.angle(np.exp(1j * (theta - tumour["theta0"])))
        across = np.clip(1.0 - (np.abs(offset) / (tumour["half_arc"])) ** 4, 0.0, 1.0)
        reach = tumour["reach"](theta) * along * across  # fraction of wall-to-fascia distance, 1 = at fascia
        gap = fascia_r - wall_outer
        outer = wall_outer + reach * gap + tumour["breach_mm"] * (reach > 0.98)
        body_of_tumour = (radius >= lumen * 0.8) & (radius < outer) & (across > 0) & (along > 0.05)
        labels[body_of_tumour] = TUMOUR
    return labels, fascia_line


def _plan(rng: np.random.Generator, crm_positive: bool, has_tumour: bool, height_mm: float) -> dict:
    meso_shape = _radial_profile(rng, 0.08)
    base_a, base_b = rng.uniform(30, 42), rng.uniform(24, 34)
    posterior_bias = rng.uniform(0.1, 0.3)  # the mesorectum is thicker behind the rectum

    def meso_radius(theta):
        ellipse = base_a * base_b / np.sqrt((base_b * np.cos(theta)) ** 2 + (base_a * np.sin(theta)) ** 2)
        return ellipse * meso_shape(theta) * (1.0 + posterior_bias * np.clip(np.sin(theta), 0, None))

    wall_shape, lumen_shape = _radial_profile(rng, 0.06), _radial_profile(rng, 0.15)
    wall_r, lumen_r = rng.uniform(11, 16), rng.uniform(4, 9)
    drift = rng.uniform(-6, 6, 4)
    node_rng = np.random.default_rng(rng.integers(2**32))
    nodes = [
        tuple(node_rng.uniform(low, high) for low, high in ((0, 2 * np.pi), (0.55, 0.85), (1.5, 4), (0, height_mm)))
        for _ in range(int(rng.integers(2, 8)))
    ]  # (angle, fraction of the fascia radius, radius mm, height mm)
    plan = {
        "body_cy": rng.uniform(-25, -10),
        "body_ax": rng.uniform(140, 185),
        "body_ay": rng.uniform(95, 125),
        "subcut_mm": rng.uniform(8, 30),
        "fascia_mm": rng.uniform(0.8, 1.4),
        "bladder_from_mm": rng.uniform(0.45, 0.7) * height_mm,
        "levator_top_mm": rng.uniform(0.15, 0.3) * height_mm,
        "centre": lambda z: (drift[0] * np.sin(z / 40 + drift[1]), 10 + drift[2] * np.sin(z / 50 + drift[3])),
        "meso_radius": meso_radius,
        "meso_scale": lambda z: 0.75 + 0.35 * np.clip(z / height_mm, 0, 1),  # narrow near the levator
        "wall_radius": lambda theta: wall_r * wall_shape(theta),
        "lumen_radius": lambda theta: lumen_r * lumen_shape(theta),
        "lumen_scale": lambda z: 0.9 + 0.2 * np.sin(z / 30),
        "nodes": lambda z: [
            (r * meso_radius(np.array(a)) * np.cos(a), r * meso_radius(np.array(a)) * np.sin(a), size)
            for a, r, size, height in nodes
            if abs(z - height) < size
        ],
        "tumour": None,
    }
    if has_tumour:
        length = rng.uniform(20, 60)
        z0 = rng.uniform(0.1 * height_mm, max(0.1 * height_mm, 0.85 * height_mm - length))
        reach_shape = _radial_profile(rng, 0.12, 3)
        peak = rng.uniform(1.0, 1.15) if crm_positive else rng.uniform(0.25, 0.75)
        plan["tumour"] = {
            "z0": z0,
            "z1": z0 + length,
            "theta0": rng.uniform(-np.pi, np.pi),
            "half_arc": rng.uniform(0.5, 2.6),
            "reach": lambda theta: np.clip(peak * reach_shape(theta), 0.0, 1.2),
            "breach_mm": rng.uniform(0.0, 3.0) if crm_positive else 0.0,
            "peak_reach": peak,
            "length_mm": length,
        }
    return plan


def _distance_and_boxes(labels_ji: np.ndarray, fascia_line: np.ndarray, spacing_ij: tuple[float, float]):
    """Tumour-to-fascia distance (mm) on one slice and the study-style boxes (i0, j0, i1, j1) voxel edges.

    The distance is measured to the fascia line as drawn (where a tumour breaches the fascia, distance 0).
    Contact: fascia-line pixels within 1 mm of tumour. The contact is cut into pieces of at most
    ``_MAX_CONTACT_MM`` along the fascia (a long contact gets several boxes, as a reader draws them), and each
    piece gets a box around it grown across the fascia, into the tumour and beyond.
    """
    from scipy import ndimage

    tumour = labels_ji == TUMOUR
    if not tumour.any() or not fascia_line.any():
        return float("inf"), []
    sampling = (spacing_ij[1], spacing_ij[0])
    to_tumour = ndimage.distance_transform_edt(~tumour, sampling=sampling)
    distance = float(np.maximum(to_tumour[fascia_line] - 0.5 * min(sampling), 0.0).min())
    if distance > CRM_DISTANCE_MM:
        return distance, []
    contact = fascia_line & (to_tumour <= CRM_DISTANCE_MM + 0.5 * max(sampling))
    rows, columns = np.nonzero(contact)
    centre = np.argwhere(np.isin(labels_ji, (WALL, LUMEN))).mean(axis=0)
    offsets_mm = np.column_stack([(rows - centre[0]) * sampling[0], (columns - centre[1]) * sampling[1]])
    angles = np.arctan2(offsets_mm[:, 0], offsets_mm[:, 1])
    order = np.argsort(angles)
    rows, columns, angles = rows[order], columns[order], angles[order]
    radius_mm = float(np.hypot(*offsets_mm.T).mean())
    # start after the widest angular gap, so a contact crossing +-180 degrees stays in one piece
    gaps = np.diff(np.concatenate([angles, angles[:1] + 2 * np.pi]))
    first = (int(np.argmax(gaps)) + 1) % len(angles)
    rows, columns = np.roll(rows, -first), np.roll(columns, -first)
    arc_mm = np.unwrap(np.roll(angles, -first)) * radius_mm
    arc_mm -= arc_mm[0]
    pieces, start = [], 0
    for index in range(1, len(arc_mm)):
        if arc_mm[index] - arc_mm[index - 1] > 3.0 or arc_mm[index] - arc_mm[start] > _MAX_CONTACT_MM:
            pieces.append((start, index))  # a separate stretch, or long enough for one box
            start = index
    pieces.append((start, len(arc_mm)))
    boxes = []
    height, width = labels_ji.shape
    for first, last in pieces:
        if last - first < 2 or arc_mm[last - 1] - arc_mm[first] < 2.0:
            continue  # a touch of a pixel or two: part of a neighbouring piece's box already
        j0, j1 = rows[first:last].min(), rows[first:last].max() + 1
        i0, i1 = columns[first:last].min(), columns[first:last].max() + 1
        extent_mm = max((i1 - i0) * spacing_ij[0], (j1 - j0) * spacing_ij[1])
        margin_mm = float(np.clip(0.4 * extent_mm, 3.0, 8.0))  # across the fascia: into tumour and beyond
        grow_i, grow_j = margin_mm / spacing_ij[0], margin_mm / spacing_ij[1]
        boxes.append(
            (
                max(0.0, i0 - grow_i),
                max(0.0, j0 - grow_j),
                min(float(width), i1 + grow_i),
                min(float(height), j1 + grow_j),
            )
        )
    return distance, boxes


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

    from ..atomic import write_text_atomic
    from ..image_io import write_image

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
