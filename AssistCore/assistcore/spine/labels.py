"""The cervical spine's vocabulary: level names, label values, finding types and overlay colours.

One home for the names that inference, training, the pictures and the phantom generator share. The label
table ``assistcore/data/spine_labels.json`` (values, display names, colours and SNOMED codes of every segment
SpineAssist writes) is the source of truth: the vertebra and disc names and the values of the canal and
ligament labels are read from it. Two more values, 23 ``posterior_elements`` and 24 ``soft_tissue``, exist
only in the phantoms' label maps (the generator paints them, no output holds them), so they are not in the
table.

Label map (:data:`SPINE_LABELS`, uint8): 0 background, 1..10 vertebrae C1..T3, 11..18 discs C2/3..T2/T3,
19 dural sac, 20 cord, 21 PLL (posterior longitudinal ligament), 22 LF (ligamentum flavum), then the two
phantom-only values. This module reads one small JSON file and imports nothing heavy.
"""

from __future__ import annotations

import json
from pathlib import Path

LABEL_TABLE_FILE = Path(__file__).resolve().parents[1] / "data" / "spine_labels.json"
_TABLE: list[dict] = json.loads(LABEL_TABLE_FILE.read_text(encoding="utf-8"))
_DISC_SUFFIX = " disc"


def _table_value(name: str) -> int:
    """The value of the table entry displayed as ``name`` (``Dural sac`` -> 19)."""
    return next(int(entry["value"]) for entry in _TABLE if entry["name"] == name)


#: Vertebra names top down (values 1..10), as the table names them.
VERTEBRAE: tuple[str, ...] = tuple(
    entry["name"]
    for entry in sorted(_TABLE, key=lambda e: e["value"])
    if entry["snomed"]["type"]["meaning"].endswith(" vertebra")
)
#: Disc names top down (values 11..18): ``C2/3`` .. ``T2/T3`` (the table's ``C2/3 disc`` without `` disc``).
DISCS: tuple[str, ...] = tuple(
    entry["name"][: -len(_DISC_SUFFIX)]
    for entry in sorted(_TABLE, key=lambda e: e["value"])
    if entry["name"].endswith(_DISC_SUFFIX)
)
#: Disc levels that can carry findings (the cervical levels of the report); thoracic discs stay normal.
FINDING_LEVELS = DISCS[:6]
DURAL_SAC = _table_value("Dural sac")
CORD = _table_value("Spinal cord")
PLL = _table_value("Posterior longitudinal ligament")
LF = _table_value("Ligamentum flavum")
#: Phantom-only labels (not in the table): pedicles, laminae and spinous processes; muscle and fat.
POSTERIOR_ELEMENTS, SOFT_TISSUE = 23, 24

#: Vertebra name -> label value (``C1`` -> 1 .. ``T3`` -> 10).
VERTEBRA_VALUE = {name: _table_value(name) for name in VERTEBRAE}
#: Disc name -> label value (``C2/3`` -> 11 .. ``T2/T3`` -> 18).
DISC_VALUE = {name: _table_value(name + _DISC_SUFFIX) for name in DISCS}

#: Label value -> name. 1..10 vertebrae (C1 arches, C2 with its dens, bodies C3..T3 with their osteophytes),
#: 11..18 intervertebral discs named by the two vertebrae, then the canal contents and ligaments.
SPINE_LABELS: dict[int, str] = {
    0: "background",
    **{value: name for name, value in VERTEBRA_VALUE.items()},
    **{value: name for name, value in DISC_VALUE.items()},
    DURAL_SAC: "dural_sac",
    CORD: "cord",
    PLL: "PLL",
    LF: "LF",
    POSTERIOR_ELEMENTS: "posterior_elements",
    SOFT_TISSUE: "soft_tissue",
}
#: Name -> label value, the inverse of :data:`SPINE_LABELS`.
LABEL_OF = {name: value for value, name in SPINE_LABELS.items()}
#: Disc status per level: normal, bulge (under 5 mm) or herniation by position.
HERNIATION_TYPES = ("normal", "bulge", "central", "paracentral", "foraminal")

#: Overlay colours (RGB 0..255) of the pictures and montages: vertebrae orange, discs cyan, sac blue, cord
#: yellow, PLL red, LF magenta, posterior elements brown. Brighter than the table's segment colours, which
#: Slicer shows; soft tissue is not drawn.
LABEL_COLORS_RGB: dict[int, tuple[int, int, int]] = {
    **{value: (255, 150, 40) for value in VERTEBRA_VALUE.values()},
    **{value: (40, 220, 230) for value in DISC_VALUE.values()},
    DURAL_SAC: (60, 90, 255),
    CORD: (255, 230, 0),
    PLL: (255, 40, 40),
    LF: (240, 40, 240),
    POSTERIOR_ELEMENTS: (150, 90, 40),
}


def disc_name(upper: str, lower: str) -> str:
    """``C5``, ``C6`` -> ``C5/6``; ``C7``, ``T1`` -> ``C7/T1``; ``T1``, ``T2`` -> ``T1/T2`` (as in :data:`DISCS`)."""
    return f"{upper}/{lower[1:]}" if upper[0] == lower[0] == "C" else f"{upper}/{lower}"
