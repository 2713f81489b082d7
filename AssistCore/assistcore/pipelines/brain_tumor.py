"""BrainTumorLabel pipeline: four sequences in, tumour labels on the reference grid out, with QA.

``run`` is what the Slicer module and the web app call (images already loaded); ``label_case`` adds file
reading, registration onto the reference grid and writing the outputs, for the command line.
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
from ..brain import model as brain_model
from ..brain.qa import estimate_brain_mask, run_qa
from ..brain.regions import EDEMA, LabelConvention, to_convention
from ..errors import InputError
from ..image import Image
from ..image_io import dicom_identity
from ..models.card import demo_result_note
from ..models.runner import CancelToken, ProgressReporter

STAGES = (("load", 1.0), ("prepare", 1.0), ("infer", 4.0), ("postprocess", 1.0), ("qa", 1.0), ("write", 1.0))


@dataclass
class BrainResult:
    """Labels (k, j, i) on the reference grid (internal values 1 non-enhancing, 2 edema, 3 enhancing)."""

    labels_kji: np.ndarray
    reference: Image
    uncertainty: float
    qa: dict
    provenance: dict
    seconds_per_stage: dict[str, float] = field(default_factory=dict)


def _card_and_network(model_id: str | None, device: str, tumor_type: str = "intra-axial"):
    """The model (the given one, else the default for ``tumor_type``), its network on the chosen device."""
    from ..models.registry import load_card_and_network

    # the glioma model is trained on intra-axial tumours; meningiomas get a model that claims them
    return load_card_and_network("brain_tumor", model_id, device, lambda card: tumor_type in tumour_types(card))


def _label_notes(class_map: list[int] | None) -> list[str]:
    """What the labels cannot tell apart, when the model's class map merges classes into one label."""
    if class_map and class_map.count(1) > 1:  # necrosis and non-enhancing tumour are one class (BraTS 1)
        return ["This model does not separate necrosis from non-enhancing tumour: both are the non-enhancing label."]
    return []


def tumour_types(card) -> list[str]:
    """The tumour types a brain model is for (card ``tumour_types``; older cards: both)."""
    return list(card.data.get("tumour_types", ["intra-axial", "extra-axial"]))


def _step(card, section: str, name: str) -> dict | None:
    """The card's ``section`` (preprocessing, postprocessing) step called ``name``, or None."""
    return next((step for step in card.data.get(section, []) if step.get("step") == name), None)


def _working_spacing_mm(card, fast: bool) -> float:
    """The card's working spacing (ours: 2 mm, fast 3 mm); MONAI bundles work at 1 mm unless they say."""
    for step in card.data.get("preprocessing", []):
        if "spacing_mm" in step:
            return float(step.get("fast_mode_spacing_mm", step["spacing_mm"]) if fast else step["spacing_mm"])
    return brain_model.FAST_SPACING_MM if fast else 1.0


def _activation(card) -> tuple[str, list[str]]:
    """softmax (exclusive classes, background first) or sigmoid (BraTS regions) and the region channel names."""
    for step in card.data.get("postprocessing", []):
        if step.get("step") == "sigmoid_threshold":
            return "sigmoid", list(step.get("channels", []))
    return "softmax", []


def _reference_of(images: dict[str, Image]) -> tuple[str, Image]:
    """The reference sequence's role and image (FLAIR, else T1c); refuses missing required sequences and
    sequences on another grid."""
    missing = [role for role in brain_model.REQUIRED if role not in images]
    if missing:
        raise InputError(f"Missing required sequence(s): {', '.join(missing)}.", "T1c and FLAIR are required.")
    reference_role = "flair" if "flair" in images else "t1c"
    reference = images[reference_role]
    for role, image in images.items():
        if not image.same_grid(reference):
            raise InputError(f"{role} is not on the {reference_role} grid.", "Register and resample it first.")
    return reference_role, reference


def _probability_runs(network, prepared, device: str, card, tta: bool, cancel_check: Callable) -> list[np.ndarray]:
    """The network's class probabilities on the working grid, one (channels, k, j, i) array per TTA run, with
    the card's activation, inference mode and class map."""
    return brain_model.predict_runs(
        network,
        prepared,
        device,
        tta=tta,
        cancel_check=cancel_check,
        activation=_activation(card)[0],
        inference=card.inference,
        class_map=(_step(card, "postprocessing", "class_map") or {}).get("to_internal"),
    )


def _skull_strip_mask(images: dict[str, Image], normalisation: str) -> tuple[np.ndarray | None, str]:
    """The brain mask to strip the skull with, and where it came from: for a model trained on skull-stripped
    images (CaPTk's normalisation) one is estimated; others take the input as it is."""
    if normalisation != "zscore_captk":
        return None, "input already skull-stripped"
    from ..brain.skull import brain_mask_for

    return brain_mask_for(images)


def _missing_channel_warnings(channel_roles: tuple[str, ...], images: dict[str, Image]) -> list[str]:
    """One warning per input channel of the model that the case lacks."""
    return [
        f"{role.upper()} was not given: the model ran with that channel at its normalised mean (0); expect lower "
        "accuracy (README: missing sequences)."
        for role in channel_roles
        if role not in images
    ]


