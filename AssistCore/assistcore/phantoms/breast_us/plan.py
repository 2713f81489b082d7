"""The plan of a sweep: everything random except the per-frame noise (layers, ribs, tissue fields, lesions and
their positions, probe motion, display settings), drawn from ``numpy.random.default_rng(seed)`` in a fixed order.

Depths and positions in mm (``x`` lateral, ``y`` depth, ``z`` elevation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import InputError
from .fields import _Waves
from .lesion import _draw_lesion, _Lesion
from .vocabulary import _KIND_P, _KINDS, _MIN_RIB_DEPTH_MM, _REFERENCE_DEPTH_MM


@dataclass
class _Rib:
    x0: float  # lateral centre (mm) at z = z_mid
    slope: float  # lateral drift per mm of elevation
    centre_depth: float
    half_width: float
    half_thickness: float
    bony: bool  # bone (complete shadow) or costal cartilage (hypoechoic, partial shadow)
    echo: float
    attenuation_db_mm: float


@dataclass
class _SweepPlan:
    seed: int
    n_frames: int
    shape_hw: tuple[int, int]
    spacing: float
    frame_time_ms: float
    step: float
    z: np.ndarray  # (T,) nominal elevation of each frame, mm
    shift: np.ndarray  # (T,) lateral probe shift, mm
    tilt_a: np.ndarray  # (T,) dz/dy of the plane
    tilt_b: np.ndarray  # (T,) dz/dx of the plane
    layers: dict
    fields: dict[str, _Waves]
    ribs: list[_Rib]
    lesions: list[_Lesion]
    display: dict
    speckle: dict
    speckle_seed: int


def _draw_plan(
    seed: int,
    n_frames: int,
    shape_hw: tuple[int, int],
    pixel_spacing_mm: float,
    n_lesions: int | None,
    ribs: bool | None,
) -> _SweepPlan:
    """Everything random about a sweep except the per-frame noise: anatomy, lesions, probe motion, display.

    The arguments are :func:`~.sweep.generate_breast_sweep`'s, which holds their defaults."""
    height, width, spacing = _checked_sweep_arguments(n_frames, shape_hw, pixel_spacing_mm, n_lesions, ribs)
    rng = np.random.default_rng(seed)
    drawn_lesions = int(rng.choice(3, p=[0.2, 0.65, 0.15]))
    drawn_ribs = bool(rng.random() < 0.35)
    n_lesions = drawn_lesions if n_lesions is None else int(n_lesions)
    with_ribs = (drawn_ribs and height * spacing >= _MIN_RIB_DEPTH_MM) if ribs is None else bool(ribs)
    depth_mm, width_mm = height * spacing, width * spacing
    layers, rib_list = _draw_layers(rng, depth_mm, width_mm, with_ribs)
    fields = _draw_fields(rng)
    # lesions: descriptors and sizes first, the sweep's step from the largest, then positions
    kinds = [_KINDS[int(rng.choice(len(_KINDS), p=_KIND_P))] for _ in range(n_lesions)]
    lesions = [_draw_lesion(rng, kind, i, layers["fat_echo"]) for i, kind in enumerate(kinds)]
    motion = _draw_motion(rng, n_frames, lesions)
    z, shift = motion["z"], motion["shift"]
    max_shift = float(np.abs(shift).max())
    _place_lesions(rng, lesions, z, width_mm, depth_mm, layers, rib_list, max_shift, motion["tilt_slack"])
    display, speckle = _draw_display(rng, depth_mm)
    return _SweepPlan(
        seed=int(seed),
        n_frames=int(n_frames),
        shape_hw=(height, width),
        spacing=spacing,
        frame_time_ms=float(motion["frame_time_ms"]),
        step=float(motion["step"]),
        z=z,
        shift=shift,
        tilt_a=motion["tilt_a"],
        tilt_b=motion["tilt_b"],
        layers=layers,
        fields=fields,
        ribs=rib_list,
        lesions=lesions,
        display=display,
        speckle=speckle,
        speckle_seed=int(rng.integers(2**63)),
    )


