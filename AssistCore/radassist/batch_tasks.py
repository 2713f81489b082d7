"""What a Dask worker runs for ``radassist batch``: one case through the assistant's own headless job.

Each case goes through the same function as the assistant's command (``brain_app.label_case_to_folder``,
``crm_app.detect_case_to_folder``, ``spine_app.run_case_to_folder``, ``breast_us_app.detect_cine_to_folder``),
so it writes the same files, atomically (``assistcore.atomic.result_directory``): a task killed half way
leaves no half case, only a hidden staging folder that the next batch removes.

A worker process keeps what it loaded between tasks: the networks stay in the process's model cache
(``assistcore.models.loader``) and slicer-core, imported once by the worker's first task, builds every
scene bundle in the worker itself (a Dask worker is a daemon process, which may not start the helper
process a single command uses). A worker marks itself prepared (``radassist_state``) after its first task.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

from assistcore.batch.ledger import LedgerEntry, write_entry
from assistcore.batch.summary import labels_file, uncertainty_from_report

#: the model registry's name of each assistant's task
MODEL_TASKS = {"brain": "brain_tumor", "crm": "crm", "spine": "spine", "breast-us": "breast_us"}
#: worker memory limit (GB) when the model card records no peak: measured peaks plus reading and writing
#: room (brain: DeepMedic 1.6 GB on a 240x240x155 case; detectors and the spine networks under 1 GB), plus
#: torch (0.7 GB) and slicer-core
DEFAULT_MEMORY_GB = {"brain": 4.0, "crm": 2.5, "spine": 2.5, "breast-us": 2.5}


def resolve_model(assistant: str, model_id: str | None, tumor_type: str = "intra-axial"):
    """The registry entry the batch's cases will use: ``model_id``, else the assistant's default (as its
    command picks it). :raises ModelError: unknown id or no model."""
    from assistcore.models.registry import ModelRegistry

    registry = ModelRegistry()
    if model_id:
        return registry.get(model_id)
    if assistant == "brain":
        return registry.default_for(
            "brain_tumor", lambda card: tumor_type in card.data.get("tumour_types", ["intra-axial", "extra-axial"])
        )
    return registry.default_for(MODEL_TASKS[assistant])


def model_sha256(card) -> str:
    """The weights' sha256 from the card; for a model of several files one sha256 over all of theirs (the
    loader checks each file against its card before use, so the card's hashes are the files')."""
    hashes = [card.data.get("weights", {}).get("sha256", "")]
    for name in sorted(card.data.get("components", {})):
        hashes.append(card.data["components"][name].get("weights", {}).get("sha256", ""))
    hashes = [value for value in hashes if value]
    if len(hashes) == 1:
        return hashes[0]
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


def memory_limit_gb(assistant: str, card) -> float:
    """Per-worker memory limit: 1.5x the card's recorded peak (``resources.peak_memory_gb``) when it has
    one, else :data:`DEFAULT_MEMORY_GB`."""
    peak = (card.data.get("resources") or {}).get("peak_memory_gb")
    return round(1.5 * float(peak), 2) if peak else DEFAULT_MEMORY_GB[assistant]


def _prepare_worker(cpu_threads: int | None) -> str:
    """Once per worker process: its CPU threads (ONNX Runtime sessions, and torch when torch runs the networks),
    slicer-core imported (scenes built in process); returns the worker's name."""
    name = f"{os.uname().nodename}:{os.getpid()}"
    try:
        from distributed import get_worker

        worker = get_worker()
        name = worker.name if isinstance(worker.name, str) else f"{worker.address}"
    except (ImportError, ValueError):  # not in a Dask worker (a one-process run)
        worker = None
    state = getattr(worker, "radassist_state", None) if worker is not None else None
    if state is None:
        if cpu_threads:  # workers sharing a machine share its cores instead of each taking all of them
            from assistcore.models.onnx_runtime import set_cpu_threads

            set_cpu_threads(int(cpu_threads))
            if os.environ.get("RADASSIST_CPU_RUNTIME") == "torch" or "torch" in sys.modules:
                import torch

                torch.set_num_threads(int(cpu_threads))
        import importlib.util

        if importlib.util.find_spec("slicer") is not None:
            import slicer  # noqa: F401  (see the module docstring)
        state = {"prepared_at": time.time()}
        if worker is not None:
            worker.radassist_state = state
    return name


def _run_job(assistant: str, case_id: str, inputs: dict[str, Any], out: Path, options: dict[str, Any]) -> dict:
    """The assistant's headless job on one case into ``out`` (its result folder); returns its report."""
    common = {"model_id": options["model_id"], "device": options.get("device", "auto")}
    if assistant == "brain":
        from .brain_app import label_case_to_folder

        brain = {**common, "fast": options.get("fast", False), "tta": options.get("tta", False)}
        brain["tumor_type"] = options.get("tumor_type", "intra-axial")
        return label_case_to_folder(inputs, out, brain, case_id=case_id)
    if assistant == "crm":
        from .crm_app import detect_case_to_folder

        crm = {**common, "threshold": options.get("threshold"), "slices": None}
        return detect_case_to_folder(inputs["t2"], out, crm, case_id=case_id)
    if assistant == "spine":
        from .spine_app import run_case_to_folder

        spine = {**common, "anchor": None, "labels": None, "level_map": None}
        return run_case_to_folder(
            inputs["sag_t2"], out, spine, sag_t1=inputs.get("sag_t1"), ax_t2=inputs.get("ax_t2"), case_id=case_id
        )
    from .breast_us_app import detect_cine_to_folder

    breast = {**common, "threshold": options.get("threshold"), "iou_fuse": None}
    return detect_cine_to_folder(inputs["cine"], out, breast, case_id=case_id)


def run_case_task(
    assistant: str, case_id: str, inputs: dict[str, Any], out: str, options: dict[str, Any], expected: dict
) -> dict:
    """Run one case (a Dask task) and write its ledger entry; never raises for a bad case.

    :param out: the batch output folder; the case's results go to ``out/<case_id>/``.
    :param expected: the :class:`~assistcore.batch.ledger.LedgerEntry` fields known before the run
        (hashes, model); the entry written adds status, seconds, worker, error and the worklist's fields.
    :returns: the entry as a dict. A worker killed mid-task returns nothing: the client records that.
    """
    started = time.perf_counter()
    worker = _prepare_worker(options.get("cpu_threads"))
    entry = LedgerEntry(**{**expected, "status": "failed", "worker": worker})
    try:
        report = _run_job(assistant, case_id, inputs, Path(out) / case_id, options)
        entry.status = "ok"
        entry.uncertainty = uncertainty_from_report(assistant, report)
        entry.labels_path = str(labels_file(assistant, Path(out) / case_id, report))
        entry.model_version = str(report.get("model", {}).get("model_version", ""))
    except Exception as error:  # one bad case is a row of the summary, not the end of the batch
        from assistcore.errors import RadAssistError

        text = str(error) if isinstance(error, RadAssistError) else f"{type(error).__name__}: {error}"
        entry.error = (text.splitlines() or [type(error).__name__])[0]
        if os.environ.get("RADASSIST_BATCH_TRACEBACKS"):
            entry.error += " | " + json.dumps(traceback.format_exc())
    entry.seconds = round(time.perf_counter() - started, 3)
    entry.finished_at = time.time()
    write_entry(out, entry)
    return asdict(entry)
