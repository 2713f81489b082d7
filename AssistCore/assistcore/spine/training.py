"""`radassist spine train`: the three SpineAssist networks trained on phantoms, and their model card.

With an initial model (``--init``) the segmentation network is fine-tuned from that model's weights and the two
classifiers, with the initial card's operating thresholds, are copied unchanged.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..models.card import ModelCard, image_input_format, load_model_card, trained_card_header
from ..models.weights import weights_card_entry
from .labels import HERNIATION_TYPES
from .levels import SEG_CLASSES
from .model import (
    AXIAL_CROP,
    AXIAL_CROP_MM,
    AXIAL_NETWORK,
    OSTEOPHYTE_NETWORK,
    OSTEOPHYTE_SHAPE_KJI,
    OSTEOPHYTE_SPACING_IJK,
    PIXEL_MM,
    SEGMENTATION_NETWORK,
    SIDES,
)
from .network_training import ComponentTraining, train_axial, train_osteophyte, train_segmentation
from .training_data import phantom_training_data

#: thresholds the pipeline reports findings at (probabilities of the classifiers)
OPERATING_THRESHOLDS = {"osteophyte": 0.5, "herniation": 0.5, "pll_thickened": 0.5, "lf_thickened": 0.5}


@dataclass
class SpineTrainingResult:
    segmentation: ComponentTraining
    osteophyte: ComponentTraining
    axial: ComponentTraining
    n_phantoms: int
    validation: list[dict] = field(default_factory=list)
    #: the model fine-tuned from (:func:`initial_model`'s card), None when trained from random weights
    init: ModelCard | None = None


def initial_model(model_dir_or_id: str) -> ModelCard:
    """The card of the model to fine-tune from: a folder holding ``model_card.json``, else a registry id.
    Its three networks must have this version's configs, and its weights files their recorded sha256.

    :raises ModelError: unknown model, not a spine model, other network configs, or damaged weights.
    """
    from ..models.registry import ModelRegistry
    from ..models.weights import verify_components, verify_weights

    folder = Path(model_dir_or_id)
    if not folder.is_dir() and ("/" in model_dir_or_id or "\\" in model_dir_or_id):
        raise ModelError(
            f"--init {model_dir_or_id}: no such model folder.",
            "Give the folder that holds the model's model_card.json, or a model id (`radassist models list`).",
        )
    card = load_model_card(folder) if folder.is_dir() else ModelRegistry().get(model_dir_or_id).card
    where = f"--init {model_dir_or_id} ({card.folder})"
    if card.assistant != "spine":
        raise ModelError(
            f"{where} is a {card.assistant} model, not a spine model.", "Give a spine model's folder or id."
        )
    expected = {"segmentation": SEGMENTATION_NETWORK, "osteophyte": OSTEOPHYTE_NETWORK, "axial": AXIAL_NETWORK}
    found = {"segmentation": card.network, **{n: c.get("network") for n, c in card.components.items()}}
    differing = [name for name, config in expected.items() if found.get(name) != config]
    if differing:
        raise ModelError(
            f"{where}: the {', '.join(differing)} network config differs from this version's, so its weights "
            "cannot be fine-tuned or copied.",
            "Train from random weights (no --init), or fine-tune a model trained by this version.",
        )
    verify_weights(card)
    verify_components(card)
    return card


def train_spine_models(
    output_dir: Path,
    n_phantoms: int = 64,
    segmentation_steps: int = 1500,
    classifier_steps: int = 600,
    seed: int = 0,
    progress: Callable[[str, float, str], None] | None = None,
    domain_randomisation: float = 0.0,
    init: ModelCard | None = None,
    learning_rate: float | None = None,
) -> SpineTrainingResult:
    """Generate ``n_phantoms`` phantoms (seeds ``seed * 100000 + n``) and train the three networks into
    ``output_dir`` (segmentation.pt, osteophyte.pt, axial.pt); ``domain_randomisation``: see
    :func:`assistcore.spine.network_training.train_segmentation`. With ``init`` (:func:`initial_model`) the
    segmentation network is fine-tuned from its weights and its two classifiers are copied unchanged;
    ``learning_rate``: the segmentation network's peak (default: 3e-3 from random weights, 7e-4 fine-tuning)."""
    output_dir.mkdir(parents=True, exist_ok=True)

    def stage(name: str) -> Callable[[float, str], None] | None:
        return (lambda fraction, message: progress(name, fraction, message)) if progress else None

    data = phantom_training_data([seed * 100000 + n for n in range(n_phantoms)], stage("phantoms"))
    segmentation = train_segmentation(
        data,
        output_dir / "segmentation.pt",
        segmentation_steps,
        seed,
        progress=stage("segmentation"),
        domain_randomisation=domain_randomisation,
        initial_weights=init.weights_path if init is not None else None,
        learning_rate=learning_rate,
    )
    if init is not None:
        osteophyte, axial = (_copied_component(init, name, output_dir) for name in ("osteophyte", "axial"))
    else:
        osteophyte = train_osteophyte(
            data, output_dir / "osteophyte.pt", classifier_steps, seed, progress=stage("osteophyte")
        )
        axial = train_axial(data, output_dir / "axial.pt", classifier_steps, seed, progress=stage("axial"))
    return SpineTrainingResult(segmentation, osteophyte, axial, n_phantoms, init=init)


