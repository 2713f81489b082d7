"""The report as a form (the Slicer panel and the Station show it as tables): rows to show, and the edits that
turn what the reader typed into ``ReportRecord.edit`` keys. Pure Python: the panel only moves text in and out."""

from __future__ import annotations

from typing import Any

from .model import ReportContent


def finding_rows(content: ReportContent) -> list[dict[str, Any]]:
    """One row per finding: {"finding_id", "text", "flags" (e.g. "pll_thickness_mm: high"), "link"}."""
    return [
        {
            "finding_id": finding.finding_id,
            "text": finding.text,
            "flags": ", ".join(f"{name}: {flag}" for name, flag in finding.flags.items()),
            "link": finding.link.describe(),
        }
        for finding in content.findings
    ]


def value_rows(content: ReportContent, finding_id: str) -> list[dict[str, Any]]:
    """One row per value of a finding: {"name", "label", "value" (as text, '' when not measured), "unit",
    "normal", "flag"}."""
    finding = content.finding(finding_id)
    if finding is None:
        return []
    rows = []
    for name, value in finding.values.items():
        if value.normal_values is not None:
            normal = ", ".join(str(item) for item in value.normal_values)
        elif value.normal_min is not None or value.normal_max is not None:
            low = "" if value.normal_min is None else f"{value.normal_min:g}"
            high = "" if value.normal_max is None else f"{value.normal_max:g}"
            normal = f"{low}..{high}"
        else:
            normal = ""
        shown = "" if value.value is None else str(value.value)
        rows.append(
            {
                "name": name,
                "label": value.label,
                "value": shown,
                "unit": value.unit,
                "normal": normal,
                "flag": value.flag,
            }
        )
    return rows


def edits_from_form(
    content: ReportContent,
    texts: dict[str, str] | None = None,
    values: dict[str, dict[str, str]] | None = None,
    impression: str | None = None,
) -> dict[str, str]:
    """The edit keys for what differs between the form and ``content`` (unchanged cells give no edit).

    :param texts: finding id -> sentence as typed; :param values: finding id -> {value name: text as typed}.
    """
    edits: dict[str, str] = {}
    if impression is not None and impression.strip() != content.impression.strip():
        edits["impression"] = impression
    for finding in content.findings:
        typed = (texts or {}).get(finding.finding_id)
        if typed is not None and typed.strip() != finding.text.strip():
            edits[f"{finding.finding_id}.text"] = typed
        for name, typed_value in ((values or {}).get(finding.finding_id) or {}).items():
            current = finding.values.get(name)
            shown = "" if current is None or current.value is None else str(current.value)
            if current is not None and typed_value.strip() != shown:
                edits[f"{finding.finding_id}.{name}"] = typed_value.strip()
    return edits
