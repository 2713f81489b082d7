"""The Station's Report panel logic: the open case's structured report, edited, signed and amended.

Every change is one call into :mod:`assistcore.reports` (the same calls as ``radassist report`` and the Slicer
panel), which checks before it writes: a refused edit or signature leaves ``report/record.json`` as it was.
The web app (:mod:`radassist.station.app`) keeps what :func:`report_view` returns in its state and sends back
the form the reader typed (:func:`empty_form` has its shape). No web code here.

Who may do what: anyone who can open the case may edit a draft; only a reviewer or an admin signs a report or
amends a signed one, and the signature is the signed-in user's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistcore.brain.worklist import Case, WorkflowError
from assistcore.errors import InputError
from assistcore.station.accounts import Account, Role

#: the roles whose users sign and amend reports
SIGNING_ROLES = (Role.REVIEWER, Role.ADMIN)
#: where a Station save keeps the report of the results it replaces (see keep_report_before_save)
REPORT_HISTORY_FOLDER = "report-history"
SIGNING_NOTE = "Reviewers and admins sign and amend reports; annotators may edit drafts."


def can_sign(account: Account) -> bool:
    """True for the roles that sign reports and amend signed ones (reviewer, admin)."""
    return account.role in SIGNING_ROLES


def report_folder(case: Case) -> Path | None:
    """The case's result folder holding an assistant's results (its ``report.json``), or None when there is none.

    Same folder the case panel reads: ``<case>/results`` (a Station save), else the folder of the case's
    labels (a `radassist batch` run wrote them with its results).
    """
    from .cases import RESULTS_FOLDER

    candidates = [Path(case.folder) / RESULTS_FOLDER]
    if case.labels_path:
        candidates.append(Path(case.labels_path).parent)
    return next((folder for folder in candidates if (folder / "report.json").is_file()), None)


def open_report(folder: Path):
    """The case's report record (the saved one, or the model's draft v1, not saved until the first change)."""
    from assistcore.reports import open_record

    return open_record(folder)


def report_view(record) -> dict[str, Any]:
    """The current version as plain data for the page: findings with their value rows, impression, signature,
    the versions so far and the HTML page (``html``, named ``html_name``) for the download button."""
    from assistcore.reports.form import finding_rows, value_rows
    from assistcore.reports.render_html import render_html

    content = record.content
    version = record.current
    findings = []
    for row, finding in zip(finding_rows(content), content.findings):
        findings.append({**row, "title": finding.title, "values": value_rows(content, finding.finding_id)})
    model = content.model
    stem = f"report_v{version['version']}" + ("" if record.signed else "_draft")
    return {
        "folder": str(record.case_dir),
        "case_id": content.case_id,
        "title": content.title,
        "version": version["version"],
        "status": version["status"],
        "signed": record.signed,
        "signature": version.get("signature"),
        "amends": version.get("amends"),
        "amendment_reason": version.get("amendment_reason", ""),
        "model": " ".join(str(model.get(key, "")) for key in ("model_id", "model_version")).strip(),
        "impression": content.impression,
        "findings": findings,
        "versions": [_version_line(item) for item in record.versions],
        "html_name": f"{stem}.html",
        "html": render_html(version),
    }


def _version_line(version: dict) -> str:
    signature = version.get("signature")
    if signature:
        return f"v{version['version']}: signed by {signature['name']} at {signature['time_utc']}"
    return f"v{version['version']}: draft"


def empty_form(view: dict[str, Any]) -> dict[str, Any]:
    """The form the page edits, filled from ``view``: {"impression", "texts": {finding: sentence},
    "values": {finding: {value name: text}}} (values as text, '' when not measured)."""
    return {
        "impression": view["impression"],
        "texts": {item["finding_id"]: item["text"] for item in view["findings"]},
        "values": {
            item["finding_id"]: {row["name"]: row["value"] for row in item["values"]} for item in view["findings"]
        },
    }


def form_edits(record, form: dict[str, Any] | None) -> dict[str, str]:
    """The edit keys for what the reader changed in ``form`` against the record's current version."""
    from assistcore.reports.form import edits_from_form

    form = form or {}
    values = {
        finding_id: {name: "" if text is None else str(text) for name, text in typed.items()}
        for finding_id, typed in (form.get("values") or {}).items()
    }
    return edits_from_form(record.content, form.get("texts") or {}, values, form.get("impression"))


