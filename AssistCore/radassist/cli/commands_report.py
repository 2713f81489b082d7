"""`radassist report CASE_DIR`: the structured report of an assistant's result folder, edited and signed headless.

radassist report out/case1                                   # draft v1, write report/report_v1_draft.{json,html,pdf}
radassist report out/case1 --edit "C3/4.pll_thickness_mm=1.8" --edit "impression=..." --sign "Dr A. Reader"
radassist report out/case1 --amend "wrong level" --edit ... --sign "Dr A. Reader"       # v2
radassist report out/case1 --dicom-out dicom/ [--source-dicom SERIES_DIR]              # SR + SEG
"""

from __future__ import annotations

import argparse


def _edit(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (e.g. C3/4.pll_thickness_mm=1.8, impression=TEXT)")
    return key.strip(), value


def register(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "report",
        parents=[common],
        help="draft, edit, sign and export the structured report of a result folder (HTML, PDF, JSON, DICOM SR/SEG)",
        description="Draft (or open) the report of CASE_DIR, apply edits, sign, and export it.",
    )
    parser.add_argument("case_dir", metavar="CASE_DIR", help="the --out folder of radassist brain|spine|crm|breast-us")
    parser.add_argument(
        "--edit",
        type=_edit,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="impression=TEXT, FINDING.text=TEXT or FINDING.VALUE=NUMBER (e.g. C3/4.pll_thickness_mm=1.8); repeatable",
    )
    parser.add_argument("--sign", metavar="NAME", help="sign the current version as NAME (it becomes read-only)")
    parser.add_argument("--amend", metavar="REASON", help="start a new version from the signed one")
    parser.add_argument("--by", default="", help="who made the edits (default: the signer)")
    parser.add_argument(
        "--formats", default="json,html,pdf", help="comma-separated exports into CASE_DIR/report (default: all)"
    )
    parser.add_argument("--dicom-out", metavar="DIR", help="write DICOM SR (TID 1500) and SEG into DIR")
    parser.add_argument(
        "--source-dicom", metavar="DIR", help="the source DICOM series (default: the series the run read)"
    )
    parser.add_argument(
        "--derive-source",
        action="store_true",
        help="for a case run on NIfTI/NRRD: write the source as a derived DICOM series into --dicom-out first",
    )
    parser.add_argument("--observer", default="", help="observer name for the SR (default: the signer)")
    parser.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    import contextlib
    from pathlib import Path

    from assistcore.errors import InputError
    from assistcore.reports import export_report, update_report

    from .main import emit

    case_dir = Path(args.case_dir)
    formats = tuple(part.strip() for part in args.formats.split(",") if part.strip())
    unknown = sorted(set(formats) - {"json", "html", "pdf"})
    if unknown:
        raise InputError(f"--formats {args.formats!r}: unknown format(s) {', '.join(unknown)}.", "Use json, html, pdf.")
    record = update_report(case_dir, edits=dict(args.edit), sign=args.sign, amend=args.amend, by=args.by, save=False)
    observer = args.observer or (record.current.get("signature") or {}).get("name", "")
    dicom = contextlib.nullcontext(None)
    if args.dicom_out:  # every DICOM check runs before the record or any file is written
        from assistcore.dicom_export import prepared_case_dicom

        dicom = prepared_case_dicom(record, args.source_dicom, observer, derive_source=args.derive_source)
    with dicom as write_dicom:
        record.save()
        files = [str(path) for path in export_report(record, case_dir / "report", formats)]
        dicom_files = [str(path) for path in write_dicom(Path(args.dicom_out))] if write_dicom else []
    version = record.current
    content = version["content"]
    flagged = [item for item in content["findings"] if item.get("flags")]
    lines = [f"{content['title']}, case {content['case_id']}: version {version['version']} ({version['status']})"]
    lines += [("! " if item.get("flags") else "  ") + item["text"] for item in content["findings"]]
    lines.append(f"Impression: {content['impression']}")
    if version.get("signature"):
        signature = version["signature"]
        lines.append(f"Signed by {signature['name']} at {signature['time_utc']}; {len(signature['changes'])} change(s)")
    lines += [f"wrote {name}" for name in files + dicom_files]
    payload = {
        "version": version["version"],
        "status": version["status"],
        "flagged_findings": [item["finding_id"] for item in flagged],
        "files": files,
        "dicom_files": dicom_files,
    }
    emit(args, payload, "\n".join(lines))
    return 0


# ----- for the assistants' own commands: `radassist crm ... --out DIR --dicom-out DICOM_DIR` ------------------
def add_dicom_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--dicom-out`` (and ``--derive-source``) to an assistant's command (one line in its ``register``)."""
    parser.add_argument("--dicom-out", metavar="DIR", help="also write the draft report as DICOM SR and SEG into DIR")
    parser.add_argument(
        "--derive-source",
        action="store_true",
        help="with --dicom-out, for NIfTI/NRRD input: write the source as a derived DICOM series first",
    )


def write_dicom_after_run(args: argparse.Namespace) -> list[str]:
    """After an assistant wrote ``args.out``: draft its report (unsigned) and export SR and SEG to
    ``args.dicom_out`` (one line at the end of the command's handler); returns the files written."""
    if not getattr(args, "dicom_out", None):
        return []
    from pathlib import Path

    from assistcore.dicom_export import export_case_dicom
    from assistcore.reports import update_report

    record = update_report(Path(args.out))
    written = export_case_dicom(record, Path(args.dicom_out), derive_source=getattr(args, "derive_source", False))
    return [str(path) for path in written]
