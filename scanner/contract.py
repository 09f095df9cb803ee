"""The findings contract (docs/findings.md) in one place: names every producer and view share.

``findings.json`` is the machine contract and every report is a view of it. The format
name, the severity order, the statuses and the shape of one finding live here, so the
engine, the gate, ``--baseline`` and each report format cannot drift apart. This module
imports nothing that loads policies or evaluates kinds: reports depend on the contract,
not on the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from .errors import InputError, Problem
from .jsonload import load_json

if TYPE_CHECKING:
    from .policy import Policy

FORMAT = "ledgerguard-findings/1"
#: most severe first; the order of every count and listing
SEVERITIES = ("critical", "high", "medium", "low", "info")
#: critical 5 … info 1, so "at or above" is a plain comparison
RANK = {s: len(SEVERITIES) - i for i, s in enumerate(SEVERITIES)}
FAIL_ON = (*SEVERITIES, "never")
#: a policy's outcome; fail/pass are settled after waivers. ``inconclusive``: the policy
#: examined nothing (empty scope, or none of its rules matched anything in the snapshot)
POLICY_STATUSES = ("pass", "fail", "error", "inconclusive", "skipped")
#: statuses that leave a scan without a verdict (exit 3), like a failed source
NOT_EVALUATED = ("error", "inconclusive")
#: the scan's verdict, computed once (``verdict``) and only rendered by every view
PASS, FAIL, NO_VERDICT = "PASS", "FAIL", "NO VERDICT"
VERDICTS = (PASS, FAIL, NO_VERDICT)
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
    messages: NotRequired[dict[str, str]]  # the message in other languages its policy's author wrote


@dataclass
class PolicyOutcome:
    """What evaluating one policy gave: its status, findings (in the kind's order) and error."""

    policy: Policy
    status: str  # one of POLICY_STATUSES
    findings: list[Finding]
    error: str | None = None
    #: what the policy examined (kinds/base.py ``Coverage``); None when it did not run
    coverage: dict[str, Any] | None = None


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


def counts_toward_fail(finding: Finding, fail_on: str, new_only: bool = False) -> bool:
    """A failing finding (``is_failing``); with ``new_only`` (``--fail-on-new-only``) only one
    new since the baseline or whose waiver expired."""
    return is_failing(finding, fail_on) and (not new_only or finding.get("baseline") in ("new", "waiver_expired"))


def any_failing(findings: list[Finding], fail_on: str, new_only: bool = False) -> bool:
    """Does any finding count toward failing (``counts_toward_fail``)? With ``fail_on`` never,
    no finding is asked (300k of them at bench size L)."""
    return fail_on != "never" and any(counts_toward_fail(f, fail_on, new_only) for f in findings)


def verdict(doc: dict[str, Any], fail_on: str | None = None, new_only: bool | None = None) -> str:
    """PASS, FAIL or NO VERDICT: the one answer the exit code and every view give.

    NO VERDICT when a source failed or a policy ended in ``error`` or ``inconclusive`` (it
    outranks FAIL: the scan cannot vouch for its result); FAIL when an open finding reaches
    ``fail_on``; else PASS. A document that carries ``summary.verdict`` is answered from it;
    one written by an older scanner is judged here from its policies and findings."""
    summary = doc.get("summary") or {}
    if fail_on is None and new_only is None and summary.get("verdict") in VERDICTS:
        return summary["verdict"]
    scan = doc.get("scan") or {}
    fail_on = fail_on or scan.get("fail_on") or "high"
    new_only = bool(scan.get("fail_on_new_only")) if new_only is None else new_only
    sources = (scan.get("snapshot") or {}).get("sources") or []
    if (any(p.get("status") in NOT_EVALUATED for p in doc.get("policies") or [])
            or summary.get("errored") or any(s.get("status") == "error" for s in sources)):
        return NO_VERDICT
    if any_failing(doc.get("findings") or [], fail_on, new_only):
        return FAIL
    return PASS


# What `report` and `--baseline` insist on before reading a findings.json; everything else is
# optional so documents from older or newer scanners still render.
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


def read_findings(path: str | Path) -> dict[str, Any]:
    """Read a findings.json written by ledgerguard (for ``report`` and ``--baseline``)."""
    p = Path(path)
    doc = load_json(p)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(Problem(f"not a ledgerguard findings file (format must be {FORMAT!r})", str(p), 1, 1))
    for key in ("scan", "summary", "policies", "findings"):
        if key not in doc:
            raise InputError(Problem(f"findings file lacks {key!r}", str(p), 1, 1))
    problems = []
    import jsonschema  # here: the CLI's start-up does not pay for it

    for err in jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc):
        pointer = "/" + "/".join(str(k) for k in err.absolute_path)
        problems.append(Problem(f"{pointer}: {err.message} (expected a {FORMAT} document)", str(p),
                                schema_path="/".join(str(k) for k in err.absolute_schema_path)))
        if len(problems) == 20:
            break
    if problems:
        raise InputError(problems)
    return doc
