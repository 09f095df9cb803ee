"""The findings document as the reporters see it: loading it back, and shared views.

Every format is a view of the same dict (docs/findings.md). What several formats
need (severity order, a policy's title in the report language, one flat record per
finding for the tabular formats) is computed here once so the formats never drift.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema

from ledgerguard.scanner.contract import FORMAT, SEVERITIES, Finding, read_findings, severity_key
from ledgerguard.scanner.errors import InputError, Problem

from .i18n import Labels, localized
from .safe import as_text

SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}

# What `ledgerguard report` insists on before rendering; everything else is optional
# so documents from older or newer scanners still render.
_FINDING = {
    "type": "object",
    "required": ["id", "policy_id", "severity"],
    "properties": {
        "id": {"type": "string"},
        "policy_id": {"type": "string"},
        "severity": {"enum": list(SEVERITIES)},
        "evidence": {"type": ["object", "null"]},
        "location": {"type": ["object", "null"]},
    },
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format", "findings", "policies"],
    "properties": {
        "format": {"const": FORMAT},
        "tool": {"type": "object"},
        "scan": {"type": "object"},
        "summary": {"type": "object"},
        "policies": {
            "type": "array",
            "items": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
        },
        "controls": {"type": "array", "items": {"type": "object"}},
        "findings": {"type": "array", "items": _FINDING},
        "waivers": {"type": "array", "items": {"type": "object"}},
        "resolved": {"type": "array", "items": _FINDING},
    },
}


def load_findings(path: str | Path) -> dict[str, Any]:
    """Read a findings.json for ``ledgerguard report``; bad input raises InputError (exit 2).

    Beyond ``read_findings`` (JSON, format, top-level keys) the shape the reporters
    index into is checked, so a hand-edited file gets a message, not a traceback.
    """
    doc = read_findings(path)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    problems = []
    for err in validator.iter_errors(doc):
        pointer = "/" + "/".join(str(p) for p in err.absolute_path)
        problems.append(
            Problem(
                f"{pointer}: {err.message} (expected a {FORMAT} document)",
                str(path),
                schema_path="/".join(str(p) for p in err.absolute_schema_path),
            )
        )
        if len(problems) == 20:
            break
    if problems:
        raise InputError(problems)
    return doc


def location_text(location: Any) -> str:
    if not isinstance(location, dict) or not location.get("file"):
        return ""
    parts = [str(location["file"])]
    for key in ("line", "column"):
        if location.get(key) is None:
            break
        parts.append(str(location[key]))
    return ":".join(parts)


def waiver_text(waiver: Any) -> str:
    """A finding's waiver in one line: who approved what until when."""
    if not isinstance(waiver, dict):
        return as_text(waiver)
    parts = []
    if waiver.get("expires"):
        parts.append(f"until {waiver['expires']}")
    if waiver.get("approved_by"):
        parts.append(f"approved by {waiver['approved_by']}")
    if waiver.get("reason"):
        parts.append(str(waiver["reason"]))
    return "; ".join(parts)


# The columns of the tabular formats (xlsx Findings sheet, CSV): machine name,
# label key, and how wide an xlsx column it deserves.
FINDING_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("id", "id", 18),
    ("severity", "severity", 10),
    ("policy_id", "policy", 11),
    ("policy_title", "title", 36),
    ("code", "code", 24),
    ("subject", "subject", 30),
    ("person_id", "person", 10),
    ("message", "message", 60),
    ("status", "status", 9),
    ("baseline", "baseline", 10),
    ("waiver", "waiver", 30),
    ("location", "location", 20),
    ("dat70", "dat70", 24),
    ("evidence", "evidence", 60),
)


class View:
    """Read-only helpers over one findings document, in one report language."""

    def __init__(self, doc: dict[str, Any], lang: str = "en") -> None:
        self.doc = doc
        self.lang = lang
        self.labels = Labels(lang)
        self.tool = doc.get("tool") or {}
        self.scan = doc.get("scan") or {}
        self.summary = doc.get("summary") or {}
        self.policies: list[dict[str, Any]] = doc.get("policies") or []
        self.controls: list[dict[str, Any]] = doc.get("controls") or []
        self.findings: list[Finding] = doc.get("findings") or []
        self.waivers: list[dict[str, Any]] = doc.get("waivers") or []
        self.resolved: list[Finding] = doc.get("resolved") or []
        self.policy_by_id = {p["id"]: p for p in self.policies}
        self._titles = {p["id"]: localized(p.get("title"), lang) for p in self.policies}

    def title_of(self, policy_id: str) -> str:
        return self._titles.get(policy_id, "")

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=severity_key)

    def severity_counts(self) -> dict[str, int]:
        """Counts of open (unwaived) findings by severity, as the summary shows them."""
        counts = Counter(f.get("severity") for f in self.findings if f.get("status") != "waived")
        return {s: counts.get(s, 0) for s in SEVERITIES}

    def findings_by_policy(self) -> dict[str, list[Finding]]:
        grouped: dict[str, list[Finding]] = {p["id"]: [] for p in self.policies}
        for f in self.findings:
            grouped.setdefault(f["policy_id"], []).append(f)
        return grouped

    def row(self, finding: Finding) -> list[Any]:
        """One finding as the values of FINDING_COLUMNS, in that order.

        Raw values (None, strings, the evidence dict): the tabular formats turn each
        into cell text with ``safe.spreadsheet_cell``. A list built in one go, because
        the xlsx and CSV writers call this once per finding.
        """
        get = finding.get
        policy_id, waiver, location = get("policy_id"), get("waiver"), get("location")
        return [
            get("id"),
            get("severity"),
            policy_id,
            self._titles.get(policy_id),
            get("code"),
            get("subject"),
            get("person_id"),
            get("message"),
            get("status"),
            get("baseline"),
            waiver_text(waiver) if waiver else None,
            location_text(location) if location else None,
            get("dat70"),
            get("evidence") or None,
        ]
