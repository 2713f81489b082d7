"""The annotation worklist: uncertainty queue, status loop, refused conflicting saves, history."""

from __future__ import annotations

import pytest

from assistcore.brain.worklist import CaseStatus, ConflictError, WorkflowError, Worklist


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
