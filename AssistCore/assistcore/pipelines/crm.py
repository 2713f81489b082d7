"""CRMAssist pipeline: an axial T2 series in, CRM-positive boxes per slice, 3D regions and a case verdict out.

``run`` is what the Slicer module and the web app call (image already loaded); the command line adds
reading and the output folder (:func:`write_outputs`). Boxes are kept in voxel-edge coordinates of the stored
slices (i0, j0, i1, j1) and in LPS millimetres (four corners on the slice's mid-plane), so they land in the
right place on oblique and non-RAS series.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import csv_text, write_text_atomic
from ..crm import detector as crm_detector
from ..detection import FrameBoxes, LinkedRegion, link_boxes
from ..errors import InputError
from ..image import Image
from ..image_io import dicom_identity
from ..models.card import demo_result_note
from ..models.runner import CancelToken, ProgressReporter

STAGES = (("load", 1.0), ("detect", 8.0), ("link", 0.3), ("verdict", 0.2))
#: the study's operating point: a box at or above it makes the case CRM-positive
DEFAULT_THRESHOLD = 0.7
#: boxes below this are dropped before anything is reported (the slider in Slicer starts here)
REPORT_FLOOR = 0.05
#: adjacent-slice boxes overlapping at least this much are one 3D region
LINK_IOU = 0.3
#: an "axial" series' slice normal lies within this angle of superior-inferior
MAX_AXIAL_TILT_DEG = 45.0


@dataclass
class CrmBox:
    """One detection: slice k, voxel-edge box (i0, j0, i1, j1), score, the 3D region it belongs to."""

    slice_index: int
    box_ij: tuple[float, float, float, float]
    score: float
    region_id: int = 0
    corners_lps: list[list[float]] = field(default_factory=list)  # 4 corners (i0j0, i1j0, i1j1, i0j1), mm

    def to_dict(self) -> dict:
        return {
            "slice_index": self.slice_index,
            "box_voxel": {"i0": self.box_ij[0], "j0": self.box_ij[1], "i1": self.box_ij[2], "j1": self.box_ij[3]},
            "corners_lps_mm": self.corners_lps,
            "score": round(self.score, 4),
            "region_id": self.region_id,
        }


@dataclass
class CrmResult:
    """Everything one run found on one series (boxes at or above :data:`REPORT_FLOOR`)."""

    image: Image
    boxes: list[CrmBox]
    regions: list[LinkedRegion]
    threshold: float
    provenance: dict
    seconds_per_stage: dict[str, float] = field(default_factory=dict)
    seconds_per_slice: float = 0.0

    def slice_rows(self, threshold: float | None = None) -> list[dict]:
        """One row per slice: maximum probability, number of boxes at or above the threshold, positive flag."""
        threshold = self.threshold if threshold is None else threshold
        rows = []
        for k in range(self.image.shape_kji[0]):
            scores = [box.score for box in self.boxes if box.slice_index == k]
            above = [score for score in scores if score >= threshold]
            rows.append(
                {
                    "slice_index": k,
                    "max_probability": round(max(scores), 4) if scores else 0.0,
                    "boxes_at_threshold": len(above),
                    "positive": bool(above),
                }
            )
        return rows

    def verdict(self, threshold: float | None = None) -> dict:
        """The case verdict at ``threshold`` (default: the run's): CRM-positive risk when any box reaches it."""
        threshold = self.threshold if threshold is None else threshold
        involved = sorted({box.slice_index for box in self.boxes if box.score >= threshold})
        maximum = max((box.score for box in self.boxes), default=0.0)
        regions = [region.region_id for region in self.regions if region.peak_score >= threshold]
        return {
            "crm_positive_risk": bool(involved),
            "max_probability": round(maximum, 4),
            "threshold": threshold,
            "slices_involved": involved,
            "regions_involved": regions,
            "text": (
                f"CRM-positive risk: {len(involved)} slice(s) with a box at or above {threshold:.2f} "
                f"(maximum probability {maximum:.2f})."
                if involved
                else f"No box reaches {threshold:.2f} (maximum probability {maximum:.2f}): CRM not threatened "
                "according to the model."
            ),
        }


def check_axial_series(image: Image) -> None:
    """Refuse what cannot be an axial T2 stack: one slice, or slices not roughly across superior-inferior."""
    source = image.metadata.source_path or "the input"
    if image.shape_kji[0] < 2:
        raise InputError(
            f"{source} has a single slice; CRMAssist needs the axial T2 stack.", "Give the whole axial T2 series."
        )
    normal = image.slice_normal_lps()
    tilt = float(np.degrees(np.arccos(min(1.0, abs(normal[2])))))
    if tilt > MAX_AXIAL_TILT_DEG:
        raise InputError(
            f"{source} is not an axial series: its slices are tilted {tilt:.0f} degrees from axial "
            f"(sagittal or coronal?).",
            "Choose the axial T2 series (e.g. with --series-uid).",
        )


def _card_and_network(model_id: str | None, device: str):
    """The model (the given one, else the CRM default), its network on the chosen device, the device choice."""
    from ..models.registry import load_card_and_network

    return load_card_and_network("crm", model_id, device)


def _corners_lps(image: Image, k: int, box_ij) -> list[list[float]]:
    i0, j0, i1, j1 = box_ij
    # voxel-edge -> continuous voxel-centre index: subtract half a voxel
    corners = np.array([[i0, j0], [i1, j0], [i1, j1], [i0, j1]], dtype=float) - 0.5
    points = image.index_to_lps(np.column_stack([corners, np.full(4, float(k))]))
    return [[round(float(v), 3) for v in point] for point in points]


def run(
    images: dict[str, Image],
    options: dict[str, Any] | None = None,
    progress: Callable | None = None,
    cancel_token: CancelToken | None = None,
) -> CrmResult:
    """Detect CRM-positive regions on every slice of ``images["t2"]``.

    Options: ``threshold`` (default the model's operating point, 0.7), ``model_id``, ``device`` (auto),
    ``link_iou`` (0.3), ``slices`` (an inclusive (first, last) range to evaluate, e.g. from the anal canal
    to the peritoneal reflection; default all).
    """
    options = dict(options or {})
    cancel_token = cancel_token or CancelToken()
    report = ProgressReporter(STAGES, progress)
    if "t2" not in images:
        raise InputError("Missing the axial T2 image.", "Give the axial T2 series (--t2).")
    image = images["t2"]
    check_axial_series(image)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    report("load", 0.0, "loading model")
    card, network, device_choice = _card_and_network(options.get("model_id"), options.get("device", "auto"))
    timings["load_model"] = time.perf_counter() - started
    threshold = float(options["threshold"]) if options.get("threshold") is not None else _card_threshold(card)
    first, last = options.get("slices") or (0, image.shape_kji[0] - 1)
    if not 0 <= first <= last < image.shape_kji[0]:
        raise InputError(
            f"Slice range {first}..{last} is outside the series (0..{image.shape_kji[0] - 1}).",
            "Give slices within the series.",
        )
    cancel_token.raise_if_cancelled()

    started = time.perf_counter()
    report("detect", 0.0, f"detector on {device_choice.device}")
    detections = crm_detector.detect_slices(
        network,
        image,
        list(range(first, last + 1)),
        device_choice.device,
        cancel_check=cancel_token.raise_if_cancelled,
        progress=lambda fraction, message: report("detect", fraction, message),
    )
    timings["detect"] = time.perf_counter() - started

    started = time.perf_counter()
    report("link", 0.0, "linking boxes across slices")
    frames = []
    for found in detections:
        keep = found.scores >= REPORT_FLOOR
        frames.append(FrameBoxes(found.slice_index, found.boxes_ij[keep], found.scores[keep]))
    regions = link_boxes(frames, float(options.get("link_iou", LINK_IOU)), max_gap=1)
    region_of = {member: region.region_id for region in regions for member in region.members}
    boxes = [
        CrmBox(
            frame.index,
            tuple(round(float(v), 2) for v in box),
            float(score),
            region_of.get((frame.index, row), 0),
            _corners_lps(image, frame.index, box),
        )
        for frame in frames
        for row, (box, score) in enumerate(zip(frame.boxes, frame.scores))
    ]
    timings["link"] = time.perf_counter() - started
    provenance = {
        **card.provenance(device_choice),
        "backbone": card.data.get("training", {}).get("backbone", ""),
        "parameters": {"threshold": threshold, "slices": [first, last], "link_iou": options.get("link_iou", LINK_IOU)},
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    report("verdict", 1.0, "done")
    per_slice = float(np.mean([d.seconds for d in detections])) if detections else 0.0
    return CrmResult(
        image, boxes, regions, threshold, provenance, {k: round(v, 3) for k, v in timings.items()}, per_slice
    )


def _card_threshold(card) -> float:
    try:
        return card.threshold("crm_positive")
    except Exception:  # a card without an operating point: the study's
        return DEFAULT_THRESHOLD


# ----- outputs ------------------------------------------------------------------------------------------
def boxes_document(result: CrmResult) -> dict:
    """``boxes.json``: every box (voxel and LPS corners, score, region) and the 3D regions."""
    return {
        "series": result.image.metadata.source_path,
        "coordinate_notes": "box_voxel: voxel-edge coordinates of the stored slice (pixel (i, j) spans i..i+1); "
        "corners_lps_mm: the 4 corners on the slice's mid-plane, LPS millimetres",
        "boxes": [box.to_dict() for box in result.boxes],
        "regions": [region.to_dict() for region in result.regions],
    }


def slices_csv(result: CrmResult, reviews: dict[int, str] | None = None) -> str:
    """``slices.csv``: slice, max probability, boxes at threshold, positive flag, reviewer verdict."""
    rows = [{**row, "review": (reviews or {}).get(row["slice_index"], "")} for row in result.slice_rows()]
    return csv_text(rows, ["slice_index", "max_probability", "boxes_at_threshold", "positive", "review"])


def write_overlays(result: CrmResult, folder: Path, case_id: str) -> list[Path]:
    """PNGs of the slices with a box at threshold (else the slice of the highest box), boxes drawn and scored."""
    from ..pictures import SliceBox, render_slice, save_png

    involved = result.verdict()["slices_involved"]
    if not involved and result.boxes:
        involved = [max(result.boxes, key=lambda box: box.score).slice_index]
    paths = []
    for k in involved:
        drawn = [
            SliceBox(
                *box.box_ij,
                color_rgb=(255, 64, 64) if box.score >= result.threshold else (255, 200, 0),
                caption=f"{box.score:.2f}",
            )
            for box in result.boxes
            if box.slice_index == k
        ]
        picture = render_slice(result.image, k, drawn, upscale=2 if max(result.image.shape_kji[1:]) < 400 else 1)
        paths.append(save_png(picture, folder / "overlays" / f"{case_id}_slice{k:03d}.png"))
    return paths


def write_outputs(
    result: CrmResult, folder: Path, case_id: str, extra: dict | None = None, reviews: dict[int, str] | None = None
) -> tuple[dict[str, Path], dict]:
    """``boxes.json``, ``slices.csv``, ``overlays/`` and ``report.json`` (verdict, model, timings) in ``folder``.

    :returns: the files written and the report.
    """
    files = write_result_files(result, folder, case_id, reviews)
    return files, write_report(result, folder, case_id, files, extra)


def write_result_files(
    result: CrmResult, folder: Path, case_id: str, reviews: dict[int, str] | None = None
) -> dict[str, Any]:
    """``boxes.json``, ``slices.csv`` and ``overlays/`` in ``folder``: everything but the report.

    :returns: {"boxes": path, "slices": path, "overlays": [paths]}.
    """
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "boxes": write_text_atomic(folder / "boxes.json", json.dumps(boxes_document(result), indent=2)),
        "slices": write_text_atomic(folder / "slices.csv", slices_csv(result, reviews)),
        "overlays": write_overlays(result, folder, case_id),
    }


def write_slice_reviews(folder: Path, reviews: dict[int, str]) -> None:
    """Record a reviewer's decisions ({slice index: "accept" | "reject"}, as the Slicer module keeps them) in a
    CRM result folder: ``boxes.json``'s ``reviews`` and ``slices.csv``'s review column, each replaced atomically
    (the draft report leaves rejected slices out)."""
    import csv
    import io

    from ..reports.case_files import read_json

    document = read_json(folder / "boxes.json")
    document["reviews"] = {str(k): decision for k, decision in sorted(reviews.items()) if decision}
    rows = list(csv.DictReader(io.StringIO((folder / "slices.csv").read_text(encoding="utf-8"))))
    for row in rows:
        row["review"] = reviews.get(int(row["slice_index"]), "")
    columns = list(rows[0]) if rows else ["slice_index", "review"]
    write_text_atomic(folder / "boxes.json", json.dumps(document, indent=2))
    write_text_atomic(folder / "slices.csv", csv_text(rows, columns))


def write_report(
    result: CrmResult, folder: Path, case_id: str, files: dict[str, Any], extra: dict | None = None
) -> dict:
    """``report.json`` (verdict, series geometry, regions, model, timings, file list) from
    :func:`write_result_files`' ``files`` plus ``extra`` (its "files" joined to the list); returns it as written.
    """
    overlays = files["overlays"]
    report = {
        "case_id": case_id,
        "verdict": result.verdict(),
        "series": {
            "source": result.image.metadata.source_path,
            "size_ijk": list(result.image.size_ijk),
            "spacing_mm": list(result.image.spacing_mm),
            "origin_lps": list(result.image.origin_lps),
            "direction_lps": result.image.direction_lps.round(6).tolist(),
            **dicom_identity(result.image),  # the source's UIDs as the run read them, for the report's checks
        },
        "n_boxes": len(result.boxes),
        "regions": [region.to_dict() for region in result.regions],
        "model": result.provenance,
        "seconds_per_stage": result.seconds_per_stage,
        "seconds_per_slice": round(result.seconds_per_slice, 4),
        "note": demo_result_note(result.provenance),
        "files": sorted(["boxes.json", "slices.csv", "report.json"] + [f"overlays/{p.name}" for p in overlays])
        + list((extra or {}).get("files", [])),
        **{key: value for key, value in (extra or {}).items() if key != "files"},
    }
    text = json.dumps(report, indent=2, default=float)
    files["report"] = write_text_atomic(folder / "report.json", text)
    return json.loads(text)  # the report exactly as written (numpy numbers become JSON numbers)
