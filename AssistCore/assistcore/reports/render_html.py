"""One report version as a self-contained HTML page a referrer can read (no scripts, no external files)."""

from __future__ import annotations

from html import escape

from .model import Finding, ReportContent

_STYLE = """
body{font-family:Helvetica,Arial,sans-serif;max-width:52em;margin:2em auto;color:#222}
h1{font-size:1.4em;margin-bottom:0}.meta{color:#555;font-size:.9em}
.draft{color:#b00;font-weight:bold;border:2px solid #b00;padding:.3em;display:inline-block}
table{border-collapse:collapse;width:100%;font-size:.85em;margin:.3em 0 1em}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
.flag{color:#b00;font-weight:bold}.link{color:#555;font-size:.8em}
"""


def _value_rows(finding: Finding) -> str:
    rows = []
    for value in finding.values.values():
        if value.value is None:
            continue
        flag = f' <span class="flag">{escape(value.flag.upper())}</span>' if value.flag else ""
        normal = ""
        if value.normal_max is not None or value.normal_min is not None:
            low = "" if value.normal_min is None else f"{value.normal_min:g}"
            high = "" if value.normal_max is None else f"{value.normal_max:g}"
            normal = f"{low}..{high} {value.unit if value.unit not in ('1', '{grade}') else ''}".strip()
        elif value.normal_values is not None:
            normal = ", ".join("no" if v is False else "yes" if v is True else str(v) for v in value.normal_values)
        rows.append(
            f"<tr><td>{escape(value.label)}</td><td>{escape(value.display())}{flag}</td><td>{escape(normal)}</td></tr>"
        )
    if not rows:
        return ""
    return "<table><tr><th>Value</th><th>Result</th><th>Normal</th></tr>" + "".join(rows) + "</table>"


def _finding_html(finding: Finding) -> str:
    anchor = escape(finding.finding_id.replace("/", "-"))
    marker = ' <span class="flag">&#9888;</span>' if finding.flags else ""
    link = finding.link.describe()
    link_html = f'<div class="link">see {escape(link)}</div>' if link else ""
    return f'<li id="{anchor}"><p>{escape(finding.text)}{marker}</p>{link_html}{_value_rows(finding)}</li>'


def _signature_html(version: dict, content: ReportContent) -> str:
    model = content.model
    made_by = f"Draft made by {escape(str(model.get('model_name') or model.get('model_id', 'unknown model')))}"
    made_by += (
        f" (model {escape(str(model.get('model_id', '')))} version {escape(str(model.get('model_version', '')))})"
    )
    signature = version.get("signature")
    if not signature:
        return f'<p class="draft">DRAFT - not signed</p><p class="meta">{made_by}.</p>'
    changes = signature.get("changes", [])
    change_rows = "".join(
        f"<tr><td>{escape(str(c['path']))}</td><td>{escape(str(c['before']))}</td><td>{escape(str(c['after']))}</td></tr>"
        for c in changes
    )
    changed = (
        f"<p>Changed by the reader ({len(changes)}):</p><table><tr><th>Item</th><th>Draft</th><th>Signed</th></tr>"
        f"{change_rows}</table>"
        if changes
        else "<p>Signed as drafted (no changes).</p>"
    )
    return (
        f"<h2>Signature</h2><p>Signed by <b>{escape(signature['name'])}</b> "
        f"at {escape(signature['time_utc'])} (UTC).</p>"
        f'<p class="meta">{made_by}.</p>{changed}'
    )


def render_html(version: dict) -> str:
    """The page for one version of a report record (``{"version", "status", "content", "signature", ...}``)."""
    content = ReportContent.from_dict(version["content"])
    amends = (
        f" (amends v{version['amends']}: {escape(str(version.get('amendment_reason', '')))})"
        if version.get("amends")
        else ""
    )
    findings = "".join(_finding_html(item) for item in content.findings)
    notes = "".join(f"<li>{escape(note)}</li>" for note in content.notes if note)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(content.title)} - {escape(content.case_id)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(content.title)}</h1>"
        f'<p class="meta">Case {escape(content.case_id)} - report version {version["version"]}{amends} - '
        f"{escape(version['status'])}</p>"
        f"<h2>Findings</h2><ol>{findings}</ol>"
        f"<h2>Impression</h2><p>{escape(content.impression)}</p>"
        + (f'<h2>Notes</h2><ul class="meta">{notes}</ul>' if notes else "")
        + _signature_html(version, content)
        + '<p class="meta">AI-assisted draft; values flagged outside their normal range are marked.</p></body></html>'
    )
