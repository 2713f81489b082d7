"""SpineAssist's draft report: one line per cervical disc level C2/3..C7/T1, then an impression.

Each line gives the disc finding and side, the listhesis grade (quarters of the lower endplate) and offset in mm,
osteophytes of the two vertebrae around the disc, PLL and ligamentum flavum thickness in mm (over 2 mm flagged as
thickening, the source study's threshold) and canal compromise when the result measured it. Reviewer edits stored
in findings.json (its ``rows``) win over the model's values.
"""

from __future__ import annotations

from pathlib import Path

from .case_files import read_json, source_entry
from .model import PROBABILITY, THICKNESS, Finding, Link, ReportContent, Value, code, model_summary

DISC_LEVELS = ("C2/3", "C3/4", "C4/5", "C5/6", "C6/7", "C7/T1")
UNNAMED_IMPRESSION = (
    "Levels could not be named (C2 not recognised, atlas match ambiguous): no per-level findings. "
    "Run `radassist spine` again with --anchor X,Y,Z:LEVEL."
)
#: ligament thickening threshold of the source study (mm): thicker is flagged
LIGAMENT_NORMAL_MAX_MM = 2.0


def _blank_to_none(value):
    return None if value == "" else value


def _level_values(row: dict, vertebra_rows: dict[str, dict], level: str, canal: float | None) -> dict[str, Value]:
    upper, lower = level.split("/")
    lower = lower if lower.startswith(("C", "T")) else f"C{lower}"
    osteophytes = [vertebra_rows[name]["osteophyte"] for name in (upper, lower) if name in vertebra_rows]
    grade = _blank_to_none(row.get("listhesis_grade"))
    offset = _blank_to_none(row.get("listhesis_offset_mm"))
    values = {
        "disc": Value(
            "Disc",
            _blank_to_none(row.get("disc")),
            normal_values=["normal"],
            code=code("DISC", "Disc status", "99RADAS"),
        ),
        "disc_side": Value(
            "Side", _blank_to_none(row.get("disc_side")), code=code("SIDE", "Laterality of finding", "99RADAS")
        ),
        "listhesis_grade": Value(
            "Listhesis grade", grade, "{grade}", normal_max=0, code=code("LISTH", "Spondylolisthesis grade", "99RADAS")
        ),
        "listhesis_direction": Value("Listhesis direction", _blank_to_none(row.get("listhesis_direction"))),
        "listhesis_mm": Value(
            "Listhesis offset", abs(float(offset)) if offset is not None else None, "mm", code=THICKNESS
        ),
        "osteophyte": Value(
            "Osteophyte",
            any(bool(v) for v in osteophytes) if osteophytes else None,
            normal_values=[False],
            code=code("88998003", "Osteophyte"),
        ),
        "pll_thickness_mm": Value(
            "PLL thickness",
            _blank_to_none(row.get("pll_thickness_mm")),
            "mm",
            normal_max=LIGAMENT_NORMAL_MAX_MM,
            code=THICKNESS,
        ),
        "lf_thickness_mm": Value(
            "LF thickness",
            _blank_to_none(row.get("lf_thickness_mm")),
            "mm",
            normal_max=LIGAMENT_NORMAL_MAX_MM,
            code=THICKNESS,
        ),
        "disc_probability": Value(
            "Disc finding probability", _blank_to_none(row.get("disc_probability")), "1", code=PROBABILITY
        ),
    }
    if canal is not None:
        values["canal_compromise_percent"] = Value(
            "Canal compromise", canal, "%", normal_max=0.0, code=code("CANAL", "Spinal canal compromise", "99RADAS")
        )
    return values


