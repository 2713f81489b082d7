"""Label maps from other tools (TotalSegmentator, TotalSpineSeg, any value -> name table) as level maps.

Names are read by :func:`canonical_structure_name`; the level map holds :data:`~assistcore.spine.labels.SPINE_LABELS`
values, arrays (k, j, i) on the imported file's grid.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..image import Image
from .labels import CORD, DISC_VALUE, DURAL_SAC, LF, PLL, VERTEBRA_VALUE, disc_name

if TYPE_CHECKING:
    from .levels import Labelling

_VERTEBRA_PATTERN = re.compile(r"(?<![a-z])([ct])(\d{1,2})(?!\d)", re.IGNORECASE)


def canonical_structure_name(name: str) -> str | None:
    """A label name from another tool as a level-map name: ``vertebrae_C5`` -> ``C5``, ``disc_C5_C6`` ->
    ``C5/6``, ``spinal_cord`` -> ``cord``, ``spinal_canal`` / ``dural sac`` -> ``dural_sac``; None if unknown."""
    text = name.strip()
    lowered = text.lower()
    if "cord" in lowered:
        return "cord"
    if "canal" in lowered or "dural" in lowered or "csf" in lowered or "thecal" in lowered:
        return "dural_sac"
    if "flavum" in lowered or lowered == "lf":
        return "LF"
    if "longitudinal" in lowered or lowered == "pll":
        return "PLL"
    levels = [(m.group(1).upper(), int(m.group(2))) for m in _VERTEBRA_PATTERN.finditer(text.replace("/", "_"))]
    if "disc" in lowered or "disk" in lowered or "/" in text:
        if len(levels) == 1 and "/" in text:  # C5/6
            region, number = levels[0]
            tail = re.search(r"/\s*([ct]?)(\d{1,2})", text, re.IGNORECASE)
            if tail:
                lower = (tail.group(1).upper() or region) + tail.group(2)
                name = disc_name(f"{region}{number}", lower)
                return name if name in DISC_VALUE else None
        if len(levels) >= 2:
            name = disc_name(f"{levels[0][0]}{levels[0][1]}", f"{levels[1][0]}{levels[1][1]}")
            return name if name in DISC_VALUE else None
        return None
    if levels:
        name = f"{levels[0][0]}{levels[0][1]}"
        return name if name in VERTEBRA_VALUE else None
    return None


def level_map_from_named_labels(labels: Image, value_names: dict[int, str]) -> tuple[Image, Labelling]:
    """Another tool's label map (e.g. TotalSegmentator, TotalSpineSeg) with its value -> name table, as a level map.

    Names are read by :func:`canonical_structure_name`; values with unknown names are dropped (listed in the
    warnings). The levels are as the file names them (confidence 1).
    """
    from .levels import Labelling

    array = np.asarray(labels.array_kji).astype(np.int64)
    level = np.zeros(array.shape, dtype=np.uint8)
    fixed = {"dural_sac": DURAL_SAC, "cord": CORD, "PLL": PLL, "LF": LF}
    unknown = []
    for value, name in value_names.items():
        structure = canonical_structure_name(str(name))
        target = VERTEBRA_VALUE.get(structure) or DISC_VALUE.get(structure) or fixed.get(structure or "")
        if target is None:
            unknown.append(str(name))
            continue
        level[array == int(value)] = target
    warnings = [f"Labels not used (not spine levels): {', '.join(sorted(unknown)[:12])}"] if unknown else []
    if not (level >= 1).any() or not ((level >= 1) & (level <= 10)).any():
        raise InputError(
            "The label file has no vertebra labels SpineAssist can read.",
            "Give the level map (value -> name, e.g. 41: vertebrae_C2) that came with the label file.",
        )
    c2 = bool((level == VERTEBRA_VALUE["C2"]).any())
    return labels.with_array(level), Labelling("named_labels", 1.0, c2, warnings=warnings)
