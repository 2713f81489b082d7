"""Label definitions: value, name, colour and coded terminology (SNOMED CT), as data.

A label table is a JSON list of objects (the same shape as the ``labels`` of a model card)::

    {"value": 1, "name": "Enhancing tumor", "color": "#a020f0",
     "snomed": {"category": {"code": "49755003", "scheme": "SCT", "meaning": "Morphologically Altered Structure"},
                "type": {"code": "108369006", "scheme": "SCT", "meaning": "Neoplasm"},
                "modifier": {...optional...}, "anatomic_region": {...optional...}},
     "description": "optional",
     "terminology_context": "optional, default: Slicer's General Anatomy list"}

Colours are "#rrggbb" or three floats 0..1. Values are unique and non-zero (0 is background). Each code is
a SNOMED CT (scheme "SCT") concept as Slicer's terminology lists use them; see :func:`terminology_problems`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

#: Context names Slicer uses for its default terminology and anatomy lists. A label's codes should be in the
#: context its tag names, or Slicer's terminology selector cannot find them (the segment still keeps them).
SLICER_TERMINOLOGY_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
SLICER_DICOM_TERMINOLOGY_CONTEXT = "Segmentation category and type - DICOM master list"
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
    terminology_context: str = SLICER_TERMINOLOGY_CONTEXT

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
            terminology_context=str(data.get("terminology_context") or SLICER_TERMINOLOGY_CONTEXT),
        )

    def to_dict(self) -> dict:
        codes = {"category": self.category.to_dict(), "type": self.type.to_dict()}
        if self.modifier:
            codes["modifier"] = self.modifier.to_dict()
        if self.anatomic_region:
            codes["anatomic_region"] = self.anatomic_region.to_dict()
        data = {
            "value": self.value,
            "name": self.name,
            "color": self.color_hex,
            "snomed": codes,
            "description": self.description,
        }
        if self.terminology_context != SLICER_TERMINOLOGY_CONTEXT:
            data["terminology_context"] = self.terminology_context
        return data

    @property
    def color_hex(self) -> str:
        return "#" + "".join(f"{round(c * 255):02x}" for c in self.color_rgb)

    @property
    def color_rgb_uint8(self) -> tuple[int, int, int]:
        return tuple(round(c * 255) for c in self.color_rgb)  # type: ignore[return-value]

    def slicer_terminology_string(self) -> str:
        """The segment tag ``TerminologyEntry`` as Slicer 5 stores it:
        ``context~category~type~typeModifier~anatomicContext~anatomicRegion~anatomicRegionModifier``,
        each code as ``scheme^code^meaning`` (empty codes as ``^^``). Checked against Slicer's own
        ``vtkSlicerTerminologiesModuleLogic.SerializeTerminologyEntry`` in the MRML tests."""
        empty = "^^"
        return "~".join(
            [
                self.terminology_context,
                self.category.slicer_triplet(),
                self.type.slicer_triplet(),
                self.modifier.slicer_triplet() if self.modifier else empty,
                SLICER_ANATOMIC_CONTEXT,
                self.anatomic_region.slicer_triplet() if self.anatomic_region else empty,
                empty,
            ]
        )


def parse_slicer_terminology_string(text: str) -> dict[str, CodedConcept | None]:
    """Split a Slicer ``TerminologyEntry`` tag into its coded parts (None where empty).

    Accepts the segment-tag form (7 parts, see :meth:`LabelDefinition.slicer_terminology_string`) and the
    form Slicer's colour tables return from ``GetTerminologyAsString`` (context names empty, one trailing
    ``~``: 8 parts, the last empty).
    """
    parts = text.split("~")
    if len(parts) == 8 and parts[7] == "":
        parts = parts[:7]
    if len(parts) != 7:
        raise InputError(
            f"Not a Slicer terminology entry (expected 7 parts separated by ~): {text!r}.",
            "Expected context~category~type~typeModifier~anatomicContext~region~regionModifier.",
        )

    def concept(part: str) -> CodedConcept | None:
        scheme, code, meaning = ([*part.split("^"), "", "", ""])[:3]
        return CodedConcept(code, scheme, meaning) if code else None

    return {
        "category": concept(parts[1]),
        "type": concept(parts[2]),
        "modifier": concept(parts[3]),
        "anatomic_region": concept(parts[5]),
    }


def terminology_problems(labels: list[LabelDefinition], context_files: list[str | os.PathLike[str]]) -> list[str]:
    """Labels whose category/type (and type modifier) are not in the Slicer terminology context they name.

    :param context_files: Slicer ``*.term.json`` files (``SegmentationCategoryTypeModifier-*.term.json`` as
        shipped in Slicer's and trame-slicer's ``terminologies`` folders).
    :return: one readable line per problem; empty when every label is found.
    """
    contexts: dict[str, dict[tuple[str, str], set[str]]] = {}
    for path in context_files:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        name = data.get("SegmentationCategoryTypeContextName")
        if not name:
            continue  # an anatomic-region context file
        entries = contexts.setdefault(name, {})
        for category in data["SegmentationCodes"]["Category"]:
            for type_ in category.get("Type", []):
                modifiers = {modifier["CodeValue"] for modifier in type_.get("Modifier", [])}
                entries[(category["CodeValue"], type_["CodeValue"])] = modifiers
    problems = []
    for label in labels:
        entries = contexts.get(label.terminology_context)
        if entries is None:
            problems.append(f"{label.name}: context {label.terminology_context!r} is not in the files given")
            continue
        modifiers = entries.get((label.category.code, label.type.code))
        if modifiers is None:
            problems.append(
                f"{label.name}: type {label.type.meaning} ({label.type.code}) in category {label.category.meaning}"
                f" ({label.category.code}) is not in {label.terminology_context!r}"
            )
        elif label.modifier and label.modifier.code not in modifiers:
            problems.append(
                f"{label.name}: modifier {label.modifier.meaning} ({label.modifier.code}) is not listed for"
                f" {label.type.meaning} in {label.terminology_context!r}"
            )
    return problems


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


def card_labels(source: str | os.PathLike[str] | list[dict]) -> list[dict]:
    """A label table as a model card's ``labels`` entries: names, values, colours and codes, without the long
    descriptions (they stay in the table file)."""
    labels = [label.to_dict() for label in load_label_table(source)]
    for label in labels:
        label.pop("description", None)
    return labels
