"""One report version as a PDF (A4 pages of wrapped text) with matplotlib's PdfPages: no extra dependency."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ..atomic import atomic_path
from .model import ReportContent

_LINES_PER_PAGE = 58
_WIDTH_CHARACTERS = 95


def report_lines(version: dict) -> list[tuple[str, str]]:
    """(style, text) lines of the report: 'title', 'head', 'flag' (a flagged finding), 'meta' or 'body'."""
    content = ReportContent.from_dict(version["content"])
    lines = [
        ("title", content.title),
        ("meta", f"Case {content.case_id} - version {version['version']} - {version['status']}"),
    ]
    if version["status"] != "signed":
        lines.append(("flag", "DRAFT - not signed"))
    lines += [("body", ""), ("head", "Findings")]
    for finding in content.findings:
        style = "flag" if finding.flags else "body"
        flagged = f"  [flagged: {', '.join(finding.flags)}]" if finding.flags else ""
        for index, part in enumerate(textwrap.wrap(finding.text + flagged, _WIDTH_CHARACTERS)):
            lines.append((style, ("- " if index == 0 else "  ") + part))
        link = finding.link.describe()
        if link:
            lines.append(("meta", f"  see {link}"))
    lines += [("body", ""), ("head", "Impression")]
    lines += [("body", part) for part in textwrap.wrap(content.impression, _WIDTH_CHARACTERS)]
    model = content.model
    lines.append(
        ("meta", f"Draft by {model.get('model_name', model.get('model_id', '?'))} ({model.get('model_version', '')})")
    )
    signature = version.get("signature")
    if signature:
        lines += [("body", ""), ("head", "Signature")]
        lines.append(("body", f"Signed by {signature['name']} at {signature['time_utc']} (UTC)"))
        for change in signature.get("changes", []):
            text = f"changed {change['path']}: {change['before']} -> {change['after']}"
            lines += [("meta", part) for part in textwrap.wrap(text, _WIDTH_CHARACTERS)]
    return lines


def write_pdf(version: dict, path: str | Path) -> Path:
    """Write the version as a PDF at ``path`` atomically; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    styles = {
        "title": {"fontsize": 15, "weight": "bold"},
        "head": {"fontsize": 12, "weight": "bold"},
        "flag": {"fontsize": 9, "color": "#b00000"},
        "meta": {"fontsize": 8, "color": "#555555"},
        "body": {"fontsize": 9},
    }
    lines = report_lines(version)
    with atomic_path(path) as temporary, PdfPages(temporary) as pdf:
        for start in range(0, len(lines), _LINES_PER_PAGE):
            figure = Figure(figsize=(8.27, 11.69))  # A4 in inches
            for row, (style, text) in enumerate(lines[start : start + _LINES_PER_PAGE]):
                figure.text(0.07, 0.95 - row * 0.0155, text, family="DejaVu Sans", **styles[style])
            pdf.savefig(figure)
    return Path(path)
