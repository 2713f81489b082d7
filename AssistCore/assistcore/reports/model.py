"""The structured report's content: findings with coded values, normal ranges, flags and a link to the image.

A report is plain data (dataclasses that round-trip through JSON) so that the command line, the Slicer panel,
the Station and the DICOM SR writer all read the same thing. Coordinates are LPS millimetres; slice indices
are the ``k`` index of the series named in the link (frames for ultrasound cines).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = "radassist-report/1"

#: UCUM units used by the reports (the SR writes them as UCUM codes).
UNIT_MEANINGS = {
    "mm": "millimeter",
    "mL": "milliliter",
    "1": "no units",
    "{grade}": "grade",
    "{o'clock}": "clock-face hour",
    "%": "percent",
}


@dataclass
class Value:
    """One reported value: a number (with unit) or a category, with what counts as normal.

    :param value: float, int, bool, str or None (not measured).
    :param unit: UCUM unit for numbers ("mm", "mL", "1"), "" for categories and yes/no findings.
    :param normal_min, normal_max: inclusive normal range for numbers (None: no bound).
    :param normal_values: the categories (or booleans) that are normal; other values are flagged.
    :param code: {"code", "scheme", "meaning"} naming the quantity (SNOMED CT, DCM or the project's 99RADAS).
    """

    label: str
    value: Any = None
    unit: str = ""
    normal_min: float | None = None
    normal_max: float | None = None
    normal_values: list | None = None
    code: dict | None = None

    @property
    def flag(self) -> str:
        """'high', 'low', 'abnormal' or '' (normal, or no normal range, or not measured)."""
        if self.value is None or self.value == "":
            return ""
        if self.normal_values is not None:
            return "" if self.value in self.normal_values else "abnormal"
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            return ""
        if self.normal_max is not None and self.value > self.normal_max:
            return "high"
        if self.normal_min is not None and self.value < self.normal_min:
            return "low"
        return ""

    def display(self) -> str:
        """The value as a reader reads it: '2.4 mm', 'yes', 'paracentral', '-' when not measured."""
        if self.value is None or self.value == "":
            return "-"
        if isinstance(self.value, bool):
            return "yes" if self.value else "no"
        if isinstance(self.value, float):
            text = f"{self.value:.3g}" if abs(self.value) < 100 else f"{self.value:.1f}"
        else:
            text = str(self.value)
        return f"{text} {self.unit}" if self.unit and self.unit not in ("1", "{grade}") else text

    def to_dict(self) -> dict:
        data = asdict(self)
        data["flag"] = self.flag
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Value:
        return cls(**{key: data.get(key) for key in cls.__dataclass_fields__ if key in data})


@dataclass
class Link:
    """Where a sentence's finding is: a series of the case, a slice (or frame) and a point.

    :param series: the case's name for the series ("t2", "ax_t2", "flair", "cine").
    :param slice_index: ``k`` index on that series (frame index for a cine), None when the finding is global.
    :param point_lps: [x, y, z] in LPS mm (None for 2D pictures); ``box_xy``: [x0, y0, x1, y1] pixels on a frame.
    """

    series: str = ""
    slice_index: int | None = None
    point_lps: list[float] | None = None
    box_xy: list[float] | None = None
    polygon_lps: list[list[float]] | None = None

    def describe(self) -> str:
        parts = []
        if self.slice_index is not None:
            parts.append(f"{self.series or 'series'} slice {self.slice_index}")
        if self.point_lps is not None:
            parts.append("LPS (" + ", ".join(f"{v:.1f}" for v in self.point_lps) + ") mm")
        return "; ".join(parts)


@dataclass
class Finding:
    """One sentence of the report and the values behind it.

    :param finding_id: stable key used by edits ("C3/4", "lesion-1", "region-2", "verdict").
    :param kind: which sentence writer regenerates ``text`` after a value edit ("spine_level", "crm_region", ...).
    :param text_edited: True once the reader typed the sentence: value edits no longer rewrite it.
    """

    finding_id: str
    kind: str
    title: str
    text: str = ""
    values: dict[str, Value] = field(default_factory=dict)
    link: Link = field(default_factory=Link)
    text_edited: bool = False

    @property
    def flags(self) -> dict[str, str]:
        return {name: value.flag for name, value in self.values.items() if value.flag}

    def to_dict(self) -> dict:
        return {
            "finding_id": self.finding_id,
            "kind": self.kind,
            "title": self.title,
            "text": self.text,
            "text_edited": self.text_edited,
            "values": {name: value.to_dict() for name, value in self.values.items()},
            "flags": self.flags,
            "link": asdict(self.link),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Finding:
        return cls(
            finding_id=data["finding_id"],
            kind=data["kind"],
            title=data.get("title", data["finding_id"]),
            text=data.get("text", ""),
            values={name: Value.from_dict(value) for name, value in data.get("values", {}).items()},
            link=Link(**data.get("link", {})),
            text_edited=bool(data.get("text_edited", False)),
        )


@dataclass
class ReportContent:
    """Everything a version of a report says: findings, impression, where the images are, which model drafted it.

    :param source: series name -> {"path", "series_instance_uid", "sop_instance_uids", geometry ...}; the DICOM
        UIDs are recorded when the draft is made, so exports can refuse a series that changed since.
    :param label_maps: [{"file", "series", "table"}]: segmentation files of the case (relative paths) with the
        series they lie on and their label table (a packaged name or a file of the case folder).
    """

    case_id: str
    assistant: str
    title: str
    findings: list[Finding] = field(default_factory=list)
    impression: str = ""
    impression_edited: bool = False
    model: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    label_maps: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    results_sha256: str = ""

    def finding(self, finding_id: str) -> Finding | None:
        return next((item for item in self.findings if item.finding_id == finding_id), None)

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "case_id": self.case_id,
            "assistant": self.assistant,
            "title": self.title,
            "findings": [item.to_dict() for item in self.findings],
            "impression": self.impression,
            "impression_edited": self.impression_edited,
            "model": self.model,
            "source": self.source,
            "label_maps": self.label_maps,
            "notes": self.notes,
            "results_sha256": self.results_sha256,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ReportContent:
        return cls(
            case_id=data["case_id"],
            assistant=data["assistant"],
            title=data.get("title", ""),
            findings=[Finding.from_dict(item) for item in data.get("findings", [])],
            impression=data.get("impression", ""),
            impression_edited=bool(data.get("impression_edited", False)),
            model=data.get("model", {}),
            source=data.get("source", {}),
            label_maps=data.get("label_maps", []),
            notes=list(data.get("notes", [])),
            results_sha256=str(data.get("results_sha256", "")),
        )


def model_summary(provenance: dict) -> dict:
    """The few model facts a signature records (id, version, name, whether it is a synthetic demo model)."""
    keys = ("model_id", "model_version", "model_name", "synthetic_demo_model", "weights_sha256")
    return {key: provenance.get(key) for key in keys if key in provenance}


def code(value: str, meaning: str, scheme: str = "SCT") -> dict:
    """A coded concept as the report stores it (``scheme`` 'SCT', 'DCM', 'UCUM' or the project's '99RADAS')."""
    return {"code": value, "scheme": scheme, "meaning": meaning}


#: codes for the quantities the reports measure (SNOMED CT where one exists, else the project's 99RADAS)
VOLUME = code("118565006", "Volume")
THICKNESS = code("410668003", "Length")
DIAMETER = code("81827009", "Diameter")
PROBABILITY = code("PROB", "AI probability", "99RADAS")
