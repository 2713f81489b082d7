"""`radassist spine train --init`: the segmentation network fine-tuned from a trained model's weights, the
classifiers and their operating thresholds copied, and a clear refusal of a model that cannot be fine-tuned."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from model_fixtures import make_random_spine_model

pytest.importorskip("torch")
pytest.importorskip("monai")


def _tiny_training_data():
    """Two 160 x 160 pictures (values 0..1) with a block of vertebra and a strip of cord: enough for a few steps."""
    from assistcore.spine.training_data import SpineTrainingData

    rng = np.random.default_rng(3)
    data = SpineTrainingData()
    for _ in range(2):
        classes = np.zeros((160, 160), np.uint8)
        classes[40:90, 50:90] = 3
        classes[20:140, 100:106] = 6
        data.pictures.append((rng.random((160, 160)) * 0.3 + classes * 0.1).astype(np.float32))
        data.classes.append(classes)
    return data


def _init_model(folder: Path, seed: int = 7) -> Path:
    """A complete spine model whose segmentation weights are drawn with torch seed ``seed`` (not the trainer's
    seed 0, so that fine-tuned and from-random weights can be told apart) and whose thresholds are not 0.5."""
    import torch

    from assistcore.models.loader import build_network
    from assistcore.models.weights import weights_card_entry
    from assistcore.spine.model import SEGMENTATION_NETWORK

    make_random_spine_model(folder, "spine-init")
    torch.manual_seed(seed)
    torch.save(build_network(SEGMENTATION_NETWORK).state_dict(), folder / "segmentation.pt")
    card = json.loads((folder / "model_card.json").read_text())
    card["weights"] = weights_card_entry(folder / "segmentation.pt")
    card["operating_thresholds"] = {"osteophyte": 0.61, "herniation": 0.22, "pll_thickened": 0.33, "lf_thickened": 0.17}
    (folder / "model_card.json").write_text(json.dumps(card, indent=2))
    return folder


def _largest_difference(first: dict, second: dict) -> float:
    return max(float((first[key].float() - second[key].float()).abs().max()) for key in first)


def test_fine_tuning_starts_from_the_init_weights_and_moves_them_little_in_one_step(tmp_path):
    from assistcore.models.loader import load_state_dict_file
    from assistcore.spine.network_training import train_segmentation
    from assistcore.spine.training import initial_model

    init = initial_model(str(_init_model(tmp_path / "init")))
    init_state = load_state_dict_file(init.weights_path)
    data = _tiny_training_data()

    untouched = train_segmentation(data, tmp_path / "zero.pt", 0, 0, batch_size=2, initial_weights=init.weights_path)
    assert _largest_difference(load_state_dict_file(untouched.weights_path), init_state) == 0.0

    tuned = train_segmentation(data, tmp_path / "one.pt", 1, 0, batch_size=2, initial_weights=init.weights_path)
    from_random = train_segmentation(data, tmp_path / "random.pt", 1, 0, batch_size=2)
    tuned_state = load_state_dict_file(tuned.weights_path)
    assert 0.0 < _largest_difference(tuned_state, init_state) < 1e-3  # one step at the fine-tune warm-up rate
    assert _largest_difference(load_state_dict_file(from_random.weights_path), init_state) > 0.05
    assert "AdamW 0.0007" in tuned.recipe["optimizer"]
    assert "AdamW 0.003" in from_random.recipe["optimizer"]


def test_fine_tuned_model_copies_the_classifiers_and_records_the_init_in_its_card(tmp_path, monkeypatch):
    import assistcore.spine.training as training
    from assistcore.models.card import load_model_card
    from assistcore.models.weights import sha256_of

    init = training.initial_model(str(_init_model(tmp_path / "init")))
    monkeypatch.setattr(training, "phantom_training_data", lambda seeds, progress=None: _tiny_training_data())
    out = tmp_path / "tuned"
    result = training.train_spine_models(out, 2, 1, 5, 0, domain_randomisation=0.5, init=init)
    card = training.spine_model_card(result, "pytest", "spine-tuned", 0)
    (out / "model_card.json").write_text(json.dumps(card, indent=2))

    for name in ("osteophyte", "axial"):
        assert (out / f"{name}.pt").read_bytes() == init.component_weights_path(name).read_bytes()
        assert card["training"][name]["steps"] == 0
        assert "spine-init" in card["training"][name]["copied_from"]
    assert card["training"]["init"]["model_id"] == "spine-init"
    assert card["training"]["init"]["segmentation_weights_sha256"] == sha256_of(init.weights_path)
    assert card["operating_thresholds"] == init.thresholds
    assert "50%" in card["training"]["segmentation"]["augmentation"]
    assert card["weights"]["sha256"] != init.weights_sha256  # trained one step: new weights, new checksum
    assert load_model_card(out).id == "spine-tuned"


def test_init_that_cannot_be_fine_tuned_is_refused_with_the_reason(tmp_path):
    from assistcore.errors import ModelError
    from assistcore.spine.training import initial_model

    with pytest.raises(ModelError, match="Unknown model 'no-such-model'"):
        initial_model("no-such-model")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="model_card.json"):
        initial_model(str(empty))

    other = _init_model(tmp_path / "other")
    card = json.loads((other / "model_card.json").read_text())
    card["network"]["channels"] = [8, 16, 32, 64]
    (other / "model_card.json").write_text(json.dumps(card, indent=2))
    with pytest.raises(ModelError, match="segmentation network config differs"):
        initial_model(str(other))

    damaged = _init_model(tmp_path / "damaged")
    (damaged / "axial.pt").write_bytes(b"not the weights")
    with pytest.raises(ModelError):
        initial_model(str(damaged))


@pytest.mark.cli
def test_spine_train_with_a_bad_init_fails_in_one_line_and_writes_nothing(tmp_path, capsys):
    from radassist.cli.main import main

    out = tmp_path / "model"
    code = main(["spine", "train", "--init", str(tmp_path / "missing-model"), "--out", str(out), "--steps", "1"])
    assert code != 0
    error = capsys.readouterr().err
    assert "missing-model: no such model folder" in error
    assert not out.exists()
