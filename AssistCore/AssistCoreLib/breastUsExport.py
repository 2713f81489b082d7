"""BreastUSAssist results written from the scene: detections.json as edited (reviews, descriptors), detections.csv
and descriptors.csv."""

from __future__ import annotations

import json
from pathlib import Path

from assistcore.breastus.descriptors import LesionDescriptors, descriptor_columns, descriptor_rows
from assistcore.errors import InputError

from .breastUs import exportDocument


def detectionRows(document: dict) -> list[dict]:
    """CSV rows, one per fused detection: frames, best box (pixel edges), scores, size and review."""
    reviews = document.get("reviews") or {}
    rows = []
    for record in document.get("fused") or []:
        x0, y0, x1, y1 = record["best_box_xy"]
        size = record.get("size_mm") or (None, None)
        rows.append(
            {
                "detection_id": record["detection_id"],
                "first_frame": record["first_frame"],
                "last_frame": record["last_frame"],
                "best_frame": record["best_frame"],
                "best_x0": x0,
                "best_y0": y0,
                "best_x1": x1,
                "best_y1": y1,
                "fused_score": record["fused_score"],
                "mean_score": record.get("mean_score"),
                "n_frames": record.get("n_frames"),
                "n_boxes": record.get("n_boxes"),
                "width_mm": size[0],
                "height_mm": size[1],
                "review": reviews.get(str(record["detection_id"]), ""),
            }
        )
    return rows


def exportFiles(nodes: dict, folder) -> dict[str, Path]:
    """Write ``detections.json`` (:func:`exportDocument`), ``detections.csv`` and ``descriptors.csv`` into
    ``folder``, each atomically; returns {"json", "detections", "descriptors"}: paths."""
    from assistcore.atomic import write_csv_atomic, write_text_atomic

    folder = Path(folder)
    if not str(folder) or not folder.is_dir():
        raise InputError(f"Export folder {str(folder)!r} does not exist.", "Choose an existing folder.")
    document = exportDocument(nodes)
    rows = detectionRows(document)
    descriptors = [LesionDescriptors.from_dict(record) for record in document["descriptors"]]
    return {
        "json": write_text_atomic(folder / "detections.json", json.dumps(document, indent=2)),
        "detections": write_csv_atomic(folder / "detections.csv", rows, None if rows else ["detection_id"]),
        "descriptors": write_csv_atomic(folder / "descriptors.csv", descriptor_rows(descriptors), descriptor_columns()),
    }
