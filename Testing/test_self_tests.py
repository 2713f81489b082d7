"""The modules' self-test checks (AssistCoreLib/selfTests.py) run headless on a slicer-core scene: with the bundled
demo models on the self-tests' phantoms they pass, and on a wrong result (a box moved off the lesion, levels named one
off, a missing or miscoded segment, labels off the reference grid) they fail.

The scene side is what each module's Slicer self-test uses: the pipeline started from volume nodes
(AssistCoreLib.pipelines) and the result added by the module's own Lib (``<M>Lib.showResult``).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("slicer", reason="slicer-core wheel not installed (pip install 'trame-slicer[standalone]')")
pytest.importorskip("onnxruntime")  # what the bundled models run with inside Slicer (and here on the CPU)

from AssistCoreLib import selfTests
from AssistCoreLib.headless import createHeadlessScene

pytestmark = [pytest.mark.mrml, pytest.mark.models]

ROOT = Path(__file__).resolve().parents[1]


def _moduleLib(module: str):
    """``<module>Lib`` from the module's folder (where Slicer finds it)."""
    folder = str(ROOT / module)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(f"{module}Lib")


#: each pipeline's last RunHandle (its inputs and case ID are what a module panel writes the result folder from)
HANDLES: dict[str, object] = {}


def _run(pipeline: str, volumeNodes: dict, required: list[str], options: dict):
    """What the module's Logic.start does, then wait for the result (as the self-test does)."""
    from AssistCoreLib.pipelines import startPipeline

    handle = startPipeline(pipeline, volumeNodes, required, {"model_id": "", "device": "cpu", **options})
    assert handle.wait(300)
    HANDLES[pipeline] = handle
    return handle.result()


@contextlib.contextmanager
def _movedBy(scene, nodes, offsetRAS):
    """Display ``nodes`` moved by ``offsetRAS`` mm (a linear parent transform), as a user dragging them would."""
    import vtk

    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "moved")
    matrix = vtk.vtkMatrix4x4()
    for axis, offset in enumerate(offsetRAS):
        matrix.SetElement(axis, 3, offset)
    transform.SetMatrixTransformToParent(matrix)
    for node in nodes:
        node.SetAndObserveTransformNodeID(transform.GetID())
    try:
        yield
    finally:
        for node in nodes:
            node.SetAndObserveTransformNodeID(None)
        scene.RemoveNode(transform)


# ----- BrainTumorLabel ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def brain():
    scene, logics = createHeadlessScene()
    phantom, volumes = selfTests.brainPhantomVolumes(scene)
    nodes = {"t1c": volumes["t1c"], "flair": volumes["flair"], "t1": volumes["t1"], "t2": volumes["t2"]}
    result = _run("brain_tumor", nodes, ["t1c", "flair"], {"fast": True, "tumor_type": "intra-axial"})
    lib = _moduleLib("BrainTumorLabel")
    return scene, logics, phantom, volumes, result, lib


def _brainSegmentation(brain):
    scene, logics, _phantom, _volumes, result, lib = brain
    return lib.showResult(scene, result, logics.segmentations)


def test_brain_self_test_passes_with_the_demo_model_on_its_phantom(brain):
    scene, logics, phantom, volumes, _result, _lib = brain
    segmentation = _brainSegmentation(brain)
    dice = selfTests.checkBrainTumorSegmentation(
        scene, logics.segmentations, segmentation, volumes["flair"], phantom.labels_kji
    )
    assert dice["whole_tumor_dice"] >= selfTests.MINIMUM_WHOLE_TUMOR_DICE


def _dropSegment(segmentation, name="Non-enhancing tumor"):
    inner = segmentation.GetSegmentation()
    inner.RemoveSegment(inner.GetSegmentIdBySegmentName(name))


def _miscode(segmentation, name="Enhancing tumor"):
    from AssistCoreLib.segmentations import TERMINOLOGY_TAG, segmentTag

    segment = segmentation.GetSegmentation().GetSegment(segmentation.GetSegmentation().GetSegmentIdBySegmentName(name))
    segment.SetTag(TERMINOLOGY_TAG, segmentTag(segment, TERMINOLOGY_TAG).replace("108369006", "6574001"))


