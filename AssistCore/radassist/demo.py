"""The demo behind `make demo` / `radassist demo`: every stage of RadAssist on the real sample data.

Each assistant adds a step to :data:`DEMO_STEPS`; a step reads inputs from the sample folder and writes
into the demo's output folder through the shared :class:`DemoContext`. The whole output folder is written
under a temporary name and renamed at the end, so a failed demo leaves no half-written results.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistcore.atomic import atomic_directory

#: Real samples the foundation step reads: (title, path relative to the data folder, series choice).
SAMPLE_IMAGES = (
    ("Pelvis axial T2, oblique DICOM series (ProstateX-0000)", "pelvis_prostatex_dicom/ProstateX-0000", "t2_tse_tra"),
    ("Cervical spine T2, PSR-oriented NIfTI", "spine_sct_cervical/t2/t2.nii.gz", None),
)


@dataclass
class DemoContext:
    """What a demo step gets: where to read and write, the device, progress, and the shared scene."""

    output_dir: Path
    data_dir: Path
    device: str = "auto"
    progress: Callable[[Any], None] | None = None
    scene: Any = None  # an MRML scene when slicer-core is installed, else None
    outputs: list[dict[str, str]] = field(default_factory=list)
    sections: dict[str, Any] = field(default_factory=dict)

    def add_output(self, title: str, path: Path) -> None:
        self.outputs.append({"title": title, "path": str(self.output_dir / path.relative_to(self.output_dir))})

    def report_progress(self, stage: str, fraction: float, message: str) -> None:
        if self.progress is not None:
            from assistcore.models.runner import ProgressEvent

            self.progress(ProgressEvent(stage, fraction, message))


def demo_sample_images(context: DemoContext) -> None:
    """Read real DICOM and NIfTI samples with exact geometry, write NIfTI/NRRD copies and pictures."""
    from assistcore.image_io import read_image, write_image
    from assistcore.pictures import render_slice, save_png

    records = []
    for index, (title, relative_path, series_choice) in enumerate(SAMPLE_IMAGES):
        context.report_progress("images", index / len(SAMPLE_IMAGES), title)
        source = context.data_dir / relative_path
        started = time.perf_counter()
        image = read_image(source, series_description=series_choice)
        read_seconds = time.perf_counter() - started
        stem = f"sample{index + 1}"
        volume_path = write_image(image, context.output_dir / "images" / f"{stem}.nii.gz")
        context.add_output(f"{title} as NIfTI", volume_path)
        picture_path = save_png(
            render_slice(image, image.shape_kji[0] // 2, upscale=2 if max(image.shape_kji) < 200 else 1),
            context.output_dir / "images" / f"{stem}_middle_slice.png",
        )
        context.add_output(f"{title}, middle slice", picture_path)
        if context.scene is not None:
            from AssistCoreLib.volumes import imageToVolumeNode

            imageToVolumeNode(context.scene, image, stem)
        records.append(
            {
                "title": title,
                "source": str(source),
                "series_description": image.metadata.series_description,
                "size_ijk": list(image.size_ijk),
                "spacing_mm": list(image.spacing_mm),
                "origin_lps": list(image.origin_lps),
                "direction_lps": image.direction_lps.round(6).tolist(),
                "read_seconds": round(read_seconds, 3),
            }
        )
    context.sections["sample_images"] = records


#: The steps `radassist demo` runs, in order. Assistants append (title, function) pairs.
DEMO_STEPS: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("sample images", demo_sample_images),
]


def _headless_scene() -> tuple[Any, str]:
    """An MRML scene if slicer-core is installed, else None and the reason."""
    try:
        from AssistCoreLib.headless import createHeadlessScene
    except ImportError as error:
        return None, f"slicer-core is not installed ({error}); install the 'slicer' extra for scene bundles"
    scene, _logics = createHeadlessScene()
    return scene, ""


def run_demo(
    output_dir: Path, data_dir: Path, device: str = "auto", progress: Callable[[Any], None] | None = None
) -> dict:
    """Run every demo step into ``output_dir`` and return the report (also written as report.json)."""
    output_dir = Path(output_dir).resolve()
    with atomic_directory(output_dir) as working_dir:
        scene, scene_note = _headless_scene()
        context = DemoContext(working_dir, Path(data_dir), device=device, progress=progress, scene=scene)
        timings = {}
        for title, step in DEMO_STEPS:
            started = time.perf_counter()
            step(context)
            timings[title] = round(time.perf_counter() - started, 3)
        if scene is not None:
            from AssistCoreLib.scenes import saveSceneBundle

            saveSceneBundle(scene, working_dir / "scene.mrb")
            context.add_output("Slicer scene bundle", working_dir / "scene.mrb")
        report = {
            "output_dir": str(output_dir),
            "outputs": [
                {"title": item["title"], "path": item["path"].replace(str(working_dir), str(output_dir))}
                for item in context.outputs
            ],
            "scene": scene is not None,
            "scene_note": scene_note,
            "seconds_per_step": timings,
            **context.sections,
            "note": "Demo models are trained on synthetic data; results are not for clinical use.",
        }
        (working_dir / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    report["outputs"].append({"title": "Demo report", "path": str(output_dir / "report.json")})
    return report
