"""The straightened world (x, p, h): label and class volumes painted box by box, and what is measured on them."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...spine.labels import LABEL_OF, LF, PLL, VERTEBRAE
from .tissues import _WORLD_P, _WORLD_SPACING, _WORLD_X


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
