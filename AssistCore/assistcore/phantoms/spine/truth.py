"""Ground truth of a spine phantom: the vertebrae and disc levels as rendered, and the phantom itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ...image import Image
from ...spine.labels import SPINE_LABELS


@dataclass
class SpineVertebra:
    """One vertebra as rendered.

    :ivar name: ``C1`` .. ``T3``; :ivar label: its value in :data:`SPINE_LABELS`.
    :ivar center_lps: body centre (C1: anterior arch centre), LPS mm.
    :ivar depth_mm: AP length of the endplates (C1: 0); :ivar width_mm, height_mm: body size.
    :ivar osteophyte: a spur was drawn at a body corner; :ivar osteophyte_mm: how far the bone reaches beyond
        the body's anterior (or posterior) line, measured on the painted labels (0 when none).
    :ivar osteophyte_site: ``anterior-superior`` | ``anterior-inferior`` | ``posterior-superior`` |
        ``posterior-inferior`` | None.
    :ivar visible: the centre lies inside the sagittal grid.
    """

    name: str
    label: int
    center_lps: list[float]
    depth_mm: float
    width_mm: float
    height_mm: float
    osteophyte: bool = False
    osteophyte_mm: float = 0.0
    osteophyte_site: str | None = None
    visible: bool = False


@dataclass
class SpineLevel:
    """One disc level (motion segment) with its findings, as rendered.

    :ivar name: ``C2/3`` .. ``T2/T3``; :ivar upper, lower: the vertebrae; :ivar label: the disc's label value.
    :ivar disc_center_lps: centre of the disc (LPS mm, at mid-height, mid-depth, midline).
    :ivar disc_normal_lps: unit normal of the disc mid-plane, pointing superior (the local spine axis).
    :ivar posterior_lps: unit vector in the disc mid-plane pointing posterior (midsagittal).
    :ivar disc_height_mm: nominal height; :ivar degenerated: desiccated nucleus (dark on T2), thinner disc.
    :ivar herniation: one of :data:`HERNIATION_TYPES`; :ivar side: None, ``left`` or ``right`` (paracentral and
        foraminal). :ivar protrusion_mm: how far disc material reaches past the posterior body line, measured
        on the painted labels (about 0.3 mm for a normal disc); bulges < 5 mm broad-based, herniations focal.
    :ivar listhesis_grade: 0..4 (Meyerding: quarters of the lower endplate length); :ivar listhesis_direction:
        ``anterior`` | ``posterior`` | None (of the upper vertebra); :ivar listhesis_mm: measured offset (>= 0) of
        the upper body's posterior wall against the lower one's, at mid-height, on the painted labels.
    :ivar pll_thickness_mm, lf_thickness_mm: measured midline thicknesses at the level (painted labels);
        :ivar pll_thickened, lf_thickened: thickness > 2 mm.
    :ivar visible: the disc centre lies inside the sagittal grid. :ivar axial_block: index into
        ``SpinePhantom.axial_t2_blocks`` of the block planned through this disc, or None.
    """

    name: str
    upper: str
    lower: str
    label: int
    disc_center_lps: list[float]
    disc_normal_lps: list[float]
    posterior_lps: list[float]
    disc_height_mm: float
    degenerated: bool = False
    herniation: str = "normal"
    side: str | None = None
    protrusion_mm: float = 0.0
    listhesis_grade: int = 0
    listhesis_direction: str | None = None
    listhesis_mm: float = 0.0
    pll_thickness_mm: float = 0.0
    lf_thickness_mm: float = 0.0
    pll_thickened: bool = False
    lf_thickened: bool = False
    visible: bool = False
    axial_block: int | None = None


@dataclass
class SpinePhantom:
    """One synthetic cervical-spine MRI case.

    :ivar sagittal_t2, sagittal_t1: float32 images on one sagittal grid (``sagittal_t1`` None without T1).
    :ivar sagittal_labels: uint8 :data:`SPINE_LABELS` on the same grid.
    :ivar axial_t2_blocks: one float32 image per planned disc, oblique along the disc; ``axial_label_blocks``
        the uint8 labels on each block's grid; ``axial_block_levels`` the disc name per block.
    :ivar vertebrae, levels: ground truth (:class:`SpineVertebra`, :class:`SpineLevel`), top down.
    :ivar first_visible_vertebra: the highest of C2..T3 whose body centre lies in the sagittal grid.
    :ivar seed: regenerates the phantom; :ivar parameters: what was drawn (pose, curvature, acquisition).
    """

    sagittal_t2: Image
    sagittal_t1: Image | None
    sagittal_labels: Image
    axial_t2_blocks: list[Image]
    axial_label_blocks: list[Image]
    axial_block_levels: list[str]
    vertebrae: list[SpineVertebra]
    levels: list[SpineLevel]
    first_visible_vertebra: str | None
    seed: int = 0
    parameters: dict[str, Any] = field(default_factory=dict)

    def level(self, name: str) -> SpineLevel:
        """The disc level called ``name`` (``C5/6``)."""
        for level in self.levels:
            if level.name == name:
                return level
        raise KeyError(name)

    def vertebra(self, name: str) -> SpineVertebra:
        """The vertebra called ``name`` (``C5``)."""
        for vertebra in self.vertebrae:
            if vertebra.name == name:
                return vertebra
        raise KeyError(name)

    def truth(self) -> dict[str, Any]:
        """JSON-serialisable ground truth: levels, vertebrae, grids (planes) and drawn parameters."""

        def plane(image: Image, role: str, level: str | None = None) -> dict[str, Any]:
            return {
                "role": role,
                "level": level,
                "shape_kji": list(image.shape_kji),
                "spacing_mm": list(image.spacing_mm),
                "origin_lps": list(image.origin_lps),
                "direction_lps": image.direction_lps.tolist(),
                "slice_normal_lps": image.slice_normal_lps().tolist(),
                "slice_thickness_mm": image.metadata.extra.get("slice_thickness_mm"),
            }

        planes = [plane(self.sagittal_t2, "sag_t2")]
        planes += [
            plane(b, f"ax_t2_block{n}", lv)
            for n, (b, lv) in enumerate(zip(self.axial_t2_blocks, self.axial_block_levels))
        ]
        return {
            "seed": self.seed,
            "labels": {str(k): v for k, v in SPINE_LABELS.items()},
            "first_visible_vertebra": self.first_visible_vertebra,
            "vertebrae": [asdict(v) for v in self.vertebrae],
            "levels": [asdict(v) for v in self.levels],
            "planes": planes,
            "parameters": self.parameters,
        }


def _round(values: np.ndarray, digits: int = 3) -> list[float]:
    """``values`` as a list of floats rounded to ``digits`` (for the JSON truth)."""
    return [round(float(v), digits) for v in values]
