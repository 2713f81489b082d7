"""`radassist spine train`: the three SpineAssist networks trained on phantoms, and their model card."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..models.card import image_input_format, trained_card_header
from ..models.weights import weights_card_entry
from .labels import HERNIATION_TYPES
from .levels import SEG_CLASSES
from .model import (
    AXIAL_CROP,
    AXIAL_CROP_MM,
    OSTEOPHYTE_SHAPE_KJI,
    OSTEOPHYTE_SPACING_IJK,
    PIXEL_MM,
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


def train_spine_models(
    output_dir: Path,
    n_phantoms: int = 64,
    segmentation_steps: int = 1500,
    classifier_steps: int = 600,
    seed: int = 0,
    progress: Callable[[str, float, str], None] | None = None,
    domain_randomisation: bool = False,
) -> SpineTrainingResult:
    """Generate ``n_phantoms`` phantoms (seeds ``seed * 100000 + n``) and train the three networks into
    ``output_dir`` (segmentation.pt, osteophyte.pt, axial.pt); ``domain_randomisation``: see
    :func:`assistcore.spine.network_training.train_segmentation`."""
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
    )
    osteophyte = train_osteophyte(
        data, output_dir / "osteophyte.pt", classifier_steps, seed, progress=stage("osteophyte")
    )
    axial = train_axial(data, output_dir / "axial.pt", classifier_steps, seed, progress=stage("axial"))
    return SpineTrainingResult(segmentation, osteophyte, axial, n_phantoms)


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
        "MONAI networks trained from random weights by `radassist spine train` on "
        f"{result.n_phantoms} synthetic cervical spine phantoms (assistcore.phantoms.spine, seeded): a 2D UNet "
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
        "operating_thresholds": OPERATING_THRESHOLDS,
        "weights": weights_card_entry(result.segmentation.weights_path),
        "components": _component_entries(result),
        "training": {
            "command": command,
            "seed": seed,
            "phantoms": result.n_phantoms,
            "segmentation": _recipe(result.segmentation),
            "osteophyte": _recipe(result.osteophyte),
            "axial": _recipe(result.axial),
        },
        "validation": result.validation,
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
