"""change_approval through the real CLI, and on a synthetic changes table (as `gate` will)."""

from __future__ import annotations

import pandas as pd
from kindtest import hits, scan

from conftest import policy_pack
from ledgerguard.scanner.policy import builtin_pack_path, load_packs
from ledgerguard.scanner.scan import run_scan
from ledgerguard.scanner.snapshot import read_snapshot, type_table
from ledgerguard.scanner.timeutil import parse_instant

POLICY = """
id: CHG-T
kind: change_approval
title: {en: Changes are approved first, zh: 权限变更须事先审批}
severity: high
params:
  approver_positions: [财务经理, 系统管理员]
"""
IDENTITIES = [
    {"person_id": "P2", "name": "李四", "status": "active", "position": "出纳"},
    {"person_id": "P3", "name": "王五", "status": "active", "position": "会计"},
    {"person_id": "P8", "name": "周八", "status": "active", "position": "系统管理员"},
    {"person_id": "P9", "name": "吴九", "status": "active", "position": "财务经理"},
]
ACCOUNTS = [{"system": "erp", "account_id": "lisi", "person_id": "P2", "enabled": "true"},
            {"system": "erp", "account_id": "wangwu", "person_id": "P3", "enabled": "true"}]
GOOD = {"system": "erp", "account_id": "lisi", "action": "grant", "role": "cashier", "performed_by": "P8",
        "performed_at": "2026-11-10T10:00:00+08:00", "request_id": "REQ-1", "requested_by": "P2",
        "approved_by": "P9", "approved_at": "2026-11-09", "approval_status": "approved"}


def _changes(**variants: dict) -> list[dict]:
    return [{**GOOD, "change_id": cid, **diff} for cid, diff in variants.items()]


def test_every_finding_code(cli, make_snapshot, write_yaml, tmp_path):
    changes = _changes(
        C1={},
        C2={"request_id": ""},
        C3={"approval_status": "pending"},
        C4={"approved_by": ""},
        C5={"approved_at": "2026-11-10T02:30:00Z"},        # 10:30 local, half an hour after performing
        C5b={"approved_at": "2026-11-10T01:59:59Z"},       # 09:59:59 local: before, fine
        C6={"approved_by": "P8"},                          # the performer (a 系统管理员) approved
        C7={"performed_by": "P2"},                         # lisi granted himself
        C8={"approved_by": "P3"},                          # a 会计 may not approve
        C8b={"approved_by": "P404"},                       # unknown approver
        C9={"action": "revoke", "request_id": "", "approved_by": ""},  # not in actions
        C10={"action": " enable ", "approval_status": "Approved"},  # trimmed; approval_status is open, case-insensitive
    )
    snap = make_snapshot({"identities": IDENTITIES, "accounts": ACCOUNTS, "changes": changes},
                         timezone="Asia/Shanghai")
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(POLICY)), tmp_path / "out")
    assert code == 1
    assert hits(doc) == {
        ("missing_request", "change:C2"),
        ("not_approved", "change:C3"),
        ("not_approved", "change:C4"),
        ("approved_after_performed", "change:C5"),
        ("approver_is_performer", "change:C6"),
        ("self_grant", "change:C7"),
        ("approver_position", "change:C8"),
        ("approver_position", "change:C8b"),
    }
    f = {f["subject"]: f for f in doc["findings"]}
    assert f["change:C7"]["person_id"] == "P2" and f["change:C7"]["evidence"]["performed_by"] == "P2"
    assert f["change:C8"]["evidence"]["approver_position"] == "会计"
    assert "会计" in f["change:C8"]["message"]
    assert f["change:C8b"]["evidence"]["approver_position"] is None
    assert f["change:C5"]["evidence"]["approved_at"] == "2026-11-10T10:30:00+08:00"
    # each message is built from its own change's row (texts are built for findings only)
    what = "change {} (grant cashier to erp:lisi)"
    assert {s: m["message"] for s, m in f.items()} == {
        "change:C2": what.format("C2") + " has no request_id",
        "change:C3": what.format("C3") + " is not approved (status pending, approver P9)",
        "change:C4": what.format("C4") + " is not approved (status approved, approver none)",
        "change:C5": what.format("C5") + " was approved after it was performed",
        "change:C6": what.format("C6") + " was approved by its performer P8",
        "change:C7": what.format("C7") + " was performed by P2 on their own account",
        "change:C8": what.format("C8") + " was approved by P3 whose position 会计 may not approve it",
        "change:C8b": what.format("C8b") + " was approved by P404 whose position (unknown) may not approve it",
    }


def test_window_is_inclusive_on_local_dates(cli, make_snapshot, write_yaml, tmp_path):
    # as-of 2026-11-23, window 90 days: performed on local 2026-08-25 is inside, 08-24 is not
    changes = _changes(
        # 2026-08-25 00:30 +08:00 (inside) and 2026-08-24 23:30 +08:00 (outside)
        IN={"request_id": "", "performed_at": "2026-08-24T16:30:00Z", "approved_at": "2026-08-01"},
        OUT={"request_id": "", "performed_at": "2026-08-24T15:30:00Z", "approved_at": "2026-08-01"},
        LATER={"request_id": "", "performed_at": "2026-11-30"},           # after as-of: still judged
    )
    snap = make_snapshot({"identities": IDENTITIES, "accounts": ACCOUNTS, "changes": changes},
                         timezone="Asia/Shanghai")
    _, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(POLICY)), tmp_path / "out")
    assert hits(doc) == {("missing_request", "change:IN"), ("missing_request", "change:LATER")}


