"""A case's report record: versions (draft, signed), the reader's edits and signatures, and the audit trail.

Stored as ``CASE_DIR/report/record.json`` (written atomically). Version 1 starts as the model's draft; the
reader edits it and signs it, which freezes it. An amendment makes version n+1 from the last signed version,
which stays as it was. Each version keeps ``base`` (what the reader started from: the model's draft, or the
signed version it amends) beside ``content`` (what the reader made of it), so the audit keeps both.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomic
from ..errors import InputError, RadAssistError
from .model import Finding, ReportContent

RECORD_SCHEMA = "radassist-report-record/1"


class ReportStateError(RadAssistError):
    """The report is not in a state that allows the action (an edit or a second signature on a signed version)."""


def _now_utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def record_path(case_dir: str | Path) -> Path:
    return Path(case_dir) / "report" / "record.json"


def sentence_for(finding: Finding) -> str:
    """The sentence the finding's kind writes from its values (used after a value edit)."""
    from . import brain, breast_us, crm, spine

    writers = {
        "spine_level": spine.level_sentence,
        "crm_region": crm.region_sentence,
        "crm_verdict": crm.verdict_sentence,
        "brain_lesion": brain.lesion_sentence,
        "breast_lesion": breast_us.lesion_sentence,
    }
    writer = writers.get(finding.kind)
    return writer(finding) if writer else finding.text


def impression_for(content: ReportContent) -> str:
    """The impression the assistant writes from the current values (after the reader edited a value)."""
    from . import spine

    if content.assistant == "spine":
        return spine.impression(content.findings)
    verdict = content.finding("verdict")
    return verdict.text if content.assistant == "crm" and verdict else content.impression


@dataclass
class ReportRecord:
    """All versions of one case's report and the audit trail (see the module docstring)."""

    case_dir: Path
    versions: list[dict] = field(default_factory=list)
    audit: list[dict] = field(default_factory=list)

    @property
    def current(self) -> dict:
        return self.versions[-1]

    @property
    def content(self) -> ReportContent:
        return ReportContent.from_dict(self.current["content"])

    @property
    def signed(self) -> bool:
        return self.current["status"] == "signed"

    def to_dict(self) -> dict:
        return {"schema": RECORD_SCHEMA, "versions": self.versions, "audit": self.audit}

    def save(self) -> Path:
        return write_text_atomic(record_path(self.case_dir), json.dumps(self.to_dict(), indent=2, default=str))

    def _log(self, action: str, by: str, **details: Any) -> None:
        self.audit.append(
            {"time_utc": _now_utc(), "action": action, "version": self.current["version"], "by": by, **details}
        )

    def _refuse_if_signed(self, what: str) -> None:
        if self.signed:
            signature = self.current["signature"]
            raise ReportStateError(
                f"Report v{self.current['version']} of {self.case_dir} is signed by {signature['name']} at "
                f"{signature['time_utc']}: it is read-only, {what} refused; nothing written.",
                "Amend it (radassist report CASE_DIR --amend REASON) to make a new version, then edit and sign that.",
            )

    def edit(self, changes: dict[str, Any], by: str = "") -> list[dict]:
        """Apply the reader's edits to the current draft; returns [{"path", "before", "after"}].

        Keys: ``impression``, ``<finding_id>.text`` or ``<finding_id>.<value name>`` (e.g. ``C3/4.pll_thickness_mm``).
        A value edit rewrites the sentence unless the reader typed the sentence; flags follow the new value.
        """
        self._refuse_if_signed("editing")
        content = self.content
        applied = [_apply_edit(content, key, value) for key, value in changes.items()]
        values_changed = any(not c["path"].endswith(".text") and c["path"] != "impression" for c in applied)
        if values_changed and not content.impression_edited:
            content.impression = impression_for(content)
        self.current["content"] = content.to_dict()
        self._log("edit", by, changes=applied)
        return applied

    def sign(self, name: str) -> dict:
        """Sign the current version: name, time, the drafting model and what the reader changed. Freezes it."""
        self._refuse_if_signed("a second signature")
        if not name.strip():
            raise InputError("A signature needs the reader's name (got an empty name).", "Give --sign 'Dr Name'.")
        content = self.content
        signature = {
            "name": name.strip(),
            "time_utc": _now_utc(),
            "model": content.model,
            "changes": diff_contents(self.current["base"], self.current["content"]),
        }
        self.current.update(status="signed", signature=signature)
        self._log("sign", name.strip(), changes=signature["changes"])
        return signature

    def amend(self, reason: str, by: str = "") -> dict:
        """A new draft version from the signed current one; the signed version stays unchanged."""
        if not self.signed:
            raise ReportStateError(
                f"Report v{self.current['version']} of {self.case_dir} is not signed yet: nothing to amend.",
                "Edit the draft directly, or sign it first.",
            )
        previous = self.current
        version = {
            "version": previous["version"] + 1,
            "status": "draft",
            "created_utc": _now_utc(),
            "amends": previous["version"],
            "amendment_reason": reason,
            "base": copy.deepcopy(previous["content"]),
            "content": copy.deepcopy(previous["content"]),
            "signature": None,
        }
        self.versions.append(version)
        self._log("amend", by, reason=reason)
        return version


