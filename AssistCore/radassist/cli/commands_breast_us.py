"""`radassist breast-us ...`: the BreastUSAssist assistant from the command line."""

from __future__ import annotations

import argparse
import shlex

from .outputs import add_output_arguments

BACKBONE_CHOICES = ["mobilenet_v3_lite", "mobilenet_v3_fpn", "resnet50_fpn", "vgg16"]


def register(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "breast-us",
        parents=[common],
        help="BreastUSAssist: lesions on an ultrasound cine, fused across frames (radassist breast-us --cine P "
        "--out DIR), train, evaluate",
        description="Detect breast lesions on every frame of one ultrasound cine and fuse them, or run an ACTION.",
    )
    parser.add_argument("--cine", help="multi-frame ultrasound DICOM, video file, folder of frames, or one picture")
    add_output_arguments(parser, "output folder")
    parser.add_argument("--iou-fuse", type=float, help="boxes of two frames overlapping this much are one lesion (0.3)")
    parser.add_argument("--threshold", type=float, help="operating threshold (default: the model's)")
    parser.add_argument("--model", help="model id (default: the breast_us model of highest precedence)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cuda, mps or cpu")
    parser.add_argument("--case-id", help="case ID used in file names (default: PatientID or the file name)")
    parser.add_argument("--require-cine", action="store_true", help="refuse a single frame (expect a sweep)")
    parser.set_defaults(handler=run_detect)
    actions = parser.add_subparsers(dest="breast_us_action", metavar="ACTION")

    train = actions.add_parser("train", parents=[common], help="train the detector (on phantom sweeps by default)")
    add_output_arguments(train, "model folder to write (model.pt + model_card.json)", required=True)
    train.add_argument("--model-id", default="breastus-demo")
    train.add_argument(
        "--backbone",
        choices=BACKBONE_CHOICES,
        default="mobilenet_v3_lite",
        help="mobilenet_v3_lite (CPU default), or torchvision's resnet50_fpn as in the study",
    )
    train.add_argument("--sweeps", type=int, default=48, help="phantom sweeps of 30 frames (when no --busi/--coco)")
    train.add_argument("--busi", action="append", default=[], help="BUSI-style folder (X.png + X_mask.png)")
    train.add_argument("--coco", action="append", default=[], help="COCO JSON file (pictures beside it); repeatable")
    train.add_argument("--steps", type=int, default=800)
    train.add_argument("--batch-size", type=int, default=4)
    train.add_argument("--crop-size", type=int, default=192, help="training crop in pixels at the detector's scale")
    train.add_argument("--shorter-side", type=int, default=256, help="frames resized so their shorter side is this")
    train.add_argument("--positive-fraction", type=float, default=0.6, help="share of each batch with a lesion")
    train.add_argument("--iou-fuse", type=float, default=0.3)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--split-seed",
        type=int,
        help="with one --busi folder: split it (near-duplicate groups kept together, stratified by class) into "
        "train/validation/test with this seed, train on train, set the threshold on validation, report test",
    )
    train.add_argument("--learning-rate", type=float, default=5e-4)
    train.add_argument(
        "--init-from", help="fine-tune from this model (id or folder with model_card.json) instead of random weights"
    )
    train.add_argument(
        "--time-budget-minutes", type=float, help="also stop after this many minutes (the decay follows the clock)"
    )
    train.add_argument("--validation-sweeps", type=int, default=12, help="fresh phantom sweeps for the card")
    train.add_argument(
        "--tuning-sweeps",
        type=int,
        default=12,
        help="other fresh sweeps that set the threshold (0.2 FP per sweep); 0 keeps 0.5",
    )
    train.set_defaults(handler=run_train)

    evaluate = actions.add_parser("evaluate", parents=[common], help="the study's FROC table on phantom sweeps")
    evaluate.add_argument("--model", help="model id (default: the breast_us model of highest precedence)")
    evaluate.add_argument("--sweeps", type=int, default=12, help="fresh phantom sweeps")
    evaluate.add_argument("--seed", type=int, default=70000, help="first phantom seed")
    evaluate.add_argument("--iou-fuse", type=float, help="fusion IoU (default: the model's)")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--busi", help="BUSI folder: score still pictures of one part of its seeded split instead")
    evaluate.add_argument("--split-seed", type=int, default=0, help="the split's seed (as in the model's card)")
    evaluate.add_argument("--part", choices=["validation", "test"], default="test", help="which part to score")
    evaluate.add_argument(
        "--busi-sweeps",
        metavar="DIR",
        help="BUSI folder: pseudo-cine sweeps made from the stills of one part of its split (--sweeps of them, "
        "--frames each) instead of phantom sweeps",
    )
    evaluate.add_argument("--frames", type=int, default=20, help="frames per pseudo-cine sweep (--busi-sweeps)")
    add_output_arguments(evaluate, "folder for metrics.json, froc.csv, chi_square.csv, froc.png", required=True)
    evaluate.set_defaults(handler=run_evaluate)

    malignancy = actions.add_parser(
        "malignancy",
        parents=[common],
        help="fit the per-lesion malignancy score (a descriptor aid) on a BUSI split's train part; AUC on its test",
    )
    malignancy.add_argument("--busi", required=True, help="BUSI folder (benign/, malignant/, normal/)")
    malignancy.add_argument("--split-seed", type=int, default=0, help="the split's seed (as in the detector's card)")
    add_output_arguments(malignancy, "malignancy.json to write (put it beside the detector's card)", required=True)
    malignancy.set_defaults(handler=run_malignancy)

    describe = actions.add_parser(
        "describe", parents=[common], help="record a lesion's descriptors (BI-RADS lexicon) in detections.json"
    )
    describe.add_argument("detections", help="detections.json written by `radassist breast-us`")
    describe.add_argument("--lesion", type=int, required=True, help="detection_id of the fused lesion")
    describe.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="e.g. shape=oval, posterior_features=shadowing; repeatable",
    )
    describe.add_argument("--review", choices=["accept", "reject"], help="the reviewer's verdict on the lesion")
    describe.add_argument("--annotator", default="")
    describe.add_argument("--note", default="")
    describe.set_defaults(handler=run_describe)


