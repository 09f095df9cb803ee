"""The findings document as the reporters see it: loading it back, and shared views.

Every format is a view of the same dict (docs/findings.md). What several formats
need (severity order, a policy's title in the report language, one flat record per
finding for the tabular formats) is computed here once so the formats never drift.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ledgerguard.scanner.contract import (
    FAIL,
    NO_VERDICT,
    PASS,
    SEVERITIES,
    Finding,
    read_findings,
    severity_key,
    verdict,
)

from .i18n import Labels, localized
from .safe import as_text

SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}

def load_findings(path: str | Path) -> dict[str, Any]:
    """Read a findings.json for ``ledgerguard report``; bad input raises InputError (exit 2)."""
    return read_findings(path)


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
        #: PASS / FAIL / NO VERDICT: settled by the scanner, rendered by every format
        self.verdict = verdict(doc)

    def verdict_text(self) -> str:
        """The verdict banner in the report language."""
        return self.labels[{PASS: "not_failing", FAIL: "failing", NO_VERDICT: "no_verdict"}[self.verdict]]

    def policy_state(self, policy: dict[str, Any]) -> str:
        """A policy's status with its waived findings never hidden: ``pass (6 waived)``,
        ``fail (4 open, 6 waived)``."""
        L, status = self.labels, policy.get("status")
        waived = policy.get("waived") or 0
        if not waived or status not in ("pass", "fail"):
            return L.st(status)
        counts = [L["n_waived"].format(n=waived)]
        if status == "fail":
            counts.insert(0, L["n_open"].format(n=policy.get("open", (policy.get("findings") or 0) - waived)))
        return f"{L.st(status)} ({', '.join(counts)})"

    def coverage_lines(self, policy: dict[str, Any]) -> list[str]:
        """What the policy examined, one line per param group: ``examined 143 accounts``,
        ``systems: erp 12, corp-ad 0``."""
        cov = policy.get("coverage")
        if not isinstance(cov, dict):
            return []
        lines = [self.labels["examined"].format(n=cov.get("examined", 0), unit=cov.get("unit", ""))]
        for group, entries in (cov.get("matched") or {}).items():
            if entries:
                lines.append(f"{group}: " + ", ".join(f"{k} {v}" for k, v in entries.items()))
        return lines

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
