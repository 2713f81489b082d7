"""SpineAssist pipeline: sagittal T2 (+ optional axial T2 series) in; named levels, disc planes, axial slice
mapping and per-level findings out.

``run`` is what the Slicer module calls (images already loaded); the command line adds reading and the output
folder (:func:`write_outputs`). Stages: segment the sagittal series (or read a user's label file), name the
vertebrae (from C2 or an anchor), fit disc planes, segment each axial series and map its slices onto discs,
then the findings: listhesis measured on the sagittal segmentation, osteophyte probability per vertebra, the
axial classifier and ligament thickness per disc level. Geometry in LPS mm; every output volume lies on the
exact grid of the series it belongs to.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import csv_text, write_text_atomic
from ..crm.detector import window
from ..errors import InputError
from ..image import Image
from ..models.runner import CancelToken, ProgressReporter
from ..resample import resample_to_reference
from ..spine import model as spine_model
from ..spine.axial import SliceLevel, map_axial_slices, slices_overlap_sagittal
from ..spine.findings import THICKENED_MM, ligament_thickness, measure_listhesis
from ..spine.level_naming import complete_levels, name_levels
from ..spine.levels import (
    CLASS_OF,
    DISC_VALUE,
    DiscLevel,
    Labelling,
    VertebraLevel,
    level_map_from_named_labels,
)

STAGES = (("load", 1.0), ("segment", 4.0), ("levels", 0.5), ("axial", 2.0), ("findings", 1.0))
#: the levels a report lists (the study's cervical levels)
REPORT_VERTEBRAE = ("C2", "C3", "C4", "C5", "C6", "C7")
REPORT_DISCS = ("C2/3", "C3/4", "C4/5", "C5/6", "C6/7")


@dataclass
class AxialSeries:
    """One axial series: its image, its level map (same grid), and the level of each slice."""

    name: str
    image: Image
    level_map: Image | None
    slices: list[SliceLevel] = field(default_factory=list)
    overlaps: bool = True
    intensity_window: tuple[float, float] | None = None  # the series' 0.5-99.5 percentiles, computed once


@dataclass
class SpineResult:
    """Everything ``run`` found. ``level_map`` lies on the sagittal T2's grid (SPINE_LABELS values)."""

    sagittal: Image
    level_map: Image
    labelling: Labelling
    vertebrae: list[VertebraLevel]
    discs: list[DiscLevel]
    axial: list[AxialSeries]
    findings: dict[str, dict]  # level name -> findings
    provenance: dict
    warnings: list[str] = field(default_factory=list)
    seconds_per_stage: dict[str, float] = field(default_factory=dict)
    sagittal_t1: Image | None = None
    reviews: dict[str, dict] = field(default_factory=dict)
    atlas: dict | None = None  # the PAM50 match (AtlasMatch.record()), None when not run

    def levels_document(self) -> dict:
        """``levels.json``: vertebrae (name, centre LPS mm, confidence), discs (centre, normal, axial slices)."""
        return {
            "coordinate_system": "LPS",
            "units": "mm",
            "labelling": {
                "method": self.labelling.method,
                "confidence": self.labelling.confidence,
                "c2_found": self.labelling.c2_found,
                "anchor": self.labelling.anchor,
                "reason": self.labelling.reason,
            },
            "atlas": self.atlas,
            "vertebrae": [v.to_dict() for v in self.vertebrae],
            "discs": [d.to_dict() for d in self.discs],
            "axial_series": [
                {"name": a.name, "overlaps_sagittal": a.overlaps, "slices": [s.to_dict() for s in a.slices]}
                for a in self.axial
            ],
        }


def sagittal_slice_of(image: Image, point_lps) -> int:
    """The k-slice of ``image`` nearest a point (clipped into the series)."""
    k = float(image.lps_to_index(np.asarray(point_lps, dtype=float)[None, :])[0][2])
    return int(min(max(round(k), 0), image.shape_kji[0] - 1))


MIN_FIELD_OF_VIEW_MM = 40.0