def _coerce(text: Any) -> Any:
    """An edit's value from the command line: numbers, yes/no, empty (None) or text."""
    if not isinstance(text, str):
        return text
    lowered = text.strip().lower()
    if lowered in ("", "none", "null"):
        return None
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text else number


def _apply_edit(content: ReportContent, key: str, raw: Any) -> dict:
    value = _coerce(raw) if key != "impression" and not key.endswith(".text") else str(raw)
    if key == "impression":
        before, content.impression, content.impression_edited = content.impression, value, True
        return {"path": key, "before": before, "after": value}
    if key == "rectum_center_lps" and content.assistant == "crm":
        from .crm import set_rectum_center

        try:
            center = [float(part) for part in str(raw).split(",")]
        except ValueError:
            center = []
        if len(center) != 3:
            raise InputError(f"Edit {key}={raw!r}: give the rectum centre as X,Y,Z in LPS mm (e.g. 1.5,-20,33).")
        set_rectum_center(content, center)
        return {"path": key, "before": None, "after": center}
    finding_id, _, name = key.rpartition(".")
    finding = content.finding(finding_id)
    if finding is None or not name:
        known = ", ".join(item.finding_id for item in content.findings)
        raise InputError(
            f"Edit {key!r}: no finding {finding_id!r} in this report (findings: {known}).",
            "Use impression=TEXT, FINDING.text=TEXT or FINDING.VALUE=NUMBER.",
        )
    if name == "text":
        before, finding.text, finding.text_edited = finding.text, value, True
        return {"path": key, "before": before, "after": value}
    if name not in finding.values:
        raise InputError(
            f"Edit {key!r}: finding {finding_id} has no value {name!r} (values: {', '.join(finding.values)})."
        )
    before = finding.values[name].value
    finding.values[name].value = value
    if not finding.text_edited:
        finding.text = sentence_for(finding)
    return {"path": key, "before": before, "after": value}


def diff_contents(base: dict, content: dict) -> list[dict]:
    """What the reader changed between two report contents: impression, sentences and values."""
    changes = []
    if base.get("impression") != content.get("impression"):
        changes.append({"path": "impression", "before": base.get("impression"), "after": content.get("impression")})
    before_findings = {item["finding_id"]: item for item in base.get("findings", [])}
    for item in content.get("findings", []):
        old = before_findings.get(item["finding_id"], {"text": None, "values": {}})
        if old["text"] != item["text"]:
            changes.append({"path": f"{item['finding_id']}.text", "before": old["text"], "after": item["text"]})
        for name, value in item["values"].items():
            previous = old["values"].get(name, {}).get("value")
            if previous != value["value"]:
                changes.append({"path": f"{item['finding_id']}.{name}", "before": previous, "after": value["value"]})
    return changes
