"""`radassist crm ...`: the CRMAssist assistant from the command line."""

from __future__ import annotations

import argparse
import shlex

from .commands_report import add_dicom_arguments
from .outputs import add_output_arguments

#: the columns of the CRM study's table (per image and per patient), as in diagnostic_rows.DIAGNOSTIC_COLUMNS
CRM_TABLE_COLUMNS = ("accuracy", "sensitivity", "specificity", "ppv", "npv", "auc", "auc_ci95")


def _slice_range(text: str) -> tuple[int, int]:
    try:
        first, last = (int(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not FIRST:LAST (slice indices, inclusive)") from None
    return first, last


def register(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "crm",
        parents=[common],
        help="CRMAssist: CRM-positive boxes on axial T2 (radassist crm --t2 P --out DIR), train, evaluate",
        description="Detect CRM-positive regions on one axial T2 series, or run an ACTION.",
    )
    parser.add_argument("--t2", help="axial T2: DICOM series folder (or file) or NIfTI/NRRD")
    add_output_arguments(parser, "output folder")
    add_dicom_arguments(parser)
    parser.add_argument("--threshold", type=float, help="operating threshold (default: the model's, 0.7)")
    parser.add_argument("--series-uid", help="SeriesInstanceUID when the folder holds several series")
    parser.add_argument("--model", help="model id (default: the crm model of highest precedence)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cuda, mps or cpu")
    parser.add_argument("--case-id", help="case ID used in file names (default: PatientID or the file name)")
    parser.add_argument(
        "--slices", type=_slice_range, help="FIRST:LAST slices to evaluate (anal canal to peritoneal reflection)"
    )
    parser.set_defaults(handler=run_detect)
    actions = parser.add_subparsers(dest="crm_action", metavar="ACTION")

    train = actions.add_parser("train", parents=[common], help="train the detector (on phantoms by default)")
    add_output_arguments(train, "model folder to write (model.pt + model_card.json)", required=True)
    train.add_argument("--model-id", default="crm-demo")
    train.add_argument(
        "--backbone",
        choices=["mobilenet_v3_lite", "mobilenet_v3_fpn", "resnet50_fpn", "vgg16"],
        default="mobilenet_v3_lite",
        help="mobilenet_v3_lite (CPU default, 21 MB), torchvision's mobilenet_v3_fpn or resnet50_fpn, or vgg16 "
        "as in the source study",
    )
    train.add_argument("--phantoms", type=int, default=48, help="phantom cases (used when no --voc/--coco)")
    train.add_argument("--voc", action="append", default=[], help="LabelImg folder (pictures + VOC XML); repeatable")
    train.add_argument("--coco", action="append", default=[], help="COCO JSON file (pictures beside it); repeatable")
    train.add_argument("--steps", type=int, default=600)
    train.add_argument("--batch-size", type=int, default=4)
    train.add_argument(
        "--positive-fraction",
        type=float,
        default=0.7,
        help="share of each batch drawn from pictures with boxes (lower: fewer false positives)",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--validation-phantoms", type=int, default=12, help="fresh phantom cases for the card")
    train.set_defaults(handler=run_train)

    evaluate = actions.add_parser("evaluate", parents=[common], help="the study's table on a labelled set")
    evaluate.add_argument("--model", help="model id (default: the crm model of highest precedence)")
    evaluate.add_argument("--voc", help="LabelImg folder; patients from file names <patient>_<n>.png")
    evaluate.add_argument("--phantoms", type=int, help="evaluate on this many fresh phantom cases instead")
    evaluate.add_argument("--seed", type=int, default=1000, help="first phantom seed")
    evaluate.add_argument("--threshold", type=float, help="operating threshold (default: the model's)")
    evaluate.add_argument("--device", default="auto")
    add_output_arguments(evaluate, "folder for metrics.json, metrics.csv, cases.csv, roc.png", required=True)
    evaluate.set_defaults(handler=run_evaluate)

    export = actions.add_parser(
        "export-training", parents=[common], help="slices + LabelImg boxes from a labelled volume"
    )
    export.add_argument("--t2", required=True, help="axial T2 series or file")
    export.add_argument("--labels", help="label map on the T2 grid: each connected CRM+ region per slice -> a box")
    export.add_argument("--boxes", help="boxes.json from `radassist crm` (reviewed: only accepted slices)")
    export.add_argument("--case-id", default="case")
    add_output_arguments(
        export, "folder for <case>_<n>.png + .xml (an earlier export is added to, case by case)", required=True
    )
    export.set_defaults(handler=run_export)


def run_detect(args: argparse.Namespace) -> int:
    from ..crm_app import detect_case_to_folder
    from .case_command import require_options, run_case_command

    require_options(args, ("--t2", "--out"), "radassist crm --t2 SERIES --out DIR")
    options = {"model_id": args.model, "device": args.device, "threshold": args.threshold, "slices": args.slices}

    def job(out, progress) -> dict:
        return detect_case_to_folder(
            args.t2, out, options, args.case_id, args.series_uid, progress=progress, overwrite=args.overwrite
        )

    def summary(report: dict) -> list[str]:
        total_s = report["seconds_per_stage"]["total"]
        return [report["verdict"]["text"], f"{report['seconds_per_slice']:.3f} s per slice; total {total_s:.1f} s"]

    return run_case_command(args, "crm", job, summary)


def _training_samples(args: argparse.Namespace):
    from assistcore.crm.data import read_coco, read_voc_folder
    from assistcore.crm.training import phantom_samples

    samples = []
    for folder in args.voc:
        samples += read_voc_folder(folder)
    for path in args.coco:
        samples += read_coco(path)
    if samples:
        sources = ", ".join([f"VOC {v}" for v in args.voc] + [f"COCO {c}" for c in args.coco])
        return samples, f"{len(samples)} annotated pictures ({sources})", False
    samples = phantom_samples(args.phantoms, seed=args.seed * 100000)
    text = f"{args.phantoms} synthetic pelvic T2 phantoms ({len(samples)} slices; assistcore.phantoms.rectum, seeded)"
    return samples, text, True


def run_train(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from assistcore.atomic import result_directory, write_text_atomic
    from assistcore.crm.training import crm_model_card, phantom_evaluation_cases, train_crm_detector
    from assistcore.crm.training import evaluate_detector as evaluate

    from .main import emit
    from .progress import TerminalProgress

    samples, description, synthetic = _training_samples(args)
    command = "radassist " + shlex.join(args.command_line)
    out = Path(args.out)
    with TerminalProgress("crm train") as bar, result_directory(out, "crm train", args.overwrite) as staging:
        from assistcore.models.runner import ProgressReporter

        report = ProgressReporter([("training", 1)], bar)
        result = train_crm_detector(
            staging,
            samples,
            args.steps,
            args.backbone,
            args.seed,
            batch_size=args.batch_size,
            positive_fraction=args.positive_fraction,
            progress=report,
        )
        if args.validation_phantoms:
            from assistcore.models.loader import build_network, load_state_dict_file

            network = build_network(result.network)
            network.load_state_dict(load_state_dict_file(result.weights_path))
            cases = phantom_evaluation_cases(args.validation_phantoms, seed=args.seed * 100000 + 50000)
            metrics = evaluate(network.eval(), cases, threshold=0.7)
            result.validation = _validation_numbers(metrics, args.validation_phantoms)
        card = crm_model_card(result, command, args.model_id, args.seed, args.backbone, description, synthetic)
        write_text_atomic(staging / "model_card.json", json.dumps(card, indent=2))
    emit(
        args,
        {"folder": str(out), "validation": result.validation, "seconds": result.seconds},
        f"model written to {out}; validation: {result.validation}; {result.seconds:.0f} s",
    )
    return 0


def _validation_numbers(metrics: dict, n_cases: int) -> dict:
    image, patient = metrics["per_image"], metrics["per_patient"]
    return {
        "dataset": f"{n_cases} fresh synthetic phantom cases (seeds not used in training)",
        "n": n_cases,
        "per_image_auc": image["auc"],
        "per_image_sensitivity": image["sensitivity"],
        "per_image_specificity": image["specificity"],
        "per_patient_accuracy": patient["accuracy"],
        "box_sensitivity_iou0.1": metrics["box_sensitivity"],
        "seconds_per_image": metrics["seconds_per_image"],
    }


def run_evaluate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from assistcore.atomic import check_output_folder, result_directory, write_csv_atomic, write_text_atomic
    from assistcore.crm.training import evaluate_detector, phantom_evaluation_cases, voc_evaluation_cases
    from assistcore.diagnostic_rows import diagnostic_row
    from assistcore.errors import InputError
    from assistcore.metrics import format_table, plot_roc, roc_analysis
    from assistcore.models.device import select_device
    from assistcore.models.loader import load_network
    from assistcore.models.registry import ModelRegistry
    from assistcore.pipelines.crm import DEFAULT_THRESHOLD

    from .main import emit

    if bool(args.voc) == bool(args.phantoms):
        raise InputError("Give exactly one of --voc DIR or --phantoms N.", "radassist crm evaluate --voc DIR --out D")
    check_output_folder(args.out, "crm evaluate", args.overwrite)  # before minutes of evaluation
    registry = ModelRegistry()
    entry = registry.get(args.model) if args.model else registry.default_for("crm")
    device = select_device(args.device).device
    network = load_network(entry.card, device)
    try:
        threshold = args.threshold if args.threshold is not None else entry.card.threshold("crm_positive")
    except Exception:
        threshold = DEFAULT_THRESHOLD
    cases = voc_evaluation_cases(args.voc) if args.voc else phantom_evaluation_cases(args.phantoms, args.seed)
    metrics = evaluate_detector(network, cases, threshold, device)
    scores = metrics.pop("_scores")
    rows = [
        diagnostic_row("level", level.replace("per_", ""), metrics[level], CRM_TABLE_COLUMNS)
        for level in ("per_image", "per_patient")
    ]
    out = Path(args.out)
    with result_directory(out, "crm evaluate", args.overwrite) as staging:
        metrics["model"] = {"id": entry.card.id, "version": entry.card.version, "device": device}
        write_text_atomic(staging / "metrics.json", json.dumps(metrics, indent=2, default=float))
        for name, records in (("metrics.csv", rows), ("cases.csv", metrics["cases"])):
            write_csv_atomic(staging / name, records)
        if 0 < sum(scores["image_truth"]) < len(scores["image_truth"]):
            roc = roc_analysis(scores["image_truth"], scores["image_scores"])
            plot_roc(roc, staging / "roc.png", title=f"CRM per image ({entry.card.id})")
    text = format_table(rows) + f"\n{metrics['seconds_per_image']:.3f} s per image; results in {out}"
    emit(args, metrics, text)
    return 0


def run_export(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import numpy as np

    from assistcore.atomic import check_output_folder, result_directory
    from assistcore.crm.data import boxes_from_label_map, export_voc, volume_slice_samples
    from assistcore.errors import InputError
    from assistcore.image_io import read_image
    from assistcore.resample import check_same_grid

    from .main import emit

    check_output_folder(args.out, "crm export-training", args.overwrite)
    image = read_image(args.t2, as_scan=True)
    if bool(args.labels) == bool(args.boxes):
        raise InputError("Give exactly one of --labels or --boxes.", "radassist crm export-training --help")
    if args.labels:
        labels = read_image(args.labels)
        check_same_grid({"t2": image, "labels": labels})
        boxes = boxes_from_label_map(labels.array_kji)
        slices = None
    else:
        document = json.loads(Path(args.boxes).read_text())
        reviews = document.get("reviews", {})
        boxes: dict[int, list] = {}
        for box in document["boxes"]:
            k = box["slice_index"]
            if reviews.get(str(k), "accept") != "accept" or "box_voxel" not in box:
                continue
            corners = box["box_voxel"]
            boxes.setdefault(k, []).append([corners["i0"], corners["j0"], corners["i1"], corners["j1"]])
        boxes = {k: np.array(v, float) for k, v in boxes.items()}
        rejected = {int(k) for k, v in reviews.items() if v == "reject"}
        slices = [k for k in range(image.shape_kji[0]) if k not in rejected or k in boxes]
    samples = volume_slice_samples(image, boxes, slices, case_id=args.case_id)
    with result_directory(args.out, "crm export-training", args.overwrite, accumulate=True) as staging:
        written = [Path(args.out) / path.name for path in export_voc(samples, staging)]
    emit(
        args,
        {"folder": args.out, "pictures": len(written), "positives": sum(len(s.boxes_xy) > 0 for s in samples)},
        f"{len(written)} pictures with VOC XML in {args.out} ({sum(len(s.boxes_xy) > 0 for s in samples)} with boxes)",
    )
    return 0
