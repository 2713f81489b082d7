"""Label definitions: value, name, colour and coded terminology (SNOMED CT), as data.

A label table is a JSON list of objects (the same shape as the ``labels`` of a model card)::

    {"value": 1, "name": "Enhancing tumor", "color": "#a020f0",
     "snomed": {"category": {"code": "49755003", "scheme": "SCT", "meaning": "Morphologically Altered Structure"},
                "type": {"code": "108369006", "scheme": "SCT", "meaning": "Neoplasm"},
                "modifier": {...optional...}, "anatomic_region": {...optional...}},
     "description": "optional"}
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

#: Context names Slicer uses for its default terminology and anatomy lists.
SLICER_TERMINOLOGY_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
SLICER_ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"


@dataclass(frozen=True)
class CodedConcept:
    code: str
    scheme: str
    meaning: str

    def slicer_triplet(self) -> str:
        return f"{self.scheme}^{self.code}^{self.meaning}"

    @classmethod
    def from_dict(cls, data: dict | None) -> CodedConcept | None:
        return cls(str(data["code"]), str(data["scheme"]), str(data["meaning"])) if data else None

    def to_dict(self) -> dict:
        return {"code": self.code, "scheme": self.scheme, "meaning": self.meaning}


@dataclass(frozen=True)
class LabelDefinition:
    """One label of a label map: its value, display name, colour (0..1 RGB) and terminology."""

    value: int
    name: str
    color_rgb: tuple[float, float, float]
    category: CodedConcept
    type: CodedConcept
    modifier: CodedConcept | None = None
    anatomic_region: CodedConcept | None = None
    description: str = ""

    @classmethod
    def from_dict(cls, data: dict) -> LabelDefinition:
        color = data["color"]
        if isinstance(color, str):
            color = tuple(int(color.lstrip("#")[index : index + 2], 16) / 255.0 for index in (0, 2, 4))
        codes = data["snomed"]
        return cls(
            value=int(data["value"]),
            name=str(data["name"]),
            color_rgb=tuple(float(c) for c in color),
            category=CodedConcept.from_dict(codes["category"]),
            type=CodedConcept.from_dict(codes["type"]),
            modifier=CodedConcept.from_dict(codes.get("modifier")),
            anatomic_region=CodedConcept.from_dict(codes.get("anatomic_region")),
            description=str(data.get("description", "")),
        )

    def to_dict(self) -> dict:
        codes = {"category": self.category.to_dict(), "type": self.type.to_dict()}
        if self.modifier:
            codes["modifier"] = self.modifier.to_dict()
        if self.anatomic_region:
            codes["anatomic_region"] = self.anatomic_region.to_dict()
        return {
            "value": self.value,
            "name": self.name,
            "color": self.color_hex,
            "snomed": codes,
            "description": self.description,
        }

    @property
    def color_hex(self) -> str:
        return "#" + "".join(f"{round(c * 255):02x}" for c in self.color_rgb)

    @property
    def color_rgb_uint8(self) -> tuple[int, int, int]:
        return tuple(round(c * 255) for c in self.color_rgb)  # type: ignore[return-value]

    def slicer_terminology_string(self) -> str:
        """The segment tag ``TerminologyEntry`` as Slicer 5 stores it:
        ``context~category~type~typeModifier~anatomicContext~anatomicRegion~anatomicRegionModifier``,
        each code as ``scheme^code^meaning`` (empty codes as ``^^``)."""
        empty = "^^"
        return "~".join(
            [
                SLICER_TERMINOLOGY_CONTEXT,
                self.category.slicer_triplet(),
                self.type.slicer_triplet(),
                self.modifier.slicer_triplet() if self.modifier else empty,
                SLICER_ANATOMIC_CONTEXT,
                self.anatomic_region.slicer_triplet() if self.anatomic_region else empty,
                empty,
            ]
        )


def parse_slicer_terminology_string(text: str) -> dict[str, CodedConcept | None]:
    """Split a Slicer ``TerminologyEntry`` tag into its coded parts (None where empty)."""
    parts = text.split("~")
    if len(parts) != 7:
        raise InputError(f"Not a Slicer terminology entry (expected 7 parts separated by ~): {text!r}.")

    def concept(part: str) -> CodedConcept | None:
        scheme, code, meaning = ([*part.split("^"), "", "", ""])[:3]
        return CodedConcept(code, scheme, meaning) if code else None

    return {
        "category": concept(parts[1]),
        "type": concept(parts[2]),
        "modifier": concept(parts[3]),
        "anatomic_region": concept(parts[5]),
    }


def load_label_table(source: str | os.PathLike[str] | list[dict]) -> list[LabelDefinition]:
    """Label definitions from a JSON file, a packaged table name (``assistcore/data/<name>.json``) or a list."""
    if isinstance(source, list):
        entries = source
    else:
        path = Path(source)
        if not path.is_file():
            path = Path(__file__).resolve().parent / "data" / f"{source}.json"
        if not path.is_file():
            raise InputError(f"Label table {source} not found.", "Give a JSON file or a packaged table name.")
        entries = json.loads(path.read_text(encoding="utf-8"))
    labels = [LabelDefinition.from_dict(entry) for entry in entries]
    values = [label.value for label in labels]
    if len(set(values)) != len(values) or 0 in values:
        raise InputError(f"Label values must be unique and non-zero, got {values}.")
    return labels
