"""`radassist bench io`: benchmarks that print numbers (never timed assertions in tests)."""

from __future__ import annotations

import argparse
import subprocess
import sys


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


def run_bench_io(args: argparse.Namespace) -> int:
    from pathlib import Path

    from assistcore.bench_io import run_io_benchmark
    from assistcore.paths import require_sample_data_dir

    from .main import emit

    data_dir = Path(args.data) if args.data else require_sample_data_dir()
    results = {"import_assistcore_s": measure_import_seconds()}
    results.update(run_io_benchmark(data_dir, repeats=args.repeats))
    width = max(len(key) for key in results)
    text = "\n".join(
        f"{key:<{width}}  {value:.4f}" if isinstance(value, float) else f"{key:<{width}}  {value}"
        for key, value in results.items()
    )
    emit(args, results, text)
    return 0


def run_bench_brain(args: argparse.Namespace) -> int:
    from pathlib import Path

    from assistcore.paths import require_sample_data_dir

    from ..bench_brain import run_brain_benchmark
    from .main import emit

    data_dir = Path(args.data) if args.data else require_sample_data_dir()
    results = run_brain_benchmark(data_dir)
    lines = []
    for name, numbers in results.items():
        lines.append(
            name + ": " + ", ".join(f"{key} {value:.2f}" for key, value in numbers.items() if isinstance(value, float))
        )
    emit(args, results, "\n".join(lines))
    return 0


def run_bench_crm(args: argparse.Namespace) -> int:
    from pathlib import Path

    from assistcore.paths import require_sample_data_dir

    from ..bench_crm import run_crm_benchmark
    from .main import emit

    data_dir = Path(args.data) if args.data else require_sample_data_dir()
    results = run_crm_benchmark(data_dir, args.model)
    lines = [
        f"model {results['model']}: {results['slices']} slices of {'x'.join(map(str, results['slice_size']))}",
        f"detector per slice (warm): {results['detector_s_per_slice']:.3f} s",
        f"series folder -> report, first case in a fresh process: {results['first_case_s']:.2f} s "
        f"({', '.join(f'{k} {v:.2f}' for k, v in results['first_case_stages_s'].items())})",
        f"second case, same process: {results['second_case_s']:.2f} s",
        f"peak memory: {results['peak_mb']:.0f} MB (scene writer helper: {results['scene_helper_peak_mb']:.0f} MB)",
    ]
    emit(args, results, "\n".join(lines))
    return 0


def run_bench_spine(args: argparse.Namespace) -> int:
    from pathlib import Path

    from assistcore.paths import require_sample_data_dir

    from ..bench_spine import run_spine_benchmark
    from .main import emit

    data_dir = Path(args.data) if args.data else require_sample_data_dir()
    results = run_spine_benchmark(data_dir, args.model)
    lines = [
        f"model {results['model']}: sagittal {'x'.join(map(str, results['sagittal_size']))}, axial "
        f"{'x'.join(map(str, results['axial_size']))}",
        f"files -> report, first case in a fresh process: {results['first_case_s']:.2f} s "
        f"({', '.join(f'{k} {v:.2f}' for k, v in results['first_case_stages_s'].items())})",
        f"second case, same process: {results['second_case_s']:.2f} s",
        f"peak memory: {results['peak_mb']:.0f} MB (scene writer helper: {results['scene_helper_peak_mb']:.0f} MB)",
    ]
    emit(args, results, "\n".join(lines))
    return 0


def run_bench_breast_us(args: argparse.Namespace) -> int:
    from pathlib import Path

    from assistcore.paths import require_sample_data_dir

    from ..bench_breast_us import run_breast_us_benchmark
    from .main import emit

    data_dir = Path(args.data) if args.data else require_sample_data_dir()
    results = run_breast_us_benchmark(data_dir, args.model)
    lines = [f"model {results['model']}"]
    for name in ("sweep512_first_case", "sweep512_second_case", "real_cine"):
        numbers = results[name]
        lines.append(
            f"{name}: {numbers['frames']} frames of {'x'.join(map(str, numbers['frame_hw']))}, file -> report "
            f"{numbers['folder_to_report_s']:.2f} s, detector {numbers['detector_s_per_frame']:.3f} s per frame "
            f"({', '.join(f'{k} {v:.2f}' for k, v in numbers['stages_s'].items())})"
        )
    lines.append(
        f"peak memory: {results['peak_mb']:.0f} MB (scene writer helper: {results['scene_helper_peak_mb']:.0f} MB)"
    )
    emit(args, results, "\n".join(lines))
    return 0


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
