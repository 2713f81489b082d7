"""`radassist brain ...`: the BrainTumorLabel assistant from the command line."""

from __future__ import annotations

import argparse
import shlex

from .commands_report import add_dicom_arguments
from .outputs import add_output_arguments


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
    add_output_arguments(parser, "output folder")
    add_dicom_arguments(parser)
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
    add_output_arguments(train, "model folder to write (model.pt + model_card.json)", required=True)
    train.add_argument("--model-id", default="brain-tumor-demo")
    train.add_argument("--phantoms", type=int, default=96)
    train.add_argument("--steps", type=int, default=900)
    train.add_argument("--patch-size", type=int, default=48)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--validation-phantoms", type=int, default=12, help="fresh phantoms for the card's Dice")
    train.add_argument(
        "--data", help="training layout of annotated cases (from `brain export-training`), used instead of phantoms"
    )
    train.add_argument(
        "--init", help="fine-tune this model (e.g. brain-tumor-deepmedic-captk) on --data instead of training anew"
    )
    train.add_argument("--learning-rate", type=float, default=1e-4, help="with --init: Adam's learning rate")
    train.set_defaults(handler=run_train)
    agree = actions.add_parser("agree", parents=[common], help="agreement of two label files of one case")
    agree.add_argument("--a", required=True, help="label file of annotator A")
    agree.add_argument("--b", required=True, help="label file of annotator B (same grid)")
    agree.add_argument("--convention", choices=["brats2021", "brats2023"], default="brats2021")
    agree.add_argument("--out", help="write the agreement report (JSON) here (a new file, unless --overwrite)")
    agree.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    agree.set_defaults(handler=run_agree)
    evaluate = actions.add_parser(
        "evaluate", parents=[common], help="Dice and HD95 per region: predictions vs reference"
    )
    evaluate.add_argument("--pred", required=True, help="folder of predicted label files (<ID>_..._seg-*.nii.gz)")
    evaluate.add_argument("--ref", required=True, help="folder of reference label files whose names start with <ID>")
    evaluate.add_argument("--pred-convention", choices=["brats2021", "brats2023"], default="brats2021")
    evaluate.add_argument("--ref-convention", choices=["brats2021", "brats2023"], default="brats2021")
    add_output_arguments(evaluate, "folder for metrics.csv, metrics.json and dice.png", required=True)
    evaluate.set_defaults(handler=run_evaluate)
    prelabel = actions.add_parser("prelabel", parents=[common], help="pre-label a batch into the worklist")
    prelabel.add_argument("--worklist", required=True, help="SQLite worklist file (created if missing)")
    prelabel.add_argument("--cases", required=True, help="folder with one sub-folder per case (NIfTI files by role)")
    prelabel.add_argument("--model", help="model id")
    prelabel.add_argument("--device", default="auto")
    prelabel.add_argument("--fast", action="store_true")
    prelabel.set_defaults(handler=run_prelabel)
    queue = actions.add_parser("queue", parents=[common], help="the worklist queue, most uncertain first")
    queue.add_argument("--worklist", required=True)
    queue.set_defaults(handler=run_queue)
    export = actions.add_parser(
        "export-training",
        parents=[common],
        help="copy accepted cases into the training layout `brain train --data` reads",
    )
    export.add_argument("--worklist", required=True)
    add_output_arguments(export, "folder of the training layout", required=True)
    export.set_defaults(handler=run_export_training)


def run_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from assistcore.atomic import result_directory, write_text_atomic
    from assistcore.brain.training import brain_model_card, train_brain_model

    from .main import emit
    from .progress import TerminalProgress

    torch.set_num_threads(max(1, torch.get_num_threads()))
    command = "radassist " + " ".join(shlex.quote(part) for part in args.command_line)
    out = Path(args.out)
    if args.init:
        return _run_finetune(args, command, out)
    with result_directory(out, "brain train", args.overwrite) as staging, TerminalProgress("brain train") as bar:
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


