"""What differs between the assistants inside the Station: a case's inputs, the run, the result on screen, the save.

A case folder is a BrainTumorLabel case when its NIfTI files match the sequence roles (T1, T1c, T2, FLAIR);
any other assistant is named by a ``radassist-case.json`` in the folder, with paths relative to it
(files or DICOM series folders)::

    {"assistant": "crm", "inputs": {"t2": "t2_axial"}}
    {"assistant": "spine", "inputs": {"sag_t2": "sag_t2.nii.gz", "ax_t2": ["ax_t2.nii.gz"]}}

The runs call the same pipelines as ``radassist brain / crm / spine``; the saves write what those commands
write (for CRM and spine: the results folder without the scene bundle).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from assistcore.errors import InputError

CASE_FILE = "radassist-case.json"
TITLES = {"brain": "BrainTumorLabel", "crm": "CRMAssist", "spine": "SpineAssist"}
#: the roles each assistant reads, in display order; a list-valued role holds several series
ROLES = {"brain": ("flair", "t1c", "t2", "t1"), "crm": ("t2",), "spine": ("sag_t2", "sag_t1", "ax_t2")}
REQUIRED = {"brain": ("t1c", "flair"), "crm": ("t2",), "spine": ("sag_t2",)}


def case_inputs(folder: str | os.PathLike[str]) -> tuple[str, dict[str, Any]]:
    """(assistant kind, role -> path or list of paths) of a case folder.

    :raises InputError: unreadable case file, unknown assistant, missing or absent inputs.
    """
    folder = Path(folder)
    marker = folder / CASE_FILE
    if not marker.is_file():
        from assistcore.brain.inputs import match_files_in_folder

        return "brain", dict(match_files_in_folder(folder))
    try:
        spec = json.loads(marker.read_text(encoding="utf-8"))
        kind = spec.get("assistant", "brain")
        given = spec.get("inputs", {})
    except (OSError, ValueError, AttributeError) as error:
        raise InputError(
            f"{marker} is not a JSON object.", 'Write e.g. {"assistant": "crm", "inputs": {"t2": "t2"}}.'
        ) from error
    if kind not in TITLES:
        raise InputError(f"{marker} names assistant {kind!r}.", f"Use one of: {', '.join(TITLES)}.")
    if kind == "brain" and not given:
        from assistcore.brain.inputs import match_files_in_folder

        return kind, dict(match_files_in_folder(folder))
    inputs: dict[str, Any] = {}
    for role, value in given.items():
        if role not in ROLES[kind]:
            raise InputError(f"{marker}: {kind} has no input {role!r}.", f"Its inputs: {', '.join(ROLES[kind])}.")
        paths = [folder / item for item in value] if isinstance(value, list) else [folder / value]
        for path in paths:
            if not path.exists():
                raise InputError(f"{marker}: {role} input {path} does not exist.")
        inputs[role] = paths if isinstance(value, list) else paths[0]
    missing = [role for role in REQUIRED[kind] if role not in inputs]
    if missing:
        raise InputError(f"{marker}: {TITLES[kind]} needs {', '.join(missing)}.")
    return kind, inputs


def display_images(inputs: dict[str, Any]) -> dict[str, Path]:
    """Volume name -> file for everything the case shows: list-valued roles become ``ax_t2``, ``ax_t2_2``, ..."""
    named: dict[str, Path] = {}
    for role, value in inputs.items():
        if isinstance(value, list):
            for index, path in enumerate(value):
                named[role if index == 0 else f"{role}_{index + 1}"] = Path(path)
        else:
            named[role] = Path(value)
    return named


def reference_role(kind: str, names: list[str]) -> str:
    return next(role for role in (*ROLES[kind], *names) if role in names)


def compute_case(
    kind: str, inputs: dict[str, Any], case_id: str, options: dict | None, progress=None, cancel_token=None
):
    """Run one assistant on the case's files, as its command does (no MRML; any process)."""
    from assistcore.image_io import read_image

    options = {"device": "auto", **(options or {})}
    if kind == "brain":
        from assistcore.brain.inputs import load_case
        from assistcore.brain.model import REQUIRED as BRAIN_REQUIRED
        from assistcore.pipelines.brain_tumor import run

        case = load_case(inputs, required_roles=BRAIN_REQUIRED, case_id=case_id)
        return run(case.images, options, progress=progress, cancel_token=cancel_token)
    if kind == "crm":
        from assistcore.pipelines.crm import run

        image = read_image(inputs["t2"], as_scan=True)
        return run({"t2": image}, options, progress=progress, cancel_token=cancel_token)
    from assistcore.pipelines.spine import run

    images: dict[str, Any] = {"sag_t2": read_image(inputs["sag_t2"], as_scan=True)}
    if inputs.get("sag_t1"):
        images["sag_t1"] = read_image(inputs["sag_t1"], as_scan=True)
    images["ax_t2"] = [read_image(path, as_scan=True) for path in inputs.get("ax_t2", [])]
    return run(images, options, progress=progress, cancel_token=cancel_token)


#: the model registry's task of each assistant
MODEL_TASKS = {"brain": "brain_tumor", "crm": "crm", "spine": "spine"}


def default_model(kind: str) -> dict:
    """The model a run of ``kind`` will use (the registry's default): name and whether it is a phantom demo."""
    from assistcore.models.registry import ModelRegistry

    card = ModelRegistry().default_for(MODEL_TASKS[kind]).card
    return {"name": card.display_name, "synthetic_demo_model": bool(card.is_synthetic_demo)}


