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

from ..crm.detector import window
from ..errors import InputError
from ..image import Image
from ..models.runner import CancelToken, ProgressReporter
from ..resample import resample_to_reference
from ..spine import model as spine_model
from ..spine.axial import SliceLevel, map_axial_slices, slices_overlap_sagittal
from ..spine.level_naming import complete_levels, name_levels
from ..spine.levels import (
    CLASS_OF,
    DISC_VALUE,
    DiscLevel,
    Labelling,
    VertebraLevel,
    level_map_from_named_labels,
)
from .spine_findings import HERNIATED, disc_finding, level_findings, sagittal_slice_of
from .spine_outputs import FINDINGS_COLUMNS, findings_csv, findings_rows, write_outputs

__all__ = [
    "FINDINGS_COLUMNS",
    "HERNIATED",
    "MIN_FIELD_OF_VIEW_MM",
    "REPORT_DISCS",
    "REPORT_VERTEBRAE",
    "STAGES",
    "AxialSeries",
    "SpineResult",
    "check_spine_inputs",
    "disc_finding",
    "findings_csv",
    "findings_rows",
    "run",
    "sagittal_slice_of",
    "write_outputs",
]

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
        level_map, work_levels, labelling = _levels_from_label_file(options, sagittal, grid, report)
        segmentation_source, atlas_discs, atlas_record = "label file", [], None
    else:
        level_map, work_levels, labelling, atlas_discs, atlas_record = _levels_from_network(
            network, sagittal, grid, sagittal_window, anchor, cancel, report, device_choice.device, timings
        )
        segmentation_source = "network"
    warnings += labelling.warnings
    vertebrae, discs = complete_levels(work_levels, labelling, atlas_discs)
    bodies = [v for v in vertebrae if v.name != "C1"]
    if len(bodies) == 1:
        warnings.append("Only one vertebral body was found in the field of view: no disc level can be named.")
    timings["levels"] = time.perf_counter() - started - timings.get("segment", 0.0)
    cancel.raise_if_cancelled()

    started = time.perf_counter()
    axial_series = _axial_series(
        images.get("ax_t2") or [], sagittal, discs, network, device_choice.device, cancel, report, warnings
    )
    timings["axial"] = time.perf_counter() - started

    started = time.perf_counter()
    report("findings", 0.0, "findings per level")
    findings = level_findings(
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


def _levels_from_label_file(
    options: dict[str, Any], sagittal: Image, grid: Image, report: ProgressReporter
) -> tuple[Image, Image, Labelling]:
    """(level map on the sagittal grid, on the working grid, labelling) from ``options["labels"]`` named by
    ``options["level_map"]`` (a {value: name} dict or a JSON/CSV path)."""
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
    return level_map, resample_to_reference(level_map, grid, "nearest"), labelling


def _levels_from_network(
    network, sagittal: Image, grid: Image, sagittal_window, anchor, cancel: CancelToken, report, device: str, timings
) -> tuple[Image, Image, Labelling, list, dict | None]:
    """(level map on the sagittal grid, on the working grid, labelling, atlas discs, atlas record): the network
    segments the sagittal series (its seconds go to ``timings["segment"]``), then the levels are named."""
    started = time.perf_counter()
    report("segment", 0.0, f"segmenting on {device}")
    classes = _segment(
        network,
        sagittal,
        grid,
        sagittal_window,
        cancel.raise_if_cancelled,
        lambda f, m: report("segment", f, m),
        device,
    )
    timings["segment"] = time.perf_counter() - started
    report("levels", 0.0, "naming levels")
    work_levels, labelling, match, atlas_discs = name_levels(sagittal, classes, anchor)
    atlas_record = match.record() if match is not None else None
    level_map = resample_to_reference(work_levels, sagittal, "nearest")
    return level_map, work_levels, labelling, atlas_discs, atlas_record


def _axial_series(
    axial_images: list[Image],
    sagittal: Image,
    discs: list[DiscLevel],
    network,
    device: str,
    cancel: CancelToken,
    report,
    warnings: list[str],
) -> list[AxialSeries]:
    """Each axial series segmented on its own grid and its slices mapped onto ``discs``; a series that does not
    overlap the sagittal one is kept unmapped, with a warning."""
    axial_series: list[AxialSeries] = []
    for index, axial in enumerate(axial_images):
        name = f"ax_t2_{index}" if len(axial_images) > 1 else "ax_t2"
        report("axial", index / max(1, len(axial_images)), f"axial series {index + 1}")
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
            _segment(network, axial, axial_grid, axial_window, cancel.raise_if_cancelled, None, device),
            axial,
            "nearest",
        )  # the axial series' own grid: outputs keep its geometry
        slices = map_axial_slices(discs, axial, name)
        axial_levels = _axial_level_map(axial_classes, slices)
        axial_series.append(AxialSeries(name, axial, axial_levels, slices, intensity_window=axial_window))
    return axial_series


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
