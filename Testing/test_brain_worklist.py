"""The annotation worklist: uncertainty queue, status loop, refused conflicting saves, history."""

from __future__ import annotations

import pytest

from assistcore.brain.worklist import SCHEMA, CaseStatus, ConflictError, WorkflowError, Worklist
from assistcore.errors import InputError


@pytest.fixture
def a_worklist(tmp_path):
    worklist = Worklist(tmp_path / "worklist.db")
    for case_id, uncertainty in (("low", 0.1), ("high", 0.9), ("unscored", None), ("mid", 0.5)):
        worklist.add_prelabelled(case_id, tmp_path / case_id, tmp_path / f"{case_id}.nii.gz", uncertainty, "demo", "1")
    return worklist


def test_queue_serves_the_most_uncertain_case_first_and_unscored_last(a_worklist):
    assert [case.case_id for case in a_worklist.queue()] == ["high", "mid", "low", "unscored"]
    assert a_worklist.claim_next("ann").case_id == "high"
    assert a_worklist.claim_next("ann2").case_id == "mid"
    assert a_worklist.get("high").status is CaseStatus.IN_ANNOTATION


def test_second_save_from_a_stale_revision_is_refused_and_keeps_the_first(tmp_path, a_worklist):
    case = a_worklist.claim("high", "ann")
    other_session = Worklist(a_worklist.path)  # a second person with the same database
    a_worklist.save_labels("high", "ann", case.revision, tmp_path / "first.nii.gz")
    with pytest.raises(ConflictError, match="saved by ann"):
        other_session.save_labels("high", "ann", case.revision, tmp_path / "second.nii.gz")
    assert a_worklist.get("high").labels_path.endswith("first.nii.gz")


def test_full_loop_accept_and_send_back(a_worklist):
    case = a_worklist.claim("high", "ann")
    a_worklist.save_labels("high", "ann", case.revision, "edited.nii.gz")
    a_worklist.submit("high", "ann")
    with pytest.raises(WorkflowError, match="cannot also review"):
        a_worklist.review("high", "ann", accept=True)
    assert a_worklist.review("high", "rev", accept=False, comment="edema missed").status is CaseStatus.REJECTED
    assert [c.case_id for c in a_worklist.queue("someone-else")] == ["mid", "low", "unscored"]
    a_worklist.claim("high", "ann")
    a_worklist.submit("high", "ann")
    assert a_worklist.review("high", "rev", accept=True).status is CaseStatus.ACCEPTED
    assert [c.case_id for c in a_worklist.cases(CaseStatus.ACCEPTED)] == ["high"]
    actions = [(event["user"], event["action"]) for event in a_worklist.history("high")]
    assert actions == [
        ("model", "prelabelled"),
        ("ann", "claimed"),
        ("ann", "saved"),
        ("ann", "submitted"),
        ("rev", "rejected"),
        ("ann", "claimed"),
        ("ann", "submitted"),
        ("rev", "accepted"),
    ]


def test_accepted_case_cannot_be_reset_by_a_new_prelabelling(a_worklist):
    a_worklist.claim("low", "ann")
    a_worklist.submit("low", "ann")
    a_worklist.review("low", "rev", accept=True)
    with pytest.raises(WorkflowError, match="discard human work"):
        a_worklist.add_prelabelled("low", "x", "y.nii.gz", 0.3, "demo", "2")
    with pytest.raises(WorkflowError, match="cannot become"):
        a_worklist.claim("low", "ann")


def test_every_assistant_shares_one_queue_by_uncertainty_and_can_be_filtered(a_worklist, tmp_path):
    a_worklist.add_prelabelled(
        "crm1", tmp_path / "crm1", tmp_path / "boxes.json", 0.95, "crm-demo", "1", assistant="crm"
    )
    a_worklist.add_prelabelled(
        "us1", tmp_path / "us1", tmp_path / "d.json", 0.2, "breastus-busi", "1", assistant="breast-us"
    )
    assert [case.case_id for case in a_worklist.queue()] == ["crm1", "high", "mid", "us1", "low", "unscored"]
    assert [case.case_id for case in a_worklist.queue(assistant="crm")] == ["crm1"]
    assert a_worklist.get("high").assistant == "brain" and a_worklist.get("us1").assistant == "breast-us"
    assert a_worklist.history("crm1")[0]["details"]["assistant"] == "crm"
    with pytest.raises(WorkflowError, match="crm1 in the worklist is a crm case; a spine result cannot replace it"):
        a_worklist.add_prelabelled("crm1", tmp_path, tmp_path / "s.nii.gz", 0.5, "spine-demo", "1", assistant="spine")
    with pytest.raises(InputError, match="Unknown assistant 'lung'"):
        a_worklist.add_prelabelled("x", tmp_path, tmp_path / "x", 0.5, "m", "1", assistant="lung")


def test_a_worklist_from_before_the_assistant_column_opens_with_its_cases_as_brain_cases(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    old_schema = SCHEMA.replace(",\n    assistant TEXT NOT NULL DEFAULT 'brain'", "")
    assert "assistant" not in old_schema
    with sqlite3.connect(path) as connection:
        connection.executescript(old_schema)
        connection.execute(
            "INSERT INTO cases (case_id, folder, status, uncertainty, created_at, updated_at) "
            "VALUES ('old', '/cases/old', 'prelabelled', 0.4, 0, 0)"
        )
    worklist = Worklist(path)
    assert worklist.get("old").assistant == "brain" and worklist.queue()[0].uncertainty == 0.4
    worklist.add_prelabelled("new", tmp_path, tmp_path / "boxes.json", 0.9, "crm-demo", "1", assistant="crm")
    assert [case.case_id for case in worklist.queue()] == ["new", "old"]


def test_station_lists_waiting_cases_most_uncertain_first_whatever_their_assistant(a_worklist, tmp_path):
    from assistcore.station.accounts import Account, Role
    from radassist.station.cases import StationSession

    a_worklist.add_prelabelled(
        "spine1", tmp_path / "s", tmp_path / "seg.nii.gz", 0.7, "spine-demo", "1", assistant="spine"
    )
    a_worklist.claim("high", "ann")
    rows = StationSession(None, None, a_worklist, Account("rev", Role.REVIEWER)).visible_cases()
    assert [row["case_id"] for row in rows] == ["spine1", "mid", "low", "unscored", "high"]
    assert rows[0]["assistant"] == "spine"
