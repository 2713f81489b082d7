"""`radassist batch ASSISTANT --cases DIR --out DIR`: pre-label an archive on Dask; `radassist batch bench`.

Exit codes: 0 when every case succeeded (or was skipped as unchanged); 1 when any case failed or could not be
matched (the summary says which), or the batch could not start (one line on stderr).
"""

from __future__ import annotations

import argparse

BENCH_ASSISTANTS = ("crm", "breast-us", "spine")


def register(subparsers, common: argparse.ArgumentParser) -> None:
    from assistcore.batch import ASSISTANTS

    parser = subparsers.add_parser(
        "batch",
        parents=[common],
        help="pre-label a cases folder through an assistant on Dask workers (local or a cluster); batch bench",
        description=(
            "Run every case of --cases through ASSISTANT, one Dask task per case, into --out/<case>/. "
            "Unchanged cases that succeeded before are skipped; failures are listed, not fatal. "
            "`radassist batch bench` prints cases per hour with 1 and 2 local workers."
        ),
    )
    parser.add_argument("assistant", choices=[*ASSISTANTS, "bench"], help="assistant to run, or bench")
    parser.add_argument("--cases", help="folder with one sub-folder per case (see README: batch pre-labelling)")
    parser.add_argument("--out", help="batch output folder: <case>/ results, batch_summary.csv, the run ledger")
    parser.add_argument("--worklist", help="SQLite worklist file the results enter, most uncertain first")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    where.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://HOST:8786")
    parser.add_argument("--model", help="model id (default: the assistant's default model)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cuda, mps or cpu")
    parser.add_argument("--threshold", type=float, help="crm, breast-us: operating threshold (default the model's)")
    parser.add_argument("--fast", action="store_true", help="brain: coarser working grid")
    parser.add_argument("--tta", action="store_true", help="brain: uncertainty from 8 flipped runs (8x slower)")
    parser.add_argument("--tumor-type", choices=["intra-axial", "extra-axial"], default="intra-axial")
    parser.add_argument(
        "--retries", type=int, default=0, help="times a case whose worker died is tried on another worker (0)"
    )
    parser.add_argument("--memory-limit", type=float, help="GB per local worker (default from the model card)")
    parser.add_argument(
        "--torch-threads", type=int, help="threads per worker (default: cores / workers locally, torch's on a cluster)"
    )
    parser.add_argument("--bench-cases", type=int, default=12, help="bench: phantom cases per run (12)")
    parser.add_argument("--bench-assistant", choices=BENCH_ASSISTANTS, default="crm", help="bench: assistant (crm)")
    parser.set_defaults(handler=run_batch_command)


def _settings(args: argparse.Namespace):
    from pathlib import Path

    from assistcore.errors import InputError

    from ..batch_run import BatchSettings

    if not args.cases or not args.out:
        raise InputError(
            "--cases and --out are required.", f"radassist batch {args.assistant} --cases DIR --out DIR [--workers N]"
        )
    options = {"device": args.device}
    if args.assistant == "brain":
        options.update(fast=args.fast, tta=args.tta, tumor_type=args.tumor_type)
    if args.assistant in ("crm", "breast-us") and args.threshold is not None:
        options["threshold"] = args.threshold
    if args.torch_threads:
        options["torch_threads"] = max(1, args.torch_threads)
    if args.workers < 1:
        raise InputError(f"--workers {args.workers}: give at least 1.")
    return BatchSettings(
        assistant=args.assistant,
        cases=Path(args.cases),
        out=Path(args.out),
        worklist=Path(args.worklist) if args.worklist else None,
        workers=args.workers,
        scheduler=args.scheduler,
        model_id=args.model,
        retries=max(0, args.retries),
        memory_limit_gb=args.memory_limit,
        options=options,
    )


def run_batch_command(args: argparse.Namespace) -> int:
    if args.assistant == "bench":
        return run_bench(args)
    from assistcore.batch.summary import counts, format_rows

    from ..batch_run import outcome_record, run_batch
    from .main import emit

    outcome = run_batch(_settings(args))
    tally = ", ".join(f"{number} {status}" for status, number in sorted(counts(outcome.rows).items()))
    text = f"{format_rows(outcome.rows)}\n{tally}; summary in {outcome.summary_path}"
    if outcome.cases_run:
        text += f"; {outcome.cases_run} case(s) run in {outcome.run_seconds:.1f} s"
    emit(args, outcome_record(outcome), text)
    return 0 if outcome.all_succeeded else 1


def write_bench_cases(assistant: str, folder, count: int) -> None:
    """``count`` phantom cases for ``assistant`` in ``folder/caseNN/`` (seeds 0..count-1)."""
    from pathlib import Path

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


def run_bench(args: argparse.Namespace) -> int:
    """Cases per hour with 1 and 2 local workers on the same phantom cases (fresh output folders)."""
    import os
    import tempfile
    from pathlib import Path

    from ..batch_run import BatchSettings, run_batch
    from .main import emit

    rows = []
    with tempfile.TemporaryDirectory(prefix="radassist-bench-batch-") as scratch:
        cases = Path(scratch) / "cases"
        write_bench_cases(args.bench_assistant, cases, args.bench_cases)
        for workers in (1, 2):
            settings = BatchSettings(
                args.bench_assistant, cases, Path(scratch) / f"out{workers}", workers=workers, options={"device": "cpu"}
            )
            outcome = run_batch(settings, show_progress=False)
            rows.append(_bench_row(workers, outcome, settings.out))
    lines = [f"batch bench: {args.bench_cases} {args.bench_assistant} phantom cases, {os.cpu_count()} CPU core(s)"]
    lines += [
        f"  {row['workers']} worker(s): {row['cases']} cases in {row['run_s']} s (+{row['cluster_start_s']} s start): "
        f"{row['cases_per_hour']} cases/hour cold; {row['warm_cases_per_hour']} cases/hour once every worker "
        "has loaded its model"
        for row in rows
    ]
    emit(args, rows, "\n".join(lines))
    return 0
