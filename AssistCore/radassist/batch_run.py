"""``radassist batch``: a cases folder through one assistant on Dask distributed, resumable and accounted for.

The client (this process) finds the cases, hashes their inputs, skips those unchanged since their last
success, holds the output folder's lock, submits one Dask task per remaining case
(:func:`radassist.batch_tasks.run_case_task`), and as results come in records failures in the ledger, enters
successes into the worklist (the only writer of the SQLite file is this process), updates the progress bar
and finally writes the summary. Workers are a ``LocalCluster`` of N processes, or those of a running
scheduler (``--scheduler tcp://HOST:8786``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistcore.batch import ASSISTANTS
from assistcore.batch.cases import BatchCase, check_assistant, discover_cases
from assistcore.batch.ledger import (
    SUMMARY_NAME,
    LedgerEntry,
    batch_lock,
    input_sha256,
    is_up_to_date,
    options_sha256,
    read_entry,
    write_entry,
)
from assistcore.batch.summary import CaseRow, write_summary
from assistcore.errors import InputError

from .batch_tasks import memory_limit_gb, model_sha256, resolve_model, run_case_task

__all__ = ["ASSISTANTS", "BatchOutcome", "BatchSettings", "outcome_record", "run_batch"]


@dataclass
class BatchSettings:
    """What ``radassist batch`` was asked to do.

    :param workers: local worker processes (ignored with ``scheduler``).
    :param retries: times a case is tried again on another worker after its worker died (Dask's
        ``allowed-failures``; 0: a lost worker's case fails and the next batch runs it).
    :param connect_timeout_s: how long to wait for ``scheduler`` before giving up (s).
    :param options: assistant options that change results (``device``, ``fast``, ``tta``, ``threshold``,
        ``tumor_type``; they enter the ledger's options hash) and ``cpu_threads`` per worker (default with
        local workers: cores / workers; with a scheduler: ONNX Runtime's default, all cores).
    """

    assistant: str
    cases: Path
    out: Path
    worklist: Path | None = None
    workers: int = 2
    scheduler: str | None = None
    model_id: str | None = None
    retries: int = 0
    memory_limit_gb: float | None = None
    connect_timeout_s: float = 8.0  # with the start of the command: the error comes within 10 s
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchOutcome:
    """The rows of the summary (sorted by case id), its CSV, and times: cluster start and the run (s)."""

    rows: list[CaseRow]
    summary_path: Path
    cluster_seconds: float
    run_seconds: float
    cases_run: int

    @property
    def all_succeeded(self) -> bool:
        return all(row.status in ("ok", "skipped") for row in self.rows)


@contextlib.contextmanager
def dask_client(settings: BatchSettings, memory_gb: float) -> Iterator[Any]:
    """A connected Dask client: to ``settings.scheduler``, else to a new ``LocalCluster`` of
    ``settings.workers`` processes with one thread each and ``memory_gb`` each.

    :raises InputError: the scheduler did not answer within ``connect_timeout_s``.
    """
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": int(settings.retries)}):
        if settings.scheduler:
            try:
                client = Client(settings.scheduler, timeout=f"{settings.connect_timeout_s}s")
            except Exception as error:  # refused, timed out, or something else answered (garbage handshake)
                raise InputError(
                    f"Dask scheduler {settings.scheduler} did not answer (waited up to "
                    f"{settings.connect_timeout_s:.0f} s; {type(error).__name__}); nothing was run.",
                    "Start it (`dask scheduler`, then `dask worker ADDRESS` on each machine), check host and port, "
                    "or leave out --scheduler to run local workers.",
                ) from None
            with client:
                yield client
            return
        cluster = LocalCluster(
            n_workers=max(1, int(settings.workers)),
            threads_per_worker=1,
            processes=True,
            memory_limit=f"{memory_gb}GB",
            dashboard_address=":0",  # any free port: never collides with a dashboard already on 8787
            silence_logs=logging.ERROR,
        )
        with cluster, Client(cluster) as client:
            yield client


def _remove_staging_leftovers(out: Path, case_id: str) -> None:
    """Hidden staging folders a killed task of this case left (the lock says no batch writes them now)."""
    import glob

    leftovers = list(out.glob(f".{glob.escape(case_id)}.*.tmp")) + list((out / case_id).glob(".radassist-staging-*"))
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)


def _plan(
    settings: BatchSettings, cases: list[BatchCase], base: dict[str, Any]
) -> tuple[list[tuple[BatchCase, dict]], list[CaseRow], list[LedgerEntry]]:
    """(cases to run with their expected ledger fields, rows of unreadable cases, entries of skipped ones)."""
    to_run, unreadable, skipped = [], [], []
    for case in cases:
        try:
            expected = {**base, "case_id": case.case_id, "inputs_sha256": input_sha256(case)}
        except InputError as error:
            unreadable.append(CaseRow(case.case_id, "unmatched", error=str(error)))
            continue
        previous = read_entry(settings.out, case.case_id)
        if is_up_to_date(previous, LedgerEntry(**expected, status="ok"), settings.out):
            skipped.append(previous)
        else:
            to_run.append((case, expected))
    return to_run, unreadable, skipped


def _enter_worklist(worklist, case: BatchCase, entry: LedgerEntry, assistant: str) -> str:
    """Put a finished case into the worklist; "" or why it was not (a case people already work on, another
    assistant's case of that id, or the database locked by other writers for longer than its 30 s wait)."""
    import sqlite3

    from assistcore.brain.worklist import WorkflowError

    try:
        worklist.add_prelabelled(
            case.case_id,
            case.folder,
            entry.labels_path,
            entry.uncertainty,
            entry.model_id,
            entry.model_version,
            assistant=assistant,
        )
    except WorkflowError as error:
        return f"not re-queued: {error.message}"
    except sqlite3.Error as error:
        return f"not queued: worklist {worklist.path}: {error}"
    return ""


def _failed_entry(expected: dict, error: BaseException) -> LedgerEntry:
    """The ledger entry of a task that returned nothing (its worker died, or it was cancelled)."""
    worker = getattr(error, "last_worker", None)
    worker_name = str(getattr(worker, "address", worker) or "")
    line = (f"{type(error).__name__}: {error}".splitlines() or [type(error).__name__])[0]
    return LedgerEntry(**expected, status="failed", worker=worker_name, error=line[:300])


def _progress_bar(total: int, show: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="case", desc="batch", disable=None if show else True, dynamic_ncols=True)


def _run_on_cluster(
    settings: BatchSettings,
    to_run: list[tuple[BatchCase, dict]],
    options: dict[str, Any],
    memory_gb: float,
    on_result: Callable[[CaseRow, Any], None] | None,
    show_progress: bool,
) -> tuple[list[CaseRow], float, float]:
    """Submit one task per case and collect them as they finish; returns (rows, cluster s, run s)."""
    from distributed import as_completed

    worklist = None
    if settings.worklist:
        from assistcore.brain.worklist import Worklist

        worklist = Worklist(settings.worklist)
    rows: list[CaseRow] = []
    started = time.perf_counter()
    with dask_client(settings, memory_gb) as client:
        cluster_seconds = time.perf_counter() - started
        run_started = time.perf_counter()
        token = uuid.uuid4().hex[:8]
        by_key, futures = {}, []
        for case, expected in to_run:
            _remove_staging_leftovers(settings.out, case.case_id)
            inputs = {role: [str(p) for p in v] if isinstance(v, list) else str(v) for role, v in case.inputs.items()}
            arguments = (settings.assistant, case.case_id, inputs, str(settings.out), options, expected)
            future = client.submit(run_case_task, *arguments, key=f"radassist-{case.case_id}-{token}", pure=False)
            by_key[future.key] = (case, expected)
            futures.append(future)
        done = failed = 0
        with _progress_bar(len(by_key), show_progress) as bar:
            for future in as_completed(futures):
                case, expected = by_key[future.key]
                try:
                    entry = LedgerEntry(**future.result())
                except Exception as error:  # the worker died (KilledWorker) or the task was lost
                    entry = _failed_entry(expected, error)
                    write_entry(settings.out, entry)
                note = ""
                if entry.status == "ok" and worklist is not None:
                    note = _enter_worklist(worklist, case, entry, settings.assistant)
                row = CaseRow(
                    case.case_id, entry.status, entry.seconds, entry.worker, entry.uncertainty, entry.error or note
                )
                rows.append(row)
                done, failed = done + (row.status == "ok"), failed + (row.status != "ok")
                bar.set_postfix_str(f"done {done}, failed {failed}", refresh=False)
                bar.update(1)
                if on_result is not None:
                    on_result(row, client)
        run_seconds = time.perf_counter() - run_started
    return rows, cluster_seconds, run_seconds


def run_batch(
    settings: BatchSettings,
    on_result: Callable[[CaseRow, Any], None] | None = None,
    show_progress: bool = True,
) -> BatchOutcome:
    """Run every case of ``settings.cases`` that is not up to date; see the module docstring.

    :param on_result: called in this process with each finished case's row and the Dask client.
    :raises InputError: unknown assistant, no cases folder, a scheduler that does not answer;
        :class:`~assistcore.errors.OutputError`: the output folder is locked by another batch;
        :class:`~assistcore.errors.ModelError`: no model.
    """
    check_assistant(settings.assistant)
    settings.out = Path(settings.out)
    if settings.out.exists() and not settings.out.is_dir():
        raise InputError(f"Output {settings.out} is a file, not a folder.", "Give a folder for the results (--out).")
    cases, problems = discover_cases(settings.cases, settings.assistant)
    entry = resolve_model(settings.assistant, settings.model_id, settings.options.get("tumor_type", "intra-axial"))
    options = {**settings.options, "model_id": entry.card.id}
    base = {
        "assistant": settings.assistant,
        "model_id": entry.card.id,
        "model_sha256": model_sha256(entry.card),
        "options_sha256": options_sha256({k: v for k, v in options.items() if k != "cpu_threads"}),
    }
    memory_gb = settings.memory_limit_gb or memory_limit_gb(settings.assistant, entry.card)
    if settings.scheduler:  # a scheduler that does not answer is reported now, not after hashing the archive
        with dask_client(settings, memory_gb):
            pass
    else:
        options.setdefault("cpu_threads", max(1, (os.cpu_count() or 1) // max(1, settings.workers)))
    rows = [CaseRow(problem.case_id, "unmatched", error=problem.reason) for problem in problems]
    cluster_seconds = run_seconds = 0.0
    with batch_lock(settings.out):
        to_run, unreadable, skipped = _plan(settings, cases, base)
        rows += unreadable
        rows += [CaseRow(e.case_id, "skipped", e.seconds, e.worker, e.uncertainty) for e in skipped]
        _queue_skipped(settings, cases, skipped)
        if to_run:
            ran, cluster_seconds, run_seconds = _run_on_cluster(
                settings, to_run, options, memory_gb, on_result, show_progress
            )
            rows += ran
        rows.sort(key=lambda row: row.case_id)
        summary_path = write_summary(settings.out / SUMMARY_NAME, rows)
    return BatchOutcome(rows, summary_path, cluster_seconds, run_seconds, len(to_run))


def _queue_skipped(settings: BatchSettings, cases: list[BatchCase], skipped: list[LedgerEntry]) -> None:
    """Skipped cases missing from the worklist (a first run without --worklist) are entered from the ledger."""
    if not settings.worklist or not skipped:
        return
    from assistcore.brain.worklist import Worklist

    worklist = Worklist(settings.worklist)
    known = {case.case_id for case in worklist.cases()}
    by_id = {case.case_id: case for case in cases}
    for entry in skipped:
        if entry.case_id not in known:
            _enter_worklist(worklist, by_id[entry.case_id], entry, settings.assistant)


def outcome_record(outcome: BatchOutcome) -> dict[str, Any]:
    """The outcome as JSON-ready data (``--json``)."""
    return {
        "rows": [asdict(row) for row in outcome.rows],
        "summary": str(outcome.summary_path),
        "cluster_seconds": round(outcome.cluster_seconds, 2),
        "run_seconds": round(outcome.run_seconds, 2),
        "cases_run": outcome.cases_run,
        "all_succeeded": outcome.all_succeeded,
    }
