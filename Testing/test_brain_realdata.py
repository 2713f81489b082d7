"""BrainTumorLabel on a real glioma with the default model: a regression check, not a tuning target.

TCGA-DU-7294 (four skull-stripped sequences in BraTS space) against the majority vote of five BraTS 2020
algorithms (``fusion/mav.nii.gz``; no expert label exists for this case). The default model is CaPTk's
DeepMedic (trained on 587 gliomas), converted; nothing was tuned on this case.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.realdata, pytest.mark.models, pytest.mark.cli]


def _dice(out, case_id, reference_path) -> dict[str, float]:
    from assistcore.brain.agreement import region_agreement
    from assistcore.brain.regions import from_convention
    from assistcore.image_io import read_image

    predicted = read_image(out / f"{case_id}_flair_seg-brats2021.nii.gz")
    reference = read_image(reference_path)
    assert predicted.same_grid(reference), "labels must lie on the input's grid"
    rows = region_agreement(
        from_convention(reference.array_kji, "brats2021"),
        from_convention(predicted.array_kji, "brats2021"),
        reference.spacing_mm,
    )
    return {row["region"]: round(row["dice"], 3) for row in rows}


def test_the_default_model_finds_the_real_glioma_with_whole_tumour_dice_of_at_least_0_8(real_data_dir, tmp_path):
    from radassist.bench_brain import case_paths
    from radassist.brain_app import label_case_to_folder

    report = label_case_to_folder(case_paths(real_data_dir), tmp_path / "out", {"device": "cpu"}, case_id="DU7294")
    assert report["model"]["model_id"] == "brain-tumor-deepmedic-captk" and not report["model"]["synthetic_demo_model"]
    assert [f["file"] for f in report["model"]["files_run"]] == ["model.onnx"]
    assert "does not separate necrosis from non-enhancing" in report["model"]["label_notes"][0]
    reference = next((real_data_dir / "brain_tcga" / "TCGA-DU-7294").rglob("fusion/mav.nii.gz"))
    dice = _dice(tmp_path / "out", "DU7294", reference)
    print("TCGA-DU-7294 Dice against the fused BraTS algorithms:", dice)
    assert dice["whole_tumor"] >= 0.80, dice


def test_with_flair_and_t1c_only_the_missing_channels_are_named_in_the_report(real_data_dir, tmp_path):
    from radassist.bench_brain import case_paths
    from radassist.brain_app import label_case_to_folder

    paths = {role: path for role, path in case_paths(real_data_dir).items() if role in ("t1c", "flair")}
    report = label_case_to_folder(paths, tmp_path / "out", {"device": "cpu"}, case_id="DU7294")
    warnings = report["model"]["warnings"]
    assert len(warnings) == 2 and "T1 was not given" in warnings[0] and "T2 was not given" in warnings[1]
    reference = next((real_data_dir / "brain_tcga" / "TCGA-DU-7294").rglob("fusion/mav.nii.gz"))
    print("FLAIR + T1c only:", _dice(tmp_path / "out", "DU7294", reference))
