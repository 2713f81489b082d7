"""The handler skeleton of the four assistants' main commands (`radassist brain|crm|spine|breast-us ...`).

Each checks that its inputs and ``--out`` were given, runs its ``*_app.py`` job with a progress bar, then
prints the files written, the assistant's own summary lines and, for a demo model, that it is not for
clinical use (or the whole report with ``--json``). Only the job and the summary differ per assistant.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from assistcore.errors import RadAssistError

DEMO_MODEL_LINE = "demo model trained on synthetic data: not for clinical use"


def require_options(args: argparse.Namespace, options: Sequence[str], usage: str) -> None:
    """InputError naming the ``options`` (argparse spellings, ``--sag-t2``) that were not given.

    :param usage: the one-line command to show (``radassist crm --t2 SERIES --out DIR``).
    """
    from assistcore.errors import InputError

    if all(getattr(args, option.lstrip("-").replace("-", "_")) for option in options):
        return
    verb = "is" if len(options) == 1 else "are"
    raise InputError(f"{' and '.join(options)} {verb} required.", usage)


def run_case_command(
    args: argparse.Namespace,
    assistant: str,
    job: Callable[[Path, Callable], dict[str, Any]],
    summary: Callable[[dict[str, Any]], list[str]],
) -> int:
    """Run ``job(out, progress)`` under a progress bar labelled ``assistant``, then print what it wrote.

    :param job: writes the result folder ``out`` and returns its report (a dict with ``files`` and ``model``).
    :param summary: the lines the assistant prints after the file list (verdict, lesions, timings).
    :returns: the exit code (0). With ``--dicom-out`` the draft report is then written as DICOM SR and SEG
        (:func:`export_dicom_after_run`); a failed export raises after the results were printed (exit code 1).
    """
    from .main import emit
    from .progress import TerminalProgress

    with TerminalProgress(assistant) as bar:
        report = job(Path(args.out), bar)
    lines = [f"results in {args.out}"] + [f"  {name}" for name in report["files"]]
    lines += summary(report)
    if report["model"].get("synthetic_demo_model"):
        lines.append(DEMO_MODEL_LINE)
    try:
        dicom_files = export_dicom_after_run(args)
    except RadAssistError:
        emit(args, report, "\n".join(lines))  # the results in --out are complete: show them before the error
        raise
    if dicom_files:
        report = {**report, "dicom_files": dicom_files}
        lines += [f"DICOM in {args.dicom_out}"] + [f"  {Path(name).name}" for name in dicom_files]
    emit(args, report, "\n".join(lines))
    return 0


def export_dicom_after_run(args: argparse.Namespace) -> list[str]:
    """With ``--dicom-out``: draft the report of ``args.out`` (unsigned) and write its SR and SEG; returns their
    paths ([] without ``--dicom-out``).

    :raises RadAssistError: the export failed (e.g. NIfTI input without ``--derive-source``); its message says
        the assistant's results in ``--out`` are complete and only the DICOM export failed (nothing written there).
    """
    from .commands_report import write_dicom_after_run

    try:
        return write_dicom_after_run(args)
    except RadAssistError as error:
        hint = error.hint
        if hint and "--source-dicom" in hint:  # an option of `radassist report`, not of the assistant's command
            hint = (
                f"Export with `radassist report {args.out} --dicom-out {args.dicom_out} --source-dicom SERIES_DIR` "
                "(the DICOM series the input came from), or run again with --derive-source."
            )
        raise RadAssistError(
            f"The results in {args.out} are complete; only the DICOM export to {args.dicom_out} failed "
            f"(nothing written there): {error.message}",
            hint,
        ) from error
