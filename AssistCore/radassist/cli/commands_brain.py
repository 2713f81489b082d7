"""`radassist brain ...`: the BrainTumorLabel assistant from the command line."""

from __future__ import annotations

import argparse
import shlex
import sys


def register(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "brain",
        parents=[common],
        help="BrainTumorLabel: label a case (radassist brain --t1c P --flair P --out DIR), or train",
        description="Label brain tumour regions of one case, or run an ACTION.",
    )
    for role, text in (
        ("t1", "T1"),
        ("t1c", "T1 post-contrast (required)"),
        ("t2", "T2"),
        ("flair", "FLAIR (required)"),
    ):
        parser.add_argument(f"--{role}", help=f"{text}: NIfTI/NRRD file or DICOM series folder")
    parser.add_argument("--out", help="output folder (replaced as a whole on success)")
    parser.add_argument("--case-id", help="patient/case ID used in file names (default: from the inputs)")
    parser.add_argument("--tumor-type", choices=["intra-axial", "extra-axial"], default="intra-axial")
    parser.add_argument("--label-convention", choices=["brats2021", "brats2023", "regions"], default="brats2021")
    parser.add_argument("--fast", action="store_true", help="3 mm working resolution instead of 2 mm")
    parser.add_argument("--tta", action="store_true", help="test-time augmentation (8 flips, slower)")
    parser.add_argument("--model", help="model id (default: the brain_tumor model of highest precedence)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cuda, mps or cpu")
    parser.add_argument("--no-register", action="store_true", help="resample sequences without registration")
    parser.set_defaults(handler=run_label)
    actions = parser.add_subparsers(dest="brain_action", metavar="ACTION")
    train = actions.add_parser("train", parents=[common], help="train the network (on phantoms by default)")
    train.add_argument("--out", required=True, help="model folder to write (model.pt + model_card.json)")
    train.add_argument("--model-id", default="brain-tumor-demo")
    train.add_argument("--phantoms", type=int, default=96)
    train.add_argument("--steps", type=int, default=900)
    train.add_argument("--patch-size", type=int, default=48)
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from assistcore.atomic import atomic_directory, write_text_atomic
    from assistcore.brain.model import brain_model_card, train_brain_model

    from .main import emit
    from .progress import TerminalProgress

    torch.set_num_threads(max(1, torch.get_num_threads()))
    command = "radassist " + " ".join(shlex.quote(part) for part in sys.argv[1:])
    out = Path(args.out)
    with atomic_directory(out) as staging, TerminalProgress("brain train") as bar:
        from assistcore.models.runner import ProgressReporter

        reporter = ProgressReporter([("phantoms", 1), ("training", 8)], bar)
        result = train_brain_model(staging, args.phantoms, args.steps, args.patch_size, args.seed, progress=reporter)
        card = brain_model_card(result, command, args.model_id, args.seed, args.phantoms, args.patch_size)
        import json

        write_text_atomic(staging / "model_card.json", json.dumps(card, indent=2))
    emit(
        args,
        {"folder": str(out), "validation": result.validation, "seconds": result.seconds},
        f"model written to {out}; validation Dice on fresh phantoms: {result.validation}; {result.seconds:.0f} s",
    )
    return 0


def run_label(args: argparse.Namespace) -> int:
    from pathlib import Path

    from assistcore.errors import InputError

    from ..brain_app import label_case_to_folder
    from .main import emit
    from .progress import TerminalProgress

    if not args.out:
        raise InputError("--out is required.", "Give the output folder: radassist brain --t1c P --flair P --out DIR")
    paths = {role: getattr(args, role) for role in ("t1", "t1c", "t2", "flair") if getattr(args, role)}
    options = {
        "model_id": args.model,
        "device": args.device,
        "fast": args.fast,
        "tta": args.tta,
        "tumor_type": args.tumor_type,
    }
    with TerminalProgress("brain") as bar:
        report = label_case_to_folder(
            paths,
            Path(args.out),
            options,
            case_id=args.case_id,
            convention=args.label_convention,
            register=not args.no_register,
            progress=bar,
        )
    lines = [f"results in {args.out}"] + [f"  {name}" for name in report["files"]]
    lines.append(
        f"lesions: {len(report['lesions'])}; QA {'passed' if report['qa']['passed'] else 'flags raised'}; "
        f"uncertainty {report['uncertainty']:.3f}; total {report['seconds_per_stage']['total']:.1f} s"
    )
    if report["model"]["synthetic_demo_model"]:
        lines.append("demo model trained on synthetic data: not for clinical use")
    emit(args, report, "\n".join(lines))
    return 0
