"""The model card schema and ModelCard: what a card must say before RadAssist will use it (no torch)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from model_fixtures import tiny_card

from assistcore.errors import ModelError
from assistcore.models.card import ModelCard, load_model_card, model_card_schema, validate_card_data
from assistcore.models.registry import bundled_models_dir

VALID_SHA = "ab" * 32
REPO_ROOT = Path(__file__).resolve().parents[1]


def full_card() -> dict:
    """A card using every key the schema knows (MONAI metadata keys and ours)."""
    card = json.loads(json.dumps(tiny_card(VALID_SHA)))  # no shared sub-dicts: tests edit one label
    card.update(
        {
            "changelog": {"0.0.1": "first"},
            "monai_version": "1.6.1",
            "pytorch_version": "2.14.1",
            "numpy_version": "2.2.0",
            "required_packages_version": {"nibabel": "5.3.2"},
            "optional_packages_version": {"pytorch-ignite": "0.5.2"},
            "copyright": "Copyright (c) RadAssist contributors",
            "data_source": "synthetic phantoms",
            "data_type": "nifti",
            "image_classes": "4 channels T1, T1c, T2, FLAIR",
            "label_classes": "3 channels TC, WT, ET",
            "pred_classes": "3 channels, sigmoid",
            "eval_metrics": {"val_mean_dice": 0.5},
            "references": ["Myronenko A. 3D MRI brain tumor segmentation using autoencoder regularization. 2018."],
            "postprocessing": [{"step": "sigmoid_threshold", "threshold": 0.5}],
            "inference": {
                "mode": "sliding_window",
                "roi_size": [32, 32, 32],
                "overlap": 0.25,
                "sw_batch_size": 2,
                "tta": True,
            },
            "operating_thresholds": {"probability": 0.5, "min_volume_ml": 0.1},
        }
    )
    card["weights"]["size_bytes"] = 1234
    card["labels"][1]["color"] = [1.0, 1.0, 0.0]  # rgb in 0..1, as Slicer stores colours
    card["labels"][2]["snomed"]["modifier"] = {"code": "255386008", "scheme": "SCT", "meaning": "Enhancing"}
    card["input_channels"][0]["description"] = "T1-weighted, required"
    card["validation"][0].update(n=12, notes="random weights", value=0.1)
    return card


def write_card(folder: Path, data: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_card.json").write_text(json.dumps(data))
    return folder


def test_a_full_card_with_monai_and_radassist_keys_is_valid():
    validate_card_data(full_card())


def test_the_schema_is_draft_2020_12_and_itself_valid():
    import jsonschema

    schema = model_card_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda c: c["weights"].pop("sha256"), "at weights: 'sha256' is a required property"),
        (lambda c: c["weights"].update(sha256="abc"), "at weights/sha256"),
        (lambda c: c["labels"][0]["snomed"].pop("type"), "at labels/0/snomed"),
        (lambda c: c["labels"][1]["snomed"]["category"].pop("code"), "at labels/1/snomed/category"),
        (lambda c: c["labels"][0].update(color="red"), "at labels/0/color"),
        (lambda c: c.pop("intended_use"), "at (top level): 'intended_use' is a required property"),
        (lambda c: c.update(assistant="lung"), "at assistant"),
        (lambda c: c["inference"].update(mode="tiles"), "at inference/mode"),
        (lambda c: c["inference"].pop("roi_size"), "at inference: 'roi_size' is a required property"),
        (lambda c: c["weights"].update(format="pickle"), "at weights/format"),
        (lambda c: c["weights"].update(file="../../elsewhere/model.pt"), "at weights/file"),
        (lambda c: c["weights"].update(file="/etc/model.pt"), "at weights/file"),
        (lambda c: c["labels"][1].update(value=1), "at labels/1/value: label value 1 is also used by labels/0"),
        (lambda c: c["inference"].update(roi_size=[32, 32]), "at inference/roi_size"),
    ],
)
def test_cards_missing_or_breaking_required_facts_are_refused_naming_file_and_json_path(change, where):
    card = full_card()
    change(card)
    with pytest.raises(ModelError) as caught:
        validate_card_data(card, "some/model_card.json")
    assert "Invalid model card some/model_card.json " + where in str(caught.value)


def test_a_synthetic_demo_card_must_say_synthetic_and_not_for_clinical_use():
    card = full_card()
    card["intended_use"] = "Detects tumours in brain MRI."
    with pytest.raises(ModelError, match="at intended_use: a model trained on synthetic data must say"):
        validate_card_data(card)
    card["intended_use"] = "Demo trained on SYNTHETIC phantoms. Not for clinical use."
    validate_card_data(card)


def test_a_model_trained_on_real_data_may_state_its_own_intended_use():
    card = full_card()
    card["synthetic_training_data"] = False
    card["intended_use"] = "Pre-labelling of glioma MRI for expert correction at the training site."
    validate_card_data(card)


def test_load_model_card_names_the_file_for_bad_json_and_bad_content(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_card.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"broken/model_card.json is not valid JSON"):
        load_model_card(broken)
    data = full_card()
    del data["labels"]
    invalid = write_card(tmp_path / "invalid", data)
    with pytest.raises(ModelError, match=r"invalid/model_card.json at \(top level\): 'labels' is a required"):
        load_model_card(invalid / "model_card.json")
    with pytest.raises(ModelError, match="Model card not found"):
        load_model_card(tmp_path / "nowhere")


def test_model_card_gives_typed_views_with_weights_relative_to_its_folder(tmp_path):
    data = full_card()
    data["weights"]["file"] = "models/model.pt"
    card = load_model_card(write_card(tmp_path / "m", data))
    assert isinstance(card, ModelCard)
    assert (card.id, card.name, card.assistant) == ("tiny-brain", "Tiny test network", "brain_tumor")
    assert card.weights_path == (tmp_path / "m" / "models" / "model.pt").resolve()
    assert card.weights_format == "state_dict" and card.weights_sha256 == VALID_SHA
    assert card.is_synthetic_demo and "not for clinical use" in card.display_name
    assert card.input_roles == ["t1", "t1c", "t2", "flair"]
    assert card.thresholds == {"probability": 0.5, "min_volume_ml": 0.1}
    assert card.threshold("probability") == 0.5
    with pytest.raises(ModelError, match="no operating threshold 'crm'.*min_volume_ml, probability"):
        card.threshold("crm")
    card.thresholds["probability"] = 0.9  # a copy: the card is unchanged
    assert card.threshold("probability") == 0.5
    assert card.inference["mode"] == "sliding_window" and card.network["_target_"].endswith("SegResNet")


def test_hex_and_rgb_label_colours_give_the_same_label_definition():
    data = full_card()
    hex_card = copy.deepcopy(data)
    hex_card["labels"][1]["color"] = "#ffff00"
    as_rgb = ModelCard(data, Path(".")).label_definitions()[1]
    as_hex = ModelCard(hex_card, Path(".")).label_definitions()[1]
    assert as_rgb.color_rgb == as_hex.color_rgb == (1.0, 1.0, 0.0)
    assert as_rgb.type.code == "108369006"


def _committed_cards() -> list[Path]:
    return sorted(p for p in bundled_models_dir().glob("*/model_card.json") if not p.parent.name.startswith("."))


@pytest.mark.parametrize("card_path", _committed_cards(), ids=lambda path: path.parent.name)
def test_every_bundled_model_card_is_valid_and_matches_its_weights(card_path):
    from assistcore.models.weights import verify_weights

    card = load_model_card(card_path)
    verify_weights(card)  # a retrained model committed without its new card fails here
    if card.is_synthetic_demo:
        assert "not for clinical use" in card.intended_use.lower()
