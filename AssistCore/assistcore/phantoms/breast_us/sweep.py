"""The breast-ultrasound sweep: what :func:`generate_breast_sweep` returns, and the plan-only preview."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .plan import _draw_plan
from .render import _render


@dataclass
class UltrasoundSweep:
    """One synthetic B-mode sweep and its truth.

    ``frames``: (T, H, W) float32 display grey in 0..1; row 0 is the skin (top), column 0 the left.
    ``boxes_xy``: per frame, (N_t, 4) float32 ``x0, y0, x1, y1`` in pixel-edge coordinates (pixel ``(x, y)``
    spans ``x..x+1``, ``y..y+1``) of each visible lesion cross-section. ``lesion_ids``: per frame, (N_t,) int64
    indices into ``lesions``. ``lesions``: one dict per lesion (``id``, ``centre_mm`` [x, depth, elevation] in
    world mm, ``radii_mm`` [3] semi-axes before rotation, ``shape``, ``margin``, ``orientation``,
    ``posterior_features``, ``internal_echo``, ``contrast``, ``small_low_contrast``, plus ``kind``,
    ``rotation_deg`` and ``frames``, the frames where it is boxed). ``rib_boxes_xy``: per frame, (R_t, 4)
    float32 boxes of rib cross-sections. ``pixel_spacing_mm``: isotropic in-plane pixel size;
    ``frame_time_ms``: time between frames; ``elevation_step_mm``: mean probe motion between frames.
    """

    frames: np.ndarray
    boxes_xy: list[np.ndarray]
    lesion_ids: list[np.ndarray]
    lesions: list[dict]
    rib_boxes_xy: list[np.ndarray]
    pixel_spacing_mm: float
    frame_time_ms: float
    elevation_step_mm: float
    seed: int
    description: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        """Number of frames T."""
        return int(self.frames.shape[0])

    def frames_with_lesion(self) -> list[int]:
        """Indices of the frames that hold at least one lesion box."""
        return [t for t, boxes in enumerate(self.boxes_xy) if len(boxes)]


def generate_breast_sweep(
    seed: int,
    n_frames: int = 30,
    shape_hw: tuple[int, int] = (256, 256),
    pixel_spacing_mm: float = 0.15,
    n_lesions: int | None = None,
    ribs: bool | None = None,
) -> UltrasoundSweep:
    """One synthetic breast-ultrasound sweep, the same for the same arguments.

    :param n_frames: frames T of the cine (the probe moves ~0.4-2 mm between frames; with lesions the step is
        chosen so that the largest lesion spans at most ~85 % of the sweep).
    :param shape_hw: frame size (H rows of depth, W columns); the field is ``H * pixel_spacing_mm`` deep.
    :param n_lesions: None draws it (20 % without lesion, 65 % one, 15 % two); 0..4 forces it.
    :param ribs: None draws it (35 % with ribs, in cross-section deep in the field); True/False forces it.
    """
    plan = _draw_plan(seed, n_frames, shape_hw, pixel_spacing_mm, n_lesions, ribs)
    frames, boxes, ids, rib_boxes = _render(plan)
    lesions = []
    for index, lesion in enumerate(plan.lesions):
        info = dict(lesion.info)
        info["frames"] = [t for t, frame_ids in enumerate(ids) if index in frame_ids]
        lesions.append(info)
    description = {
        "ribs": [
            {"bony": rib.bony, "half_width_mm": round(rib.half_width, 2), "depth_mm": round(rib.centre_depth, 2)}
            for rib in plan.ribs
        ],
        "skin_mm": round(plan.layers["skin"], 2),
        "fat_bottom_mm": round(plan.layers["fat_bottom"], 2),
        "muscle_top_mm": round(plan.layers["muscle_top"], 2),
        "dynamic_range_db": round(plan.display["dynamic_range_db"], 1),
        "lateral_shift_mm": [round(float(v), 3) for v in plan.shift],
        "elevation_mm": [round(float(v), 3) for v in plan.z],
    }
    return UltrasoundSweep(
        frames=frames,
        boxes_xy=boxes,
        lesion_ids=ids,
        lesions=lesions,
        rib_boxes_xy=rib_boxes,
        pixel_spacing_mm=plan.spacing,
        frame_time_ms=round(plan.frame_time_ms, 3),
        elevation_step_mm=round(plan.step, 4),
        seed=int(seed),
        description=description,
    )


def describe_breast_sweep(
    seed: int,
    n_frames: int = 30,
    shape_hw: tuple[int, int] = (256, 256),
    pixel_spacing_mm: float = 0.15,
    n_lesions: int | None = None,
    ribs: bool | None = None,
) -> dict:
    """What :func:`generate_breast_sweep` with the same arguments will draw, without rendering (milliseconds):
    ``{"lesions": [...] (as in the sweep, without "frames"), "ribs": int, "elevation_step_mm": float}``.
    Handy to pick seeds for a balanced training set or for a test needing a given kind of lesion."""
    plan = _draw_plan(seed, n_frames, shape_hw, pixel_spacing_mm, n_lesions, ribs)
    return {
        "lesions": [dict(lesion.info) for lesion in plan.lesions],
        "ribs": len(plan.ribs),
        "elevation_step_mm": round(plan.step, 4),
    }
