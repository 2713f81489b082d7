"""BrainTumorLabel end to end: files in, labels on the reference grid out, named by the consensus, with QA."""

from __future__ import annotations

import json

import numpy as np
import pytest
from model_fixtures import make_random_brain_model

from assistcore.errors import InputError
from assistcore.image_io import read_image
from radassist.cli.main import main

pytestmark = [pytest.mark.models, pytest.mark.cli]


@pytest.fixture(scope="module")
def random_brain_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    make_random_brain_model(folder / "brain-random")
    return folder


@pytest.fixture
def with_random_model(random_brain_model, monkeypatch):
    monkeypatch.setenv("RADASSIST_MODELS_PATH", str(random_brain_model))
    return "brain-random"


@pytest.fixture(scope="module")
def a_phantom_case(tmp_path_factory):
    from assistcore.phantoms.brain import generate_brain_phantom, write_phantom_case

    folder = tmp_path_factory.mktemp("case")
    return write_phantom_case(generate_brain_phantom(7, spacing_mm=3.0), folder, "PH007")


def _args(case, roles=("t1", "t1c", "t2", "flair")):
    return [argument for role in roles for argument in (f"--{role}", str(case[role]))]


def test_phantom_case_gives_labels_on_the_reference_grid_with_sidecar_report_and_scene(
    with_random_model, a_phantom_case, tmp_path, capsys
):
    out = tmp_path / "out"
    code = main(["brain", *_args(a_phantom_case), "--out", str(out), "--model", with_random_model, "--json"])
    assert code == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    labels = read_image(out / "PH007_flair_seg-brats2021.nii.gz")
    flair = read_image(a_phantom_case["flair"])
    assert labels.same_grid(flair), "labels must lie exactly on the reference input's grid"
    assert set(np.unique(labels.array_kji)) <= {0, 1, 2, 4}
    sidecar = json.loads((out / "PH007_labels.json").read_text())
    assert sidecar["convention"] == "brats2021" and [label["value"] for label in sidecar["labels"]] == [1, 2, 4]
    assert sidecar["provenance"]["model_id"] == "brain-random" and sidecar["provenance"]["device"] == "cpu"
    assert {"lesions", "qa", "uncertainty", "seconds_per_stage", "region_volumes_ml"} <= report.keys()
    assert (out / "scene.mrb").stat().st_size > 10_000 and list((out / "overlays").glob("*.png"))