def run_detect(args: argparse.Namespace) -> int:
    from pathlib import Path

    from assistcore.errors import InputError

    from ..breast_us_app import detect_cine_to_folder
    from .main import emit
    from .progress import TerminalProgress

    if not args.cine or not args.out:
        raise InputError("--cine and --out are required.", "radassist breast-us --cine CINE --out DIR")
    options = {"model_id": args.model, "device": args.device, "threshold": args.threshold, "iou_fuse": args.iou_fuse}
    with TerminalProgress("breast-us") as bar:
        report = detect_cine_to_folder(
            args.cine,
            Path(args.out),
            options,
            case_id=args.case_id,
            require_multiframe=args.require_cine,
            progress=bar,
            overwrite=args.overwrite,
        )
    lines = [f"results in {args.out}"] + [f"  {name}" for name in report["files"]]
    lines.append(report["summary"]["text"])
    lines += [f"warning: {warning}" for warning in report["warnings"]]
    lines.append(f"{report['seconds_per_frame']:.3f} s per frame; total {report['seconds_per_stage']['total']:.1f} s")
    if report["model"]["synthetic_demo_model"]:
        lines.append("demo model trained on synthetic data: not for clinical use")
    emit(args, report, "\n".join(lines))
    return 0


def _check_numbers(args: argparse.Namespace, *positive: str) -> None:
    """InputError for an option that must be a positive number, or a fusion IoU outside (0, 1]."""
    from assistcore.errors import InputError

    for name in positive:
        if getattr(args, name) is not None and getattr(args, name) < 1:
            option = "--" + name.replace("_", "-")
            raise InputError(f"{option} is {getattr(args, name)}; it must be at least 1.", f"Give {option} >= 1.")
    if getattr(args, "iou_fuse", None) is not None and not 0.0 < args.iou_fuse <= 1.0:
        raise InputError(f"--iou-fuse is {args.iou_fuse}; it must be in (0, 1].", "For example --iou-fuse 0.3.")