def _copied_component(init: ModelCard, name: str, output_dir: Path) -> ComponentTraining:
    """Classifier ``name`` of the initial model copied into ``output_dir`` unchanged (0 steps here); its recipe
    is the initial card's, marked as copied."""
    target = output_dir / init.components[name]["weights"]["file"]
    shutil.copyfile(init.component_weights_path(name), target)
    earlier = dict(init.data.get("training", {}).get(name, {}))
    recipe = {key: value for key, value in earlier.items() if key not in ("steps", "seconds", "final_loss")}
    recipe["copied_from"] = f"{init.id} (unchanged, trained {earlier.get('steps', '?')} steps there)"
    return ComponentTraining(target, init.components[name]["network"], 0, 0.0, earlier.get("final_loss", 0.0), recipe)


def _init_entry(init: ModelCard) -> dict[str, Any]:
    """The card's ``training.init``: the model the segmentation network was fine-tuned from."""
    return {
        "model_id": init.id,
        "version": init.version,
        "segmentation_weights_sha256": init.weights_sha256,
        "classifiers": "osteophyte and axial copied unchanged, with the initial card's operating thresholds",
    }


def _recipe(component: ComponentTraining) -> dict:
    return {
        "steps": component.steps,
        "seconds": round(component.seconds, 1),
        "final_loss": round(component.final_loss, 4),
        **component.recipe,
    }


