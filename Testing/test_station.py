"""RadAssist Station without a browser: accounts, permissions, case sessions on headless MRML, gateway, CLI.

No neural network runs here (``StationSession.compute`` is never called) and no Station worker process is
started: the gateway is only driven up to a refused sign-in, and ``radassist serve`` never gets to serve.
"""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from assistcore.brain.worklist import Case, CaseStatus, ConflictError, WorkflowError, Worklist
from assistcore.errors import InputError
from assistcore.station.accounts import (
    LOCKOUT_ATTEMPTS,
    LOCKOUT_WINDOW_S,
    Account,
    Accounts,
    Role,
    can_edit,
    can_review,
    can_see,
)

PASSWORD = "correct horse battery"
ROLES = ("t1", "t1c", "t2", "flair")
CASE_ID = "CASE1"
SHAPE_KJI = (12, 20, 24)  # 24 x 20 x 12 voxels (i, j, k)
LABELS_NAME = f"{CASE_ID}_flair_seg-brats2021.nii.gz"
SIDECAR_NAME = f"{CASE_ID}_labels.json"


# ----- accounts --------------------------------------------------------------------------------
@pytest.fixture
def accounts(tmp_path) -> Accounts:
    return Accounts(tmp_path / "worklist.db")


def test_passwords_are_stored_only_as_salted_argon2id_hashes(accounts):
    accounts.add("ann", PASSWORD, "annotator")
    accounts.add("bob", PASSWORD, Role.REVIEWER)
    with sqlite3.connect(accounts.path) as connection:
        hashes = dict(connection.execute("SELECT username, password_hash FROM accounts").fetchall())
    connection.close()
    assert hashes["ann"].startswith("$argon2id$") and hashes["bob"].startswith("$argon2id$")
    assert hashes["ann"] != hashes["bob"], "the same password must hash differently (random salt per hash)"
    stored = b"".join(path.read_bytes() for path in accounts.path.parent.glob(accounts.path.name + "*"))
    assert PASSWORD.encode() not in stored
    assert PASSWORD.encode("utf-16-le") not in stored


def test_right_password_signs_in_with_the_role_and_anything_else_is_refused(accounts):
    accounts.add("ann", PASSWORD, "annotator")
    accounts.add("rev", PASSWORD + "!", "reviewer")
    assert accounts.authenticate("ann", PASSWORD) == Account("ann", Role.ANNOTATOR)
    assert accounts.authenticate("rev", PASSWORD + "!") == Account("rev", Role.REVIEWER)
    assert accounts.authenticate("ann", PASSWORD + "!") is None, "another user's password is not ann's"
    assert accounts.authenticate("ann", PASSWORD.upper()) is None
    assert accounts.authenticate("ann", "") is None
    assert accounts.authenticate("nobody", PASSWORD) is None


def test_a_disabled_account_cannot_sign_in_until_enabled_again(accounts):
    accounts.add("ann", PASSWORD, "annotator")
    accounts.set_disabled("ann", True)
    assert accounts.authenticate("ann", PASSWORD) is None
    assert accounts.get("ann") is None
    assert accounts.list()[0]["disabled"] is True
    accounts.set_disabled("ann", False)
    assert accounts.authenticate("ann", PASSWORD) == Account("ann", Role.ANNOTATOR)


def test_changed_password_replaces_the_old_one(accounts):
    accounts.add("ann", PASSWORD, "annotator")
    accounts.set_password("ann", "a brand new secret")
    assert accounts.authenticate("ann", PASSWORD) is None
    assert accounts.authenticate("ann", "a brand new secret") is not None
    with pytest.raises(InputError, match="No user"):
        accounts.set_password("nobody", "a brand new secret")


def test_repeated_failures_lock_the_name_out_even_with_the_right_password(accounts, monkeypatch):
    accounts.add("ann", PASSWORD, "annotator")
    accounts.add("rev", PASSWORD, "reviewer")
    for _ in range(LOCKOUT_ATTEMPTS):
        assert accounts.authenticate("ann", "guess-guess-guess") is None
    assert accounts.locked_out("ann")
    assert accounts.authenticate("ann", PASSWORD) is None, "the right password must be refused while locked out"
    assert accounts.authenticate("rev", PASSWORD) is not None, "a lockout is per user name"
    # once the window has passed the right password works again
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + LOCKOUT_WINDOW_S + 5)
    assert not accounts.locked_out("ann")
    assert accounts.authenticate("ann", PASSWORD) == Account("ann", Role.ANNOTATOR)


def test_fewer_failures_than_the_limit_do_not_lock_out(accounts):
    accounts.add("ann", PASSWORD, "annotator")
    for _ in range(LOCKOUT_ATTEMPTS - 1):
        accounts.authenticate("ann", "guess-guess-guess")
    assert not accounts.locked_out("ann")
    assert accounts.authenticate("ann", PASSWORD) is not None


def test_every_sign_in_attempt_is_logged_with_outcome_time_and_address(accounts):
    accounts.add("ann", PASSWORD, "annotator")
    before = time.time()
    accounts.authenticate("ann", "wrong-password", address="10.1.2.3")
    accounts.authenticate("ann", PASSWORD, address="10.1.2.4")
    accounts.authenticate("ghost", PASSWORD, address="10.9.9.9")
    log = accounts.sign_ins()
    assert [(e["username"], e["succeeded"], e["address"]) for e in log] == [
        ("ann", False, "10.1.2.3"),
        ("ann", True, "10.1.2.4"),
        ("ghost", False, "10.9.9.9"),
    ]
    assert all(before <= e["at"] <= time.time() for e in log)
    assert [e["address"] for e in accounts.sign_ins("ann")] == ["10.1.2.3", "10.1.2.4"]


