"""Synthetic breast-ultrasound sweeps (B-mode cine of a linear probe) with per-frame lesion boxes.

Made for training and checking the per-frame lesion detector of BreastUSAssist: a probe sweeps across a 3D
breast phantom and each frame is the B-mode image of the plane it insonates. The phantom holds what the study's
readers see and what fools detectors: skin, subcutaneous fat lobules crossed by Cooper ligaments, heterogeneous
fibroglandular tissue with a wavy, scalloped surface and fat islands (hypoechoic, mass-like), the pectoralis
muscle (striated), and in some sweeps ribs in cross-section (bright curved surface, hypoechoic cartilage or bone,
dark acoustic shadow beneath: the classic false positive), the pleura below them. Lesions follow the BI-RADS
ultrasound lexicon (shape, margin, orientation, internal echo, posterior features); some are small and of low
contrast (the typical misses).

**Geometry.** World coordinates in millimetres: ``x`` lateral (0 at the left edge of the field when the probe is
not shifted), ``y`` depth below the skin, ``z`` elevation (the sweep direction, 0 at the first frame). Frame
``t`` samples the plane ``z = z_t + a_t (y - depth/2) + b_t (x - width/2)`` shifted laterally by ``shift_t``:
the probe moves by about ``elevation_step_mm`` per frame, drifts laterally by up to ~1.5 mm and tilts by a few
degrees over the sweep. Frames are ``(T, H, W)``: row 0 is the skin, column 0 the left of the image; pixel
``(x, y)`` (column, row) covers ``[x, x+1) x [y, y+1)`` pixel edges, its centre lies at ``((x + 0.5) s +
shift_t, (y + 0.5) s)`` mm with ``s = pixel_spacing_mm``.

**Tissue.** Every tissue field is evaluated on the frame's plane only (no 3D voxel volume): layer interfaces
and textures are Gaussian random fields written as sums of random 3D plane waves, which on a plane factor into
a small matrix product; lesions are 3D ellipsoids whose surface is modulated by harmonics on the sphere
(irregular, microlobulated), pointed cones (angular) or thin cones (spicules); ribs are elliptic cylinders
running roughly along the sweep. Adjacent frames therefore see the same anatomy a step apart: a lesion appears,
grows and shrinks over a run of consecutive frames.

**Echo formation.** The echogenicity map (amplitude, fibroglandular tissue = 1) is multiplied by fully developed
speckle (the magnitude of complex Gaussian noise smoothed more laterally than axially, Rayleigh distributed). The
speckle field lives on a canvas fixed in the tissue, so it moves with the probe, and decorrelates gradually from
frame to frame (an autoregressive mix with fresh speckle, the weight set by the elevation step). Excess
attenuation of lesions and ribs accumulates with depth (posterior shadowing, or enhancement behind cysts), an
electronic noise floor rises with depth (time-gain compensation amplifies it), the residual of an imperfect TGC,
a focal-zone gain and a per-sweep overall gain are added in dB, and log compression over a random dynamic range
maps the echo to display grey 0..1 (float32).

**Truth.** For each frame, each lesion whose cross-section (the hard mask ``inside the modulated surface``)
covers at least :data:`MIN_BOX_PIXELS` pixels gets its bounding box in pixel-edge coordinates ``x0, y0, x1, y1``;
rib cross-sections get theirs in ``rib_boxes_xy`` (confounders, not lesions). Lesion ``contrast`` is the ratio of
the lesion's mean echo amplitude to that of fibroglandular tissue, before log compression (``0.8`` is about
-2 dB, a faint lesion; cysts are near 0.05).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..breastus.cine import frames_to_uint8
from ..errors import InputError

#: a lesion (or rib) cross-section is boxed on a frame once its mask covers this many pixels
MIN_BOX_PIXELS = 6
#: SOP class of the cine written by :func:`write_sweep_case` (Ultrasound Multi-frame Image Storage)
US_MULTIFRAME_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.3.1"
#: BI-RADS values used in the ``lesions`` descriptions
LESION_VALUES: dict[str, tuple[str, ...]] = {
    "shape": ("oval", "round", "irregular"),
    "margin": ("circumscribed", "indistinct", "microlobulated", "spiculated", "angular"),
    "orientation": ("parallel", "not_parallel"),
    "posterior_features": ("none", "enhancement", "shadowing", "mixed"),
    "internal_echo": ("anechoic", "hypoechoic", "isoechoic", "heterogeneous"),
}
# layer depths are drawn for a 38.4 mm deep field (256 rows of 0.15 mm) and scaled with the field's depth
_REFERENCE_DEPTH_MM = 38.4
# ribs (with their shadow and the pleura) fit only in fields at least this deep
_MIN_RIB_DEPTH_MM = 15.0
# lesion kinds and how often they are drawn
_KINDS = ("cyst", "benign_solid", "malignant_like", "small_low_contrast")
_KIND_P = (0.2, 0.3, 0.3, 0.2)


@dataclass
class UltrasoundSweep:
    """One synthetic B-mode sweep and its truth.

    ``frames``: (T, H, W) float32 display grey in 0..1; row 0 is the skin (top), column 0 the left.
    ``boxes_xy``: per frame, (N_t, 4) float32 ``x0, y0, x1, y1`` in pixel-edge coordinates (pixel ``(x, y)``
    spans ``x..x+1``, ``y..y+1``) of each visible lesion cross-section. ``lesion_ids``: per frame, (N_t,) int64
    indices into ``lesions``. ``lesions``: one dict per lesion (``id``, ``centre_mm`` [x, depth, elevation] in
    world mm, ``radii_mm`` [3] semi-axes before rotation, ``shape``, ``margin``, ``orientation``,
    ``posterior_features``, ``internal_echo``, ``contrast``, ``small_low_contrast``, plus ``kind``,
    ``rotation_deg`` and ``frames``, the frames where it is boxed). ``rib_boxes_xy``: per frame, (R_t, 4)
    float32 boxes of rib cross-sections. ``pixel_spacing_mm``: isotropic in-plane pixel size;
    ``frame_time_ms``: time between frames; ``elevation_step_mm``: mean probe motion between frames.
    """

    frames: np.ndarray
    boxes_xy: list[np.ndarray]
    lesion_ids: list[np.ndarray]
    lesions: list[dict]
    rib_boxes_xy: list[np.ndarray]
    pixel_spacing_mm: float
    frame_time_ms: float
    elevation_step_mm: float
    seed: int
    description: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    def frames_with_lesion(self) -> list[int]:
        """Indices of the frames that hold at least one lesion box."""
        return [t for t, boxes in enumerate(self.boxes_xy) if len(boxes)]


# ---------------------------------------------------------------------------------------------------------------
# random fields


@dataclass(frozen=True)
class _Waves:
    """A unit-variance Gaussian random field ``sqrt(2/K) sum_k cos(k . p + phase_k)`` of points ``p`` (mm).

    Wave vectors drawn with components ``N(0, 1/L_i^2)`` give a Gaussian covariance of correlation lengths
    ``L = (L_x, L_y, L_z)`` mm (``inf``: constant along that axis).
    """

    k: np.ndarray  # (K, 3) rad/mm, components (x, y, z)
    phase: np.ndarray  # (K,)

    @classmethod
    def draw(cls, rng: np.random.Generator, lengths_mm: tuple[float, float, float], n: int = 48) -> _Waves:
        k = rng.normal(0.0, 1.0, (n, 3)) / np.asarray(lengths_mm, dtype=float)
        return cls(k, rng.uniform(0.0, 2.0 * np.pi, n))

    def on_plane(self, x: np.ndarray, y: np.ndarray, plane: _Plane) -> np.ndarray:
        """The field on the frame plane at columns ``x`` (W,) and rows ``y`` (H,) mm: (H, W) float32.

        On the plane ``z = z0 + a (y - y_mid) + b (x - x_mid)`` every wave's phase splits into a row part and
        a column part, so the sum is one (H, 2K) @ (2K, W) product.
        """
        kx, ky, kz = self.k.T
        rows = np.outer(y, ky + kz * plane.a) + (
            kz * (plane.z0 - plane.a * plane.y_mid - plane.b * plane.x_mid) + self.phase
        )
        columns = np.outer(x, kx + kz * plane.b)
        left = np.concatenate([np.cos(rows), -np.sin(rows)], axis=1).astype(np.float32)
        left *= np.float32(np.sqrt(2.0 / len(self.phase)))
        right = np.ascontiguousarray(np.concatenate([np.cos(columns), np.sin(columns)], axis=1).T, np.float32)
        out = np.empty((len(y), len(x)), np.float32)
        # small blocks of rows keep OpenBLAS single-threaded: threaded small products stall on a busy machine
        block = max(1, 200_000 // (right.shape[0] * right.shape[1]))
        for start in range(0, len(y), block):
            np.matmul(left[start : start + block], right, out=out[start : start + block])
        return out

    def at(self, x: np.ndarray, y: np.ndarray | float, z: np.ndarray) -> np.ndarray:
        """The field at points (x, y, z) mm (broadcast together), float64."""
        x, y, z = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float), np.asarray(z, float))
        phases = x[..., None] * self.k[:, 0] + y[..., None] * self.k[:, 1] + z[..., None] * self.k[:, 2]
        return np.sqrt(2.0 / len(self.phase)) * np.cos(phases + self.phase).sum(axis=-1)


@dataclass(frozen=True)
class _Plane:
    """Frame ``t``'s imaging plane: ``z = z0 + a (y - y_mid) + b (x - x_mid)`` (mm), probe shifted by ``shift``."""

    z0: float
    a: float
    b: float
    x_mid: float
    y_mid: float
    shift: float

    def z(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.z0 + self.a * (y - self.y_mid) + self.b * (x - self.x_mid)


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * values)


