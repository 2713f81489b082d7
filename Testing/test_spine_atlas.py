"""SpineAssist levels from the cord and the PAM50 atlas: the shipped template data and its label convention, the
match on the template itself, the real samples (the cervical T2 with the axial series, the thoraco-lumbar T2:
named only when the evidence holds, else levels unknown with the reason), the overview, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistcore.errors import InputError
from assistcore.image import Image

REPO = Path(__file__).resolve().parents[1]
#: the cervical body between the first two discs the atlas finds on the real cervical T2 (LPS mm), as a user
#: would click it in the viewer; the issue's reading of the sample: C3..C5 visible under the C2/3 disc
CERVICAL_C3_POINT = (6.2, -18.9, 23.5)


def test_the_shipped_template_data_follow_the_sct_convention_and_carry_their_attribution():
    from assistcore.spine.atlas import template

    strip, document = template()
    assert strip.shape == (550, 65) and np.isfinite(strip).all()
    names = [d["name"] for d in document["discs"]]
    assert names[:4] == ["C1/2", "C2/3", "C3/4", "C4/5"] and "C7/T1" in names and "T12/L1" in names
    assert next(d for d in document["discs"] if d["name"] == "C2/3")["value"] == 3  # SCT: 3 = disc C2/C3
    rows = [d["row_mm"] for d in document["discs"]]
    assert rows == sorted(rows) and 14 <= np.median(np.diff(rows[:7])) <= 20  # cervical discs ~17 mm apart
    assert "De Leener" in document["citation"] and "MIT" in document["licence"]
    notices = (REPO / "THIRD_PARTY_NOTICES.md").read_text()
    assert "PAM50" in notices and "NeuroImage 165:170-179, 2018" in notices
    assert "Copyright (c) 2014 NeuroPoly" in notices


def _template_case(real_data_dir: Path, top_row_mm: int, bottom_row_mm: int) -> tuple[Image, Image]:
    """The real PAM50 T2 (an averaged real image with known levels) cropped along the cord, and a class map
    with its cord mask: what the network gives on a real sagittal series."""
    from assistcore.image_io import read_image

    folder = real_data_dir / "spine_pam50_small"
    t2 = read_image(folder / "PAM50_small_t2.nii.gz", as_scan=True)
    cord = read_image(folder / "PAM50_small_cord.nii.gz")
    size_k = t2.shape_kji[0]
    # LAS grid, k superior with 2 mm slices: rows (mm from the template top) -> k range
    k_low, k_high = size_k - 1 - bottom_row_mm // 2, size_k - 1 - top_row_mm // 2
    box = (slice(k_low, k_high + 1), slice(None), slice(None))
    image = t2.crop(box)
    classes = cord.crop(box).with_array(np.where(np.asarray(cord.crop(box).array_kji) > 0.5, 6, 0).astype(np.uint8))
    return image, classes


@pytest.mark.realdata
def test_the_atlas_names_the_template_itself_from_c2_down(real_data_dir):
    from assistcore.spine.atlas import match_atlas

    image, classes = _template_case(real_data_dir, 60, 200)  # C1/2 .. C7/T1 region
    match = match_atlas(image, classes)
    assert match.confident and match.confidence >= 0.5, match.record()
    assert [d.name for d in match.discs][:3] == ["C1/2", "C2/3", "C3/4"]
    heights = [d.center_lps[2] for d in match.discs]
    assert heights == sorted(heights, reverse=True)  # top down


@pytest.fixture(scope="module")
def cervical_runs(real_data_dir, tmp_path_factory):
    """The real cervical T2 with the 19-slice axial T2 through the bundled model: without and with an anchor."""
    from radassist.spine_app import run_case_to_folder

    sagittal = real_data_dir / "spine_sct_cervical" / "t2" / "t2.nii.gz"
    axial = real_data_dir / "spine_sct_axial" / "t2_axial_cervical.nii.gz"
    folder = tmp_path_factory.mktemp("cervical")
    runs = {}
    for name, anchor in (("plain", None), ("anchor", (CERVICAL_C3_POINT, "C3"))):
        report = run_case_to_folder(sagittal, folder / name, {"device": "cpu", "anchor": anchor}, ax_t2=[axial])
        runs[name] = (report, json.loads((folder / name / "levels.json").read_text()), folder / name)
    return runs


@pytest.mark.models
@pytest.mark.realdata
def test_the_real_cervical_t2_without_c2_is_not_guessed_and_its_discs_are_located(cervical_runs):
    report, levels, _ = cervical_runs["plain"]
    atlas = levels["atlas"]
    assert len(atlas["discs"]) == 3  # the three discs of the crop are located along the cord
    if levels["labelling"]["method"] == "atlas":  # named only when unambiguous, then from C2/3 down
        assert levels["discs"][0]["name"] == "C2/3"
    else:
        assert levels["labelling"]["method"] == "none" and levels["vertebrae"] == [] and levels["discs"] == []
        assert "unknown" in levels["labelling"]["reason"].lower()
        assert any("Levels unknown" in w for w in report["warnings"])
        assert {c["top_disc"] for c in atlas["candidates"][:2]} == {"C2/3", "C3/4"}


@pytest.mark.models
@pytest.mark.realdata
def test_the_real_cervical_t2_with_an_anchor_names_consecutive_levels_and_maps_the_axial_slices(cervical_runs):
    _report, levels, folder = cervical_runs["anchor"]
    assert levels["labelling"]["method"] == "anchor"
    names = [v["name"] for v in levels["vertebrae"]]
    assert names == ["C2", "C3", "C4", "C5"], names  # consecutive from C2 down, no gap
    centres = {v["name"]: v["center_lps"] for v in levels["vertebrae"]}
    discs = levels["discs"]
    assert [d["name"] for d in discs] == ["C2/3", "C3/4", "C4/5"]
    for disc in discs:  # each disc lies between its two bodies
        assert centres[disc["lower"]][2] < disc["center_lps"][2] < centres[disc["upper"]][2], disc["name"]
    mapped = {d["name"]: [s["slice_index"] for s in d["axial_slices"]] for d in discs}
    assert all(mapped.values()), mapped  # every disc has an axial slice through it
    # the axial series runs inferior to superior: higher discs on higher slices
    assert max(mapped["C4/5"]) < min(mapped["C3/4"]) <= max(mapped["C3/4"]) < min(mapped["C2/3"])
    slices = levels["axial_series"][0]["slices"]
    assert {s["level"] for s in slices if s["level"]} == {"C2/3", "C3/4", "C4/5"}
    from PIL import Image as PILImage

    with PILImage.open(folder / "overview.png") as picture:
        assert picture.height >= 512


@pytest.mark.models
@pytest.mark.realdata
def test_the_thoraco_lumbar_sample_is_not_called_cervical(real_data_dir, tmp_path):
    from radassist.spine_app import run_case_to_folder

    report = run_case_to_folder(
        real_data_dir / "spine_sct_lumbar" / "t2_lumbar.nii.gz", tmp_path / "out", {"device": "cpu"}
    )
    levels = json.loads((tmp_path / "out" / "levels.json").read_text())
    named = [v["name"] for v in levels["vertebrae"]]
    assert not any(name.startswith("C") for name in named), named
    if levels["labelling"]["method"] == "none":
        assert "unknown" in report["labelling"]["reason"].lower()
        assert levels["atlas"]["discs"]  # located along the cord, not named
    from PIL import Image as PILImage

    with PILImage.open(tmp_path / "out" / "overview.png") as picture:
        assert picture.height >= 512


@pytest.mark.models
@pytest.mark.realdata
def test_bad_sagittal_inputs_give_one_clear_message_and_write_nothing(real_data_dir, tmp_path):
    from assistcore.image_io import read_image, write_image
    from radassist.spine_app import run_case_to_folder

    sagittal = read_image(real_data_dir / "spine_sct_cervical" / "t2" / "t2.nii.gz", as_scan=True)
    axial = real_data_dir / "spine_sct_axial" / "t2_axial_cervical.nii.gz"
    with pytest.raises(InputError, match="not sagittal"):
        run_case_to_folder(axial, tmp_path / "axial", {"device": "cpu"})
    # PSR: j is superior; 30 rows of 1 mm
    short = sagittal.crop((slice(None), slice(10, 40), slice(None)))
    write_image(short, tmp_path / "short.nii.gz")
    with pytest.raises(InputError, match="at least 40 mm"):
        run_case_to_folder(tmp_path / "short.nii.gz", tmp_path / "short", {"device": "cpu"})
    from scipy import ndimage

    noise = ndimage.gaussian_filter(np.random.default_rng(0).normal(0, 1, sagittal.shape_kji), 3.0)
    blank = sagittal.with_array((500 + 2000 * noise).astype(np.int16))  # soft texture, no spine, no cord
    write_image(blank, tmp_path / "blank.nii.gz")
    with pytest.raises(InputError, match="cord"):
        run_case_to_folder(tmp_path / "blank.nii.gz", tmp_path / "blank", {"device": "cpu"})
    for name in ("axial", "short", "blank"):
        assert not (tmp_path / name).exists()


@pytest.mark.models
def test_the_network_c2_names_a_phantom_and_the_atlas_record_travels_with_it():
    from assistcore.phantoms.spine import generate_spine_phantom
    from assistcore.pipelines.spine import run

    phantom = generate_spine_phantom(3, with_t1=False)
    result = run({"sag_t2": phantom.sagittal_t2}, {"device": "cpu"})  # the bundled spine model
    assert result.labelling.method == "network" and "C2" in result.labelling.reason
    names = [v.name for v in result.vertebrae if v.name != "C1"]
    assert names[:4] == ["C2", "C3", "C4", "C5"], names
    document = result.levels_document()
    assert document["labelling"]["method"] == "network" and document["atlas"]["discs"]
    assert {"score", "rival_score", "confidence", "candidates", "reason"} <= set(document["atlas"])


def test_domain_randomisation_keeps_the_patches_and_changes_what_real_images_vary_in():
    from assistcore.spine.training_data import _domain_randomise

    rng = np.random.default_rng(1)
    classes = np.zeros((4, 64, 64), dtype=np.int64)
    classes[:, 10:25, 10:40] = 3  # a body
    classes[:, 25:30, 10:40] = 4  # a disc under it
    pictures = np.full((4, 64, 64), 0.5, dtype=np.float32)
    pictures[classes == 4] = 0.9
    out = _domain_randomise(pictures, classes, rng)
    assert out.shape == pictures.shape and out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1.5
    assert not np.allclose(out, pictures) and np.all(pictures[classes == 4] == np.float32(0.9))  # input untouched