@pytest.mark.parametrize(
    ("username", "password", "role", "message"),
    [
        ("ann", "short", "annotator", "at least 8"),
        ("", PASSWORD, "annotator", "not allowed"),
        ("a", PASSWORD, "annotator", "not allowed"),
        ("-ann", PASSWORD, "annotator", "not allowed"),
        ("ann smith", PASSWORD, "annotator", "not allowed"),
        ("ann/../x", PASSWORD, "annotator", "not allowed"),
        ("x" * 65, PASSWORD, "annotator", "not allowed"),
        ("ann", PASSWORD, "superuser", "Unknown role"),
    ],
)
def test_invalid_accounts_are_refused(accounts, username, password, role, message):
    with pytest.raises(InputError, match=message):
        accounts.add(username, password, role)
    assert accounts.list() == []


def test_a_user_name_can_be_taken_only_once(accounts):
    accounts.add("ann", PASSWORD, "annotator")
    with pytest.raises(InputError, match="already exists"):
        accounts.add("ann", "another password", "admin")
    assert accounts.authenticate("ann", PASSWORD) == Account("ann", Role.ANNOTATOR), "the first account is kept"


# ----- permissions -----------------------------------------------------------------------------
ANN, ANN2 = Account("ann", Role.ANNOTATOR), Account("ann2", Role.ANNOTATOR)
REV, ADMIN = Account("rev", Role.REVIEWER), Account("root", Role.ADMIN)


def a_record(status: CaseStatus, annotator: str | None = None) -> Case:
    return Case("C", "/cases/C", status, None, "", "", annotator, None, None, 0, 0.0, 0.0)


def test_annotators_see_unassigned_cases_and_their_own_only():
    assert can_see(ANN, a_record(CaseStatus.NEW))
    assert can_see(ANN, a_record(CaseStatus.PRELABELLED))
    assert can_see(ANN, a_record(CaseStatus.IN_ANNOTATION, "ann"))
    assert can_see(ANN, a_record(CaseStatus.IN_REVIEW, "ann"))
    assert not can_see(ANN, a_record(CaseStatus.IN_ANNOTATION, "ann2"))
    assert not can_see(ANN, a_record(CaseStatus.ACCEPTED, "ann2"))


def test_reviewers_and_admins_see_every_case():
    for status in CaseStatus:
        for annotator in (None, "ann", "ann2"):
            assert can_see(REV, a_record(status, annotator))
            assert can_see(ADMIN, a_record(status, annotator))


def test_only_a_reviewer_who_did_not_annotate_reviews_and_only_in_review():
    in_review = a_record(CaseStatus.IN_REVIEW, "ann")
    assert can_review(REV, in_review)
    assert not can_review(ANN, in_review), "the annotator may not accept their own case"
    assert not can_review(ANN2, in_review)
    assert not can_review(ADMIN, in_review), "accepting is a reviewer's decision, not an admin's"
    assert not can_review(REV, a_record(CaseStatus.IN_REVIEW, "rev")), "a reviewer never reviews their own work"
    for status in set(CaseStatus) - {CaseStatus.IN_REVIEW}:
        assert not can_review(REV, a_record(status, "ann")), status


def test_who_may_edit_a_case_depends_on_role_status_and_assignment():
    assert can_edit(ANN, a_record(CaseStatus.NEW))
    assert can_edit(ANN, a_record(CaseStatus.IN_ANNOTATION, "ann"))
    assert can_edit(ANN, a_record(CaseStatus.REJECTED, "ann"))
    assert not can_edit(ANN, a_record(CaseStatus.IN_ANNOTATION, "ann2")), "not another annotator's case"
    assert not can_edit(ANN, a_record(CaseStatus.IN_REVIEW, "ann")), "submitted: the reviewer has it now"
    assert not can_edit(ANN, a_record(CaseStatus.ACCEPTED, "ann"))
    assert can_edit(REV, a_record(CaseStatus.IN_REVIEW, "ann"))
    for status in set(CaseStatus) - {CaseStatus.IN_REVIEW}:
        assert not can_edit(REV, a_record(status, "ann")), status
    for status in CaseStatus:
        assert not can_edit(ADMIN, a_record(status, "ann")), status


def test_worklist_rows_hide_other_annotators_cases(tmp_path):
    from radassist.station.cases import StationSession

    worklist = Worklist(tmp_path / "worklist.db")
    for case_id in ("free", "mine", "theirs"):
        worklist.add_case(case_id, tmp_path / case_id)
    worklist.claim("mine", "ann")
    worklist.claim("theirs", "ann2")

    def rows(account):
        return {row["case_id"]: row for row in StationSession(None, None, worklist, account).visible_cases()}

    assert set(rows(ANN)) == {"free", "mine"}
    assert rows(ANN)["mine"]["status"] == "in_annotation" and rows(ANN)["mine"]["annotator"] == "ann"
    assert set(rows(REV)) == set(rows(ADMIN)) == {"free", "mine", "theirs"}


# ----- case folders ----------------------------------------------------------------------------
def an_oblique_geometry() -> dict:
    """Oblique and not RAS: a 17 degree rotation after a flip of j, non-unit spacing, an origin off zero."""
    angle = np.deg2rad(17.0)
    rotation = np.array([[np.cos(angle), 0.0, np.sin(angle)], [0.0, 1.0, 0.0], [-np.sin(angle), 0.0, np.cos(angle)]])
    return {
        "spacing": (0.9, 1.1, 2.5),
        "origin": (-12.5, 30.25, 4.0),
        "direction": rotation @ np.diag([1.0, -1.0, 1.0]),
    }


