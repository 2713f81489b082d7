"""Tiny models the tests build themselves: a RadAssist model folder and a MONAI-bundle-layout folder."""

from __future__ import annotations

import json
from pathlib import Path

TINY_NETWORK = {
    "_target_": "monai.networks.nets.SegResNet",
    "spatial_dims": 3,
    "in_channels": 4,
    "out_channels": 3,
    "init_filters": 8,
    "blocks_down": [1, 1],
    "blocks_up": [1],
}

NEOPLASM = {
    "category": {"code": "49755003", "scheme": "SCT", "meaning": "Morphologically Altered Structure"},
    "type": {"code": "108369006", "scheme": "SCT", "meaning": "Neoplasm"},
}


def _save_random_weights(network_config: dict, path: Path) -> None:
    import torch

    from assistcore.models.loader import build_network

    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(build_network(network_config).state_dict(), path)


def tiny_card(weights_sha256: str, model_id: str = "tiny-brain", synthetic: bool = True) -> dict:
    """A fresh, complete card (deep-copied so tests can mutate it)."""
    import copy

    return copy.deepcopy(
        {
            "id": model_id,
            "name": "Tiny test network",
            "version": "0.0.1",
            "assistant": "brain_tumor",
            "task": "segmentation",
            "description": "random weights for tests",
            "authors": ["tests"],
            "intended_use": "Tests only: trained on synthetic data, not for clinical use."
            if synthetic
            else "Research use at the site that trained it.",
            "synthetic_training_data": synthetic,
            "network_data_format": {"inputs": {"image": {"num_channels": 4}}, "outputs": {"pred": {"num_channels": 3}}},
            "network": TINY_NETWORK,
            "input_channels": [{"name": n, "role": n.lower()} for n in ("T1", "T1c", "T2", "FLAIR")],
            "preprocessing": [{"step": "normalize_intensity", "nonzero": True, "channel_wise": True}],
            "inference": {"mode": "sliding_window", "roi_size": [32, 32, 32], "overlap": 0.25},
            "labels": [
                {"value": 1, "name": "Tumor core", "color": "#ff0000", "snomed": NEOPLASM},
                {"value": 2, "name": "Whole tumor", "color": "#ffff00", "snomed": NEOPLASM},
                {"value": 3, "name": "Enhancing tumor", "color": "#a020f0", "snomed": NEOPLASM},
            ],
            "operating_thresholds": {"probability": 0.5},
            "weights": {"file": "model.pt", "sha256": weights_sha256, "format": "state_dict"},
            "training": {"command": "pytest fixture", "seed": 0},
            "validation": [{"dataset": "none", "metric": "dice", "value": None}],
        }
    )


def make_tiny_model_folder(folder: Path, model_id: str = "tiny-brain", synthetic: bool = True) -> Path:
    from assistcore.models.weights import sha256_of

    folder.mkdir(parents=True, exist_ok=True)
    _save_random_weights(TINY_NETWORK, folder / "model.pt")
    card = tiny_card(sha256_of(folder / "model.pt"), model_id, synthetic)
    (folder / "model_card.json").write_text(json.dumps(card, indent=2))
    return folder


def make_monai_bundle(folder: Path) -> Path:
    """The layout of MONAI's brats_mri_segmentation bundle (channels T1c, T1, T2, FLAIR; outputs TC, WT, ET)."""
    network_def = {**TINY_NETWORK, "_target_": "SegResNet"}  # bundles use MONAI's short names
    (folder / "configs").mkdir(parents=True, exist_ok=True)
    metadata = {
        "name": "BraTS MRI segmentation (test copy)",
        "version": "0.5.0",
        "monai_version": "1.3.0",
        "pytorch_version": "2.1.0",
        "task": "Multimodal Brain Tumor segmentation",
        "description": "A tiny stand-in with the bundle's layout",
        "authors": "tests",
        "intended_use": "This is an example, not to be used for diagnostic purposes",
        "eval_metrics": {"val_mean_dice": 0.8518},
        "network_data_format": {
            "inputs": {
                "image": {
                    "type": "image",
                    "format": "magnitude",
                    "modality": "MRI",
                    "num_channels": 4,
                    "spatial_shape": [224, 224, 144],
                    "channel_def": {"0": "T1c", "1": "T1", "2": "T2", "3": "FLAIR"},
                }
            },
            "outputs": {
                "pred": {
                    "type": "image",
                    "format": "segmentation",
                    "num_channels": 3,
                    "channel_def": {"0": "TC", "1": "WT", "2": "ET"},
                }
            },
        },
    }
    (folder / "configs" / "metadata.json").write_text(json.dumps(metadata, indent=2))
    inference = {
        "network_def": network_def,
        "inferer": {
            "_target_": "SlidingWindowInferer",
            "roi_size": [240, 240, 160],
            "sw_batch_size": 1,
            "overlap": 0.5,
        },
    }
    (folder / "configs" / "inference.json").write_text(json.dumps(inference, indent=2))
    _save_random_weights(network_def, folder / "models" / "model.pt")
    return folder


