"""Writing a spine phantom as NIfTI files with its truth JSON, and a montage picture of phantoms."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from ...spine.labels import LABEL_COLORS_RGB
from .truth import SpinePhantom


def write_spine_phantom_case(phantom: SpinePhantom, folder: str | os.PathLike[str], case_id: str) -> dict[str, Path]:
    """Write the case as NIfTI plus a truth JSON, each file atomically.

    Files: ``<case_id>_sag_t2.nii.gz``, ``<case_id>_sag_t1.nii.gz`` (when rendered), ``<case_id>_sag_labels.nii.gz``,
    ``<case_id>_ax_t2_block<N>.nii.gz`` and ``<case_id>_ax_labels_block<N>.nii.gz`` per axial block, and
    ``<case_id>_truth.json`` (:meth:`SpinePhantom.truth`).

    :returns: role (``sag_t2``, ``sag_t1``, ``sag_labels``, ``ax_t2_block0``, ``ax_labels_block0``, ..., ``truth``)
        -> path.
    """
    from ...atomic import write_text_atomic
    from ...image_io import write_image

    folder = Path(folder)
    images = {"sag_t2": phantom.sagittal_t2, "sag_t1": phantom.sagittal_t1, "sag_labels": phantom.sagittal_labels}
    for n, (block, labels) in enumerate(zip(phantom.axial_t2_blocks, phantom.axial_label_blocks)):
        images[f"ax_t2_block{n}"] = block
        images[f"ax_labels_block{n}"] = labels
    paths = {}
    for role, image in images.items():
        if image is not None:
            paths[role] = write_image(image, folder / f"{case_id}_{role}.nii.gz")
    truth = {"case_id": case_id, **phantom.truth(), "files": {role: path.name for role, path in paths.items()}}
    paths["truth"] = write_text_atomic(folder / f"{case_id}_truth.json", json.dumps(truth, indent=1) + "\n")
    return paths


def render_spine_phantom_montage(
    phantoms: Sequence[SpinePhantom], path: str | os.PathLike[str], upscale: int = 1
) -> Path:
    """A PNG with one row per phantom: mid-sagittal T2, T1, T2 with labels, then each axial block's middle
    slice with labels (captions name the seed, the first visible vertebra and the block's disc). Written
    atomically."""
    from PIL import ImageDraw

    from ...pictures import render_slice, save_png, tile_grid

    rows = []
    for phantom in phantoms:
        k = phantom.sagittal_t2.shape_kji[0] // 2
        labels = phantom.sagittal_labels.array_kji
        tiles = [render_slice(phantom.sagittal_t2, k, upscale=upscale)]
        if phantom.sagittal_t1 is not None:
            tiles.append(render_slice(phantom.sagittal_t1, k, upscale=upscale))
        tiles.append(
            render_slice(
                phantom.sagittal_t2,
                k,
                label_plane_ji=labels[k],
                label_colors_rgb=LABEL_COLORS_RGB,
                label_opacity=0.45,
                upscale=upscale,
            )
        )
        ImageDraw.Draw(tiles[0]).text(
            (3, 3), f"seed {phantom.seed} top {phantom.first_visible_vertebra}", fill=(255, 255, 0)
        )
        for block, block_labels, name in zip(
            phantom.axial_t2_blocks, phantom.axial_label_blocks, phantom.axial_block_levels
        ):
            middle = block.shape_kji[0] // 2
            tile = render_slice(
                block,
                middle,
                label_plane_ji=block_labels.array_kji[middle],
                label_colors_rgb=LABEL_COLORS_RGB,
                label_opacity=0.3,
                upscale=upscale,
            )
            level = phantom.level(name)
            caption = f"{name} {level.herniation}{' ' + level.side if level.side else ''}"
            ImageDraw.Draw(tile).text((3, 3), caption, fill=(0, 255, 0))
            tiles.append(tile)
        rows.append(tiles)
    return save_png(tile_grid(rows), path)