@pytest.mark.parametrize(
    ("change", "message"), [(_dropSegment, "segments"), (_miscode, "type")], ids=["a missing segment", "a wrong code"]
)
def test_brain_self_test_fails_on_a_wrong_segmentation(brain, change, message):
    scene, logics, phantom, volumes, _result, _lib = brain
    segmentation = _brainSegmentation(brain)
    change(segmentation)
    with pytest.raises(AssertionError, match=message):
        selfTests.checkBrainTumorSegmentation(
            scene, logics.segmentations, segmentation, volumes["flair"], phantom.labels_kji
        )


def test_brain_self_test_fails_when_the_reference_volume_lies_elsewhere(brain):
    from assistcore.image import Image
    from AssistCoreLib.volumes import imageToVolumeNode

    scene, logics, phantom, _volumes, _result, _lib = brain
    flair = phantom.images["flair"]
    moved = Image(flair.array_kji, flair.spacing_mm, np.add(flair.origin_lps, 20.0), flair.direction_lps)
    other = imageToVolumeNode(scene, moved, "flair_elsewhere")
    with pytest.raises(AssertionError, match="reference geometry"):
        selfTests.checkBrainTumorSegmentation(
            scene, logics.segmentations, _brainSegmentation(brain), other, phantom.labels_kji
        )


def test_brain_self_test_fails_on_labels_off_the_reference_grid(brain):
    from AssistCoreLib.brainTumor import regionSegmentationNode

    scene, logics, phantom, volumes, result, _lib = brain
    shifted = np.roll(result.labels_kji, 6, axis=2)  # 18 mm to the side: the model's labels, in the wrong place
    segmentation = regionSegmentationNode(scene, logics, shifted, result.reference, "shifted", volumes["flair"])
    with pytest.raises(AssertionError, match="Dice"):
        selfTests.checkBrainTumorSegmentation(
            scene, logics.segmentations, segmentation, volumes["flair"], phantom.labels_kji
        )


# ----- CRMAssist ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def crm():
    scene, _logics = createHeadlessScene()
    phantom, volume = selfTests.crmPhantomVolume(scene)
    result = _run("crm", {"t2": volume}, ["t2"], {"threshold": 0.5})
    nodes = _moduleLib("CRMAssist").showResult(scene, result, volume)
    return scene, phantom, result, nodes


def test_crm_self_test_finds_the_lesion_of_its_phantom_with_the_demo_model(crm):
    _scene, phantom, result, nodes = crm
    hits = selfTests.checkCrmBoxesOnTheLesion(nodes, phantom.boxes, result.threshold)
    assert hits[0][2] >= selfTests.MINIMUM_BOX_IOU
    assert {k for k, _score, _iou in hits} <= set(phantom.positive_slices)


def test_crm_self_test_fails_when_the_boxes_lie_beside_the_lesion(crm):
    scene, phantom, result, nodes = crm
    with _movedBy(scene, nodes["rois"], (40.0, 0.0, 0.0)), pytest.raises(AssertionError, match="overlaps a truth"):
        selfTests.checkCrmBoxesOnTheLesion(nodes, phantom.boxes, result.threshold)
    selfTests.checkCrmBoxesOnTheLesion(nodes, phantom.boxes, result.threshold)  # back in place: passes again


def test_crm_self_test_fails_when_no_box_reaches_the_threshold(crm):
    _scene, phantom, _result, nodes = crm
    with pytest.raises(AssertionError, match="none of the 0 box"):
        selfTests.checkCrmBoxesOnTheLesion(nodes, phantom.boxes, 1.01)


# ----- SpineAssist ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spine():
    scene, logics = createHeadlessScene()
    phantom, sagittal, axial, level = selfTests.spinePhantomVolumes(scene)
    result = _run("spine", {"sag_t2": sagittal, "sag_t1": None, "ax_t2": [axial]}, ["sag_t2"], {})
    lib = _moduleLib("SpineAssist")
    nodes = lib.showResult(scene, result, sagittal, logics.segmentations, axialNodes=[axial])
    return scene, phantom, nodes, lib, level


