"""The demo notice ("not for clinical use") has one home, assistcore.models.card, that trainers and reports use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistcore.errors import ModelError
from assistcore.models.card import (
    DEMO_INTENDED_USE,
    demo_result_note,
    load_model_card,
    trained_card_header,
    validate_card_data,
)

BUNDLED = Path(__file__).resolve().parents[1] / "Resources" / "Models"


def test_every_bundled_model_trained_on_phantoms_opens_with_the_one_demo_notice():
    synthetic = [
        path
        for path in sorted(BUNDLED.glob("*/model_card.json"))
        if json.loads(path.read_text(encoding="utf-8")).get("synthetic_training_data")
    ]
    assert synthetic, "the bundled demo models are missing"
    for path in synthetic:
        assert load_model_card(path.parent).data["intended_use"].startswith(DEMO_INTENDED_USE), path


def test_a_demo_intended_use_passes_the_schema_and_a_card_without_the_notice_does_not():
    card = load_model_card(BUNDLED / "crm-demo").data
    header = trained_card_header("m", "M", "crm", "task", "description", "Train on your own patients.", synthetic=True)
    validate_card_data({**card, "intended_use": header["intended_use"]}, "test card")
    with pytest.raises(ModelError, match="not for clinical use"):
        validate_card_data({**card, "intended_use": "Train on your own patients."}, "test card")


def test_a_report_carries_the_demo_note_only_when_a_demo_model_made_it():
    note = demo_result_note({"synthetic_demo_model": True})
    assert note == "Demo model trained on synthetic data: not for clinical use."
    assert demo_result_note({"synthetic_demo_model": True}, "models").startswith("Demo models trained on synthetic")
    assert demo_result_note({"synthetic_demo_model": False}) == ""
    assert demo_result_note({}) == ""
