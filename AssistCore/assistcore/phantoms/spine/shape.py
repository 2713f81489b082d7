"""The phantom's shape and pose: the curve of the neck (lordotic, straight or kyphotic), listhesis offsets along
h, and the random patient pose that places the anatomy frame in the scanner (LPS mm)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .acquisition import _rotation
from .curve import _Curve, _make_curve
from .tissues import _MAX_CURVATURE, _SCANNER_OFFSET_LPS


@dataclass
class _Shape:
    """The drawn curvature, the curve itself, the h range of the world and the listhesis offset along h."""

    curvature: str
    angle_deg: float
    variation: float
    measured_angle: float
    curve: _Curve
    h_range: tuple[float, float]
    offset_of_h: Callable[[np.ndarray], np.ndarray]


def _draw_shape(rng: np.random.Generator, plan: dict[str, Any]) -> _Shape:
    """Curvature: lordotic, straightened or kyphotic, varying along the neck; thoracic kyphosis below C7/T1; a
    random tilt; listhesis shifts everything above a slipped segment along p, ramped through the disc."""
    bodies, discs = plan["bodies"], plan["discs"]
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
    segments = [(d["bottom"], d["top"], d["offset_mm"]) for d in discs.values() if d["offset_mm"] != 0.0]

    def offset_of_h(h: np.ndarray) -> np.ndarray:
        total = np.zeros_like(h, dtype=np.float64)
        for bottom, top, offset in segments:
            total += offset * np.clip((h - bottom) / (top - bottom), 0.0, 1.0)
        return total

    return _Shape(shape, angle_deg, variation, measured_angle, curve, (h_low, h_high), offset_of_h)


@dataclass
class _Pose:
    """Anatomy frame -> LPS: a rotation about the C4 body and a shift into the scanner."""

    angles_deg: np.ndarray
    shift_mm: np.ndarray
    rotation: np.ndarray
    pivot: np.ndarray
    shape: _Shape

    def to_lps(self, x: float, p: float, h: float) -> np.ndarray:
        """A point of the straightened frame (listhesis offset applied) in LPS mm."""
        curve, offset_of_h = self.shape.curve, self.shape.offset_of_h
        return self.rotation @ (curve.to_anatomy(x, p + float(offset_of_h(np.array([h]))[0]), h) - self.pivot) + (
            _SCANNER_OFFSET_LPS + self.shift_mm
        )

    def direction_to_lps(self, yz: np.ndarray) -> np.ndarray:
        """A direction in the anatomy frame's (Y, Z) plane in LPS."""
        return self.rotation @ np.array([0.0, yz[0], yz[1]])

    @property
    def to_anatomy(self) -> tuple[np.ndarray, np.ndarray]:
        """(rotation, translation) taking LPS points to the anatomy frame."""
        return self.rotation.T, self.pivot - self.rotation.T @ (_SCANNER_OFFSET_LPS + self.shift_mm)


def _draw_pose(
    rng: np.random.Generator,
    plan: dict[str, Any],
    shape: _Shape,
    pose: bool,
    max_rotation_deg: float,
    max_translation_mm: float,
) -> _Pose:
    """The patient's rotation (up to ``max_rotation_deg`` per axis) and shift, none without ``pose``."""
    angles = rng.uniform(-max_rotation_deg, max_rotation_deg, 3) if pose else np.zeros(3)
    shift = rng.uniform(-max_translation_mm, max_translation_mm, 3) if pose else np.zeros(3)
    c4 = plan["bodies"]["C4"]
    pivot = shape.curve.to_anatomy(0.0, -c4["depth"] / 2, 0.5 * (c4["top"] + c4["bottom"]))
    return _Pose(angles, shift, _rotation(angles), pivot, shape)
