"""`radassist spine ...`: the SpineAssist assistant from the command line."""

from __future__ import annotations

import argparse
import shlex

from .commands_report import add_dicom_arguments
from .outputs import add_output_arguments


def _anchor(text: str) -> tuple[tuple[float, float, float], str]:
    """``X,Y,Z:LEVEL`` (LPS mm) -> ((x, y, z), level)."""
    try:
        point, level = text.rsplit(":", 1)
        x, y, z = (float(v) for v in point.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not X,Y,Z:LEVEL (LPS mm, e.g. 1.5,-20,35:C4)") from None
    return (x, y, z), level.strip().upper()


def register(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "spine",
        parents=[common],
        help="SpineAssist: cervical levels and findings (radassist spine --sag-t2 P --out DIR), train, evaluate",
        description="Locate and label cervical vertebrae and discs, map levels onto axial slices, list findings.",
    )
    parser.add_argument("--sag-t2", help="sagittal T2: DICOM series folder (or file) or NIfTI/NRRD")
    parser.add_argument("--sag-t1", help="sagittal T1 (optional; shown in the scene)")
    parser.add_argument(
        "--ax-t2",
        action="append",
        default=[],
        help="axial T2 (optional; one stack, or repeat for several oblique blocks)",
    )
    add_output_arguments(parser, "output folder")
    add_dicom_arguments(parser)
    parser.add_argument(
        "--anchor",
        type=_anchor,
        help="a point and its vertebra, X,Y,Z:LEVEL in LPS mm (e.g. 0,-12.5,40:C3): name the levels from it "
        "(needed when C2 is out of view and the PAM50 atlas match is ambiguous)",
    )
    parser.add_argument(
        "--labels",
        help="use this label file (TotalSegmentator, TotalSpineSeg, ...) instead of "
        "our segmentation network; needs --level-map",
    )
    parser.add_argument(
        "--level-map",
        help="JSON {value: name} or CSV value,name for --labels (names such as vertebrae_C2, disc_C2_C3, spinal_cord)",
    )
    parser.add_argument("--model", help="model id (default: the spine model of highest precedence)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cuda, mps or cpu")
    parser.add_argument("--case-id", help="case ID used in file names (default: PatientID or the file name)")
    parser.set_defaults(handler=run_spine)
    actions = parser.add_subparsers(dest="spine_action", metavar="ACTION")

    _add_train_parser(actions, common)

    evaluate = actions.add_parser("evaluate", parents=[common], help="the study's table on fresh phantoms")
    evaluate.add_argument("--model", help="model id (default: the spine model of highest precedence)")
    evaluate.add_argument("--phantoms", type=int, default=12, help="fresh phantom cases")
    evaluate.add_argument("--seed", type=int, default=5000, help="first phantom seed")
    evaluate.add_argument("--device", default="auto")
    add_output_arguments(evaluate, "folder for metrics.json, metrics.csv, levels.csv, PNGs", required=True)
    evaluate.set_defaults(handler=run_evaluate)


def _add_train_parser(actions, common: argparse.ArgumentParser) -> None:
    """``radassist spine train``: the three networks on phantoms, from random weights or fine-tuned (--init)."""
    train = actions.add_parser("train", parents=[common], help="train the three networks on phantoms")
    add_output_arguments(train, "model folder to write (weights + model_card.json)", required=True)
    train.add_argument("--model-id", default="spine-demo")
    train.add_argument("--phantoms", type=int, default=64)
    train.add_argument("--steps", type=int, default=1500, help="segmentation network steps")
    train.add_argument("--classifier-steps", type=int, default=600)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--validation-phantoms", type=int, default=12, help="fresh phantom cases for the card")
    train.add_argument(
        "--tuning-phantoms",
        type=int,
        default=12,
        help="other fresh phantoms to set the classifiers' operating thresholds on (0: keep 0.5; with --init the "
        "initial card's thresholds are copied with its classifiers)",
    )
    train.add_argument(
        "--domain-randomisation",
        nargs="?",
        type=float,
        const=True,
        default=0.0,
        metavar="FRACTION",
        help="this share of segmentation patches (default 0.5 when given without a value) get real-image "
        "variation first (per-class intensities, marrow texture, Modic-like bands, dark discs, coil shading, blur)",
    )
    train.add_argument(
        "--init",
        metavar="MODEL_DIR_OR_ID",
        help="fine-tune the segmentation network from this spine model's weights (lower peak learning rate) and "
        "copy its osteophyte and axial classifiers with their operating thresholds unchanged",
    )
    train.add_argument(
        "--learning-rate",
        type=float,
        help="peak learning rate of the segmentation network's one-cycle schedule (default 3e-3, 7e-4 with --init)",
    )
    train.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    import json
    import logging
    from pathlib import Path

    from assistcore.atomic import result_directory, write_text_atomic
    from assistcore.spine.training import initial_model, spine_model_card, train_spine_models

    from .main import emit
    from .progress import TerminalProgress

    command = "radassist " + shlex.join(args.command_line)
    out = Path(args.out)
    init = initial_model(args.init) if args.init else None  # before anything is written or trained
    with TerminalProgress("spine train") as bar, result_directory(out, "spine train", args.overwrite) as staging:
        from assistcore.models.runner import ProgressReporter

        stages = [("phantoms", 1), ("segmentation", 6)] + ([] if init else [("osteophyte", 2), ("axial", 1)])
        result = train_spine_models(
            staging,
            args.phantoms,
            args.steps,
            args.classifier_steps,
            args.seed,
            ProgressReporter(stages, bar),
            domain_randomisation=args.domain_randomisation,
            init=init,
            learning_rate=args.learning_rate,
        )
        card = spine_model_card(result, command, args.model_id, args.seed)
        write_text_atomic(staging / "model_card.json", json.dumps(card, indent=2) + "\n")
        try:  # CPU programs (no MONAI import at inference); the weights stay the model if export fails
            from assistcore.models.card import load_model_card
            from assistcore.models.exporting import add_exported_program

            add_exported_program(load_model_card(staging))
            card = json.loads((staging / "model_card.json").read_text())
        except Exception as error:
            logging.getLogger(__name__).warning("networks not exported for CPU (%s); the weights still work", error)
        if args.validation_phantoms:
            try:
                _validate(staging, card, args, tune_thresholds=bool(args.tuning_phantoms) and init is None)
            except Exception as error:  # the trained weights must not be lost to an evaluation problem
                logging.getLogger(__name__).warning("validation failed (%s); the card has no numbers", error)
    emit(
        args,
        {"folder": str(out), "validation": card["validation"]},
        f"model written to {out}; validation: {card['validation']}",
    )
    return 0


def _validate(staging, card: dict, args: argparse.Namespace, tune_thresholds: bool) -> None:
    """Tune the classifiers' operating thresholds on ``--tuning-phantoms`` fresh phantoms (when
    ``tune_thresholds``; copied classifiers keep their card's), then put the metrics on ``--validation-phantoms``
    other ones into ``card`` (updated in place) and its file in ``staging``."""
    import json

    from assistcore.atomic import write_text_atomic
    from assistcore.spine.evaluation import evaluate_on_phantoms, tuned_thresholds, validation_entries

    if tune_thresholds:  # operating points on other phantoms than the validation ones
        tuning = evaluate_on_phantoms(staging, args.tuning_phantoms, args.seed * 100000 + 60000, keep_cases=True)
        card["operating_thresholds"].update(tuned_thresholds(tuning["cases"]))
        card["operating_thresholds_tuning"] = (
            f"Youden's J on {args.tuning_phantoms} fresh phantoms (seeds {args.seed * 100000 + 60000}+), "
            "not the validation ones"
        )
        write_text_atomic(staging / "model_card.json", json.dumps(card, indent=2) + "\n")
    metrics = evaluate_on_phantoms(staging, args.validation_phantoms, args.seed * 100000 + 50000)
    card["validation"] = validation_entries(metrics, args.validation_phantoms)
    write_text_atomic(staging / "model_card.json", json.dumps(card, indent=2) + "\n")


def run_spine(args: argparse.Namespace) -> int:
    from ..spine_app import run_case_to_folder
    from .case_command import require_options, run_case_command

    require_options(args, ("--sag-t2", "--out"), "radassist spine --sag-t2 SERIES --out DIR")
    options = {
        "model_id": args.model,
        "device": args.device,
        "anchor": args.anchor,
        "labels": args.labels,
        "level_map": args.level_map,
    }

    def job(out, progress) -> dict:
        return run_case_to_folder(
            args.sag_t2,
            out,
            options,
            args.sag_t1,
            args.ax_t2,
            args.case_id,
            progress=progress,
            overwrite=args.overwrite,
        )

    def summary(report: dict) -> list[str]:
        labelling = report["labelling"]
        named = ", ".join(v["name"] for v in report["levels"]["vertebrae"])
        levels = (
            f"levels: {named} ({labelling['method']}, confidence {labelling['confidence']})"
            if named
            else "levels: unknown (not named; see the warnings)"
        )
        warnings = [f"warning: {text}" for text in report["warnings"]]
        return [levels, *warnings, f"total {report['seconds_per_stage']['total']:.1f} s"]

    return run_case_command(args, "spine", job, summary)


def run_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from assistcore.models.registry import ModelRegistry
    from assistcore.spine.evaluation import evaluate_to_folder

    from .main import emit

    registry = ModelRegistry()
    entry = registry.get(args.model) if args.model else registry.default_for("spine")
    metrics, table = evaluate_to_folder(
        entry.folder, args.phantoms, args.seed, Path(args.out), args.device, overwrite=args.overwrite
    )
    emit(args, metrics, table + f"\nresults in {args.out}")
    return 0
