"""Baseline diff (SPEC §7): compare this scan's findings with an earlier findings.json.

Finding ids are stable (policy + subject + code [+ key]), so the diff is by id:

* ``new`` — not in the baseline;
* ``existing`` — in the baseline too;
* ``waiver_expired`` — waived in the baseline, open now: its waiver expired (or was
  withdrawn). It counts like a new finding for ``--fail-on-new-only``, so letting a
  waiver lapse can never slip a known violation past a gate;
* baseline findings whose id is gone are returned as ``resolved`` (same shape,
  ``baseline: "resolved"``).
"""

from __future__ import annotations

from typing import Any

from .contract import Finding


def apply_baseline(findings: list[Finding], baseline: dict[str, Any],
                   unevaluated: set[str] = frozenset()) -> list[Finding]:
    """Set each finding's ``baseline`` field (in place); return the resolved findings.

    Findings of ``unevaluated`` policies (status error or skipped now) are not
    resolved: nobody looked, so nothing is known to be fixed.
    """
    before = {f["id"]: f for f in baseline.get("findings") or []}
    for f in findings:
        old = before.get(f["id"])
        if old is None:
            f["baseline"] = "new"
        elif old.get("status") == "waived" and f["status"] == "open":
            f["baseline"] = "waiver_expired"
        else:
            f["baseline"] = "existing"
    now = {f["id"] for f in findings}
    return [{**f, "baseline": "resolved"} for fid, f in before.items()
            if fid not in now and f.get("policy_id") not in unevaluated]