def check_spine_inputs(sagittal: Image) -> None:
    """Refuse a series that cannot hold a sagittal spine: a single slice, thick non-sagittal slices, or a field
    of view under 4 cm along the spine (superior axis)."""
    if min(sagittal.shape_kji) < 2:
        raise InputError(
            f"The sagittal series {sagittal.metadata.source_path or ''} has a single slice or row "
            f"({sagittal.shape_kji}).",
            "Give the whole sagittal T2 series (a 3D volume).",
        )
    if not spine_model.is_sagittal(sagittal) and sagittal.spacing_mm[2] > 2.0:
        normal = np.round(sagittal.slice_normal_lps(), 2).tolist()
        raise InputError(
            f"The series given as sagittal T2 {sagittal.metadata.source_path or ''} has thick slices that are not "
            f"sagittal (slice normal {normal} in LPS).",
            "Give the sagittal T2 as --sag-t2 and axial series as --ax-t2.",
        )
    size = np.array(sagittal.size_ijk, dtype=float) - 1
    corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=float) * size
    heights = sagittal.index_to_lps(corners)[:, 2]
    if heights.max() - heights.min() < MIN_FIELD_OF_VIEW_MM:
        raise InputError(
            f"The sagittal series {sagittal.metadata.source_path or ''} covers {heights.max() - heights.min():.0f} mm "
            f"along the spine: at least {MIN_FIELD_OF_VIEW_MM:.0f} mm are needed to locate vertebral levels.",
            "Give a sagittal series with a larger field of view.",
        )


def _load_model(model_id: str | None, device: str, card=None):
    """(card, segmentation network, device choice): ``card`` if given (e.g. a model being validated), else the
    registry's ``model_id`` or its default spine model."""
    from ..models.device import select_device
    from ..models.loader import load_network
    from ..models.registry import ModelRegistry

    if card is None:
        registry = ModelRegistry()
        card = (registry.get(model_id) if model_id else registry.default_for("spine")).card
    choice = select_device(device)
    return card, load_network(card, choice.device), choice