def spine_model_card(result: SpineTrainingResult, command: str, model_id: str, seed: int) -> dict:
    """The model card (MONAI bundle metadata keys) of :func:`train_spine_models`' networks."""
    from ..labels import card_labels

    labels = card_labels("spine_labels")
    header = trained_card_header(
        model_id,
        "SpineAssist demo networks",
        "spine",
        "Cervical spine: vertebra/disc/canal/ligament segmentation, osteophyte and axial disc-level findings",
        (
            "MONAI networks trained from random weights by `radassist spine train` on "
            if result.init is None
            else "MONAI networks by `radassist spine train`, the segmentation network fine-tuned from "
            f"{result.init.id} (its classifiers copied unchanged) on "
        )
        + f"{result.n_phantoms} synthetic cervical spine phantoms (assistcore.phantoms.spine, seeded): a 2D UNet "
        "segmenting sagittal and axial pictures, a 3D ResNet classifying osteophytes on crops around each "
        "vertebral body, a 2D ResNet classifying the axial slice through each disc.",
        "Train and validate on your own annotated patients before use.",
        synthetic=True,
    )
    return {
        **header,
        "data_source": f"{result.n_phantoms} synthetic cervical spine phantoms (assistcore.phantoms.spine, seeded)",
        "data_type": "dicom or nifti: sagittal T2 (required), axial T2 (optional)",
        "image_classes": "1 channel: one sagittal or axial T2 slice in radiological screen orientation",
        "label_classes": "segmentation classes: "
        + ", ".join(f"{i} {n}" for i, n in enumerate(SEG_CLASSES))
        + "; written as level labels (the labels below)",
        "pred_classes": "softmax over the classes, argmax per pixel; vertebrae named C2.. by instance",
        "network_data_format": {
            "inputs": {"image": image_input_format(["T2"])},
            "outputs": {
                "pred": {
                    "type": "image",
                    "format": "segmentation",
                    "num_channels": len(SEG_CLASSES),
                    "channel_def": {str(i): name for i, name in enumerate(SEG_CLASSES)},
                }
            },
        },
        "network": result.segmentation.network,
        "input_channels": [
            {"name": "T2", "role": "sag_t2", "description": "required: sagittal T2"},
            {"name": "T2", "role": "ax_t2", "description": "optional: axial T2 (one stack or oblique blocks)"},
        ],
        **_processing_steps(),
        "inference": {"mode": "per_slice", "batch_size": 4},
        "labels": labels,
        "operating_thresholds": dict(result.init.thresholds if result.init is not None else OPERATING_THRESHOLDS),
        "weights": weights_card_entry(result.segmentation.weights_path),
        "components": _component_entries(result),
        "training": {
            "command": command,
            "seed": seed,
            "phantoms": result.n_phantoms,
            **({"init": _init_entry(result.init)} if result.init is not None else {}),
            "segmentation": _recipe(result.segmentation),
            "osteophyte": _recipe(result.osteophyte),
            "axial": _recipe(result.axial),
        },
        "validation": result.validation,
        **(
            {
                "operating_thresholds_tuning": f"copied from {result.init.id}: "
                + result.init.data.get("operating_thresholds_tuning", "its card's thresholds")
            }
            if result.init is not None
            else {}
        ),
    }


def _processing_steps() -> dict[str, list[dict]]:
    """The card's ``preprocessing`` and ``postprocessing`` steps of the segmentation network."""
    return {
        "preprocessing": [
            {
                "step": "resample_in_plane",
                "pixel_mm": PIXEL_MM,
                "note": "slices kept; non-sagittal series first resampled onto an axis-aligned sagittal grid",
            },
            {"step": "slice_to_radiological_screen_orientation"},
            {"step": "window_percentiles", "low": 0.5, "high": 99.5, "per": "series", "to": [0.0, 1.0]},
            {"step": "pad", "multiple_of": 8},
        ],
        "postprocessing": [
            {"step": "softmax_argmax"},
            {
                "step": "vertebra_instances",
                "note": "bodies split into connected components, ordered top-down, "
                "named from the C2 instance (or the user's anchor)",
            },
            {"step": "resample_nearest_to_sagittal_t2"},
        ],
    }


def _component_entries(result: SpineTrainingResult) -> dict[str, dict]:
    """The card's ``components``: the osteophyte and axial classifiers with their crops and weights."""
    return {
        "osteophyte": {
            "description": "3D ResNet: osteophyte probability from a crop of "
            f"{'x'.join(map(str, OSTEOPHYTE_SHAPE_KJI))} (L, S, P) voxels of "
            f"{OSTEOPHYTE_SPACING_IJK[2]}/{OSTEOPHYTE_SPACING_IJK[1]}/{OSTEOPHYTE_SPACING_IJK[0]} mm around each "
            "vertebral body centre, windowed 0..1 (sigmoid of 1 logit)",
            "network": result.osteophyte.network,
            "input_shape": list(OSTEOPHYTE_SHAPE_KJI),
            "weights": weights_card_entry(result.osteophyte.weights_path),
        },
        "axial": {
            "description": f"2D ResNet on the axial slice nearest each disc centre: {AXIAL_CROP}x{AXIAL_CROP} "
            f"pixels of {AXIAL_CROP_MM} mm centred on the disc, screen orientation, windowed 0..1; logits: "
            f"herniation {', '.join(HERNIATION_TYPES)} (softmax), side {', '.join(SIDES)} (softmax), "
            "PLL thickened, LF thickened (sigmoid)",
            "network": result.axial.network,
            "input_shape": [AXIAL_CROP, AXIAL_CROP],
            "weights": weights_card_entry(result.axial.weights_path),
        },
    }
