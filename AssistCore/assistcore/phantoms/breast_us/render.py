"""Rendering a sweep: per frame, the layered tissue's echogenicity on the frame plane, rib and lesion
cross-sections (with their boxes), then speckle, attenuation, noise floor, gains and log compression.

Frames are (T, H, W) float32 display grey 0..1; boxes are pixel-edge ``x0, y0, x1, y1``.
"""

from __future__ import annotations

import numpy as np

from .fields import _Plane, _sigmoid
from .lesion import _Lesion, _surface
from .plan import _SweepPlan
from .vocabulary import MIN_BOX_PIXELS


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
