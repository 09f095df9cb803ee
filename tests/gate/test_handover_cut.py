"""Which leavers' duty gaps the incremental gate re-judges (``Handover.gate_cut``), on their edges.

A change alters only the rows of the people it touches, so a gap of a leaver outside them
can move only when no third person's holding (neither the leaver's own nor one of the
change's people) began by the day the gap is checked. Each case below is a change whose
gate must equal the full gate's, and names the finding it introduces or resolves, so that
dropping a leaver whose gap does move fails here; the cut's ``gaps`` show that a leaver
covered by a third person is left out (the cut stays small at size M).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import policy_pack, write_snapshot_dir
from ledgerguard.scanner.changes import load_changes
from ledgerguard.scanner.context import Context
from ledgerguard.scanner.gate import Region, run_gate
from ledgerguard.scanner.kinds.base import KINDS
from ledgerguard.scanner.kinds.handover import GateCut
from ledgerguard.scanner.policy import all_policies, load_packs
from ledgerguard.scanner.proposal import propose
from ledgerguard.scanner.snapshot import Snapshot, read_snapshot

NOW = pd.Timestamp("2026-11-23T10:00:00", tz="Asia/Shanghai")
POLICY = """
id: HO-T
kind: handover
title: Duties never go without a holder
severity: high
params:
  duties: {approve: [gl.voucher.approve], cash: [cash.*], close: [report.close_period], pay: [bank.payment]}
"""


def _person(pid: str, status: str = "active", **dates: str) -> dict:
    return {"person_id": pid, "name": f"N{pid}", "position": "会计", "status": status, **dates}


def _account(pid: str, enabled: bool = True) -> dict:
    return {"system": "erp", "account_id": pid.lower(), "person_id": pid, "enabled": str(enabled).lower(),
            "disabled_at": "" if enabled else "2026-11-01T18:00:00+08:00"}


def _grant(pid: str, role: str, day: str) -> dict:
    return {"system": "erp", "account_id": pid.lower(), "role": role, "granted_at": f"{day}T09:00:00+08:00"}


@pytest.fixture(scope="module")
def org(tmp_path_factory) -> tuple[Snapshot, Path]:
    """P holds approve (the change's person); M1 moved on 11-01 and still holds approve since
    2025 (their own holding never covers their gap); L1 left 11-10, covered by M1; H1 holds
    approve from 11-11; L4 left 11-14 with cash, checked on 11-15, the day H2's cash began;
    L3 left 11-22 holding close, which nobody else holds, checked today (11-23). Pay: H3 holds it
    since 2025; L5 left 11-10 keeping it (an account still enabled) and handed over to R5, who holds
    it since 2025 (an overlap); L6 left 11-12 holding it, with no handover; Q holds nothing."""
    root = tmp_path_factory.mktemp("cut")
    identities = [_person("P"), _person("H1"), _person("H2"), _person("M1", transfer_date="2026-11-01"),
                  _person("L1", "departed", departure_date="2026-11-10"),
                  _person("L3", "departed", departure_date="2026-11-22"),
                  _person("L4", "departed", departure_date="2026-11-14"), _person("H3"), _person("R5"), _person("Q"),
                  _person("L5", "departed", departure_date="2026-11-10"),
                  _person("L6", "departed", departure_date="2026-11-12")]
    accounts = [_account(p) for p in ("P", "H1", "H2", "M1", "H3", "R5", "Q", "L5")]
    accounts += [_account(p, False) for p in ("L1", "L3", "L4", "L6")]
    grants = [_grant("P", "gl_reviewer", "2025-06-01"), _grant("M1", "gl_reviewer", "2025-01-01"),
              _grant("H1", "gl_reviewer", "2026-11-11"), _grant("L1", "gl_reviewer", "2024-01-01"),
              _grant("H2", "cashier", "2026-11-15"), _grant("L4", "cashier", "2024-01-01"),
              _grant("L3", "finance_manager", "2024-01-01"), _grant("H3", "payer", "2025-01-01"),
              _grant("R5", "payer", "2025-01-01"), _grant("L5", "payer", "2024-01-01"),
              _grant("L6", "payer", "2024-01-01")]
    permissions = {"gl_reviewer": "gl.voucher.approve", "cashier": "cash.payment",
                   "finance_manager": "report.close_period", "payer": "bank.payment"}
    handovers = [{"handover_id": f"JJ-{p}", "from_person_id": p, "to_person_id": "H1", "supervisor_id": "H2",
                  "handed_over_at": day, "signed_by_from": "是", "signed_by_to": "是", "signed_by_supervisor": "是"}
                 for p, day in (("M1", "2026-11-01"), ("L1", "2026-11-10"), ("L3", "2026-11-22"),
                                ("L4", "2026-11-14"))]
    handovers.append({**handovers[1], "handover_id": "JJ-L5", "from_person_id": "L5", "to_person_id": "R5"})
    snap = write_snapshot_dir(root / "snapshot", {
        "identities": identities, "accounts": accounts, "grants": grants, "handovers": handovers,
        "role_permissions": [{"system": "erp", "role": r, "permission": p} for r, p in permissions.items()]},
        timezone="Asia/Shanghai")
    pack = root / "pack.yaml"
    pack.write_text(policy_pack(POLICY), encoding="utf-8")
    return read_snapshot(snap), pack


def _changes(tmp_path: Path, action: str, role: str, account: str = "p") -> list:
    path = tmp_path / f"{action}-{role}-{account}.yaml"
    path.write_text(yaml.safe_dump({"changes": [{
        "action": action, "system": "erp", "account_id": account, "role": role, "request_id": "REQ-1",
        "requested_by": "H1", "approved_by": "H2"}]}), encoding="utf-8")
    return load_changes([path])


def _gate(org: tuple[Snapshot, Path], changes: list) -> dict:
    """The gate's document, after checking that the incremental gate (with and without its base
    cache) gives the full gate's findings, resolved findings and statuses."""
    snap, pack = org
    packs = load_packs([pack])
    docs = [run_gate(snap, packs, changes, NOW, fail_on="never", **kw)
            for kw in ({"incremental": False}, {}, {"cache": True}, {"cache": True})]

    def comparable(doc: dict) -> tuple:
        return ([(f["id"], f["code"], f["subject"], f.get("key"), f["evidence"]) for f in doc["findings"]],
                [(f["id"], f["code"], f["subject"], f.get("key")) for f in doc["resolved"]],
                [(p["id"], p["status"]) for p in doc["policies"]])

    assert all(comparable(d) == comparable(docs[0]) for d in docs[1:])
    return docs[0]