def save_edits(folder: Path, form: dict[str, Any] | None, account: Account):
    """Apply the reader's edits to the draft and save the record; returns (record, number of edits).

    :raises ReportStateError: the current version is signed (nothing written).
    """
    from assistcore.reports import update_report

    edits = form_edits(open_report(folder), form)
    record = update_report(folder, edits=edits, by=account.username) if edits else open_report(folder)
    return record, len(edits)


def sign_report(folder: Path, form: dict[str, Any] | None, account: Account):
    """Apply the reader's last edits and sign the current version as the signed-in user; write the signed
    report's HTML and JSON into ``<folder>/report``. Returns the record.

    :raises WorkflowError: the user's role does not sign reports; ``ReportStateError``: already signed.
    Either way nothing is written.
    """
    from assistcore.reports import export_report, update_report

    _require_signer(account, "sign")
    record = open_report(folder)
    edits = form_edits(record, form) if not record.signed else {}
    record = update_report(folder, edits=edits, sign=account.username, by=account.username)
    export_report(record, record_folder(folder), ("json", "html"))
    return record


def amend_report(folder: Path, reason: str, account: Account):
    """Start a new draft version from the signed current one (which stays as it was); returns the record.

    :raises WorkflowError: the user's role does not amend; ``InputError``: no reason given;
        ``ReportStateError``: the current version is a draft (nothing to amend). Nothing written then.
    """
    from assistcore.reports import update_report

    _require_signer(account, "amend")
    if not (reason or "").strip():
        raise InputError("An amendment needs a reason (got none); nothing written.", "Type why the report changes.")
    return update_report(folder, amend=reason.strip(), by=account.username)


#: where the Station's Export writes, inside the record's folder (``<result folder>/report/export``)
EXPORT_FOLDER = "export"


def export_for_referrer(folder: Path, account: Account) -> dict[str, Any]:
    """Write the current version as HTML, PDF and JSON, and as DICOM SR (plus SEG where the case has label maps)
    when its source series is DICOM and still as the run read it, into ``<folder>/report/export``.

    Anyone who may open the case exports; a draft is exported marked DRAFT (DICOM: PARTIAL, UNVERIFIED).
    :returns: {"files": [paths], "pdf": the PDF's path (for the browser's download), "dicom_note" ("" when the
        DICOM objects were written, else the one-line reason they were not)}.
    """
    from assistcore.dicom_export import export_case_dicom
    from assistcore.errors import RadAssistError
    from assistcore.reports import export_report

    record = open_report(folder)
    target = record_folder(folder) / EXPORT_FOLDER
    files = export_report(record, target)
    observer = (record.current.get("signature") or {}).get("name", "") or account.username
    dicom_note = ""
    try:
        files += export_case_dicom(record, target / "dicom", observer=observer)
    except RadAssistError as error:  # NIfTI source, series changed or gone: the report files still stand
        dicom_note = str(error)
    pdf = next(path for path in files if path.suffix == ".pdf")
    return {"files": files, "pdf": pdf, "dicom_note": dicom_note}


def record_folder(folder: Path) -> Path:
    """Where the record and its exports live (``<result folder>/report``)."""
    from assistcore.reports.record import record_path

    return record_path(folder).parent


def keep_report_before_save(case: Case) -> Path | None:
    """Copy the report record (and its exports) of the case's ``results`` folder to ``<case>/report-history/<UTC
    time>/`` before a Station save replaces that folder as a whole; returns the copy, None when there is no record.

    A save writes new results, so their report starts again from the model's draft; the signed versions and
    the audit of the earlier results stay in the copy.
    """
    import shutil
    import time

    from assistcore.atomic import atomic_directory

    from .cases import RESULTS_FOLDER

    report = record_folder(Path(case.folder) / RESULTS_FOLDER)
    if not (report / "record.json").is_file():
        return None
    history = Path(case.folder) / REPORT_HISTORY_FOLDER
    copy = history / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    number = 1
    while copy.exists():  # two saves within one second keep both copies
        copy = history / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{number}"
        number += 1
    with atomic_directory(copy) as staging:
        shutil.copytree(report, staging, dirs_exist_ok=True)
    return copy


def _require_signer(account: Account, action: str) -> None:
    if not can_sign(account):
        raise WorkflowError(
            f"{account.username} is an {account.role.value}: only a reviewer or an admin may {action} a report; "
            "nothing written.",
            "Save your edits to the draft and ask a reviewer to sign it.",
        )
