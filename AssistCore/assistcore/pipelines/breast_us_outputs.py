"""BreastUSAssist outputs: ``detections.json``, ``report.json`` and overlay pictures of each reported lesion's
best frame, written atomically into a case folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_text_atomic
from ..models.card import demo_result_note
from .breast_us_result import BreastUsResult


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