def write_case(root: Path, case_id: str) -> dict[str, Path]:
    """Four small NIfTI sequences on the oblique grid, each with its own intensities."""
    from assistcore.image import Image
    from assistcore.image_io import write_image

    geometry = an_oblique_geometry()
    rng = np.random.default_rng(len(case_id))
    paths = {}
    for index, role in enumerate(ROLES):
        array = rng.normal(100.0 + 50.0 * index, 10.0, size=SHAPE_KJI).astype(np.float32)
        image = Image(array, geometry["spacing"], geometry["origin"], geometry["direction"])
        paths[role] = write_image(image, root / case_id / f"{case_id}_{role}.nii.gz")
    return paths


def test_case_folders_with_sequences_join_the_worklist_once(tmp_path):
    from radassist.station.cases import register_case_folders

    root = tmp_path / "cases"
    write_case(root, "CASE1")
    write_case(root, ".hidden")
    (root / "empty").mkdir()
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("no images here")
    worklist = Worklist(tmp_path / "worklist.db")
    assert register_case_folders(worklist, root) == ["CASE1"]
    case = worklist.get("CASE1")
    assert case.status is CaseStatus.NEW and case.annotator is None and case.revision == 0
    assert Path(case.folder) == (root / "CASE1").resolve()
    write_case(root, "CASE2")
    assert register_case_folders(worklist, root) == ["CASE2"], "known cases are not added again"
    with pytest.raises(InputError, match="does not exist"):
        register_case_folders(worklist, tmp_path / "missing")


def test_a_case_file_names_the_assistant_and_its_inputs_and_bad_ones_are_refused(tmp_path):
    from radassist.station.assistants import CASE_FILE
    from radassist.station.cases import case_kind

    brain = write_case(tmp_path, "B")
    assert case_kind(brain["flair"].parent) == "brain", "sequences without a case file are a brain case"
    folder = tmp_path / "C"
    folder.mkdir()
    (folder / "t2_axial.nii.gz").write_bytes(brain["t2"].read_bytes())
    marker = folder / CASE_FILE
    marker.write_text(json.dumps({"assistant": "crm", "inputs": {"t2": "t2_axial.nii.gz"}}))
    assert case_kind(folder) == "crm"
    for spec, message in (
        ({"assistant": "tarot", "inputs": {}}, "tarot"),
        ({"assistant": "crm", "inputs": {"t2": "missing.nii.gz"}}, "does not exist"),
        ({"assistant": "crm", "inputs": {"flair": "t2_axial.nii.gz"}}, "no input 'flair'"),
        ({"assistant": "crm", "inputs": {}}, "needs t2"),
    ):
        marker.write_text(json.dumps(spec))
        with pytest.raises(InputError, match=message):
            case_kind(folder)
    marker.write_text("not json")
    with pytest.raises(InputError, match="not a JSON object"):
        case_kind(folder)


# ----- sessions on headless MRML scenes --------------------------------------------------------
@pytest.fixture
def station(tmp_path):
    """One registered case folder with four oblique sequences, and a way to sign people in to scenes."""
    pytest.importorskip("slicer")
    from AssistCoreLib.headless import createHeadlessScene
    from radassist.station.cases import StationSession, register_case_folders

    root = tmp_path / "cases"
    paths = write_case(root, CASE_ID)
    worklist = Worklist(tmp_path / "worklist.db")
    assert register_case_folders(worklist, root) == [CASE_ID]

    def session(username: str, role: str) -> StationSession:
        scene, logics = createHeadlessScene()  # one scene per signed-in user, as in the web app
        return StationSession(scene, logics, Worklist(worklist.path), Account(username, Role(role)))

    return SimpleNamespace(
        root=root, folder=(root / CASE_ID).resolve(), paths=paths, worklist=worklist, session=session
    )


def boxes(*slices_kji) -> np.ndarray:
    """A (k, j, i) mask, True in every given box."""
    mask = np.zeros(SHAPE_KJI, bool)
    for box in slices_kji:
        mask[box] = True
    return mask


#: Off-centre boxes, so that a flip of any axis on the way to the file would move them.
WHOLE = boxes(np.s_[2:7, 3:11, 4:14])
BODY = boxes(np.s_[3:6, 4:9, 5:11])
ENHANCING = boxes(np.s_[3:5, 4:7, 5:9])
OTHER_WHOLE = boxes(np.s_[8:11, 12:18, 15:22])


def paint(session, segment_name: str, mask_kji: np.ndarray) -> None:
    """Add ``mask_kji`` to a segment the way a Segment Editor stroke does (a labelmap on the volume's grid)."""
    import slicer
    import vtk
    from vtk.util import numpy_support

    node = session.ensure_segmentation()
    segment_id = node.GetSegmentation().GetSegmentIdBySegmentName(segment_name)
    assert segment_id, f"no segment {segment_name!r}"
    volume = session.current.reference_node
    stroke = slicer.vtkOrientedImageData()
    stroke.SetExtent(volume.GetImageData().GetExtent())
    matrix = vtk.vtkMatrix4x4()
    volume.GetIJKToRASMatrix(matrix)
    stroke.SetImageToWorldMatrix(matrix)
    stroke.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    numpy_support.vtk_to_numpy(stroke.GetPointData().GetScalars())[:] = mask_kji.astype(np.uint8).ravel()
    stroke.Modified()
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    assert logic.SetBinaryLabelmapToSegment(stroke, node, segment_id, logic.MODE_MERGE_MAX, stroke.GetExtent())