def _run_finetune(args: argparse.Namespace, command: str, out) -> int:
    """``brain train --init MODEL --data DIR``: fine-tune a DeepMedic model on a site's BraTS-layout cases."""
    import json
    import shutil

    from assistcore.atomic import result_directory, write_text_atomic
    from assistcore.brain.deepmedic_network import export_deepmedic_onnx
    from assistcore.brain.finetune import finetune_deepmedic, finetuned_card
    from assistcore.errors import InputError
    from assistcore.models.card import validate_card_data
    from assistcore.models.loader import network_from_weights
    from assistcore.models.registry import ModelRegistry

    from .main import emit
    from .progress import TerminalProgress

    if not args.data:
        raise InputError("--init needs --data.", "radassist brain train --init MODEL_ID --data DIR --out DIR")
    init = ModelRegistry().get(args.init).card
    model_id = args.model_id if args.model_id != "brain-tumor-demo" else f"{init.id}-finetuned"
    with result_directory(out, "brain train", args.overwrite) as staging, TerminalProgress("brain fine-tune") as bar:
        from assistcore.models.runner import ProgressReporter

        reporter = ProgressReporter([("cases", 1), ("training", 8)], bar)
        result = finetune_deepmedic(
            init, args.data, staging, args.steps, args.seed, args.learning_rate, progress=reporter
        )
        card = finetuned_card(init, result, model_id, command, args.data, args.seed, None)
        write_text_atomic(staging / "model_card.json", json.dumps(card, indent=2))
        from assistcore.models.card import load_model_card

        network = network_from_weights(load_model_card(staging), "cpu")
        card["exported_program"] = export_deepmedic_onnx(network, staging / "model.onnx")
        validate_card_data(card, str(staging / "model_card.json"))
        write_text_atomic(staging / "model_card.json", json.dumps(card, indent=2))
        for name in ("SBIA_license.txt", "NOTICE"):  # a derived work carries the licence text it came with
            if (init.folder / name).is_file():
                shutil.copy2(init.folder / name, staging / name)
    emit(
        args,
        {"folder": str(out), "model_id": model_id, "cases": result.cases, "final_loss": result.final_loss},
        f"fine-tuned {init.id} on {len(result.cases)} case(s) into {model_id} at {out}; "
        f"final loss {result.final_loss:.3f}; {result.seconds:.0f} s. Validate it on held-out cases "
        "(radassist brain evaluate) before use.",
    )
    return 0


def run_label(args: argparse.Namespace) -> int:
    from ..brain_app import label_case_to_folder
    from .case_command import require_options, run_case_command

    require_options(args, ("--out",), "Give the output folder: radassist brain --t1c P --flair P --out DIR")
    paths = {role: getattr(args, role) for role in ("t1", "t1c", "t2", "flair") if getattr(args, role)}
    options = {
        "model_id": args.model,
        "device": args.device,
        "fast": args.fast,
        "tta": args.tta,
        "tumor_type": args.tumor_type,
    }

    def job(out, progress) -> dict:
        return label_case_to_folder(
            paths,
            out,
            options,
            case_id=args.case_id,
            convention=args.label_convention,
            register=not args.no_register,
            progress=progress,
            overwrite=args.overwrite,
        )

    def summary(report: dict) -> list[str]:
        return [
            f"lesions: {len(report['lesions'])}; QA {'passed' if report['qa']['passed'] else 'flags raised'}; "
            f"uncertainty {report['uncertainty']:.3f}; total {report['seconds_per_stage']['total']:.1f} s"
        ]

    return run_case_command(args, "brain", job, summary)


def _read_labels(path, convention):
    from assistcore.brain.regions import from_convention
    from assistcore.image_io import read_image

    image = read_image(path)
    return image, from_convention(image.array_kji, convention)


