"""The straightened frame (x, p, h) and the smooth midsagittal curve it is bent onto.

``h`` is arc length along the spine (superior positive, 0 at the tip of the dens), ``p`` the posterior distance
from the posterior vertebral body line; the curve lives in the anatomy frame's (Y, Z) plane, in mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
