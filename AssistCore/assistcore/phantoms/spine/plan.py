"""The plan of a spine phantom: sizes and positions along h, findings per disc and vertebra, canal and neck.

Everything is drawn from the generator in a fixed order, fully, and only then overridden by forced findings, so
forcing one finding changes nothing else. Sizes in mm along the straightened frame (x, p, h).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ...errors import InputError
from ...spine.labels import DISCS, FINDING_LEVELS, HERNIATION_TYPES, VERTEBRAE
from .tissues import _BODY_SIZES, _DISC_HEIGHTS

_FINDING_KEYS = {
    "herniation",
    "side",
    "depth_mm",
    "degenerated",
    "listhesis_grade",
    "listhesis_direction",
    "pll_mm",
    "lf_mm",
}
_VERTEBRA_KEYS = {"osteophyte_mm", "osteophyte_site"}
_OSTEOPHYTE_SITES = ("anterior-superior", "anterior-inferior", "posterior-superior", "posterior-inferior")


def _check_findings(findings: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """The forced findings as plain dicts; unknown levels, keys or values raise :class:`InputError`."""
    findings = {str(k): dict(v) for k, v in (findings or {}).items()}
    for name, values in findings.items():
        allowed = _FINDING_KEYS if name in FINDING_LEVELS else _VERTEBRA_KEYS if name in VERTEBRAE[1:8] else None
        if allowed is None:
            raise InputError(
                f"Cannot force findings at {name!r}.",
                f"Use a disc level of {', '.join(FINDING_LEVELS)} or a vertebra of {', '.join(VERTEBRAE[1:8])}.",
            )
        unknown = set(values) - allowed
        if unknown:
            raise InputError(f"Unknown finding keys {sorted(unknown)} at {name}.", f"Use {sorted(allowed)}.")
        if "herniation" in values and values["herniation"] not in HERNIATION_TYPES:
            raise InputError(
                f"Unknown herniation {values['herniation']!r} at {name}.", f"Use one of {', '.join(HERNIATION_TYPES)}."
            )
        if "listhesis_grade" in values and int(values["listhesis_grade"]) not in range(5):
            raise InputError(f"Listhesis grade {values['listhesis_grade']!r} at {name} is not 0..4.", "Use 0..4.")
    return findings


def _plan(rng: np.random.Generator, findings: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Sizes, positions along h and findings (drawn fully, then overridden, so overrides change nothing else)."""
    scale = rng.uniform(0.9, 1.12)
    dens_length = scale * rng.uniform(12.0, 16.0)
    bodies, discs, bottom = _plan_sizes(rng, scale, dens_length, findings)
    for index, disc in enumerate(DISCS):
        _plan_disc(rng, disc, discs[disc], bodies, VERTEBRAE[index + 1], VERTEBRAE[index + 2], findings.get(disc, {}))
    _plan_osteophytes(rng, bodies, discs, findings)
    canal = {
        "ap": rng.uniform(13.0, 17.0),
        "width": rng.uniform(22.0, 27.0),
        "sac_inset": rng.uniform(0.8, 1.5),
        "sac_posterior_fat": rng.uniform(1.0, 2.5),
        "cord_ap": rng.uniform(6.5, 8.5),
        "cord_width": rng.uniform(10, 13),
        "lamina": rng.uniform(3.5, 5.0),
    }
    return {
        "scale": scale,
        "dens_length": dens_length,
        "bodies": bodies,
        "discs": discs,
        "canal": canal,
        "bottom": bottom,
    }


def _plan_sizes(
    rng: np.random.Generator, scale: float, dens_length: float, findings: dict[str, dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], float]:
    """(bodies, discs, bottom h): body and disc sizes stacked top down from the C2 body's top at
    ``-dens_length``; degenerated discs are lower."""
    bodies: dict[str, dict[str, Any]] = {}
    discs: dict[str, dict[str, Any]] = {}
    cursor = -dens_length  # top of the C2 body
    for index, name in enumerate(VERTEBRAE[1:]):
        depth, width, height = (v * scale * rng.uniform(0.96, 1.04) for v in _BODY_SIZES[name])
        bodies[name] = {"depth": depth, "width": width, "height": height, "top": cursor, "bottom": cursor - height}
        cursor -= height
        if index < len(DISCS):
            disc = DISCS[index]
            degenerated = bool(rng.random() < (0.35 if disc in ("C5/6", "C6/7") else 0.2)) and disc in FINDING_LEVELS
            degenerated = bool(findings.get(disc, {}).get("degenerated", degenerated))
            disc_height = (
                _DISC_HEIGHTS[disc] * scale * rng.uniform(0.9, 1.1) * (rng.uniform(0.5, 0.8) if degenerated else 1.0)
            )
            discs[disc] = {
                "height": disc_height,
                "top": cursor,
                "bottom": cursor - disc_height,
                "degenerated": degenerated,
            }
            cursor -= disc_height
    return bodies, discs, cursor