def _training_samples(args: argparse.Namespace):
    import sys

    from assistcore.breastus.busi import scan_busi
    from assistcore.breastus.training import phantom_samples
    from assistcore.detectors.data import PictureSample, read_coco, read_grey_picture

    samples = []
    for folder in args.busi:  # bad pairs are skipped and listed, not fatal
        pictures, skipped = scan_busi(folder)
        for line in skipped:
            print(f"skipped: {line}", file=sys.stderr)
        samples += [PictureSample(read_grey_picture(p.path), p.boxes_xy, str(p.path)) for p in pictures]
    for path in args.coco:
        samples += read_coco(path)
    if samples:
        sources = ", ".join([f"BUSI {v}" for v in args.busi] + [f"COCO {c}" for c in args.coco])
        return samples, f"{len(samples)} annotated pictures ({sources})", False
    samples = phantom_samples(args.sweeps, seed=args.seed * 100000)
    text = (
        f"{args.sweeps} synthetic breast ultrasound sweeps ({len(samples)} frames; "
        "assistcore.phantoms.breast_us, seeded)"
    )
    return samples, text, True


def run_train(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from assistcore.atomic import result_directory, write_text_atomic
    from assistcore.breastus.training import (
        breast_us_model_card,
        evaluate_sweeps,
        phantom_sweep_cases,
        tuned_threshold,
        validation_numbers,
    )
    from assistcore.models.runner import ProgressReporter

    from .main import emit
    from .progress import TerminalProgress

    _check_numbers(args, "steps", "batch_size", "crop_size", "shorter_side", "sweeps")
    if args.split_seed is not None:
        return run_train_busi_split(args)
    samples, description, synthetic = _training_samples(args)
    command = "radassist " + shlex.join(args.command_line)
    out = Path(args.out)
    with (
        TerminalProgress("breast-us train") as bar,
        result_directory(out, "breast-us train", args.overwrite) as staging,
    ):
        report = ProgressReporter([("training", 1)], bar)
        result = _train_detector(args, staging, samples, report)
        from assistcore.models.loader import build_network, load_state_dict_file

        network = build_network(result.network)
        network.load_state_dict(load_state_dict_file(result.weights_path))
        network.eval()
        threshold, note = 0.5, "fixed 0.5 (no tuning sweeps)"
        if args.tuning_sweeps:
            tuning = phantom_sweep_cases(args.tuning_sweeps, seed=args.seed * 100000 + 60000)
            threshold = tuned_threshold(network, tuning, args.shorter_side, args.iou_fuse)
            note = (
                f"fused score reaching the best sensitivity at 0.2 false positives per sweep (IoU 0.2) on "
                f"{args.tuning_sweeps} tuning sweeps (seeds apart from training and validation)"
            )
        if args.validation_sweeps:
            cases = phantom_sweep_cases(args.validation_sweeps, seed=args.seed * 100000 + 50000)
            metrics = evaluate_sweeps(network, cases, args.shorter_side, args.iou_fuse)
            result.validation = validation_numbers(metrics, args.validation_sweeps)
        card = breast_us_model_card(
            result,
            command,
            args.model_id,
            args.seed,
            args.backbone,
            description,
            synthetic,
            threshold,
            args.shorter_side,
            args.iou_fuse,
            note,
        )
        write_text_atomic(staging / "model_card.json", json.dumps(card, indent=2))
    emit(
        args,
        {"folder": str(out), "validation": result.validation, "threshold": threshold, "seconds": result.seconds},
        f"model written to {out}; threshold {threshold}; validation: {result.validation}; {result.seconds:.0f} s",
    )
    return 0


def _initial_weights(args: argparse.Namespace) -> dict:
    """train_detector's ``initial_state`` and ``initial_note`` for ``--init-from`` (empty without it)."""
    from pathlib import Path

    from assistcore.errors import InputError
    from assistcore.models.card import load_model_card
    from assistcore.models.loader import load_state_dict_file, verify_weights
    from assistcore.models.registry import ModelRegistry

    if not args.init_from:
        return {}
    folder = Path(args.init_from)
    card = load_model_card(folder / "model_card.json") if folder.is_dir() else ModelRegistry().get(args.init_from).card
    if card.data.get("training", {}).get("backbone", args.backbone) != args.backbone:
        raise InputError(
            f"--init-from {args.init_from} has backbone {card.data['training']['backbone']}, not {args.backbone}.",
            "Give --backbone as the starting model's.",
        )
    note = f"fine-tuned from {card.id} (weights sha256 {card.weights_sha256[:12]})"
    return {"initial_state": load_state_dict_file(verify_weights(card)), "initial_note": note}


def _logged(bar):
    """The progress bar, plus one stderr line per event when stderr is not a terminal (a background log)."""
    import sys
    import time

    if sys.stderr.isatty():
        return bar

    def callback(event) -> None:
        print(
            f"{time.strftime('%H:%M:%S')} {event.stage} {event.fraction:.3f} {event.message}",
            file=sys.stderr,
            flush=True,
        )
        bar(event)

    return callback


def run_train_busi_split(args: argparse.Namespace) -> int:
    """Train on the train part of a seeded BUSI split; threshold from validation; test numbers in the card."""
    import json
    import sys
    from pathlib import Path

    from assistcore.atomic import result_directory, write_text_atomic
    from assistcore.breastus.busi import (
        BUSI_CITATION,
        BUSI_LICENCE,
        evaluate_stills,
        operating_point,
        scan_busi,
        split_busi,
        split_samples,
        ultrasound_augment,
    )
    from assistcore.breastus.training import breast_us_model_card
    from assistcore.errors import InputError
    from assistcore.metrics import plot_froc
    from assistcore.models.loader import build_network, load_state_dict_file
    from assistcore.models.runner import ProgressReporter

    from .main import emit
    from .progress import TerminalProgress

    if len(args.busi) != 1 or args.coco:
        raise InputError("--split-seed splits one BUSI folder.", "Give exactly one --busi DIR and no --coco.")
    pictures, skipped = scan_busi(args.busi[0])
    for line in skipped:
        print(f"skipped: {line}", file=sys.stderr)
    split = split_busi(pictures, args.split_seed)
    train_samples = split_samples(pictures, split, "train")
    command = "radassist " + shlex.join(args.command_line)
    sizes = split["sizes"]
    description = (
        f"the train part ({sizes['train']} pictures) of a seeded split of {len(pictures)} BUSI breast ultrasound "
        f"pictures (benign, malignant, normal; boxes from the radiologists' masks); validation {sizes['validation']}, "
        f"test {sizes['test']}"
    )
    out = Path(args.out)
    with (
        TerminalProgress("breast-us train") as bar,
        result_directory(out, "breast-us train", args.overwrite) as staging,
    ):
        result = _train_detector(
            args,
            staging,
            train_samples,
            ProgressReporter([("training", 1)], _logged(bar)),
            augment=ultrasound_augment,
            **_initial_weights(args),
        )
        network = build_network(result.network)
        network.load_state_dict(load_state_dict_file(result.weights_path))
        network.eval()
        numbers = {}
        for part in ("validation", "test"):
            numbers[part] = evaluate_stills(network, split_samples(pictures, split, part), args.shorter_side)
        validation_curve = numbers["validation"]["froc"]["iou0.2"]
        threshold = validation_curve.threshold_at[0.2]
        threshold = round(float(threshold), 4) if threshold != float("inf") else 0.5
        note = (
            "score reaching the best sensitivity at 0.2 false positives per picture (IoU 0.2) on the validation "
            f"part ({sizes['validation']} BUSI pictures) of the split"
        )
        entries = {"dataset": "", "n": 0}
        result.validation = entries
        card = breast_us_model_card(
            result,
            command,
            args.model_id,
            args.seed,
            args.backbone,
            description,
            False,
            threshold,
            args.shorter_side,
            args.iou_fuse,
            note,
        )
        card["validation"] = []
        for part, metrics in numbers.items():
            dataset = f"BUSI {part} part (split seed {args.split_seed}), {metrics['n_pictures']} still pictures"
            for row in metrics["rows"]:
                card["validation"].append(
                    {
                        "dataset": dataset,
                        "metric": f"sensitivity_at_{row['fp_per_picture']:g}fp_per_picture_iou{row['iou']:g}",
                        "value": row["sensitivity"],
                        "n": row["lesions"],
                        "notes": f"95 % CI (Wilson) {row['ci95'][0]:.3f}-{row['ci95'][1]:.3f}; "
                        f"{row['found']}/{row['lesions']} lesions, {row['false_positives']} false positives",
                    }
                )
            at = operating_point(metrics["froc"]["iou0.2"], threshold)
            card["validation"].append(
                {
                    "dataset": dataset,
                    "metric": "sensitivity_at_operating_threshold_iou0.2",
                    "value": at["sensitivity"],
                    "n": metrics["n_lesions"],
                    "notes": f"threshold {threshold}: {at['fp_per_picture']} false positives per picture",
                }
            )
            card["validation"].append(
                {
                    "dataset": dataset,
                    "metric": "seconds_per_picture",
                    "value": round(metrics["seconds_per_picture"], 4),
                    "n": metrics["n_pictures"],
                }
            )
        card["eval_metrics"] = {
            part: {"rows": metrics["rows"], "n_pictures": metrics["n_pictures"], "n_lesions": metrics["n_lesions"]}
            for part, metrics in numbers.items()
        }
        card["training"]["data_split"] = {key: value for key, value in split.items() if key != "files"}
        card["training"]["data_split"]["files"] = "split.json beside this card"
        card["training"]["skipped_pairs"] = skipped
        card["references"] = [BUSI_CITATION]
        card["copyright"] = "Weights: RadAssist contributors. Training data: BUSI (Al-Dhabyani et al. 2020). " + (
            BUSI_LICENCE
        )
        write_text_atomic(staging / "split.json", json.dumps(split, indent=1))
        plot_froc(
            [(f"test IoU {iou}", numbers["test"]["froc"][f"iou{iou}"]) for iou in ("0.2", "0.5")]
            + [(f"validation IoU {iou}", numbers["validation"]["froc"][f"iou{iou}"]) for iou in ("0.2",)],
            staging / "froc.png",
            title=f"{args.model_id} on BUSI stills (per picture)",
        )
        write_text_atomic(staging / "model_card.json", json.dumps(card, indent=2))
    test_rows = numbers["test"]["rows"]
    text = "\n".join(
        f"test IoU {r['iou']:g} at {r['fp_per_picture']:g} FP/picture: sensitivity {r['sensitivity']:.3f} "
        f"(95 % CI {r['ci95'][0]:.3f}-{r['ci95'][1]:.3f})"
        for r in test_rows
    )
    emit(
        args,
        {
            "folder": str(out),
            "threshold": threshold,
            "seconds": result.seconds,
            "test": test_rows,
            "validation": numbers["validation"]["rows"],
            "skipped": skipped,
        },
        f"model written to {out}; threshold {threshold}; {result.seconds:.0f} s\n{text}",
    )
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from assistcore.atomic import check_output_folder, result_directory, write_csv_atomic, write_text_atomic
    from assistcore.breastus.training import evaluate_sweeps, phantom_sweep_cases
    from assistcore.metrics import format_table, plot_froc
    from assistcore.models.device import select_device
    from assistcore.models.loader import load_network
    from assistcore.models.registry import ModelRegistry
    from assistcore.pipelines.breast_us import card_fuse_iou, card_shorter_side

    from .main import emit

    _check_numbers(args, "sweeps")
    check_output_folder(args.out, "breast-us evaluate", args.overwrite)  # before minutes of evaluation
    registry = ModelRegistry()
    entry = registry.get(args.model) if args.model else registry.default_for("breast_us")
    device = select_device(args.device).device
    network = load_network(entry.card, device)
    if args.busi:
        return _evaluate_busi_part(args, entry, network, device)
    iou_fuse = args.iou_fuse if args.iou_fuse is not None else card_fuse_iou(entry.card)
    if args.busi_sweeps:
        from assistcore.breastus.busi import busi_sweep_cases, scan_busi, split_busi

        _check_numbers(args, "frames")
        split = split_busi(scan_busi(args.busi_sweeps)[0], args.split_seed)
        cases = busi_sweep_cases(args.busi_sweeps, split, args.part, args.frames, limit=args.sweeps, seed=args.seed)
        source = f"pseudo-cine sweeps from BUSI {args.part} stills"
    else:
        cases = phantom_sweep_cases(args.sweeps, args.seed)
        source = "phantom sweeps"
    metrics = evaluate_sweeps(network, cases, card_shorter_side(entry.card), iou_fuse, device)
    curves = metrics.pop("froc")
    out = Path(args.out)
    with result_directory(out, "breast-us evaluate", args.overwrite) as staging:
        metrics["model"] = {"id": entry.card.id, "version": entry.card.version, "device": device}
        metrics["sweeps"] = source
        metrics["froc"] = {name: curve.to_dict() for name, curve in curves.items()}
        write_text_atomic(staging / "metrics.json", json.dumps(metrics, indent=2, default=float))
        write_csv_atomic(staging / "froc.csv", metrics["rows"])
        write_csv_atomic(staging / "chi_square.csv", metrics["chi_square"])
        write_csv_atomic(staging / "cases.csv", metrics["cases"])
        named = [(name.replace("_", " "), curve) for name, curve in curves.items()]
        plot_froc(
            named, staging / "froc.png", title=f"Breast US lesions, single frame vs fused ({entry.card.id}, {source})"
        )
    text = (
        format_table(metrics["rows"])
        + "\n"
        + format_table(metrics["chi_square"])
        + f"\n{metrics['seconds_per_frame']:.3f} s per frame; results in {out}"
    )
    emit(args, metrics, text)
    return 0


def _evaluate_busi_part(args: argparse.Namespace, entry, network, device: str) -> int:
    """`evaluate --busi DIR`: per-picture FROC of the model on one part of the seeded BUSI split."""
    import json
    from pathlib import Path

    from assistcore.atomic import result_directory, write_csv_atomic, write_text_atomic
    from assistcore.breastus.busi import evaluate_stills, operating_point, scan_busi, split_busi, split_samples
    from assistcore.metrics import format_table, plot_froc
    from assistcore.pipelines.breast_us import card_shorter_side

    from .main import emit

    pictures, skipped = scan_busi(args.busi)
    split = split_busi(pictures, args.split_seed)
    samples = split_samples(pictures, split, args.part)
    metrics = evaluate_stills(network, samples, card_shorter_side(entry.card), device)
    metrics.pop("detections")
    curves = metrics.pop("froc")
    threshold = float(entry.card.data.get("operating_thresholds", {}).get("lesion", 0.5))
    metrics["at_operating_threshold"] = {name: operating_point(curve, threshold) for name, curve in curves.items()}
    metrics["split"] = {key: value for key, value in split.items() if key not in ("files", "duplicate_groups")}
    metrics["part"] = args.part
    metrics["skipped"] = skipped
    metrics["model"] = {"id": entry.card.id, "version": entry.card.version, "device": device}
    out = Path(args.out)
    with result_directory(out, "breast-us evaluate", args.overwrite) as staging:
        metrics["froc"] = {name: curve.to_dict() for name, curve in curves.items()}
        write_text_atomic(staging / "metrics.json", json.dumps(metrics, indent=2, default=float))
        rows = [{**r, "ci95": f"{r['ci95'][0]}-{r['ci95'][1]}"} for r in metrics["rows"]]
        write_csv_atomic(staging / "froc.csv", rows)
        plot_froc(
            [(f"IoU {name[3:]}", curve) for name, curve in curves.items()],
            staging / "froc.png",
            title=f"{entry.card.id} on BUSI {args.part} stills (split seed {args.split_seed})",
        )
    table = format_table([{**r, "ci95": f"{r['ci95'][0]:.3f}-{r['ci95'][1]:.3f}"} for r in metrics["rows"]])
    emit(args, metrics, f"{table}\n{metrics['seconds_per_picture']:.3f} s per picture; results in {out}")
    return 0


def run_malignancy(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from assistcore.atomic import write_text_atomic
    from assistcore.breastus.busi import BUSI_CITATION, scan_busi, split_busi
    from assistcore.breastus.malignancy import malignancy_from_split
    from assistcore.errors import InputError

    from .main import emit

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise InputError(f"{out} exists.", "Give another --out or --overwrite.")
    pictures, _skipped = scan_busi(args.busi)
    split = split_busi(pictures, args.split_seed)
    model = malignancy_from_split(pictures, split)
    model["command"] = "radassist " + shlex.join(args.command_line)
    model["split_sha256"] = split["sha256"]
    model["references"] = [BUSI_CITATION]
    write_text_atomic(out, json.dumps(model, indent=2))
    lines = [
        f"{part}: AUC {e['auc']:.3f} (95 % CI {e['ci95'][0]:.3f}-{e['ci95'][1]:.3f}), {e['lesions']} lesions, "
        f"{e['malignant']} malignant"
        for part, e in model["evaluation"].items()
    ]
    emit(args, model, "\n".join([f"written {out}", *lines, model["note"]]))
    return 0


def run_describe(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from assistcore.atomic import write_csv_atomic, write_text_atomic
    from assistcore.breastus.descriptors import LesionDescriptors, descriptor_columns, descriptor_rows
    from assistcore.errors import InputError

    from .main import emit

    path = Path(args.detections)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        known = {int(item["detection_id"]) for item in document["fused"]}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"Cannot read detections from {path} ({error}).", "Give the detections.json of a run."
        ) from error
    if args.lesion not in known:
        raise InputError(f"{path} has no lesion {args.lesion} (it has {sorted(known)}).", "Give one of those ids.")
    records = {}
    for raw in document.get("descriptors", []):
        record = LesionDescriptors.from_dict(raw)  # InputError naming the problem for a broken record
        records[record.detection_id] = record
    record = records.setdefault(args.lesion, LesionDescriptors(args.lesion))
    for item in args.set:
        field, separator, value = item.partition("=")
        if not separator:
            raise InputError(f"--set {item!r} is not FIELD=VALUE.", "For example --set shape=oval.")
        record.set(field.strip(), value.strip())
    record.annotator = args.annotator or record.annotator
    record.note = args.note or record.note
    document["descriptors"] = [records[key].to_dict() for key in sorted(records)]
    if args.review:
        document.setdefault("reviews", {})[str(args.lesion)] = args.review
    write_text_atomic(path, json.dumps(document, indent=2))
    csv_path = write_csv_atomic(
        path.with_name("descriptors.csv"), descriptor_rows(records.values()), descriptor_columns()
    )
    emit(args, record.to_dict(), f"lesion {args.lesion}: {record.values}; written to {path} and {csv_path}")
    return 0


def _train_detector(args: argparse.Namespace, staging, samples, progress, **extra):
    """``train_detector`` with the options both training commands take from the command line."""
    from assistcore.detectors.training import train_detector

    return train_detector(
        staging,
        samples,
        args.steps,
        args.backbone,
        args.seed,
        crop_size=args.crop_size,
        batch_size=args.batch_size,
        image_size=args.shorter_side,
        positive_fraction=args.positive_fraction,
        shorter_side=args.shorter_side,
        progress=progress,
        learning_rate=args.learning_rate,
        time_budget_s=args.time_budget_minutes * 60 if args.time_budget_minutes else None,
        **extra,
    )
