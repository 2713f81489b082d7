"""DICOM exports of a case's report: SR (TID 1500 measurement report) and SEG of its label maps, through highdicom.

    written = export_case_dicom(record, Path("dicom_out"), source_dicom="path/to/series")

Every check (source UIDs unchanged since the run, label maps on the source grid, label values known) runs and
every dataset is built in memory before the first file is written; files are written atomically.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..reports.record import ReportRecord
from .source import SourceSeries, load_source_series, nifti_message

__all__ = ["SourceSeries", "build_case_datasets", "export_case_dicom", "load_source_series", "prepared_case_dicom"]


def derive_sources(sources: dict, case_id: str, staging: Path) -> dict[str, SourceSeries]:
    """Write every NIfTI/NRRD source of the report as a derived DICOM series under ``staging/<case>_<name>_source``
    (k reversed for a left-handed grid, which DICOM slices cannot keep) and load it."""
    from ..image_io import read_image
    from .derived import write_derived_series
    from .seg import reversed_k
    from .source import check_grid

    loaded = {}
    for name, entry in sources.items():
        if entry.get("series_instance_uid") or not entry.get("path"):
            continue
        image = read_image(entry["path"])
        check_grid(image, entry, f"Source {entry['path']}")
        left_handed = float(np.linalg.det(np.asarray(image.direction_lps))) < 0
        stored = reversed_k(image) if left_handed else image
        folder = staging / f"{case_id}_{name}_source"
        write_derived_series(stored, folder, case_id, f"RadAssist derived {name} from {Path(entry['path']).name}")
        series = load_source_series(name, {}, folder)
        series.reversed_k = left_handed
        loaded[name] = series
    if not loaded:
        raise InputError("--derive-source: every series of this case is already DICOM; nothing to derive.")
    return loaded


def _load_sources(sources: dict, source_dicom: str | Path | None) -> dict[str, SourceSeries]:
    dicom_names = [name for name, entry in sources.items() if entry.get("series_instance_uid")]
    if source_dicom is not None:
        if len(sources) > 1 and len(dicom_names) != 1:
            names = ", ".join(sources)
            raise InputError(f"This case has several series ({names}): --source-dicom cannot say which one it is.")
        name = dicom_names[0] if dicom_names else next(iter(sources))
        return {name: load_source_series(name, sources[name], source_dicom)}
    if not dicom_names:
        name, entry = next(iter(sources.items()))
        raise InputError(
            nifti_message(name, str(entry.get("path"))),
            "Give --source-dicom DIR (the DICOM series it was converted from, on the same grid).",
        )
    return {name: load_source_series(name, sources[name]) for name in dicom_names}


def _label_table(case_dir: Path, table: str):
    from ..labels import load_label_table
    from ..reports.case_files import read_json

    path = case_dir / table
    if path.is_file():
        document = read_json(path)
        return load_label_table(document["labels"] if isinstance(document, dict) else document)
    return load_label_table(table)


def build_case_datasets(
    record: ReportRecord, source_dicom: str | Path | None = None, observer: str = "", derived_into: Path | None = None
) -> dict[str, object]:
    """{file name: highdicom dataset}: the SR, and one SEG per label map of the case that lies on a source series.

    :param derived_into: write NIfTI/NRRD sources as derived DICOM series into this folder and reference those.
    """
    from ..image_io import read_image
    from .seg import build_segmentation
    from .sr import build_measurement_report

    version = record.current
    content = version["content"]
    if derived_into is not None:
        sources = derive_sources(content["source"], content["case_id"], derived_into)
    else:
        sources = _load_sources(content["source"], source_dicom)
    datasets, segments = {}, []
    for entry in content.get("label_maps", []):
        series = sources.get(entry["series"])
        if series is None:
            continue
        label_image = read_image(record.case_dir / entry["file"])
        labels = _label_table(record.case_dir, entry["table"])
        segmentation, numbers = build_segmentation(label_image, labels, series, content["model"], entry["file"])
        datasets[f"{content['case_id']}_{entry['series']}_seg.dcm"] = segmentation
        segments += segment_volumes(segmentation, numbers, label_image, labels)
    stem = f"{content['case_id']}_report_v{version['version']}"
    return {f"{stem}_sr.dcm": build_measurement_report(version, sources, observer, segments), **datasets}


def segment_volumes(segmentation, numbers: dict[int, int], label_image, labels) -> list[dict]:
    """[{"segmentation", "segment_number", "label", "volume_ml"}] for the SR's volumetric ROI groups: each
    segment's volume from its voxel count and the voxel size (mm^3 -> mL)."""
    counts = np.bincount(np.asarray(label_image.array_kji).astype(np.int64).ravel())
    voxel_ml = float(np.prod(label_image.spacing_mm)) / 1000.0
    by_value = {label.value: label for label in labels}
    return [
        {
            "segmentation": segmentation,
            "segment_number": number,
            "label": by_value[value],
            "volume_ml": round(float(counts[value]) * voxel_ml, 4),
        }
        for number, value in numbers.items()
    ]


@contextlib.contextmanager
def prepared_case_dicom(
    record: ReportRecord, source_dicom: str | Path | None = None, observer: str = "", derive_source: bool = False
) -> Iterator[Callable[[Path], list[Path]]]:
    """Check and build the case's SR and SEG (and derived source series) in memory and in a private staging
    folder; yields ``write(out_dir) -> paths``. A caller can thus refuse everything (its own files too) before
    the first file is written, and write once all checks passed."""
    from ..atomic import atomic_directory, atomic_path

    with tempfile.TemporaryDirectory(prefix=".radassist-derived-") as staging:
        datasets = build_case_datasets(record, source_dicom, observer, Path(staging) if derive_source else None)

        def write(out_dir: Path) -> list[Path]:
            written = []
            for folder in sorted(Path(staging).iterdir()):
                with atomic_directory(Path(out_dir) / folder.name) as temporary:
                    for file in sorted(folder.iterdir()):
                        shutil.copy2(file, temporary / file.name)
                written.append(Path(out_dir) / folder.name)
            for name, dataset in datasets.items():
                with atomic_path(Path(out_dir) / name) as temporary:
                    dataset.save_as(temporary, enforce_file_format=True)
                written.append(Path(out_dir) / name)
            return written

        yield write


def export_case_dicom(
    record: ReportRecord,
    out_dir: Path,
    source_dicom: str | Path | None = None,
    observer: str = "",
    derive_source: bool = False,
) -> list[Path]:
    """Write the case's SR and SEG files into ``out_dir``; returns their paths. Nothing is written on error.

    :param derive_source: for a case run on NIfTI/NRRD, first write the source as a derived DICOM series
        (``<case>_<series>_source/`` in ``out_dir``) and reference it.
    """
    with prepared_case_dicom(record, source_dicom, observer, derive_source) as write:
        return write(out_dir)
