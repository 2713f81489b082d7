"""The drawn case (sizes, positions, tumour) and its label map slice by slice, in millimetres around the rectum."""

from __future__ import annotations

import numpy as np

from .labels import (
    AIR,
    ANTERIOR,
    BLADDER,
    BONE,
    FASCIA,
    LUMEN,
    MESO_FAT,
    MUSCLE,
    NODE,
    PELVIC_FAT,
    SUBCUT,
    TUMOUR,
    WALL,
)


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
