"""`radassist brain ...`: the BrainTumorLabel assistant from the command line."""

from __future__ import annotations

import argparse
import shlex
import sys


def register(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("brain", parents=[common], help="BrainTumorLabel: brain tumour regions")
    actions = parser.add_subparsers(dest="brain_action", metavar="ACTION", required=True)
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
