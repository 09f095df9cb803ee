"""The findings contract (docs/findings.md) in one place: names every producer and view share.

``findings.json`` is the machine contract and every report is a view of it. The format
name, the severity order, the statuses and the shape of one finding live here, so the
engine, the gate, ``--baseline`` and each report format cannot drift apart. This module
imports nothing that loads policies or evaluates kinds: reports depend on the contract,
not on the engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from .errors import InputError, Problem

if TYPE_CHECKING:
    from .policy import Policy

FORMAT = "ledgerguard-findings/1"
#: most severe first; the order of every count and listing
SEVERITIES = ("critical", "high", "medium", "low", "info")
#: critical 5 … info 1, so "at or above" is a plain comparison
RANK = {s: len(SEVERITIES) - i for i, s in enumerate(SEVERITIES)}
FAIL_ON = (*SEVERITIES, "never")
#: a policy's outcome; fail/pass are settled after waivers
POLICY_STATUSES = ("pass", "fail", "error", "skipped")
#: a finding's status: waived findings are kept and shown, and never fail a scan
FINDING_STATUSES = ("open", "waived")
#: a finding against ``--baseline``; earlier findings that are gone are listed as resolved
BASELINE_STATES = ("new", "existing", "waiver_expired")


class Finding(TypedDict):
    """One entry of findings.json ``findings[]``."""

    id: str  # stable: a hash of policy id + subject + code (+ key)
    policy_id: str
    kind: str
    code: str
    severity: str  # one of SEVERITIES
    subject: str  # person:ID, account:SYSTEM:ID, archive:ID, dataset:NAME, change:ID, …
    person_id: str | None
    message: str
    evidence: dict[str, Any]
    status: str  # one of FINDING_STATUSES
    waiver: dict[str, Any] | None
    baseline: str | None  # one of BASELINE_STATES, None without --baseline
    key: str | None  # tells apart findings of one code on one subject
    location: dict[str, Any] | None  # file / line / column of the change that caused it (gate)
    dat70: str | None  # the DA/T 70 四性检测 item an archive finding shows, "property/item"


@dataclass
class PolicyOutcome:
    """What evaluating one policy gave: its status, findings (in the kind's order) and error."""

    policy: Policy
    status: str  # one of POLICY_STATUSES
    findings: list[Finding]
    error: str | None = None


def severity_key(finding: Finding) -> tuple[int, str, str, str]:
    """Most severe first, then by policy and subject, so every format lists alike."""
    return (
        -RANK.get(finding.get("severity", "info"), 0),
        finding.get("policy_id") or "",
        finding.get("subject") or "",
        finding.get("id") or "",
    )


def is_failing(finding: Finding, fail_on: str) -> bool:
    """An open finding at or above ``fail_on`` (``never``: nothing fails)."""
    return (
        fail_on != "never"
        and finding["status"] == "open"
        and RANK[finding["severity"]] >= RANK[fail_on]
    )


def read_findings(path: str | Path) -> dict[str, Any]:
    """Read a findings.json written by ledgerguard (for ``report`` and ``--baseline``)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError(Problem("no such file", str(p))) from None
    except json.JSONDecodeError as exc:
        raise InputError(Problem(f"invalid JSON: {exc.msg}", str(p), exc.lineno, exc.colno)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(Problem(f"cannot read: {exc}", str(p))) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(Problem(f"not a ledgerguard findings file (format must be {FORMAT!r})", str(p), 1, 1))
    for key in ("scan", "summary", "policies", "findings"):
        if key not in doc:
            raise InputError(Problem(f"findings file lacks {key!r}", str(p), 1, 1))
    return doc