def segment_masks(session) -> dict[str, np.ndarray]:
    from AssistCoreLib.segmentations import segmentationNodeToMasks

    return segmentationNodeToMasks(
        session.scene, session.logics.segmentations, session.ensure_segmentation(), session.current.reference_node
    )


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def brats2021(whole=None, body=None, enhancing=None) -> np.ndarray:
    """The BraTS 2021 values nested region masks must export as: 2 edema, 1 non-enhancing body, 4 enhancing."""
    labels = np.zeros(SHAPE_KJI, np.uint8)
    for mask, value in ((whole, 2), (body, 1), (enhancing, 4)):
        if mask is not None:
            labels[mask] = value
    return labels


@pytest.mark.mrml
def test_an_annotator_opening_a_new_case_claims_it_and_gets_its_four_sequences(station):
    from assistcore.image_io import read_image
    from AssistCoreLib.volumes import volumeNodeToImage

    ann = station.session("ann", "annotator")
    opened = ann.open_case(CASE_ID)
    case = station.worklist.get(CASE_ID)
    assert case.status is CaseStatus.IN_ANNOTATION and case.annotator == "ann"
    assert opened.base_revision == 0 and opened.reference_role == "flair"
    assert set(opened.volume_nodes) == set(ROLES)
    for role, node in opened.volume_nodes.items():
        assert node.GetScene() is ann.scene and node.GetName() == f"{CASE_ID}_{role}"
        on_disk = read_image(station.paths[role])
        in_scene = volumeNodeToImage(node)
        np.testing.assert_array_equal(in_scene.array_kji, on_disk.array_kji)  # each role holds its own file
        assert in_scene.same_grid(on_disk)
    assert opened.segmentation_node is None, "a case without labels opens without a segmentation"
    assert [(e["user"], e["action"]) for e in station.worklist.history(CASE_ID)] == [
        ("system", "added"),
        ("ann", "claimed"),
        ("ann", "opened"),
    ]


@pytest.mark.mrml
def test_a_crm_case_opens_its_t2_and_cannot_be_saved_before_its_assistant_ran(station):
    from radassist.station.assistants import CASE_FILE
    from radassist.station.cases import register_case_folders

    folder = station.root / "RECTUM1"
    folder.mkdir()
    (folder / "t2_axial.nii.gz").write_bytes(station.paths["t2"].read_bytes())
    (folder / CASE_FILE).write_text(json.dumps({"assistant": "crm", "inputs": {"t2": "t2_axial.nii.gz"}}))
    assert register_case_folders(station.worklist, station.root) == ["RECTUM1"]
    ann = station.session("ann", "annotator")
    opened = ann.open_case("RECTUM1")
    assert (opened.kind, opened.reference_role, set(opened.volume_nodes)) == ("crm", "t2", {"t2"})
    assert ann.ensure_segmentation() is None, "CRM results are not edited as tumour labels"
    with pytest.raises(WorkflowError, match="QA checks are for tumour labels"):
        ann.run_qa()
    with pytest.raises(WorkflowError, match="Nothing to save yet"):
        ann.save()
    assert sorted(p.name for p in folder.iterdir()) == [CASE_FILE, "t2_axial.nii.gz"], "a refused save leaves nothing"
    assert station.worklist.get("RECTUM1").revision == 0


@pytest.mark.mrml
def test_an_empty_segmentation_has_the_four_coded_regions_on_the_reference(station):
    ann = station.session("ann", "annotator")
    opened = ann.open_case(CASE_ID)
    node = ann.ensure_segmentation()
    assert ann.ensure_segmentation() is node, "asking again must not make a second segmentation"
    segmentation = node.GetSegmentation()
    names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
    assert names == ["Whole tumor", "Tumor body", "Enhancing tumor", "Non-enhancing tumor"]
    assert node.GetNodeReference("referenceImageGeometryRef") is opened.reference_node
    assert not any(mask.any() for mask in segment_masks(ann).values())


@pytest.mark.mrml
def test_qa_of_a_case_with_nothing_painted_reports_no_lesions(station):
    ann = station.session("ann", "annotator")
    ann.open_case(CASE_ID)
    assert ann.run_qa()["lesions"] == []


