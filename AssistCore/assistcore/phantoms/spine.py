"""Synthetic cervical-spine MRI cases (sagittal T2 and T1, oblique axial T2 blocks) with per-level ground truth.

Built SynthSeg-style (Billot et al., Medical Image Analysis 2023), like :mod:`assistcore.phantoms.brain`: the
anatomy is first drawn as a *label map*, then every tissue gets a random intensity per sample and contrast, and a
random bias field, partial volume across thick slices, in-plane blur, Rician noise, a random gamma and scale and a
random patient pose are applied. Contrast ordering follows clinical MRI loosely: CSF bright on T2 and dark on T1,
fat bright on T1, healthy nuclei bright on T2 and degenerated ones dark, ligaments and cortical bone dark on both.

**How the anatomy is built.** The spine is modelled in a *straightened* frame ``(x, p, h)`` in millimetres:
``x`` towards the patient's left, ``p`` posterior distance from the posterior vertebral body line, ``h`` arc
length along the spine, superior positive, 0 at the tip of the dens. In that frame bodies, discs, canal, dural
sac, cord and ligaments are rounded boxes, ellipses and bands, painted into a label volume of 1 x 0.5 x 0.5 mm
(x, p, h). The frame is bent onto a smooth midsagittal curve of random lordosis (lordotic, straightened or
kyphotic, with curvature varying along the neck), posed in the scanner by a random rotation and shift, and
sampled onto each acquisition grid (nearest neighbour, through a SimpleITK displacement-field transform) at
three sub-slices per thick slice; intensities are averaged over the sub-slices (partial volume), the middle
sub-slice gives the label map on the acquisition grid. Spondylolisthesis shifts everything above a motion segment
along ``p`` (ramped through the disc, which shears). Truth is measured on the painted label volume, so it says
what the images show.

**Labels** (:data:`SPINE_LABELS`, uint8): 0 background (air, also the airway), 1..10 vertebrae C1..T3 (body;
C1 anterior and posterior arches; C2 body with the dens), 11..18 discs C2/3..T2/T3 (herniated material
included), 19 ``dural_sac`` (CSF inside the thecal sac), 20 ``cord``, 21 ``PLL`` (posterior longitudinal
ligament), 22 ``LF`` (ligamentum flavum), 23 ``posterior_elements`` (pedicles, laminae, spinous processes of
C2..T3), 24 ``soft_tissue`` (muscle, fat, epidural fat).

**Grids.** Sagittal images: i runs anterior -> posterior, j superior -> inferior, k right -> left... precisely
``direction_lps = [[0, 0, -1], [1, 0, 0], [0, -1, 0]]`` columns i=(0,1,0) (P), j=(0,0,-1) (I), k=(-1,0,0) (R),
so slices are stacked from the patient's left to right. Axial blocks: k along the planned disc normal
(superior), i towards the patient's left, j posterior; one block per disc, a few thick slices centred on it.
Arrays are (k, j, i); geometry is LPS millimetres. Everything random is drawn from
``numpy.random.default_rng(seed)``, so a seed gives the same phantom.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..image import Image, ImageMetadata
from ..spine.labels import (
    CORD,
    DISCS,
    DURAL_SAC,
    FINDING_LEVELS,
    HERNIATION_TYPES,
    LABEL_COLORS_RGB,
    LABEL_OF,
    LF,
    PLL,
    POSTERIOR_ELEMENTS,
    SOFT_TISSUE,
    SPINE_LABELS,
    VERTEBRAE,
)

# ----- intensity classes (finer than labels: cortex vs marrow, nucleus vs annulus, fat vs muscle) ----------
_AIR, _MUSCLE, _FAT, _MARROW, _CORTEX, _ANNULUS, _NUCLEUS, _NUCLEUS_DEG, _CSF, _CORD, _LIGAMENT = range(11)
#: (low, high) mean intensity per class for T1 and T2; each sample draws one mean per class and contrast from
#: the range widened by ``_JITTER``.
_MEAN_RANGES = {
    #              T1            T2
    _AIR: ((0.00, 0.00), (0.00, 0.00)),
    _MUSCLE: ((0.28, 0.42), (0.18, 0.32)),
    _FAT: ((0.80, 1.00), (0.55, 0.85)),  # bright on T1 (and on fast spin-echo T2)
    _MARROW: ((0.50, 0.78), (0.32, 0.55)),  # fatty marrow
    _CORTEX: ((0.03, 0.12), (0.02, 0.10)),
    _ANNULUS: ((0.22, 0.36), (0.12, 0.28)),
    _NUCLEUS: ((0.30, 0.45), (0.70, 0.95)),  # hydrated nucleus: bright on T2
    _NUCLEUS_DEG: ((0.25, 0.40), (0.22, 0.42)),  # desiccated: dark on T2
    _CSF: ((0.05, 0.20), (0.85, 1.00)),
    _CORD: ((0.40, 0.55), (0.38, 0.55)),
    _LIGAMENT: ((0.05, 0.18), (0.03, 0.14)),
}
_JITTER = 0.05
_CODE_SHIFT = 5  # painted volume holds label * 32 + class in uint16: one nearest-neighbour resampling gives both

#: Base sizes (mm) per vertebra: AP depth of the body (endplate length), width, body height.
_BODY_SIZES = {
    "C2": (15.0, 17.0, 16.0),
    "C3": (15.0, 17.0, 13.5),
    "C4": (15.5, 18.0, 13.5),
    "C5": (16.0, 19.0, 13.5),
    "C6": (16.5, 20.5, 14.0),
    "C7": (17.0, 22.0, 15.0),
    "T1": (17.5, 25.0, 16.5),
    "T2": (18.0, 26.0, 18.0),
    "T3": (19.0, 27.0, 19.0),
}
_DISC_HEIGHTS = {
    "C2/3": 4.5,
    "C3/4": 5.0,
    "C4/5": 5.5,
    "C5/6": 5.5,
    "C6/7": 5.5,
    "C7/T1": 5.0,
    "T1/T2": 4.0,
    "T2/T3": 4.0,
}
_SPINOUS_LENGTHS = {
    "C2": 24.0,
    "C3": 16.0,
    "C4": 17.0,
    "C5": 18.0,
    "C6": 22.0,
    "C7": 32.0,
    "T1": 30.0,
    "T2": 28.0,
    "T3": 26.0,
}
_WORLD_SPACING = (1.0, 0.5, 0.5)  # x, p, h (mm)
_WORLD_X = (-62.0, 62.0)
_WORLD_P = (-62.0, 94.0)
_MAX_CURVATURE = 1.0 / 110.0  # 1/mm: keeps the straightened frame one-to-one over the world's p range
_SCANNER_OFFSET_LPS = np.array([0.0, 20.0, 0.0])


# ----- ground truth ---------------------------------------------------------------------------------------
@dataclass
class SpineVertebra:
    """One vertebra as rendered.

    :ivar name: ``C1`` .. ``T3``; :ivar label: its value in :data:`SPINE_LABELS`.
    :ivar center_lps: body centre (C1: anterior arch centre), LPS mm.
    :ivar depth_mm: AP length of the endplates (C1: 0); :ivar width_mm, height_mm: body size.
    :ivar osteophyte: a spur was drawn at a body corner; :ivar osteophyte_mm: how far the bone reaches beyond
        the body's anterior (or posterior) line, measured on the painted labels (0 when none).
    :ivar osteophyte_site: ``anterior-superior`` | ``anterior-inferior`` | ``posterior-superior`` |
        ``posterior-inferior`` | None.
    :ivar visible: the centre lies inside the sagittal grid.
    """

    name: str
    label: int
    center_lps: list[float]
    depth_mm: float
    width_mm: float
    height_mm: float
    osteophyte: bool = False
    osteophyte_mm: float = 0.0
    osteophyte_site: str | None = None
    visible: bool = False


@dataclass
class SpineLevel:
    """One disc level (motion segment) with its findings, as rendered.

    :ivar name: ``C2/3`` .. ``T2/T3``; :ivar upper, lower: the vertebrae; :ivar label: the disc's label value.
    :ivar disc_center_lps: centre of the disc (LPS mm, at mid-height, mid-depth, midline).
    :ivar disc_normal_lps: unit normal of the disc mid-plane, pointing superior (the local spine axis).
    :ivar posterior_lps: unit vector in the disc mid-plane pointing posterior (midsagittal).
    :ivar disc_height_mm: nominal height; :ivar degenerated: desiccated nucleus (dark on T2), thinner disc.
    :ivar herniation: one of :data:`HERNIATION_TYPES`; :ivar side: None, ``left`` or ``right`` (paracentral and
        foraminal). :ivar protrusion_mm: how far disc material reaches past the posterior body line, measured
        on the painted labels (about 0.3 mm for a normal disc); bulges < 5 mm broad-based, herniations focal.
    :ivar listhesis_grade: 0..4 (Meyerding: quarters of the lower endplate length); :ivar listhesis_direction:
        ``anterior`` | ``posterior`` | None (of the upper vertebra); :ivar listhesis_mm: measured offset (>= 0) of
        the upper body's posterior wall against the lower one's, at mid-height, on the painted labels.
    :ivar pll_thickness_mm, lf_thickness_mm: measured midline thicknesses at the level (painted labels);
        :ivar pll_thickened, lf_thickened: thickness > 2 mm.
    :ivar visible: the disc centre lies inside the sagittal grid. :ivar axial_block: index into
        ``SpinePhantom.axial_t2_blocks`` of the block planned through this disc, or None.
    """

    name: str
    upper: str
    lower: str
    label: int
    disc_center_lps: list[float]
    disc_normal_lps: list[float]
    posterior_lps: list[float]
    disc_height_mm: float
    degenerated: bool = False
    herniation: str = "normal"
    side: str | None = None
    protrusion_mm: float = 0.0
    listhesis_grade: int = 0
    listhesis_direction: str | None = None
    listhesis_mm: float = 0.0
    pll_thickness_mm: float = 0.0
    lf_thickness_mm: float = 0.0
    pll_thickened: bool = False
    lf_thickened: bool = False
    visible: bool = False
    axial_block: int | None = None


@dataclass
class SpinePhantom:
    """One synthetic cervical-spine MRI case.

    :ivar sagittal_t2, sagittal_t1: float32 images on one sagittal grid (``sagittal_t1`` None without T1).
    :ivar sagittal_labels: uint8 :data:`SPINE_LABELS` on the same grid.
    :ivar axial_t2_blocks: one float32 image per planned disc, oblique along the disc; ``axial_label_blocks``
        the uint8 labels on each block's grid; ``axial_block_levels`` the disc name per block.
    :ivar vertebrae, levels: ground truth (:class:`SpineVertebra`, :class:`SpineLevel`), top down.
    :ivar first_visible_vertebra: the highest of C2..T3 whose body centre lies in the sagittal grid.
    :ivar seed: regenerates the phantom; :ivar parameters: what was drawn (pose, curvature, acquisition).
    """

    sagittal_t2: Image
    sagittal_t1: Image | None
    sagittal_labels: Image
    axial_t2_blocks: list[Image]
    axial_label_blocks: list[Image]
    axial_block_levels: list[str]
    vertebrae: list[SpineVertebra]
    levels: list[SpineLevel]
    first_visible_vertebra: str | None
    seed: int = 0
    parameters: dict[str, Any] = field(default_factory=dict)

    def level(self, name: str) -> SpineLevel:
        """The disc level called ``name`` (``C5/6``)."""
        for level in self.levels:
            if level.name == name:
                return level
        raise KeyError(name)

    def vertebra(self, name: str) -> SpineVertebra:
        """The vertebra called ``name`` (``C5``)."""
        for vertebra in self.vertebrae:
            if vertebra.name == name:
                return vertebra
        raise KeyError(name)

    def truth(self) -> dict[str, Any]:
        """JSON-serialisable ground truth: levels, vertebrae, grids (planes) and drawn parameters."""

        def plane(image: Image, role: str, level: str | None = None) -> dict[str, Any]:
            return {
                "role": role,
                "level": level,
                "shape_kji": list(image.shape_kji),
                "spacing_mm": list(image.spacing_mm),
                "origin_lps": list(image.origin_lps),
                "direction_lps": image.direction_lps.tolist(),
                "slice_normal_lps": image.slice_normal_lps().tolist(),
                "slice_thickness_mm": image.metadata.extra.get("slice_thickness_mm"),
            }

        planes = [plane(self.sagittal_t2, "sag_t2")]
        planes += [
            plane(b, f"ax_t2_block{n}", lv)
            for n, (b, lv) in enumerate(zip(self.axial_t2_blocks, self.axial_block_levels))
        ]
        return {
            "seed": self.seed,
            "labels": {str(k): v for k, v in SPINE_LABELS.items()},
            "first_visible_vertebra": self.first_visible_vertebra,
            "vertebrae": [asdict(v) for v in self.vertebrae],
            "levels": [asdict(v) for v in self.levels],
            "planes": planes,
            "parameters": self.parameters,
        }


# ----- the straightened frame and its curve ---------------------------------------------------------------
@dataclass
class _Curve:
    """Midsagittal curve of the posterior body line in the anatomy frame (X=L, Y=P, Z=S), sampled along h."""

    h: np.ndarray
    points_yz: np.ndarray  # (n, 2)
    up_yz: np.ndarray  # unit superior tangent (n, 2)
    post_yz: np.ndarray  # unit posterior normal (n, 2)

    def at(self, h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        index = np.clip(np.searchsorted(self.h, h), 1, len(self.h) - 1)
        w = (h - self.h[index - 1]) / (self.h[index] - self.h[index - 1])
        point = self.points_yz[index - 1] * (1 - w) + self.points_yz[index] * w
        up = self.up_yz[index - 1] * (1 - w) + self.up_yz[index] * w
        up /= np.linalg.norm(up)
        return point, up, np.array([up[1], -up[0]])

    def to_anatomy(self, x: float, p: float, h: float) -> np.ndarray:
        """Straightened (x, p, h) -> anatomy frame (X, Y, Z)."""
        point, _up, post = self.at(h)
        yz = point + p * post
        return np.array([x, yz[0], yz[1]])

    def straighten(self, yz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Anatomy (Y, Z) points (n, 2) -> (p, h) of the nearest curve point."""
        from scipy.spatial import cKDTree

        _distance, index = cKDTree(self.points_yz).query(yz)
        relative = yz - self.points_yz[index]
        h = self.h[index] + np.einsum("nc,nc->n", relative, self.up_yz[index])
        p = np.einsum("nc,nc->n", relative, self.post_yz[index])
        return p, h


