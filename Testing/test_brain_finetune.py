"""Fine-tuning the DeepMedic brain model on a site's BraTS-layout cases (`radassist brain train --init`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radassist.cli.main import main

pytestmark = [pytest.mark.models, pytest.mark.cli, pytest.mark.slow]
INIT = "brain-tumor-deepmedic-captk"


@pytest.fixture(scope="module")
def a_brats_layout_folder(tmp_path_factory):
    """Two phantom cases as `<case>/<case>_{t1,t1ce,t2,flair,seg}.nii.gz`, labels in BraTS 2021 values."""
    from assistcore.image_io import read_image, write_image
    from assistcore.phantoms.brain import generate_brain_phantom, write_phantom_case

    root = tmp_path_factory.mktemp("training")
    for seed in (11, 12):
        case = f"CASE{seed}"
        paths = write_phantom_case(generate_brain_phantom(seed, spacing_mm=3.0), root / case, case)
        paths["t1c"].rename(root / case / f"{case}_t1ce.nii.gz")
        seg = read_image(paths["seg"])
        write_image(seg.with_array(np.where(seg.array_kji == 3, 4, seg.array_kji).astype(np.uint8)), paths["seg"])
    return root


def test_a_short_fine_tune_writes_a_new_model_with_its_provenance_licence_and_onnx_export(
    a_brats_layout_folder, tmp_path, monkeypatch, capsys
):
    from assistcore.models.card import load_model_card
    from assistcore.models.loader import load_network
    from assistcore.models.registry import ModelRegistry
    from assistcore.models.weights import sha256_of

    out = tmp_path / "models" / "dm-site"
    code = main(
        [
            "brain",
            "train",
            "--init",
            INIT,
            "--data",
            str(a_brats_layout_folder),
            "--out",
            str(out),
            "--steps",
            "2",
            "--model-id",
            "dm-site",
            "--json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    card = load_model_card(out)  # validated against the schema
    init = ModelRegistry().get(INIT).card
    assert card.id == "dm-site" and not card.is_synthetic_demo
    training = card.data["training"]
    assert training["fine_tuned_from"] == {"id": INIT, "version": init.version, "weights_sha256": init.weights_sha256}
    assert training["cases"] == ["CASE11", "CASE12"] and training["steps"] == 2
    assert card.weights_sha256 == sha256_of(out / "model.pt") != init.weights_sha256, "the weights were trained"
    assert (out / "SBIA_license.txt").read_bytes() == (init.folder / "SBIA_license.txt").read_bytes()
    assert card.data["exported_program"]["format"] == "onnx" and card.data["validation"] == []
    network = load_network(card, "cpu", cache=False)
    block = np.zeros((1, 4, 81, 81, 81), np.float32)
    assert network(block).shape == (1, 5, 1, 1, 1)
    assert json.loads(capsys.readouterr().out)["model_id"] == "dm-site"


def test_a_training_case_missing_a_sequence_is_named_and_nothing_is_written(a_brats_layout_folder, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(a_brats_layout_folder, data)
    (data / "CASE12" / "CASE12_flair.nii.gz").unlink()
    out = tmp_path / "out"
    assert main(["brain", "train", "--init", INIT, "--data", str(data), "--out", str(out), "--steps", "1"]) == 1
    err = capsys.readouterr().err
    assert "CASE12" in err and "flair" in err and "Traceback" not in err
    assert not out.exists()
