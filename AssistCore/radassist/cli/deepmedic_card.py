"""The card, NOTICE and labels of CaPTk's DeepMedic model converted by `radassist models convert-deepmedic`.

Data, not logic: what the model is (CaPTk 1.9's DeepMedic, SBIA licence), its inputs in BraTS space, CaPTk's
z-score, the class map to BraTS labels, the conversion's provenance and the reference checks measured once on
the converted weights.
"""

from __future__ import annotations

from typing import Any

from assistcore.models.card import image_input_format

MODEL_ID = "brain-tumor-deepmedic-captk"
#: the files of CaPTk 1.9's model folder (data/deepMedic/saved_models/brainTumorSegmentation) this converts,
#: with their sha256 (the checkpoint is pinned: the network built here is that model's architecture)
CHECKPOINT_FILES = {
    "model.ckpt.index": "dc399961227a805c71575cf7e132466950451e46d00ec6031d89abd586d75aec",
    "model.ckpt.data-00000-of-00001": "4319c7d560799b3a553ddc5ee5f83ab2ed6ccd091a343bbfadd1be88910c1132",
}
LICENCE_FILE = "SBIA_license.txt"
CAPTK_MODEL_NAME = "dm1Sc3Thin3Seg40_gt4C_HGG587_forCaPTk124"
_SBIA_PREFACE = (
    'All or portions of this licensed product (such portions are the "Software") have been obtained under license '
    "from the Section of Biomedical Image Analysis, Department of Radiology at the University of Pennsylvania and "
    "are subject to the following terms and conditions:"
)
REFERENCES = [
    "Kamnitsas K, Ledig C, Newcombe VFJ, et al. Efficient multi-scale 3D CNN with fully connected CRF for accurate "
    "brain lesion segmentation. Medical Image Analysis 36:61-78, 2017 (DeepMedic).",
    "Davatzikos C, Rathore S, Bakas S, et al. Cancer imaging phenomics toolkit: quantitative imaging analytics for "
    "precision diagnostics and predictive modeling of clinical outcome. J Med Imaging 5(1):011018, 2018 (CaPTk).",
    "CaPTk 1.9: https://github.com/CBICA/CaPTk, data/deepMedic/saved_models/brainTumorSegmentation",
    "DeepMedic 0.8.4: https://github.com/deepmedic/deepmedic (tag v0.8.4)",
]


def build_card(weights: dict, program: dict, network: dict, command: str, tf_report: str) -> dict:
    """The model card of the converted model (see :mod:`radassist.cli.commands_deepmedic`).

    :param weights: the card's ``weights`` entry (file, sha256, format, size_bytes) of model.pt.
    :param program: the card's ``exported_program`` entry of model.onnx.
    :param network: the network's ``_target_`` and constructor arguments.
    """
    from assistcore.brain import deepmedic as dm

    return {
        **_about(),
        **_interface(dm, network),
        **_processing(dm),
        "labels": _labels(),
        "operating_thresholds": {},
        "weights": weights,
        "exported_program": program,
        "training": _training(command, tf_report),
        "validation": REFERENCE_CHECKS,
    }