# ---------------------------------------------------------------------------------------------------------------
# lesions


@dataclass
class _Lesion:
    info: dict  # public description (JSON-ready, without the frames yet)
    centre: np.ndarray  # (3,) mm
    radii: np.ndarray  # (3,) mm, semi-axes of the ellipsoid in its own frame
    rotation: np.ndarray  # (3, 3): columns are the lesion's axes in world coordinates
    harmonics: list[tuple[np.ndarray, float, float, float]]  # (direction, frequency, phase, weight)
    protrusions: list[tuple[np.ndarray, float, float]]  # (direction, length, angular half-width rad)
    g_max: float  # the surface lies within (1 + g_max) of the ellipsoid's normalised radius
    edge_mm: float  # width of the soft edge (sharp: circumscribed, wide: indistinct)
    echo: float  # mean amplitude, fibroglandular tissue = 1
    heterogeneity: float  # log-amplitude standard deviation of the internal texture
    texture: _Waves
    attenuation_db: float  # extra attenuation through the lesion's depth (negative: enhancement)
    mixed: bool  # shadowing on one side, enhancement on the other
    halo: tuple[float, float] | None  # echogenic rim outside: (amplitude, width mm)
    edge_shadow_db_mm: float  # refraction shadows under the lateral edges (cysts)

    def half_extent(self) -> np.ndarray:
        """Half size (3,) mm of the box holding the lesion, whatever its surface modulation."""
        return np.sqrt(((self.rotation * self.radii) ** 2).sum(axis=1)) * (1.0 + self.g_max)


def _unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.normal(size=(n, 3))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _rotation(theta: float, psi: float) -> np.ndarray:
    """In-plane tilt ``theta`` (about z) after a turn ``psi`` about the depth axis y (radians)."""
    c, s = np.cos(theta), np.sin(theta)
    rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    c, s = np.cos(psi), np.sin(psi)
    ry = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return rz @ ry


