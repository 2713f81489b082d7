"""Synthetic cervical-spine phantoms: reproducible, labels from the table, anatomy in order, truth = rendering.

A phantom takes about a second; the module builds a handful and shares them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from assistcore.errors import InputError
from assistcore.phantoms import spine
from assistcore.phantoms.spine import (
    HERNIATION_TYPES,
    SPINE_LABELS,
    generate_spine_phantom,
    render_spine_phantom_montage,
    write_spine_phantom_case,
)
from assistcore.phantoms.spine.plan import _plan

FORCED = {
    "C3/4": {
        "herniation": "paracentral",
        "side": "left",
        "depth_mm": 4.5,
        "pll_mm": 4.5,
        "lf_mm": 5.0,
        "listhesis_grade": 0,
    },
    "C4/5": {"herniation": "normal", "listhesis_grade": 2, "listhesis_direction": "anterior"},
    "C5/6": {"herniation": "central", "depth_mm": 5.0, "listhesis_grade": 0, "pll_mm": 1.2, "lf_mm": 1.2},
    "C6/7": {"herniation": "normal", "listhesis_grade": 0},
    "C4": {"osteophyte_mm": 0.0},
    "C5": {"osteophyte_mm": 0.0},
    "C6": {"osteophyte_mm": 4.0, "osteophyte_site": "anterior-inferior"},
}


@pytest.fixture(scope="module")
def forced():
    return generate_spine_phantom(3, findings=FORCED, cut_c2=False, sagittal_spacing_mm=(0.8, 0.8, 3.0))


@pytest.fixture(scope="module")
def cut():
    return generate_spine_phantom(5, cut_c2=True)


@pytest.fixture(scope="module")
def drawn():
    return [generate_spine_phantom(seed) for seed in (0, 1)]


def all_grids(phantom):
    pairs = [(phantom.sagittal_t2, phantom.sagittal_labels)]
    if phantom.sagittal_t1 is not None:
        pairs.append((phantom.sagittal_t1, phantom.sagittal_labels))
    pairs += list(zip(phantom.axial_t2_blocks, phantom.axial_label_blocks))
    return pairs


def voxels_lps(labels_image, value):
    """LPS positions (n, 3) of the voxels holding ``value``."""
    index_kji = np.argwhere(labels_image.array_kji == value)
    return labels_image.index_to_lps(index_kji[:, ::-1].astype(float))


# ----- reproducibility and tables --------------------------------------------------------------------------
def test_same_seed_gives_identical_arrays_and_truth():
    first, second = generate_spine_phantom(11), generate_spine_phantom(11)
    for (image_a, labels_a), (image_b, labels_b) in zip(all_grids(first), all_grids(second), strict=True):
        np.testing.assert_array_equal(image_a.array_kji, image_b.array_kji)
        np.testing.assert_array_equal(labels_a.array_kji, labels_b.array_kji)
        assert image_a.same_grid(image_b)
    assert json.dumps(first.truth()) == json.dumps(second.truth())


def test_different_seeds_give_different_images_and_findings(drawn):
    a, b = drawn
    assert a.sagittal_t2.shape_kji != b.sagittal_t2.shape_kji or not np.array_equal(
        a.sagittal_t2.array_kji, b.sagittal_t2.array_kji
    )
    assert a.truth()["levels"] != b.truth()["levels"]


def test_every_label_on_every_grid_is_in_the_table(drawn, forced, cut):
    for phantom in (*drawn, forced, cut):
        for _image, labels in all_grids(phantom):
            assert labels.array_kji.dtype == np.uint8
            assert set(np.unique(labels.array_kji).tolist()) <= set(SPINE_LABELS)
    names = list(SPINE_LABELS.values())
    for name in ("C2", "C7", "C2/3", "C6/7", "C7/T1", "dural_sac", "cord", "PLL", "LF"):
        assert name in names


def test_images_and_their_label_maps_share_exact_grids(drawn, forced):
    for phantom in (*drawn, forced):
        for image, labels in all_grids(phantom):
            assert image.same_grid(labels, tolerance_mm=0.0)
            assert image.array_kji.dtype == np.float32 and np.isfinite(image.array_kji).all()
        if phantom.sagittal_t1 is not None:
            assert phantom.sagittal_t1.same_grid(phantom.sagittal_t2, tolerance_mm=0.0)


def test_sagittal_grid_is_thick_sagittal_slices_and_axial_blocks_are_thick_too(forced):
    sagittal = forced.sagittal_t2
    assert sagittal.spacing_mm == (0.8, 0.8, 3.0)
    assert abs(abs(sagittal.slice_normal_lps()[0]) - 1.0) < 1e-9  # slices stacked left-right
    assert 11 <= sagittal.shape_kji[0] <= 15
    for block in forced.axial_t2_blocks:
        assert 3.0 <= block.spacing_mm[2] <= 4.0 and 0.5 <= block.spacing_mm[0] <= 0.75
        assert abs(block.slice_normal_lps()[2]) > 0.8  # roughly axial


# ----- anatomy in order ------------------------------------------------------------------------------------
def test_bodies_c2_to_c7_are_present_and_ordered_top_down(forced):
    labels = forced.sagittal_labels
    superior = []
    for name in ("C2", "C3", "C4", "C5", "C6", "C7"):
        points = voxels_lps(labels, spine.LABEL_OF[name])
        assert len(points) > 50, name
        superior.append(points[:, 2].mean())
        assert forced.vertebra(name).visible
    assert all(np.diff(superior) < -8.0)  # each body's centroid at least 8 mm below the one above
    centres = [forced.vertebra(name).center_lps[2] for name in ("C2", "C3", "C4", "C5", "C6", "C7")]
    assert all(np.diff(centres) < -8.0)
    assert forced.first_visible_vertebra == "C2"


def test_a_cut_field_of_view_starts_at_c3(cut):
    assert cut.first_visible_vertebra == "C3"
    assert not cut.vertebra("C2").visible and cut.vertebra("C3").visible
    # the C2 body centre lies above the first row
    assert cut.vertebra("C2").center_lps[2] > cut.sagittal_t2.origin_lps[2]


def test_each_disc_lies_between_its_two_bodies(forced):
    labels = forced.sagittal_labels
    for level in forced.levels[:5]:
        normal = np.array(level.disc_normal_lps)
        disc_centroid = voxels_lps(labels, level.label).mean(axis=0)
        upper = voxels_lps(labels, spine.LABEL_OF[level.upper]).mean(axis=0)
        lower = voxels_lps(labels, spine.LABEL_OF[level.lower]).mean(axis=0)
        assert (upper - disc_centroid) @ normal > 4.0, level.name
        assert (lower - disc_centroid) @ normal < -4.0, level.name
        # the recorded centre agrees with the rendered disc (listhesis shears the disc a little)
        assert np.linalg.norm(disc_centroid - np.array(level.disc_center_lps)) < 3.0, level.name


def test_disc_normals_are_unit_vectors_along_the_local_spine_axis(drawn, forced):
    for phantom in (*drawn, forced):
        for level in phantom.levels:
            normal, posterior = np.array(level.disc_normal_lps), np.array(level.posterior_lps)
            assert abs(np.linalg.norm(normal) - 1.0) < 1e-3 and abs(np.linalg.norm(posterior) - 1.0) < 1e-3
            assert abs(normal @ posterior) < 1e-3
            axis = np.array(phantom.vertebra(level.upper).center_lps) - np.array(
                phantom.vertebra(level.lower).center_lps
            )
            assert normal @ axis / np.linalg.norm(axis) > 0.95, level.name
            assert normal[2] > 0.7 and posterior[1] > 0.7  # superior, posterior


def test_each_axial_block_crosses_the_disc_it_was_planned_for(drawn, forced):
    for phantom in (*drawn, forced):
        assert phantom.axial_t2_blocks, "expected axial blocks"
        for n, (block, labels, name) in enumerate(
            zip(phantom.axial_t2_blocks, phantom.axial_label_blocks, phantom.axial_block_levels, strict=True)
        ):
            level = phantom.level(name)
            assert level.axial_block == n
            index = block.lps_to_index(np.array(level.disc_center_lps))[0]
            assert -0.5 <= index[2] <= block.shape_kji[0] - 0.5
            assert 0 <= index[0] <= block.shape_kji[2] - 1 and 0 <= index[1] <= block.shape_kji[1] - 1
            # the slice through the disc centre shows that disc, and the canal behind it
            k = int(np.rint(index[2]))
            assert (labels.array_kji[k] == level.label).sum() > 100, name
            assert np.isin(labels.array_kji[k], (spine.DURAL_SAC, spine.CORD)).any()


# ----- findings: truth equals what is drawn ----------------------------------------------------------------
def posterior_reach(labels, value, origin, posterior, normal=None, band_mm=None, centre=None):
    """Largest projection on ``posterior`` (mm from ``origin``) of the voxels holding ``value``; with ``band_mm``
    only voxels within that distance of ``centre`` along ``normal``."""
    points = voxels_lps(labels, value)
    if band_mm is not None:
        points = points[np.abs((points - centre) @ normal) <= band_mm]
    return float(((points - origin) @ posterior).max())


def test_central_herniation_protrudes_past_the_posterior_body_line_by_its_depth(forced):
    level = forced.level("C5/6")
    assert level.herniation == "central" and level.side is None
    assert abs(level.protrusion_mm - 5.0) < 1.0
    labels = forced.sagittal_labels
    origin, posterior = np.array(level.disc_center_lps), np.array(level.posterior_lps)
    disc_reach = posterior_reach(labels, level.label, origin, posterior)
    body_reach = max(
        posterior_reach(labels, spine.LABEL_OF[name], origin, posterior) for name in (level.upper, level.lower)
    )
    assert disc_reach - body_reach >= level.protrusion_mm - 1.5
    # a normal disc of the same case stays within the body line
    normal_level = forced.level("C6/7")
    origin, posterior = np.array(normal_level.disc_center_lps), np.array(normal_level.posterior_lps)
    normal_reach = posterior_reach(labels, normal_level.label, origin, posterior)
    normal_body = posterior_reach(labels, spine.LABEL_OF["C6"], origin, posterior)
    assert normal_level.herniation == "normal" and normal_level.protrusion_mm < 1.0
    assert normal_reach - normal_body < 1.5


def test_paracentral_herniation_lies_off_the_midline_on_its_side(forced):
    level = forced.level("C3/4")
    assert level.herniation == "paracentral" and level.side == "left"
    labels = forced.sagittal_labels
    origin, posterior = np.array(level.disc_center_lps), np.array(level.posterior_lps)
    assert abs(level.protrusion_mm - 4.5) < 1.0
    points = voxels_lps(labels, level.label)
    disc_depth = (forced.vertebra("C3").depth_mm + forced.vertebra("C4").depth_mm) / 2
    behind = points[(points - origin) @ posterior > disc_depth / 2 + 2.0]  # the herniated material only
    assert len(behind) > 5
    left = np.cross(posterior, np.array(level.disc_normal_lps))  # P x S = L
    assert float(((behind - origin) @ left).mean()) > 1.5


def test_listhesis_offset_measured_on_the_labels_matches_the_recorded_grade(forced):
    level = forced.level("C4/5")
    assert level.listhesis_grade == 2 and level.listhesis_direction == "anterior"
    lower_depth = forced.vertebra("C5").depth_mm
    assert 0.25 < level.listhesis_mm / lower_depth <= 0.5
    labels = forced.sagittal_labels
    origin, posterior, normal = (
        np.array(v) for v in (level.disc_center_lps, level.posterior_lps, level.disc_normal_lps)
    )
    walls = {}
    for name in (level.upper, level.lower):
        centre = np.array(forced.vertebra(name).center_lps)
        walls[name] = posterior_reach(labels, spine.LABEL_OF[name], origin, posterior, normal, 2.0, centre)
    offset = walls[level.upper] - walls[level.lower]  # negative: the upper body slipped forwards
    assert offset < 0
    assert abs(-offset - level.listhesis_mm) < 1.5
    for name in ("C5/6", "C6/7"):
        assert forced.level(name).listhesis_grade == 0 and forced.level(name).listhesis_mm < 1.0


def test_thickened_ligaments_are_flagged_and_normal_ones_are_not(forced):
    thick, thin = forced.level("C3/4"), forced.level("C5/6")
    assert thick.pll_thickened and thick.pll_thickness_mm > 3.0
    assert thick.lf_thickened and thick.lf_thickness_mm > 2.5
    assert not thin.pll_thickened and thin.pll_thickness_mm <= 2.0
    assert not thin.lf_thickened and thin.lf_thickness_mm <= 2.0
    # the thick PLL shows in the axial block through that disc
    block = forced.axial_label_blocks[thick.axial_block]
    thin_block = forced.axial_label_blocks[thin.axial_block]
    assert (block.array_kji == spine.PLL).sum() > 2 * (thin_block.array_kji == spine.PLL).sum()


def test_osteophyte_reaches_beyond_the_anterior_body_line(forced):
    vertebra = forced.vertebra("C6")
    assert vertebra.osteophyte and vertebra.osteophyte_site == "anterior-inferior"
    assert abs(vertebra.osteophyte_mm - 4.0) < 1.0
    level = forced.level("C5/6")
    posterior = np.array(level.posterior_lps)
    centre = np.array(vertebra.center_lps)
    reach_anterior = -posterior_reach(forced.sagittal_labels, vertebra.label, centre, -posterior)
    assert -reach_anterior - vertebra.depth_mm / 2 >= vertebra.osteophyte_mm - 1.5
    assert not forced.vertebra("C5").osteophyte and forced.vertebra("C5").osteophyte_mm == 0.0


def test_contrasts_follow_t1_and_t2_ordering(forced):
    labels = forced.sagittal_labels.array_kji
    csf, cord = labels == spine.DURAL_SAC, labels == spine.CORD
    t2, t1 = forced.sagittal_t2.array_kji, forced.sagittal_t1.array_kji
    assert np.median(t2[csf]) > np.median(t2[cord])  # CSF bright on T2
    assert np.median(t1[csf]) < np.median(t1[cord])  # and dark on T1


def test_findings_are_drawn_with_normal_and_abnormal_levels_both_common():
    counts = {kind: 0 for kind in HERNIATION_TYPES}
    listheses = osteophytes = thick_pll = thick_lf = 0
    for seed in range(300):
        plan = _plan(np.random.default_rng(seed), {})
        for name in spine.FINDING_LEVELS:
            disc = plan["discs"][name]
            counts[disc["herniation"]] += 1
            listheses += disc["listhesis_grade"] > 0
            thick_pll += disc["pll_mm"] > 2.0
            thick_lf += disc["lf_mm"] > 2.0
        osteophytes += sum(plan["bodies"][name]["osteophyte_mm"] > 0 for name in ("C3", "C4", "C5", "C6"))
    total = 300 * len(spine.FINDING_LEVELS)
    assert 0.4 < counts["normal"] / total < 0.85
    assert all(counts[kind] > 20 for kind in HERNIATION_TYPES)
    assert 20 < listheses < total / 4 and 20 < thick_pll < total / 3 and 20 < thick_lf < total / 3
    assert osteophytes > 50


# ----- inputs, files, pictures, speed -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"findings": {"C9/10": {"herniation": "central"}}},
        {"findings": {"C5/6": {"herniation": "sequestered"}}},
        {"findings": {"C5/6": {"colour": "red"}}},
        {"findings": {"C5/6": {"listhesis_grade": 7}}},
        {"sagittal_spacing_mm": (0.8, 0.8)},
        {"sagittal_spacing_mm": (0.8, 0.8, 30.0)},
    ],
)
def test_unusable_arguments_raise_input_errors(kwargs):
    with pytest.raises(InputError):
        generate_spine_phantom(0, **kwargs)


def test_without_t1_and_axial_only_the_sagittal_t2_is_rendered():
    phantom = generate_spine_phantom(4, with_t1=False, with_axial=False)
    assert phantom.sagittal_t1 is None and phantom.axial_t2_blocks == [] and phantom.axial_label_blocks == []
    assert all(level.axial_block is None for level in phantom.levels)


def test_write_case_writes_nifti_files_and_truth_json(tmp_path, forced):
    from assistcore.image_io import read_image

    paths = write_spine_phantom_case(forced, tmp_path, "case7")
    names = {path.name for path in paths.values()}
    assert {"case7_sag_t2.nii.gz", "case7_sag_t1.nii.gz", "case7_sag_labels.nii.gz", "case7_truth.json"} <= names
    assert "case7_ax_t2_block0.nii.gz" in names
    read_back = read_image(paths["sag_labels"])
    assert read_back.same_grid(forced.sagittal_labels)
    np.testing.assert_array_equal(read_back.array_kji, forced.sagittal_labels.array_kji)
    block = read_image(paths["ax_t2_block0"])
    assert block.same_grid(forced.axial_t2_blocks[0])
    truth = json.loads(paths["truth"].read_text())
    assert [level["name"] for level in truth["levels"]][:5] == ["C2/3", "C3/4", "C4/5", "C5/6", "C6/7"]
    assert truth["levels"][3]["herniation"] == "central"
    assert len(truth["planes"]) == 1 + len(forced.axial_t2_blocks)
    assert not list(tmp_path.glob("*.tmp*"))


def test_montage_is_written(tmp_path, forced, cut):
    from PIL import Image as PILImage

    path = render_spine_phantom_montage([forced, cut], tmp_path / "montage.png")
    with PILImage.open(path) as picture:
        assert picture.width > 400 and picture.height > 300


def test_default_phantom_renders_both_sagittal_contrasts_and_one_axial_block_per_planned_disc():
    # (its generation time is printed by `python Testing/phantom_hash_cases.py --time`, not asserted)
    phantom = generate_spine_phantom(21)
    assert phantom.sagittal_t1 is not None
    assert phantom.sagittal_t1.shape_kji == phantom.sagittal_t2.shape_kji == phantom.sagittal_labels.shape_kji
    assert 5 <= len(phantom.axial_t2_blocks) == len(phantom.axial_label_blocks) == len(phantom.axial_block_levels)
    assert phantom.axial_block_levels == [level for level in spine.DISCS[:6] if level in phantom.axial_block_levels]
    for block, labels in zip(phantom.axial_t2_blocks, phantom.axial_label_blocks):
        assert block.shape_kji == labels.shape_kji and 3 <= block.shape_kji[0] <= 4