def make_random_brain_model(folder: Path, model_id: str = "brain-random") -> Path:
    """The BrainTumorLabel network with random weights and a complete card (the pipeline runs, nothing learned)."""
    import torch

    from assistcore.brain.model import NETWORK
    from assistcore.brain.training import TrainingResult, brain_model_card
    from assistcore.models.loader import build_network

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(build_network(NETWORK).state_dict(), folder / "model.pt")
    result = TrainingResult(folder / "model.pt", 0, 0.0, float("nan"), {"whole_tumor": None})
    card = brain_model_card(result, "pytest fixture (random weights)", model_id, 0, 0, 0)
    (folder / "model_card.json").write_text(json.dumps(card, indent=2))
    return folder


def make_random_crm_model(folder: Path, model_id: str = "crm-random") -> Path:
    """The CRM detector (MobileNetV3-FPN Faster R-CNN) with random weights and a complete card."""
    import torch

    from assistcore.crm.detector import DEFAULT_BACKBONE, network_config
    from assistcore.crm.training import CrmTrainingResult, crm_model_card
    from assistcore.models.loader import build_network

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = network_config()
    torch.save(build_network(config).state_dict(), folder / "model.pt")
    result = CrmTrainingResult(folder / "model.pt", 0, 0.0, float("nan"), config)
    card = crm_model_card(result, "pytest fixture (random weights)", model_id, 0, DEFAULT_BACKBONE, "none", True)
    (folder / "model_card.json").write_text(json.dumps(card, indent=2))
    return folder


def make_random_spine_model(folder: Path, model_id: str = "spine-random") -> Path:
    """The three SpineAssist networks with random weights and a complete card (no exported programs)."""
    import torch

    from assistcore.models.loader import build_network
    from assistcore.spine.model import AXIAL_NETWORK, OSTEOPHYTE_NETWORK, SEGMENTATION_NETWORK
    from assistcore.spine.network_training import ComponentTraining
    from assistcore.spine.training import SpineTrainingResult, spine_model_card

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    components = []
    for name, config in (
        ("segmentation", SEGMENTATION_NETWORK),
        ("osteophyte", OSTEOPHYTE_NETWORK),
        ("axial", AXIAL_NETWORK),
    ):
        torch.save(build_network(config).state_dict(), folder / f"{name}.pt")
        components.append(ComponentTraining(folder / f"{name}.pt", config, 0, 0.0, float("nan"), {}))
    result = SpineTrainingResult(*components, n_phantoms=0)
    card = spine_model_card(result, "pytest fixture (random weights)", model_id, 0)
    (folder / "model_card.json").write_text(json.dumps(card, indent=2))
    return folder


def make_random_breast_us_model(folder: Path, model_id: str = "breastus-random") -> Path:
    """The breast ultrasound lesion detector with random weights and a complete card (threshold 0.5)."""
    import torch

    from assistcore.breastus.training import breast_us_model_card
    from assistcore.detectors.network import DEFAULT_BACKBONE, network_config
    from assistcore.detectors.training import DetectorTrainingResult
    from assistcore.models.loader import build_network

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = network_config(DEFAULT_BACKBONE, 256)
    torch.save(build_network(config).state_dict(), folder / "model.pt")
    result = DetectorTrainingResult(folder / "model.pt", 0, 0.0, float("nan"), config)
    card = breast_us_model_card(
        result, "pytest fixture (random weights)", model_id, 0, DEFAULT_BACKBONE, "none", True, 0.5, 256, 0.45, "fixed"
    )
    (folder / "model_card.json").write_text(json.dumps(card, indent=2))
    return folder
