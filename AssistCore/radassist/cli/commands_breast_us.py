"""`radassist breast-us ...`: the BreastUSAssist assistant from the command line."""

from __future__ import annotations

import argparse
import shlex

from .commands_breast_us_train import _check_numbers, add_train_parser
from .commands_report import add_dicom_arguments
from .outputs import add_output_arguments


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
    add_dicom_arguments(parser)
    parser.add_argument("--iou-fuse", type=float, help="boxes of two frames overlapping this much are one lesion (0.3)")
    parser.add_argument("--threshold", type=float, help="operating threshold (default: the model's)")
    parser.add_argument("--model", help="model id (default: the breast_us model of highest precedence)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cuda, mps or cpu")
    parser.add_argument("--case-id", help="case ID used in file names (default: PatientID or the file name)")
    parser.add_argument("--require-cine", action="store_true", help="refuse a single frame (expect a sweep)")
    parser.set_defaults(handler=run_detect)
    actions = parser.add_subparsers(dest="breast_us_action", metavar="ACTION")

    add_train_parser(actions, common)

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
    from ..breast_us_app import detect_cine_to_folder
    from .case_command import require_options, run_case_command

    require_options(args, ("--cine", "--out"), "radassist breast-us --cine CINE --out DIR")
    options = {"model_id": args.model, "device": args.device, "threshold": args.threshold, "iou_fuse": args.iou_fuse}

    def job(out, progress) -> dict:
        return detect_cine_to_folder(
            args.cine, out, options, args.case_id, args.require_cine, progress=progress, overwrite=args.overwrite
        )

    def summary(report: dict) -> list[str]:
        total_s = report["seconds_per_stage"]["total"]
        return [
            report["summary"]["text"],
            *(f"warning: {warning}" for warning in report["warnings"]),
            f"{report['seconds_per_frame']:.3f} s per frame; total {total_s:.1f} s",
        ]

    return run_case_command(args, "breast-us", job, summary)


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