def _checked_sweep_arguments(
    n_frames: int, shape_hw: tuple[int, int], pixel_spacing_mm: float, n_lesions: int | None, ribs: bool | None
) -> tuple[int, int, float]:
    """(height, width, pixel spacing mm); arguments that cannot make a sweep raise :class:`InputError`."""
    height, width = (int(v) for v in shape_hw)
    spacing = float(pixel_spacing_mm)
    if n_frames < 1 or height < 32 or width < 32 or not spacing > 0:
        raise InputError(
            f"n_frames={n_frames}, shape_hw={shape_hw}, pixel_spacing_mm={pixel_spacing_mm} cannot make a sweep.",
            "Use at least one frame of 32 x 32 pixels and a positive pixel spacing.",
        )
    if n_lesions is not None and not 0 <= int(n_lesions) <= 4:
        raise InputError(f"n_lesions={n_lesions} is out of range.", "Use 0 to 4 lesions, or None to draw it.")
    if ribs and height * spacing < _MIN_RIB_DEPTH_MM:
        raise InputError(
            f"ribs=True needs a field at least {_MIN_RIB_DEPTH_MM:g} mm deep, not {height * spacing:g} mm.",
            "Use more rows or a larger pixel spacing, or ribs=None/False.",
        )
    return height, width, spacing


def _draw_layers(
    rng: np.random.Generator, depth_mm: float, width_mm: float, with_ribs: bool
) -> tuple[dict, list[_Rib]]:
    """Layer depths (mm; interfaces wave with x and z) and echoes, and the ribs (with the pleura below them)."""
    scale = depth_mm / _REFERENCE_DEPTH_MM
    skin = rng.uniform(1.5, 2.5)
    rib_list: list[_Rib] = []
    pleura = None
    if with_ribs:
        half_thickness = rng.uniform(2.2, 3.2)
        rib_top = min(depth_mm * rng.uniform(0.64, 0.74), depth_mm - 2 * half_thickness - 3.0)
        rib_top = max(rib_top, skin + 6.0)
        muscle_top = max(rib_top - scale * rng.uniform(4.0, 7.0), skin + 4.0)
        pleura = rib_top + 2 * half_thickness * rng.uniform(0.75, 0.95) + rng.uniform(0.3, 1.2)
        n_ribs = 2 if width_mm > 30 and rng.random() < 0.45 else 1
        spacing_ribs = rng.uniform(16.0, 22.0)
        first = rng.uniform(0.2, 0.8) * width_mm if n_ribs == 1 else rng.uniform(0.05, 0.35) * width_mm
        for index in range(n_ribs):
            bony = bool(rng.random() < 0.6)
            rib_h = half_thickness * rng.uniform(0.9, 1.1)
            rib_list.append(
                _Rib(
                    x0=first + index * spacing_ribs,
                    slope=rng.uniform(-0.15, 0.15),
                    centre_depth=rib_top + rib_h + rng.uniform(-0.5, 0.5),
                    half_width=rng.uniform(4.0, 6.5),
                    half_thickness=rib_h,
                    bony=bony,
                    echo=rng.uniform(0.08, 0.2) if bony else rng.uniform(0.15, 0.35),
                    attenuation_db_mm=rng.uniform(6.0, 10.0) if bony else rng.uniform(1.5, 3.0),
                )
            )
    else:
        muscle_top = depth_mm * rng.uniform(0.68, 0.86)
    fat_bottom = skin + (muscle_top - skin) * rng.uniform(0.15, 0.38)
    layers = {
        "skin": skin,
        "fat_bottom": fat_bottom,
        "fat_amplitude": scale * rng.uniform(0.8, 2.2),
        "scallop_amplitude": scale * rng.uniform(0.6, 2.0),
        "scallop_period": rng.uniform(6.0, 12.0),
        "ligament_lean": rng.uniform(-0.6, 0.6),
        "muscle_top": muscle_top,
        "muscle_amplitude": scale * rng.uniform(0.3, 1.0),
        "muscle_period": rng.uniform(0.8, 1.5),
        "muscle_slope": rng.uniform(-0.08, 0.08),
        "pleura": pleura,
        "skin_echo": rng.uniform(1.2, 1.7),
        "entry_echo": rng.uniform(1.2, 2.2),
        "fat_echo": rng.uniform(0.3, 0.5),
        "ligament_echo": rng.uniform(0.8, 1.6),
        "septa_echo": rng.uniform(0.15, 0.4),
        "gland_variation": rng.uniform(0.18, 0.32),
        "island_threshold": rng.uniform(0.9, 1.4),
        "fibre_echo": rng.uniform(0.3, 0.7),
        "muscle_echo": rng.uniform(0.35, 0.55),
        "fascia_echo": rng.uniform(0.8, 1.5),
        "pleura_echo": rng.uniform(2.0, 3.5),
        "lung_echo": rng.uniform(0.3, 0.6),
    }
    return layers, rib_list


