"""What one BreastUSAssist run found on a cine: lesions fused across frames (:class:`FusedDetection`) and the
run's result (:class:`BreastUsResult`) with its summary and ``detections.json`` document. Boxes are (x0, y0,
x1, y1) pixel edges of the frame (x right, y down)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..breastus.cine import Cine
from ..breastus.descriptors import LesionDescriptors
from ..detection import FrameBoxes, LinkedRegion

MALIGNANCY_NOTE = "descriptor aid from the box's appearance; not a diagnosis"


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
                **cine_dicom_identity(self.cine),  # the file's UIDs as the run read them, for the report's checks
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


def cine_dicom_identity(cine: Cine) -> dict[str, str]:
    """``{"series_instance_uid", "sop_instance_uids_sha256"}`` of a one-file DICOM cine as read (the sha256 of its
    SOPInstanceUID, :func:`assistcore.dicom_series.sop_uids_digest`); empty for other inputs."""
    from ..dicom_series import sop_uids_digest

    series_uid, sop_uid = cine.metadata.get("series_uid", ""), cine.metadata.get("sop_uid", "")
    if cine.kind != "dicom" or not series_uid or not sop_uid:
        return {}
    return {"series_instance_uid": series_uid, "sop_instance_uids_sha256": sop_uids_digest([sop_uid])}
