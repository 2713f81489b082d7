"""SpineAssist pictures: the sagittal overview with level names, and axial slices with their level."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..image import Image
from ..phantoms.spine import LABEL_COLORS_RGB
from ..pictures import render_slice, save_png, slice_display, tile_grid
from ..resample import resample_to_reference
from .model import sagittal_working_grid


def _midline_slice(grid: Image, points_lps: list[list[float]]) -> int:
    if not points_lps:
        return grid.shape_kji[0] // 2
    k = grid.lps_to_index(np.asarray(points_lps, dtype=float))[:, 2]
    return int(min(max(round(float(np.median(k))), 0), grid.shape_kji[0] - 1))


def render_overview(result, path: str | os.PathLike[str], min_height_px: int = 600) -> Path:
    """The sagittal mid-slice (square pixels, anterior left) with the segmentation blended in, each vertebra and
    disc named at its centre, and beside it each axial series' slice nearest a disc, captioned with its level.
    Small matrices are enlarged (whole multiples) to at least ``min_height_px`` so the names stay readable."""
    from PIL import ImageDraw

    grid = sagittal_working_grid(result.sagittal)
    image = resample_to_reference(result.sagittal.with_array(result.sagittal.array_kji.astype(np.float32)), grid)
    labels = resample_to_reference(result.level_map, grid, "nearest")
    k = _midline_slice(grid, [v.center_lps for v in result.vertebrae])
    upscale = max(1, -(-min_height_px // max(grid.shape_kji[1], 1)))
    picture = render_slice(
        image,
        k,
        label_plane_ji=labels.array_kji[k],
        label_colors_rgb=LABEL_COLORS_RGB,
        label_opacity=0.35,
        upscale=upscale,
    )
    draw = ImageDraw.Draw(picture)
    display = slice_display(grid)
    size_ji = grid.shape_kji[1:]
    names = [(v.name, v.center_lps, (255, 200, 60)) for v in result.vertebrae]
    names += [(d.name, d.center_lps, (80, 230, 240)) for d in result.discs]
    for name, centre, colour in names:
        i, j, _ = grid.lps_to_index(np.asarray(centre, dtype=float)[None, :])[0]
        x, y = display.map_point(float(i) + 0.5, float(j) + 0.5, size_ji)
        offset = 28 if "/" in name else -44
        draw.text((x * upscale + offset, y * upscale - 6), name, fill=colour)
    caption = f"{result.labelling.method} labelling, confidence {result.labelling.confidence:.2f}"
    if result.provenance.get("synthetic_demo_model"):
        caption += " - demo model (synthetic data), not for clinical use"
    draw.text((4, 4), caption, fill=(255, 255, 255))
    tiles = [picture]
    for series in result.axial:
        for disc in result.discs:
            chosen = [s for s in disc.axial_slices if s["series"] == series.name]
            if not chosen or series.level_map is None:
                continue
            best = min(chosen, key=lambda s: abs(s["distance_mm"]))["slice_index"]
            tile = render_slice(
                series.image,
                best,
                label_plane_ji=series.level_map.array_kji[best],
                label_colors_rgb=LABEL_COLORS_RGB,
                label_opacity=0.35,
            )
            scale = picture.height / 3 / max(tile.height, 1)
            tile = tile.resize((max(1, int(tile.width * scale)), max(1, int(tile.height * scale))))
            ImageDraw.Draw(tile).text((3, 3), f"{disc.name} ({series.name} slice {best})", fill=(80, 230, 240))
            tiles.append(tile)
    columns = [tiles[0]]
    if len(tiles) > 1:
        stacks = [tiles[1 + n : 4 + n] for n in range(0, len(tiles) - 1, 3)]
        columns += [tile_grid([[t] for t in stack]) for stack in stacks]
    return save_png(tile_grid([columns]), path)