def _about() -> dict[str, Any]:
    """What the model is, who made it, what it is for and what it was trained on."""
    return {
        "id": MODEL_ID,
        "name": "CaPTk DeepMedic brain tumour segmentation (converted)",
        "version": "1.9.0-radassist.1",
        "assistant": "brain_tumor",
        "task": "Glioma sub-region segmentation (necrosis / non-enhancing core, edema, enhancing tumour) on "
        "skull-stripped multi-parametric MRI in BraTS space",
        "description": "The DeepMedic network (3 pathways at 1x, 3x and 5x subsampling, 8 layers each, residual "
        f"connections, FC layers) that CaPTk 1.9 ships for brain tumour segmentation ({CAPTK_MODEL_NAME}), "
        "trained by CBICA on 587 high-grade gliomas. MODIFIED VERSION: converted by RadAssist from the TensorFlow 1 "
        "checkpoint to a PyTorch state dict and an ONNX program; weight values unchanged (see NOTICE).",
        "authors": [
            "Center for Biomedical Image Computing and Analytics (CBICA), University of Pennsylvania (CaPTk model)",
            "Konstantinos Kamnitsas (DeepMedic)",
            "RadAssist contributors (conversion)",
        ],
        "copyright": "Model: Section of Biomedical Image Analysis, University of Pennsylvania, under the SBIA "
        "Software License v1.1 (SBIA_license.txt; Part B applies to this copy). Conversion: RadAssist.",
        "intended_use": "Research use only: not reviewed or approved by the FDA or any other agency; clinical "
        "applications are neither recommended nor advised (SBIA licence Part B.4). Pre-labelling of gliomas on "
        "skull-stripped, co-registered T1, T1c, T2 and FLAIR at 1 mm in BraTS space, for a reader to correct.",
        "synthetic_training_data": False,
        "data_source": "587 high-grade glioma cases (BraTS training data) used by CBICA to train CaPTk's model",
        "data_type": "nifti",
        "image_classes": "4 channels in this order: T1, T1 post-contrast, T2, FLAIR; each z-scored by CaPTk's "
        "normaliser",
        "label_classes": "BraTS labels: 1 necrosis / non-enhancing tumour core, 2 peritumoral edema, 4 enhancing "
        "tumour",
        "pred_classes": "softmax over 5 classes: 0 background, 1 necrosis / non-enhancing core (BraTS 1), 2 edema "
        "(BraTS 2), 3 unused (never predicted), 4 enhancing tumour (BraTS 4). The model does not separate "
        "non-enhancing tumour from necrosis.",
        "references": REFERENCES,
    }


def _interface(dm, network: dict) -> dict[str, Any]:
    """Inputs and outputs: the MONAI-style data format, the network, the input channels and their space."""
    return {
        "network_data_format": {
            "inputs": {"image": image_input_format(dm.CHANNEL_ORDER)},
            "outputs": {
                "pred": {
                    "type": "image",
                    "format": "segmentation",
                    "num_channels": 5,
                    "channel_def": {
                        "0": "background",
                        "1": "necrosis/non-enhancing core",
                        "2": "edema",
                        "3": "unused",
                        "4": "enhancing",
                    },
                }
            },
        },
        "network": network,
        "input_channels": [
            {"name": "T1", "role": "t1", "required": True, "description": "native T1-weighted"},
            {"name": "T1C", "role": "t1c", "required": True, "description": "T1-weighted after gadolinium"},
            {"name": "T2", "role": "t2", "required": True, "description": "T2-weighted"},
            {"name": "FLAIR", "role": "flair", "required": True, "description": "T2-FLAIR"},
        ],
        "input_space": {
            "description": "BraTS space (SRI24 atlas, 240x240x155 at 1 mm isotropic, voxel order as in the BraTS "
            "files), skull-stripped, all four sequences co-registered on one grid, as CaPTk's BraTS pipeline "
            "writes them",
            "spacing_mm": 1.0,
            "skull_stripped": True,
            "co_registered": True,
        },
    }


