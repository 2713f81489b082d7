"""Pure tests of label definitions (terminology strings, label tables) and boxes/points (no Slicer)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from assistcore.annotations import Box
from assistcore.errors import InputError
from assistcore.labels import (
    SLICER_DICOM_TERMINOLOGY_CONTEXT,
    CodedConcept,
    LabelDefinition,
    load_label_table,
    parse_slicer_terminology_string,
    terminology_problems,
)

NEOPLASM = {
    "value": 4,
    "name": "Enhancing",
    "color": "#a020f0",
    "snomed": {
        "category": {"code": "49755003", "scheme": "SCT", "meaning": "Morphologically Altered Structure"},
        "type": {"code": "108369006", "scheme": "SCT", "meaning": "Neoplasm"},
        "modifier": {"code": "263654008", "scheme": "SCT", "meaning": "Abnormal"},
        "anatomic_region": {"code": "12738006", "scheme": "SCT", "meaning": "Brain"},
    },
    "description": "enhancing tumour",
}


def test_terminology_string_has_slicers_seven_tilde_separated_parts():
    text = LabelDefinition.from_dict(NEOPLASM).slicer_terminology_string()
    assert text == (
        "Segmentation category and type - 3D Slicer General Anatomy list"
        "~SCT^49755003^Morphologically Altered Structure~SCT^108369006^Neoplasm~SCT^263654008^Abnormal"
        "~Anatomic codes - DICOM master list~SCT^12738006^Brain~^^"
    )


def test_terminology_string_writes_empty_codes_as_two_carets_when_modifier_and_region_are_absent():
    data = {**NEOPLASM, "snomed": {k: NEOPLASM["snomed"][k] for k in ("category", "type")}}
    parts = LabelDefinition.from_dict(data).slicer_terminology_string().split("~")
    assert (parts[3], parts[5], parts[6]) == ("^^", "^^", "^^")


def test_terminology_string_parses_back_to_the_same_codes():
    label = LabelDefinition.from_dict(NEOPLASM)
    codes = parse_slicer_terminology_string(label.slicer_terminology_string())
    assert codes == {
        "category": label.category,
        "type": label.type,
        "modifier": label.modifier,
        "anatomic_region": label.anatomic_region,
    }


def test_colour_table_form_of_terminology_parses_when_context_names_are_empty():
    # what vtkMRMLColorTableNode.GetTerminologyAsString returns (slicer-core 5.11): 8 parts, last empty
    text = "~SCT^49755003^Morphologically Altered Structure~SCT^108369006^Neoplasm~^^~~^^~^^~"
    codes = parse_slicer_terminology_string(text)
    assert codes["type"] == CodedConcept("108369006", "SCT", "Neoplasm") and codes["modifier"] is None


@pytest.mark.parametrize("text", ["", "Neoplasm", "a~b~c"])
def test_text_that_is_not_a_terminology_entry_is_refused(text):
    with pytest.raises(InputError, match="terminology"):
        parse_slicer_terminology_string(text)


def test_terminology_string_names_the_labels_own_context_when_one_is_given():
    label = LabelDefinition.from_dict({**NEOPLASM, "terminology_context": SLICER_DICOM_TERMINOLOGY_CONTEXT})
    assert label.slicer_terminology_string().startswith(SLICER_DICOM_TERMINOLOGY_CONTEXT + "~SCT^49755003^")
    assert LabelDefinition.from_dict(label.to_dict()) == label


def _slicer_context_files() -> list[Path]:
    """Slicer's terminology lists as trame-slicer ships them (found without importing trame)."""
    spec = importlib.util.find_spec("trame_slicer")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("trame-slicer (Slicer's terminology files) not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "resources" / "terminologies"
    files = sorted(folder.glob("SegmentationCategoryTypeModifier-*.term.json"))
    if not files:
        pytest.skip(f"no terminology files in {folder}")
    return files


def test_codes_outside_the_named_slicer_context_are_reported():
    files = _slicer_context_files()
    necrosis = {**NEOPLASM, "name": "Necrosis", "snomed": {**NEOPLASM["snomed"], "modifier": None}}
    necrosis["snomed"]["type"] = {"code": "6574001", "scheme": "SCT", "meaning": "Necrosis"}
    assert terminology_problems([LabelDefinition.from_dict(necrosis)], files) == []
    # Neoplasm is in the DICOM master list, not in Slicer's General Anatomy list, and "Abnormal" is no
    # modifier Slicer lists for it
    problems = terminology_problems([LabelDefinition.from_dict(NEOPLASM)], files)
    assert len(problems) == 1 and "108369006" in problems[0] and "General Anatomy" in problems[0]
    in_master = {**NEOPLASM, "terminology_context": SLICER_DICOM_TERMINOLOGY_CONTEXT}
    problems = terminology_problems([LabelDefinition.from_dict(in_master)], files)
    assert len(problems) == 1 and "modifier Abnormal" in problems[0]
    assert "not in the files" in terminology_problems([LabelDefinition.from_dict(NEOPLASM)], [])[0]


def test_label_definition_round_trips_through_its_dict_with_hex_colour():
    label = LabelDefinition.from_dict(NEOPLASM)
    assert label.color_rgb == pytest.approx((160 / 255, 32 / 255, 240 / 255))
    assert label.color_rgb_uint8 == (160, 32, 240)
    assert LabelDefinition.from_dict(label.to_dict()) == label
    assert label.to_dict()["color"] == "#a020f0"


def test_packaged_label_table_loads_by_name_with_unique_values():
    labels = load_label_table("brain_tumor_labels")
    assert [label.value for label in labels] == [1, 2, 3]
    assert all(label.category.scheme == "SCT" and label.type.code for label in labels)


def test_label_table_with_duplicate_or_zero_values_is_refused(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps([NEOPLASM, NEOPLASM]))
    with pytest.raises(InputError, match="unique"):
        load_label_table(path)
    with pytest.raises(InputError, match="unique and non-zero"):
        load_label_table([{**NEOPLASM, "value": 0}])
    with pytest.raises(InputError, match="not found"):
        load_label_table(tmp_path / "missing.json")


def test_slice_box_lies_in_its_slice_and_gives_its_voxel_corners_back(an_oblique_image):
    box = Box.from_slice_corners(an_oblique_image, 4, 1, 2, 6, 10, score=0.8)
    center_index = an_oblique_image.lps_to_index(box.center_lps)[0]
    np.testing.assert_allclose(center_index, [(1 + 6) / 2 - 0.5, (2 + 10) / 2 - 0.5, 4.0], atol=1e-9)
    spacing = an_oblique_image.spacing_mm
    np.testing.assert_allclose(box.size_mm, [5 * spacing[0], 8 * spacing[1], spacing[2]])
    np.testing.assert_allclose(box.axes_lps, an_oblique_image.direction_lps)  # oriented with the volume
    assert box.voxel_corners(an_oblique_image) == pytest.approx((4, 1, 2, 6, 10))
