"""Matching series to the four brain tumour roles by description or file name."""

from __future__ import annotations

import pytest

from assistcore.brain.inputs import match_files_in_folder, match_roles
from assistcore.errors import InputError


def test_typical_dicom_descriptions_match_their_roles():
    descriptions = {
        "uid1": "AX T1 POST GAD",
        "uid2": "AX T2 FLAIR",
        "uid3": "Ax T2 FSE",
        "uid4": "AX T1 SE",
        "uid5": "localizer",
    }
    assert match_roles(descriptions) == {"t1c": "uid1", "flair": "uid2", "t2": "uid3", "t1": "uid4"}


def test_user_pattern_overrides_the_default_for_one_role():
    descriptions = {"a": "sag mprage", "b": "T1 nativ", "c": "T1 KM"}  # German: KM = Kontrastmittel
    assert match_roles(descriptions, {"t1c": r"KM"})["t1c"] == "c"


def test_two_candidates_for_one_role_are_named_in_the_error():
    with pytest.raises(InputError, match=r"'T2 TSE'.*'T2 FSE'"):
        match_roles({"a": "T2 TSE", "b": "T2 FSE"})


@pytest.mark.realdata
def test_brats_and_raw_clinical_file_names_match(real_data_dir):
    brats = match_files_in_folder(real_data_dir / "brain_tcga/TCGA-DU-7294/TCGA-DU-7294_brainles/raw_bet")
    assert {role: path.name for role, path in brats.items()} == {
        "t1": "TCGA-DU-7294_t1_bet.nii.gz",
        "t1c": "TCGA-DU-7294_t1c_bet.nii.gz",
        "t2": "TCGA-DU-7294_t2_bet.nii.gz",
        "flair": "TCGA-DU-7294_fla_bet.nii.gz",
    }
    raw = match_files_in_folder(real_data_dir / "brain_tcga/TCGA-FG-6692_raw")
    assert raw["t1c"].name.startswith("MRHR_T1_AX_POST_GAD") and raw["t1"].name.startswith("T1_AX")
    assert raw["flair"].name.startswith("MRHR_FLAIR") and raw["t2"].name.startswith("MRHR_T2")