def test_spine_self_test_names_c2_to_c7_and_their_discs_where_the_phantom_has_them(spine):
    _scene, phantom, nodes, lib, level = spine
    distances = selfTests.checkSpineLevels(nodes, phantom)
    assert set(distances) == {*selfTests.CERVICAL_VERTEBRAE, *selfTests.CERVICAL_DISCS}
    assert max(distances.values()) <= selfTests.LEVEL_TOLERANCE_MM
    # what the module's self-test checks next: the axial block's row shows a slice named by its disc
    series = lib.axialSeriesOf(nodes["axial_segmentations"])
    found = selfTests.checkAxialBlockOnItsDisc(nodes, level, lib.jumpPoints, lambda ras: lib.sliceLevelAt(ras, series))
    assert found["level"] == level


def _relabelled(scene, nodes, rename):
    from assistcore.annotations import LabelledPoint
    from AssistCoreLib.markups import fiducialNodeToPoints, pointsToFiducialNode

    points = [LabelledPoint(p.position_lps, rename(p.label)) for p in fiducialNodeToPoints(nodes["vertebrae"])]
    return {**nodes, "vertebrae": pointsToFiducialNode(scene, [p for p in points if p.label], "relabelled")}


def _oneOff(name: str) -> str:
    order = ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "T1", "T2", "T3", "T4"]
    return order[order.index(name) + 1] if name in order[:-1] else name


@pytest.mark.parametrize(
    ("rename", "message"),
    [(_oneOff, "mm from the phantom's truth"), (lambda name: "" if name == "C4" else name, r"\['C4'\] are not named")],
    ids=["levels named one off", "a missing vertebra"],
)
def test_spine_self_test_fails_on_wrong_level_names(spine, rename, message):
    scene, phantom, nodes, _lib, _level = spine
    with pytest.raises(AssertionError, match=message):
        selfTests.checkSpineLevels(_relabelled(scene, nodes, rename), phantom)


def test_spine_self_test_fails_on_a_disc_plane_away_from_its_disc(spine):
    scene, phantom, nodes, _lib, _level = spine
    plane = next(node for node in nodes["planes"] if node.GetAttribute("RadAssist.Level") == "C4/5")
    with _movedBy(scene, [plane], (0.0, 0.0, 9.0)), pytest.raises(AssertionError, match="C4/5"):
        selfTests.checkSpineLevels(nodes, phantom)


# ----- BreastUSAssist -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def breast():
    from AssistCoreLib.breastUs import startCinePipeline

    scene, logics = createHeadlessScene()
    sweep, cine = selfTests.breastPhantomCine()
    handle = startCinePipeline(cine, {"model_id": "breastus-demo", "device": "cpu", "threshold": 0.5})
    assert handle.wait(300)
    HANDLES["breast_us"] = handle
    result = handle.result()
    nodes = _moduleLib("BreastUSAssist").showResult(scene, result, "phantom", logics.sequences)
    return scene, sweep, result, nodes


def test_breast_self_test_finds_the_lesion_of_its_sweep_with_the_demo_model(breast):
    _scene, sweep, result, nodes = breast
    found = selfTests.checkBreastLesionFound(nodes, sweep, result.threshold)
    assert found["best_frame"] in sweep.lesions[0]["frames"]
    assert found["iou"] >= selfTests.MINIMUM_BOX_IOU


def test_breast_self_test_fails_when_the_lesion_box_lies_beside_the_lesion(breast):
    scene, sweep, result, nodes = breast
    moved = _movedBy(scene, list(nodes["rois"].values()), (-12.0, 0.0, 0.0))  # 80 pixels to the side
    with moved, pytest.raises(AssertionError, match="no lesion"):
        selfTests.checkBreastLesionFound(nodes, sweep, result.threshold)
    selfTests.checkBreastLesionFound(nodes, sweep, result.threshold)


