"""Read an assistant's result folder (what `radassist brain|spine|crm|breast-us` wrote) for the report builders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputError

#: the marker's command -> the report's assistant name
ASSISTANTS = {"spine": "spine", "crm": "crm", "brain": "brain", "breast-us": "breast_us", "breast_us": "breast_us"}


def read_json(path: Path) -> Any:
    """A JSON file of the case folder, or InputError naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path} is missing.", "Run the assistant on this case again (its --out folder).") from None
    except (OSError, ValueError) as error:
        raise InputError(f"{path} cannot be read as JSON ({error}).", "Run the assistant on this case again.") from None


def detect_assistant(case_dir: Path) -> str:
    """Which assistant wrote ``case_dir``: from its ``.radassist-result.json`` marker, else from its files."""
    marker = case_dir / ".radassist-result.json"
    if marker.is_file():
        command = str(read_json(marker).get("command", ""))
        if command in ASSISTANTS:
            return ASSISTANTS[command]
    guesses = {"findings.json": "spine", "boxes.json": "crm", "detections.json": "breast_us"}
    for name, assistant in guesses.items():
        if (case_dir / name).is_file():
            return assistant
    if list(case_dir.glob("*_labels.json")):
        return "brain"
    raise InputError(
        f"{case_dir} is not a result folder of a RadAssist assistant (no .radassist-result.json, findings.json, "
        "boxes.json, detections.json or *_labels.json).",
        "Give the --out folder of `radassist brain|spine|crm|breast-us`.",
    )


def series_fingerprint(path: str | Path) -> dict:
    """The DICOM identity of a source series folder: SeriesInstanceUID, number of files and a sha256 over the
    sorted SOPInstanceUIDs. Empty for NIfTI/NRRD/picture inputs and for folders that are gone."""
    from ..image_io import has_dicom_magic, list_dicom_series

    source = Path(path)
    # a source that is gone (or was never a file: an in-memory cine is named "phantom") has no identity; its
    # parent folder ("." for a bare name) must not be searched for some other series instead
    if not source.exists() or (source.is_file() and not has_dicom_magic(source)):
        return {}
    folder = source if source.is_dir() else source.parent
    if source.is_file():  # one DICOM file: an ultrasound cine (multi-frame) or a single picture
        import pydicom

        uid = str(pydicom.dcmread(source, stop_before_pixels=True).SeriesInstanceUID)
        return {"series_instance_uid": uid, "single_file": True, **sop_digest([str(source)])}
    series = [info for info in list_dicom_series(folder) if not info.problem]
    if len(series) != 1:
        return {}
    return {"series_instance_uid": series[0].series_instance_uid, **sop_digest(series[0].files)}


def sop_digest(files: list[str] | tuple[str, ...]) -> dict:
    """{"number_of_files", "sop_instance_uids_sha256"} of DICOM files (UIDs sorted, so file order does not matter)."""
    import pydicom

    from ..dicom_series import sop_uids_digest

    uids = [str(pydicom.dcmread(name, stop_before_pixels=True).SOPInstanceUID) for name in files]
    return {"number_of_files": len(uids), "sop_instance_uids_sha256": sop_uids_digest(uids)}


def source_entry(series: dict) -> dict:
    """A report's record of one source series: path, geometry and (for DICOM) its UIDs as they are now."""
    entry = {key: series.get(key) for key in ("source", "size_ijk", "spacing_mm", "origin_lps", "direction_lps")}
    entry["path"] = entry.pop("source")
    if entry["path"]:
        entry.update(series_fingerprint(entry["path"]))
    # UIDs the run itself recorded (when a pipeline writes them) win over those read now, at draft time
    entry.update({key: series[key] for key in ("series_instance_uid", "sop_instance_uids_sha256") if series.get(key)})
    return entry
