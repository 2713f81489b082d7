"""DICOM exports of a case's report: SR (TID 1500 measurement report) and SEG of its label maps, through highdicom.

    written = export_case_dicom(record, Path("dicom_out"), source_dicom="path/to/series")

Every check (source UIDs unchanged since the run, label maps on the source grid, label values known) runs and
every dataset is built in memory before the first file is written; files are written atomically.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .source import SourceSeries, load_source_series, nifti_message

__all__ = ["SourceSeries", "build_case_datasets", "export_case_dicom", "load_source_series"]


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


def build_case_datasets(record, source_dicom: str | Path | None = None, observer: str = "") -> dict[str, object]:
    """{file name: highdicom dataset}: the SR, and one SEG per label map of the case that lies on a source series."""
    from ..image_io import read_image
    from .seg import build_segmentation
    from .sr import build_measurement_report

    version = record.current
    content = version["content"]
    sources = _load_sources(content["source"], source_dicom)
    stem = f"{content['case_id']}_report_v{version['version']}"
    datasets = {f"{stem}_sr.dcm": build_measurement_report(version, sources, observer)}
    for entry in content.get("label_maps", []):
        series = sources.get(entry["series"])
        if series is None:
            continue
        label_path = record.case_dir / entry["file"]
        label_image = read_image(label_path)
        labels = _label_table(record.case_dir, entry["table"])
        segmentation, _ = build_segmentation(label_image, labels, series, content["model"], entry["file"])
        datasets[f"{content['case_id']}_{entry['series']}_seg.dcm"] = segmentation
    return datasets


def export_case_dicom(record, out_dir: Path, source_dicom: str | Path | None = None, observer: str = "") -> list[Path]:
    """Write the case's SR and SEG files into ``out_dir``; returns their paths. Nothing is written on error."""
    from ..atomic import atomic_path

    datasets = build_case_datasets(record, source_dicom, observer)
    written = []
    for name, dataset in datasets.items():
        with atomic_path(Path(out_dir) / name) as temporary:
            dataset.save_as(temporary, enforce_file_format=True)
        written.append(Path(out_dir) / name)
    return written