def _choice(rng: np.random.Generator, options: dict[str, float]) -> str:
    names = list(options)
    weights = np.asarray([options[name] for name in names], dtype=float)
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def _draw_lesion(rng: np.random.Generator, kind: str, lesion_id: int, fat_echo: float) -> _Lesion:
    """Descriptors, size and surface of one lesion (position set later by :func:`_place_lesions`).

    Echo patterns follow BI-RADS, relative to subcutaneous fat (``fat_echo``, glandular tissue = 1): hypoechoic
    is darker than fat, isoechoic about as bright; ``contrast`` is recorded against glandular tissue, the lesion's
    usual surroundings. Small low-contrast lesions sit at 0.7-0.85 of the glandular echo.
    """
    small = kind == "small_low_contrast"
    if kind == "cyst":
        shape = _choice(rng, {"oval": 0.6, "round": 0.4})
        margin = "circumscribed"
        internal = "anechoic"
        posterior = _choice(rng, {"enhancement": 0.7, "none": 0.3})
        contrast = rng.uniform(0.01, 0.04)
    elif kind == "benign_solid":
        shape = _choice(rng, {"oval": 0.8, "round": 0.2})
        margin = _choice(rng, {"circumscribed": 0.7, "microlobulated": 0.15, "indistinct": 0.15})
        internal = _choice(rng, {"hypoechoic": 0.75, "isoechoic": 0.15, "heterogeneous": 0.1})
        posterior = _choice(rng, {"none": 0.6, "enhancement": 0.3, "shadowing": 0.1})
        contrast = {"hypoechoic": (0.35, 0.75), "isoechoic": (0.9, 1.15), "heterogeneous": (0.5, 0.9)}[internal]
        contrast = fat_echo * rng.uniform(*contrast)
    elif kind == "malignant_like":
        shape = _choice(rng, {"irregular": 0.75, "oval": 0.1, "round": 0.15})
        margin = _choice(rng, {"spiculated": 0.3, "angular": 0.2, "indistinct": 0.25, "microlobulated": 0.25})
        shape = "irregular" if margin in ("spiculated", "angular") else shape
        internal = _choice(rng, {"hypoechoic": 0.6, "heterogeneous": 0.4})
        posterior = _choice(rng, {"shadowing": 0.5, "none": 0.25, "mixed": 0.15, "enhancement": 0.1})
        contrast = fat_echo * rng.uniform(0.3, 0.8 if internal == "hypoechoic" else 1.0)
    else:
        shape = _choice(rng, {"oval": 0.45, "round": 0.3, "irregular": 0.25})
        margin = _choice(rng, {"indistinct": 0.5, "circumscribed": 0.3, "microlobulated": 0.2})
        contrast = rng.uniform(0.7, 0.85)
        internal = "hypoechoic" if contrast < 0.8 else "isoechoic"
        posterior = "none"
    not_parallel_p = {"cyst": 0.05, "benign_solid": 0.1, "malignant_like": 0.6, "small_low_contrast": 0.3}[kind]
    orientation = "not_parallel" if rng.random() < not_parallel_p else "parallel"
    # size: the largest semi-axis; small lesions 2-4 mm, the others 2.5-12 mm (more small than large ones)
    major = rng.uniform(2.0, 4.0) if small else float(np.exp(rng.uniform(np.log(2.5), np.log(12.0))))
    if shape == "round":
        minor = major * rng.uniform(0.88, 0.97, 2)
    elif shape == "oval":
        minor = major / rng.uniform(1.3, 2.0, 2)
    else:
        minor = major / rng.uniform(1.05, 1.6, 2)
    if orientation == "parallel":  # wider than tall: depth is the short axis
        radii = np.array([major, min(minor), max(minor) * rng.uniform(0.9, 1.1)])
        radii[2] = max(radii[2], radii[1] * 1.02)
    else:  # taller than wide
        radii = np.array([minor[0], major, minor[1]])
    theta = np.deg2rad(rng.uniform(-15.0, 15.0))
    psi = rng.uniform(-np.pi, np.pi)

    harmonics: list[tuple[np.ndarray, float, float, float]] = []
    protrusions: list[tuple[np.ndarray, float, float]] = []

    def add_harmonics(n: int, frequencies: tuple[float, float], weights: tuple[float, float]) -> None:
        for direction in _unit_vectors(rng, n):
            weight = rng.uniform(*weights) * rng.choice([-1.0, 1.0])
            harmonics.append((direction, rng.uniform(*frequencies), rng.uniform(0, 2 * np.pi), weight))

    add_harmonics(2, (1.5, 3.0), (0.01, 0.03))  # no lesion is a perfect ellipsoid
    if shape == "irregular":
        add_harmonics(int(rng.integers(3, 6)), (2.0, 4.5), (0.06, 0.13))
    edge_mm = rng.uniform(0.06, 0.15)
    if margin == "microlobulated":
        add_harmonics(int(rng.integers(6, 11)), (12.0, 22.0), (0.025, 0.045))
    elif margin == "indistinct":
        add_harmonics(int(rng.integers(5, 9)), (8.0, 16.0), (0.02, 0.04))
        edge_mm = rng.uniform(0.5, 1.2)
    elif margin == "angular":
        for direction in _unit_vectors(rng, int(rng.integers(3, 6))):
            protrusions.append((direction, rng.uniform(0.25, 0.5), rng.uniform(0.45, 0.8)))
        edge_mm = rng.uniform(0.1, 0.25)
    elif margin == "spiculated":
        for direction in _unit_vectors(rng, int(rng.integers(8, 17))):
            protrusions.append((direction, rng.uniform(0.25, 0.6), rng.uniform(0.06, 0.12)))
        edge_mm = rng.uniform(0.15, 0.35)
    g_max = sum(abs(w) for _e, _f, _p, w in harmonics) + max((length for _e, length, _w in protrusions), default=0)

    heterogeneity = {"anechoic": 0.0, "hypoechoic": 0.15, "isoechoic": 0.12, "heterogeneous": 0.55}[internal]
    if small:
        heterogeneity = 0.06
    attenuation_db = {
        "none": 0.0,
        "enhancement": -rng.uniform(4.0, 9.0),
        "shadowing": rng.uniform(10.0, 22.0),
        "mixed": rng.uniform(10.0, 18.0),
    }[posterior]
    halo = (rng.uniform(0.5, 1.0), rng.uniform(0.8, 1.8)) if margin == "spiculated" and rng.random() < 0.6 else None
    edge_shadow = rng.uniform(2.0, 5.0) if kind == "cyst" and rng.random() < 0.6 else 0.0
    info = {
        "id": lesion_id,
        "kind": kind,
        "centre_mm": [0.0, 0.0, 0.0],
        "radii_mm": [round(float(r), 3) for r in radii],
        "rotation_deg": [round(float(np.rad2deg(theta)), 2), round(float(np.rad2deg(psi)), 2)],
        "shape": shape,
        "margin": margin,
        "orientation": orientation,
        "posterior_features": posterior,
        "internal_echo": internal,
        "contrast": round(float(contrast), 4),
        "small_low_contrast": small,
        "echogenic_halo": halo is not None,
    }
    return _Lesion(
        info=info,
        centre=np.zeros(3),
        radii=radii,
        rotation=_rotation(theta, psi),
        harmonics=harmonics,
        protrusions=protrusions,
        g_max=float(g_max),
        edge_mm=float(edge_mm),
        echo=float(contrast),
        heterogeneity=heterogeneity,
        texture=_Waves.draw(rng, tuple(rng.uniform(0.6, 1.6, 3)), n=24),
        attenuation_db=float(attenuation_db),
        mixed=posterior == "mixed",
        halo=halo,
        edge_shadow_db_mm=float(edge_shadow),
    )


def _surface(lesion: _Lesion, directions: np.ndarray) -> np.ndarray:
    """Normalised radius of the lesion's surface along unit ``directions`` (3, ...) of its own frame."""
    g = np.zeros(directions.shape[1:], dtype=np.float32)
    for direction, frequency, phase, weight in lesion.harmonics:
        g += weight * np.cos(frequency * np.tensordot(direction, directions, 1) + phase)
    for direction, length, half_width in lesion.protrusions:
        angle = np.arccos(np.clip(np.tensordot(direction, directions, 1), -1.0, 1.0))
        g += length * np.clip(1.0 - angle / half_width, 0.0, None)
    return 1.0 + np.clip(g, -0.4, lesion.g_max)


# ---------------------------------------------------------------------------------------------------------------
# sweep plan


@dataclass
class _Rib:
    x0: float  # lateral centre (mm) at z = z_mid
    slope: float  # lateral drift per mm of elevation
    centre_depth: float
    half_width: float
    half_thickness: float
    bony: bool  # bone (complete shadow) or costal cartilage (hypoechoic, partial shadow)
    echo: float
    attenuation_db_mm: float


@dataclass
class _SweepPlan:
    seed: int
    n_frames: int
    shape_hw: tuple[int, int]
    spacing: float
    frame_time_ms: float
    step: float
    z: np.ndarray  # (T,) nominal elevation of each frame, mm
    shift: np.ndarray  # (T,) lateral probe shift, mm
    tilt_a: np.ndarray  # (T,) dz/dy of the plane
    tilt_b: np.ndarray  # (T,) dz/dx of the plane
    layers: dict
    fields: dict[str, _Waves]
    ribs: list[_Rib]
    lesions: list[_Lesion]
    display: dict
    speckle: dict
    speckle_seed: int


