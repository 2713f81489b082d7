"""SpineAssist pictures: the sagittal overview with level names, and axial slices with their level."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..image import Image
from ..pictures import render_slice, save_png, slice_display, tile_grid
from ..resample import resample_to_reference
from .labels import LABEL_COLORS_RGB
from .model import sagittal_working_grid


def _midline_slice(grid: Image, points_lps: list[list[float]]) -> int:
    if not points_lps:
        return grid.shape_kji[0] // 2
    k = grid.lps_to_index(np.asarray(points_lps, dtype=float))[:, 2]
    return int(min(max(round(float(np.median(k))), 0), grid.shape_kji[0] - 1))


def _spread(positions: list[float], gap: float, low: float, high: float) -> list[float]:
    """Label heights moved apart (at least ``gap``) in their order, kept within low..high."""
    placed: list[float] = []
    for value in positions:
        placed.append(max(value, placed[-1] + gap) if placed else max(value, low))
    overflow = (placed[-1] - high) if placed else 0.0
    if overflow > 0:
        placed = [max(low, value - overflow) for value in placed]
        for index in range(1, len(placed)):
            placed[index] = max(placed[index], placed[index - 1] + gap)
    return placed


def render_overview(result, path: str | os.PathLike[str], min_height_px: int = 600) -> Path:
    """The sagittal mid-slice (square pixels, anterior left, the whole field of view) with the segmentation
    blended in and, in a margin beside it, each vertebra and disc named with a line to its centre; above it, how
    the levels were named. Discs the atlas located but could not name are marked ``disc ?``. Beside it each
    axial series' slice nearest a disc, captioned with its level. Small matrices are enlarged (whole multiples)
    to at least ``min_height_px`` (at least 512) so the names stay readable."""
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    grid = sagittal_working_grid(result.sagittal)
    image = resample_to_reference(result.sagittal.with_array(result.sagittal.array_kji.astype(np.float32)), grid)
    labels = resample_to_reference(result.level_map, grid, "nearest")
    atlas_discs = (result.atlas or {}).get("discs", []) if not result.discs else []
    centres = [v.center_lps for v in result.vertebrae] or [d["center_lps"] for d in atlas_discs]
    k = _midline_slice(grid, centres)
    upscale = max(1, -(-max(min_height_px, 512) // max(grid.shape_kji[1], 1)))
    scan = render_slice(
        image,
        k,
        label_plane_ji=labels.array_kji[k],
        label_colors_rgb=LABEL_COLORS_RGB,
        label_opacity=0.35,
        upscale=upscale,
    )
    font = ImageFont.load_default(size=16)
    small = ImageFont.load_default(size=13)
    margin, header = 96, 44
    picture = PILImage.new("RGB", (scan.width + margin, scan.height + header))
    picture.paste(scan, (margin, header))
    draw = ImageDraw.Draw(picture)
    display = slice_display(grid)
    size_ji = grid.shape_kji[1:]
    names = [(v.name, v.center_lps, (255, 200, 60)) for v in result.vertebrae]
    names += [(d.name, d.center_lps, (80, 230, 240)) for d in result.discs]
    names += [("disc ?", d["center_lps"], (190, 190, 190)) for d in atlas_discs]
    points = []
    for name, centre, colour in names:
        i, j, _ = grid.lps_to_index(np.asarray(centre, dtype=float)[None, :])[0]
        x, y = display.map_point(float(i) + 0.5, float(j) + 0.5, size_ji)
        points.append((y * upscale + header, x * upscale + margin, name, colour))
    points.sort()
    heights = _spread([p[0] for p in points], 18.0, header + 2.0, picture.height - 18.0)
    for (y, x, name, colour), label_y in zip(points, heights):
        indent = 4 if "/" in name or "?" in name else 14
        draw.line([(margin - 4, label_y), (x, y)], fill=colour, width=1)
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        draw.text((indent, label_y - 9), name, fill=colour, font=font)
    labelling = result.labelling
    caption = f"levels: {labelling.method}, confidence {labelling.confidence:.2f}"
    if labelling.method == "none":
        caption = "levels unknown (C2 not recognised, atlas match ambiguous): give an anchor"
    if result.provenance.get("synthetic_demo_model"):
        caption += "  |  demo model (synthetic data), not for clinical use"
    draw.text((4, 4), caption, fill=(255, 255, 255), font=font)
    draw.text(
        (4, 24),
        "anterior left, superior up; names beside each body (yellow) and disc (cyan)",
        fill=(170, 170, 170),
        font=small,
    )
    tiles = [picture, *_axial_tiles(result, picture.height, small)]
    columns = [tiles[0]]
    if len(tiles) > 1:
        stacks = [tiles[1 + n : 4 + n] for n in range(0, len(tiles) - 1, 3)]
        columns += [tile_grid([[t] for t in stack]) for stack in stacks]
    return save_png(tile_grid([columns]), path)


def _axial_tiles(result, picture_height: int, font) -> list:
    """Per axial series and disc, the series' slice nearest the disc with its levels blended in, a third of
    ``picture_height`` tall, captioned with the disc, series and slice."""
    from PIL import ImageDraw

    tiles = []
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
            scale = picture_height / 3 / max(tile.height, 1)
            tile = tile.resize((max(1, int(tile.width * scale)), max(1, int(tile.height * scale))))
            ImageDraw.Draw(tile).text(
                (3, 3), f"{disc.name} ({series.name} slice {best})", fill=(80, 230, 240), font=font
            )
            tiles.append(tile)
    return tiles