def _make_curve(curvature, h_low: float, h_high: float, h_anchor: float, tilt: float) -> _Curve:
    """The curve whose tangent turns by ``curvature(h)`` (rad/mm) and leans ``tilt`` (rad, posterior-up
    positive) at ``h_anchor``; it passes through (Y, Z) = (0, 0) at h = 0."""
    step = 0.2
    h = np.arange(h_low, h_high + step, step)
    theta = np.concatenate([[0.0], np.cumsum(0.5 * (curvature(h[1:]) + curvature(h[:-1])) * step)])
    theta += tilt - np.interp(h_anchor, h, theta)
    up = np.stack([np.sin(theta), np.cos(theta)], axis=1)
    points = np.concatenate([[[0.0, 0.0]], np.cumsum(0.5 * (up[1:] + up[:-1]) * step, axis=0)])
    points -= np.array([np.interp(0.0, h, points[:, 0]), np.interp(0.0, h, points[:, 1])])
    post = np.stack([up[:, 1], -up[:, 0]], axis=1)
    return _Curve(h, points, up, post)


# ----- the plan: sizes and findings -------------------------------------------------------------------------
_FINDING_KEYS = {
    "herniation",
    "side",
    "depth_mm",
    "degenerated",
    "listhesis_grade",
    "listhesis_direction",
    "pll_mm",
    "lf_mm",
}
_VERTEBRA_KEYS = {"osteophyte_mm", "osteophyte_site"}
_OSTEOPHYTE_SITES = ("anterior-superior", "anterior-inferior", "posterior-superior", "posterior-inferior")