def warm_up(kind: str) -> None:
    """Import torch and load the assistant's default model."""
    if kind == "brain":
        from assistcore.pipelines.brain_tumor import _card_and_network

        _card_and_network(None, "auto")
    elif kind == "crm":
        from assistcore.pipelines.crm import _card_and_network

        _card_and_network(None, "auto")
    else:
        from assistcore.pipelines.spine import _load_model

        _load_model(None, "auto")


def result_summary(kind: str, result) -> dict:
    """What the case panel shows about a result: plain JSON-able values."""
    model = {
        "model_id": result.provenance.get("model_id", ""),
        "synthetic_demo_model": bool(result.provenance.get("synthetic_demo_model")),
        "seconds_per_stage": dict(result.seconds_per_stage),
    }
    if kind == "brain":
        qa = result.qa  # already a dict (QaReport.to_dict)
        whole_ml = qa["region_volumes_ml"].get("whole_tumor", 0.0)
        return {
            **model,
            "uncertainty": round(float(result.uncertainty), 4),
            "lesions": qa["lesions"],
            "region_volumes_ml": qa["region_volumes_ml"],
            "qa": qa,
            "headline": f"{len(qa['lesions'])} lesion(s), whole tumour {whole_ml:.1f} ml",
        }
    if kind == "crm":
        verdict = result.verdict()
        rows = [row for row in result.slice_rows() if row["max_probability"] > 0]
        return {**model, "verdict": verdict, "slices": rows, "headline": verdict["text"]}
    from assistcore.pipelines.spine import findings_rows

    rows = findings_rows(result)
    levels = [v.name for v in result.vertebrae] + [d.name for d in result.discs]
    return {
        **model,
        "findings": [_findings_columns(row) for row in rows],
        "levels": levels,
        "warnings": list(result.warnings),
        "headline": f"{len(result.vertebrae)} vertebrae and {len(result.discs)} discs labelled "
        f"({result.labelling.method}, confidence {result.labelling.confidence:.2f})",
    }


def _findings_columns(row: dict) -> dict:
    """The findings table's columns in the panel (the CSV has them all)."""

    def said(value) -> str:
        return {True: "yes", False: "no", "": "–", None: "–"}.get(value, str(value))

    if row["kind"] == "vertebra":
        text = f"osteophyte: {said(row['osteophyte'])}"
    else:
        text = f"disc: {said(row['disc'])}; listhesis grade {row['listhesis_grade'] or 0}"
        if row.get("pll_thickened") not in ("", None):
            text += f"; PLL thickened: {said(row['pll_thickened'])}; LF thickened: {said(row['lf_thickened'])}"
    return {"level": row["level"], "kind": row["kind"], "findings": text}


def add_result_to_scene(kind: str, scene, logics, result, case_id: str, volume_nodes: dict):
    """Put a result into the scene next to the case's volumes; returns the segmentation node to edit, or None."""
    if kind == "brain":
        from AssistCoreLib.brainTumor import addBrainResultToScene

        reference = volume_nodes[result.provenance["parameters"]["reference_sequence"]]
        segmentation, _ = addBrainResultToScene(scene, logics, result, {}, case_id, referenceNode=reference)
        return segmentation
    if kind == "crm":
        from AssistCoreLib.crm import addCrmResultToScene

        addCrmResultToScene(scene, result, case_id, volumeNode=volume_nodes["t2"])
        return None
    from AssistCoreLib.spine import addSpineResultToScene

    axial = [volume_nodes.get("ax_t2" if index == 0 else f"ax_t2_{index + 1}") for index in range(len(result.axial))]
    nodes = addSpineResultToScene(scene, logics, result, case_id, sagittalNode=volume_nodes["sag_t2"], axialNodes=axial)
    return nodes["segmentation"]


def write_results(kind: str, result, folder: Path, case_id: str) -> Path:
    """CRM / spine: the command line's results folder (without scene.mrb); returns the report's path."""
    if kind == "crm":
        from assistcore.pipelines.crm import write_outputs

        write_outputs(result, folder, case_id)
    else:
        from assistcore.pipelines.spine import write_outputs

        write_outputs(result, folder, case_id)
    return folder / "report.json"


def saved_summary(kind: str, folder: Path) -> dict | None:
    """The panel's summary from a saved CRM or spine results folder (what the reviewer checks), or None."""
    report_path = folder / "report.json"
    if kind == "brain" or not report_path.is_file():
        return None
    report = json.loads(report_path.read_text(encoding="utf-8"))
    model = report.get("model", {})
    base = {
        "model_id": model.get("model_id", ""),
        "synthetic_demo_model": bool(model.get("synthetic_demo_model")),
        "seconds_per_stage": report.get("seconds_per_stage", {}),
        "saved": True,
    }
    if kind == "crm":
        import csv

        with open(folder / "slices.csv", encoding="utf-8", newline="") as handle:
            rows = [
                {**row, "max_probability": float(row["max_probability"]), "slice_index": int(row["slice_index"])}
                for row in csv.DictReader(handle)
            ]
        verdict = report.get("verdict", {})
        return {
            **base,
            "verdict": verdict,
            "slices": [r for r in rows if r["max_probability"] > 0],
            "headline": verdict.get("text", ""),
        }
    findings = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
    return {
        **base,
        "findings": [_findings_columns(row) for row in findings["rows"]],
        "levels": [row["level"] for row in findings["rows"]],
        "warnings": report.get("warnings", []),
        "headline": f"saved levels: {', '.join(row['level'] for row in findings['rows'])}",
    }