def _labels_on_reference(
    runs: list[np.ndarray],
    probabilities: np.ndarray,
    prepared,
    reference: Image,
    activation: str,
    region_channels: list[str],
    tta: bool,
) -> tuple[np.ndarray, float]:
    """(k, j, i) uint8 labels on the reference grid and the case's uncertainty (TTA disagreement with several
    runs, else the mean entropy); only the box a tumour class could claim is resampled."""
    labels = np.zeros(reference.shape_kji, dtype=np.uint8)
    uncertainty = 0.0
    box = brain_model.tumour_box_on_reference(probabilities, prepared, reference, activation)
    if box is not None:
        in_box = brain_model.probabilities_to_reference(
            probabilities, prepared, reference.crop(box), background_first=activation == "softmax"
        )
        labels[box] = brain_model.labels_from_probabilities(in_box, activation, region_channels)
        uncertainty = (
            brain_model.tta_disagreement(runs, activation, region_channels)
            if tta
            else brain_model.uncertainty_score(in_box, activation)
        )
    return labels, uncertainty


def run(
    images: dict[str, Image],
    options: dict[str, Any] | None = None,
    progress: Callable | None = None,
    cancel_token: CancelToken | None = None,
) -> BrainResult:
    """Label one case whose sequences are already on one grid (the reference: FLAIR, else T1c).

    Options: ``model_id``, ``device`` (auto), ``fast`` (3 mm instead of 2 mm), ``tta`` (8 flips, averaged;
    the uncertainty is then their disagreement, see :func:`~assistcore.brain.model.tta_disagreement`, else the
    mean entropy), ``tumor_type`` (intra-axial | extra-axial).
    """
    options = dict(options or {})
    cancel_token = cancel_token or CancelToken()
    report = ProgressReporter(STAGES, progress)
    timings: dict[str, float] = {}
    reference_role, reference = _reference_of(images)
    started = time.perf_counter()
    report("load", 0.0, "loading model")
    tumor_type = options.get("tumor_type", "intra-axial")
    card, network, device_choice = _card_and_network(options.get("model_id"), options.get("device", "auto"), tumor_type)
    timings["load_model"] = time.perf_counter() - started
    cancel_token.raise_if_cancelled()

    started = time.perf_counter()
    spacing = _working_spacing_mm(card, bool(options.get("fast")))
    channel_roles = tuple(channel["role"].lower() for channel in card.input_channels)
    activation, region_channels = _activation(card)
    normalisation = "zscore_captk" if _step(card, "preprocessing", "zscore_captk") else "zscore_nonzero"
    warnings = _missing_channel_warnings(channel_roles, images)
    brain_mask, mask_source = _skull_strip_mask(images, normalisation)
    report("prepare", 0.0, f"resampling to {spacing} mm")
    prepared = brain_model.prepare(images, spacing, channel_roles, normalisation, brain_mask)
    timings["prepare"] = time.perf_counter() - started
    cancel_token.raise_if_cancelled()

    started = time.perf_counter()
    report("infer", 0.0, f"network on {device_choice.device}")
    tta = bool(options.get("tta"))
    class_map = (_step(card, "postprocessing", "class_map") or {}).get("to_internal")
    runs = _probability_runs(network, prepared, device_choice.device, card, tta, cancel_token.raise_if_cancelled)
    probabilities = runs[0] if len(runs) == 1 else np.mean(runs, axis=0)
    timings["infer"] = time.perf_counter() - started

    started = time.perf_counter()
    report("postprocess", 0.0, "probabilities onto the reference grid")
    labels, uncertainty = _labels_on_reference(
        runs, probabilities, prepared, reference, activation, region_channels, tta
    )
    brain = estimate_brain_mask(reference)
    extra_axial = tumor_type == "extra-axial"
    if extra_axial:
        labels[(labels == EDEMA) & ~brain] = 0  # edema only in brain parenchyma (consensus, extra-axial)
    else:
        labels[~brain] = 0
    timings["postprocess"] = time.perf_counter() - started
    cancel_token.raise_if_cancelled()

    started = time.perf_counter()
    report("qa", 0.0, "quality checks")
    qa = run_qa(labels, reference, brain_mask_kji=brain, extra_axial=extra_axial).to_dict()
    timings["qa"] = time.perf_counter() - started
    report("qa", 1.0, "done")
    provenance = {
        **card.provenance(device_choice),
        "parameters": {
            "fast": bool(options.get("fast")),
            "working_spacing_mm": spacing,
            "tta": tta,
            "uncertainty_method": "tta_disagreement" if tta else "entropy",
            "tumor_type": "extra-axial" if extra_axial else "intra-axial",
            "sequences_used": list(prepared.present),
            "reference_sequence": reference_role,
            "brain_mask": mask_source,
        },
        "warnings": warnings,
        "label_notes": _label_notes(class_map),
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return BrainResult(labels, reference, uncertainty, qa, provenance, {k: round(v, 3) for k, v in timings.items()})


def export_labels(
    result: BrainResult, folder: Path, case_id: str, convention: LabelConvention | str = LabelConvention.BRATS2021
) -> dict[str, Path]:
    """Label NIfTI files named patient ID + sequence + content, and the ``<ID>_labels.json`` sidecar."""
    sequence = result.provenance["parameters"]["reference_sequence"]
    return export_label_files(
        result.labels_kji, result.reference, folder, case_id, sequence, convention, result.provenance
    )


def export_label_files(
    labels_kji: np.ndarray,
    reference: Image,
    folder: Path,
    case_id: str,
    sequence: str,
    convention: LabelConvention | str,
    provenance: dict,
) -> dict[str, Path]:
    """Write internal labels in ``convention`` as ``<case_id>_<sequence>_<content>.nii.gz`` plus the sidecar.

    Used by the command line and by Slicer's Export button (labels edited in the Segment Editor).
    """
    from ..image_io import write_image
    from ..labels import load_label_table

    convention = LabelConvention(convention)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for content, array in to_convention(labels_kji, convention).items():
        name = f"{case_id}_{sequence}_{'seg-' + convention.value if content == 'labels' else content}.nii.gz"
        files[content] = write_image(reference.with_array(array), folder / name)
    values = {LabelConvention.BRATS2021: {1: 1, 2: 2, 3: 4}, LabelConvention.BRATS2023: {1: 1, 2: 2, 3: 3}}
    sidecar = {
        "case_id": case_id,
        "convention": convention.value,
        "files": {content: path.name for content, path in files.items()},
        "labels": [
            {**label.to_dict(), "value": values[convention][label.value]} if convention in values else label.to_dict()
            for label in load_label_table("brain_tumor_labels")
        ],
        "regions": {"whole_tumor": [1, 2, 3], "tumor_body": [1, 3], "enhancing": [3], "non_enhancing": [1]},
        "provenance": provenance,
    }
    sidecar_path = folder / f"{case_id}_labels.json"
    write_text_atomic(sidecar_path, json.dumps(sidecar, indent=2))
    files["sidecar"] = sidecar_path
    return files


def write_report(
    result: BrainResult,
    folder: Path,
    case_id: str,
    alignment: dict | None = None,
    sources: dict | None = None,
    extra_timings: dict | None = None,
    extra: dict | None = None,
) -> dict:
    """Write ``report.json`` (regions, lesions with mL and axial slice range, QA flags, uncertainty, model,
    timings, plus ``extra`` entries such as the file list) and return it."""
    report = {
        "case_id": case_id,
        "reference_grid": {
            "sequence": result.provenance["parameters"]["reference_sequence"],
            "size_ijk": list(result.reference.size_ijk),
            "spacing_mm": list(result.reference.spacing_mm),
            "origin_lps": list(result.reference.origin_lps),
            "direction_lps": result.reference.direction_lps.round(6).tolist(),
            **dicom_identity(result.reference),  # the reference series' UIDs as the run read them
        },
        "inputs": sources or {},
        "alignment": alignment or {},
        "region_volumes_ml": result.qa["region_volumes_ml"],
        "lesions": result.qa["lesions"],
        "qa": {"passed": result.qa["passed"], "flags": result.qa["flags"], "axial_axis": result.qa["axial_axis"]},
        "uncertainty": result.uncertainty,
        "uncertainty_method": result.provenance["parameters"].get("uncertainty_method", "entropy"),
        "model": result.provenance,
        "seconds_per_stage": {**result.seconds_per_stage, **(extra_timings or {})},
        "note": demo_result_note(result.provenance),
        **(extra or {}),
    }
    # through json once so the returned dict is exactly what was written (numpy floats become floats)
    text = json.dumps(report, indent=2, default=float)
    write_text_atomic(folder / "report.json", text)
    return json.loads(text)


def write_overlays(result: BrainResult, images: dict[str, Image], folder: Path, case_id: str) -> list[Path]:
    """PNG per lesion: its largest axial cross-section on each sequence, labels blended on FLAIR."""
    from ..brain.qa import axial_array_axis
    from ..labels import load_label_table
    from ..pictures import render_slice, save_png, tile_grid

    colors = {label.value: label.color_rgb_uint8 for label in load_label_table("brain_tumor_labels")}
    axis = axial_array_axis(result.reference)
    if axis != 0:  # pictures are drawn along k; non-axial stacks get their middle slice
        slices = [result.reference.shape_kji[0] // 2]
    else:
        areas = (result.labels_kji > 0).sum(axis=(1, 2))
        slices = [int(np.argmax(areas))] if areas.any() else [result.reference.shape_kji[0] // 2]
    paths = []
    for k in slices:
        tiles = [render_slice(images[role], k) for role in ("t1", "t1c", "t2", "flair") if role in images]
        tiles.append(
            render_slice(
                result.reference, k, label_plane_ji=result.labels_kji[k], label_colors_rgb=colors, label_opacity=0.5
            )
        )
        paths.append(save_png(tile_grid([tiles]), folder / "overlays" / f"{case_id}_slice{k:03d}.png"))
    return paths