def _draw_fields(rng: np.random.Generator) -> dict[str, _Waves]:
    """The tissue's random fields: interface waves, textures, lobules, gland, fat islands, fibres, wobble."""
    return {
        "skin": _Waves.draw(rng, (6.0, np.inf, 6.0), n=12),
        "fat": _Waves.draw(rng, (5.0, np.inf, 6.0), n=16),
        "muscle": _Waves.draw(rng, (9.0, np.inf, 9.0), n=12),
        "texture": _Waves.draw(rng, (0.9, 0.5, 0.9), n=48),
        "lobules": _Waves.draw(rng, (2.6, 1.6, 2.6), n=48),
        "gland": _Waves.draw(rng, (2.2, 1.0, 2.2), n=48),
        "islands": _Waves.draw(rng, (2.0, 1.2, 2.0), n=48),
        "fibres": _Waves.draw(rng, (3.5, 1.2, 3.5), n=48),
        "wobble": _Waves.draw(rng, (4.0, 4.0, 5.0), n=32),
    }


def _draw_motion(rng: np.random.Generator, n_frames: int, lesions: list[_Lesion]) -> dict:
    """Frame time, probe tilts, the elevation step (so the largest lesion spans at most ~85 % of the sweep), the
    frames' elevations ``z`` and the lateral drift ``shift`` (mm)."""
    frame_time_ms = 1000.0 / rng.uniform(12.0, 30.0)
    tilt_a = np.tan(np.deg2rad(np.linspace(*rng.uniform(-3.0, 3.0, 2), n_frames)))
    tilt_b = np.tan(np.deg2rad(np.linspace(*rng.uniform(-2.0, 2.0, 2), n_frames)))
    tilt_slack = 3.0 * np.tan(np.deg2rad(3.0)) + 3.0 * np.tan(np.deg2rad(2.0))  # over a lesion's extent
    step = rng.uniform(0.4, 1.0)
    usable = 0.85 * (n_frames - 1) - 2.0  # frames' worth of sweep a lesion may cover, both margins off
    if lesions and usable > 1.0:
        needed = 2.0 * (max(lesion.half_extent()[2] for lesion in lesions) + tilt_slack) / usable
        step = float(np.clip(needed, step, 2.0))
    increments = step * np.clip(1.0 + 0.15 * rng.normal(size=max(n_frames - 1, 0)), 0.5, 1.5)
    z = np.concatenate([[0.0], np.cumsum(increments)])
    max_shift = rng.uniform(0.3, 1.5)
    phase, drift = rng.uniform(0, 2 * np.pi), rng.uniform(-0.5, 0.5)
    progress = np.linspace(0.0, 1.0, n_frames)
    shift = max_shift * (np.sin(2 * np.pi * 0.6 * progress + phase) - np.sin(phase)) / 2 + drift * progress
    shift = np.clip(shift, -1.5, 1.5)
    return {
        "frame_time_ms": frame_time_ms,
        "tilt_a": tilt_a,
        "tilt_b": tilt_b,
        "tilt_slack": tilt_slack,
        "step": step,
        "z": z,
        "shift": shift,
    }


