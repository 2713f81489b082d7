"""Per-lesion descriptor record an annotator fills in (the breast study's fields, BI-RADS ultrasound lexicon).

A record belongs to one fused detection (``detection_id``) of one cine; every field is optional (None: not
recorded). Categorical fields take one of the values in :data:`DESCRIPTOR_FIELDS`; yes/no findings are
booleans. Records are stored in ``detections.json`` beside the boxes, in the Slicer scene (a table) and
exported as CSV.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..errors import InputError

#: field -> allowed values (a tuple of strings), or bool for a yes/no finding. Order is the form's order.
DESCRIPTOR_FIELDS: dict[str, tuple[str, ...] | type] = {
    "shape": ("oval", "round", "irregular"),
    "margin": ("circumscribed", "indistinct", "angular", "microlobulated", "spiculated"),
    "orientation": ("parallel", "not_parallel"),
    "internal_echo": ("anechoic", "hypoechoic", "isoechoic", "hyperechoic", "heterogeneous", "complex_cystic_solid"),
    "posterior_features": ("none", "enhancement", "shadowing", "mixed"),
    "architectural_distortion": bool,
    "duct_dilatation": bool,
    "skin_retraction": bool,
    "skin_subcutaneous_oedema": bool,
    "cooper_ligament_change": bool,
    "calcification_form": ("none", "coarse", "punctate", "arc"),
    "calcification_distribution": ("none", "single", "clustered", "scattered"),
    "nipple": ("normal", "retracted", "abnormal"),
    "axillary_lymph_node": ("normal", "abnormal", "not_assessed"),
}
#: human-readable labels for forms and CSV headers
DESCRIPTOR_LABELS = {
    "shape": "Shape",
    "margin": "Margin",
    "orientation": "Orientation",
    "internal_echo": "Internal echo",
    "posterior_features": "Posterior features",
    "architectural_distortion": "Architectural distortion",
    "duct_dilatation": "Duct dilatation",
    "skin_retraction": "Skin retraction",
    "skin_subcutaneous_oedema": "Skin / subcutaneous oedema",
    "cooper_ligament_change": "Cooper ligament change",
    "calcification_form": "Calcification form",
    "calcification_distribution": "Calcification distribution",
    "nipple": "Nipple",
    "axillary_lymph_node": "Axillary lymph node",
}
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


def _checked(name: str, value) -> str | bool | None:
    """``value`` as the field's type (strings 'yes'/'no' accepted for booleans), or InputError naming the field."""
    if name not in DESCRIPTOR_FIELDS:
        raise InputError(f"Unknown lesion descriptor {name!r}.", f"Use one of: {', '.join(DESCRIPTOR_FIELDS)}.")
    if value is None or value == "":
        return None
    allowed = DESCRIPTOR_FIELDS[name]
    if allowed is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise InputError(f"Descriptor {name} is {value!r}, not yes/no.", "Give true/false (yes/no).")
    text = str(value).strip().lower().replace(" ", "_").replace("-", "_")
    if text not in allowed:
        raise InputError(f"Descriptor {name} is {value!r}.", f"Use one of: {', '.join(allowed)}.")
    return text


@dataclass
class LesionDescriptors:
    """The annotator's record for fused detection ``detection_id`` (values checked against the lexicon)."""

    detection_id: int
    values: dict[str, str | bool | None] = field(default_factory=dict)
    annotator: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        checked = {name: _checked(name, value) for name, value in self.values.items()}
        self.values = {name: value for name, value in checked.items() if value is not None}  # recorded only

    def set(self, name: str, value) -> None:
        """Record (or, with None or "", clear) one field."""
        checked = _checked(name, value)
        if checked is None:
            self.values.pop(name, None)
        else:
            self.values[name] = checked

    def to_dict(self) -> dict:
        """Every field present (None where not recorded), so exports have fixed columns."""
        return {
            "detection_id": self.detection_id,
            **{name: self.values.get(name) for name in DESCRIPTOR_FIELDS},
            "annotator": self.annotator,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, record: Mapping) -> LesionDescriptors:
        if "detection_id" not in record:
            raise InputError("A lesion descriptor record has no detection_id.", "Name the detection it describes.")
        values = {name: record[name] for name in record if name in DESCRIPTOR_FIELDS}
        unknown = set(record) - set(DESCRIPTOR_FIELDS) - {"detection_id", "annotator", "note"}
        if unknown:
            raise InputError(
                f"Unknown lesion descriptor(s): {', '.join(sorted(unknown))}.", f"Use: {', '.join(DESCRIPTOR_FIELDS)}."
            )
        return cls(int(record["detection_id"]), values, str(record.get("annotator", "")), str(record.get("note", "")))


def _cell(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else value


def descriptor_columns() -> list[str]:
    """CSV columns of a descriptor export, in form order."""
    return ["detection_id", *DESCRIPTOR_FIELDS, "annotator", "note"]


def descriptor_rows(records: Iterable[LesionDescriptors]) -> list[dict]:
    """CSV rows: booleans as yes/no, unrecorded fields empty."""
    rows = []
    for record in sorted(records, key=lambda r: r.detection_id):
        rows.append({k: _cell(v) for k, v in record.to_dict().items()})
    return rows
