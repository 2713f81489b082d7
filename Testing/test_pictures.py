"""Slice pictures follow radiological orientation and boxes land on the voxels they mark."""

from __future__ import annotations

import numpy as np
import pytest

from assistcore.image import Image
from assistcore.pictures import SliceBox, render_slice, save_png, slice_display


def _image(direction) -> Image:
    array = np.zeros((3, 20, 30), dtype=np.int16)
    return Image(array, (1.0, 1.0, 2.0), (0.0, 0.0, 0.0), np.asarray(direction, dtype=float))


def test_axial_lps_image_needs_no_turning():
    assert slice_display(_image(np.eye(3))) == slice_display(_image(np.eye(3)))
    display = slice_display(_image(np.eye(3)))
    assert (display.transpose, display.flip_x, display.flip_y) == (False, False, False)


def test_axial_ras_stored_image_is_flipped_so_patient_right_is_on_screen_left():
    display = slice_display(_image(np.diag([-1.0, -1.0, 1.0])))
    assert (display.transpose, display.flip_x, display.flip_y) == (False, True, True)


def test_sagittal_image_shows_anterior_left_and_superior_up():
    # i runs superior (S), j runs anterior (-P), k runs left: a PSR-like sagittal stack
    direction = np.column_stack([[0, 0, 1], [0, -1, 0], [1, 0, 0]]).astype(float)
    display = slice_display(_image(direction))
    assert display.transpose  # screen x must follow j (the anterior-posterior axis)
    assert display.flip_x  # j runs anterior; screen x must run posterior
    assert display.flip_y  # i runs superior; screen y must run inferior


@pytest.mark.parametrize(
    "direction",
    [np.eye(3), np.diag([-1.0, -1.0, 1.0]), np.column_stack([[0, 0, 1], [0, -1, 0], [1, 0, 0]]).astype(float)],
)
def test_box_outline_surrounds_the_voxel_it_marks_after_turning(direction):
    image = _image(direction)
    image.array_kji[1, 5, 7] = 1000  # one bright voxel at i=7, j=5
    picture = np.asarray(render_slice(image, 1, boxes=[SliceBox(6, 4, 9, 7, color_rgb=(255, 0, 0))]))
    bright = np.argwhere((picture[..., 1] > 200) & (picture[..., 0] > 200))
    red = np.argwhere((picture[..., 0] == 255) & (picture[..., 1] == 0))
    assert len(bright) == 1
    y, x = bright[0]
    # strictly inside the outline drawn one voxel around it
    assert red[:, 0].min() < y < red[:, 0].max() and red[:, 1].min() < x < red[:, 1].max()
    assert red[:, 0].max() - red[:, 0].min() == 3 and red[:, 1].max() - red[:, 1].min() == 3


def test_png_is_written_atomically(tmp_path):
    path = save_png(render_slice(_image(np.eye(3)), 0), tmp_path / "a" / "slice.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["slice.png"]
