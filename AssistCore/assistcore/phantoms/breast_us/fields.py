"""Random fields on frame planes: Gaussian fields as sums of 3D plane waves, and the imaging plane of a frame.

Coordinates in mm: ``x`` lateral, ``y`` depth below the skin, ``z`` elevation (the sweep direction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
        """Elevation (mm) of the plane at lateral ``x`` and depth ``y``."""
        return self.z0 + self.a * (y - self.y_mid) + self.b * (x - self.x_mid)


def _sigmoid(values: np.ndarray) -> np.ndarray:
    """The logistic function, written with tanh (no overflow warnings for large arguments)."""
    return 0.5 + 0.5 * np.tanh(0.5 * values)