def _read_level_map_table(path: str | Path) -> dict[int, str]:
    """``--level-map``: JSON {value: name} or CSV ``value,name`` lines."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
        return {int(k): str(v) for k, v in data.items()}
    except (json.JSONDecodeError, AttributeError, ValueError):
        pass
    table = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) >= 2 and row[0].strip().isdigit():
            table[int(row[0])] = row[1].strip()
    if not table:
        raise InputError(f"Cannot read the level map {path}.", 'Give JSON {"41": "vertebrae_C2"} or CSV value,name.')
    return table


def _segment(network, image: Image, grid: Image, intensity_window, cancel, progress, device: str) -> Image:
    pictures, display = spine_model.series_pictures(image, grid, intensity_window)
    classes = spine_model.segment_pictures(network, pictures, cancel_check=cancel, progress=progress, device=device)
    return spine_model.classes_on_grid(classes, grid, display)


def run(
    images: dict[str, Any],
    options: dict[str, Any] | None = None,
    progress: Callable | None = None,
    cancel_token: CancelToken | None = None,
) -> SpineResult:
    """Levels and findings for ``images["sag_t2"]`` (required), ``images["ax_t2"]`` (a list, optional),
    ``images["sag_t1"]`` (optional, kept for the scene).

    Options: ``model_id`` (or ``model_card``, a loaded card), ``device`` (auto), ``anchor`` ((x, y, z) LPS mm,
    level name), ``labels`` (an Image on any grid, instead of the network) with ``level_map`` ({value: name} or
    a JSON/CSV path).
    """
    options = dict(options or {})
    cancel = cancel_token or CancelToken()
    report = ProgressReporter(STAGES, progress)
    sagittal = images.get("sag_t2")
    if sagittal is None:
        raise InputError("Missing the sagittal T2 image.", "Give the sagittal T2 series (--sag-t2).")
    check_spine_inputs(sagittal)
    timings: dict[str, float] = {}
    warnings: list[str] = []
    started = time.perf_counter()
    report("load", 0.0, "loading model")
    card, network, device_choice = _load_model(
        options.get("model_id"), options.get("device", "auto"), options.get("model_card")
    )
    timings["load_model"] = time.perf_counter() - started
    cancel.raise_if_cancelled()

    started = time.perf_counter()
    grid = spine_model.sagittal_working_grid(sagittal)
    sagittal_window = window(sagittal.array_kji)
    anchor = options.get("anchor")
    anchor = (np.asarray(anchor[0], dtype=float), str(anchor[1])) if anchor else None
    if options.get("labels") is not None:
        report("segment", 0.0, "reading the label file")
        table = options.get("level_map")
        if table is None:
            raise InputError("A label file needs its level map (value -> name).", "Add --level-map FILE.")
        table = table if isinstance(table, dict) else _read_level_map_table(table)
        # named on the sagittal grid itself, so a label file already on it comes back voxel for voxel
        level_map, labelling = level_map_from_named_labels(
            resample_to_reference(options["labels"], sagittal, "nearest"), table
        )
        labelling.method, labelling.reason = "labels", "Named by the label file given (--labels, --level-map)."
        work_levels = resample_to_reference(level_map, grid, "nearest")
        segmentation_source = "label file"
        atlas_discs, atlas_record = [], None
    else:
        report("segment", 0.0, f"segmenting on {device_choice.device}")
        classes = _segment(
            network,
            sagittal,
            grid,
            sagittal_window,
            cancel.raise_if_cancelled,
            lambda f, m: report("segment", f, m),
            device_choice.device,
        )
        timings["segment"] = time.perf_counter() - started
        started = time.perf_counter()
        report("levels", 0.0, "naming levels")
        work_levels, labelling, match, atlas_discs = name_levels(sagittal, classes, anchor)
        atlas_record = match.record() if match is not None else None
        level_map = resample_to_reference(work_levels, sagittal, "nearest")
        segmentation_source = "network"
    warnings += labelling.warnings
    vertebrae, discs = complete_levels(work_levels, labelling, atlas_discs)
    bodies = [v for v in vertebrae if v.name != "C1"]
    if len(bodies) == 1:
        warnings.append("Only one vertebral body was found in the field of view: no disc level can be named.")
    timings["levels"] = time.perf_counter() - started
    cancel.raise_if_cancelled()

    started = time.perf_counter()
    axial_series: list[AxialSeries] = []
    for index, axial in enumerate(images.get("ax_t2") or []):
        name = f"ax_t2_{index}" if len(images.get("ax_t2")) > 1 else "ax_t2"
        report("axial", index / max(1, len(images["ax_t2"])), f"axial series {index + 1}")
        if not slices_overlap_sagittal(axial, sagittal):
            warnings.append(
                f"The axial series {axial.metadata.source_path or name} does not overlap the sagittal "
                "series: its slices were not mapped; the sagittal results stand."
            )
            axial_series.append(AxialSeries(name, axial, None, [], overlaps=False))
            continue
        axial_grid = spine_model.inplane_working_grid(axial)
        axial_window = window(axial.array_kji)
        axial_classes = resample_to_reference(
            _segment(network, axial, axial_grid, axial_window, cancel.raise_if_cancelled, None, device_choice.device),
            axial,
            "nearest",
        )  # the axial series' own grid: outputs keep its geometry
        slices = map_axial_slices(discs, axial, name)
        axial_levels = _axial_level_map(axial_classes, slices)
        axial_series.append(AxialSeries(name, axial, axial_levels, slices, intensity_window=axial_window))
    timings["axial"] = time.perf_counter() - started

    started = time.perf_counter()
    report("findings", 0.0, "findings per level")
    findings = _findings(
        card, device_choice.device, sagittal, sagittal_window, work_levels, vertebrae, discs, axial_series
    )
    timings["findings"] = time.perf_counter() - started
    report("findings", 1.0, "done")
    provenance = {**card.provenance(device_choice), "segmentation_source": segmentation_source}
    return SpineResult(
        sagittal,
        level_map,
        labelling,
        vertebrae,
        discs,
        axial_series,
        findings,
        provenance,
        warnings,
        {k: round(v, 3) for k, v in timings.items()},
        images.get("sag_t1"),
        atlas=atlas_record,
    )


def _axial_level_map(axial_classes: Image, slices: list[SliceLevel]) -> Image:
    """Axial classes as level values on the axial series' own grid: disc voxels get their slice's disc value."""
    from ..spine.labels import CORD, DURAL_SAC, LF, PLL

    classes = np.asarray(axial_classes.array_kji)
    levels = np.zeros(classes.shape, dtype=np.uint8)
    for class_name, value in (("dural_sac", DURAL_SAC), ("cord", CORD), ("PLL", PLL), ("LF", LF)):
        levels[classes == CLASS_OF[class_name]] = value
    for item in slices:
        if item.level:
            levels[item.slice_index][classes[item.slice_index] == CLASS_OF["disc"]] = DISC_VALUE[item.level]
    return axial_classes.with_array(levels)


def _findings(card, device, sagittal, sagittal_window, work_levels, vertebrae, discs, axial_series) -> dict[str, dict]:
    """Findings per vertebra (osteophyte) and disc level (listhesis, herniation, ligaments), with locations."""
    from ..models.loader import load_component_network
    from ..models.onnx_runtime import run_network

    thresholds = card.data.get("operating_thresholds", {})
    found: dict[str, dict] = {}
    named = [v for v in vertebrae if v.name != "C1"]
    if named and "osteophyte" in card.components:
        network = load_component_network(card, "osteophyte", device)
        crops = np.stack([spine_model.osteophyte_crop(sagittal, v.center_lps, sagittal_window) for v in named])
        logits = run_network(network, crops[:, None], device)[:, 0]
        for vertebra, logit in zip(named, logits):
            probability = float(1 / (1 + np.exp(-logit)))
            found[vertebra.name] = {
                "kind": "vertebra",
                "osteophyte": {
                    "value": probability >= thresholds.get("osteophyte", 0.5),
                    "unit": "",
                    "probability": round(probability, 4),
                },
                "point_lps": vertebra.center_lps,
                "sagittal_slice": sagittal_slice_of(sagittal, vertebra.center_lps),
            }
    axial_network = load_component_network(card, "axial", device) if "axial" in card.components else None
    for disc in discs:
        listhesis = measure_listhesis(work_levels, disc)
        row: dict[str, Any] = {
            "kind": "disc",
            "listhesis": {
                "grade": listhesis["grade"],
                "direction": listhesis["direction"],
                "offset_mm": listhesis["offset_mm"],
                "fraction": listhesis["fraction"],
                "endplate_mm": listhesis["endplate_mm"],
                "point_lps": listhesis["point_lps"],
            },
            "point_lps": disc.center_lps,
            "sagittal_slice": sagittal_slice_of(sagittal, disc.center_lps),
            "axial": None,
        }
        best = _best_axial_slice(disc, axial_series)
        if best is not None:
            series, slice_index = best
            thickness = ligament_thickness(
                series.level_map, [s["slice_index"] for s in disc.axial_slices if s["series"] == series.name]
            )
            row["axial"] = {"series": series.name, "slice_index": slice_index, **thickness}
            row["pll"] = {"thickness_mm": thickness["pll_mm"], "thickened": (thickness["pll_mm"] or 0) > THICKENED_MM}
            row["lf"] = {"thickness_mm": thickness["lf_mm"], "thickened": (thickness["lf_mm"] or 0) > THICKENED_MM}
            if axial_network is not None:
                crop = spine_model.axial_crop(series.image, slice_index, disc.center_lps, series.intensity_window)
                logits = run_network(axial_network, crop[None, None], device)[0]
                outputs = spine_model.axial_outputs(logits)
                kind = disc_finding(outputs["herniation"], thresholds.get("herniation", 0.5))
                side = max(outputs["side"], key=outputs["side"].get) if kind in ("paracentral", "foraminal") else None
                row["disc"] = {
                    "value": kind,
                    "probability": round(outputs["herniation"][kind], 4),
                    "probabilities": {k: round(v, 4) for k, v in outputs["herniation"].items()},
                    "side": side,
                    "side_probability": round(outputs["side"][side], 4) if side else None,
                }
                row["pll"]["probability"] = round(outputs["pll_thickened"], 4)
                row["lf"]["probability"] = round(outputs["lf_thickened"], 4)
        found[disc.name] = row
    return found


HERNIATED = ("central", "paracentral", "foraminal")


def disc_finding(probabilities: dict[str, float], threshold: float) -> str:
    """The disc finding from the axial classifier: a herniation (the likeliest of central, paracentral and
    foraminal) when their summed probability reaches the card's ``herniation`` operating threshold, else the
    likelier of normal and bulge."""
    herniated = sum(probabilities[k] for k in HERNIATED) >= threshold
    candidates = HERNIATED if herniated else ("normal", "bulge")
    return max(candidates, key=lambda k: probabilities[k])


def _best_axial_slice(disc: DiscLevel, axial_series: list[AxialSeries]) -> tuple[AxialSeries, int] | None:
    """The axial slice nearest the disc centre among those mapped to it."""
    candidates = [(abs(s["distance_mm"]), s["series"], s["slice_index"]) for s in disc.axial_slices]
    if not candidates:
        return None
    _, series_name, slice_index = min(candidates)
    series = next(a for a in axial_series if a.name == series_name)
    return series, slice_index


# ----- outputs --------------------------------------------------------------------------------------------------
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


def findings_csv(result: SpineResult) -> str:
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
        "note": "Demo models trained on synthetic data: not for clinical use."
        if result.provenance["synthetic_demo_model"]
        else "",
        "files": sorted(files + list((extra or {}).get("files", []))),
        **{key: value for key, value in (extra or {}).items() if key != "files"},
    }
    text = json.dumps(report, indent=2, default=float)
    write_text_atomic(folder / "report.json", text)
    return json.loads(text)


def _series_record(image: Image) -> dict:
    return {
        "source": image.metadata.source_path,
        "size_ijk": list(image.size_ijk),
        "spacing_mm": [round(float(v), 4) for v in image.spacing_mm],
        "origin_lps": [round(float(v), 3) for v in image.origin_lps],
        "direction_lps": image.direction_lps.round(6).tolist(),
    }
