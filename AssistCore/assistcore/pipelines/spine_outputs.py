"""SpineAssist outputs: the findings table (one row per level) and the case folder :func:`write_outputs` writes
(levels, findings, segmentations on each series' own grid, overview picture, report). Also importable from
:mod:`assistcore.pipelines.spine`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import csv_text, write_text_atomic
from ..image import Image
from ..image_io import dicom_identity
from ..models.card import demo_result_note

if TYPE_CHECKING:
    from .spine import SpineResult

FINDINGS_COLUMNS = (
    "level",
    "kind",
    "osteophyte",
    "osteophyte_probability",
    "listhesis_grade",
    "listhesis_direction",
    "listhesis_offset_mm",
    "listhesis_fraction",
    "disc",
    "disc_probability",
    "disc_side",
    "pll_thickness_mm",
    "pll_thickened",
    "pll_probability",
    "lf_thickness_mm",
    "lf_thickened",
    "lf_probability",
    "sagittal_slice",
    "axial_series",
    "axial_slice",
    "point_lps_mm",
    "reviewer",
)


def findings_rows(result: SpineResult) -> list[dict[str, Any]]:
    """One row per level (vertebrae C2.., then discs), every finding with its value, unit (in the column name),
    probability and location; reviewer edits (``result.reviews``) override values and are named."""
    order = [v.name for v in result.vertebrae if v.name in result.findings] + [d.name for d in result.discs]
    rows = []
    for name in order:
        item = result.findings[name]
        row: dict[str, Any] = dict.fromkeys(FINDINGS_COLUMNS, "")
        row.update(
            level=name,
            kind=item["kind"],
            sagittal_slice=item["sagittal_slice"],
            point_lps_mm=" ".join(f"{v:.1f}" for v in item["point_lps"]),
        )
        if item["kind"] == "vertebra":
            row.update(osteophyte=item["osteophyte"]["value"], osteophyte_probability=item["osteophyte"]["probability"])
        else:
            listhesis = item["listhesis"]
            row.update(
                listhesis_grade=listhesis["grade"],
                listhesis_direction=listhesis["direction"] or "",
                listhesis_offset_mm=listhesis["offset_mm"],
                listhesis_fraction=listhesis["fraction"],
            )
            if item.get("axial"):
                row.update(
                    axial_series=item["axial"]["series"],
                    axial_slice=item["axial"]["slice_index"],
                    pll_thickness_mm=item["pll"]["thickness_mm"],
                    pll_thickened=item["pll"]["thickened"],
                    pll_probability=item["pll"].get("probability", ""),
                    lf_thickness_mm=item["lf"]["thickness_mm"],
                    lf_thickened=item["lf"]["thickened"],
                    lf_probability=item["lf"].get("probability", ""),
                )
            if item.get("disc"):
                row.update(
                    disc=item["disc"]["value"],
                    disc_probability=item["disc"]["probability"],
                    disc_side=item["disc"]["side"] or "",
                )
        review = result.reviews.get(name)
        if review:
            row.update({key: value for key, value in review.items() if key in row})
            row["reviewer"] = review.get("reviewer", "edited")
        rows.append(row)
    return rows


#: how a reviewer's edit (table text) becomes the value type the pipeline writes in findings.json
_REVIEWED_TYPES = {"osteophyte": bool, "pll_thickened": bool, "lf_thickened": bool, "listhesis_grade": int}


def _typed_review_value(column: str, text: str) -> Any:
    kind = _REVIEWED_TYPES.get(column, str)
    if kind is bool:
        return str(text).strip().lower() in {"true", "1", "yes"}
    return int(text) if kind is int else str(text)


def write_reviewed_findings(folder: Path, reviews: dict[str, dict[str, str]]) -> dict:
    """Apply a reviewer's edits of the findings table (``{level: {column: text, "reviewer": name}}``, as the
    Slicer module keeps them) to ``findings.json`` and ``findings.csv`` of a spine result folder, values typed as
    the pipeline writes them (bools, listhesis grade int), each edited row naming its reviewer, the edits kept in
    the document's ``reviews``. Both files are replaced atomically; returns the new document.

    :raises InputError: a level or column the findings do not have (nothing written).
    """
    from ..errors import InputError
    from ..reports.case_files import read_json

    document = read_json(folder / "findings.json")
    rows = {row["level"]: row for row in document.get("rows", [])}
    for level, edits in reviews.items():
        unknown = [column for column in edits if column not in FINDINGS_COLUMNS]
        if level not in rows or unknown:
            raise InputError(
                f"Review of {level} ({', '.join(unknown) or 'level'}) does not match {folder / 'findings.json'}.",
                "Run the assistant again on this case; nothing was written.",
            )
        row = rows[level]
        row.update(
            {column: _typed_review_value(column, text) for column, text in edits.items() if column != "reviewer"}
        )
        row["reviewer"] = edits.get("reviewer", "edited")
    document["reviews"] = {**document.get("reviews", {}), **reviews}
    write_text_atomic(folder / "findings.json", json.dumps(document, indent=2, default=float))
    write_text_atomic(folder / "findings.csv", csv_text(document.get("rows", []), FINDINGS_COLUMNS))
    return document


def findings_csv(result: SpineResult) -> str:
    """:func:`findings_rows` as CSV text with the :data:`FINDINGS_COLUMNS` header."""
    return csv_text(findings_rows(result), FINDINGS_COLUMNS)


def write_outputs(result: SpineResult, folder: Path, case_id: str, extra: dict | None = None) -> dict:
    """levels.json, findings.json, findings.csv, segmentation.nii.gz (sagittal grid), one axial segmentation per
    axial series, overview.png and report.json in ``folder``; returns the report as written."""
    from ..image_io import write_image
    from ..spine.pictures import render_overview

    folder.mkdir(parents=True, exist_ok=True)
    files = ["levels.json", "findings.json", "findings.csv", "segmentation.nii.gz", "overview.png", "report.json"]
    write_text_atomic(folder / "levels.json", json.dumps(result.levels_document(), indent=2))
    findings_document = {"levels": result.findings, "reviews": result.reviews, "rows": findings_rows(result)}
    write_text_atomic(folder / "findings.json", json.dumps(findings_document, indent=2, default=float))
    write_text_atomic(folder / "findings.csv", findings_csv(result))
    write_image(result.level_map, folder / "segmentation.nii.gz")
    for series in result.axial:
        if series.level_map is not None:
            write_image(series.level_map, folder / f"segmentation_{series.name}.nii.gz")
            files.append(f"segmentation_{series.name}.nii.gz")
    render_overview(result, folder / "overview.png")
    report = {
        "case_id": case_id,
        "series": {
            "sag_t2": _series_record(result.sagittal),
            **{series.name: _series_record(series.image) for series in result.axial},
        },
        "labelling": {
            "method": result.labelling.method,
            "confidence": result.labelling.confidence,
            "c2_found": result.labelling.c2_found,
            "reason": result.labelling.reason,
        },
        "levels": {"vertebrae": [v.to_dict() for v in result.vertebrae], "discs": [d.name for d in result.discs]},
        "warnings": result.warnings,
        "model": result.provenance,
        "seconds_per_stage": result.seconds_per_stage,
        "note": demo_result_note(result.provenance, "models"),
        "files": sorted(files + list((extra or {}).get("files", []))),
        **{key: value for key, value in (extra or {}).items() if key != "files"},
    }
    text = json.dumps(report, indent=2, default=float)
    write_text_atomic(folder / "report.json", text)
    return json.loads(text)


def _series_record(image: Image) -> dict:
    """Where a series came from and its grid (size, spacing mm, origin and direction LPS), for report.json."""
    return {
        "source": image.metadata.source_path,
        "size_ijk": list(image.size_ijk),
        "spacing_mm": [round(float(v), 4) for v in image.spacing_mm],
        "origin_lps": [round(float(v), 3) for v in image.origin_lps],
        "direction_lps": image.direction_lps.round(6).tolist(),
        **dicom_identity(image),  # the source's UIDs as the run read them, for the report's checks
    }
