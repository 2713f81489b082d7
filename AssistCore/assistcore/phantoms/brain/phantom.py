"""The brain phantom: its images and truth, written as NIfTI files, and a montage picture of phantoms."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...brain.regions import EDEMA, ENHANCING, NON_ENHANCING
from ...image import Image
from .tissues import ROLES


@dataclass
class BrainPhantom:
    """One synthetic case: four co-registered contrasts with their ground truth.

    :ivar images: role (``t1``, ``t1c``, ``t2``, ``flair``) -> :class:`Image` (float32, all on one grid, LPS).
    :ivar labels_kji: uint8 (k, j, i) tumour labels in BraTS 2023 values: 1 non-enhancing tumour
        (necrosis, cyst, solid non-enhancing), 2 edema, 3 enhancing tumour (incl. a meningioma's dural tail).
    :ivar brain_mask_kji: bool (k, j, i): the brain (parenchyma with its ventricles and sulci), pushed by the
        tumours' mass effect. Intra-axial tumours lie inside it; extra-axial masses (and dural tails) outside.
    :ivar tumor_type: ``intra-axial`` or ``extra-axial``.
    :ivar lesions: one dict per lesion: ``center_lps`` (mm), ``radius_mm``, ``extra_axial``, ``site``
        (parenchyma | convexity | falx), ``pattern`` (rim | solid | patchy | none | meningioma),
        ``has_enhancement``, ``has_necrosis``, ``has_edema``, ``dural_tail``, ``mass_effect_mm``, ``volume_ml``.
    :ivar seed: the seed that regenerates this phantom.
    :ivar anatomy_kji: uint8 (k, j, i) anatomy under the tumours (:data:`ANATOMY_NAMES`).
    :ivar parameters: what was drawn (pose, slice thickness per contrast, noise, skull), JSON-serialisable.
    """

    images: dict[str, Image]
    labels_kji: np.ndarray
    brain_mask_kji: np.ndarray
    tumor_type: str
    lesions: list[dict] = field(default_factory=list)
    seed: int = 0
    anatomy_kji: np.ndarray | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    def label_image(self) -> Image:
        """The tumour labels as an :class:`Image` on the phantom's grid (uint8, BraTS 2023 values)."""
        reference = self.images["flair"]
        return reference.with_array(self.labels_kji.astype(np.uint8), series_description="tumour labels")


def write_phantom_case(phantom: BrainPhantom, folder: str | os.PathLike[str], case_id: str) -> dict[str, Path]:
    """Write ``<case_id>_<role>.nii.gz`` per contrast and ``<case_id>_seg.nii.gz`` (BraTS 2023 values, uint8).

    :returns: role -> path, plus ``seg`` -> the label file. Files are written atomically.
    """
    from ...image_io import write_image

    folder = Path(folder)
    paths = {role: write_image(image, folder / f"{case_id}_{role}.nii.gz") for role, image in phantom.images.items()}
    labels = phantom.label_image()
    labels = labels.with_array(labels.array_kji, patient_id=case_id)
    paths["seg"] = write_image(labels, folder / f"{case_id}_seg.nii.gz")
    return paths


#: Consensus colours: non-enhancing blue, edema (whole tumour) yellow, enhancing purple.
LABEL_COLORS_RGB = {NON_ENHANCING: (40, 90, 255), EDEMA: (255, 220, 0), ENHANCING: (170, 40, 240)}


def render_phantom_montage(
    phantoms: Sequence[BrainPhantom], path: str | os.PathLike[str], upscale: int | None = None
) -> Path:
    """A PNG with one row per phantom: T1, T1c, T2, FLAIR and FLAIR with the labels, on the axial slice
    holding the most tumour (the middle slice when there is none). Written atomically."""
    from PIL import ImageDraw

    from ...pictures import render_slice, save_png, tile_grid

    rows = []
    for phantom in phantoms:
        per_slice = (phantom.labels_kji > 0).sum(axis=(1, 2))
        k = int(np.argmax(per_slice)) if per_slice.any() else phantom.labels_kji.shape[0] // 2
        zoom = upscale or max(1, round(phantom.images["flair"].spacing_mm[0]))
        tiles = [render_slice(phantom.images[role], k, upscale=zoom) for role in ROLES]
        tiles.append(
            render_slice(
                phantom.images["flair"],
                k,
                label_plane_ji=phantom.labels_kji[k],
                label_colors_rgb=LABEL_COLORS_RGB,
                label_opacity=0.5,
                upscale=zoom,
            )
        )
        caption = f"seed {phantom.seed} {phantom.tumor_type} {len(phantom.lesions)} lesion(s) k={k}"
        ImageDraw.Draw(tiles[0]).text((3, 3), caption, fill=(255, 255, 0))
        for role, tile in zip((*ROLES, "labels"), tiles):
            ImageDraw.Draw(tile).text((3, tile.height - 14), role, fill=(0, 255, 0))
        rows.append(tiles)
    return save_png(tile_grid(rows), path)
