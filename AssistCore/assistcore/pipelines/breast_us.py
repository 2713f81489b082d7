"""BreastUSAssist pipeline: an ultrasound cine in, lesion boxes per frame and lesions fused across frames out.

Following the breast cine study: every frame goes through the lesion detector (single-frame output), then the
boxes of all frames of the sweep are grouped by IoU (decision-level fusion: two boxes on any two frames join
when their IoU reaches ``iou_fuse``; a group is one detection of the sequence) with its frame range, best
frame and fused score (the group's highest box score). Both outputs are kept.

Boxes are (x0, y0, x1, y1) pixel edges of the frame (x right, y down); with a known pixel spacing they are
also given in mm. ``run`` is what the Slicer module calls (cine already read); the command line adds reading
and the output folder (:mod:`radassist.breast_us_app`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_text_atomic
from ..breastus.cine import Cine
from ..breastus.descriptors import LesionDescriptors
from ..detection import FrameBoxes, LinkedRegion, link_boxes
from ..errors import InputError
from ..models.card import demo_result_note
from ..models.runner import CancelToken, ProgressReporter

STAGES = (("load", 1.0), ("detect", 8.0), ("fuse", 0.2))
#: operating threshold when the model card names none
DEFAULT_THRESHOLD = 0.5
#: boxes below this are dropped before anything is reported or fused (the slider in Slicer starts here)
REPORT_FLOOR = 0.05
MALIGNANCY_NOTE = "descriptor aid from the box's appearance; not a diagnosis"
#: boxes on any two frames of a sweep overlapping at least this much are one lesion (the study's preset IoU)
FUSE_IOU = 0.3
#: the detector's input scale when the card gives none: the frame's shorter side resized to this many pixels
DEFAULT_SHORTER_SIDE = 256


@dataclass
class FusedDetection:
    """One lesion of the sweep: a group of frame boxes linked by IoU (``region``), in frame pixels."""

    region: LinkedRegion
    best_box_xy: tuple[float, float, float, float]
    #: 0..1 from :mod:`assistcore.breastus.malignancy` when the model has one: a descriptor aid, not a diagnosis
    malignancy_score: float | None = None

    @property
    def detection_id(self) -> int:
        return self.region.region_id

    @property
    def fused_score(self) -> float:
        return self.region.peak_score

    def to_dict(self, pixel_spacing_mm: tuple[float, float] | None, threshold: float) -> dict:
        x0, y0, x1, y1 = self.best_box_xy
        size_mm = None
        if pixel_spacing_mm is not None:
            size_mm = [round((x1 - x0) * pixel_spacing_mm[1], 2), round((y1 - y0) * pixel_spacing_mm[0], 2)]
        return {
            "detection_id": self.detection_id,
            "first_frame": self.region.first_index,
            "last_frame": self.region.last_index,
            "best_frame": self.region.peak_index,
            "best_box_xy": [round(float(v), 2) for v in self.best_box_xy],
            "union_box_xy": [round(float(v), 2) for v in self.region.union_box],
            "fused_score": round(self.fused_score, 4),
            "mean_score": round(self.region.mean_score, 4),
            "n_frames": self.region.n_frames,
            "n_boxes": len(self.region.members),
            "size_mm": size_mm,
            "above_threshold": self.fused_score >= threshold,
            **(
                {"malignancy_score": round(self.malignancy_score, 4), "malignancy_note": MALIGNANCY_NOTE}
                if self.malignancy_score is not None
                else {}
            ),
        }


@dataclass
class BreastUsResult:
    """Everything one run found on one cine: per-frame boxes (at or above :data:`REPORT_FLOOR`) and fused
    detections, highest fused score first."""

    cine: Cine
    frames: list[FrameBoxes]
    fused: list[FusedDetection]
    threshold: float
    iou_fuse: float
    provenance: dict
    seconds_per_stage: dict[str, float] = field(default_factory=dict)
    seconds_per_frame: float = 0.0
    descriptors: list[LesionDescriptors] = field(default_factory=list)
    reviews: dict[int, str] = field(default_factory=dict)
    #: {"fraction_of_frame", "boxes_outside_dropped", "used"}: the imaging area boxes were kept in
    imaging_area: dict = field(default_factory=dict)

    def detection_of(self) -> dict[tuple[int, int], int]:
        """(frame index, box row) -> fused detection id."""
        return {member: item.detection_id for item in self.fused for member in item.region.members}

    def summary(self, threshold: float | None = None) -> dict:
        """Counts at ``threshold`` (default: the run's) and a one-line text for people."""
        threshold = self.threshold if threshold is None else threshold
        kept = [item for item in self.fused if item.fused_score >= threshold]
        frames_with_box = sorted({f.index for f in self.frames if len(f.scores) and f.scores.max() >= threshold})
        best = max((item.fused_score for item in self.fused), default=0.0)
        text = (
            f"{len(kept)} lesion(s) at or above {threshold:.2f} across {len(frames_with_box)} of "
            f"{len(self.frames)} frame(s) read (highest fused score {best:.2f})."
            if kept
            else f"No lesion reaches {threshold:.2f} (highest fused score {best:.2f})."
        )
        return {
            "threshold": threshold,
            "lesions_at_threshold": len(kept),
            "detections_reported": len(self.fused),
            "frame_boxes_reported": int(sum(len(f.scores) for f in self.frames)),
            "frames_with_box_at_threshold": frames_with_box,
            "max_fused_score": round(best, 4),
            "text": text,
        }

    def document(self) -> dict:
        """``detections.json``: the cine, per-frame boxes, fused detections, descriptors and reviews."""
        detection_of = self.detection_of()
        spacing = self.cine.pixel_spacing_mm
        return {
            "cine": {
                "source": self.cine.source_path,
                "kind": self.cine.kind,
                "n_frames": self.cine.n_frames,
                "shape_hw": list(self.cine.shape_hw),
                "frame_time_ms": self.cine.frame_time_ms,
                "pixel_spacing_mm": None if spacing is None else [float(v) for v in spacing],
                "imaging_area": self.imaging_area,
            },
            "threshold": self.threshold,
            "iou_fuse": self.iou_fuse,
            "model": self.provenance,
            "coordinate_notes": "box_xy: pixel-edge coordinates (x0, y0, x1, y1) on the frame, x to the right, y "
            "down (pixel (x, y) spans x..x+1); size_mm: width and height with the cine's pixel spacing (null when "
            "the file has none); detection_id 0: a box in no fused detection",
            "frames": [
                {
                    "frame_index": frame.index,
                    "boxes": [
                        {
                            "box_xy": [round(float(v), 2) for v in box],
                            "score": round(float(score), 4),
                            "detection_id": detection_of.get((frame.index, row), 0),
                        }
                        for row, (box, score) in enumerate(zip(frame.boxes, frame.scores))
                    ],
                }
                for frame in self.frames
            ],
            "fused": [item.to_dict(spacing, self.threshold) for item in self.fused],
            "descriptors": [record.to_dict() for record in self.descriptors],
            "reviews": {str(key): value for key, value in sorted(self.reviews.items())},
        }


def check_cine_frames(cine: Cine) -> None:
    """Refuse frames the detector cannot read: not (T, H, W), tiny, or not finite."""
    frames = cine.frames
    if frames.ndim != 3 or frames.shape[0] < 1:
        raise InputError(f"{cine.source_path}: frames have shape {frames.shape}, not (frames, rows, columns).")
    if min(frames.shape[1:]) < 32:
        raise InputError(
            f"{cine.source_path}: frames of {frames.shape[2]} x {frames.shape[1]} pixels are too small to read.",
            "Give the ultrasound frames at their stored size.",
        )
    if not np.isfinite(frames).all():
        raise InputError(f"{cine.source_path}: frames hold NaN or infinite values.", "Re-export the cine.")


def _card_and_network(model_id: str | None, device: str):
    from ..models.device import select_device
    from ..models.loader import load_network
    from ..models.registry import ModelRegistry

    registry = ModelRegistry()
    entry = registry.get(model_id) if model_id else registry.default_for("breast_us")
    choice = select_device(device)
    return entry.card, load_network(entry.card, choice.device), choice


def card_threshold(card) -> float:
    """The card's operating threshold for a lesion, else :data:`DEFAULT_THRESHOLD`."""
    try:
        return card.threshold("lesion")
    except Exception:  # a card without an operating point
        return DEFAULT_THRESHOLD


def card_fuse_iou(card) -> float:
    """The fusion IoU the model was validated with (its card's ``fuse_frames`` step), else :data:`FUSE_IOU`."""
    steps = {step.get("step"): step for step in card.data.get("postprocessing", [])}
    return float(steps.get("fuse_frames", {}).get("iou", FUSE_IOU))


def card_shorter_side(card) -> int:
    """The frame size the detector was trained at (its card's ``inference.shorter_side``)."""
    return int(card.data.get("inference", {}).get("shorter_side", DEFAULT_SHORTER_SIDE))


def reported_frame_boxes(
    found: list[tuple[np.ndarray, np.ndarray, float]], indices: list[int], area_mask_hw: np.ndarray | None
) -> tuple[list[FrameBoxes], int]:
    """The detector's (boxes, scores, seconds) per frame as FrameBoxes of the boxes worth reporting: scoring
    at least :data:`REPORT_FLOOR` and, with an imaging-area mask, at least half inside it. Also returns how
    many boxes above the floor lay outside the imaging area."""
    from ..breastus.imaging_area import MIN_INSIDE_FRACTION, inside_fractions, summed_area_table

    frames, outside = [], 0
    integral = None if area_mask_hw is None else summed_area_table(area_mask_hw)
    for t, (boxes, scores, _seconds) in zip(indices, found):
        keep = scores >= REPORT_FLOOR
        if area_mask_hw is not None and keep.any():
            inside = inside_fractions(boxes, area_mask_hw, integral) >= MIN_INSIDE_FRACTION
            outside += int((keep & ~inside).sum())
            keep &= inside
        frames.append(FrameBoxes(t, boxes[keep].astype(np.float64), scores[keep].astype(np.float64)))
    return frames, outside


def fuse_frames(frames: list[FrameBoxes], iou_fuse: float) -> list[FusedDetection]:
    """Decision-level fusion: boxes of any two frames with IoU >= ``iou_fuse`` are one detection."""
    regions = link_boxes(frames, iou_fuse, max_gap=None)
    by_index = {frame.index: frame for frame in frames}
    return [
        FusedDetection(region, tuple(float(v) for v in by_index[region.peak_index].boxes[region.peak_row]))
        for region in regions
    ]


def _score_malignancy(card, cine: Cine, fused: list[FusedDetection]) -> None:
    """Each fused lesion's malignancy score on its best frame, when the model folder has ``malignancy.json``."""
    from ..breastus.malignancy import box_features, malignancy_score, read_malignancy_model

    model = read_malignancy_model(card.folder) if getattr(card, "folder", None) else None
    if model is None:
        return
    for item in fused:
        frame = np.asarray(cine.frames[item.region.peak_index], np.float32)
        item.malignancy_score = float(malignancy_score(model, box_features(frame, item.best_box_xy))[0])


def run(
    cine: Cine,
    options: dict[str, Any] | None = None,
    progress: Callable | None = None,
    cancel_token: CancelToken | None = None,
) -> BreastUsResult:
    """Detect lesions on every frame of ``cine`` and fuse them across frames.

    Options: ``threshold`` (default the model's operating point), ``iou_fuse`` (default the model's, 0.3), ``model_id``,
    ``device`` (auto), ``frames`` (an inclusive (first, last) frame range; default all), ``imaging_area``
    (True: boxes mostly outside the image's sector or rectangle, on black background or labels, are dropped;
    :mod:`assistcore.breastus.imaging_area`).
    """
    from ..detectors.network import detect_pictures

    options = dict(options or {})
    cancel_token = cancel_token or CancelToken()
    report = ProgressReporter(STAGES, progress)
    check_cine_frames(cine)
    iou_fuse = None if options.get("iou_fuse") is None else float(options["iou_fuse"])
    if iou_fuse is not None and not 0.0 < iou_fuse <= 1.0:
        raise InputError(f"Fusion IoU {iou_fuse} is outside (0, 1].", "Give --iou-fuse between 0 and 1, e.g. 0.3.")
    first, last = options.get("frames") or (0, cine.n_frames - 1)
    if not 0 <= first <= last < cine.n_frames:
        raise InputError(
            f"Frame range {first}..{last} is outside the cine (0..{cine.n_frames - 1}).", "Give frames within it."
        )
    timings: dict[str, float] = {}
    started = time.perf_counter()
    report("load", 0.0, "loading model")
    card, network, device_choice = _card_and_network(options.get("model_id"), options.get("device", "auto"))
    timings["load_model"] = time.perf_counter() - started
    threshold = float(options["threshold"]) if options.get("threshold") is not None else card_threshold(card)
    iou_fuse = card_fuse_iou(card) if iou_fuse is None else iou_fuse
    cancel_token.raise_if_cancelled()

    started = time.perf_counter()
    report("detect", 0.0, f"detector on {device_choice.device}")
    indices = list(range(first, last + 1))
    found = detect_pictures(
        network,
        [np.ascontiguousarray(cine.frames[t], dtype=np.float32) for t in indices],
        device_choice.device,
        cancel_check=cancel_token.raise_if_cancelled,
        progress=lambda fraction, message: report("detect", fraction, message),
        shorter_side=card_shorter_side(card),
    )
    timings["detect"] = time.perf_counter() - started

    started = time.perf_counter()
    report("fuse", 0.0, "fusing boxes across frames")
    area_mask = None
    if options.get("imaging_area", True):
        from ..breastus.imaging_area import imaging_area_mask

        area_mask = imaging_area_mask(cine.frames, cine.region_xy)
    frames, outside = reported_frame_boxes(found, indices, area_mask)
    fused = fuse_frames(frames, iou_fuse)
    _score_malignancy(card, cine, fused)
    timings["fuse"] = time.perf_counter() - started
    provenance = {
        **card.provenance(device_choice),
        "backbone": card.data.get("training", {}).get("backbone", ""),
        "parameters": {
            "threshold": threshold,
            "iou_fuse": iou_fuse,
            "frames": [first, last],
            "shorter_side": card_shorter_side(card),
        },
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    report("fuse", 1.0, "done")
    per_frame = float(np.mean([seconds for _b, _s, seconds in found])) if found else 0.0
    area = {
        "fraction_of_frame": round(float(area_mask.mean()), 4) if area_mask is not None else 1.0,
        "boxes_outside_dropped": outside,
        "used": area_mask is not None,
    }
    return BreastUsResult(
        cine,
        frames,
        fused,
        threshold,
        iou_fuse,
        provenance,
        {k: round(v, 3) for k, v in timings.items()},
        per_frame,
        imaging_area=area,
    )


# ----- outputs ------------------------------------------------------------------------------------------
def render_frame(
    frame_hw: np.ndarray, boxes: list[tuple[tuple[float, float, float, float], str, tuple]], upscale: int = 1
):
    """A grey 0..1 frame as an RGB PIL picture with (box_xy, caption, colour) rectangles drawn on it."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    grey = (np.clip(frame_hw, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    picture = PILImage.fromarray(np.repeat(grey[..., None], 3, axis=2))
    if upscale > 1:
        picture = picture.resize((picture.width * upscale, picture.height * upscale), PILImage.NEAREST)
    draw = ImageDraw.Draw(picture)
    for (x0, y0, x1, y1), caption, colour in boxes:
        # PIL's rectangle includes its far corner; boxes end at pixel edges (pixel x spans x..x+1)
        corners = [x0 * upscale, y0 * upscale, max(x0 * upscale, x1 * upscale - 1), max(y0 * upscale, y1 * upscale - 1)]
        draw.rectangle(corners, outline=colour, width=max(1, upscale))
        if caption:
            draw.text((x0 * upscale + 2, max(0, y0 * upscale - 12)), caption, fill=colour)
    return picture


def write_overlays(result: BreastUsResult, folder: Path, case_id: str) -> list[Path]:
    """PNGs of each reported lesion's best frame (lesions at threshold; else the highest one), boxes drawn."""
    from ..pictures import save_png

    chosen = [item for item in result.fused if item.fused_score >= result.threshold] or result.fused[:1]
    paths = []
    upscale = 2 if max(result.cine.shape_hw) < 400 else 1
    for item in chosen:
        frame_index = item.region.peak_index
        frame = next(f for f in result.frames if f.index == frame_index)
        drawn = []
        for row, (box, score) in enumerate(zip(frame.boxes, frame.scores)):
            mine = row == item.region.peak_row
            colour = (255, 64, 64) if score >= result.threshold else (255, 200, 0)
            caption = f"#{item.detection_id} {score:.2f}" if mine else f"{score:.2f}"
            drawn.append((tuple(box), caption, colour if mine else (120, 180, 255)))
        picture = render_frame(result.cine.frames[frame_index], drawn, upscale)
        name = f"{case_id}_lesion{item.detection_id:02d}_frame{frame_index:03d}.png"
        paths.append(save_png(picture, folder / "overlays" / name))
    return paths


def write_result_files(result: BreastUsResult, folder: Path, case_id: str) -> dict[str, Any]:
    """``detections.json`` and ``overlays/`` in ``folder``: everything but the report."""
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "detections": write_text_atomic(
            folder / "detections.json", json.dumps(result.document(), indent=2, default=float)
        ),
        "overlays": write_overlays(result, folder, case_id),
    }


def write_report(
    result: BreastUsResult, folder: Path, case_id: str, files: dict[str, Any], extra: dict | None = None
) -> dict:
    """``report.json`` (counts, cine, model, timings, file list) from :func:`write_result_files`' ``files``
    plus ``extra`` (its "files" joined to the list); returns it as written."""
    report = {
        "case_id": case_id,
        "summary": result.summary(),
        "cine": result.document()["cine"],
        "warnings": list(result.cine.warnings),
        "fused": [item.to_dict(result.cine.pixel_spacing_mm, result.threshold) for item in result.fused],
        "model": result.provenance,
        "seconds_per_stage": result.seconds_per_stage,
        "seconds_per_frame": round(result.seconds_per_frame, 4),
        "note": demo_result_note(result.provenance),
        "files": sorted(["detections.json", "report.json"] + [f"overlays/{p.name}" for p in files["overlays"]])
        + list((extra or {}).get("files", [])),
        **{key: value for key, value in (extra or {}).items() if key != "files"},
    }
    text = json.dumps(report, indent=2, default=float)
    files["report"] = write_text_atomic(folder / "report.json", text)
    return json.loads(text)