def _check_findings(findings: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    findings = {str(k): dict(v) for k, v in (findings or {}).items()}
    for name, values in findings.items():
        allowed = _FINDING_KEYS if name in FINDING_LEVELS else _VERTEBRA_KEYS if name in VERTEBRAE[1:8] else None
        if allowed is None:
            raise InputError(
                f"Cannot force findings at {name!r}.",
                f"Use a disc level of {', '.join(FINDING_LEVELS)} or a vertebra of {', '.join(VERTEBRAE[1:8])}.",
            )
        unknown = set(values) - allowed
        if unknown:
            raise InputError(f"Unknown finding keys {sorted(unknown)} at {name}.", f"Use {sorted(allowed)}.")
        if "herniation" in values and values["herniation"] not in HERNIATION_TYPES:
            raise InputError(
                f"Unknown herniation {values['herniation']!r} at {name}.", f"Use one of {', '.join(HERNIATION_TYPES)}."
            )
        if "listhesis_grade" in values and int(values["listhesis_grade"]) not in range(5):
            raise InputError(f"Listhesis grade {values['listhesis_grade']!r} at {name} is not 0..4.", "Use 0..4.")
    return findings


def _plan(rng: np.random.Generator, findings: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Sizes, positions along h and findings (drawn fully, then overridden, so overrides change nothing else)."""
    scale = rng.uniform(0.9, 1.12)
    bodies: dict[str, dict[str, Any]] = {}
    discs: dict[str, dict[str, Any]] = {}
    dens_length = scale * rng.uniform(12.0, 16.0)
    cursor = -dens_length  # top of the C2 body
    for index, name in enumerate(VERTEBRAE[1:]):
        depth, width, height = (v * scale * rng.uniform(0.96, 1.04) for v in _BODY_SIZES[name])
        bodies[name] = {"depth": depth, "width": width, "height": height, "top": cursor, "bottom": cursor - height}
        cursor -= height
        if index < len(DISCS):
            disc = DISCS[index]
            degenerated = bool(rng.random() < (0.35 if disc in ("C5/6", "C6/7") else 0.2)) and disc in FINDING_LEVELS
            degenerated = bool(findings.get(disc, {}).get("degenerated", degenerated))
            disc_height = (
                _DISC_HEIGHTS[disc] * scale * rng.uniform(0.9, 1.1) * (rng.uniform(0.5, 0.8) if degenerated else 1.0)
            )
            discs[disc] = {
                "height": disc_height,
                "top": cursor,
                "bottom": cursor - disc_height,
                "degenerated": degenerated,
            }
            cursor -= disc_height
    for index, disc in enumerate(DISCS):
        upper, lower = VERTEBRAE[index + 1], VERTEBRAE[index + 2]
        info = discs[disc]
        info.update(
            upper=upper,
            lower=lower,
            center=0.5 * (info["top"] + info["bottom"]),
            depth=0.5 * (bodies[upper]["depth"] + bodies[lower]["depth"]),
            width=0.5 * (bodies[upper]["width"] + bodies[lower]["width"]),
        )
        forced = findings.get(disc, {})
        odds = [0.3, 0.3, 0.15, 0.15, 0.1] if info["degenerated"] else [0.75, 0.15, 0.04, 0.04, 0.02]
        herniation = str(rng.choice(HERNIATION_TYPES, p=odds))
        side = "left" if rng.random() < 0.5 else "right"
        bulge_depth, focal_depth = rng.uniform(1.5, 3.5), rng.uniform(2.5, 6.5)
        focal_radius_x, focal_radius_h = rng.uniform(3.5, 6.0), rng.uniform(0.5, 2.0)
        paracentral_x, foraminal_inset = rng.uniform(3.5, 6.0), rng.uniform(1.5, 3.0)
        listhesis = bool(rng.random() < 0.07)
        direction = "anterior" if rng.random() < 0.65 else "posterior"
        grade = int(rng.choice([1, 2, 3], p=[0.75, 0.2, 0.05])) if listhesis else 0
        fraction_in_grade = rng.uniform(0.3, 0.8)
        pll_thick, lf_thick = bool(rng.random() < 0.15), bool(rng.random() < 0.18)
        pll_mm = rng.uniform(3.0, 6.0) if pll_thick else rng.uniform(1.0, 1.5)
        lf_mm = rng.uniform(3.0, 6.0) if lf_thick else rng.uniform(1.0, 1.6)
        if disc not in FINDING_LEVELS:
            herniation, grade, pll_mm, lf_mm = "normal", 0, rng.uniform(1.0, 1.5), rng.uniform(1.0, 1.6)
        herniation = forced.get("herniation", herniation)
        side = forced.get("side", side) if herniation in ("paracentral", "foraminal") else None
        depth_mm = forced.get("depth_mm", bulge_depth if herniation == "bulge" else focal_depth)
        grade = int(forced.get("listhesis_grade", grade))
        direction = forced.get("listhesis_direction", direction) if grade else None
        endplate = bodies[lower]["depth"]
        offset = (grade - 1 + fraction_in_grade) / 4.0 * endplate if grade else 0.0
        info.update(
            herniation=herniation,
            side=side,
            depth_mm=float(depth_mm) if herniation != "normal" else 0.0,
            focal_radius_x=focal_radius_x,
            focal_radius_h=info["height"] / 2 + focal_radius_h,
            paracentral_x=paracentral_x,
            foraminal_inset=foraminal_inset,
            listhesis_grade=grade,
            listhesis_direction=direction,
            offset_mm=offset * (-1.0 if direction == "anterior" else 1.0),
            pll_mm=float(forced.get("pll_mm", pll_mm)),
            lf_mm=float(forced.get("lf_mm", lf_mm)),
        )
    for name in VERTEBRAE[1:]:
        upper_disc = DISCS[VERTEBRAE.index(name) - 2] if name != "C2" else None
        lower_disc = DISCS[VERTEBRAE.index(name) - 1] if name != "T3" else None
        near_degeneration = any(d is not None and discs[d]["degenerated"] for d in (upper_disc, lower_disc))
        has = bool(rng.random() < (0.4 if near_degeneration else 0.12)) and name in VERTEBRAE[1:8]
        size = rng.uniform(2.0, 5.0) if has else 0.0
        site = str(rng.choice(_OSTEOPHYTE_SITES, p=[0.35, 0.35, 0.15, 0.15]))
        forced = findings.get(name, {})
        size = float(forced.get("osteophyte_mm", size))
        site = forced.get("osteophyte_site", site)
        if site not in _OSTEOPHYTE_SITES:
            raise InputError(f"Unknown osteophyte site {site!r} at {name}.", f"Use one of {_OSTEOPHYTE_SITES}.")
        bodies[name].update(osteophyte_mm=size, osteophyte_site=site if size > 0 else None)
    canal = {
        "ap": rng.uniform(13.0, 17.0),
        "width": rng.uniform(22.0, 27.0),
        "sac_inset": rng.uniform(0.8, 1.5),
        "sac_posterior_fat": rng.uniform(1.0, 2.5),
        "cord_ap": rng.uniform(6.5, 8.5),
        "cord_width": rng.uniform(10, 13),
        "lamina": rng.uniform(3.5, 5.0),
    }
    return {
        "scale": scale,
        "dens_length": dens_length,
        "bodies": bodies,
        "discs": discs,
        "canal": canal,
        "bottom": cursor,
    }


# ----- painting the straightened world -------------------------------------------------------------------
class _World:
    """Label and class volumes on the straightened grid (x, p, h), arrays (h, p, x)."""

    def __init__(self, h_range: tuple[float, float], offset_of_h) -> None:
        dx, dp, dh = _WORLD_SPACING
        self.x = np.arange(_WORLD_X[0], _WORLD_X[1] + 1e-6, dx, dtype=np.float32)
        self.p = np.arange(_WORLD_P[0], _WORLD_P[1] + 1e-6, dp, dtype=np.float32)
        self.h = np.arange(h_range[0], h_range[1] + 1e-6, dh, dtype=np.float32)
        self.offset = offset_of_h(self.h).astype(np.float32)
        shape = (len(self.h), len(self.p), len(self.x))
        self.labels = np.zeros(shape, np.uint8)
        self.classes = np.zeros(shape, np.uint8)

    def box(self, h0: float, h1: float, pe0: float, pe1: float, x0: float = -1e9, x1: float = 1e9):
        """Index slices and local coordinates (H, PE, X broadcastable) of the box; PE = p - listhesis offset."""
        sk = self._range(self.h, h0, h1)
        offsets = self.offset[sk]
        if offsets.size == 0:
            return None
        sj = self._range(self.p, pe0 + float(offsets.min()), pe1 + float(offsets.max()))
        si = self._range(self.x, x0, x1)
        if sj.stop <= sj.start or si.stop <= si.start:
            return None
        h = self.h[sk][:, None, None]
        pe = self.p[sj][None, :, None] - offsets[:, None, None]
        return (sk, sj, si), h, pe, self.x[si][None, None, :]

    @staticmethod
    def _range(values: np.ndarray, low: float, high: float) -> slice:
        start = int(np.searchsorted(values, low - 1e-6))
        stop = int(np.searchsorted(values, high + 1e-6, side="right"))
        return slice(start, max(start, stop))

    def paint(self, index, mask: np.ndarray, label: int, cls: int | np.ndarray, only=None) -> None:
        labels, classes = self.labels[index], self.classes[index]
        mask = np.broadcast_to(mask, labels.shape)
        if only is not None:
            mask = mask & np.isin(labels, only)
        labels[mask] = label
        classes[mask] = cls[mask] if isinstance(cls, np.ndarray) else cls


def _superellipse(u: np.ndarray, v: np.ndarray, order: float = 4.0) -> np.ndarray:
    return (np.abs(u) ** order + np.abs(v) ** order) ** (1.0 / order)


def _inside_body(h, pe, x, body: dict[str, Any], shrink: float) -> np.ndarray:
    """The rounded box of a vertebral body (shrunk by ``shrink`` mm on every side) in local coordinates."""
    depth, width, height = body["depth"], body["width"], body["height"]
    mid = 0.5 * (body["top"] + body["bottom"])
    r = _superellipse((pe + depth / 2) / (depth / 2 - shrink), x / (width / 2 - shrink))
    return r**8 + np.abs((h - mid) / (height / 2 - shrink)) ** 8 <= 1.0


def _paint_world(plan: dict[str, Any], world: _World) -> None:
    """Paint labels and intensity classes: soft tissue, posterior elements, canal contents, ligaments, bodies,
    discs with their herniations, osteophytes (later structures override earlier ones)."""
    bodies, discs, canal = plan["bodies"], plan["discs"], plan["canal"]
    x2, p2 = world.x[None, :], world.p[:, None]
    # neck: muscle with a subcutaneous fat layer, the airway in front of the spine
    neck_center, neck_ap, neck_half_width = plan["neck"]
    r_neck = np.sqrt((x2 / neck_half_width) ** 2 + ((p2 - neck_center) / neck_ap) ** 2)
    world.labels[:, r_neck <= 1.0] = SOFT_TISSUE
    world.classes[:, r_neck <= 1.0] = _MUSCLE
    fat_layer = (r_neck <= 1.0) & (r_neck > 1.0 - plan["fat_mm"] / neck_ap)
    world.classes[:, fat_layer] = _FAT
    airway_p = -bodies["C5"]["depth"] - plan["airway_gap"]
    airway = (x2 / 8.0) ** 2 + ((p2 - airway_p) / 6.0) ** 2 <= 1.0
    below_c2 = int(np.searchsorted(world.h, bodies["C2"]["top"] - 8.0))  # h ascends: the first rows
    world.labels[:below_c2][:, airway] = 0
    world.classes[:below_c2][:, airway] = _AIR

    ap, half_width, lamina = canal["ap"], canal["width"] / 2, canal["lamina"]
    pc = ap / 2.0  # canal centre, posterior of the body line
    h_top, h_bottom = float(world.h[-1]), float(world.h[0])
    # posterior elements per vertebra: pedicles and laminae around the canal, a spinous process going back/down
    for name in VERTEBRAE[1:]:
        body = bodies[name]
        top, bottom = body["top"] - 1.0, body["bottom"] + 1.0 - 2.0
        box = world.box(bottom, top, -1.0, pc + ap / 2 + lamina + 1, -half_width - lamina - 1, half_width + lamina + 1)
        if box:
            index, h, pe, x = box
            r_outer = np.sqrt((x / (half_width + lamina)) ** 2 + ((pe - pc) / (ap / 2 + lamina)) ** 2)
            r_canal = np.sqrt((x / half_width) ** 2 + ((pe - pc) / (ap / 2)) ** 2)
            ring = (r_outer <= 1.0) & (r_canal > 1.0) & (pe > 0.0)
            world.paint(index, ring, POSTERIOR_ELEMENTS, _CORTEX)
            inner = (r_outer <= 1.0 - 1.0 / (ap / 2 + lamina)) & (r_canal > 1.0 + 1.0 / (ap / 2)) & (pe > 1.0)
            world.paint(index, inner, POSTERIOR_ELEMENTS, _MARROW)
        start = pc + ap / 2 + lamina - 1.0
        length = _SPINOUS_LENGTHS[name] * plan["scale"]
        half_height, half_x = (4.5, 4.0) if name == "C2" else (3.5, 3.0)
        slope = np.tan(np.deg2rad(25.0))
        mid = 0.5 * (top + bottom)
        box = world.box(
            mid - length * slope - half_height - 1, mid + half_height + 1, start, start + length, -half_x, half_x
        )
        if box:
            index, h, pe, x = box
            centre_h = mid - (pe - start) * slope
            spinous = (np.abs(h - centre_h) <= half_height * (1 - 0.4 * (pe - start) / length)) & (pe >= start)
            spinous &= pe <= start + length
            world.paint(index, spinous, POSTERIOR_ELEMENTS, _MARROW)
    # C1: posterior arch behind the canal and anterior arch in front of the dens
    c2 = bodies["C2"]
    dens_top, dens_bottom = 0.0, c2["top"]
    arch_h = dens_bottom + 0.55 * (dens_top - dens_bottom)
    dens_pc, dens_r = -0.5 * c2["depth"], 0.33 * c2["depth"]
    box = world.box(arch_h - 5, arch_h + 5, pc, pc + ap / 2 + lamina + 1, -half_width - lamina, half_width + lamina)
    if box:
        index, h, pe, x = box
        r_outer = np.sqrt((x / (half_width + lamina)) ** 2 + ((pe - pc) / (ap / 2 + lamina)) ** 2)
        r_canal = np.sqrt((x / half_width) ** 2 + ((pe - pc) / (ap / 2)) ** 2)
        arch = (r_outer <= 1.0) & (r_canal > 1.0) & (np.abs(h - arch_h) <= 4.0)
        world.paint(index, arch, LABEL_OF["C1"], _CORTEX)
    # canal contents along the whole length: epidural fat, dural sac, cord
    box = world.box(h_bottom, h_top, -0.5, ap + 0.5, -half_width, half_width)
    index, h, pe, x = box
    r_canal = np.sqrt((x / half_width) ** 2 + ((pe - pc) / (ap / 2)) ** 2)
    world.paint(index, r_canal <= 1.0, SOFT_TISSUE, _FAT)
    sac_front, sac_back = canal["sac_inset"] * 0.5, ap - canal["sac_posterior_fat"]
    sac_pc, sac_ap = 0.5 * (sac_front + sac_back), 0.5 * (sac_back - sac_front)
    sac_half = half_width - canal["sac_inset"]
    world.paint(index, (x / sac_half) ** 2 + ((pe - sac_pc) / sac_ap) ** 2 <= 1.0, DURAL_SAC, _CSF)
    # ligamentum flavum: a band lining the posterior canal wall between the laminae (overrides fat and CSF)
    for disc in discs.values():
        thickness = disc["lf_mm"]
        lf_box = world.box(disc["center"] - 6.0, disc["center"] + 5.0, pc, ap + 0.5, -half_width, half_width)
        if lf_box:
            lf_index, _lh, lpe, lx = lf_box
            wall = pc + (ap / 2) * np.sqrt(np.clip(1 - (lx / half_width) ** 2, 0, None))
            band = (lpe <= wall) & (lpe >= wall - thickness) & (np.abs(lx) <= 0.75 * half_width)
            world.paint(lf_index, band, LF, _LIGAMENT, only=(SOFT_TISSUE, DURAL_SAC))
    cord_pc = sac_pc - 0.5
    cord_half_ap = canal["cord_ap"] / 2
    cord_half_width = canal["cord_width"] / 2 * (1 + 0.1 * np.exp(-(((h - bodies["C5"]["bottom"]) / 20.0) ** 2)))
    cord = (x / cord_half_width) ** 2 + ((pe - cord_pc) / cord_half_ap) ** 2 <= 1.0
    world.paint(index, cord, CORD, _CORD)

    # disc posterior surfaces (herniations), then the PLL on top of them
    surfaces = {}
    for name, disc in discs.items():
        half_h = disc["focal_radius_h"]
        sbox = world.box(
            disc["center"] - half_h - 0.5,
            disc["center"] + half_h + 0.5,
            -1.0,
            1.0,
            -disc["width"] / 2,
            disc["width"] / 2,
        )
        if not sbox:
            continue
        sindex, sh, _spe, sx = sbox
        kind, depth = disc["herniation"], disc["depth_mm"]
        sign = 1.0 if disc["side"] == "left" else -1.0
        if kind == "bulge":
            across = np.clip(1 - (sx / (disc["width"] / 2)) ** 4, 0, None)
            along = np.clip(1 - ((sh - disc["center"]) / (disc["height"] / 2 + 0.5)) ** 2, 0, None)
            surface = depth * np.sqrt(across * along)
        elif kind in ("central", "paracentral", "foraminal"):
            xc = {
                "central": 0.0,
                "paracentral": sign * disc["paracentral_x"],
                "foraminal": sign * (disc["width"] / 2 - disc["foraminal_inset"]),
            }[kind]
            inside = 1 - ((sx - xc) / disc["focal_radius_x"]) ** 2 - ((sh - disc["center"]) / half_h) ** 2
            surface = depth * np.sqrt(np.clip(inside, 0, None))
        else:
            surface = np.zeros(np.broadcast_shapes(sh.shape, sx.shape), np.float32)
        surfaces[name] = (sindex, np.broadcast_to(surface, np.broadcast_shapes(sh.shape, sx.shape)))
    # PLL thickness along h: interpolated between the disc levels' values
    centers = np.array([discs[d]["center"] for d in DISCS])[::-1]
    thickness_values = np.array([discs[d]["pll_mm"] for d in DISCS])[::-1]
    pll_half = 7.0
    box = world.box(h_bottom, min(h_top, dens_top + 3), -0.5, 12.0, -pll_half, pll_half)
    index, h, pe, x = box
    thickness = np.interp(h, centers, thickness_values).astype(np.float32)
    base = np.zeros(np.broadcast_shapes(h.shape, x.shape), np.float32)
    for sindex, surface in surfaces.values():
        # both boxes index the world grid: overlap them in world indices (h rows, x columns)
        k0, k1 = max(sindex[0].start, index[0].start), min(sindex[0].stop, index[0].stop)
        i0, i1 = max(sindex[2].start, index[2].start), min(sindex[2].stop, index[2].stop)
        if k1 > k0 and i1 > i0:
            rows = slice(k0 - index[0].start, k1 - index[0].start)
            rows_s = slice(k0 - sindex[0].start, k1 - sindex[0].start)
            cols = slice(i0 - index[2].start, i1 - index[2].start)
            cols_s = slice(i0 - sindex[2].start, i1 - sindex[2].start)
            target = base[rows, 0, cols]
            np.maximum(target, surface[rows_s, 0, cols_s], out=target)
    pll = (pe >= base) & (pe <= base + thickness) & (np.abs(x) <= pll_half)
    world.paint(index, pll, PLL, _LIGAMENT)

    # vertebral bodies: marrow with a cortical rim and endplates; C2 with the dens
    for name in VERTEBRAE[1:]:
        body = bodies[name]
        depth, width, _height = body["depth"], body["width"], body["height"]
        mid = 0.5 * (body["top"] + body["bottom"])
        box = world.box(body["bottom"], body["top"], -depth - 1, 1.0, -width / 2 - 1, width / 2 + 1)
        if not box:
            continue
        index, h, pe, x = box
        rim = plan["cortex_mm"]

        world.paint(index, _inside_body(h, pe, x, body, 0.0), LABEL_OF[name], _CORTEX)
        world.paint(index, _inside_body(h, pe, x, body, rim), LABEL_OF[name], _MARROW)
    box = world.box(dens_bottom - 1.0, dens_top, dens_pc - dens_r - 1, dens_pc + dens_r + 1, -dens_r - 1, dens_r + 1)
    if box:
        index, h, pe, x = box
        radial = ((pe - dens_pc) / dens_r) ** 2 + (x / dens_r) ** 2
        tip = dens_top - dens_r
        dens = (radial <= 1.0) & ((h <= tip) | (radial + ((h - tip) / dens_r) ** 2 <= 1.0))
        world.paint(index, dens, LABEL_OF["C2"], _MARROW)
        world.paint(index, dens & (radial > (1 - 1.2 / dens_r) ** 2), LABEL_OF["C2"], _CORTEX)
    arch_pc, arch_ap = dens_pc - dens_r - 1.5 - 3.5, 3.5
    box = world.box(arch_h - 6, arch_h + 6, arch_pc - arch_ap - 1, arch_pc + 12, -12, 12)
    if box:
        index, h, pe, x = box
        curve = arch_pc + x**2 / 25.0  # the arch bends back on both sides
        arch = ((pe - curve) / arch_ap) ** 2 + ((h - arch_h) / 5.0) ** 2 <= 1.0
        world.paint(index, arch & (np.abs(x) <= 11.0), LABEL_OF["C1"], _CORTEX)
        world.paint(
            index,
            arch & (((pe - curve) / (arch_ap - 1.2)) ** 2 + ((h - arch_h) / 3.8) ** 2 <= 1.0) & (np.abs(x) <= 10.0),
            LABEL_OF["C1"],
            _MARROW,
        )

    # discs: annulus, nucleus, herniated material
    for name, disc in discs.items():
        depth, width = disc["depth"], disc["width"]
        box = world.box(disc["bottom"], disc["top"], -depth - 1, 0.5, -width / 2 - 1, width / 2 + 1)
        if not box:
            continue
        index, h, pe, x = box
        r = _superellipse((pe + depth / 2) / (depth / 2), x / (width / 2))
        nucleus_class = _NUCLEUS_DEG if disc["degenerated"] else _NUCLEUS
        shape = np.broadcast_shapes(h.shape, pe.shape, x.shape)
        classes = np.full(shape, _ANNULUS, np.uint8)
        nucleus = ((pe + depth * 0.45) / (depth * 0.3)) ** 2 + (x / (width * 0.3)) ** 2 + (
            (h - disc["center"]) / (disc["height"] * 0.38)
        ) ** 2 <= 1.0
        classes[np.broadcast_to(nucleus, shape)] = nucleus_class
        world.paint(index, r <= 1.02, LABEL_OF[name], classes)
        if name in surfaces:
            sindex, surface = surfaces[name]
            pbox = world.box(
                world.h[sindex[0]][0],
                world.h[sindex[0]][-1],
                0.0,
                disc["depth_mm"] + 0.5,
                world.x[sindex[2]][0],
                world.x[sindex[2]][-1],
            )
            if pbox and disc["herniation"] != "normal":
                pindex, _ph, ppe, _px = pbox
                material = (ppe >= -0.01) & (ppe <= surface[:, :, :])
                world.paint(
                    pindex, material, LABEL_OF[name], nucleus_class if disc["herniation"] != "bulge" else _ANNULUS
                )

    # osteophytes: bony spurs at a body corner, reaching beyond the anterior (or posterior) line
    for name in VERTEBRAE[1:]:
        body = bodies[name]
        size = body["osteophyte_mm"]
        if size <= 0:
            continue
        site = body["osteophyte_site"]
        corner_p = -body["depth"] if site.startswith("anterior") else 0.0
        corner_h = body["top"] if site.endswith("superior") else body["bottom"]
        direction = -1.0 if site.startswith("anterior") else 1.0
        radius_x = body["width"] * 0.3
        box = world.box(corner_h - size, corner_h + size, corner_p - size - 1, corner_p + size + 1, -radius_x, radius_x)
        if box:
            index, h, pe, x = box
            spur = ((pe - corner_p) / size) ** 2 + ((h - corner_h) / (0.7 * size)) ** 2 + (x / radius_x) ** 2 <= 1.0
            spur &= direction * (pe - corner_p) >= -2.0
            world.paint(index, spur, LABEL_OF[name], _CORTEX)


def _measure(plan: dict[str, Any], world: _World) -> dict[str, dict[str, float]]:
    """Findings measured on the painted labels (midline column x = 0 unless said otherwise)."""
    bodies, discs = plan["bodies"], plan["discs"]
    dp = _WORLD_SPACING[1]
    mid_x = int(np.argmin(np.abs(world.x)))
    pe_grid = world.p[None, :] - world.offset[:, None]  # (h, p)
    measured: dict[str, dict[str, float]] = {}

    def rows(h0: float, h1: float) -> slice:
        return world._range(world.h, h0, h1)

    def posterior_wall(name: str) -> float:
        body = bodies[name]
        mid = 0.5 * (body["top"] + body["bottom"])
        r = rows(mid - 2.0, mid + 2.0)
        hits = world.labels[r, :, mid_x] == LABEL_OF[name]
        p_values = np.where(hits, world.p[None, :], -np.inf).max(axis=1)
        return float(np.mean(p_values[np.isfinite(p_values)]) + dp / 2)

    for name, disc in discs.items():
        r = rows(disc["bottom"] - 2.0, disc["top"] + 2.0)
        hits = world.labels[r] == LABEL_OF[name]
        pe = np.broadcast_to(pe_grid[r][:, :, None], hits.shape)
        protrusion = float(pe[hits].max() + dp / 2) if hits.any() else 0.0
        offset = posterior_wall(disc["upper"]) - posterior_wall(disc["lower"])
        r = rows(disc["center"] - 1.0, disc["center"] + 1.0)
        pll = float(np.mean((world.labels[r, :, mid_x] == PLL).sum(axis=1)) * dp)
        r = rows(disc["center"] - 2.0, disc["center"])
        lf = float(np.mean((world.labels[r, :, mid_x] == LF).sum(axis=1)) * dp)
        measured[name] = {"protrusion_mm": max(0.0, protrusion), "offset_mm": offset, "pll_mm": pll, "lf_mm": lf}
    for name in VERTEBRAE[1:]:
        body = bodies[name]
        if body["osteophyte_mm"] <= 0:
            measured[name] = {"osteophyte_mm": 0.0}
            continue
        r = rows(body["bottom"] - 6.0, body["top"] + 6.0)
        hits = world.labels[r] == LABEL_OF[name]
        pe = np.broadcast_to(pe_grid[r][:, :, None], hits.shape)
        if body["osteophyte_site"].startswith("anterior"):
            reach = float(-pe[hits].min() + dp / 2 - body["depth"])
        else:
            reach = float(pe[hits].max() + dp / 2)
        measured[name] = {"osteophyte_mm": max(0.0, reach)}
    return measured


# ----- acquisition ------------------------------------------------------------------------------------------
@dataclass
class _Acquisition:
    shape_kji: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_lps: np.ndarray
    direction_lps: np.ndarray
    thickness_mm: float

    def corners_lps(self) -> np.ndarray:
        corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=float)
        extent = (np.array(self.shape_kji[::-1]) - 1) * np.array(self.spacing_mm)
        offsets = np.array([-0.5 * self.thickness_mm * (c * 2 - 1) for c in corners[:, 2]])
        points = self.origin_lps + (corners * extent) @ self.direction_lps.T
        return points + offsets[:, None] * self.direction_lps[:, 2]


def _sample_codes(acquisition: _Acquisition, source, field_transform, to_anatomy, n_sub: int = 3) -> list[np.ndarray]:
    """Painted codes (label * 32 + class) at ``n_sub`` sub-slices through each thick slice (nearest neighbour)."""
    import SimpleITK as sitk

    rotation, translation = to_anatomy
    direction = rotation @ acquisition.direction_lps
    results = []
    for m in range(n_sub):
        shift = (m - (n_sub - 1) / 2) * acquisition.thickness_mm / n_sub
        origin_lps = acquisition.origin_lps + shift * acquisition.direction_lps[:, 2]
        origin = rotation @ origin_lps + translation
        resampled = sitk.Resample(
            source,
            [int(v) for v in acquisition.shape_kji[::-1]],
            field_transform,
            sitk.sitkNearestNeighbor,
            tuple(float(v) for v in origin),
            tuple(float(v) for v in acquisition.spacing_mm),
            tuple(float(v) for v in direction.flatten()),
            0,
            sitk.sitkUInt16,
        )
        results.append(sitk.GetArrayViewFromImage(resampled).copy())
    return results


def _bias_field(shape_kji: Sequence[int], spacing_mm: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """A smooth multiplicative-field exponent (float32, about unit amplitude): a few random low-frequency waves."""
    axes = [(np.arange(n, dtype=np.float32) - (n - 1) / 2) * s for n, s in zip(shape_kji, spacing_mm[::-1])]
    result = np.zeros(tuple(shape_kji), np.float32)
    for _ in range(4):
        frequency = rng.normal(0.0, 1.0 / 250.0, 3)
        phase = rng.uniform(0, 2 * np.pi)
        result += np.cos(
            2
            * np.pi
            * (
                frequency[0] * axes[0][:, None, None]
                + frequency[1] * axes[1][None, :, None]
                + frequency[2] * axes[2][None, None, :]
            )
            + phase
        ).astype(np.float32)
    return result / 2.0


def _render(
    codes: list[np.ndarray],
    means: np.ndarray,
    acquisition: _Acquisition,
    rng: np.random.Generator,
    description: str,
    seed: int,
) -> tuple[Image, dict[str, float]]:
    """Intensities of one contrast: per-class means averaged over the sub-slices, blur, bias, noise, gamma."""
    from scipy import ndimage

    lut = means.astype(np.float32)
    volume = sum(lut[c & 31] for c in codes) / np.float32(len(codes))
    blur = rng.uniform(0.3, 0.7)
    volume = ndimage.gaussian_filter(volume, (0.0, blur, blur), truncate=3.0)
    bias_strength = rng.uniform(0.05, 0.3)
    volume *= np.exp(bias_strength * _bias_field(volume.shape, acquisition.spacing_mm, rng))
    noise = rng.uniform(0.01, 0.04)
    real = volume + rng.standard_normal(volume.shape, dtype=np.float32) * np.float32(noise)
    imaginary = rng.standard_normal(volume.shape, dtype=np.float32) * np.float32(noise)
    volume = np.sqrt(real * real + imaginary * imaginary)
    gamma = float(np.exp(rng.normal(0.0, 0.1)))
    scale = float(np.exp(rng.uniform(np.log(100.0), np.log(3000.0))))
    volume = (np.clip(volume, 0, None) ** gamma * scale).astype(np.float32)
    extra = {"slice_thickness_mm": round(acquisition.thickness_mm, 3)}
    image = Image(
        volume,
        acquisition.spacing_mm,
        tuple(acquisition.origin_lps),
        acquisition.direction_lps,
        ImageMetadata(patient_id=f"spine-phantom-{seed}", series_description=description, modality="MR", extra=extra),
    )
    parameters = {
        "blur_voxels": round(blur, 3),
        "bias_strength": round(bias_strength, 3),
        "noise": round(noise, 4),
        "gamma": round(gamma, 3),
        "scale": round(scale, 1),
    }
    return image, parameters


def _rotation(angles_deg: Sequence[float]) -> np.ndarray:
    a, b, c = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _check_spacing(spacing: Sequence[float] | None) -> tuple[float, float, float] | None:
    if spacing is None:
        return None
    values = tuple(float(v) for v in spacing)
    if (
        len(values) != 3
        or not all(np.isfinite(v) for v in values)
        or not (min(values[:2]) >= 0.3 and max(values[:2]) <= 2.0 and 1.0 <= values[2] <= 6.0)
    ):
        raise InputError(
            f"Sagittal spacing {spacing!r} mm is not usable.",
            "Give (i, j, k) with in-plane 0.3-2 mm and slices 1-6 mm, e.g. (0.8, 0.8, 3.0).",
        )
    return values  # type: ignore[return-value]


# ----- the generator ----------------------------------------------------------------------------------------
def generate_spine_phantom(
    seed: int,
    *,
    sagittal_spacing_mm: Sequence[float] | None = None,
    with_t1: bool = True,
    with_axial: bool = True,
    findings: Mapping[str, Mapping[str, Any]] | None = None,
    cut_c2: bool | None = None,
    pose: bool = True,
    max_rotation_deg: float = 5.0,
    max_translation_mm: float = 10.0,
) -> SpinePhantom:
    """One synthetic cervical-spine MRI case, the same for the same arguments.

    :param seed: seeds ``numpy.random.default_rng``; everything random is drawn from it.
    :param sagittal_spacing_mm: (i, j, k) of the sagittal grid: in-plane (AP, SI) and slice spacing; None draws
        in-plane 0.7-1.0 mm and 3-4 mm slices (thickness = spacing, or 90 % of it with a gap).
    :param with_t1: also render sagittal T1 (same grid as T2).
    :param with_axial: render oblique axial T2 blocks, one per visible cervical disc (C2/3..C6/7, C7/T1 half the
        time), 3-4 thick slices each, 3-4 mm thick, 0.5-0.75 mm in plane.
    :param findings: force findings, by disc level (``{"C5/6": {"herniation": "central", "depth_mm": 4.0,
        "listhesis_grade": 1, "listhesis_direction": "anterior", "pll_mm": 4.0, "lf_mm": 1.2,
        "degenerated": True}}``, keys of :data:`FINDING_LEVELS`) or by vertebra C2..T1 (``{"C5":
        {"osteophyte_mm": 3.0, "osteophyte_site": "anterior-inferior"}}``). Everything else is drawn as usual.
    :param cut_c2: place the top of the sagittal field of view below the C2 body centre (first visible vertebra
        C3); None draws it (15 %).
    :param pose: random patient rotation (up to ``max_rotation_deg`` per axis) and shift (``max_translation_mm``).
    :returns: a :class:`SpinePhantom`; arrays (k, j, i), geometry in LPS.
    """
    import SimpleITK as sitk

    spacing = _check_spacing(sagittal_spacing_mm)
    forced = _check_findings(findings)
    rng = np.random.default_rng(seed)
    plan = _plan(rng, forced)
    bodies, discs = plan["bodies"], plan["discs"]
    plan["neck"] = (rng.uniform(10.0, 20.0), rng.uniform(62.0, 72.0), rng.uniform(50.0, 60.0))
    plan["fat_mm"] = rng.uniform(3.0, 9.0)
    plan["airway_gap"] = rng.uniform(14.0, 22.0)
    plan["cortex_mm"] = rng.uniform(0.8, 1.4)

    # curvature: lordotic, straightened or kyphotic, varying along the neck; thoracic kyphosis below C7/T1
    shape = str(rng.choice(["lordotic", "straight", "kyphotic"], p=[0.6, 0.25, 0.15]))
    angle_range = {"lordotic": (10.0, 40.0), "straight": (-5.0, 8.0), "kyphotic": (-25.0, -5.0)}[shape]
    angle_deg = rng.uniform(*angle_range)
    h_c2, h_c7 = bodies["C2"]["bottom"], bodies["C7"]["bottom"]
    kappa_mean = np.deg2rad(angle_deg) / (h_c2 - h_c7)
    variation = rng.uniform(-0.7, 0.7)
    kappa_thoracic = -rng.uniform(0.002, 0.006)
    h_low, h_high = plan["bottom"] - 10.0, 30.0

    def curvature(h: np.ndarray) -> np.ndarray:
        cervical = kappa_mean * (1 + variation * (h - 0.5 * (h_c2 + h_c7)) / (0.5 * (h_c2 - h_c7)))
        kappa = np.where(h < discs["C7/T1"]["center"], kappa_thoracic, cervical)
        kappa = np.where((h < h_low) | (h > h_high), 0.0, kappa)
        return np.clip(kappa, -_MAX_CURVATURE, _MAX_CURVATURE)

    tilt = np.deg2rad(rng.uniform(-8.0, 8.0))
    curve = _make_curve(curvature, h_low - 200.0, h_high + 200.0, 0.5 * (h_c2 + h_c7), tilt)
    measured_angle = float(
        np.rad2deg(
            np.arctan2(curve.at(h_c2)[1][0], curve.at(h_c2)[1][1])
            - np.arctan2(curve.at(h_c7)[1][0], curve.at(h_c7)[1][1])
        )
    )

    # listhesis: everything above a slipped segment shifts along p, ramped through the disc
    segments = [(d["bottom"], d["top"], d["offset_mm"]) for d in discs.values() if d["offset_mm"] != 0.0]

    def offset_of_h(h: np.ndarray) -> np.ndarray:
        total = np.zeros_like(h, dtype=np.float64)
        for bottom, top, offset in segments:
            total += offset * np.clip((h - bottom) / (top - bottom), 0.0, 1.0)
        return total

    world = _World((h_low, h_high), offset_of_h)
    _paint_world(plan, world)
    measured = _measure(plan, world)

    # pose: anatomy frame -> LPS, about the C4 body
    angles = rng.uniform(-max_rotation_deg, max_rotation_deg, 3) if pose else np.zeros(3)
    shift = rng.uniform(-max_translation_mm, max_translation_mm, 3) if pose else np.zeros(3)
    rotation = _rotation(angles)
    c4 = bodies["C4"]
    pivot = curve.to_anatomy(0.0, -c4["depth"] / 2, 0.5 * (c4["top"] + c4["bottom"]))

    def to_lps(x: float, p: float, h: float) -> np.ndarray:
        return rotation @ (curve.to_anatomy(x, p + float(offset_of_h(np.array([h]))[0]), h) - pivot) + (
            _SCANNER_OFFSET_LPS + shift
        )

    def direction_to_lps(yz: np.ndarray) -> np.ndarray:
        return rotation @ np.array([0.0, yz[0], yz[1]])

    to_anatomy = (rotation.T, pivot - rotation.T @ (_SCANNER_OFFSET_LPS + shift))

    # sagittal acquisition
    drawn_in_plane = rng.uniform(0.7, 1.0)
    drawn_slice = rng.uniform(3.0, 4.0)
    gap = bool(rng.random() < 0.4)
    spacing = spacing or (drawn_in_plane, drawn_in_plane, drawn_slice)
    thickness = spacing[2] * (0.9 if gap else 1.0)
    n_slices = int(rng.integers(11, 16))
    fov = rng.uniform(200.0, 260.0)
    drawn_cut = bool(rng.random() < 0.15)
    cut_c2 = drawn_cut if cut_c2 is None else bool(cut_c2)
    c2_mid = 0.5 * (bodies["C2"]["top"] + bodies["C2"]["bottom"])
    below_c2_centre, top_h = rng.uniform(2.0, 6.0), rng.uniform(15.0, 55.0)
    lateral_error, ap_error = rng.uniform(-1.5, 1.5), rng.uniform(-10.0, 10.0)
    # S of the first row: above the skull base, or (cut) just below the C2 body centre
    top_s = to_lps(0.0, -bodies["C2"]["depth"] / 2, c2_mid)[2] - below_c2_centre if cut_c2 else to_lps(0, 0, top_h)[2]
    centre = to_lps(0.0, 8.0, 0.5 * (bodies["C3"]["top"] + bodies["C7"]["bottom"]))
    sag_direction = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    size_i = round(fov / spacing[0])
    size_j = round(fov / spacing[1])
    origin = np.array(
        [
            centre[0] + lateral_error + (n_slices - 1) / 2 * spacing[2],  # k runs towards the right (-L)
            centre[1] + ap_error - (size_i - 1) / 2 * spacing[0],
            top_s,
        ]
    )
    sagittal = _Acquisition((n_slices, size_j, size_i), spacing, origin, sag_direction, thickness)

    # axial blocks through the cervical discs inside the sagittal field of view
    sagittal_image_geometry = Image(np.zeros((1, 1, 1), np.uint8), spacing, tuple(origin), sag_direction)

    def inside_sagittal(point: np.ndarray) -> bool:
        index = sagittal_image_geometry.lps_to_index(point)[0]
        return bool(np.all(index >= -0.5) and np.all(index <= np.array(sagittal.shape_kji[::-1]) - 0.5))

    disc_geometry = {}
    for name, disc in discs.items():
        center = to_lps(0.0, -disc["depth"] / 2, disc["center"])
        _point, up, post = curve.at(disc["center"])
        disc_geometry[name] = (center, direction_to_lps(up), direction_to_lps(post))
    include_c7_t1 = bool(rng.random() < 0.5)
    axial_plans = []
    axial_parameters = {
        "in_plane_mm": rng.uniform(0.5, 0.75),
        "thickness_mm": rng.uniform(3.0, 4.0),
        "n_slices": int(rng.integers(3, 5)),
        "fov_mm": rng.uniform(120.0, 160.0),
    }
    for name in (*DISCS[:5], *(("C7/T1",) if include_c7_t1 else ())):
        center, normal, _post = disc_geometry[name]
        tilt = _rotation(rng.uniform(-2.5, 2.5, 3))
        along = rng.uniform(-0.6, 0.6)
        in_plane_shift = rng.uniform(-4.0, 4.0, 2)
        if not (with_axial and inside_sagittal(center)):
            continue
        k_axis = tilt @ normal
        k_axis /= np.linalg.norm(k_axis)
        i_axis = np.array([1.0, 0.0, 0.0]) - k_axis[0] * k_axis
        i_axis /= np.linalg.norm(i_axis)
        j_axis = np.cross(k_axis, i_axis)
        direction = np.stack([i_axis, j_axis, k_axis], axis=1)
        pixel, n = axial_parameters["in_plane_mm"], axial_parameters["n_slices"]
        size = round(axial_parameters["fov_mm"] / pixel)
        block_spacing = (pixel, pixel, axial_parameters["thickness_mm"])
        block_centre = center + along * k_axis + direction[:, :2] @ in_plane_shift + 10.0 * j_axis
        block_origin = block_centre - direction @ (np.array(block_spacing) * (np.array([size, size, n]) - 1) / 2)
        axial_plans.append(
            (
                name,
                _Acquisition((n, size, size), block_spacing, block_origin, direction, axial_parameters["thickness_mm"]),
            )
        )

    # displacement field: anatomy frame (X, Y, Z) -> straightened (x, p, h), over every grid's extent
    corners = np.concatenate([sagittal.corners_lps()] + [a.corners_lps() for _n, a in axial_plans])
    corners_anatomy = corners @ to_anatomy[0].T + to_anatomy[1]
    field_step = 1.0
    low, high = corners_anatomy.min(0) - 5.0, corners_anatomy.max(0) + 5.0
    ys = np.arange(low[1], high[1] + field_step, field_step)
    zs = np.arange(low[2], high[2] + field_step, field_step)
    yy, zz = np.meshgrid(ys, zs)  # (z, y)
    p_map, h_map = curve.straighten(np.stack([yy.ravel(), zz.ravel()], axis=1))
    plane = np.zeros((len(zs), len(ys), 3))
    plane[..., 1] = p_map.reshape(yy.shape) - yy
    plane[..., 2] = h_map.reshape(yy.shape) - zz
    displacement = np.repeat(plane[:, :, None, :], 2, axis=2)  # (z, y, x = 2 samples, 3): constant along X
    field_image = sitk.GetImageFromArray(displacement, isVector=True)  # (z, y, x, 3) -> size (x=2, y, z)
    x_span = max(abs(low[0]), abs(high[0])) + 10.0
    field_image.SetOrigin((-x_span, float(ys[0]), float(zs[0])))
    field_image.SetSpacing((2 * x_span, field_step, field_step))
    field_transform = sitk.DisplacementFieldTransform(field_image)

    codes = world.labels.astype(np.uint16) << _CODE_SHIFT | world.classes
    source = sitk.GetImageFromArray(codes)
    source.SetSpacing(_WORLD_SPACING)
    source.SetOrigin((float(world.x[0]), float(world.p[0]), float(world.h[0])))
    del codes

    # intensities: one mean per class and contrast for this sample
    means = {}
    for column, contrast in enumerate(("t1", "t2")):
        ranges = [_MEAN_RANGES[k][column] for k in range(len(_MEAN_RANGES))]
        means[contrast] = np.array(
            [rng.uniform(max(0.0, low - _JITTER), high + _JITTER) if high > 0 else 0.0 for low, high in ranges]
        )
    sag_codes = _sample_codes(sagittal, source, field_transform, to_anatomy)
    sag_labels = (sag_codes[len(sag_codes) // 2] >> _CODE_SHIFT).astype(np.uint8)
    sag_t2, t2_parameters = _render(sag_codes, means["t2"], sagittal, rng, "sag T2", seed)
    t1_drawn = _render(sag_codes, means["t1"], sagittal, rng, "sag T1", seed)
    sag_t1, t1_parameters = t1_drawn if with_t1 else (None, None)
    labels_image = sag_t2.with_array(sag_labels, series_description="sag labels")
    blocks, label_blocks, block_levels = [], [], []
    block_parameters = []
    for name, acquisition in axial_plans:
        block_codes = _sample_codes(acquisition, source, field_transform, to_anatomy)
        image, parameters = _render(block_codes, means["t2"], acquisition, rng, f"ax T2 {name}", seed)
        blocks.append(image)
        label_blocks.append(
            image.with_array(
                (block_codes[len(block_codes) // 2] >> _CODE_SHIFT).astype(np.uint8),
                series_description=f"ax labels {name}",
            )
        )
        block_levels.append(name)
        block_parameters.append(parameters)

    # ground truth
    vertebrae = []
    for name in VERTEBRAE:
        if name == "C1":
            c2 = bodies["C2"]
            arch_h = c2["top"] + 0.55 * (0.0 - c2["top"])
            center = to_lps(0.0, -0.5 * c2["depth"] - 0.33 * c2["depth"] - 5.0, arch_h)
            vertebrae.append(
                SpineVertebra(name, LABEL_OF[name], _round(center), 0.0, 0.0, 0.0, visible=inside_sagittal(center))
            )
            continue
        body = bodies[name]
        center = to_lps(0.0, -body["depth"] / 2, 0.5 * (body["top"] + body["bottom"]))
        size = round(measured[name]["osteophyte_mm"], 2)
        vertebrae.append(
            SpineVertebra(
                name,
                LABEL_OF[name],
                _round(center),
                round(body["depth"], 2),
                round(body["width"], 2),
                round(body["height"], 2),
                size > 0,
                size,
                body["osteophyte_site"] if size > 0 else None,
                inside_sagittal(center),
            )
        )
    levels = []
    for name, disc in discs.items():
        center, normal, post = disc_geometry[name]
        values = measured[name]
        offset = values["offset_mm"]
        fraction = abs(offset) / bodies[disc["lower"]]["depth"]
        grade = 0 if abs(offset) < 1.0 else int(np.clip(np.ceil(fraction * 4.0), 1, 4))
        levels.append(
            SpineLevel(
                name,
                disc["upper"],
                disc["lower"],
                LABEL_OF[name],
                _round(center),
                _round(normal, 5),
                _round(post, 5),
                round(disc["height"], 2),
                disc["degenerated"],
                disc["herniation"],
                disc["side"],
                round(values["protrusion_mm"], 2),
                grade,
                ("anterior" if offset < 0 else "posterior") if grade else None,
                round(abs(offset), 2),
                round(values["pll_mm"], 2),
                round(values["lf_mm"], 2),
                values["pll_mm"] > 2.0,
                values["lf_mm"] > 2.0,
                inside_sagittal(center),
                block_levels.index(name) if name in block_levels else None,
            )
        )
    visible_bodies = [v.name for v in vertebrae[1:] if v.visible]
    parameters = {
        "curvature": shape,
        "lordosis_drawn_deg": round(float(angle_deg), 2),
        "lordosis_c2_c7_deg": round(measured_angle, 2),
        "curvature_variation": round(float(variation), 3),
        "rotation_deg": [round(float(a), 3) for a in angles],
        "translation_mm": [round(float(t), 3) for t in shift],
        "sagittal": {
            "spacing_mm": list(spacing),
            "thickness_mm": round(thickness, 3),
            "n_slices": n_slices,
            "fov_mm": round(fov, 1),
            "cut_c2": cut_c2,
            "t2": t2_parameters,
            "t1": t1_parameters,
        },
        "axial": {**{k: round(float(v), 3) for k, v in axial_parameters.items()}, "blocks": block_parameters},
        "canal": {k: round(float(v), 3) for k, v in plan["canal"].items()},
        "means_t1": [round(float(v), 3) for v in means["t1"]],
        "means_t2": [round(float(v), 3) for v in means["t2"]],
    }
    return SpinePhantom(
        sag_t2,
        sag_t1,
        labels_image,
        blocks,
        label_blocks,
        block_levels,
        vertebrae,
        levels,
        visible_bodies[0] if visible_bodies else None,
        int(seed),
        parameters,
    )


def _round(values: np.ndarray, digits: int = 3) -> list[float]:
    return [round(float(v), digits) for v in values]


# ----- output -------------------------------------------------------------------------------------------------
def write_spine_phantom_case(phantom: SpinePhantom, folder: str | os.PathLike[str], case_id: str) -> dict[str, Path]:
    """Write the case as NIfTI plus a truth JSON, each file atomically.

    Files: ``<case_id>_sag_t2.nii.gz``, ``<case_id>_sag_t1.nii.gz`` (when rendered), ``<case_id>_sag_labels.nii.gz``,
    ``<case_id>_ax_t2_block<N>.nii.gz`` and ``<case_id>_ax_labels_block<N>.nii.gz`` per axial block, and
    ``<case_id>_truth.json`` (:meth:`SpinePhantom.truth`).

    :returns: role (``sag_t2``, ``sag_t1``, ``sag_labels``, ``ax_t2_block0``, ``ax_labels_block0``, ..., ``truth``)
        -> path.
    """
    from ..atomic import write_text_atomic
    from ..image_io import write_image

    folder = Path(folder)
    images = {"sag_t2": phantom.sagittal_t2, "sag_t1": phantom.sagittal_t1, "sag_labels": phantom.sagittal_labels}
    for n, (block, labels) in enumerate(zip(phantom.axial_t2_blocks, phantom.axial_label_blocks)):
        images[f"ax_t2_block{n}"] = block
        images[f"ax_labels_block{n}"] = labels
    paths = {}
    for role, image in images.items():
        if image is not None:
            paths[role] = write_image(image, folder / f"{case_id}_{role}.nii.gz")
    truth = {"case_id": case_id, **phantom.truth(), "files": {role: path.name for role, path in paths.items()}}
    paths["truth"] = write_text_atomic(folder / f"{case_id}_truth.json", json.dumps(truth, indent=1) + "\n")
    return paths


def render_spine_phantom_montage(
    phantoms: Sequence[SpinePhantom], path: str | os.PathLike[str], upscale: int = 1
) -> Path:
    """A PNG with one row per phantom: mid-sagittal T2, T1, T2 with labels, then each axial block's middle
    slice with labels (captions name the seed, the first visible vertebra and the block's disc). Written
    atomically."""
    from PIL import ImageDraw

    from ..pictures import render_slice, save_png, tile_grid

    rows = []
    for phantom in phantoms:
        k = phantom.sagittal_t2.shape_kji[0] // 2
        labels = phantom.sagittal_labels.array_kji
        tiles = [render_slice(phantom.sagittal_t2, k, upscale=upscale)]
        if phantom.sagittal_t1 is not None:
            tiles.append(render_slice(phantom.sagittal_t1, k, upscale=upscale))
        tiles.append(
            render_slice(
                phantom.sagittal_t2,
                k,
                label_plane_ji=labels[k],
                label_colors_rgb=LABEL_COLORS_RGB,
                label_opacity=0.45,
                upscale=upscale,
            )
        )
        ImageDraw.Draw(tiles[0]).text(
            (3, 3), f"seed {phantom.seed} top {phantom.first_visible_vertebra}", fill=(255, 255, 0)
        )
        for block, block_labels, name in zip(
            phantom.axial_t2_blocks, phantom.axial_label_blocks, phantom.axial_block_levels
        ):
            middle = block.shape_kji[0] // 2
            tile = render_slice(
                block,
                middle,
                label_plane_ji=block_labels.array_kji[middle],
                label_colors_rgb=LABEL_COLORS_RGB,
                label_opacity=0.3,
                upscale=upscale,
            )
            level = phantom.level(name)
            caption = f"{name} {level.herniation}{' ' + level.side if level.side else ''}"
            ImageDraw.Draw(tile).text((3, 3), caption, fill=(0, 255, 0))
            tiles.append(tile)
        rows.append(tiles)
    return save_png(tile_grid(rows), path)
