"""`radassist batch ASSISTANT --cases DIR --out DIR`: pre-label an archive on Dask (`radassist bench batch`
measures it: radassist/bench_batch.py).

Exit codes: 0 when every case succeeded (or was skipped as unchanged); 1 when any case failed or could not be
matched (the summary says which), or the batch could not start (one line on stderr).
"""

from __future__ import annotations

import argparse


def register(subparsers, common: argparse.ArgumentParser) -> None:
    from assistcore.batch import ASSISTANTS

    parser = subparsers.add_parser(
        "batch",
        parents=[common],
        help="pre-label a cases folder through an assistant on Dask workers (local or a cluster)",
        description=(
            "Run every case of --cases through ASSISTANT, one Dask task per case, into --out/<case>/. "
            "Unchanged cases that succeeded before are skipped; failures are listed, not fatal. "
            "`radassist bench batch` prints cases per hour with 1 and 2 local workers."
        ),
    )
    parser.add_argument("assistant", choices=ASSISTANTS, help="assistant to run")
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
        "--threads", type=int, help="CPU threads per worker (default: cores / workers locally; all cores on a cluster)"
    )
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
    if args.threads:
        options["cpu_threads"] = max(1, args.threads)
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
