"""`radassist models list | verify | import | export`: the model registry from the command line."""

from __future__ import annotations

import argparse

from assistcore.errors import ChecksumError


def register(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("models", parents=[common], help="list, verify and import models")
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION", required=True)
    list_parser = actions.add_parser("list", parents=[common], help="models found and where")
    list_parser.set_defaults(handler=run_list)
    verify_parser = actions.add_parser("verify", parents=[common], help="check weights against their sha256")
    verify_parser.add_argument("model_id", nargs="?", help="one model id (default: all)")
    verify_parser.set_defaults(handler=run_verify)
    import_parser = actions.add_parser(
        "import", parents=[common], help="import a model folder, zip, or MONAI bundle into the user model folder"
    )
    import_parser.add_argument("path", help="folder or .zip holding model_card.json, or a MONAI bundle")
    import_parser.add_argument("--overwrite", action="store_true", help="replace a model with the same id")
    import_parser.set_defaults(handler=run_import)
    export_parser = actions.add_parser(
        "export", parents=[common], help="write ONNX exports (model.onnx) that the CPU and 3D Slicer run without torch"
    )
    export_parser.add_argument("model_id", help="a model with state-dict weights (segmentation network or detector)")
    export_parser.set_defaults(handler=run_export)


def _entry_record(entry) -> dict:
    card = entry.card
    return {
        "id": card.id,
        "name": card.name,
        "version": card.version,
        "assistant": card.assistant,
        "synthetic_demo": card.is_synthetic_demo,
        "source": entry.source,
        "folder": str(entry.folder),
    }


def run_list(args: argparse.Namespace) -> int:
    from assistcore.models.registry import ModelRegistry

    from .main import emit

    records = [_entry_record(entry) for entry in ModelRegistry().list()]
    if not records:
        text = "no models found (search paths: see `radassist info`)"
    else:
        text = "\n".join(
            f"{r['id']:<32} {r['version'] or '':<8} {r['assistant']:<12} {r['source']:<8}"
            f"{' [demo, synthetic data: not for clinical use]' if r['synthetic_demo'] else ''}  {r['folder']}"
            for r in records
        )
    emit(args, records, text)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from assistcore.models.registry import ModelRegistry

    from .main import emit

    results = ModelRegistry().verify(args.model_id)
    records = [
        {"id": r.id, "ok": r.ok, "path": str(r.path), "expected": r.expected, "actual": r.actual, "message": r.message}
        for r in results
    ]
    text = "\n".join(f"{'OK    ' if r['ok'] else 'FAILED'} {r['id']}: {r['message']}" for r in records) or "no models"
    emit(args, records, text)
    failed = [r for r in records if not r["ok"]]
    if failed:
        raise ChecksumError(
            f"{len(failed)} model(s) failed verification: "
            + ", ".join(f"{r['id']} ({r['path']})" for r in failed)
            + ".",
            "Re-import the model from its original folder or zip (`radassist models import PATH --overwrite`).",
        )
    return 0


def run_import(args: argparse.Namespace) -> int:
    from assistcore.models.registry import ModelRegistry

    from .main import emit

    entry = ModelRegistry().import_model(args.path, overwrite=args.overwrite)
    record = _entry_record(entry)
    emit(args, record, f"imported {record['id']} into {record['folder']}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from assistcore.models.exporting import add_exported_program
    from assistcore.models.registry import ModelRegistry

    from .main import emit

    entry = ModelRegistry().get(args.model_id)
    program = add_exported_program(entry.card)
    emit(args, program, f"exported {entry.card.id} to {entry.folder / program['file']} ({program['size_bytes']} bytes)")
    return 0