def _processing(dm) -> dict[str, Any]:
    """Pre-processing (resampling, CaPTk's z-score), post-processing (class map) and inference by segments."""
    brats = dm.CLASS_TO_BRATS
    return {
        "preprocessing": [
            {"step": "resample", "spacing_mm": 1.0, "interpolation": "linear"},
            {
                "step": "zscore_captk",
                "quantiles": [5.0, 95.0],
                "cutoff_sd": [3.0, 3.0],
                "description": "per channel: mean and SD (n-1) of the brain voxels above 0 within the tighter of the "
                "5th-95th percentiles and mean +- 3 SD; (x - mean) / SD applied to every voxel "
                "(assistcore.brain.deepmedic.captk_zscore)",
            },
        ],
        "postprocessing": [
            {
                "step": "class_map",
                "to_internal": list(dm.CLASS_TO_LABEL),
                "to_brats": list(brats),
                "description": "network classes 0..4 -> internal labels 0 background, 1 non-enhancing/necrosis, "
                "2 edema, 3 enhancing (BraTS 1, 2, 4); class 3 is never predicted",
            },
            {"step": "softmax_argmax"},
        ],
        "inference": {
            "mode": "deepmedic_segments",
            "segment_max_edge": dm.MAX_SEGMENT_EDGE,
            "captk_segment_output": list(dm.CAPTK_SEGMENT_OUTPUT),
            "context_margin": dm.CONTEXT_MARGIN,
            "receptive_field": dm.RECEPTIVE_FIELD,
            "volume_pad": dm.VOLUME_PAD,
            "tta": False,
            "description": "assistcore.brain.deepmedic.predict_probabilities: the volume padded by reflection "
            f"({dm.VOLUME_PAD} voxels), each output segment computed once from a block with {dm.CONTEXT_MARGIN} "
            "voxels of context on every side",
        },
    }


def _training(command: str, tf_report: str) -> dict[str, Any]:
    """How the weights were converted, and where the original model came from."""
    return {
        "command": command,
        "converted": True,
        "conversion": "TensorFlow 1 checkpoint read (" + (tf_report or "TensorFlow") + "); "
        "the variables under net/ mapped onto assistcore.brain.deepmedic_network.DeepMedic (strict); "
        "convolution kernels transposed from (x, y, z) to (z, y, x); optimizer state and training-only "
        "variables dropped",
        "origin": {
            "software": "CaPTk 1.9 (CBICA/CaPTk data/deepMedic/saved_models/brainTumorSegmentation)",
            "model_name": CAPTK_MODEL_NAME,
            "files_sha256": dict(CHECKPOINT_FILES),
            "deepmedic_version": "0.8.4 runs it unchanged",
        },
        "original_training": "CBICA: DeepMedic trained on 587 high-grade gliomas (BraTS), segments 40^3, "
        "batch 10, BN rolling average over 60 batches",
    }


#: measured once on the converted weights (pinned above): parity with DeepMedic 0.8.4 run by TensorFlow on the
#: public case TCGA-DU-7294 (BraTS-space BrainLes files), and agreement with that case's fused segmentation
_CASE = "TCGA-DU-7294 (public TCGA glioma, BrainLes BraTS-space raw_bet files, CaPTk z-score)"
REFERENCE_CHECKS: list[dict[str, Any]] = [
    {
        "dataset": _CASE,
        "metric": "max_probability_difference_to_deepmedic_0.8.4",
        "value": 1.9e-06,
        "n": 1,
        "notes": "Reference: DeepMedic 0.8.4 run by TensorFlow 2.21 with CaPTk's 45^3 segments. Over every segment "
        "both tile alike (17.8 % of the volume: segments not first or second along an axis nor in DeepMedic's "
        "moved-back last one), and with DeepMedic's own segment inputs fed to these layers: 1.9e-06 on the whole "
        "volume. Testing/test_deepmedic.py checks a 20^3 crop through the tumour (torch and ONNX).",
    },
    {
        "dataset": _CASE,
        "metric": "identical_labels_whole_volume_vs_deepmedic_0.8.4",
        "value": 0.99999,
        "n": 1,
        "notes": "predict_probabilities with CaPTk's 29^3 output segments: 82 of 8.9 M voxels differ, all where "
        "DeepMedic moves its last segment of an axis back to end at the volume's end (here each voxel is computed "
        "once). DeepMedic's shifted low-resolution context at the low end of each axis (get_subsampl_segment) "
        "changes probabilities there by up to 0.12 and no label.",
    },
    {
        "dataset": _CASE + " against its fused segmentation (fusion/mav.nii.gz)",
        "metric": "dice_whole_tumor",
        "value": 0.954,
        "n": 1,
        "notes": "Balanced output segments of at most 84 voxels per axis (the default; 0.951 with 48^3, 0.951 with "
        "CaPTk's 29^3). Not tuned on this case. A low-grade glioma: the model calls most of its non-enhancing "
        "core edema.",
    },
    {
        "dataset": _CASE + " against its fused segmentation (fusion/mav.nii.gz)",
        "metric": "dice_tumor_core",
        "value": 0.238,
        "n": 1,
        "notes": "Balanced segments (the default): 1.3 ml predicted, 9.3 ml fused; 0.131 with 48^3, 0.092 with 29^3.",
    },
    {
        "dataset": _CASE + " against its fused segmentation (fusion/mav.nii.gz)",
        "metric": "dice_enhancing_tumor",
        "value": None,
        "n": 1,
        "notes": "No enhancing tumour in the fused segmentation; 8 voxels predicted with the default "
        "segments (3 with 48^3, 2 with 29^3).",
    },
]


