"""Structured reports: a draft per case from an assistant's results, the reader's edits and signature, exports.

    record = update_report(case_dir, edits={"C3/4.pll_thickness_mm": 1.8}, sign="Dr A. Reader")
    export_report(record, case_dir / "report")          # report_v1.json, .html, .pdf

Nothing here imports Slicer; the Slicer panel, the Station and ``radassist report`` call these functions.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

from ..errors import InputError
from .case_files import detect_assistant, read_json
from .model import ReportContent
from .record import RECORD_SCHEMA, ReportRecord, ReportStateError, record_path

__all__ = [
    "ReportContent",
    "ReportRecord",
    "ReportStateError",
    "draft_report",
    "export_report",
    "open_record",
    "update_report",
]


def draft_report(case_dir: str | Path) -> ReportContent:
    """The model's draft for the result folder ``case_dir`` (spine, crm, brain or breast-us), not saved."""
    from . import brain, breast_us, crm, spine

    folder = Path(case_dir)
    if not folder.is_dir():
        raise InputError(f"Case folder {folder} does not exist.", "Give the --out folder of an assistant's run.")
    builders = {"spine": spine.build, "crm": crm.build, "brain": brain.build, "breast_us": breast_us.build}
    return builders[detect_assistant(folder)](folder)


def open_record(case_dir: str | Path) -> ReportRecord:
    """The case's report record: read from ``report/record.json``, or a new one holding the model's draft (v1)."""
    folder = Path(case_dir)
    path = record_path(folder)
    if path.is_file():
        data = read_json(path)
        if data.get("schema") != RECORD_SCHEMA or not data.get("versions"):
            raise InputError(
                f"{path} is not a RadAssist report record ({RECORD_SCHEMA}).", "Move it away to start over."
            )
        record = ReportRecord(folder, data["versions"], data.get("audit", []))
        _refuse_if_results_changed(record)
        return record
    content = draft_report(folder).to_dict()
    content["results_sha256"] = results_digest(folder)
    version = {
        "version": 1,
        "status": "draft",
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "amends": None,
        "base": copy.deepcopy(content),
        "content": content,
        "signature": None,
    }
    record = ReportRecord(folder, [version], [])
    record.audit.append(
        {"time_utc": version["created_utc"], "action": "draft", "version": 1, "by": "model", "model": content["model"]}
    )
    return record


def results_digest(case_dir: Path) -> str:
    """sha256 of the case's report.json: changes when the assistant runs again into the same folder."""
    import hashlib

    path = Path(case_dir) / "report.json"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def _refuse_if_results_changed(record: ReportRecord) -> None:
    recorded = record.versions[0]["content"].get("results_sha256")
    if recorded and recorded != results_digest(record.case_dir):
        raise InputError(
            f"The results in {record.case_dir} changed since its report was drafted (the assistant ran again): "
            "report/record.json describes the earlier run; nothing written.",
            f"Move {record_path(record.case_dir).parent} away to draft a report of the new results.",
        )


def update_report(
    case_dir: str | Path,
    edits: dict[str, Any] | None = None,
    sign: str | None = None,
    amend: str | None = None,
    by: str = "",
    save: bool = True,
) -> ReportRecord:
    """Open (or draft) the record, then amend, edit and sign as asked, and save it once at the end.

    Every check runs before anything is written: a refused edit or signature leaves ``record.json`` as it was.
    :param save: False leaves saving to the caller (``record.save()``), after checks of its own.
    """
    record = open_record(case_dir)
    if amend is not None:
        record.amend(amend, by=by or sign or "")
    if edits:
        record.edit(edits, by=by or sign or "")
    if sign is not None:
        record.sign(sign)
    if save:
        record.save()
    return record


def export_report(
    record: ReportRecord, out_dir: str | Path, formats: tuple[str, ...] = ("json", "html", "pdf")
) -> list[Path]:
    """Write the current version as ``report_v<n>[_draft].<format>`` in ``out_dir`` (drafts are marked DRAFT)."""
    from ..atomic import write_text_atomic
    from .render_html import render_html

    version = record.current
    stem = f"report_v{version['version']}" + ("" if version["status"] == "signed" else "_draft")
    folder = Path(out_dir)
    written = []
    if "json" in formats:
        document = {"version": version, "audit": record.audit}
        written.append(write_text_atomic(folder / f"{stem}.json", json.dumps(document, indent=2, default=str)))
    if "html" in formats:
        written.append(write_text_atomic(folder / f"{stem}.html", render_html(version)))
    if "pdf" in formats:
        from .render_pdf import write_pdf

        written.append(write_pdf(version, folder / f"{stem}.pdf"))
    return written
