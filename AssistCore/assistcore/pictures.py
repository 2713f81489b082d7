"""Pictures a person can open: slices as PNG, shown the way a radiologist expects, with overlays.

Slices are taken along the image's k axis and turned so that the screen follows radiological
convention: axial slices with the patient's right on the screen's left and anterior at the top,
coronal with superior at the top, sagittal with anterior on the left and superior at the top.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .image import Image

# Screen axes (x to the right, y downward) wanted for each slice normal, as LPS unit vectors.
_SCREEN_AXES_LPS = {
    0: (np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0])),  # sagittal: x = posterior, y = inferior
    1: (np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, -1.0])),  # coronal: x = left, y = inferior
    2: (np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])),  # axial: x = left, y = posterior
}


@dataclass(frozen=True)
class SliceDisplay:
    """How array rows/columns (j, i) of one k-slice map to the screen.

    ``transpose``: screen x follows j instead of i. ``flip_x``/``flip_y``: reverse that screen axis.
    """

    transpose: bool
    flip_x: bool
    flip_y: bool

    def apply(self, plane_ji: np.ndarray) -> np.ndarray:
        """Turn a (j, i[, channels]) plane into a (screen_y, screen_x[, channels]) picture."""
        picture = np.swapaxes(plane_ji, 0, 1) if self.transpose else plane_ji
        if self.flip_x:
            picture = picture[:, ::-1]
        if self.flip_y:
            picture = picture[::-1, :]
        return picture

    def unapply(self, picture: np.ndarray) -> np.ndarray:
        """Turn a (screen_y, screen_x[, channels]) picture back into its (j, i[, channels]) plane."""
        plane = picture
        if self.flip_y:
            plane = plane[::-1, :]
        if self.flip_x:
            plane = plane[:, ::-1]
        return np.swapaxes(plane, 0, 1) if self.transpose else plane

    def map_point(self, i: float, j: float, size_ji: tuple[int, int]) -> tuple[float, float]:
        """Screen (x, y) pixel coordinates of voxel-edge coordinates (i, j) on a plane of size (j, i)."""
        rows, columns = size_ji
        x, y, width, height = (j, i, rows, columns) if self.transpose else (i, j, columns, rows)
        if self.flip_x:
            x = width - x
        if self.flip_y:
            y = height - y
        return x, y

    def unmap_point(self, x: float, y: float, size_ji: tuple[int, int]) -> tuple[float, float]:
        """Voxel-edge coordinates (i, j) of screen pixel coordinates (x, y): the inverse of :meth:`map_point`."""
        rows, columns = size_ji
        width, height = (rows, columns) if self.transpose else (columns, rows)
        if self.flip_x:
            x = width - x
        if self.flip_y:
            y = height - y
        return (y, x) if self.transpose else (x, y)


def slice_display(image: Image) -> SliceDisplay:
    """Radiological screen orientation for k-slices of ``image`` (see the module docstring)."""
    normal_axis = int(np.argmax(np.abs(image.direction_lps[:, 2])))
    want_x, want_y = _SCREEN_AXES_LPS[normal_axis]
    axis_i, axis_j = image.direction_lps[:, 0], image.direction_lps[:, 1]
    transpose = abs(axis_j @ want_x) > abs(axis_i @ want_x)
    x_axis, y_axis = (axis_j, axis_i) if transpose else (axis_i, axis_j)
    return SliceDisplay(transpose=transpose, flip_x=bool(x_axis @ want_x < 0), flip_y=bool(y_axis @ want_y < 0))


def window_to_uint8(values: np.ndarray, low_percentile: float = 0.5, high_percentile: float = 99.5) -> np.ndarray:
    """Scale intensities to 0..255 between two percentiles of the finite values (robust to outliers)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape, dtype=np.uint8)
    low, high = np.percentile(finite, [low_percentile, high_percentile])
    scale = 255.0 / (high - low) if high > low else 0.0
    return np.clip((np.nan_to_num(values, nan=low) - low) * scale, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class SliceBox:
    """A rectangle on one slice in voxel-edge coordinates (i0, j0) to (i1, j1), with an optional caption."""

    i0: float
    j0: float
    i1: float
    j1: float
    color_rgb: tuple[int, int, int] = (255, 64, 64)
    caption: str = ""


def render_slice(
    image: Image,
    slice_index: int,
    boxes: Sequence[SliceBox] = (),
    label_plane_ji: np.ndarray | None = None,
    label_colors_rgb: dict[int, tuple[int, int, int]] | None = None,
    label_opacity: float = 0.4,
    intensity_window: tuple[float, float] | None = None,
    upscale: int = 1,
):
    """Render slice ``slice_index`` (k) of ``image`` as an RGB PIL image in radiological orientation.

    :param boxes: rectangles in voxel coordinates of that slice.
    :param label_plane_ji: optional label map of the slice, shape (j, i), blended with ``label_colors_rgb``.
    :param intensity_window: (low, high) display window; default: 0.5-99.5 percentiles of the volume.
    :param upscale: integer zoom so small matrices stay readable.
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw

    if not 0 <= slice_index < image.shape_kji[0]:
        raise IndexError(f"slice {slice_index} outside 0..{image.shape_kji[0] - 1}")
    plane = image.array_kji[slice_index].astype(np.float32)
    if intensity_window is None:
        gray = window_to_uint8(plane) if image.array_kji.size > 5e7 else _window_with_volume(image, plane)
    else:
        low, high = intensity_window
        gray = np.clip((plane - low) * (255.0 / max(high - low, 1e-6)), 0, 255).astype(np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    if label_plane_ji is not None:
        for value, color in (label_colors_rgb or {}).items():
            mask = label_plane_ji == value
            rgb[mask] = (1 - label_opacity) * rgb[mask] + label_opacity * np.asarray(color, dtype=np.float32)
    display = slice_display(image)
    picture = PILImage.fromarray(np.ascontiguousarray(display.apply(rgb.astype(np.uint8))))
    if upscale > 1:
        picture = picture.resize((picture.width * upscale, picture.height * upscale), PILImage.NEAREST)
    draw = ImageDraw.Draw(picture)
    size_ji = plane.shape
    for box in boxes:
        corners = [display.map_point(i, j, size_ji) for i, j in ((box.i0, box.j0), (box.i1, box.j1))]
        xs = sorted(c[0] * upscale for c in corners)
        ys = sorted(c[1] * upscale for c in corners)
        draw.rectangle([xs[0], ys[0], xs[1], ys[1]], outline=tuple(box.color_rgb), width=max(1, upscale))
        if box.caption:
            draw.text((xs[0] + 2, max(0, ys[0] - 12)), box.caption, fill=tuple(box.color_rgb))
    return picture


def tile_grid(rows: Sequence[Sequence]):
    """One RGB PIL picture of ``rows`` of PIL pictures, left to right and top to bottom (montages, strips)."""
    from PIL import Image as PILImage

    width = max(sum(tile.width for tile in row) for row in rows)
    height = sum(max(tile.height for tile in row) for row in rows)
    canvas = PILImage.new("RGB", (width, height))
    y = 0
    for row in rows:
        x = 0
        for tile in row:
            canvas.paste(tile, (x, y))
            x += tile.width
        y += max(tile.height for tile in row)
    return canvas


def _window_with_volume(image: Image, plane: np.ndarray) -> np.ndarray:
    """Window a plane with the volume's percentiles so all slices of a case share one window."""
    finite = image.array_kji[np.isfinite(image.array_kji)]
    low, high = np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0)
    return np.clip((plane - low) * (255.0 / max(high - low, 1e-6)), 0, 255).astype(np.uint8)


def save_png(picture, path: str | os.PathLike[str]) -> Path:
    """Save a PIL image as PNG atomically."""
    with atomic_path(path) as temporary:
        picture.save(temporary, format="PNG")
    return Path(path)