def test_flair_and_t1c_alone_are_enough_and_regions_export_as_four_masks(
    with_random_model, a_phantom_case, tmp_path, capsys
):
    out = tmp_path / "out"
    args = ["brain", *_args(a_phantom_case, ("t1c", "flair")), "--out", str(out), "--label-convention", "regions"]
    assert main([*args, "--fast", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"]["parameters"]["sequences_used"] == ["t1c", "flair"]
    for region in ("whole_tumor", "tumor_body", "enhancing", "non_enhancing"):
        assert set(np.unique(read_image(out / f"PH007_flair_{region}.nii.gz").array_kji)) <= {0, 1}


def test_missing_flair_is_named(with_random_model, a_phantom_case, tmp_path, capsys):
    assert main(["brain", *_args(a_phantom_case, ("t1", "t1c", "t2")), "--out", str(tmp_path / "o")]) == 1
    assert "FLAIR" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_same_file_for_two_roles_is_refused(with_random_model, a_phantom_case, tmp_path, capsys):
    args = ["--t1c", str(a_phantom_case["flair"]), "--flair", str(a_phantom_case["flair"])]
    assert main(["brain", *args, "--out", str(tmp_path / "o")]) == 1
    assert "same input" in capsys.readouterr().err


def test_a_2d_image_is_refused(with_random_model, a_phantom_case, tmp_path, capsys):
    import SimpleITK as sitk

    flat = tmp_path / "flat.nii.gz"
    sitk.WriteImage(sitk.Image(32, 32, sitk.sitkFloat32), str(flat))
    assert main(["brain", "--t1c", str(a_phantom_case["t1c"]), "--flair", str(flat), "--out", str(tmp_path / "o")]) == 1
    assert "flat.nii.gz" in capsys.readouterr().err


def test_cancel_token_stops_the_pipeline(with_random_model, a_phantom_case):
    from assistcore.errors import CancelledError
    from assistcore.models.runner import CancelToken
    from assistcore.pipelines.brain_tumor import run

    token = CancelToken()
    token.cancel()
    images = {role: read_image(a_phantom_case[role]) for role in ("t1c", "flair")}
    with pytest.raises(CancelledError):
        run(images, {"model_id": with_random_model}, cancel_token=token)


def test_sequences_on_another_grid_are_refused_by_the_in_memory_pipeline(with_random_model, a_phantom_case):
    from assistcore.pipelines.brain_tumor import run

    flair = read_image(a_phantom_case["flair"])
    shifted = read_image(a_phantom_case["t1c"])
    shifted.origin_lps = (shifted.origin_lps[0] + 5.0, *shifted.origin_lps[1:])
    with pytest.raises(InputError, match="not on the flair grid"):
        run({"t1c": shifted, "flair": flair}, {"model_id": with_random_model})


@pytest.mark.realdata
@pytest.mark.slow
def test_raw_clinical_grids_are_registered_onto_flair(with_random_model, real_data_dir, tmp_path, capsys):
    folder = real_data_dir / "brain_tcga" / "TCGA-FG-6692_raw"
    args = [
        "--t1",
        str(next(folder.glob("T1_AX*"))),
        "--t1c",
        str(next(folder.glob("MRHR_T1_AX_POST*"))),
        "--t2",
        str(next(folder.glob("MRHR_T2*"))),
        "--flair",
        str(next(folder.glob("MRHR_FLAIR*"))),
    ]
    assert main(["brain", *args, "--out", str(tmp_path / "o"), "--case-id", "FG6692", "--fast", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {report["alignment"][role]["action"] for role in ("t1", "t1c", "t2")} == {"registered"}
    labels = read_image(tmp_path / "o" / "FG6692_flair_seg-brats2021.nii.gz")
    assert labels.same_grid(read_image(folder / next(folder.glob("MRHR_FLAIR*")).name))


@pytest.mark.slow
def test_annotation_loop_prelabel_queue_review_export_and_retrain(with_random_model, tmp_path, capsys):
    """Model pre-labels a batch, the queue serves the most uncertain case, accepted cases feed training."""
    from assistcore.brain.worklist import Worklist
    from assistcore.phantoms.brain import generate_brain_phantom, write_phantom_case

    cases = tmp_path / "cases"
    for seed in (11, 12):
        written = write_phantom_case(generate_brain_phantom(seed, spacing_mm=3.0), cases / f"P{seed}", f"P{seed}")
        written["seg"].unlink()  # cases arrive without labels
    database = tmp_path / "worklist.db"
    assert main(["brain", "prelabel", "--worklist", str(database), "--cases", str(cases), "--fast", "--json"]) == 0
    prelabelled = json.loads(capsys.readouterr().out)
    assert [record["status"] for record in prelabelled] == ["ok", "ok"]
    worklist = Worklist(database)
    queue = worklist.queue()
    assert [case.uncertainty for case in queue] == sorted((case.uncertainty for case in queue), reverse=True)
    case = worklist.claim_next("annotator")
    worklist.save_labels(case.case_id, "annotator", case.revision, case.labels_path)
    worklist.submit(case.case_id, "annotator")
    worklist.review(case.case_id, "reviewer", accept=True)
    training = tmp_path / "training"
    assert main(["brain", "export-training", "--worklist", str(database), "--out", str(training)]) == 0
    exported = sorted(path.name for path in (training / case.case_id).iterdir())
    assert f"{case.case_id}_seg.nii.gz" in exported and f"{case.case_id}_flair.nii.gz" in exported
    model_dir = tmp_path / "retrained"
    assert (
        main(
            [
                "brain",
                "train",
                "--data",
                str(training),
                "--out",
                str(model_dir),
                "--steps",
                "2",
                "--patch-size",
                "32",
                "--validation-phantoms",
                "1",
            ]
        )
        == 0
    )
    card = json.loads((model_dir / "model_card.json").read_text())
    assert "--data" in card["training"]["command"]


def test_an_imported_monai_brats_bundle_labels_a_case(a_phantom_case, tmp_path, monkeypatch, capsys):
    """MONAI's brats_mri_segmentation layout: channels T1c, T1, T2, FLAIR; sigmoid outputs TC, WT, ET."""
    from model_fixtures import make_monai_bundle

    monkeypatch.setenv("RADASSIST_USER_MODELS", str(tmp_path / "user"))
    bundle = make_monai_bundle(tmp_path / "brats_mri_segmentation")
    assert main(["models", "import", str(bundle)]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    args = ["brain", *_args(a_phantom_case), "--out", str(out), "--model", "brats_mri_segmentation", "--fast"]
    assert main([*args, "--json"]) == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert report["model"]["model_id"] == "brats_mri_segmentation"
    assert report["model"]["parameters"]["sequences_used"] == ["t1c", "t1", "t2", "flair"]  # the bundle's order
    labels = read_image(out / "PH007_flair_seg-brats2021.nii.gz")
    assert labels.same_grid(read_image(a_phantom_case["flair"])) and set(np.unique(labels.array_kji)) <= {0, 1, 2, 4}


def test_region_outputs_become_nested_labels():
    from assistcore.brain.model import labels_from_region_probabilities

    tc = np.array([0.9, 0.9, 0.1, 0.1])
    wt = np.array([0.9, 0.9, 0.9, 0.1])
    et = np.array([0.9, 0.1, 0.1, 0.1])
    probabilities = np.stack([tc, wt, et]).reshape(3, 1, 1, 4)
    labels = labels_from_region_probabilities(probabilities, ["TC", "WT", "ET"])
    assert labels.ravel().tolist() == [3, 1, 2, 0]


def test_out_on_the_input_folder_is_refused_and_with_overwrite_keeps_every_input(
    with_random_model, a_phantom_case, tmp_path, capsys
):
    import shutil

    folder = tmp_path / "patient"
    folder.mkdir()
    case = {role: shutil.copy2(a_phantom_case[role], folder) for role in ("t1", "t1c", "t2", "flair")}
    (folder / "notes.txt").write_text("dictated findings")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    args = ["brain", *_args(case), "--out", str(folder), "--model", with_random_model, "--fast"]
    assert main(args) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert main([*args, "--overwrite"]) == 0, capsys.readouterr().err
    assert main(args) == 0, "a folder holding an earlier brain result is accepted without --overwrite"
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.name in before}
    assert after == before, "inputs and notes must survive both runs byte for byte"
    assert (folder / "PH007_flair_seg-brats2021.nii.gz").is_file() and (folder / "report.json").is_file()