def _draw_display(rng: np.random.Generator, depth_mm: float) -> tuple[dict, dict]:
    """The scanner's display settings (dynamic range, grey map, gains, TGC, focus, noise) and speckle sizes."""
    display = {
        "dynamic_range_db": rng.uniform(45.0, 60.0),
        "gland_grey": rng.uniform(0.42, 0.58),
        "grey_gamma": rng.uniform(1.3, 1.8),
        "post_smoothing_mm": rng.uniform(0.08, 0.14),
        "gain_db": rng.uniform(-3.0, 3.0),
        "tgc_slope_db_mm": rng.uniform(-0.08, 0.08),
        "tgc_ripple": [(rng.uniform(0.5, 1.5), rng.uniform(8.0, 25.0), rng.uniform(0, 2 * np.pi)) for _ in range(2)],
        "focus_mm": depth_mm * rng.uniform(0.35, 0.7),
        "focus_gain_db": rng.uniform(1.0, 3.0),
        "edge_loss_db": rng.uniform(0.5, 2.5),
        "noise_bottom_db": rng.uniform(-28.0, -20.0),
        "noise_slope_db_mm": rng.uniform(0.5, 1.0),
        "flicker_db": rng.uniform(0.0, 0.4),
    }
    speckle = {
        "sigma_axial_mm": rng.uniform(0.15, 0.22),
        "sigma_lateral_mm": rng.uniform(0.35, 0.55),
        "elevation_correlation_mm": rng.uniform(0.6, 1.1),
    }
    return display, speckle


def _place_lesions(rng, lesions, z, width_mm, depth_mm, layers, ribs, max_shift, tilt_slack) -> None:
    """Centre each lesion inside the field (laterally, in depth, above the ribs), mostly in the glandular layer,
    where the sweep passes through it but not at its first or last frame; shrink it until it fits."""
    deepest = min((rib.centre_depth - rib.half_thickness for rib in ribs), default=depth_mm) - 0.5
    z_first, z_last = float(z[0]), float(z[-1])
    placed: list[_Lesion] = []
    for lesion in lesions:
        for attempt in range(60):
            if attempt and attempt % 6 == 0:
                lesion.radii = lesion.radii * 0.88
            ext = lesion.half_extent()
            lateral = (ext[0] + max_shift + 0.5, width_mm - ext[0] - max_shift - 0.5)
            hard = (layers["skin"] + 0.5 + ext[1], deepest - ext[1])
            # the centre lies in the glandular layer, below the fat's deepest waves and scallops
            fat_deep = layers["fat_bottom"] + layers["fat_amplitude"] + 0.4 * layers["scallop_amplitude"]
            low = max(hard[0], fat_deep + 0.2 * ext[1])
            depth = (low, min(hard[1], max(layers["muscle_top"] - 0.3 * ext[1], low + 0.1)))
            slack = tilt_slack + 1.5 * (z[1] - z[0] if len(z) > 1 else 0.0)
            elevation = (z_first + ext[2] + slack, z_last - ext[2] - slack)
            if lateral[0] >= lateral[1] or depth[0] >= depth[1]:
                continue
            if elevation[0] >= elevation[1]:
                if len(z) >= 6 and attempt < 59:
                    lesion.radii = lesion.radii * 0.92  # smaller (same shape) rather than in every frame
                    continue
                elevation = ((z_first + z_last) / 2, (z_first + z_last) / 2 + 1e-6)
            centre = np.array([rng.uniform(*lateral), rng.uniform(*depth), rng.uniform(*elevation)])
            clear = all(np.any(np.abs(centre - other.centre) > ext + other.half_extent() + 1.0) for other in placed)
            if clear or attempt == 59:
                lesion.centre = centre
                break
        lesion.info["centre_mm"] = [round(float(v), 3) for v in lesion.centre]
        lesion.info["radii_mm"] = [round(float(r), 3) for r in lesion.radii]
        placed.append(lesion)
