"""BrainTumorLabel's draft report: each lesion's regions and volumes in mL, its side and lobe, and the QA flags.

Side and lobe come from the image's own axes (no atlas registration is run here): the lesion centroid's place
in the brain's bounding box in LPS, split with the usual proportions of the lobes (frontal the front 40 %,
occipital the back 20 %, temporal below 40 % of the height in the middle, parietal above it). This assumes a
head scanned near the standard position; the report says the lobe is approximate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .case_files import read_json, source_entry
from .model import VOLUME, Finding, Link, ReportContent, Value, code, model_summary

REGION_NAMES = {
    "whole_tumor": "whole tumour",
    "tumor_body": "tumour body",
    "enhancing": "enhancing",
    "non_enhancing": "non-enhancing",
}


def side_and_lobe(centroid_lps: list[float], box_min_lps: np.ndarray, box_max_lps: np.ndarray) -> tuple[str, str]:
    """("left"|"right"|"midline", lobe) of a point in a brain box (LPS mm), from the image's own axes."""
    relative = (np.asarray(centroid_lps, dtype=float) - box_min_lps) / np.maximum(box_max_lps - box_min_lps, 1e-6)
    left_right, anterior_posterior, inferior_superior = relative  # LPS: x to the left, y to the back, z up
    side = "midline" if abs(left_right - 0.5) < 0.04 else ("left" if left_right > 0.5 else "right")
    if inferior_superior < 0.25 and anterior_posterior > 0.6:
        lobe = "posterior fossa (cerebellum or brainstem)"
    elif anterior_posterior < 0.40:
        lobe = "frontal"
    elif anterior_posterior > 0.80:
        lobe = "occipital"
    elif inferior_superior < 0.40:
        lobe = "temporal"
    else:
        lobe = "parietal"
    return side, lobe


def _brain_box_lps(report: dict) -> tuple[np.ndarray, np.ndarray]:
    """LPS bounding box of the brain: non-zero voxels of the (skull-stripped) reference sequence when it can be
    read, else the reference grid's extent."""
    from ..image_io import read_image

    grid = report["reference_grid"]
    reference = report.get("inputs", {}).get(grid.get("sequence", ""), "")
    try:
        image = read_image(reference)
        indices = np.argwhere(image.array_kji > 0)[:, ::-1]  # (k, j, i) -> (i, j, k)
        if len(indices) == 0:
            raise ValueError("empty")
        points = image.index_to_lps(np.array([indices.min(axis=0), indices.max(axis=0)], dtype=float))
    except Exception:
        size = np.asarray(grid["size_ijk"], dtype=float) - 1
        direction = np.asarray(grid["direction_lps"], dtype=float)
        origin = np.asarray(grid["origin_lps"], dtype=float)
        spacing = np.asarray(grid["spacing_mm"], dtype=float)
        points = np.array([origin, origin + direction @ (size * spacing)])
    return points.min(axis=0), points.max(axis=0)


def lesion_sentence(finding: Finding) -> str:
    values = finding.values
    regions = ", ".join(
        f"{REGION_NAMES[name]} {values[name].display()}"
        for name in REGION_NAMES
        if name in values and values[name].value
    )
    where = f"{values['side'].value} {values['lobe'].value}".strip()
    return (
        f"{finding.title}: {where} (approximate, image axes), {regions or 'no region volume'}; "
        f"axial slices {values['first_slice'].value}-{values['last_slice'].value}."
    )


def build(case_dir: Path) -> ReportContent:
    """The draft from report.json and <case>_labels.json of a `radassist brain` folder."""
    report = read_json(case_dir / "report.json")
    case_id = str(report.get("case_id", case_dir.name))
    box_min, box_max = _brain_box_lps(report)
    sequence = report["reference_grid"].get("sequence", "flair")
    findings = []
    for lesion in report.get("lesions", []):
        finding = Finding(f"lesion-{lesion['index']}", "brain_lesion", f"Lesion {lesion['index']}")
        side, lobe = side_and_lobe(lesion["centroid_lps"], box_min, box_max)
        finding.values = {
            name: Value(f"{label.capitalize()} volume", lesion["region_volumes_ml"].get(name), "mL", code=VOLUME)
            for name, label in REGION_NAMES.items()
        }
        finding.values.update(
            side=Value("Side", side, code=code("SIDE", "Laterality of finding", "99RADAS")),
            lobe=Value("Lobe", lobe, code=code("LOBE", "Lobe (approximate)", "99RADAS")),
            first_slice=Value("First axial slice", lesion["first_axial_slice"]),
            last_slice=Value("Last axial slice", lesion["last_axial_slice"]),
        )
        middle = (lesion["first_axial_slice"] + lesion["last_axial_slice"]) // 2
        finding.link = Link(series=sequence, slice_index=middle, point_lps=lesion["centroid_lps"])
        finding.text = lesion_sentence(finding)
        findings.append(finding)
    qa = report.get("qa", {})
    flags = qa.get("flags", [])
    details = "; ".join(f"{flag['message']} (slice {flag.get('axial_slice', '?')})" for flag in flags)
    qa_finding = Finding("qa", "brain_qa", "Quality checks")
    qa_finding.values = {
        "qa_passed": Value("QA passed", bool(qa.get("passed", True)), normal_values=[True]),
        "qa_flags": Value("QA flags", len(flags), normal_max=0),
    }
    qa_finding.text = f"Quality checks {'passed' if qa.get('passed', True) else 'failed'}" + (
        f" with {len(flags)} flag(s): {details}." if flags else "."
    )
    first_flag = next((flag for flag in flags if "axial_slice" in flag), None)
    qa_finding.link = Link(series=sequence, slice_index=first_flag["axial_slice"] if first_flag else None)
    findings.append(qa_finding)
    total = report.get("region_volumes_ml", {})
    count = len(report.get("lesions", []))
    impression = (
        f"{count} lesion(s); whole tumour {total.get('whole_tumor', 0):.1f} mL, "
        f"enhancing {total.get('enhancing', 0):.1f} mL."
        if count
        else "No tumour found by the assistant."
    )
    labels_file = case_dir / f"{case_id}_labels.json"
    labels_doc = read_json(labels_file) if labels_file.is_file() else {}
    label_file = (labels_doc.get("files") or {}).get("labels")
    reference_series = {**report["reference_grid"], "source": report.get("inputs", {}).get(sequence, "")}
    return ReportContent(
        case_id=case_id,
        assistant="brain",
        title="Brain MRI: tumour regions",
        findings=findings,
        impression=impression,
        model=model_summary(report.get("model", {})),
        source={sequence: source_entry(reference_series)},
        label_maps=[{"file": label_file, "series": sequence, "table": labels_file.name}] if label_file else [],
        notes=list(report.get("model", {}).get("label_notes", []))
        + [report.get("note", "")] * bool(report.get("note")),
    )