def run_agree(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from assistcore.atomic import write_text_atomic
    from assistcore.brain.agreement import region_agreement
    from assistcore.errors import OutputError
    from assistcore.metrics import format_table
    from assistcore.resample import check_same_grid

    from .main import emit

    image_a, labels_a = _read_labels(args.a, args.convention)
    image_b, labels_b = _read_labels(args.b, args.convention)
    check_same_grid({args.a: image_a, args.b: image_b})
    rows = region_agreement(labels_a, labels_b, image_a.spacing_mm)
    if args.out:
        if Path(args.out).exists() and not args.overwrite:
            raise OutputError(f"{args.out} already exists.", "Give a new file name, or add --overwrite to replace it.")
        write_text_atomic(args.out, json.dumps({"a": args.a, "b": args.b, "regions": rows}, indent=2))
    emit(args, rows, format_table(rows))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from assistcore.atomic import check_output_folder, result_directory, write_csv_atomic
    from assistcore.brain.agreement import region_agreement
    from assistcore.errors import InputError
    from assistcore.metrics import format_table
    from assistcore.resample import resample_to_reference

    from .main import emit

    check_output_folder(args.out, "brain evaluate", args.overwrite)  # before the reading
    predictions = sorted(Path(args.pred).rglob("*_seg-*.nii.gz"))
    references = sorted(Path(args.ref).rglob("*.nii*"))
    rows = []
    for prediction in predictions:
        case_id = prediction.name.split("_")[0]
        matches = [ref for ref in references if ref.name.startswith(case_id)]
        if len(matches) != 1:
            continue
        predicted_image, predicted = _read_labels(prediction, args.pred_convention)
        reference_image, reference = _read_labels(matches[0], args.ref_convention)
        if not predicted_image.same_grid(reference_image):
            predicted = resample_to_reference(
                predicted_image.with_array(predicted), reference_image, "nearest"
            ).array_kji
        for row in region_agreement(reference, predicted, reference_image.spacing_mm):
            rows.append(
                {"case_id": case_id, **{k: row[k] for k in ("region", "dice", "hd95_mm", "volume_a_ml", "volume_b_ml")}}
            )
    if not rows:
        raise InputError(
            f"No prediction in {args.pred} matched exactly one reference in {args.ref} by case ID.",
            "Name reference files starting with the case ID used for the predictions.",
        )
    for row in rows:
        row["reference_ml"], row["predicted_ml"] = row.pop("volume_a_ml"), row.pop("volume_b_ml")
    with result_directory(args.out, "brain evaluate", args.overwrite) as staging:
        write_csv_atomic(staging / "metrics.csv", rows)
        (staging / "metrics.json").write_text(json.dumps(rows, indent=2, default=float))
        _plot_dice(rows, staging / "dice.png")
    emit(args, rows, format_table(rows))
    return 0


def _plot_dice(rows, path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    regions = list(dict.fromkeys(row["region"] for row in rows))
    figure = Figure(figsize=(6, 4), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    axes.boxplot([[row["dice"] for row in rows if row["region"] == region] for region in regions])
    axes.set_xticks(range(1, len(regions) + 1), regions)
    axes.set(ylabel="Dice", ylim=(0, 1), title="Dice per region")
    figure.savefig(path, format="png")


def run_prelabel(args: argparse.Namespace) -> int:
    from pathlib import Path

    from assistcore.brain.inputs import match_files_in_folder
    from assistcore.brain.worklist import WorkflowError, Worklist
    from assistcore.errors import RadAssistError
    from assistcore.models.runner import ProgressEvent

    from ..brain_app import label_case_to_folder
    from .main import emit
    from .progress import TerminalProgress

    worklist = Worklist(args.worklist)
    folders = sorted(path for path in Path(args.cases).iterdir() if path.is_dir())
    records = []
    with TerminalProgress("prelabel") as bar:
        for index, folder in enumerate(folders):
            case_id = folder.name
            try:
                paths = match_files_in_folder(folder)
                report = label_case_to_folder(
                    paths,
                    folder / "prelabel",
                    # TTA always: the queue's uncertainty is the disagreement between the 8 flipped runs
                    {"model_id": args.model, "device": args.device, "fast": args.fast, "tta": True},
                    case_id=case_id,
                )
                labels = folder / "prelabel" / f"{case_id}_flair_seg-brats2021.nii.gz"
                model = report["model"]
                worklist.add_prelabelled(
                    case_id, folder, labels, report["uncertainty"], model["model_id"], model["model_version"]
                )
                records.append({"case_id": case_id, "uncertainty": round(report["uncertainty"], 4), "status": "ok"})
            except (RadAssistError, WorkflowError) as error:  # one bad case does not stop the batch
                records.append({"case_id": case_id, "uncertainty": None, "status": f"skipped: {error}"})
            bar(ProgressEvent("prelabel", (index + 1) / len(folders), case_id))
    emit(args, records, "\n".join(f"{r['case_id']}: {r['status']} (uncertainty {r['uncertainty']})" for r in records))
    return 0 if any(r["status"] == "ok" for r in records) else 1


def run_queue(args: argparse.Namespace) -> int:
    from assistcore.brain.worklist import Worklist
    from assistcore.metrics import format_table

    from .main import emit

    rows = [
        {
            "case_id": c.case_id,
            "assistant": c.assistant,
            "status": c.status.value,
            "uncertainty": c.uncertainty,
            "annotator": c.annotator or "",
        }
        for c in Worklist(args.worklist).queue()
    ]
    emit(args, rows, format_table(rows) if rows else "queue empty")
    return 0


def run_export_training(args: argparse.Namespace) -> int:
    import shutil
    from pathlib import Path

    from assistcore.atomic import result_directory
    from assistcore.brain.inputs import match_files_in_folder
    from assistcore.brain.worklist import CaseStatus, Worklist

    from ..station.assistants import case_inputs
    from .main import emit

    accepted, skipped = [], []
    for case in Worklist(args.worklist).cases(CaseStatus.ACCEPTED):
        # the worklist also holds CRM and spine cases reviewed in the Station, and cases accepted unsaved
        labels = Path(case.labels_path) if case.labels_path else None
        if case_inputs(case.folder)[0] != "brain" or labels is None or not labels.name.endswith(".nii.gz"):
            skipped.append(case.case_id)
            continue
        accepted.append(case)
    with result_directory(args.out, "brain export-training", args.overwrite) as staging:
        for case in accepted:
            target = staging / case.case_id
            target.mkdir()
            for role, path in match_files_in_folder(case.folder).items():
                shutil.copy2(path, target / f"{case.case_id}_{role}{''.join(path.suffixes)}")
            shutil.copy2(case.labels_path, target / f"{case.case_id}_seg.nii.gz")
    note = f"; skipped (not brain labels): {', '.join(skipped)}" if skipped else ""
    emit(
        args,
        {"exported": [c.case_id for c in accepted], "skipped": skipped},
        f"{len(accepted)} accepted case(s) exported to {args.out}{note}",
    )
    return 0