def _cut(org: tuple[Snapshot, Path], changes: list) -> GateCut:
    """What the gate's cut re-judges for ``changes``."""
    snap, pack = org
    [policy] = all_policies(load_packs([pack]))
    kind = KINDS.get(policy.kind)(policy.params)
    region = Region.of(snap, changes)
    current = region.restrict(snap)
    base = kind.gate_base(Context(snap, NOW))
    return kind.gate_cut(base, Context(current, NOW), Context(propose(current, changes, NOW), NOW),
                         set(region.people))


def _gaps(org: tuple[Snapshot, Path], changes: list) -> set[tuple[str, str]]:
    """The (leaver, duty) pairs whose gap the gate's cut re-judges for ``changes``."""
    return set(_cut(org, changes).gaps)


def test_revoking_the_only_third_holder_opens_a_movers_gap(org, tmp_path):
    """M1's own holding (since 2025) does not cover M1's gap checked on 11-02: P's did, alone."""
    changes = _changes(tmp_path, "revoke", "gl_reviewer")
    doc = _gate(org, changes)
    assert [(f["code"], f["subject"], f["key"]) for f in doc["findings"]] == [("duty_gap", "person:M1", "approve")]
    # L1 (checked 11-11) stays covered by M1's holding: the change cannot move that gap
    assert _gaps(org, changes) == {("M1", "approve")}


def test_a_grant_today_closes_a_gap_checked_today(org, tmp_path):
    """L3's close duty is checked today (11-23) and held by nobody else: P's grant, begun today,
    covers it (a holding begun on the check day counts)."""
    changes = _changes(tmp_path, "grant", "finance_manager")
    doc = _gate(org, changes)
    assert [(f["code"], f["subject"], f["key"]) for f in doc["resolved"]] == [("duty_gap", "person:L3", "close")]
    assert ("L3", "close") in _gaps(org, changes)


def test_a_third_holding_begun_on_the_check_day_keeps_the_leaver_out(org, tmp_path):
    """L4's cash gap is checked on 11-15, the day H2's cashier grant began: covered in every state,
    so the cut leaves L4 out; M1's approve gap (P holds approve too) is re-judged."""
    changes = _changes(tmp_path, "grant", "cashier")
    _gate(org, changes)
    assert _gaps(org, changes) == {("M1", "approve")}


def test_a_grant_that_alters_no_finding_is_not_evaluated(org, tmp_path):
    """Q is active, never moved, named by no register row, and pay's leavers are covered by H3:
    the gate with its base does not evaluate the policy, and says why in its coverage."""
    changes = _changes(tmp_path, "grant", "payer", "q")
    assert _cut(org, changes).quiet
    doc = _gate(org, changes)
    assert doc["findings"] == doc["resolved"] == []
    snap, pack = org
    cached = run_gate(snap, load_packs([pack]), changes, NOW, fail_on="never", cache=True)
    [policy] = cached["policies"]
    assert policy["status"] == "pass"
    assert policy["coverage"]["unit"].endswith("in the whole current state: the change alters none of their findings")


def test_revoking_a_receivers_duty_ends_an_overlap(org, tmp_path):
    """R5 (active, never moved) is named by L5's handover as receiver: the region holds that row,
    so the cut is evaluated and the overlap it ends is resolved."""
    changes = _changes(tmp_path, "revoke", "payer", "r5")
    assert not _cut(org, changes).quiet
    doc = _gate(org, changes)
    assert [(f["code"], f["subject"], f["key"]) for f in doc["resolved"]] == [("duty_overlap", "person:L5", "pay")]


def test_revoking_a_leavers_duty_ends_their_findings(org, tmp_path):
    """L6 departed holding pay, with no handover: once revoked, L6 held no duty, so the
    no-handover finding is resolved (L6 is a leaver: the cut is evaluated)."""
    changes = _changes(tmp_path, "revoke", "payer", "l6")
    assert not _cut(org, changes).quiet
    doc = _gate(org, changes)
    assert [(f["code"], f["subject"]) for f in doc["resolved"]] == [("no_handover", "person:L6")]