# ----- a run made in a module panel: its result folder and report (what ReportPanel.takeRun writes) ------------
@pytest.mark.parametrize("assistant", ["brain_tumor", "crm", "spine", "breast_us"])
def test_a_run_started_from_the_scene_writes_a_result_folder_that_drafts_its_report(assistant, request, tmp_path):
    from assistcore.reports import open_record
    from assistcore.reports.case_files import detect_assistant
    from assistcore.result_folders import new_run_folder, write_result_folder

    request.getfixturevalue({"brain_tumor": "brain", "breast_us": "breast"}.get(assistant, assistant))
    handle = HANDLES[assistant]
    assert handle.case_id and handle.case_id != "case"  # named after the input node (or the cine)
    folder = new_run_folder(tmp_path, handle.case_id, assistant)
    report = write_result_folder(assistant, handle.result(), folder, handle.case_id, handle.inputs)
    assert report["case_id"] == handle.case_id and "scene.mrb" not in report["files"]
    assert all((folder / name).is_file() for name in report["files"] if name != ".radassist-result.json")
    assert detect_assistant(folder) == {"brain_tumor": "brain"}.get(assistant, assistant)
    content = open_record(folder).content
    assert content.case_id == handle.case_id and content.impression


def test_breast_reviews_and_descriptors_made_in_the_panel_reach_the_draft_of_its_run(breast, tmp_path):
    """What ``BreastUSAssistWidget.reviewedResultsWriter`` hands the Report section: the panel's tables (real
    MRML nodes) written into the run's folder before the first draft, so the draft names the descriptors."""
    from assistcore.breastus.descriptors import LesionDescriptors
    from assistcore.reports import open_record
    from assistcore.result_folders import write_result_folder
    from AssistCoreLib.breastUs import setDescriptors
    from AssistCoreLib.breastUsExport import exportFiles

    _scene, _sweep, result, nodes = breast
    detection_id = result.fused[0].detection_id
    setDescriptors(nodes, LesionDescriptors(detection_id, {"shape": "irregular", "margin": "spiculated"}))
    folder = tmp_path / "run"
    write_result_folder("breast_us", result, folder, "phantom", HANDLES["breast_us"].inputs)
    before = open_record(folder).content.findings[0].text
    assert "no BI-RADS descriptors recorded" in before
    exportFiles(nodes, folder)
    drafted = open_record(folder).content.findings[0].text
    assert "shape irregular" in drafted and "margin spiculated" in drafted


def test_spine_findings_changed_in_the_panel_reach_the_draft_of_its_run(spine, tmp_path):
    """What ``SpineAssistWidget.reviewedResultsWriter`` hands the Report section: the table's edits (real MRML
    table node) typed into the run's findings.json, so the draft's sentence says what the reviewer set."""
    from assistcore.reports import open_record
    from assistcore.result_folders import write_result_folder
    from AssistCoreLib.spine import reviewedFindingsWriter, setFinding

    _scene, _phantom, nodes, _lib, _level = spine
    handle = HANDLES["spine"]
    folder = tmp_path / "run"
    write_result_folder("spine", handle.result(), folder, handle.case_id, handle.inputs)
    setFinding(nodes["table"], "C4/5", "disc", "central", "Dr Ann Reader")
    setFinding(nodes["table"], "C4/5", "disc_side", "left", "Dr Ann Reader")
    setFinding(nodes["table"], "C4/5", "listhesis_grade", "2", "Dr Ann Reader")
    reviewedFindingsWriter(nodes)(folder)
    finding = open_record(folder).content.finding("C4/5")
    assert "central disc herniation (left)" in finding.text and "grade 2" in finding.text
    assert finding.values["listhesis_grade"].value == 2  # typed as the pipeline writes it, not the table's text
    row = next(r for r in json.loads((folder / "findings.json").read_text())["rows"] if r["level"] == "C4/5")
    csv_row = next(line for line in (folder / "findings.csv").read_text().splitlines() if line.startswith("C4/5,"))
    assert row["reviewer"] == "Dr Ann Reader" and ",central," in csv_row and csv_row.endswith(",Dr Ann Reader")


