"""What a signed-in Station user does with cases, on an MRML scene, with no web code.

The web app (``radassist.station.app``) only turns buttons into calls of :class:`StationSession` and shows
what they return; tests drive the same calls on a headless slicer-core scene.

Threading: :meth:`StationSession.compute` is the slow part of running an assistant (no MRML; safe in a
worker thread, cancellable); :meth:`StationSession.show_result` puts its result into the scene and must run
on the thread that owns the scene, like every other method.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistcore.brain.worklist import Case, CaseStatus, WorkflowError, Worklist
from assistcore.errors import InputError
from assistcore.image import Image
from assistcore.station.accounts import Account, can_edit, can_review, can_see

from .assistants import (
    TITLES,
    add_result_to_scene,
    case_inputs,
    compute_case,
    display_images,
    reference_role,
    result_summary,
    saved_summary,
    write_results,
)

#: Where a save puts the label files (BrainTumorLabel) or the results (CRM, spine), inside the case folder;
#: replaced as a whole on every save.
LABELS_FOLDER = "labels"
RESULTS_FOLDER = "results"
COPIES_FOLDER = "copies"
EDITED_IN = "RadAssist Station (trame-slicer Segment Editor)"


def case_kind(folder: str | os.PathLike[str]) -> str:
    """The assistant a case folder is for (see :mod:`radassist.station.assistants`)."""
    return case_inputs(folder)[0]


def register_case_folders(worklist: Worklist, cases_root: str | os.PathLike[str], user: str = "system") -> list[str]:
    """Add every sub-folder of ``cases_root`` that is a case (sequences, or a case file) as ``new``; returns the ids."""
    root = Path(cases_root)
    if not root.is_dir():
        raise InputError(f"Cases folder {root} does not exist.", "Give --cases a folder with one sub-folder per case.")
    known = {case.case_id for case in worklist.cases()}
    added = []
    for folder in sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")):
        if folder.name in known:
            continue
        try:
            kind, inputs = case_inputs(folder)
        except InputError:
            continue
        if not inputs:
            continue
        worklist.add_case(folder.name, folder.resolve(), user=user, assistant=kind)
        added.append(folder.name)
    return added


@dataclass
class OpenCase:
    """The case on screen: its record when opened (the revision a save starts from) and its scene nodes."""

    case: Case
    kind: str  # brain | crm | spine
    inputs: dict[str, Any]  # role -> file (or list of files), as the assistant reads them
    images: dict[str, Image]  # volume name -> image, as shown
    reference_role: str
    volume_nodes: dict[str, Any]
    segmentation_node: Any = None
    base_revision: int = 0
    summary: dict = field(default_factory=dict)
    result: Any = None  # the last assistant result of this session (CRM and spine saves write it)

    @property
    def title(self) -> str:
        return TITLES[self.kind]

    @property
    def reference_node(self):
        return self.volume_nodes[self.reference_role]


class StationSession:
    """One signed-in user working through the worklist on one MRML scene.

    :param scene: the MRML scene the views show.
    :param logics: :class:`AssistCoreLib.headless.HeadlessLogics`-like (``segmentations`` at least).
    :param worklist: the shared worklist database; ``accounts`` decide what ``account`` may do.
    """

    def __init__(self, scene, logics, worklist: Worklist, account: Account) -> None:
        self.scene = scene
        self.logics = logics
        self.worklist = worklist
        self.account = account
        self.current: OpenCase | None = None

    # ----- the worklist ------------------------------------------------------------------------
    def visible_cases(self) -> list[dict]:
        """Rows of the worklist this user may see: id, assistant, status, uncertainty, assignee, reviewer.

        Cases waiting for annotation come first, most uncertain first whichever assistant pre-labelled them
        (the worklist's queue order, unscored last); then the others by case id.
        """
        waiting = [case.case_id for case in self.worklist.queue()]
        place = {case_id: index for index, case_id in enumerate(waiting)}
        ordered = sorted(self.worklist.cases(), key=lambda case: (place.get(case.case_id, len(place)), case.case_id))
        rows = []
        for case in ordered:
            if can_see(self.account, case):
                rows.append(
                    {
                        "case_id": case.case_id,
                        "assistant": case.assistant,
                        "status": case.status.value,
                        "uncertainty": None if case.uncertainty is None else round(case.uncertainty, 4),
                        "annotator": case.annotator or "",
                        "reviewer": case.reviewer or "",
                        "saved": case.labels_path is not None and Path(case.labels_path).exists(),
                    }
                )
        return rows

    def _case(self, case_id: str) -> Case:
        """The case if this user may see it. A hidden and a missing case get the same message, which names
        neither the database nor the assignee: an annotator learns nothing about others' cases."""
        try:
            case = self.worklist.get(case_id)
        except InputError:
            case = None
        if case is None or not can_see(self.account, case):
            raise InputError(f"Case {case_id!r} is not in your worklist.")
        return case

    # ----- opening ---------------------------------------------------------------------------
    def open_case(self, case_id: str) -> OpenCase:
        """Load the case's sequences (and its latest labels) into the scene; annotators claim it.

        The scene is cleared first (trame-slicer's editor needs a clean scene before new data).
        """
        from assistcore.image_io import read_image
        from AssistCoreLib.volumes import imageToVolumeNode

        case = self._case(case_id)
        kind, inputs = case_inputs(case.folder)
        if not inputs:
            raise InputError(f"No images found in {case.folder}.", "Put the case's NIfTI files in its folder.")
        if self.account.role.value == "annotator" and case.status in (
            CaseStatus.NEW,
            CaseStatus.PRELABELLED,
            CaseStatus.REJECTED,
        ):
            case = self.worklist.claim(case_id, self.account.username)
        shown = display_images(inputs)
        with ThreadPoolExecutor(max_workers=len(shown)) as pool:  # gzip inflation releases the GIL
            images = dict(zip(shown, pool.map(lambda p: read_image(p, as_scan=True), shown.values())))
        self.close_case()
        self.scene.Clear(0)
        nodes = {name: imageToVolumeNode(self.scene, image, f"{case_id}_{name}") for name, image in images.items()}
        opened = OpenCase(case, kind, inputs, images, reference_role(kind, list(images)), nodes)
        opened.base_revision = case.revision
        if kind == "brain" and case.labels_path and Path(case.labels_path).exists():
            opened.segmentation_node = self._labels_to_segmentation(opened, Path(case.labels_path))
        elif kind != "brain":
            results = Path(case.folder) / RESULTS_FOLDER
            if not results.is_dir() and case.labels_path:  # pre-labelled by `radassist batch` into its own folder
                results = Path(case.labels_path).parent
            opened.summary = saved_summary(kind, results) or {}
        self.current = opened
        self.worklist.log_event(case_id, self.account.username, "opened", revision=case.revision)
        return opened

    def close_case(self) -> None:
        self.current = None

    def _labels_to_segmentation(self, opened: OpenCase, labels_path: Path):
        """The saved (or pre-labelled) BraTS 2021 label file as the four coded region segments."""
        from assistcore.brain.regions import from_convention
        from assistcore.image_io import read_image
        from AssistCoreLib.brainTumor import regionSegmentationNode

        labels = read_image(labels_path)
        reference = opened.images[opened.reference_role]
        if not labels.same_grid(reference):
            raise InputError(
                f"Labels {labels_path} are not on the grid of {opened.inputs[opened.reference_role]}.",
                "Save labels on the reference sequence's grid (the Station and radassist brain do).",
            )
        sidecar = labels_path.parent / f"{opened.case.case_id}_labels.json"
        provenance = json.loads(sidecar.read_text(encoding="utf-8")).get("provenance", {}) if sidecar.exists() else None
        internal = from_convention(labels.array_kji, "brats2021")
        return regionSegmentationNode(
            self.scene, self.logics, internal, reference, opened.case.case_id, opened.reference_node, provenance
        )

    def _require_open(self) -> OpenCase:
        if self.current is None:
            raise WorkflowError("No case is open.", "Open a case from the worklist first.")
        return self.current

    # ----- the assistant -----------------------------------------------------------------------
    def _require_edit(self, what: str) -> Case:
        """The open case's current record if this user may change it now (read again: its status may have moved
        since it was opened). Every action that changes a case or writes files for it goes through here, so
        the check does not depend on which buttons the page shows.

        :raises WorkflowError: not this user's to change (role, assignment or status).
        """
        opened = self._require_open()
        case = self.worklist.get(opened.case.case_id)
        if not can_edit(self.account, case):
            raise WorkflowError(
                f"You cannot {what} case {case.case_id}: it is {case.status.value}, and "
                f"{self.account.username} ({self.account.role.value}) may not change it now."
            )
        return case

    def assistant_inputs(self) -> tuple[str, dict[str, Any], str]:
        """What :func:`~radassist.station.assistants.compute_case` needs for the open case (checks the right to edit).

        :returns: (assistant kind, role -> file(s), case id).
        """
        opened = self._require_open()
        self._require_edit("change the results of")
        return opened.kind, dict(opened.inputs), opened.case.case_id

    def compute(self, options: dict | None = None, progress: Callable | None = None, cancel_token=None):
        """Run the case's assistant in this process (the web app uses a helper process instead).

        No MRML here: it may run in a worker thread; then call :meth:`show_result` on the scene's thread.
        """
        kind, inputs, case_id = self.assistant_inputs()
        return compute_case(kind, inputs, case_id, options, progress=progress, cancel_token=cancel_token)

    def show_result(self, result) -> dict:
        """Put the assistant's result into the scene (a brain result replaces the segmentation); returns the
        summary the panel shows."""
        opened = self._require_open()
        self._require_edit("show an assistant's result on")  # the case may have been submitted during the run
        if opened.kind == "brain" and opened.segmentation_node is not None:
            self.scene.RemoveNode(opened.segmentation_node)
        segmentation = add_result_to_scene(
            opened.kind, self.scene, self.logics, result, opened.case.case_id, opened.volume_nodes
        )
        if opened.kind == "brain":
            opened.segmentation_node = segmentation
        opened.result = result
        opened.summary = result_summary(opened.kind, result)
        self.worklist.log_event(opened.case.case_id, self.account.username, "assistant_run", assistant=opened.kind)
        return opened.summary

    def ensure_segmentation(self):
        """The open brain case's segmentation, made empty with the four coded region segments if there is none
        (None for CRM and spine cases: their results are not edited here)."""
        import numpy as np

        opened = self._require_open()
        if opened.kind != "brain":
            return None
        if opened.segmentation_node is None:
            from AssistCoreLib.brainTumor import regionSegmentationNode

            reference = opened.images[opened.reference_role]
            empty = np.zeros(reference.array_kji.shape, np.uint8)
            opened.segmentation_node = regionSegmentationNode(
                self.scene, self.logics, empty, reference, opened.case.case_id, opened.reference_node
            )
        return opened.segmentation_node

    # ----- checks and saving -------------------------------------------------------------------
    def run_qa(self) -> dict:
        """The consensus QA checks on the segmentation as it is now (nesting, islands, outside brain, ends)."""
        from AssistCoreLib.brainTumor import qaForSegmentation

        opened = self._require_open()
        if opened.kind != "brain":
            raise WorkflowError(f"The QA checks are for tumour labels; {opened.title} has its own review table.")
        return qaForSegmentation(self.scene, self.logics, self.ensure_segmentation(), opened.reference_node)

    def _export(self, folder: Path) -> Path:
        """Write what a save writes into ``folder``; returns the file the worklist records."""
        from AssistCoreLib.brainTumor import exportSegmentation

        opened = self._require_open()
        if opened.kind != "brain":
            if opened.result is None:
                raise WorkflowError(f"Nothing to save yet: run {opened.title} first.")
            return write_results(opened.kind, opened.result, folder, opened.case.case_id)
        files = exportSegmentation(
            self.scene,
            self.logics,
            self.ensure_segmentation(),
            opened.reference_node,
            folder,
            opened.case.case_id,
            opened.reference_role,
            editedIn=EDITED_IN,
        )
        return files["labels"]

    def save(self) -> dict:
        """Write the labels as ``radassist brain`` names them into ``<case>/labels/`` (CRM and spine: the results
        as their commands write them into ``<case>/results/``) and record the save.

        The files are written to a temporary folder first and moved into place inside the worklist's
        transaction, after the revision check: a refused save changes nothing on disk.
        :raises ConflictError: someone saved the case after it was opened here (then use :meth:`save_copy`).
        """
        opened = self._require_open()
        case = self._require_edit("save")
        final = Path(case.folder) / (LABELS_FOLDER if opened.kind == "brain" else RESULTS_FOLDER)
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=case.folder))
        try:
            recorded_name = self._export(staging).name

            def publish() -> None:
                old = final.with_name(f".{final.name}.old-{os.getpid()}")
                if final.exists():
                    os.replace(final, old)
                os.replace(staging, final)
                shutil.rmtree(old, ignore_errors=True)

            saved = self.worklist.save_labels(
                case.case_id, self.account.username, opened.base_revision, final / recorded_name, publish=publish
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        opened.base_revision = saved.revision
        opened.case = saved
        return {"folder": str(final), "files": sorted(p.name for p in final.iterdir()), "revision": saved.revision}

    def save_copy(self) -> dict:
        """Write the labels to ``<case>/copies/<user>-<time>/``; the case's own labels stay (after a conflict).

        A copy writes into the case folder, so it needs the same right as a save (a reviewer whose save was
        refused by a conflict still has it; a user who may only look at the case does not).
        """
        opened = self._require_open()
        self._require_edit("save a copy of")
        from assistcore.atomic import atomic_directory

        stamp = time.strftime("%Y%m%dT%H%M%S")
        copies = Path(opened.case.folder) / COPIES_FOLDER
        folder = copies / f"{self.account.username}-{stamp}"
        number = 1
        while folder.exists():  # a second copy within the same second must not replace the first
            number += 1
            folder = copies / f"{self.account.username}-{stamp}-{number}"
        with atomic_directory(folder) as staging:
            self._export(staging)
        self.worklist.log_event(opened.case.case_id, self.account.username, "saved_copy", folder=str(folder))
        return {"folder": str(folder), "files": sorted(p.name for p in folder.iterdir())}

    # ----- the review loop ---------------------------------------------------------------------
    def submit(self) -> Case:
        """Hand the open case to review. Only its annotator, as an annotator, while it is in annotation."""
        opened = self._require_open()
        case = self._require_edit("submit")
        if self.account.role.value != "annotator" or case.annotator != self.account.username:
            raise WorkflowError(f"Only the annotator of case {case.case_id} submits it for review.")
        opened.case = self.worklist.submit(case.case_id, self.account.username)
        return opened.case

    def review(self, accept: bool, comment: str = "") -> Case:
        """Accept or send back the open case. Only reviewers: checked here, not only by hiding buttons."""
        opened = self._require_open()
        case = self.worklist.get(opened.case.case_id)
        if not can_review(self.account, case):
            raise WorkflowError(
                f"{self.account.username} ({self.account.role.value}) cannot accept or send back case "
                f"{case.case_id} ({case.status.value}).",
                "Only a reviewer who did not annotate the case decides, once it is in review.",
            )
        opened.case = self.worklist.review(case.case_id, self.account.username, accept, comment)
        return opened.case
