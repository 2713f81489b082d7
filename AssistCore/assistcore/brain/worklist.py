"""The annotation worklist: cases, their status through the human-machine loop, and who did what.

A real embedded database (SQLite, one file) so that several annotators and a reviewer can share it.
Every assistant's cases share it (``assistant``: brain, spine, crm, breast-us; databases made before that
column existed are upgraded when opened, their cases counted as brain cases).
The loop: a case enters as ``new`` (images only) or the model pre-labels it (``prelabelled``, with an
uncertainty score); an annotator claims
the most uncertain case (``in_annotation``), corrects it and submits (``in_review``); a reviewer accepts
(``accepted``: it joins the training set) or sends it back (``rejected``, then claimed again).

Saves use optimistic concurrency: every save names the revision it started from; if someone saved the
case in between, the save is refused with :class:`ConflictError` and nothing is overwritten.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..errors import InputError, RadAssistError


class CaseStatus(str, Enum):
    NEW = "new"
    PRELABELLED = "prelabelled"
    IN_ANNOTATION = "in_annotation"
    IN_REVIEW = "in_review"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


#: Allowed transitions: status -> statuses it may move to.
TRANSITIONS = {
    CaseStatus.NEW: {CaseStatus.IN_ANNOTATION},
    CaseStatus.PRELABELLED: {CaseStatus.IN_ANNOTATION},
    CaseStatus.IN_ANNOTATION: {CaseStatus.IN_REVIEW, CaseStatus.PRELABELLED},
    CaseStatus.IN_REVIEW: {CaseStatus.ACCEPTED, CaseStatus.REJECTED},
    CaseStatus.REJECTED: {CaseStatus.IN_ANNOTATION},
    CaseStatus.ACCEPTED: set(),
}


class ConflictError(RadAssistError):
    """Someone else saved the case after you opened it; your save was not written."""


class WorkflowError(RadAssistError):
    """An action that the case's status or the user's role does not allow."""


@dataclass(frozen=True)
class Case:
    case_id: str
    folder: str
    status: CaseStatus
    uncertainty: float | None
    model_id: str
    model_version: str
    annotator: str | None
    reviewer: str | None
    labels_path: str | None
    revision: int
    created_at: float
    updated_at: float
    assistant: str = "brain"


SCHEMA = """
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY,
    folder TEXT NOT NULL,
    status TEXT NOT NULL,
    uncertainty REAL,
    model_id TEXT NOT NULL DEFAULT '',
    model_version TEXT NOT NULL DEFAULT '',
    annotator TEXT,
    reviewer TEXT,
    labels_path TEXT,
    revision INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    assistant TEXT NOT NULL DEFAULT 'brain'
);
CREATE TABLE IF NOT EXISTS events (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id TEXT NOT NULL REFERENCES cases(case_id),
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    at REAL NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS cases_queue ON cases(status, uncertainty);
"""

_COLUMNS = (
    "case_id, folder, status, uncertainty, model_id, model_version, annotator, reviewer, labels_path, "
    "revision, created_at, updated_at, assistant"
)

#: The assistants whose results may enter a worklist (``radassist batch ASSISTANT``).
ASSISTANTS = ("brain", "spine", "crm", "breast-us")


def database_path(path: str | Path) -> Path:
    """``path`` as a worklist database file, its folder created. :raises InputError: ``path`` is a folder."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"Worklist path {path} is a folder.", "Give a database file name, e.g. worklist.db.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


class Worklist:
    """A worklist database file. Every method is one transaction; safe to share between processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = database_path(path)
        connection = sqlite3.connect(self.path, timeout=30.0)
        try:
            connection.executescript(SCHEMA)  # executescript manages its own transaction
            columns = {row[1] for row in connection.execute("PRAGMA table_info(cases)")}
            if "assistant" not in columns:  # a database from before the batch command: all brain cases
                connection.execute("ALTER TABLE cases ADD COLUMN assistant TEXT NOT NULL DEFAULT 'brain'")
                connection.commit()
        finally:
            connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # isolation_level=None + BEGIN IMMEDIATE: take the write lock up front so two savers serialise
        # instead of both reading the same revision.
        connection = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            connection.execute("PRAGMA foreign_keys = ON")
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        finally:
            connection.close()

    @staticmethod
    def _row_to_case(row: tuple) -> Case:
        values = list(row)
        values[2] = CaseStatus(values[2])
        return Case(*values)

    def _get(self, connection: sqlite3.Connection, case_id: str) -> Case:
        row = connection.execute(f"SELECT {_COLUMNS} FROM cases WHERE case_id = ?", (case_id,)).fetchone()
        if row is None:
            raise InputError(f"Case {case_id!r} is not in the worklist {self.path}.")
        return self._row_to_case(row)

    @staticmethod
    def _log(connection: sqlite3.Connection, case_id: str, user: str, action: str, **details: object) -> None:
        connection.execute(
            "INSERT INTO events (case_id, user, action, at, details) VALUES (?, ?, ?, ?, ?)",
            (case_id, user, action, time.time(), json.dumps(details, default=str)),
        )

    def _move(self, connection: sqlite3.Connection, case: Case, new_status: CaseStatus, **columns: object) -> None:
        if new_status not in TRANSITIONS[case.status]:
            raise WorkflowError(
                f"Case {case.case_id} is {case.status.value}; it cannot become {new_status.value}.",
                f"Allowed next: {', '.join(s.value for s in TRANSITIONS[case.status]) or 'none (final)'}.",
            )
        assignments = ", ".join(f"{name} = ?" for name in ("status", "updated_at", *columns))
        connection.execute(
            f"UPDATE cases SET {assignments} WHERE case_id = ?",
            (new_status.value, time.time(), *columns.values(), case.case_id),
        )

    # ----- the loop ----------------------------------------------------------------------------
    def add_case(self, case_id: str, folder: str | Path, user: str = "system", assistant: str = "brain") -> Case:
        """Register a case folder with no labels yet (status ``new``); an existing case is left as it is."""
        now = time.time()
        with self._transaction() as connection:
            inserted = connection.execute(
                "INSERT OR IGNORE INTO cases (case_id, folder, status, created_at, updated_at, assistant) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (case_id, str(folder), CaseStatus.NEW.value, now, now, assistant),
            ).rowcount
            if inserted:
                self._log(connection, case_id, user, "added", folder=str(folder))
            return self._get(connection, case_id)

    def log_event(self, case_id: str, user: str, action: str, **details: object) -> None:
        """Add an event to the case's history (who, what, when) outside the status changes."""
        with self._transaction() as connection:
            self._get(connection, case_id)
            self._log(connection, case_id, user, action, **details)

    def add_prelabelled(
        self,
        case_id: str,
        folder: str | Path,
        labels_path: str | Path,
        uncertainty: float | None,
        model_id: str,
        model_version: str,
        user: str = "model",
        assistant: str = "brain",
    ) -> Case:
        """Add (or re-add after a new pre-labelling) a case in status ``prelabelled``.

        A case already being annotated, reviewed or accepted is not reset: that would throw away work; nor is
        another assistant's case of the same id replaced.

        :param uncertainty: the assistant's uncertainty in 0..1 (higher: served first); None: unscored.
        :param assistant: which assistant's result ``labels_path`` is (one of :data:`ASSISTANTS`).
        """
        if assistant not in ASSISTANTS:
            raise InputError(
                f"Unknown assistant {assistant!r} for the worklist.", f"Use one of {', '.join(ASSISTANTS)}."
            )
        now = time.time()
        with self._transaction() as connection:
            existing = connection.execute(
                "SELECT status, assistant FROM cases WHERE case_id = ?", (case_id,)
            ).fetchone()
            if existing and existing[1] != assistant and existing[0] != CaseStatus.NEW.value:
                raise WorkflowError(
                    f"Case {case_id} in the worklist is a {existing[1]} case; a {assistant} result cannot replace it.",
                    "Give the cases distinct ids (folder names), or use another worklist file.",
                )
            if existing and existing[0] not in (CaseStatus.PRELABELLED.value, CaseStatus.NEW.value):
                raise WorkflowError(
                    f"Case {case_id} is already {existing[0]}; pre-labelling again would discard human work.",
                    "Give the new run another case id, or finish the review first.",
                )
            connection.execute(
                "INSERT INTO cases (case_id, folder, status, uncertainty, model_id, model_version, labels_path, "
                "revision, created_at, updated_at, assistant) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?) "
                "ON CONFLICT(case_id) DO UPDATE SET folder = excluded.folder, uncertainty = excluded.uncertainty, "
                "model_id = excluded.model_id, model_version = excluded.model_version, "
                "labels_path = excluded.labels_path, updated_at = excluded.updated_at, status = excluded.status, "
                "assistant = excluded.assistant, revision = revision + 1",
                (
                    case_id,
                    str(folder),
                    CaseStatus.PRELABELLED.value,
                    uncertainty,
                    model_id,
                    model_version,
                    str(labels_path),
                    now,
                    now,
                    assistant,
                ),
            )
            self._log(
                connection, case_id, user, "prelabelled", uncertainty=uncertainty, model=model_id, assistant=assistant
            )
            return self._get(connection, case_id)

    def queue(self, user: str | None = None, assistant: str | None = None) -> list[Case]:
        """Cases waiting for annotation, most uncertain first (active learning); unscored cases last.

        With ``user``: the cases that user may take (unassigned, or sent back to them). With ``assistant``:
        only that assistant's cases (else all, their uncertainties compared as they are, each in 0..1).
        """
        with self._transaction() as connection:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM cases WHERE status IN (?, ?, ?) "
                "ORDER BY uncertainty IS NULL, uncertainty DESC, created_at",
                (CaseStatus.NEW.value, CaseStatus.PRELABELLED.value, CaseStatus.REJECTED.value),
            ).fetchall()
        cases = [self._row_to_case(row) for row in rows]
        return [
            case
            for case in cases
            if (user is None or case.annotator in (None, user)) and (assistant is None or case.assistant == assistant)
        ]

    def claim_next(self, annotator: str) -> Case | None:
        """Give ``annotator`` the most uncertain waiting case (status ``in_annotation``), or None."""
        for candidate in self.queue(annotator):
            try:
                return self.claim(candidate.case_id, annotator)
            except WorkflowError:  # taken by someone else meanwhile
                continue
        return None

    def claim(self, case_id: str, annotator: str) -> Case:
        with self._transaction() as connection:
            case = self._get(connection, case_id)
            if case.annotator not in (None, annotator):
                raise WorkflowError(f"Case {case_id} is assigned to {case.annotator}.")
            self._move(connection, case, CaseStatus.IN_ANNOTATION, annotator=annotator)
            self._log(connection, case_id, annotator, "claimed")
            return self._get(connection, case_id)

    def save_labels(
        self,
        case_id: str,
        user: str,
        base_revision: int,
        labels_path: str | Path,
        publish: Callable[[], object] | None = None,
    ) -> Case:
        """Record a save of the case's labels made from ``base_revision``.

        :param publish: called inside the transaction once the revision check passed, to move already
            written files into place; a save that is refused therefore never touches the files on disk.
        :raises ConflictError: the case was saved by someone else after ``base_revision``; nothing changes.
        """
        with self._transaction() as connection:
            case = self._get(connection, case_id)
            if case.status not in (CaseStatus.IN_ANNOTATION, CaseStatus.IN_REVIEW):
                raise WorkflowError(f"Case {case_id} is {case.status.value}; labels can no longer be saved.")
            if case.revision != base_revision:
                last = connection.execute(
                    "SELECT user, at FROM events WHERE case_id = ? AND action = 'saved' ORDER BY event_id DESC",
                    (case_id,),
                ).fetchone()
                by = f" by {last[0]} at {time.strftime('%H:%M:%S', time.localtime(last[1]))}" if last else ""
                raise ConflictError(
                    f"Case {case_id} was saved{by} after you opened it (revision {case.revision}, "
                    f"yours {base_revision}); your labels were not written over theirs.",
                    "Save your edit as a copy, reload the case and merge.",
                )
            if publish is not None:
                publish()
            connection.execute(
                "UPDATE cases SET labels_path = ?, revision = revision + 1, updated_at = ? WHERE case_id = ?",
                (str(labels_path), time.time(), case_id),
            )
            self._log(connection, case_id, user, "saved", labels_path=str(labels_path), revision=base_revision + 1)
            return self._get(connection, case_id)

    def submit(self, case_id: str, annotator: str) -> Case:
        with self._transaction() as connection:
            case = self._get(connection, case_id)
            if case.annotator != annotator:
                raise WorkflowError(f"Case {case_id} is assigned to {case.annotator}, not {annotator}.")
            self._move(connection, case, CaseStatus.IN_REVIEW)
            self._log(connection, case_id, annotator, "submitted")
            return self._get(connection, case_id)

    def review(self, case_id: str, reviewer: str, accept: bool, comment: str = "") -> Case:
        """Accept the case (final) or send it back to its annotator."""
        with self._transaction() as connection:
            case = self._get(connection, case_id)
            if reviewer == case.annotator:
                raise WorkflowError(f"{reviewer} annotated case {case_id} and cannot also review it.")
            self._move(connection, case, CaseStatus.ACCEPTED if accept else CaseStatus.REJECTED, reviewer=reviewer)
            self._log(connection, case_id, reviewer, "accepted" if accept else "rejected", comment=comment)
            return self._get(connection, case_id)

    def get(self, case_id: str) -> Case:
        with self._transaction() as connection:
            return self._get(connection, case_id)

    def cases(self, status: CaseStatus | None = None) -> list[Case]:
        with self._transaction() as connection:
            if status is None:
                rows = connection.execute(f"SELECT {_COLUMNS} FROM cases ORDER BY case_id").fetchall()
            else:
                rows = connection.execute(
                    f"SELECT {_COLUMNS} FROM cases WHERE status = ? ORDER BY case_id", (CaseStatus(status).value,)
                ).fetchall()
        return [self._row_to_case(row) for row in rows]

    def history(self, case_id: str) -> list[dict]:
        """Every event of a case in order: who, what, when."""
        with self._transaction() as connection:
            rows = connection.execute(
                "SELECT user, action, at, details FROM events WHERE case_id = ? ORDER BY event_id", (case_id,)
            ).fetchall()
        return [{"user": u, "action": a, "at": at, "details": json.loads(d)} for u, a, at, d in rows]
