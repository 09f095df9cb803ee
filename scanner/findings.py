"""Findings: stable ids, the findings.json document (docs/findings.md), summary and exit code.

The document built here is the machine contract; every report is a view of it.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, NamedTuple

from . import __version__
from .contract import FAIL, FORMAT, NO_VERDICT, SEVERITIES, Finding, PolicyOutcome, any_failing, verdict
from .exitcodes import ExitCode
from .kinds.base import KINDS, coverage_warnings
from .policy import PolicyPack
from .snapshot import Snapshot
from .timeutil import in_zone

if TYPE_CHECKING:
    import pandas as pd

    from .policy import Policy


def finding_id(policy_id: str, subject: str, code: str, key: str | None = None) -> str:
    """Same violation, same id, scan after scan: a hash of what the finding is about."""
    parts = [policy_id, subject, code] + ([key] if key else [])
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


class FindingRows(NamedTuple):
    """A policy's findings as columns, one value per finding in each (``finding_rows``): the form
    a worker process sends them back in (workers.py), the records built in the parent
    (``records``). Pickled as a few lists of values, not one dict of fifteen keys per finding:
    the whole pack's findings at bench size M pickle in ~0.048 instead of ~0.075 CPU-s and
    unpickle in ~0.040 instead of ~0.081 (+ ~0.026 to build the records), and the workers no
    longer build the records (~0.024 CPU-s)."""

    ids: list[str]
    codes: list[str]
    severities: list[str]
    subjects: list[str]
    person_ids: list[str | None]
    messages: list[str]
    evidence: list[dict[str, Any]]
    keys: list[str | None]
    #: the message in other languages (table_rule); None when no finding of the policy has one
    more: list[dict[str, str] | None] | None

    def records(self, pol: Policy) -> list[Finding]:
        """The findings.json records of policy ``pol``."""
        if not self.ids:
            return []
        items = KINDS.get(pol.kind).dat70
        pid, kind = pol.id, pol.kind
        records: list[Finding] = [
            {"id": fid, "policy_id": pid, "kind": kind, "code": c, "severity": sev, "subject": s, "person_id": p,
             "message": m, "evidence": e, "status": "open", "waiver": None, "baseline": None, "key": k,
             "location": None, "dat70": items.get(c)}
            for fid, c, sev, s, p, m, e, k in zip(*self[:8], strict=True)
        ]
        if self.more is not None:
            for record, more in zip(records, self.more, strict=True):
                if more:
                    record["messages"] = more
        return records


NO_ROWS = FindingRows([], [], [], [], [], [], [], [], None)


def finding_rows(pol: Policy, frame: pd.DataFrame) -> FindingRows:
    """A kind's findings frame as the policy's findings (duplicates of one id collapse: the
    first stays).

    Column by column: each optional column is normalised in one pass (a column without any
    value, as most findings' ``key``, in none). The whole built-in pack's 30,413 findings at
    bench size M: ~0.045 CPU-s, the ids' SHA-256 the largest part (the records, built from
    these columns, ~0.026 more)."""
    if frame.empty:
        return NO_ROWS
    code, subject, message = (frame[c].tolist() for c in ("code", "subject", "message"))
    n = len(code)
    key = _texts(frame["key"], n)  # NaN/None/"" = no key
    person_id = _texts(frame["person_id"], n)
    severity = [s or pol.severity for s in _texts(frame["severity"], n)]
    evidence = [e or {} for e in frame["evidence"].tolist()]
    more = [m if isinstance(m, dict) and m else None for m in frame["messages"].tolist()]
    ids = [finding_id(pol.id, s, c, k) for s, c, k in zip(subject, code, key, strict=True)]
    columns = [ids, code, severity, subject, person_id, message, evidence, key,
               more if any(m is not None for m in more) else None]
    if len(set(ids)) < n:
        seen: dict[str, int] = {}
        first = [i for i, fid in enumerate(ids) if seen.setdefault(fid, i) == i]
        columns = [None if c is None else [c[i] for i in first] for c in columns]
    return FindingRows(*columns)


def _texts(column: pd.Series, n: int) -> list[str | None]:
    """A column's non-empty texts, None for anything else (missing, NaN, "")."""
    if column.isna().all():
        return [None] * n
    return [v if isinstance(v, str) and v else None for v in column.tolist()]


