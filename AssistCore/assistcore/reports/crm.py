"""CRMAssist's draft report: the verdict at the operating threshold, then one line per involved region.

A region (boxes linked across neighbouring slices) is involved when its peak probability reaches the threshold.
Its line gives the slices it spans, the peak slice and probability and, where the result gives the rectum's
centre (``report.json`` ``rectum.center_lps``), its clock-face position around the rectum.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .case_files import read_json, source_entry
from .model import PROBABILITY, Finding, Link, ReportContent, Value, code, model_summary

CLOCK = code("CLOCK", "Clock-face position", "99RADAS")


def clock_face_hour(point_lps: list[float], center_lps: list[float]) -> int:
    """Clock-face hour (1..12) of a point around the rectum on an axial slice, as surgeons and radiologists give
    it: 12 o'clock anterior, 3 o'clock the patient's left, 6 posterior, 9 the patient's right. LPS: anterior is
    -y, the patient's left is +x."""
    left = point_lps[0] - center_lps[0]
    anterior = -(point_lps[1] - center_lps[1])
    angle = math.degrees(math.atan2(left, anterior)) % 360.0  # clockwise from anterior towards the left
    hour = round(angle / 30.0) % 12
    return 12 if hour == 0 else hour


def _peak_box(boxes: list[dict], region: dict) -> dict | None:
    candidates = [box for box in boxes if box.get("region_id") == region["region_id"]]
    return max(candidates, key=lambda box: box["score"], default=None)


def region_sentence(finding: Finding) -> str:
    values = finding.values
    first, last = values["first_slice"].value, values["last_slice"].value
    span = f"slice {first}" if first == last else f"slices {first}-{last}"
    text = f"{finding.title}: CRM-positive region on {span}, peak probability {values['peak_probability'].display()}"
    text += f" on slice {values['peak_slice'].value}"
    hour = values.get("clock_face")
    if hour is not None and hour.value is not None:
        text += f", at {hour.value} o'clock around the rectum"
    return text + "."


def verdict_sentence(finding: Finding) -> str:
    values = finding.values
    threshold = values["max_probability"].normal_max
    if values["crm_positive_risk"].value:
        slices = values["slices_involved"].value or ""
        return (
            f"CRM-positive risk at threshold {threshold:g}: maximum probability {values['max_probability'].display()}; "
            f"involved slices {slices}."
        )
    maximum = values["max_probability"].display()
    return f"No CRM-positive region at threshold {threshold:g} (maximum probability {maximum})."


def _region_finding(region: dict, box: dict | None, threshold: float, center: list | None) -> Finding:
    finding = Finding(f"region-{region['region_id']}", "crm_region", f"Region {region['region_id']}")
    polygon = box["corners_lps_mm"] if box else None
    point = np.mean(np.asarray(polygon, dtype=float), axis=0).round(2).tolist() if polygon else None
    finding.values = {
        "first_slice": Value("First slice", region["first_index"]),
        "last_slice": Value("Last slice", region["last_index"]),
        "peak_slice": Value("Peak slice", region["peak_index"]),
        "peak_probability": Value(
            "Peak probability", region["peak_score"], "1", normal_max=threshold, code=PROBABILITY
        ),
    }
    if center is not None and point is not None:
        finding.values["clock_face"] = Value(
            "Clock-face position",
            clock_face_hour(point, center),
            "{o'clock}",
            code=CLOCK,
        )
    finding.link = Link(series="t2", slice_index=region["peak_index"], point_lps=point, polygon_lps=polygon)
    finding.text = region_sentence(finding)
    return finding


def set_rectum_center(content: ReportContent, center_lps: list[float]) -> None:
    """The reader's rectum centre (LPS mm): every region gets its clock-face hour and its sentence says it."""
    for finding in content.findings:
        if finding.kind == "crm_region" and finding.link.point_lps is not None:
            hour = clock_face_hour(finding.link.point_lps, center_lps)
            finding.values["clock_face"] = Value("Clock-face position", hour, "{o'clock}", code=CLOCK)
            if not finding.text_edited:
                finding.text = region_sentence(finding)
    content.notes = [note for note in content.notes if "rectum's centre" not in note]
    content.notes.append(
        "Rectum centre given by the reader at LPS (" + ", ".join(f"{v:.1f}" for v in center_lps) + ") mm."
    )


def build(case_dir: Path) -> ReportContent:
    """The draft from report.json and boxes.json of a `radassist crm` folder."""
    report = read_json(case_dir / "report.json")
    document = read_json(case_dir / "boxes.json")
    boxes = document.get("boxes", [])
    verdict = report["verdict"]
    threshold = float(verdict["threshold"])
    center = (report.get("rectum") or {}).get("center_lps")
    rejected = sorted(int(k) for k, decision in (document.get("reviews") or {}).items() if decision == "reject")
    slices = [k for k in verdict["slices_involved"] if k not in rejected]  # the reviewer's rejections stand
    positive = bool(verdict["crm_positive_risk"]) and bool(slices)
    summary = Finding("verdict", "crm_verdict", "Verdict")
    summary.values = {
        "crm_positive_risk": Value("CRM-positive risk", positive, normal_values=[False]),
        "max_probability": Value(
            "Maximum probability", verdict["max_probability"], "1", normal_max=threshold, code=PROBABILITY
        ),
        "slices_involved": Value("Involved slices", ", ".join(str(k) for k in slices)),
    }
    summary.link = Link(series="t2", slice_index=slices[0] if slices else None)
    summary.text = verdict_sentence(summary)
    involved = [
        region
        for region in report.get("regions", [])
        if region["peak_score"] >= threshold and any(region["first_index"] <= k <= region["last_index"] for k in slices)
    ]
    involved.sort(key=lambda region: -region["peak_score"])
    findings = [summary] + [_region_finding(r, _peak_box(boxes, r), threshold, center) for r in involved]
    notes = (
        []
        if center is not None
        else ["Clock-face positions need the rectum's centre, which this result does not give."]
    )
    if rejected:
        notes.append(f"Slice(s) {', '.join(map(str, rejected))} rejected by the reviewer: not reported as involved.")
    if report.get("note"):
        notes.append(report["note"])
    return ReportContent(
        case_id=str(report.get("case_id", case_dir.name)),
        assistant="crm",
        title="Rectal MRI: circumferential resection margin",
        findings=findings,
        impression=summary.text,
        model=model_summary(report.get("model", {})),
        source={"t2": source_entry(report.get("series", {}))},
        notes=notes,
    )