def _plan_disc(
    rng: np.random.Generator,
    disc: str,
    info: dict[str, Any],
    bodies: dict[str, dict[str, Any]],
    upper: str,
    lower: str,
    forced: dict[str, Any],
) -> None:
    """The findings of one disc drawn into ``info``: herniation (more likely when degenerated) with its side and
    depth, listhesis grade and direction, PLL and LF thickness; thoracic discs stay normal."""
    info.update(
        upper=upper,
        lower=lower,
        center=0.5 * (info["top"] + info["bottom"]),
        depth=0.5 * (bodies[upper]["depth"] + bodies[lower]["depth"]),
        width=0.5 * (bodies[upper]["width"] + bodies[lower]["width"]),
    )
    odds = [0.3, 0.3, 0.15, 0.15, 0.1] if info["degenerated"] else [0.75, 0.15, 0.04, 0.04, 0.02]
    herniation = str(rng.choice(HERNIATION_TYPES, p=odds))
    side = "left" if rng.random() < 0.5 else "right"
    bulge_depth, focal_depth = rng.uniform(1.5, 3.5), rng.uniform(2.5, 6.5)
    focal_radius_x, focal_radius_h = rng.uniform(3.5, 6.0), rng.uniform(0.5, 2.0)
    paracentral_x, foraminal_inset = rng.uniform(3.5, 6.0), rng.uniform(1.5, 3.0)
    listhesis = bool(rng.random() < 0.07)
    direction = "anterior" if rng.random() < 0.65 else "posterior"
    grade = int(rng.choice([1, 2, 3], p=[0.75, 0.2, 0.05])) if listhesis else 0
    fraction_in_grade = rng.uniform(0.3, 0.8)
    pll_thick, lf_thick = bool(rng.random() < 0.15), bool(rng.random() < 0.18)
    pll_mm = rng.uniform(3.0, 6.0) if pll_thick else rng.uniform(1.0, 1.5)
    lf_mm = rng.uniform(3.0, 6.0) if lf_thick else rng.uniform(1.0, 1.6)
    if disc not in FINDING_LEVELS:
        herniation, grade, pll_mm, lf_mm = "normal", 0, rng.uniform(1.0, 1.5), rng.uniform(1.0, 1.6)
    herniation = forced.get("herniation", herniation)
    side = forced.get("side", side) if herniation in ("paracentral", "foraminal") else None
    depth_mm = forced.get("depth_mm", bulge_depth if herniation == "bulge" else focal_depth)
    grade = int(forced.get("listhesis_grade", grade))
    direction = forced.get("listhesis_direction", direction) if grade else None
    endplate = bodies[lower]["depth"]
    offset = (grade - 1 + fraction_in_grade) / 4.0 * endplate if grade else 0.0
    info.update(
        herniation=herniation,
        side=side,
        depth_mm=float(depth_mm) if herniation != "normal" else 0.0,
        focal_radius_x=focal_radius_x,
        focal_radius_h=info["height"] / 2 + focal_radius_h,
        paracentral_x=paracentral_x,
        foraminal_inset=foraminal_inset,
        listhesis_grade=grade,
        listhesis_direction=direction,
        offset_mm=offset * (-1.0 if direction == "anterior" else 1.0),
        pll_mm=float(forced.get("pll_mm", pll_mm)),
        lf_mm=float(forced.get("lf_mm", lf_mm)),
    )


def _plan_osteophytes(
    rng: np.random.Generator,
    bodies: dict[str, dict[str, Any]],
    discs: dict[str, dict[str, Any]],
    findings: dict[str, dict[str, Any]],
) -> None:
    """Osteophyte size and site per body C2..T3 (more likely next to a degenerated disc; drawn on C2..T1 only)."""
    for name in VERTEBRAE[1:]:
        upper_disc = DISCS[VERTEBRAE.index(name) - 2] if name != "C2" else None
        lower_disc = DISCS[VERTEBRAE.index(name) - 1] if name != "T3" else None
        near_degeneration = any(d is not None and discs[d]["degenerated"] for d in (upper_disc, lower_disc))
        has = bool(rng.random() < (0.4 if near_degeneration else 0.12)) and name in VERTEBRAE[1:8]
        size = rng.uniform(2.0, 5.0) if has else 0.0
        site = str(rng.choice(_OSTEOPHYTE_SITES, p=[0.35, 0.35, 0.15, 0.15]))
        forced = findings.get(name, {})
        size = float(forced.get("osteophyte_mm", size))
        site = forced.get("osteophyte_site", site)
        if site not in _OSTEOPHYTE_SITES:
            raise InputError(f"Unknown osteophyte site {site!r} at {name}.", f"Use one of {_OSTEOPHYTE_SITES}.")
        bodies[name].update(osteophyte_mm=size, osteophyte_site=site if size > 0 else None)
