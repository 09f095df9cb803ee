"""findings.sarif: SARIF 2.1.0 for code-scanning UIs (GitHub, GitLab, Azure DevOps).

One rule per policy (``ruleId`` = policy id, stable across scans), one result per
finding with ``partialFingerprints`` from the finding id so a UI tracks the same
violation from run to run. A result points at the policy's YAML line, or for
``gate`` at the line of the change that introduced it; the subject goes into a
logical location. Waived findings carry an accepted external suppression; policies
that could not be evaluated become tool execution notifications.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ledgerguard.scanner.contract import NO_VERDICT, Finding, severity_key
from ledgerguard.scanner.fsutil import atomic_write_text

from .base import FORMATS, Reporter
from .document import View
from .i18n import localized
from .safe import clean_text, shown

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub ranks security alerts by this property (0.1-3.9 low … 9.0+ critical).
SECURITY_SEVERITY = {"critical": "9.5", "high": "7.5", "medium": "5.0", "low": "2.0"}
BASELINE_STATES = {"new": "new", "existing": "unchanged", "waiver_expired": "updated"}
FINGERPRINT = "ledgerguardFindingId/v1"


@cache
def _uri(path: str) -> str:
    """A file path as a SARIF URI reference: relative stays relative, absolute → file://.

    Cached: every finding of a policy (or of one change file) points at the same file.
    """
    p = Path(path)
    return p.as_uri() if p.is_absolute() else quote(p.as_posix(), safe="/")


def _clean(value: Any) -> Any:
    """``shown`` (cleaned, cut to TEXT_LIMIT) over every string of a JSON value (evidence is free-form)."""
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _physical(file: Any, line: Any = None, column: Any = None) -> dict[str, Any] | None:
    if not file:
        return None
    loc: dict[str, Any] = {"artifactLocation": {"uri": _uri(str(file))}}
    if isinstance(line, int) and line >= 1:
        loc["region"] = {"startLine": line}
        if isinstance(column, int) and column >= 1:
            loc["region"]["startColumn"] = column
    return loc


def _text(value: Any) -> str:
    return shown("" if value is None else str(value))


def _rule(policy: dict[str, Any], view: View) -> dict[str, Any]:
    title = view.title_of(policy["id"]) or policy["id"]
    description = localized(policy.get("description"), view.lang) or title
    references = [str(r) for r in policy.get("references") or []]
    remediation = localized(policy.get("remediation"), view.lang)
    help_lines = [description]
    if remediation:
        help_lines.append(f"Remediation: {remediation}")
    if references:
        help_lines.append("References: " + "; ".join(references))
    severity = policy.get("severity", "info")
    properties: dict[str, Any] = {
        "tags": [_text(t) for t in (policy.get("pack"), policy.get("kind"), *(policy.get("controls") or [])) if t],
        "severity": severity,
    }
    if severity in SECURITY_SEVERITY:
        properties["security-severity"] = SECURITY_SEVERITY[severity]
    return {
        "id": policy["id"],
        "name": _text(policy.get("kind") or policy["id"]),
        "shortDescription": {"text": _text(title)},
        "fullDescription": {"text": _text(description)},
        "help": {"text": _text("\n\n".join(help_lines))},
        "defaultConfiguration": {"level": LEVELS.get(severity, "note")},
        "properties": properties,
    }


def _result(finding: Finding, view: View, rule_index: dict[str, int]) -> dict[str, Any]:
    policy = view.policy_by_id.get(finding["policy_id"], {})
    location = finding.get("location")
    if isinstance(location, dict) and location.get("file"):
        physical = _physical(location["file"], location.get("line"), location.get("column"))
    else:
        physical = _physical(policy.get("file"), policy.get("line"))
    loc: dict[str, Any] = {}
    if physical:
        loc["physicalLocation"] = physical
    if finding.get("subject"):
        loc["logicalLocations"] = [{"fullyQualifiedName": _text(finding["subject"]), "kind": "object"}]
    result: dict[str, Any] = {
        "ruleId": finding["policy_id"],
        "level": LEVELS.get(finding["severity"], "note"),
        "message": {"text": _text(finding.get("message") or finding.get("code") or finding["policy_id"])},
        "partialFingerprints": {FINGERPRINT: finding["id"]},
        "properties": {
            "findingId": finding["id"],
            "severity": finding["severity"],
            "code": _text(finding.get("code")),
            "subject": _text(finding.get("subject")),
            "status": finding.get("status", "open"),
            "evidence": _clean(finding.get("evidence") or {}),
        },
    }
    if finding["policy_id"] in rule_index:
        result["ruleIndex"] = rule_index[finding["policy_id"]]
    if loc:
        result["locations"] = [loc]
    if finding.get("person_id"):
        result["properties"]["personId"] = _text(finding["person_id"])
    if finding.get("baseline") in BASELINE_STATES:
        result["baselineState"] = BASELINE_STATES[finding["baseline"]]
    if finding.get("status") == "waived":
        waiver = finding.get("waiver") if isinstance(finding.get("waiver"), dict) else {}
        suppression: dict[str, Any] = {"kind": "external", "status": "accepted"}
        if waiver.get("reason"):
            suppression["justification"] = _text(waiver["reason"])
        result["suppressions"] = [suppression]
    return result


@FORMATS.register("sarif")
class SarifReporter(Reporter):
    filename = "findings.sarif"

    def render(self, doc: dict[str, Any], out_dir: Path, lang: str = "en") -> Path:
        view = View(doc, lang)
        rules = [_rule(p, view) for p in view.policies]
        rule_index = {r["id"]: i for i, r in enumerate(rules)}
        # the verdict decides executionSuccessful; the notifications say why there is none
        notifications = [
            {
                "level": "error",
                "message": {"text": _text(f"{p['status']}: {p.get('error') or 'policy could not be evaluated'}")},
                "descriptor": {"id": p["id"]},
            }
            for p in view.policies
            if p.get("status") in ("error", "inconclusive")
        ]
        notifications += [
            {"level": "error", "message": {"text": _text(f"source {s.get('name')} failed: {s.get('error')}")},
             "descriptor": {"id": _text(f"source:{s.get('name')}")}}
            for s in (view.scan.get("snapshot") or {}).get("sources") or [] if s.get("status") == "error"
        ]
        notifications += [
            {"level": "warning", "message": {"text": _text(w)}, "descriptor": {"id": p["id"]}}
            for p in view.policies for w in p.get("warnings") or []
        ]
        driver: dict[str, Any] = {
            "name": "ledgerguard",
            "semanticVersion": str(view.tool.get("version") or "0"),
            "rules": rules,
        }
        invocation: dict[str, Any] = {"executionSuccessful": view.verdict != NO_VERDICT}
        if notifications:
            invocation["toolExecutionNotifications"] = notifications
        run: dict[str, Any] = {
            "tool": {"driver": driver},
            "invocations": [invocation],
            "results": [_result(f, view, rule_index) for f in sorted(view.findings, key=severity_key)],
            "properties": {"asOf": str(view.scan.get("as_of", "")), "verdict": view.verdict},
        }
        log = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
        path = out_dir / self.filename
        # No indent: it would switch json to its pure-Python encoder (5x slower).
        atomic_write_text(path, json.dumps(log, ensure_ascii=False, separators=(",", ":")) + "\n")
        return path