def test_brain_labels_edited_in_the_segment_editor_reach_the_draft_of_its_run(brain, tmp_path):
    """What ``BrainTumorLabelWidget.reviewedResultsWriter`` hands the Report section: the run's folder rewritten
    from the segmentation as the annotator left it (a real slicer-core segmentation node), so the draft's
    volumes are the edited ones; unedited labels leave the folder as the run wrote it."""
    from assistcore.reports import open_record
    from assistcore.result_folders import write_result_folder
    from AssistCoreLib.brainTumor import reviewedLabelsWriter

    scene, logics, _phantom, volumes, result, _lib = brain
    handle = HANDLES["brain_tumor"]
    folder = tmp_path / "run"
    write_result_folder("brain_tumor", result, folder, handle.case_id, handle.inputs)
    segmentation = _brainSegmentation(brain)
    writer = reviewedLabelsWriter(scene, logics, segmentation, volumes["flair"], result, handle)
    written = (folder / "report.json").read_bytes()
    writer(folder)
    assert (folder / "report.json").read_bytes() == written, "nothing edited: the run's own results stay"
    assert json.loads(written)["region_volumes_ml"]["whole_tumor"] > 0
    _dropSegment(segmentation, "Whole tumor")  # the annotator erased the edema around the tumour body
    writer(folder)
    report = json.loads((folder / "report.json").read_text())
    before = json.loads(written)["region_volumes_ml"]
    assert report["region_volumes_ml"]["whole_tumor"] == report["region_volumes_ml"]["tumor_body"]
    assert report["region_volumes_ml"]["tumor_body"] == pytest.approx(before["tumor_body"], abs=0.01)
    assert report["model"]["edited_in"] == "3D Slicer Segment Editor"
    lesions = [f for f in open_record(folder).content.findings if f.finding_id.startswith("lesion-")]
    drafted = sum(f.values["whole_tumor"].value for f in lesions)
    assert drafted == pytest.approx(report["region_volumes_ml"]["whole_tumor"], abs=0.05)  # the edited volume


def test_crm_slices_rejected_in_the_panel_are_left_out_of_the_draft_of_its_run(crm, tmp_path):
    """What ``CRMAssistWidget.reviewedResultsWriter`` hands the Report section: the table's slice reviews (a real
    MRML table node) recorded in the run's boxes.json, so the draft leaves the rejected slices out."""
    from assistcore.reports import open_record
    from assistcore.result_folders import write_result_folder
    from AssistCoreLib.crm import reviewedSlicesWriter, setReview

    _scene, _phantom, result, nodes = crm
    handle = HANDLES["crm"]
    folder = tmp_path / "run"
    write_result_folder("crm", result, folder, handle.case_id, handle.inputs)
    involved = result.verdict()["slices_involved"]
    assert involved and open_record(folder).content.finding("verdict").values["crm_positive_risk"].value
    for k in involved:
        setReview(nodes["table"], k, "reject")
    try:
        reviewedSlicesWriter(nodes)(folder)
    finally:
        for k in involved:
            setReview(nodes["table"], k, "")
    verdict = open_record(folder).content.finding("verdict")
    assert verdict.values["crm_positive_risk"].value is False and verdict.values["slices_involved"].value == ""


def test_a_run_is_named_after_the_series_patient_id_else_the_node_as_shown(tmp_path):
    import numpy as np

    from assistcore.image import Image
    from AssistCoreLib.pipelines import startPipeline
    from AssistCoreLib.volumes import imageToVolumeNode

    scene, _logics = createHeadlessScene()
    voxels = np.random.default_rng(0).normal(100, 20, (4, 64, 64)).astype(np.float32)
    image = Image(voxels, (0.8, 0.8, 3.0), (0.0, 0.0, 0.0), np.eye(3))
    node = imageToVolumeNode(scene, image, "T2 tse.tra (3)")
    options = {"model_id": "crm-demo", "device": "cpu"}
    handle = startPipeline("crm", {"t2": node}, ["t2"], options)
    assert handle.case_id == "T2_tse.tra__3_"  # the whole name: ".tra" is not a file suffix
    assert handle.inputs["t2"].shape_kji == (4, 64, 64) and handle.wait(120)
    node.SetAttribute("RadAssist.patient_id", "PX-7")
    named = startPipeline("crm", {"t2": node}, ["t2"], options)
    assert named.case_id == "PX-7" and named.wait(120)
