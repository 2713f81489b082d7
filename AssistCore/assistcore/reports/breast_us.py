"""BreastUSAssist's draft report: each fused lesion's size, frames, score and the BI-RADS lexicon descriptors the
reader recorded (`radassist breast-us describe`). Lesions a reviewer rejected are left out and named in a note."""

from __future__ import annotations

from pathlib import Path

from ..breastus.descriptors import DESCRIPTOR_FIELDS, DESCRIPTOR_LABELS
from .case_files import read_json, source_entry
from .model import DIAMETER, PROBABILITY, Finding, Link, ReportContent, Value, code, model_summary


def lesion_sentence(finding: Finding) -> str:
    values = finding.values
    if values["width_mm"].value is not None:
        size = f"{values['width_mm'].display()} x {values['height_mm'].display()}"
    else:
        size = f"{values['width_px'].display()} x {values['height_px'].display()} pixels (no pixel spacing)"
    first, last = values["first_frame"].value, values["last_frame"].value
    frames = f"frame {first}" if first == last else f"frames {first}-{last}"
    text = f"{finding.title}: {size}, {frames} (best {values['best_frame'].value}), score {values['score'].display()}"
    if values.get("malignancy_score") and values["malignancy_score"].value is not None:
        text += f", malignancy descriptor aid {values['malignancy_score'].display()}"
    described = [
        f"{DESCRIPTOR_LABELS[name].lower()} {value.display().replace('_', ' ')}"
        for name, value in values.items()
        if name in DESCRIPTOR_FIELDS and value.value is not None
    ]
    text += "; " + (", ".join(described) if described else "no BI-RADS descriptors recorded")
    return text + "."


def _lesion_finding(lesion: dict, descriptors: dict, threshold: float) -> Finding:
    number = lesion["detection_id"]
    finding = Finding(f"lesion-{number}", "breast_lesion", f"Lesion {number}")
    x0, y0, x1, y1 = lesion["best_box_xy"]
    size_mm = lesion.get("size_mm") or [None, None]
    finding.values = {
        "width_mm": Value("Width", size_mm[0], "mm", code=DIAMETER),
        "height_mm": Value("Height", size_mm[1], "mm", code=DIAMETER),
        "width_px": Value("Width (pixels)", round(x1 - x0, 1)),
        "height_px": Value("Height (pixels)", round(y1 - y0, 1)),
        "first_frame": Value("First frame", lesion["first_frame"]),
        "last_frame": Value("Last frame", lesion["last_frame"]),
        "best_frame": Value("Best frame", lesion["best_frame"]),
        "score": Value("Detection score", lesion["fused_score"], "1", normal_max=threshold, code=PROBABILITY),
        "malignancy_score": Value(
            "Malignancy descriptor aid",
            lesion.get("malignancy_score"),
            "1",
            normal_max=0.5,
            code=code("MALIG", "Malignancy descriptor aid", "99RADAS"),
        ),
    }
    for name in DESCRIPTOR_FIELDS:
        value = descriptors.get(name)
        finding.values[name] = Value(
            DESCRIPTOR_LABELS[name], value, code=code(name.upper()[:16], DESCRIPTOR_LABELS[name], "99RADAS")
        )
    finding.link = Link(series="cine", slice_index=lesion["best_frame"], box_xy=list(lesion["best_box_xy"]))
    finding.text = lesion_sentence(finding)
    return finding


def _reviews(document: dict) -> dict[int, str]:
    reviews = document.get("reviews") or {}
    items = reviews.items() if isinstance(reviews, dict) else ((r.get("detection_id"), r) for r in reviews)
    return {
        int(key): str((value or {}).get("review", value) if isinstance(value, dict) else value) for key, value in items
    }


def build(case_dir: Path) -> ReportContent:
    """The draft from report.json and detections.json of a `radassist breast-us` folder."""
    report = read_json(case_dir / "report.json")
    document = read_json(case_dir / "detections.json")
    threshold = float(document.get("threshold", report.get("summary", {}).get("threshold", 0.5)))
    descriptors = {int(record["detection_id"]): record for record in document.get("descriptors", [])}
    reviews = _reviews(document)
    kept = [
        lesion
        for lesion in document.get("fused", [])
        if lesion.get("above_threshold", True) and reviews.get(lesion["detection_id"]) != "reject"
    ]
    findings = [_lesion_finding(lesion, descriptors.get(lesion["detection_id"], {}), threshold) for lesion in kept]
    rejected = sorted(key for key, verdict in reviews.items() if verdict == "reject")
    notes = [f"Lesion(s) {', '.join(map(str, rejected))} rejected by the reviewer: not reported."] if rejected else []
    notes += list(report.get("warnings", []))
    cine = report.get("cine", {})
    impression = (
        f"{len(findings)} lesion(s) detected at threshold {threshold:g}; "
        f"the highest score {max(f.values['score'].value for f in findings):.2f}."
        if findings
        else f"No lesion detected at threshold {threshold:g}."
    )
    return ReportContent(
        case_id=str(report.get("case_id", case_dir.name)),
        assistant="breast_us",
        title="Breast ultrasound",
        findings=findings,
        impression=impression,
        model=model_summary(document.get("model", report.get("model", {}))),
        source={"cine": source_entry(cine)},  # with the UIDs the run recorded, when it read a DICOM cine
        notes=notes,
    )
