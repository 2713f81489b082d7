"""Painting the straightened world: labels and intensity classes of every structure of the cervical spine.

Structures are painted in a fixed order, later ones overriding earlier ones: soft tissue and airway, posterior
elements, C1's posterior arch, canal contents and ligamentum flavum, the PLL over the discs' posterior
surfaces, bodies with the dens and C1's anterior arch, discs with their herniated material, osteophytes.
Coordinates are the straightened frame (x, p, h) in mm; ``pe`` is p less the listhesis offset at h.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...spine.labels import CORD, DISCS, DURAL_SAC, LABEL_OF, LF, PLL, POSTERIOR_ELEMENTS, SOFT_TISSUE, VERTEBRAE
from .tissues import (
    _AIR,
    _ANNULUS,
    _CORD,
    _CORTEX,
    _CSF,
    _FAT,
    _LIGAMENT,
    _MARROW,
    _MUSCLE,
    _NUCLEUS,
    _NUCLEUS_DEG,
    _SPINOUS_LENGTHS,
)
from .world import _inside_body, _superellipse, _World


@dataclass
class _Landmarks:
    """Canal and upper-cervical positions (mm) shared by the painting steps."""

    ap: float  # canal depth
    half_width: float
    lamina: float
    pc: float  # canal centre, posterior of the body line
    h_top: float
    h_bottom: float
    dens_top: float
    dens_bottom: float
    arch_h: float  # height of C1's arches
    dens_pc: float
    dens_r: float


def _landmarks(plan: dict[str, Any], world: _World) -> _Landmarks:
    canal, c2 = plan["canal"], plan["bodies"]["C2"]
    ap, half_width, lamina = canal["ap"], canal["width"] / 2, canal["lamina"]
    dens_top, dens_bottom = 0.0, c2["top"]
    return _Landmarks(
        ap=ap,
        half_width=half_width,
        lamina=lamina,
        pc=ap / 2.0,
        h_top=float(world.h[-1]),
        h_bottom=float(world.h[0]),
        dens_top=dens_top,
        dens_bottom=dens_bottom,
        arch_h=dens_bottom + 0.55 * (dens_top - dens_bottom),
        dens_pc=-0.5 * c2["depth"],
        dens_r=0.33 * c2["depth"],
    )


def _paint_world(plan: dict[str, Any], world: _World) -> None:
    """Paint labels and intensity classes: soft tissue, posterior elements, canal contents, ligaments, bodies,
    discs with their herniations, osteophytes (later structures override earlier ones)."""
    marks = _landmarks(plan, world)
    _paint_neck(plan, world)
    _paint_posterior_elements(plan, world, marks)
    _paint_c1_posterior_arch(world, marks)
    _paint_canal(plan, world, marks)
    surfaces = _disc_surfaces(plan, world)
    _paint_pll(plan, world, marks, surfaces)
    _paint_bodies(plan, world, marks)
    _paint_discs(plan, world, surfaces)
    _paint_osteophytes(plan, world)


def _paint_neck(plan: dict[str, Any], world: _World) -> None:
    """Muscle with a subcutaneous fat layer over the whole neck, the airway in front of the spine (below C2)."""
    bodies = plan["bodies"]
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


def _paint_posterior_elements(plan: dict[str, Any], world: _World, marks: _Landmarks) -> None:
    """Per vertebra C2..T3: pedicles and laminae around the canal, a spinous process going back and down."""
    bodies = plan["bodies"]
    ap, half_width, lamina, pc = marks.ap, marks.half_width, marks.lamina, marks.pc
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


def _paint_c1_posterior_arch(world: _World, marks: _Landmarks) -> None:
    """C1's posterior arch behind the canal at the height of the dens."""
    ap, half_width, lamina, pc = marks.ap, marks.half_width, marks.lamina, marks.pc
    arch_h = marks.arch_h
    box = world.box(arch_h - 5, arch_h + 5, pc, pc + ap / 2 + lamina + 1, -half_width - lamina, half_width + lamina)
    if box:
        index, h, pe, x = box
        r_outer = np.sqrt((x / (half_width + lamina)) ** 2 + ((pe - pc) / (ap / 2 + lamina)) ** 2)
        r_canal = np.sqrt((x / half_width) ** 2 + ((pe - pc) / (ap / 2)) ** 2)
        arch = (r_outer <= 1.0) & (r_canal > 1.0) & (np.abs(h - arch_h) <= 4.0)
        world.paint(index, arch, LABEL_OF["C1"], _CORTEX)


def _paint_canal(plan: dict[str, Any], world: _World, marks: _Landmarks) -> None:
    """Canal contents along the whole length (epidural fat, dural sac, cord) and the ligamentum flavum."""
    bodies, discs, canal = plan["bodies"], plan["discs"], plan["canal"]
    ap, half_width, pc = marks.ap, marks.half_width, marks.pc
    h_top, h_bottom = marks.h_top, marks.h_bottom
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


def _disc_surfaces(plan: dict[str, Any], world: _World) -> dict[str, tuple]:
    """Per disc, (world index, posterior surface height in mm over the body line) of its bulge or herniation."""
    discs = plan["discs"]
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
    return surfaces


def _paint_pll(plan: dict[str, Any], world: _World, marks: _Landmarks, surfaces: dict[str, tuple]) -> None:
    """The PLL over the discs' posterior surfaces, its thickness interpolated along h between the disc levels."""
    discs = plan["discs"]
    h_top, h_bottom, dens_top = marks.h_top, marks.h_bottom, marks.dens_top
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


def _paint_bodies(plan: dict[str, Any], world: _World, marks: _Landmarks) -> None:
    """Vertebral bodies (marrow with a cortical rim and endplates), C2's dens and C1's anterior arch."""
    bodies = plan["bodies"]
    dens_top, dens_bottom, arch_h = marks.dens_top, marks.dens_bottom, marks.arch_h
    dens_pc, dens_r = marks.dens_pc, marks.dens_r
    # vertebral bodies: marrow with a cortical rim and endplates; C2 with the dens
    for name in VERTEBRAE[1:]:
        body = bodies[name]
        depth, width, _height = body["depth"], body["width"], body["height"]
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


def _paint_discs(plan: dict[str, Any], world: _World, surfaces: dict[str, tuple]) -> None:
    """Discs: annulus, nucleus (dark when degenerated) and the herniated material behind the body line."""
    discs = plan["discs"]
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


def _paint_osteophytes(plan: dict[str, Any], world: _World) -> None:
    """Osteophytes: bony spurs at a body corner, reaching beyond the anterior (or posterior) line."""
    bodies = plan["bodies"]
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