@pytest.mark.mrml
def test_a_save_writes_brats_labels_on_the_exact_grid_of_the_flair_and_records_who_saved(station):
    from assistcore.image_io import read_image

    ann = station.session("ann", "annotator")
    ann.open_case(CASE_ID)
    paint(ann, "Whole tumor", WHOLE)
    qa = ann.run_qa()
    assert len(qa["lesions"]) == 1
    assert qa["lesions"][0]["volume_ml"] == pytest.approx(WHOLE.sum() * 0.9 * 1.1 * 2.5 / 1000)
    before = time.time()
    saved = ann.save()
    after = time.time()

    labels_folder = station.folder / "labels"
    assert saved["folder"] == str(labels_folder) and saved["revision"] == 1
    assert {LABELS_NAME, SIDECAR_NAME} <= set(saved["files"])
    labels = read_image(labels_folder / LABELS_NAME)
    flair = read_image(station.paths["flair"])
    assert not np.allclose(flair.direction_lps, np.eye(3)), "the test needs an oblique, non-RAS input"
    assert labels.shape_kji == flair.shape_kji
    assert np.allclose(labels.origin_lps, flair.origin_lps, rtol=0, atol=1e-6)
    assert np.allclose(labels.spacing_mm, flair.spacing_mm, rtol=0, atol=1e-6)
    assert np.allclose(labels.direction_lps, flair.direction_lps, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(labels.array_kji, brats2021(whole=WHOLE))  # edema exactly where painted

    sidecar = json.loads((labels_folder / SIDECAR_NAME).read_text())
    assert "Station" in sidecar["provenance"]["edited_in"]
    assert sidecar["files"]["labels"] == LABELS_NAME and sidecar["convention"] == "brats2021"

    case = station.worklist.get(CASE_ID)
    assert case.revision == 1 and Path(case.labels_path) == labels_folder / LABELS_NAME
    (event,) = [e for e in station.worklist.history(CASE_ID) if e["action"] == "saved"]
    assert event["user"] == "ann" and before <= event["at"] <= after
    assert not [p.name for p in station.folder.iterdir() if p.name.startswith(".")], "no staging folder left"


@pytest.mark.mrml
def test_nested_regions_save_as_edema_non_enhancing_and_enhancing_and_reopen_unchanged(station):
    from assistcore.image_io import read_image

    ann = station.session("ann", "annotator")
    ann.open_case(CASE_ID)
    paint(ann, "Whole tumor", WHOLE)
    paint(ann, "Tumor body", BODY)
    paint(ann, "Enhancing tumor", ENHANCING)
    ann.save()
    labels = read_image(station.folder / "labels" / LABELS_NAME).array_kji
    np.testing.assert_array_equal(labels, brats2021(WHOLE, BODY, ENHANCING))

    again = station.session("ann", "annotator")  # another browser tab: a fresh scene
    reopened = again.open_case(CASE_ID)
    assert reopened.base_revision == 1 and reopened.segmentation_node is not None
    masks = segment_masks(again)
    np.testing.assert_array_equal(masks["Whole tumor"], WHOLE)
    np.testing.assert_array_equal(masks["Tumor body"], BODY)
    np.testing.assert_array_equal(masks["Enhancing tumor"], ENHANCING)
    # tumour body that is not enhancing is saved as label 1 and so comes back as non-enhancing tumour
    np.testing.assert_array_equal(masks["Non-enhancing tumor"], BODY & ~ENHANCING)
    # the sidecar's provenance comes back with the labels, so the next save still carries it
    provenance = json.loads(reopened.segmentation_node.GetAttribute("RadAssist.Provenance"))
    assert "Station" in provenance["edited_in"]


def submitted_case(station):
    """The case annotated by ``ann`` (whole tumour painted, saved at revision 1) and submitted."""
    ann = station.session("ann", "annotator")
    ann.open_case(CASE_ID)
    paint(ann, "Whole tumor", WHOLE)
    ann.save()
    assert ann.submit().status is CaseStatus.IN_REVIEW
    return ann


@pytest.mark.mrml
def test_a_second_reviewer_saving_a_stale_case_is_refused_and_can_keep_a_copy(station):
    from assistcore.image_io import read_image

    submitted_case(station)
    first, second = station.session("rev1", "reviewer"), station.session("rev2", "reviewer")
    first.open_case(CASE_ID)
    second.open_case(CASE_ID)
    np.testing.assert_array_equal(segment_masks(second)["Whole tumor"], WHOLE)  # the annotator's labels

    paint(first, "Tumor body", BODY)
    paint(first, "Enhancing tumor", ENHANCING)
    assert first.save()["revision"] == 2
    labels_folder = station.folder / "labels"
    first_save = folder_bytes(labels_folder)

    paint(second, "Whole tumor", OTHER_WHOLE)
    with pytest.raises(ConflictError, match="rev1") as refused:
        second.save()
    assert "not written" in str(refused.value)
    assert folder_bytes(labels_folder) == first_save, "the refused save must not touch the first reviewer's files"
    case = station.worklist.get(CASE_ID)
    assert case.revision == 2 and Path(case.labels_path) == labels_folder / LABELS_NAME
    assert [e["user"] for e in station.worklist.history(CASE_ID) if e["action"] == "saved"] == ["ann", "rev1"]
    assert not [p.name for p in station.folder.iterdir() if p.name.startswith(".")], "no staging folder left"

    copy = second.save_copy()
    copy_folder = Path(copy["folder"])
    assert copy_folder.parent == station.folder / "copies" and copy_folder.name.startswith("rev2-")
    assert {LABELS_NAME, SIDECAR_NAME} <= set(copy["files"])
    np.testing.assert_array_equal(read_image(copy_folder / LABELS_NAME).array_kji, brats2021(whole=WHOLE | OTHER_WHOLE))
    assert folder_bytes(labels_folder) == first_save, "a copy leaves the case's own labels alone"
    np.testing.assert_array_equal(read_image(labels_folder / LABELS_NAME).array_kji, brats2021(WHOLE, BODY, ENHANCING))
    (event,) = [e for e in station.worklist.history(CASE_ID) if e["action"] == "saved_copy"]
    assert event["user"] == "rev2" and event["details"]["folder"] == str(copy_folder)
    assert station.worklist.get(CASE_ID).revision == 2, "a copy is not a save of the case"


@pytest.mark.mrml
def test_two_copies_by_one_user_in_the_same_second_are_both_kept(station, monkeypatch):
    real_strftime = time.strftime
    monkeypatch.setattr(
        time, "strftime", lambda fmt, *args: "20260101T120000" if fmt == "%Y%m%dT%H%M%S" else real_strftime(fmt, *args)
    )
    submitted_case(station)
    reviewer = station.session("rev1", "reviewer")
    reviewer.open_case(CASE_ID)
    paint(reviewer, "Enhancing tumor", ENHANCING)
    reviewer.save_copy()
    paint(reviewer, "Whole tumor", OTHER_WHOLE)
    reviewer.save_copy()
    assert len(list((station.folder / "copies").iterdir())) == 2


@pytest.mark.mrml
def test_only_a_reviewer_accepts_and_the_check_is_made_by_the_session_not_the_buttons(station):
    ann = submitted_case(station)
    with pytest.raises(WorkflowError, match="cannot accept"):
        ann.review(accept=True)
    admin = station.session("root", "admin")
    admin.open_case(CASE_ID)
    with pytest.raises(WorkflowError, match="cannot accept"):
        admin.review(accept=True)
    other_annotator = station.session("ann2", "annotator")
    with pytest.raises(InputError):
        other_annotator.open_case(CASE_ID)
    assert station.worklist.get(CASE_ID).status is CaseStatus.IN_REVIEW, "refused decisions change nothing"

    reviewer = station.session("rev1", "reviewer")
    reviewer.open_case(CASE_ID)
    accepted = reviewer.review(accept=True, comment="fine")
    assert accepted.status is CaseStatus.ACCEPTED and accepted.reviewer == "rev1"
    assert station.worklist.get(CASE_ID).status is CaseStatus.ACCEPTED
    last = station.worklist.history(CASE_ID)[-1]
    assert (last["user"], last["action"], last["details"]["comment"]) == ("rev1", "accepted", "fine")
    with pytest.raises(WorkflowError):
        reviewer.save()  # accepted is final
    with pytest.raises(WorkflowError):
        reviewer.review(accept=False)


@pytest.mark.mrml
def test_a_reviewer_sends_a_case_back_and_its_annotator_takes_it_again(station):
    submitted_case(station)
    reviewer = station.session("rev1", "reviewer")
    reviewer.open_case(CASE_ID)
    assert reviewer.review(accept=False, comment="edema missed").status is CaseStatus.REJECTED
    ann = station.session("ann", "annotator")
    opened = ann.open_case(CASE_ID)
    assert opened.case.status is CaseStatus.IN_ANNOTATION and opened.case.annotator == "ann"
    paint(ann, "Whole tumor", OTHER_WHOLE)
    assert ann.save()["revision"] == 2


@pytest.mark.mrml
def test_an_annotator_cannot_open_or_save_another_annotators_case(station):
    ann = station.session("ann", "annotator")
    ann.open_case(CASE_ID)
    events = len(station.worklist.history(CASE_ID))
    intruder = station.session("ann2", "annotator")
    with pytest.raises(InputError, match="not in your worklist"):
        intruder.open_case(CASE_ID)
    assert intruder.current is None
    assert CASE_ID not in {row["case_id"] for row in intruder.visible_cases()}
    case = station.worklist.get(CASE_ID)
    assert case.annotator == "ann" and case.status is CaseStatus.IN_ANNOTATION
    assert len(station.worklist.history(CASE_ID)) == events, "a refused open leaves no trace in the case"
    with pytest.raises(WorkflowError, match="No case is open"):
        intruder.save()


@pytest.mark.mrml
def test_save_as_copy_needs_the_right_to_edit_like_save(station):
    """A user who may only look at a case (an admin; a reviewer before it is in review) cannot write copies of it."""
    ann = station.session("ann", "annotator")
    ann.open_case(CASE_ID)
    paint(ann, "Whole tumor", WHOLE)
    for username, role in (("root", "admin"), ("rev1", "reviewer")):
        viewer = station.session(username, role)
        viewer.open_case(CASE_ID)
        paint(viewer, "Whole tumor", OTHER_WHOLE)
        with pytest.raises(WorkflowError, match="cannot save a copy of case"):
            viewer.save_copy()
        with pytest.raises(WorkflowError, match="cannot save case"):
            viewer.save()
    assert not (station.folder / "copies").exists(), "a refused copy must leave nothing in the case folder"
    assert not [e for e in station.worklist.history(CASE_ID) if e["action"] == "saved_copy"]
    assert Path(ann.save_copy()["folder"]).parent == station.folder / "copies", "the annotator still may"


@pytest.mark.mrml
def test_only_the_cases_annotator_submits_it_and_nobody_changes_a_submitted_case(station):
    ann = station.session("ann", "annotator")
    ann.open_case(CASE_ID)
    paint(ann, "Whole tumor", WHOLE)
    ann.save()
    reviewer = station.session("rev1", "reviewer")
    reviewer.open_case(CASE_ID)
    with pytest.raises(WorkflowError, match="cannot submit case"):
        reviewer.submit()
    assert station.worklist.get(CASE_ID).status is CaseStatus.IN_ANNOTATION
    assert ann.submit().status is CaseStatus.IN_REVIEW
    # the annotator's open session no longer may change the case: every writing action re-reads its status
    for action, message in (
        (ann.save, "cannot save case"),
        (ann.save_copy, "cannot save a copy"),
        (ann.assistant_inputs, "cannot change the results"),
        (ann.submit, "cannot submit"),
    ):
        with pytest.raises(WorkflowError, match=message):
            action()
    with pytest.raises(WorkflowError, match="cannot show an assistant's result"):
        ann.show_result(object())
    assert station.worklist.get(CASE_ID).revision == 1


@pytest.mark.mrml
def test_another_annotators_case_is_refused_exactly_like_a_missing_one(station):
    station.session("ann", "annotator").open_case(CASE_ID)
    intruder = station.session("ann2", "annotator")
    with pytest.raises(InputError) as hidden:
        intruder.open_case(CASE_ID)
    with pytest.raises(InputError) as missing:
        intruder.open_case("NOPE")
    assert str(missing.value).replace("NOPE", CASE_ID) == str(hidden.value)


# ----- the gateway -----------------------------------------------------------------------------
@pytest.fixture
def gateway_client(tmp_path, monkeypatch):
    """Run ``scenario(client, gateway)`` against a Gateway without spare workers; starting one fails the test."""
    from aiohttp.test_utils import TestClient, TestServer

    import radassist.station.gateway as gateway_module

    async def no_worker(*_args, **_kwargs):
        raise AssertionError("the gateway must not start a Station worker here")

    monkeypatch.setattr(gateway_module, "start_worker", no_worker)
    worklist = tmp_path / "worklist.db"
    Accounts(worklist).add("ann", PASSWORD, "annotator")

    def run(scenario):
        async def main():
            gateway = gateway_module.Gateway(worklist, spare=False)
            async with TestClient(TestServer(gateway.app)) as client:
                return await scenario(client, gateway)

        return asyncio.run(main())

    return SimpleNamespace(run=run, worklist=worklist)


def test_nothing_behind_the_gateway_answers_before_sign_in(gateway_client):
    from radassist.station.gateway import COOKIE

    async def scenario(client, _gateway):
        answers = {}
        for name, method, path, headers in (
            ("page", "GET", "/", {"Accept": "text/html,application/xhtml+xml"}),
            ("deep page", "GET", "/index.html?case=CASE1", {"Accept": "text/html"}),
            ("script", "GET", "/anything.js", {"Accept": "*/*"}),
            ("api", "POST", "/anything", {"Accept": "text/html"}),
            ("forged cookie", "GET", "/", {"Accept": "text/html", "Cookie": f"{COOKIE}=forged-token"}),
            ("websocket", "GET", "/ws", {"Upgrade": "websocket", "Connection": "Upgrade"}),
        ):
            response = await client.request(method, path, headers=headers, allow_redirects=False)
            answers[name] = (response.status, response.headers.get("Location"), response.headers.get("Cache-Control"))
        return answers

    answers = gateway_client.run(scenario)
    assert answers["page"] == (303, "/signin", "no-store")
    assert answers["deep page"] == (303, "/signin", "no-store")
    assert answers["forged cookie"] == (303, "/signin", "no-store")
    assert answers["script"][0] == answers["api"][0] == answers["websocket"][0] == 401


def test_the_sign_in_page_has_the_form(gateway_client):
    async def scenario(client, _gateway):
        response = await client.get("/signin")
        return response.status, response.content_type, await response.text()

    status, content_type, page = gateway_client.run(scenario)
    assert status == 200 and content_type == "text/html"
    for element in ('id="signin-username"', 'id="signin-password"', 'type="password"', 'action="/signin"'):
        assert element in page
    assert 'id="signin-error"' not in page


def test_a_wrong_password_is_refused_without_a_session_and_logged_with_the_address(gateway_client):
    async def scenario(client, gateway):
        response = await client.post(
            "/signin", data={"username": "ann", "password": "not-the-password"}, allow_redirects=False
        )
        after = await client.get("/", headers={"Accept": "text/html"}, allow_redirects=False)
        return response.status, response.headers, await response.text(), after.status, dict(gateway.sessions)

    status, headers, page, status_after, sessions = gateway_client.run(scenario)
    assert status == 401
    assert "Wrong user name or password" in page and 'id="signin-error"' in page
    assert "Set-Cookie" not in headers and sessions == {}
    assert status_after == 303, "still signed out"
    (attempt,) = Accounts(gateway_client.worklist).sign_ins("ann")
    assert attempt["succeeded"] is False and attempt["address"] == "127.0.0.1"


def test_the_gateway_refuses_the_right_password_once_the_name_is_locked_out(gateway_client):
    async def scenario(client, _gateway):
        statuses = []
        for password in ["guess-guess-guess"] * LOCKOUT_ATTEMPTS + [PASSWORD]:
            response = await client.post(
                "/signin", data={"username": "ann", "password": password}, allow_redirects=False
            )
            statuses.append((response.status, "Set-Cookie" in response.headers))
        return statuses

    assert gateway_client.run(scenario) == [(401, False)] * (LOCKOUT_ATTEMPTS + 1)
    assert [a["succeeded"] for a in Accounts(gateway_client.worklist).sign_ins("ann")] == [False] * 6


# ----- the command line ------------------------------------------------------------------------
@pytest.fixture
def no_serving(monkeypatch):
    """Record what `radassist serve` would serve instead of serving it (which would block)."""
    import radassist.station.gateway as gateway_module

    calls = []
    monkeypatch.setattr(gateway_module, "serve", lambda *args, **kwargs: calls.append(args))
    return calls


@pytest.mark.cli
def test_serve_refuses_an_address_other_machines_reach_without_allow_remote(tmp_path, capsys, no_serving):
    from radassist.cli.main import main

    cases = tmp_path / "cases"
    write_case(cases, CASE_ID)
    assert main(["serve", "--host", "0.0.0.0", "--cases", str(cases)]) == 1
    error = capsys.readouterr().err
    assert "--allow-remote" in error and "0.0.0.0" in error and "Traceback" not in error
    assert no_serving == []
    assert not (cases / "worklist.db").exists(), "refused before touching anything"


@pytest.mark.cli
def test_serve_without_accounts_says_how_to_add_one(tmp_path, capsys, no_serving):
    from radassist.cli.main import main

    cases = tmp_path / "cases"
    write_case(cases, CASE_ID)
    assert main(["serve", "--cases", str(cases)]) == 1
    error = capsys.readouterr().err
    assert "radassist users add" in error and str(cases / "worklist.db") in error
    assert no_serving == []


def run_with_stdin(monkeypatch, text: str, argv: list[str]) -> int:
    from radassist.cli.main import main

    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    return main(argv)


@pytest.mark.cli
def test_users_added_from_standard_input_are_listed_with_their_role(tmp_path, capsys, monkeypatch):
    from radassist.cli.main import main

    worklist = str(tmp_path / "worklist.db")
    code = run_with_stdin(
        monkeypatch,
        PASSWORD + "\n",
        ["users", "add", "ann", "--role", "reviewer", "--worklist", worklist, "--password-stdin"],
    )
    assert code == 0
    output = capsys.readouterr()
    assert "ann" in output.out and PASSWORD not in output.out + output.err
    assert main(["users", "list", "--worklist", worklist, "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["username"], row["role"], row["disabled"]) == ("ann", "reviewer", False)
    assert Accounts(worklist).authenticate("ann", PASSWORD) == Account("ann", Role.REVIEWER), "no newline kept"

    assert (
        run_with_stdin(
            monkeypatch,
            "short\n",
            ["users", "add", "bob", "--role", "admin", "--worklist", worklist, "--password-stdin"],
        )
        == 1
    )
    assert "at least 8" in capsys.readouterr().err
    assert main(["users", "disable", "ann", "--worklist", worklist]) == 0
    assert Accounts(worklist).authenticate("ann", PASSWORD) is None
    code = run_with_stdin(
        monkeypatch, "another password\n", ["users", "passwd", "ann", "--worklist", worklist, "--password-stdin"]
    )
    assert code == 0
    assert main(["users", "disable", "ann", "--enable", "--worklist", worklist]) == 0
    assert Accounts(worklist).authenticate("ann", "another password") is not None


@pytest.mark.cli
def test_serve_with_allow_remote_warns_registers_the_cases_and_serves(tmp_path, capsys, no_serving):
    from radassist.cli.main import main

    cases = tmp_path / "cases"
    write_case(cases, CASE_ID)
    worklist = cases / "worklist.db"
    Accounts(worklist).add("root", PASSWORD, "admin")
    assert main(["serve", "--host", "0.0.0.0", "--allow-remote", "--cases", str(cases), "--port", "8123"]) == 0
    output = capsys.readouterr()
    assert "WARNING" in output.err and "HTTPS" in output.err
    assert CASE_ID in output.out
    ((served_worklist, host, port, _started),) = no_serving
    assert (served_worklist, host, port) == (worklist.resolve(), "0.0.0.0", 8123)
    assert Worklist(worklist).get(CASE_ID).status is CaseStatus.NEW


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("10.0.0.1", False),
        ("station.example.org", False),
        ("", False),  # an empty host binds every interface
    ],
)
def test_only_loopback_addresses_count_as_this_machine_only(host, loopback):
    from radassist.station.gateway import is_loopback

    assert is_loopback(host) is loopback


@pytest.mark.cli
def test_export_training_takes_only_accepted_brain_cases_with_saved_labels(tmp_path, capsys):
    from assistcore.atomic import RESULT_MARKER
    from radassist.cli.main import main
    from radassist.station.assistants import CASE_FILE

    root = tmp_path / "cases"
    brain = write_case(root, "BRAIN1")
    write_case(root, "UNSAVED1")
    crm = root / "RECTUM1"
    crm.mkdir()
    (crm / "t2.nii.gz").write_bytes(brain["t2"].read_bytes())
    (crm / CASE_FILE).write_text(json.dumps({"assistant": "crm", "inputs": {"t2": "t2.nii.gz"}}))
    (crm / "results").mkdir()
    (crm / "results" / "report.json").write_text("{}")
    labels = root / "BRAIN1" / "labels" / "BRAIN1_flair_seg-brats2021.nii.gz"
    labels.parent.mkdir()
    labels.write_bytes(brain["flair"].read_bytes())  # any NIfTI: export copies the file
    worklist = Worklist(tmp_path / "worklist.db")
    for case_id, saved in (("BRAIN1", labels), ("UNSAVED1", None), ("RECTUM1", crm / "results" / "report.json")):
        worklist.add_case(case_id, root / case_id)
        case = worklist.claim(case_id, "ann")
        if saved is not None:
            worklist.save_labels(case_id, "ann", case.revision, saved)
        worklist.submit(case_id, "ann")
        worklist.review(case_id, "rev", accept=True)
    out = tmp_path / "training"
    assert main(["brain", "export-training", "--worklist", str(worklist.path), "--out", str(out), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record == {"exported": ["BRAIN1"], "skipped": ["RECTUM1", "UNSAVED1"]}
    assert sorted(path.name for path in out.iterdir() if path.name != RESULT_MARKER) == ["BRAIN1"]
    assert (out / "BRAIN1" / "BRAIN1_seg.nii.gz").read_bytes() == labels.read_bytes()


def test_sessions_unused_for_longer_than_the_idle_limit_are_signed_out_and_their_process_stopped(tmp_path):
    from assistcore.station.accounts import Account, Role
    from radassist.station.gateway import Gateway, Session, Worker

    async def scenario():
        gateway = Gateway(tmp_path / "worklist.db", spare=False, idle_sign_out_s=60.0)
        processes = []
        for token, user, last_seen in (("idle", "ann", 1000.0), ("busy", "rev", 1050.0)):
            # `cat` stands in for an app process: like it, it ends when its standard input closes
            process = await asyncio.create_subprocess_exec(
                "cat", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL
            )
            processes.append(process)
            gateway.sessions[token] = Session(Account(user, Role.ANNOTATOR), Worker(process, 1, "key", 0.0))
            gateway.sessions[token].last_seen = last_seen
        signed_out = await gateway.sign_out_idle_sessions(now=1100.0)
        codes = [process.returncode for process in processes]
        processes[1].kill()
        await processes[1].wait()
        return signed_out, sorted(gateway.sessions), codes

    signed_out, remaining, codes = asyncio.run(scenario())
    assert signed_out == ["ann"]
    assert remaining == ["busy"]
    assert codes[0] is not None, "the idle session's app process must be stopped"
    assert codes[1] is None, "a session in use keeps its app process"