def _draw_plan(
    seed: int,
    n_frames: int = 30,
    shape_hw: tuple[int, int] = (256, 256),
    pixel_spacing_mm: float = 0.15,
    n_lesions: int | None = None,
    ribs: bool | None = None,
) -> _SweepPlan:
    """Everything random about a sweep except the per-frame noise: anatomy, lesions, probe motion, display."""
    height, width = (int(v) for v in shape_hw)
    spacing = float(pixel_spacing_mm)
    if n_frames < 1 or height < 32 or width < 32 or not spacing > 0:
        raise InputError(
            f"n_frames={n_frames}, shape_hw={shape_hw}, pixel_spacing_mm={pixel_spacing_mm} cannot make a sweep.",
            "Use at least one frame of 32 x 32 pixels and a positive pixel spacing.",
        )
    if n_lesions is not None and not 0 <= int(n_lesions) <= 4:
        raise InputError(f"n_lesions={n_lesions} is out of range.", "Use 0 to 4 lesions, or None to draw it.")
    if ribs and height * spacing < _MIN_RIB_DEPTH_MM:
        raise InputError(
            f"ribs=True needs a field at least {_MIN_RIB_DEPTH_MM:g} mm deep, not {height * spacing:g} mm.",
            "Use more rows or a larger pixel spacing, or ribs=None/False.",
        )
    rng = np.random.default_rng(seed)
    drawn_lesions = int(rng.choice(3, p=[0.2, 0.65, 0.15]))
    drawn_ribs = bool(rng.random() < 0.35)
    n_lesions = drawn_lesions if n_lesions is None else int(n_lesions)
    with_ribs = (drawn_ribs and height * spacing >= _MIN_RIB_DEPTH_MM) if ribs is None else bool(ribs)
    depth_mm, width_mm = height * spacing, width * spacing
    scale = depth_mm / _REFERENCE_DEPTH_MM

    # --- layers (depths in mm; interfaces wave with x and z)
    skin = rng.uniform(1.5, 2.5)
    rib_list: list[_Rib] = []
    pleura = None
    if with_ribs:
        half_thickness = rng.uniform(2.2, 3.2)
        rib_top = min(depth_mm * rng.uniform(0.64, 0.74), depth_mm - 2 * half_thickness - 3.0)
        rib_top = max(rib_top, skin + 6.0)
        muscle_top = max(rib_top - scale * rng.uniform(4.0, 7.0), skin + 4.0)
        pleura = rib_top + 2 * half_thickness * rng.uniform(0.75, 0.95) + rng.uniform(0.3, 1.2)
        n_ribs = 2 if width_mm > 30 and rng.random() < 0.45 else 1
        spacing_ribs = rng.uniform(16.0, 22.0)
        first = rng.uniform(0.2, 0.8) * width_mm if n_ribs == 1 else rng.uniform(0.05, 0.35) * width_mm
        for index in range(n_ribs):
            bony = bool(rng.random() < 0.6)
            rib_h = half_thickness * rng.uniform(0.9, 1.1)
            rib_list.append(
                _Rib(
                    x0=first + index * spacing_ribs,
                    slope=rng.uniform(-0.15, 0.15),
                    centre_depth=rib_top + rib_h + rng.uniform(-0.5, 0.5),
                    half_width=rng.uniform(4.0, 6.5),
                    half_thickness=rib_h,
                    bony=bony,
                    echo=rng.uniform(0.08, 0.2) if bony else rng.uniform(0.15, 0.35),
                    attenuation_db_mm=rng.uniform(6.0, 10.0) if bony else rng.uniform(1.5, 3.0),
                )
            )
    else:
        muscle_top = depth_mm * rng.uniform(0.68, 0.86)
    fat_bottom = skin + (muscle_top - skin) * rng.uniform(0.15, 0.38)
    layers = {
        "skin": skin,
        "fat_bottom": fat_bottom,
        "fat_amplitude": scale * rng.uniform(0.8, 2.2),
        "scallop_amplitude": scale * rng.uniform(0.6, 2.0),
        "scallop_period": rng.uniform(6.0, 12.0),
        "ligament_lean": rng.uniform(-0.6, 0.6),
        "muscle_top": muscle_top,
        "muscle_amplitude": scale * rng.uniform(0.3, 1.0),
        "muscle_period": rng.uniform(0.8, 1.5),
        "muscle_slope": rng.uniform(-0.08, 0.08),
        "pleura": pleura,
        "skin_echo": rng.uniform(1.2, 1.7),
        "entry_echo": rng.uniform(1.2, 2.2),
        "fat_echo": rng.uniform(0.3, 0.5),
        "ligament_echo": rng.uniform(0.8, 1.6),
        "septa_echo": rng.uniform(0.15, 0.4),
        "gland_variation": rng.uniform(0.18, 0.32),
        "island_threshold": rng.uniform(0.9, 1.4),
        "fibre_echo": rng.uniform(0.3, 0.7),
        "muscle_echo": rng.uniform(0.35, 0.55),
        "fascia_echo": rng.uniform(0.8, 1.5),
        "pleura_echo": rng.uniform(2.0, 3.5),
        "lung_echo": rng.uniform(0.3, 0.6),
    }
    fields = {
        "skin": _Waves.draw(rng, (6.0, np.inf, 6.0), n=12),
        "fat": _Waves.draw(rng, (5.0, np.inf, 6.0), n=16),
        "muscle": _Waves.draw(rng, (9.0, np.inf, 9.0), n=12),
        "texture": _Waves.draw(rng, (0.9, 0.5, 0.9), n=48),
        "lobules": _Waves.draw(rng, (2.6, 1.6, 2.6), n=48),
        "gland": _Waves.draw(rng, (2.2, 1.0, 2.2), n=48),
        "islands": _Waves.draw(rng, (2.0, 1.2, 2.0), n=48),
        "fibres": _Waves.draw(rng, (3.5, 1.2, 3.5), n=48),
        "wobble": _Waves.draw(rng, (4.0, 4.0, 5.0), n=32),
    }

    # --- lesions: descriptors and sizes first, the sweep's step from the largest, then positions
    kinds = [_KINDS[int(rng.choice(len(_KINDS), p=_KIND_P))] for _ in range(n_lesions)]
    lesions = [_draw_lesion(rng, kind, i, layers["fat_echo"]) for i, kind in enumerate(kinds)]
    frame_time_ms = 1000.0 / rng.uniform(12.0, 30.0)
    tilt_a = np.tan(np.deg2rad(np.linspace(*rng.uniform(-3.0, 3.0, 2), n_frames)))
    tilt_b = np.tan(np.deg2rad(np.linspace(*rng.uniform(-2.0, 2.0, 2), n_frames)))
    tilt_slack = 3.0 * np.tan(np.deg2rad(3.0)) + 3.0 * np.tan(np.deg2rad(2.0))  # over a lesion's extent
    step = rng.uniform(0.4, 1.0)
    usable = 0.85 * (n_frames - 1) - 2.0  # frames' worth of sweep a lesion may cover, both margins off
    if lesions and usable > 1.0:
        needed = 2.0 * (max(lesion.half_extent()[2] for lesion in lesions) + tilt_slack) / usable
        step = float(np.clip(needed, step, 2.0))
    increments = step * np.clip(1.0 + 0.15 * rng.normal(size=max(n_frames - 1, 0)), 0.5, 1.5)
    z = np.concatenate([[0.0], np.cumsum(increments)])
    max_shift = rng.uniform(0.3, 1.5)
    phase, drift = rng.uniform(0, 2 * np.pi), rng.uniform(-0.5, 0.5)
    progress = np.linspace(0.0, 1.0, n_frames)
    shift = max_shift * (np.sin(2 * np.pi * 0.6 * progress + phase) - np.sin(phase)) / 2 + drift * progress
    shift = np.clip(shift, -1.5, 1.5)
    _place_lesions(rng, lesions, z, width_mm, depth_mm, layers, rib_list, float(np.abs(shift).max()), tilt_slack)

    display = {
        "dynamic_range_db": rng.uniform(45.0, 60.0),
        "gland_grey": rng.uniform(0.42, 0.58),
        "grey_gamma": rng.uniform(1.3, 1.8),
        "post_smoothing_mm": rng.uniform(0.08, 0.14),
        "gain_db": rng.uniform(-3.0, 3.0),
        "tgc_slope_db_mm": rng.uniform(-0.08, 0.08),
        "tgc_ripple": [(rng.uniform(0.5, 1.5), rng.uniform(8.0, 25.0), rng.uniform(0, 2 * np.pi)) for _ in range(2)],
        "focus_mm": depth_mm * rng.uniform(0.35, 0.7),
        "focus_gain_db": rng.uniform(1.0, 3.0),
        "edge_loss_db": rng.uniform(0.5, 2.5),
        "noise_bottom_db": rng.uniform(-28.0, -20.0),
        "noise_slope_db_mm": rng.uniform(0.5, 1.0),
        "flicker_db": rng.uniform(0.0, 0.4),
    }
    speckle = {
        "sigma_axial_mm": rng.uniform(0.15, 0.22),
        "sigma_lateral_mm": rng.uniform(0.35, 0.55),
        "elevation_correlation_mm": rng.uniform(0.6, 1.1),
    }
    return _SweepPlan(
        seed=int(seed),
        n_frames=int(n_frames),
        shape_hw=(height, width),
        spacing=spacing,
        frame_time_ms=float(frame_time_ms),
        step=float(step),
        z=z,
        shift=shift,
        tilt_a=tilt_a,
        tilt_b=tilt_b,
        layers=layers,
        fields=fields,
        ribs=rib_list,
        lesions=lesions,
        display=display,
        speckle=speckle,
        speckle_seed=int(rng.integers(2**63)),
    )


