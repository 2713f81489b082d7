"""`radassist breast-us train`: the BreastUSAssist detector trained on phantom sweeps, annotated pictures, or the
train part of a seeded BUSI split (threshold from its validation part, test numbers in the card)."""

from __future__ import annotations

import argparse
import shlex

from .outputs import add_output_arguments

BACKBONE_CHOICES = ["mobilenet_v3_lite", "mobilenet_v3_fpn", "resnet50_fpn", "vgg16"]


def add_train_parser(actions, common: argparse.ArgumentParser) -> None:
    """`radassist breast-us train`: its options (phantom sweeps, BUSI/COCO pictures, or a seeded BUSI split)."""
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
    from assistcore.breastus.training import evaluate_sweeps, phantom_sweep_cases, tuned_threshold, validation_numbers
    from assistcore.models.runner import ProgressReporter

    from .main import emit
    from .progress import TerminalProgress

    _check_numbers(args, "steps", "batch_size", "crop_size", "shorter_side", "sweeps")
    if args.split_seed is not None:
        return run_train_busi_split(args)
    samples, description, synthetic = _training_samples(args)
    out = Path(args.out)
    with (
        TerminalProgress("breast-us train") as bar,
        result_directory(out, "breast-us train", args.overwrite) as staging,
    ):
        report = ProgressReporter([("training", 1)], bar)
        result = _train_detector(args, staging, samples, report)
        network = _trained_network(result)
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
        card = _model_card(args, result, description, synthetic, threshold, note)
        write_text_atomic(staging / "model_card.json", json.dumps(card, indent=2))
    emit(
        args,
        {"folder": str(out), "validation": result.validation, "threshold": threshold, "seconds": result.seconds},
        f"model written to {out}; threshold {threshold}; validation: {result.validation}; {result.seconds:.0f} s",
    )
    return 0


def _trained_network(result):
    """The network ``result`` (a ``train_detector`` result) describes, with its trained weights, in eval mode."""
    from assistcore.models.loader import build_network, load_state_dict_file

    network = build_network(result.network)
    network.load_state_dict(load_state_dict_file(result.weights_path))
    network.eval()
    return network


def _model_card(
    args: argparse.Namespace, result, description: str, synthetic: bool, threshold: float, note: str
) -> dict:
    """The model card of a breast US detector trained by this command line (``args``), as a JSON-ready dict."""
    from assistcore.breastus.training import breast_us_model_card

    command = "radassist " + shlex.join(args.command_line)
    return breast_us_model_card(
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
    from pathlib import Path

    from assistcore.atomic import result_directory, write_text_atomic
    from assistcore.breastus.busi import evaluate_stills, split_samples, ultrasound_augment
    from assistcore.models.runner import ProgressReporter

    from .main import emit
    from .progress import TerminalProgress

    pictures, skipped, split = _read_busi_split(args)
    train_samples = split_samples(pictures, split, "train")
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
        network = _trained_network(result)
        numbers = {}
        for part in ("validation", "test"):
            numbers[part] = evaluate_stills(network, split_samples(pictures, split, part), args.shorter_side)
        threshold = _validation_threshold(numbers)
        note = (
            "score reaching the best sensitivity at 0.2 false positives per picture (IoU 0.2) on the validation "
            f"part ({sizes['validation']} BUSI pictures) of the split"
        )
        result.validation = {"dataset": "", "n": 0}  # replaced by the split's entries below
        card = _model_card(args, result, description, False, threshold, note)
        card["validation"] = _split_validation_entries(numbers, threshold, args.split_seed)
        _add_split_provenance(card, numbers, split, skipped)
        write_text_atomic(staging / "split.json", json.dumps(split, indent=1))
        _plot_split_froc(numbers, staging / "froc.png", args.model_id)
        write_text_atomic(staging / "model_card.json", json.dumps(card, indent=2))
    test_rows = numbers["test"]["rows"]
    text = "\n".join(
        f"test IoU {r['iou']:g} at {r['fp_per_picture']:g} FP/picture: sensitivity {r['sensitivity']:.3f} "
        f"(95 % CI {r['ci95'][0]:.3f}-{r['ci95'][1]:.3f})"
        for r in test_rows
    )
    payload = {"folder": str(out), "threshold": threshold, "seconds": result.seconds, "test": test_rows}
    payload.update(validation=numbers["validation"]["rows"], skipped=skipped)
    emit(args, payload, f"model written to {out}; threshold {threshold}; {result.seconds:.0f} s\n{text}")
    return 0


def _read_busi_split(args: argparse.Namespace) -> tuple[list, list[str], dict]:
    """The pictures of the one ``--busi`` folder, the pairs skipped (listed on stderr) and its seeded split."""
    import sys

    from assistcore.breastus.busi import scan_busi, split_busi
    from assistcore.errors import InputError

    if len(args.busi) != 1 or args.coco:
        raise InputError("--split-seed splits one BUSI folder.", "Give exactly one --busi DIR and no --coco.")
    pictures, skipped = scan_busi(args.busi[0])
    for line in skipped:
        print(f"skipped: {line}", file=sys.stderr)
    return pictures, skipped, split_busi(pictures, args.split_seed)


def _validation_threshold(numbers: dict) -> float:
    """The score reaching the best sensitivity at 0.2 false positives per validation picture (IoU 0.2); 0.5 when
    no score does."""
    threshold = numbers["validation"]["froc"]["iou0.2"].threshold_at[0.2]
    return round(float(threshold), 4) if threshold != float("inf") else 0.5


def _split_validation_entries(numbers: dict, threshold: float, split_seed: int) -> list[dict]:
    """The card's validation entries for the validation and test parts of a BUSI split: sensitivity at each
    false-positive rate of the FROC rows (with its Wilson 95 % CI), at the operating threshold, and the seconds
    per picture."""
    from assistcore.breastus.busi import operating_point

    entries: list[dict] = []
    for part, metrics in numbers.items():
        dataset = f"BUSI {part} part (split seed {split_seed}), {metrics['n_pictures']} still pictures"
        for row in metrics["rows"]:
            entries.append(
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
        entries.append(
            {
                "dataset": dataset,
                "metric": "sensitivity_at_operating_threshold_iou0.2",
                "value": at["sensitivity"],
                "n": metrics["n_lesions"],
                "notes": f"threshold {threshold}: {at['fp_per_picture']} false positives per picture",
            }
        )
        entries.append(
            {
                "dataset": dataset,
                "metric": "seconds_per_picture",
                "value": round(metrics["seconds_per_picture"], 4),
                "n": metrics["n_pictures"],
            }
        )
    return entries


def _add_split_provenance(card: dict, numbers: dict, split: dict, skipped: list[str]) -> None:
    """The FROC rows per part, the split (its files in split.json), skipped pairs, BUSI's citation and licence."""
    from assistcore.breastus.busi import BUSI_CITATION, BUSI_LICENCE

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


def _plot_split_froc(numbers: dict, path, model_id: str) -> None:
    """froc.png: the test part's curves at IoU 0.2 and 0.5 and the validation part's at 0.2."""
    from assistcore.metrics import plot_froc

    plot_froc(
        [(f"test IoU {iou}", numbers["test"]["froc"][f"iou{iou}"]) for iou in ("0.2", "0.5")]
        + [(f"validation IoU {iou}", numbers["validation"]["froc"][f"iou{iou}"]) for iou in ("0.2",)],
        path,
        title=f"{model_id} on BUSI stills (per picture)",
    )


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
