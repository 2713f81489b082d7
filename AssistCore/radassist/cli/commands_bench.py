"""`radassist bench io`: benchmarks that print numbers (never timed assertions in tests)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def register(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("bench", parents=[common], help="speed and memory benchmarks")
    targets = parser.add_subparsers(dest="bench_target", metavar="TARGET", required=True)
    io_parser = targets.add_parser("io", parents=[common], help="import time, DICOM/NIfTI reading, resampling")
    io_parser.add_argument("--data", default=None, help="sample data folder")
    io_parser.add_argument("--repeats", type=int, default=5)
    io_parser.set_defaults(handler=run_bench_io)
    brain_parser = targets.add_parser(
        "brain", parents=[common], help="BrainTumorLabel vs MONAI's BraTS bundle recipe on one real case"
    )
    brain_parser.add_argument("--data", default=None, help="sample data folder")
    brain_parser.set_defaults(handler=run_bench_brain)
    crm_parser = targets.add_parser("crm", parents=[common], help="CRMAssist on the real 19-slice ProstateX series")
    crm_parser.add_argument("--data", default=None, help="sample data folder")
    crm_parser.add_argument("--model", default=None, help="model id (default: the crm model of highest precedence)")
    crm_parser.set_defaults(handler=run_bench_crm)
    spine_parser = targets.add_parser(
        "spine", parents=[common], help="SpineAssist on the real sagittal cervical T2 + 19-slice axial T2"
    )
    spine_parser.add_argument("--data", default=None, help="sample data folder")
    spine_parser.add_argument("--model", default=None, help="model id (default: the spine model of highest precedence)")
    spine_parser.set_defaults(handler=run_bench_spine)
    breast_parser = targets.add_parser(
        "breast-us", parents=[common], help="BreastUSAssist on a 30-frame 512x512 sweep and the real 30-frame cine"
    )
    breast_parser.add_argument("--data", default=None, help="sample data folder")
    breast_parser.add_argument("--model", default=None, help="model id (default: the breast_us model)")
    breast_parser.set_defaults(handler=run_bench_breast_us)
    batch_parser = targets.add_parser(
        "batch", parents=[common], help="radassist batch: cases per hour with 1 and 2 local Dask workers"
    )
    batch_parser.add_argument("--cases", type=int, default=12, help="phantom cases per run (12)")
    batch_parser.add_argument("--assistant", choices=("crm", "breast-us", "spine"), default="crm")
    batch_parser.set_defaults(handler=run_bench_batch)
    desktop_parser = targets.add_parser(
        "desktop",
        parents=[common],
        help="each assistant hosted as in 3D Slicer (OpenGL window, worker thread): runtimes, stalls, memory",
    )
    desktop_parser.add_argument("--data", default=None, help="sample data folder")
    desktop_parser.add_argument("--runtimes", default="onnx,torch", help="onnx, torch (torch runs without a window)")
    desktop_parser.set_defaults(handler=run_bench_desktop)


def measure_import_seconds(module: str = "assistcore", repeats: int = 3) -> float:
    """Median wall time of ``import module`` in a fresh interpreter (what a user waits for)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    timings = sorted(
        float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
        for _ in range(repeats)
    )
    return timings[len(timings) // 2]


def _run_bench(
    args: argparse.Namespace, measure: Callable[[Path], dict[str, Any]], describe: Callable[[dict], list[str]]
) -> int:
    """The skeleton of every ``bench`` target: the sample data folder (``--data`` or the installed samples),
    ``measure(data_dir)``, then its numbers as ``describe(results)`` lines (or JSON with ``--json``)."""
    from assistcore.paths import require_sample_data_dir

    from .main import emit

    data_dir = Path(args.data) if args.data else require_sample_data_dir()
    results = measure(data_dir)
    emit(args, results, "\n".join(describe(results)))
    return 0


def _stages(seconds: dict[str, float]) -> str:
    return ", ".join(f"{stage} {value:.2f}" for stage, value in seconds.items())


def _size(shape) -> str:
    return "x".join(map(str, shape))


def _first_second_and_peak(results: dict[str, Any], what: str) -> list[str]:
    """The lines the CRM and spine benchmarks share: first case (fresh process), second case, peak memory."""
    return [
        f"{what}, first case in a fresh process: {results['first_case_s']:.2f} s "
        f"({_stages(results['first_case_stages_s'])})",
        f"second case, same process: {results['second_case_s']:.2f} s",
        _peak_memory(results),
    ]


def _peak_memory(results: dict[str, Any]) -> str:
    return f"peak memory: {results['peak_mb']:.0f} MB (scene writer helper: {results['scene_helper_peak_mb']:.0f} MB)"


def run_bench_io(args: argparse.Namespace) -> int:
    from assistcore.bench_io import run_io_benchmark

    def measure(data_dir: Path) -> dict[str, Any]:
        return {"import_assistcore_s": measure_import_seconds(), **run_io_benchmark(data_dir, repeats=args.repeats)}

    def describe(results: dict[str, Any]) -> list[str]:
        width = max(len(key) for key in results)
        return [
            f"{key:<{width}}  {value:.4f}" if isinstance(value, float) else f"{key:<{width}}  {value}"
            for key, value in results.items()
        ]

    return _run_bench(args, measure, describe)


def run_bench_brain(args: argparse.Namespace) -> int:
    from ..bench_brain import run_brain_benchmark

    def describe(results: dict[str, Any]) -> list[str]:
        return [
            name + ": " + ", ".join(f"{key} {value:.2f}" for key, value in numbers.items() if isinstance(value, float))
            for name, numbers in results.items()
        ]

    return _run_bench(args, run_brain_benchmark, describe)


def run_bench_crm(args: argparse.Namespace) -> int:
    from ..bench_crm import run_crm_benchmark

    def describe(results: dict[str, Any]) -> list[str]:
        return [
            f"model {results['model']}: {results['slices']} slices of {_size(results['slice_size'])}",
            f"detector per slice (warm): {results['detector_s_per_slice']:.3f} s",
            *_first_second_and_peak(results, "series folder -> report"),
        ]

    return _run_bench(args, lambda data_dir: run_crm_benchmark(data_dir, args.model), describe)


def run_bench_spine(args: argparse.Namespace) -> int:
    from ..bench_spine import run_spine_benchmark

    def describe(results: dict[str, Any]) -> list[str]:
        return [
            f"model {results['model']}: sagittal {_size(results['sagittal_size'])}, axial "
            f"{_size(results['axial_size'])}",
            *_first_second_and_peak(results, "files -> report"),
        ]

    return _run_bench(args, lambda data_dir: run_spine_benchmark(data_dir, args.model), describe)


def run_bench_breast_us(args: argparse.Namespace) -> int:
    from ..bench_breast_us import run_breast_us_benchmark

    def describe(results: dict[str, Any]) -> list[str]:
        lines = [f"model {results['model']}"]
        for name in ("sweep512_first_case", "sweep512_second_case", "real_cine"):
            numbers = results[name]
            lines.append(
                f"{name}: {numbers['frames']} frames of {_size(numbers['frame_hw'])}, file -> report "
                f"{numbers['folder_to_report_s']:.2f} s, detector {numbers['detector_s_per_frame']:.3f} s per frame "
                f"({_stages(numbers['stages_s'])})"
            )
        return [*lines, _peak_memory(results)]

    return _run_bench(args, lambda data_dir: run_breast_us_benchmark(data_dir, args.model), describe)


def run_bench_desktop(args: argparse.Namespace) -> int:
    """Per assistant and runtime, in a fresh process: runtime import, first and second case, peak memory and
    the longest gap between two frames of the main thread's 50 ms render loop (goal: under 0.2 s)."""
    from ..desktop_host import ASSISTANTS, run_in_fresh_process, virtual_display
    from .main import emit

    data = ["--data", args.data] if args.data else []
    rows = []
    with virtual_display() as environment:
        for runtime in [r.strip() for r in args.runtimes.split(",") if r.strip()]:
            window = ["--no-window"] if runtime == "torch" else []  # torch's imports crash a GL process
            for assistant in ASSISTANTS:
                report = run_in_fresh_process(
                    ["--assistants", assistant, "--runtime", runtime, "--repeats", "2", *window, *data], environment
                )
                runs = report.get("runs", [])
                rows.append(
                    {
                        "assistant": assistant,
                        "runtime": runtime,
                        "window": report.get("window") or "none",
                        "exit": report["returncode"],
                        "import_s": report.get("runtime_import_s"),
                        "first_case_s": runs[0]["seconds"] if runs else None,
                        "second_case_s": runs[1]["seconds"] if len(runs) > 1 else None,
                        "peak_rss_mb": report.get("peak_rss_mb"),
                        "longest_stall_s": max((r["longest_main_thread_gap_s"] for r in runs), default=None),
                        "torch_imported": report.get("torch_imported"),
                    }
                )
    from assistcore.metrics import format_table

    emit(args, rows, format_table(rows) + "\n(longest_stall_s: longest gap between two frames of the 50 ms loop)")
    return 0 if all(row["exit"] == 0 for row in rows) else 1


def run_bench_batch(args: argparse.Namespace) -> int:
    import os

    from ..bench_batch import run_batch_benchmark

    def describe(rows: list[dict]) -> list[str]:
        lines = [f"batch: {args.cases} {args.assistant} phantom cases, {os.cpu_count()} CPU core(s)"]
        return lines + [
            f"  {row['workers']} worker(s): {row['cases']} cases in {row['run_s']} s "
            f"(+{row['cluster_start_s']} s start): {row['cases_per_hour']} cases/hour cold; "
            f"{row['warm_cases_per_hour']} cases/hour once every worker has loaded its model"
            for row in rows
        ]

    from .main import emit

    rows = run_batch_benchmark(args.assistant, args.cases)  # phantom cases: no sample data needed
    emit(args, rows, "\n".join(describe(rows)))
    return 0