def test_without_approver_positions_any_approver_counts(cli, make_snapshot, write_yaml, tmp_path):
    policy = POLICY.replace("  approver_positions: [财务经理, 系统管理员]", "  actions: [grant]")
    snap = make_snapshot({"accounts": ACCOUNTS, "changes": _changes(C1={"approved_by": "P3"})})
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(policy)), tmp_path / "out")
    assert code == 0 and doc["findings"] == [] and doc["policies"][0]["status"] == "pass"


def test_approver_positions_without_identities_is_an_error_not_a_pass(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({"accounts": ACCOUNTS, "changes": _changes(C1={})})
    pack = write_yaml("p.yaml", policy_pack(POLICY))
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", tmp_path)
    assert result.exit_code == 3
    assert "identities" in (tmp_path / "findings.json").read_text(encoding="utf-8")


def test_a_synthetic_changes_table_is_judged_like_a_snapshot_one(make_snapshot):
    """What `gate` does: proposed changes (no change_id of their own, a create naming its person)."""
    snap = read_snapshot(make_snapshot({"identities": IDENTITIES, "accounts": ACCOUNTS,
                                        "changes": _changes(C1={})}, timezone="Asia/Shanghai"))
    proposed = pd.DataFrame([
        {"change_id": "proposed-1", "system": "erp", "account_id": "newhire", "action": "create",
         "person_id": "P8", "performed_by": "P8", "performed_at": "2026-11-23", "request_id": "REQ-9",
         "approved_by": "P9", "approval_status": "approved"},
    ])
    typed = type_table("changes", proposed, "Asia/Shanghai", "change.yaml")
    packs = load_packs([_write(snap.path.parent / "p.yaml", policy_pack(POLICY))])
    doc = run_scan(snap.with_tables(changes=typed), packs, parse_instant("2026-11-23", "Asia/Shanghai"))
    assert [(f["code"], f["subject"]) for f in doc["findings"]] == [("self_grant", "change:proposed-1")]


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_pack_files_of_these_kinds_validate(cli):
    files = [builtin_pack_path() / f for f in ("sod.yaml", "changes.yaml", "access.yaml", "integrity.yaml")]
    result = cli("validate", *files)
    assert result.exit_code == 0, result.output
    assert "10 policies" in result.output
    result = cli("policies", "show", "CHG-001", "--policies", files[1], "--lang", "zh")
    assert "权限变更须事先申请并经审批" in result.output and "approver_positions" in result.output


VERIFY = """
id: CHG-V
kind: change_approval
title: {en: Changes are verified by a second person, zh: 权限变更双重核验}
severity: medium
params: {actions: [], verify_actions: [grant, revoke, disable], verify_within_days: 1}
"""


def test_verification_by_a_second_person_on_its_boundary(cli, make_snapshot, write_yaml, tmp_path):
    done = {"verified_by": "P9", "verified_at": "2026-11-11T09:00:00+08:00"}
    changes = _changes(
        V1=done,                                                   # performed 11-10, verified 11-11: at the limit
        V2={**done, "verified_at": "2026-11-12T09:00:00+08:00"},   # two days later
        V3={"action": "revoke", "performed_at": "2026-11-22T18:00:00+08:00"},  # not verified, due after 11-23
        V4={"action": "revoke", "performed_at": "2026-11-21T18:00:00+08:00"},  # not verified, due 11-22
        V5={"action": "disable", "verified_by": "P8", "verified_at": "2026-11-10T11:00:00+08:00"},
        V6={**done, "verified_at": "2026-11-10T09:00:00+08:00"},   # an hour before it was performed
        V7={"action": "enable"},                                   # not a verified action
    )
    snap = make_snapshot({"identities": IDENTITIES, "accounts": ACCOUNTS, "changes": changes},
                         timezone="Asia/Shanghai")
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(VERIFY)), tmp_path / "out", "2026-11-23",
                     "--fail-on", "medium")
    assert code == 1
    assert hits(doc) == {("verified_late", "change:V2"), ("not_verified", "change:V4"),
                         ("verifier_is_performer", "change:V5"), ("verified_before_performed", "change:V6")}
    late = next(f for f in doc["findings"] if f["subject"] == "change:V2")
    assert late["evidence"]["days_to_verify"] == 2 and late["evidence"]["verified_by"] == "P9"
    assert {f["subject"]: f["message"] for f in doc["findings"]} == {
        "change:V2": "change V2 (grant cashier to erp:lisi) was verified by P9 on 2026-11-12, "
                     "2 days after it was performed (limit 1)",
        "change:V4": "change V4 (revoke cashier to erp:lisi) performed on 2026-11-21 was not "
                     "verified by a second person within 1 days",
        "change:V5": "change V5 (disable cashier to erp:lisi) was verified by its own performer P8",
        "change:V6": "change V6 (grant cashier to erp:lisi) was verified (2026-11-10) before it was "
                     "performed (2026-11-10)",
    }