def _labels() -> list[dict]:
    def coded(code: str, meaning: str) -> dict:
        return {
            "category": {"code": "49755003", "scheme": "SCT", "meaning": "Morphologically Altered Structure"},
            "type": {"code": code, "scheme": "SCT", "meaning": meaning},
        }

    context = "Segmentation category and type - DICOM master list"
    return [
        {
            "value": 1,
            "name": "Necrosis / non-enhancing tumor",
            "color": "#1e64ff",
            "snomed": coded("6574001", "Necrosis"),
            "terminology_context": context,
            "description": "BraTS 1: necrotic and non-enhancing tumour core",
        },
        {
            "value": 2,
            "name": "Edema",
            "color": "#ffff00",
            "snomed": coded("79654002", "Edema"),
            "terminology_context": context,
            "description": "BraTS 2: peritumoral edema",
        },
        {
            "value": 3,
            "name": "Enhancing tumor",
            "color": "#a020f0",
            "snomed": coded("108369006", "Neoplasm"),
            "terminology_context": context,
            "description": "BraTS 4: enhancing tumour",
        },
    ]


def notice_text(tf_report: str, command: str) -> str:
    return f"""{MODEL_ID}: a MODIFIED VERSION of CaPTk 1.9's DeepMedic brain tumour segmentation model.

{_SBIA_PREFACE}
Part B of the SBIA Contribution and Software License Agreement, Version 1.1, in {LICENCE_FILE} beside this
file (copied verbatim from CaPTk's model folder); its terms and conditions apply to this copy.

Original: CaPTk 1.9 (https://github.com/CBICA/CaPTk), data/deepMedic/saved_models/brainTumorSegmentation,
model {CAPTK_MODEL_NAME} (Center for Biomedical Image Computing and Analytics, University of Pennsylvania),
a DeepMedic network (https://github.com/deepmedic/deepmedic) trained on 587 high-grade gliomas.
  model.ckpt.index                 sha256 {CHECKPOINT_FILES["model.ckpt.index"]}
  model.ckpt.data-00000-of-00001   sha256 {CHECKPOINT_FILES["model.ckpt.data-00000-of-00001"]}

Modifications (format conversion, by RadAssist: {command}):
- the TensorFlow 1 checkpoint was read ({tf_report or "TensorFlow"}) and its network variables written
  as a PyTorch state dict (model.pt) for assistcore.brain.deepmedic_network.DeepMedic, convolution kernels
  transposed from DeepMedic's (x, y, z) axis order to (z, y, x); values unchanged;
- the optimizer state and DeepMedic's training-only variables (sharedNewMu_B*, sharedNewVar_B*) were dropped;
- model.onnx is an ONNX export of that network with these weights (checked against PyTorch).
This is not the original Software and must not be presented as such.

Research use only: not reviewed or approved by the FDA or any other agency; clinical applications are
neither recommended nor advised.

Please cite:
{chr(10).join("- " + reference for reference in REFERENCES)}
"""
