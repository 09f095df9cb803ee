"""``ledgerguard gate``: judge a proposed access change before it is applied.

The gate reads the change files (changes.py), applies them to copies of the snapshot
tables (proposal.py), evaluates the policies a change can affect — those reading a
table a change can touch — on the current and the proposed state, and reports only the
difference: findings the change *introduces* (they can fail the gate) and findings it
*resolves* (shown, never failing). Each introduced finding carries the ``location`` of
the change that caused it when its subject names an account, person or change of the file.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .changes import ADDING, Change
from .context import Context
from .contract import Finding, PolicyOutcome
from .engine import evaluate
from .findings import assemble
from .kinds.base import KINDS
from .policy import Policy, PolicyPack, all_policies
from .proposal import TOUCHED, empty_table, propose
from .snapshot import Snapshot
from .timeutil import clock, iso
from .waivers import Waiver, apply_waivers


def relevant(policy: Policy) -> bool:
    """Does the policy read a table a change can touch? (Others cannot change verdict.)"""
    return bool(set(KINDS.get(policy.kind)(policy.params).reads()) & set(TOUCHED))


def _cause(finding: Finding, changes: list[Change], person_of: dict[tuple[str, str], Any]) -> Change | None:
    """The change a finding is attributed to: its subject's change, account or person.

    Of several, the last that adds access (grant, enable, create, modify) — the one
    that completes the state the finding is about — else the last that touches it.
    """
    kind, _, rest = finding["subject"].partition(":")
    person = finding.get("person_id")

    def touches(c: Change) -> bool:
        if kind == "change":
            return c.change_id == rest
        if kind == "account" and c.account and ":".join(c.account) == rest:
            return True
        who = rest if kind == "person" else person
        return bool(who) and who in (c.get("person_id"), person_of.get(c.account))

    hits = [c for c in changes if touches(c)]
    adding = [c for c in hits if c.action in ADDING]
    return (adding or hits or [None])[-1]


def _merge(current: PolicyOutcome, proposed: PolicyOutcome) -> PolicyOutcome:
    """One outcome per policy: an error in either state is an error (no verdict). A policy
    that has nothing in scope in the proposed state (e.g. change_approval for a change file
    of revokes only) cannot have findings the change introduces: that is a pass of the gate.
    One that is blind (none of its rules matched anything) stays inconclusive."""
    for o in (proposed, current):
        if o.status == "error":
            return PolicyOutcome(o.policy, "error", [], o.error)
    if proposed.status == "inconclusive" and proposed.coverage and proposed.coverage["examined"] == 0:
        return PolicyOutcome(proposed.policy, "pass", [], None, proposed.coverage)
    return proposed


def run_gate(
    snapshot: Snapshot,
    packs: list[PolicyPack],
    changes: list[Change],
    now: pd.Timestamp,
    *,
    fail_on: str = "high",
    waivers: list[Waiver] | None = None,
    jobs: int | None = 1,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The findings document of a gate: introduced findings (located), resolved ones."""
    started = clock()
    if not snapshot.has("changes"):
        snapshot = snapshot.with_tables(changes=empty_table("changes", snapshot.timezone))
    proposed = propose(snapshot, changes, now)
    policies = [p for p in all_policies(packs) if relevant(p)]
    before_ctx, after_ctx = Context(snapshot, now), Context(proposed, now)
    before, after = evaluate(policies, before_ctx, jobs), evaluate(policies, after_ctx, jobs)
    outcomes = [_merge(b, a) for b, a in zip(before, after, strict=True)]
    judged = {o.policy.id for o in outcomes if o.status in ("pass", "fail")}
    old = {f["id"]: f for o in before if o.policy.id in judged for f in o.findings}
    new = {f["id"]: f for o in after if o.policy.id in judged for f in o.findings}
    accounts = proposed.tables.get("accounts")
    person_of = ({} if accounts is None else
                 dict(zip(zip(accounts["system"], accounts["account_id"], strict=True),
                          accounts["person_id"], strict=True)))
    introduced = []
    for fid, f in new.items():
        if fid in old:
            continue
        cause = _cause(f, changes, person_of)
        if cause is not None:
            f["location"] = {"file": cause.file, "line": cause.line, "column": cause.column}
            f["evidence"] = {**f["evidence"], "change": cause.number, "change_id": cause.change_id}
        introduced.append({**f, "baseline": "new"})
    introduced.sort(key=lambda f: ((f["location"] or {}).get("line") or 0, f["policy_id"], f["subject"]))
    resolved = [{**f, "baseline": "resolved"} for fid, f in old.items() if fid not in new]
    # waivers are judged on the whole proposed state: one that accepts a finding the
    # change leaves alone is active there, not stale
    still = [f for fid, f in new.items() if fid in old]
    waiver_records = apply_waivers(introduced + still, waivers or [], after_ctx.today.date())
    doc = assemble(
        outcomes=outcomes, findings=introduced, packs=packs, snapshot=snapshot,
        as_of=iso(after_ctx.now), started_at=started, finished_at=clock(), fail_on=fail_on,
        command="gate", waivers=waiver_records, resolved=resolved, provenance=provenance,
    )
    files = list(dict.fromkeys(c.file for c in changes))
    doc["scan"]["change_file"] = files[0] if len(files) == 1 else None
    doc["scan"]["change_files"] = files
    doc["scan"]["changes"] = len(changes)
    return doc
