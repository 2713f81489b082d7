"""Breast lesions following the BI-RADS ultrasound lexicon: descriptors, size, a surface modulated by harmonics
(irregular, microlobulated, indistinct) or cones (angular, spiculated), echo and posterior features.

Lengths in mm; a lesion's frame is its ellipsoid's axes (``rotation`` columns in world coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fields import _Waves


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


def _descriptors(rng: np.random.Generator, kind: str, fat_echo: float) -> tuple[str, str, str, str, float]:
    """(shape, margin, internal echo, posterior features, contrast) of a lesion of ``kind``."""
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
    return shape, margin, internal, posterior, contrast


def _radii(rng: np.random.Generator, shape: str, orientation: str, small: bool) -> np.ndarray:
    """Semi-axes (x, depth, elevation) mm: the largest 2-4 mm for small lesions, else 2.5-12 mm (more small than
    large ones); parallel lesions are wider than tall."""
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
    return radii


def _surface_modulation(
    rng: np.random.Generator, shape: str, margin: str
) -> tuple[list[tuple[np.ndarray, float, float, float]], list[tuple[np.ndarray, float, float]], float]:
    """(harmonics, protrusions, soft-edge width mm) of the lesion's surface, by shape and margin."""
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
    return harmonics, protrusions, edge_mm


def _draw_lesion(rng: np.random.Generator, kind: str, lesion_id: int, fat_echo: float) -> _Lesion:
    """Descriptors, size and surface of one lesion (position set later by :func:`_place_lesions`).

    Echo patterns follow BI-RADS, relative to subcutaneous fat (``fat_echo``, glandular tissue = 1): hypoechoic
    is darker than fat, isoechoic about as bright; ``contrast`` is recorded against glandular tissue, the lesion's
    usual surroundings. Small low-contrast lesions sit at 0.7-0.85 of the glandular echo.
    """
    small = kind == "small_low_contrast"
    shape, margin, internal, posterior, contrast = _descriptors(rng, kind, fat_echo)
    not_parallel_p = {"cyst": 0.05, "benign_solid": 0.1, "malignant_like": 0.6, "small_low_contrast": 0.3}[kind]
    orientation = "not_parallel" if rng.random() < not_parallel_p else "parallel"
    radii = _radii(rng, shape, orientation, small)
    theta = np.deg2rad(rng.uniform(-15.0, 15.0))
    psi = rng.uniform(-np.pi, np.pi)
    harmonics, protrusions, edge_mm = _surface_modulation(rng, shape, margin)
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