def _place_lesions(rng, lesions, z, width_mm, depth_mm, layers, ribs, max_shift, tilt_slack) -> None:
    """Centre each lesion inside the field (laterally, in depth, above the ribs), mostly in the glandular layer,
    where the sweep passes through it but not at its first or last frame; shrink it until it fits."""
    deepest = min((rib.centre_depth - rib.half_thickness for rib in ribs), default=depth_mm) - 0.5
    z_first, z_last = float(z[0]), float(z[-1])
    placed: list[_Lesion] = []
    for lesion in lesions:
        for attempt in range(60):
            if attempt and attempt % 6 == 0:
                lesion.radii = lesion.radii * 0.88
            ext = lesion.half_extent()
            lateral = (ext[0] + max_shift + 0.5, width_mm - ext[0] - max_shift - 0.5)
            hard = (layers["skin"] + 0.5 + ext[1], deepest - ext[1])
            # the centre lies in the glandular layer, below the fat's deepest waves and scallops
            fat_deep = layers["fat_bottom"] + layers["fat_amplitude"] + 0.4 * layers["scallop_amplitude"]
            low = max(hard[0], fat_deep + 0.2 * ext[1])
            depth = (low, min(hard[1], max(layers["muscle_top"] - 0.3 * ext[1], low + 0.1)))
            slack = tilt_slack + 1.5 * (z[1] - z[0] if len(z) > 1 else 0.0)
            elevation = (z_first + ext[2] + slack, z_last - ext[2] - slack)
            if lateral[0] >= lateral[1] or depth[0] >= depth[1]:
                continue
            if elevation[0] >= elevation[1]:
                if len(z) >= 6 and attempt < 59:
                    lesion.radii = lesion.radii * 0.92  # smaller (same shape) rather than in every frame
                    continue
                elevation = ((z_first + z_last) / 2, (z_first + z_last) / 2 + 1e-6)
            centre = np.array([rng.uniform(*lateral), rng.uniform(*depth), rng.uniform(*elevation)])
            clear = all(np.any(np.abs(centre - other.centre) > ext + other.half_extent() + 1.0) for other in placed)
            if clear or attempt == 59:
                lesion.centre = centre
                break
        lesion.info["centre_mm"] = [round(float(v), 3) for v in lesion.centre]
        lesion.info["radii_mm"] = [round(float(r), 3) for r in lesion.radii]
        placed.append(lesion)


# ---------------------------------------------------------------------------------------------------------------
# rendering


