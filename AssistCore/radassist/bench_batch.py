"""`radassist bench batch`: cases per hour of `radassist batch` with 1 and 2 local Dask workers.

The same phantom cases (seeds 0..n-1) run into fresh output folders, each worker count on a fresh LocalCluster;
the cold rate includes every worker's first case (imports, model load), the warm rate counts only the cases
after every worker has loaded its model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .batch_run import BatchSettings, run_batch

#: assistants with a phantom case writer
BENCH_ASSISTANTS = ("crm", "breast-us", "spine")


def write_bench_cases(assistant: str, folder, count: int) -> None:
    """``count`` phantom cases for ``assistant`` in ``folder/caseNN/`` (seeds 0..count-1)."""
    folder = Path(folder)
    for seed in range(count):
        case_id = f"case{seed:02d}"
        if assistant == "crm":
            from assistcore.phantoms.rectum import generate_rectal_phantom, write_rectal_phantom_case

            write_rectal_phantom_case(generate_rectal_phantom(seed, matrix=256, n_slices=12), folder / case_id, case_id)
        elif assistant == "breast-us":
            from assistcore.phantoms.breast_us import generate_breast_sweep, write_sweep_case

            write_sweep_case(generate_breast_sweep(seed, n_frames=20), folder / case_id, case_id)
        else:
            from assistcore.phantoms.spine import generate_spine_phantom, write_spine_phantom_case

            write_spine_phantom_case(generate_spine_phantom(seed), folder / case_id, case_id)


def _bench_row(workers: int, outcome, out) -> dict:
    """Cold rate (cases over the run, each worker's first case loading torch, slicer-core and the model) and
    warm rate (cases finished after every worker's first, over the time since then), from the ledger."""
    from assistcore.batch.ledger import read_entry

    finished = sorted(
        entry.finished_at
        for row in outcome.rows
        if row.status == "ok" and (entry := read_entry(out, row.case_id)) is not None
    )
    warm = len(finished) - workers
    warm_span = finished[-1] - finished[workers - 1] if warm > 0 else 0.0
    return {
        "workers": workers,
        "cases": len(finished),
        "cluster_start_s": round(outcome.cluster_seconds, 1),
        "run_s": round(outcome.run_seconds, 1),
        "cases_per_hour": round(3600 * len(finished) / outcome.run_seconds) if outcome.run_seconds else 0,
        "warm_cases_per_hour": round(3600 * warm / warm_span) if warm_span > 0 else 0,
    }


def run_batch_benchmark(assistant: str = "crm", count: int = 12) -> list[dict]:
    """Cases per hour with 1 and 2 local workers on the same ``count`` phantom cases (fresh output folders)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="radassist-bench-batch-") as scratch:
        cases = Path(scratch) / "cases"
        write_bench_cases(assistant, cases, count)
        for workers in (1, 2):
            settings = BatchSettings(
                assistant, cases, Path(scratch) / f"out{workers}", workers=workers, options={"device": "cpu"}
            )
            outcome = run_batch(settings, show_progress=False)
            rows.append(_bench_row(workers, outcome, settings.out))
    return rows
