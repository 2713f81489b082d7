"""`radassist demo --out DIR`: the main job on bundled/sample data, results a person can open."""

from __future__ import annotations

import argparse

from .outputs import add_output_arguments


def register(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("demo", parents=[common], help="run the demo on the sample data")
    add_output_arguments(parser, "output folder", required=True)
    parser.add_argument("--data", default=None, help="sample data folder (default: $RADASSIST_DATA or ../shared/data)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cuda, mps or cpu")
    parser.set_defaults(handler=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from assistcore.paths import require_sample_data_dir

    from ..demo import run_demo
    from .main import emit
    from .progress import TerminalProgress

    data_dir = Path(args.data) if args.data else require_sample_data_dir()
    with TerminalProgress("demo") as progress:
        report = run_demo(Path(args.out), data_dir, device=args.device, progress=progress, overwrite=args.overwrite)
    lines = [f"demo results in {report['output_dir']}"]
    lines += [f"  {item['title']}: {item['path']}" for item in report["outputs"]]
    lines.append(
        "open scene.mrb in 3D Slicer (File > Add Data) to see everything together"
        if report.get("scene")
        else "scene.mrb not written: " + report.get("scene_note", "")
    )
    emit(args, report, "\n".join(lines))
    return 0