def level_sentence(finding: Finding) -> str:
    """The reader's line for one disc level, from its values (flags named in words)."""
    values = finding.values
    if not values:
        return f"{finding.finding_id}: not in the field of view; not assessed."
    parts = []
    disc = values["disc"].value
    side = values["disc_side"].value
    if disc in (None, "normal"):
        parts.append("no disc herniation" if disc else "disc not assessed")
    elif disc == "bulge":
        parts.append("disc bulge")
    else:
        parts.append(f"{disc} disc herniation" + (f" ({side})" if side and side != "none" else ""))
    grade = values["listhesis_grade"].value
    if grade:
        direction = values["listhesis_direction"].value or ""
        parts.append(
            f"grade {grade} {direction} spondylolisthesis ({values['listhesis_mm'].display()})".replace("  ", " ")
        )
    else:
        parts.append("no spondylolisthesis")
    osteophyte = values["osteophyte"].value
    parts.append("osteophyte" if osteophyte else "no osteophyte" if osteophyte is False else "osteophytes not assessed")
    for name, short in (("pll_thickness_mm", "PLL"), ("lf_thickness_mm", "LF")):
        value = values[name]
        if value.value is None:
            parts.append(f"{short} not measured")
        else:
            parts.append(
                f"{short} {value.display()}"
                + (f" (thickened, over {LIGAMENT_NORMAL_MAX_MM:g} mm)" if value.flag else "")
            )
    if "canal_compromise_percent" in values:
        parts.append(f"canal compromise {values['canal_compromise_percent'].display()}")
    return f"{finding.finding_id}: " + "; ".join(parts) + "."


def impression(findings: list[Finding]) -> str:
    """The abnormal levels grouped by finding, or a plain negative."""
    groups: dict[str, list[str]] = {}
    for finding in findings:
        for name, flag in finding.flags.items():
            if name == "disc_probability":
                continue
            label = {
                "disc": f"{finding.values['disc'].value} disc",
                "listhesis_grade": "spondylolisthesis",
                "osteophyte": "osteophytes",
                "pll_thickness_mm": "PLL thickening",
                "lf_thickness_mm": "ligamentum flavum thickening",
                "canal_compromise_percent": "canal compromise",
            }.get(name, f"{name} {flag}")
            groups.setdefault(label, []).append(finding.finding_id)
    assessed = [f.finding_id for f in findings if f.values]
    if not groups:
        return f"No abnormality found by the assistant at {', '.join(assessed) or 'the levels examined'}."
    return "; ".join(f"{label[0].upper() + label[1:]} at {', '.join(levels)}" for label, levels in groups.items()) + "."


def build(case_dir: Path) -> ReportContent:
    """The draft from report.json, findings.json and levels.json of a `radassist spine` folder."""
    report = read_json(case_dir / "report.json")
    document = read_json(case_dir / "findings.json")
    rows = {row["level"]: row for row in document.get("rows", [])}
    levels = document.get("levels", {})
    vertebra_rows = {name: row for name, row in rows.items() if row.get("kind") == "vertebra"}
    named = any(row.get("kind") == "disc" for row in rows.values())
    findings = []
    for level in DISC_LEVELS:
        row, item = rows.get(level), levels.get(level, {})
        finding = Finding(level, "spine_level", level)
        if row is not None:
            canal = next((v for k, v in item.items() if "canal" in k and isinstance(v, (int, float))), None)
            finding.values = _level_values(row, vertebra_rows, level, canal)
            axial = item.get("axial") or {}
            finding.link = Link(
                series=axial.get("series") or "sag_t2",
                slice_index=axial.get("slice_index", item.get("sagittal_slice")),
                point_lps=item.get("point_lps"),
            )
        finding.text = level_sentence(finding) if named else f"{level}: not assessed (the levels were not named)."
        findings.append(finding)
    labelling = report.get("labelling", {})
    notes = [f"Levels named by {labelling.get('method', '?')}: {labelling.get('reason', '')}".strip()]
    notes += list(report.get("warnings", []))
    label_maps = [{"file": "segmentation.nii.gz", "series": "sag_t2", "table": "spine_labels"}]
    label_maps += [
        {"file": f"segmentation_{name}.nii.gz", "series": name, "table": "spine_labels"}
        for name in report.get("series", {})
        if (case_dir / f"segmentation_{name}.nii.gz").is_file()
    ]
    return ReportContent(
        case_id=str(report.get("case_id", case_dir.name)),
        assistant="spine",
        title="Cervical spine MRI",
        findings=findings,
        impression=impression(findings) if named else UNNAMED_IMPRESSION,
        model=model_summary(report.get("model", {})),
        source={name: source_entry(series) for name, series in report.get("series", {}).items()},
        label_maps=[entry for entry in label_maps if (case_dir / entry["file"]).is_file()],
        notes=notes,
    )