def _tissue(plan: _SweepPlan, plane: _Plane, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Echogenicity (amplitude, fibroglandular tissue = 1) of the layered breast on one frame: (H, W) float32."""
    layers, fields = plan.layers, plan.fields
    rows = y[:, None].astype(np.float32)
    z_line = plane.z(x, plane.y_mid)

    def line(name: str, depth: float) -> np.ndarray:
        return fields[name].at(x, depth, z_line + plane.a * (depth - plane.y_mid)).astype(np.float32)

    def on_plane(name: str) -> np.ndarray:
        return fields[name].on_plane(x, y, plane)

    texture, wobble = on_plane("texture"), on_plane("wobble")
    wobble_line = fields["wobble"].at(x, layers["fat_bottom"], plane.z(x, layers["fat_bottom"]))
    crest_phase = (x + 1.2 * wobble_line) / layers["scallop_period"]
    scallop = layers["scallop_amplitude"] * (np.abs(np.sin(np.pi * crest_phase)) - 0.6)
    skin = layers["skin"] + 0.12 * line("skin", layers["skin"])
    fat_bottom = layers["fat_bottom"] + layers["fat_amplitude"] * line("fat", layers["fat_bottom"]) + scallop
    fat_bottom = np.maximum(fat_bottom, skin + 0.6)
    muscle_top = layers["muscle_top"] + layers["muscle_amplitude"] * line("muscle", layers["muscle_top"])
    muscle_top = np.maximum(muscle_top, fat_bottom + 2.0)
    skin, fat_bottom, muscle_top = (depths.astype(np.float32) for depths in (skin, fat_bottom, muscle_top))

    # subcutaneous fat: lobules with faint septa, Cooper ligaments rising from the gland's crests to the skin
    fat = layers["fat_echo"] * np.exp(0.2 * texture)
    lobules = on_plane("lobules")
    fat += layers["septa_echo"] * np.exp(-((lobules / 0.12) ** 2))
    lean = layers["ligament_lean"] * (layers["fat_bottom"] - rows)
    ligament_phase = (x[None, :] + lean + 1.2 * wobble) / layers["scallop_period"]
    ligaments = np.exp(-((np.sin(np.pi * ligament_phase) / 0.1) ** 2)) * (0.55 + 0.45 * np.tanh(1.5 * lobules))
    fat += layers["ligament_echo"] * ligaments.astype(np.float32)
    # fibroglandular tissue: heterogeneous, with fat islands and bright fibrous strands
    gland = np.exp(layers["gland_variation"] * on_plane("gland") - 0.5 * layers["gland_variation"] ** 2)
    islands = _sigmoid((on_plane("islands") - layers["island_threshold"]) / 0.12)
    gland += (layers["fat_echo"] * np.exp(0.2 * texture) - gland) * islands
    gland += layers["fibre_echo"] * np.exp(-((on_plane("fibres") / 0.08) ** 2)) * (1.0 - islands)
    # pectoralis: fibres parallel to the chest wall, bright perimysium lines
    striation_phase = 2 * np.pi * (rows - layers["muscle_slope"] * (x[None, :] - plane.x_mid) - 0.5 * wobble)
    striation = ((1.0 + np.cos(striation_phase / layers["muscle_period"])) / 2) ** 6
    muscle = layers["muscle_echo"] * (0.6 + 1.3 * striation) * np.exp(0.15 * texture)

    to_gland = _sigmoid((rows - fat_bottom) / 0.12)
    to_muscle = _sigmoid((rows - muscle_top) / 0.12)
    tissue = fat + (gland - fat) * to_gland
    tissue += (muscle - tissue) * to_muscle
    tissue += 0.5 * layers["fascia_echo"] * np.exp(-(((rows - fat_bottom) / 0.18) ** 2))  # superficial fascia
    tissue += layers["fascia_echo"] * np.exp(-(((rows - muscle_top) / 0.22) ** 2))  # pectoral fascia
    # skin: entry echo, dermis, bright deep dermal line
    dermis = layers["skin_echo"] * np.exp(0.15 * texture) + layers["entry_echo"] * np.exp(-((rows / 0.3) ** 2))
    tissue += (dermis - tissue) * (1.0 - _sigmoid((rows - skin) / 0.08))
    tissue += 0.8 * layers["skin_echo"] * np.exp(-(((rows - skin) / 0.15) ** 2))
    if layers["pleura"] is not None:
        pleura = layers["pleura"] + 0.25 * line("skin", layers["pleura"])
        lung = layers["lung_echo"] * np.exp(0.3 * texture)
        tissue += (lung - tissue) * _sigmoid((rows - pleura) / 0.1)
        tissue += layers["pleura_echo"] * np.exp(-(((rows - pleura) / 0.2) ** 2))
    return tissue.astype(np.float32)


def _window(centre: float, half: float, origin: float, spacing: float, n: int) -> tuple[int, int]:
    """Index range [i0, i1) of pixels whose centres ``origin + (i + 0.5) spacing`` lie within ``half`` mm."""
    i0 = int(np.floor((centre - half - origin) / spacing - 0.5))
    i1 = int(np.ceil((centre + half - origin) / spacing + 0.5)) + 1
    return max(i0, 0), min(i1, n)


def _box(mask: np.ndarray, row0: int, column0: int) -> list[float] | None:
    """Pixel-edge bounding box (x0, y0, x1, y1) of a window mask, or None under :data:`MIN_BOX_PIXELS`."""
    if int(mask.sum()) < MIN_BOX_PIXELS:
        return None
    rows = np.flatnonzero(mask.any(axis=1))
    columns = np.flatnonzero(mask.any(axis=0))
    return [column0 + columns[0], row0 + rows[0], column0 + columns[-1] + 1, row0 + rows[-1] + 1]


def _draw_ribs(plan, plane, x, y, tissue, attenuation) -> list[list[float]]:
    """Paint rib cross-sections (bright anterior surface, hypoechoic inside, attenuating) and return their boxes."""
    boxes = []
    for rib in plan.ribs:
        r0, r1 = _window(rib.centre_depth, rib.half_thickness + 0.6, 0.0, plan.spacing, len(y))
        lateral = rib.x0 + rib.slope * (plane.z0 - plan.z[len(plan.z) // 2])
        half = rib.half_width + 0.6 + abs(rib.slope) * 3.0
        c0, c1 = _window(lateral, half, plane.shift, plan.spacing, len(x))
        if r0 >= r1 or c0 >= c1:
            continue
        xs, ys = x[c0:c1][None, :], y[r0:r1][:, None]
        centre_x = rib.x0 + rib.slope * (plane.z(xs, ys) - plan.z[len(plan.z) // 2])
        u, v = (xs - centre_x) / rib.half_width, (ys - rib.centre_depth) / rib.half_thickness
        radius = np.sqrt(u**2 + v**2)
        outside_mm = (radius - 1.0) * rib.half_thickness
        inside = _sigmoid(-outside_mm / 0.1)
        upper = _sigmoid(-4.0 * v)
        cortex = np.exp(-((outside_mm / 0.22) ** 2)) * upper
        block = tissue[r0:r1, c0:c1]
        block += (rib.echo - block) * inside
        block += (2.5 if rib.bony else 1.4) * cortex
        # the cortex reflects and absorbs: the loss starts just beneath the bright surface
        below_surface = np.exp(-(((outside_mm + 0.4) / 0.25) ** 2)) * upper
        attenuation[r0:r1, c0:c1] += rib.attenuation_db_mm * inside + (60.0 if rib.bony else 8.0) * below_surface
        box = _box(radius < 1.0, r0, c0)
        if box is not None:
            boxes.append(box)
    return boxes


def _draw_lesion_section(lesion: _Lesion, plan, plane, x, y, tissue, attenuation) -> list[float] | None:
    """Paint the lesion's cross-section on this frame (echo, halo, attenuation); its box or None."""
    ext = lesion.half_extent()
    cx, cy, cz = lesion.centre
    plane_z = plane.z(cx, cy)
    if abs(plane_z - cz) > ext[2] + abs(plane.a) * ext[1] + abs(plane.b) * ext[0]:
        return None
    halo_mm = 0.0 if lesion.halo is None else 2.5 * lesion.halo[1]
    r0, r1 = _window(cy, ext[1] + halo_mm + 3 * lesion.edge_mm, 0.0, plan.spacing, len(y))
    c0, c1 = _window(cx, ext[0] + halo_mm + 3 * lesion.edge_mm, plane.shift, plan.spacing, len(x))
    if r0 >= r1 or c0 >= c1:
        return None
    xs, ys = x[c0:c1][None, :], y[r0:r1][:, None]
    offset = np.stack(np.broadcast_arrays(xs - cx, ys - cy, plane.z(xs, ys) - cz))  # (3, h, w) world mm
    local = np.tensordot(lesion.rotation.T, offset, 1)
    scaled = local / lesion.radii[:, None, None]
    radius = np.sqrt((scaled**2).sum(axis=0)) + 1e-6
    directions = scaled / radius
    surface = _surface(lesion, directions)
    along = np.sqrt(((directions * lesion.radii[:, None, None]) ** 2).sum(axis=0))  # mm per unit radius
    outside_mm = ((radius - surface) * along).astype(np.float32)  # signed distance along the ray
    inside = _sigmoid(-outside_mm / lesion.edge_mm)
    echo = np.float32(lesion.echo)
    if lesion.heterogeneity > 0:
        texture = lesion.texture.on_plane(x[c0:c1] - cx, y[r0:r1] - cy, _shifted(plane, cx, cy, cz))
        echo = echo * np.exp(lesion.heterogeneity * texture - 0.5 * lesion.heterogeneity**2)
    block = tissue[r0:r1, c0:c1]
    if lesion.halo is not None:
        amplitude, width = lesion.halo
        ring = np.exp(-((np.maximum(outside_mm, 0.0) / width) ** 2)) * (1.0 - inside)
        block += amplitude * ring
    block += (echo - block) * inside
    if lesion.attenuation_db or lesion.edge_shadow_db_mm:
        depth_extent = 2.0 * lesion.radii[1] * (1.0 + lesion.g_max)
        alpha = np.float32(lesion.attenuation_db / depth_extent) * inside
        if lesion.mixed:  # shadowing on one side, enhancement on the other
            side = _sigmoid(6.0 * scaled[0]).astype(np.float32)
            alpha *= side - 0.6 * (1.0 - side)
        if lesion.edge_shadow_db_mm:
            lateral_edge = (np.abs(offset[0]) / (np.hypot(offset[0], offset[1]) + 1e-3)) ** 8  # sides, in plane
            rim = np.exp(-((outside_mm / 0.25) ** 2)) * lateral_edge
            alpha += lesion.edge_shadow_db_mm * rim
        attenuation[r0:r1, c0:c1] += alpha
    return _box(outside_mm < 0, r0, c0)


def _shifted(plane: _Plane, cx: float, cy: float, cz: float) -> _Plane:
    """The frame plane in coordinates centred on (cx, cy, cz) (for the lesion's own texture)."""
    return _Plane(plane.z0 - cz, plane.a, plane.b, plane.x_mid - cx, plane.y_mid - cy, plane.shift)


def _render(plan: _SweepPlan) -> tuple[np.ndarray, list, list, list]:
    """Frames (T, H, W) float32 0..1, per-frame lesion boxes with ids, and rib boxes."""
    from scipy import ndimage

    height, width = plan.shape_hw
    spacing = plan.spacing
    y = (np.arange(height) + 0.5) * spacing
    depth_mm, width_mm = height * spacing, width * spacing
    rng = np.random.default_rng(plan.speckle_seed)
    display, speckle = plan.display, plan.speckle
    # gain along depth (dB): overall gain, TGC residual slope and ripple, focal zone; lateral apodisation
    gain = display["gain_db"] + display["tgc_slope_db_mm"] * (y - depth_mm / 2)
    for amplitude, period, phase in display["tgc_ripple"]:
        gain = gain + amplitude * np.sin(2 * np.pi * y / period + phase)
    gain = gain + display["focus_gain_db"] * np.exp(-0.5 * ((y - display["focus_mm"]) / (0.2 * depth_mm)) ** 2)
    columns = (np.arange(width) + 0.5) / width
    lateral = -display["edge_loss_db"] * (2 * np.abs(columns - 0.5)) ** 4
    noise_floor = 10 ** ((display["noise_bottom_db"] - display["noise_slope_db_mm"] * (depth_mm - y)) / 20)
    dynamic_range = display["dynamic_range_db"]
    # grey map: log compression over the dynamic range, then a power curve (speckle as bright grains on dark)
    gland_level = display["gland_grey"] ** (1.0 / display["grey_gamma"])
    low_db = -2.5 - gland_level * dynamic_range  # Rayleigh speckle of unit power averages -2.5 dB
    post_sigma = display["post_smoothing_mm"] / spacing
    # speckle canvas fixed in the tissue, wide enough for the probe's lateral drift
    pad = int(np.ceil(np.abs(plan.shift).max() / spacing)) + 2
    sigmas = (0, speckle["sigma_axial_mm"] / spacing, speckle["sigma_lateral_mm"] / spacing)
    field, norm = None, 1.0
    frames = np.empty((plan.n_frames, height, width), dtype=np.float32)
    boxes, ids, rib_boxes = [], [], []
    for t in range(plan.n_frames):
        plane = _Plane(plan.z[t], plan.tilt_a[t], plan.tilt_b[t], width_mm / 2, depth_mm / 2, plan.shift[t])
        x = (np.arange(width) + 0.5) * spacing + plane.shift
        tissue = _tissue(plan, plane, x, y)
        attenuation = np.zeros_like(tissue)
        rib_boxes.append(np.asarray(_draw_ribs(plan, plane, x, y, tissue, attenuation), np.float32).reshape(-1, 4))
        frame_boxes, frame_ids = [], []
        for index, lesion in enumerate(plan.lesions):
            box = _draw_lesion_section(lesion, plan, plane, x, y, tissue, attenuation)
            if box is not None:
                frame_boxes.append(box)
                frame_ids.append(index)
        boxes.append(np.asarray(frame_boxes, np.float32).reshape(-1, 4))
        ids.append(np.asarray(frame_ids, np.int64))
        # echo: speckle (AR(1) across frames, decorrelating with the elevation step), attenuation, noise floor
        noise = rng.standard_normal((2, height, width + 2 * pad), dtype=np.float32)
        fresh = ndimage.gaussian_filter(noise, sigmas, truncate=3.0)
        if field is None:
            field = fresh
            norm = 1.0 / float(np.sqrt((fresh**2).sum(axis=0).mean()))
        else:
            rho = float(np.exp(-0.5 * ((plan.z[t] - plan.z[t - 1]) / speckle["elevation_correlation_mm"]) ** 2))
            field = rho * field + np.float32(np.sqrt(1.0 - rho**2)) * fresh
        offset = pad + round(float(plane.shift) / spacing)
        envelope = np.hypot(field[0, :, offset : offset + width], field[1, :, offset : offset + width]) * norm
        if attenuation.any():
            lost = (np.cumsum(attenuation, axis=0) - 0.5 * attenuation) * np.float32(spacing)
            lost = ndimage.gaussian_filter1d(lost, 0.3 / spacing, axis=1)  # beam width blurs shadow edges
            envelope *= np.power(np.float32(10.0), -lost / 20.0)
        electronic = np.hypot(noise[0, :, pad : pad + width], noise[1, :, pad : pad + width]) * np.float32(0.7)
        echo = np.hypot(tissue * envelope, electronic * noise_floor[:, None].astype(np.float32))
        flicker = display["flicker_db"] * np.sin(1.7 * t + plan.seed % 7)
        decibels = 20.0 * np.log10(echo + np.float32(1e-6))
        decibels += (gain + flicker)[:, None].astype(np.float32) + lateral[None, :].astype(np.float32)
        decibels = ndimage.gaussian_filter(decibels, post_sigma, truncate=2.5)  # the scanner's display smoothing
        frames[t] = np.clip((decibels - low_db) / dynamic_range, 0.0, 1.0) ** np.float32(display["grey_gamma"])
    return frames, boxes, ids, rib_boxes


def generate_breast_sweep(
    seed: int,
    n_frames: int = 30,
    shape_hw: tuple[int, int] = (256, 256),
    pixel_spacing_mm: float = 0.15,
    n_lesions: int | None = None,
    ribs: bool | None = None,
) -> UltrasoundSweep:
    """One synthetic breast-ultrasound sweep, the same for the same arguments.

    :param n_frames: frames T of the cine (the probe moves ~0.4-2 mm between frames; with lesions the step is
        chosen so that the largest lesion spans at most ~85 % of the sweep).
    :param shape_hw: frame size (H rows of depth, W columns); the field is ``H * pixel_spacing_mm`` deep.
    :param n_lesions: None draws it (20 % without lesion, 65 % one, 15 % two); 0..4 forces it.
    :param ribs: None draws it (35 % with ribs, in cross-section deep in the field); True/False forces it.
    """
    plan = _draw_plan(seed, n_frames, shape_hw, pixel_spacing_mm, n_lesions, ribs)
    frames, boxes, ids, rib_boxes = _render(plan)
    lesions = []
    for index, lesion in enumerate(plan.lesions):
        info = dict(lesion.info)
        info["frames"] = [t for t, frame_ids in enumerate(ids) if index in frame_ids]
        lesions.append(info)
    description = {
        "ribs": [
            {"bony": rib.bony, "half_width_mm": round(rib.half_width, 2), "depth_mm": round(rib.centre_depth, 2)}
            for rib in plan.ribs
        ],
        "skin_mm": round(plan.layers["skin"], 2),
        "fat_bottom_mm": round(plan.layers["fat_bottom"], 2),
        "muscle_top_mm": round(plan.layers["muscle_top"], 2),
        "dynamic_range_db": round(plan.display["dynamic_range_db"], 1),
        "lateral_shift_mm": [round(float(v), 3) for v in plan.shift],
        "elevation_mm": [round(float(v), 3) for v in plan.z],
    }
    return UltrasoundSweep(
        frames=frames,
        boxes_xy=boxes,
        lesion_ids=ids,
        lesions=lesions,
        rib_boxes_xy=rib_boxes,
        pixel_spacing_mm=plan.spacing,
        frame_time_ms=round(plan.frame_time_ms, 3),
        elevation_step_mm=round(plan.step, 4),
        seed=int(seed),
        description=description,
    )


def describe_breast_sweep(
    seed: int,
    n_frames: int = 30,
    shape_hw: tuple[int, int] = (256, 256),
    pixel_spacing_mm: float = 0.15,
    n_lesions: int | None = None,
    ribs: bool | None = None,
) -> dict:
    """What :func:`generate_breast_sweep` with the same arguments will draw, without rendering (milliseconds):
    ``{"lesions": [...] (as in the sweep, without "frames"), "ribs": int, "elevation_step_mm": float}``.
    Handy to pick seeds for a balanced training set or for a test needing a given kind of lesion."""
    plan = _draw_plan(seed, n_frames, shape_hw, pixel_spacing_mm, n_lesions, ribs)
    return {
        "lesions": [dict(lesion.info) for lesion in plan.lesions],
        "ribs": len(plan.ribs),
        "elevation_step_mm": round(plan.step, 4),
    }


# ---------------------------------------------------------------------------------------------------------------
# writing and reading


def _cine_dataset(sweep: UltrasoundSweep, case_id: str):
    import datetime

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    pixels = frames_to_uint8(sweep.frames)
    n_frames, rows, columns = pixels.shape
    instance_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_MULTIFRAME_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    now = datetime.datetime.now()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.SOPClassUID = US_MULTIFRAME_SOP_CLASS
    ds.SOPInstanceUID = instance_uid
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AccessionNumber = ""
    ds.Modality = "US"
    ds.Manufacturer = "RadAssist synthetic phantom"
    ds.ReferringPhysicianName = ""
    ds.SeriesDescription = "Synthetic breast ultrasound sweep"
    ds.PatientName = case_id
    ds.PatientID = case_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "F"
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.BodyPartExamined = "BREAST"
    ds.LossyImageCompression = "00"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = n_frames
    ds.FrameTime = f"{sweep.frame_time_ms:.3f}"
    ds.FrameIncrementPointer = 0x00181063  # Frame Time
    ds.CineRate = round(1000.0 / sweep.frame_time_ms)
    ds.RecommendedDisplayFrameRate = ds.CineRate
    region = Dataset()
    region.RegionSpatialFormat = 1  # 2D
    region.RegionDataType = 1  # tissue
    region.RegionFlags = 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = columns - 1, rows - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
    region.PhysicalDeltaX = region.PhysicalDeltaY = float(sweep.pixel_spacing_mm) / 10.0
    ds.SequenceOfUltrasoundRegions = [region]
    ds.PixelData = pixels.tobytes()
    return ds


def _truth(sweep: UltrasoundSweep, case_id: str) -> dict:
    def boxes(per_frame: list[np.ndarray]) -> list[list[list[float]]]:
        return [[[round(float(v), 3) for v in box] for box in np.asarray(frame).reshape(-1, 4)] for frame in per_frame]

    return {
        "case_id": case_id,
        "seed": sweep.seed,
        "n_frames": sweep.n_frames,
        "shape_hw": list(sweep.frames.shape[1:]),
        "pixel_spacing_mm": sweep.pixel_spacing_mm,
        "frame_time_ms": sweep.frame_time_ms,
        "elevation_step_mm": sweep.elevation_step_mm,
        "box_convention": "x0, y0, x1, y1 pixel edges; row 0 = skin, column 0 = left",
        "boxes_xy": boxes(sweep.boxes_xy),
        "lesion_ids": [[int(i) for i in frame] for frame in sweep.lesion_ids],
        "lesions": sweep.lesions,
        "rib_boxes_xy": boxes(sweep.rib_boxes_xy),
        "description": sweep.description,
    }


def write_sweep_case(sweep: UltrasoundSweep, folder: str | os.PathLike[str], case_id: str) -> dict[str, Path]:
    """``<case_id>.dcm`` (Ultrasound Multi-frame Image Storage, 8-bit MONOCHROME2, one 2D tissue region in cm)
    and ``<case_id>_truth.json`` in ``folder``, both written atomically. Returns ``{"cine": ..., "truth": ...}``."""
    from pydicom import dcmwrite

    from ..atomic import atomic_path, write_text_atomic

    folder = Path(folder)
    cine = folder / f"{case_id}.dcm"
    with atomic_path(cine) as temporary:
        dcmwrite(temporary, _cine_dataset(sweep, case_id), enforce_file_format=True)
    truth = write_text_atomic(folder / f"{case_id}_truth.json", json.dumps(_truth(sweep, case_id), indent=1))
    return {"cine": cine, "truth": truth}


def read_sweep_truth(path: str | os.PathLike[str]) -> dict:
    """The truth JSON written by :func:`write_sweep_case`, boxes as (N, 4) float32 arrays and ids as int64."""
    try:
        truth = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(f"Cannot read sweep truth {path}: {error}.", "Write it with write_sweep_case.") from error
    for key in ("boxes_xy", "rib_boxes_xy"):
        truth[key] = [np.asarray(frame, np.float32).reshape(-1, 4) for frame in truth.get(key, [])]
    truth["lesion_ids"] = [np.asarray(frame, np.int64).reshape(-1) for frame in truth.get("lesion_ids", [])]
    return truth