def assemble(
    *,
    outcomes: list[PolicyOutcome],
    findings: list[Finding],
    packs: list[PolicyPack],
    snapshot: Snapshot,
    as_of: str,
    started_at: str,
    finished_at: str,
    fail_on: str,
    new_only: bool = False,
    command: str = "scan",
    waivers: list[dict[str, Any]] | None = None,
    resolved: list[Finding] | None = None,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The findings.json document: policy statuses and the summary follow the findings, and
    the verdict (``contract.verdict``) is settled here once for the exit code and every view.
    ``new_only``: ``--fail-on-new-only`` (only findings new since the baseline fail).

    ``provenance`` (from the application: the command line with secrets redacted, the
    config / waiver / baseline files with their hashes, warnings such as an as-of far
    from the snapshot) is merged into ``scan``. Every time in ``scan`` is expressed in the
    snapshot's timezone with its offset."""
    # one pass over the findings (303,706 at bench size L; three passes took ~0.1 s there, on
    # the scan's critical path after the workers)
    open_by_policy: dict[str, int] = {}
    count_by_policy: dict[str, int] = {}
    by_sev = dict.fromkeys(SEVERITIES, 0)
    waived = 0
    for f in findings:
        pid = f["policy_id"]
        count_by_policy[pid] = count_by_policy.get(pid, 0) + 1
        if f["status"] == "open":
            open_by_policy[pid] = open_by_policy.get(pid, 0) + 1
            by_sev[f["severity"]] += 1
        elif f["status"] == "waived":
            waived += 1
    controls_of: dict[str, list[str]] = {}
    for pack in packs:
        for c in pack.controls:
            for pid in c.policies:
                controls_of.setdefault(pid, []).append(c.id)
    policies = []
    for o in outcomes:
        p = o.policy
        status = o.status
        if status in ("pass", "fail"):
            status = "fail" if open_by_policy.get(p.id) else "pass"
        total, open_ = count_by_policy.get(p.id, 0), open_by_policy.get(p.id, 0)
        policies.append({
            "id": p.id, "kind": p.kind, "severity": p.severity, "status": status,
            "findings": total, "open": open_, "waived": total - open_, "error": o.error,
            "coverage": o.coverage, "warnings": coverage_warnings(o.coverage) if o.coverage else [],
            "title": p.title, "description": p.description, "references": list(p.references),
            "remediation": p.remediation, "pack": p.pack, "file": p.file, "line": p.line,
            "controls": controls_of.get(p.id, []),
        })
    status_of = {p["id"]: p["status"] for p in policies}
    controls = []
    for pack in packs:
        for c in pack.controls:
            states = {status_of.get(pid) for pid in c.policies}
            if c.manual:
                state = "manual"
            elif "fail" in states:
                state = "fail"
            elif "error" in states:
                state = "error"
            elif "inconclusive" in states:
                state = "inconclusive"
            else:
                state = "pass"
            controls.append({
                "id": c.id, "title": c.title, "source": c.source, "policies": list(c.policies),
                "manual": c.manual, "procedure": c.procedure, "status": state,
            })
    summary = {
        "policies": len(policies),
        "passed": sum(p["status"] == "pass" for p in policies),
        "failed": sum(p["status"] == "fail" for p in policies),
        "errored": sum(p["status"] == "error" for p in policies),
        "inconclusive": sum(p["status"] == "inconclusive" for p in policies),
        "skipped": sum(p["status"] == "skipped" for p in policies),
        "findings": by_sev,
        "waived": waived,
        "failing": any_failing(findings, fail_on),
    }
    doc = {
        "format": FORMAT,
        "tool": {"name": "ledgerguard", "version": __version__},
        "scan": {
            "command": command,
            "as_of": as_of,
            "timezone": snapshot.timezone,
            "started_at": in_zone(started_at, snapshot.timezone),
            "finished_at": in_zone(finished_at, snapshot.timezone),
            "fail_on": fail_on,
            "fail_on_new_only": new_only,
            "snapshot": {
                "path": str(snapshot.path) if snapshot.path else None,
                "sha256": snapshot.sha256,
                "tables": dict(sorted(snapshot.table_hashes.items())),
                "rows": snapshot.rows,
                "taken_at": in_zone(snapshot.taken_at, snapshot.timezone),
                "sources": snapshot.sources,
            },
            "policy_packs": [
                {"name": p.name, "version": p.version, "sha256": p.sha256, "path": p.path}
                for p in packs
            ],
            **(provenance or {}),
        },
        "summary": summary,
        "policies": policies,
        "controls": controls,
        "findings": findings,
        "waivers": waivers or [],
        "resolved": resolved or [],
    }
    summary["verdict"] = verdict(doc, fail_on, new_only)
    return doc


def exit_code(doc: dict[str, Any]) -> ExitCode:
    """The document's verdict as an exit code: NO VERDICT 3 (anything not evaluated or
    inconclusive; it outranks 1), FAIL 1, PASS 0."""
    return {NO_VERDICT: ExitCode.NOT_EVALUABLE, FAIL: ExitCode.FINDINGS}.get(verdict(doc), ExitCode.OK)
