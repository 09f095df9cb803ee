"""unrecorded_change through the real CLI: grants without a change record (tolerance boundary), and
the comparison with `scan --previous-snapshot` (what it finds, and that it says when it was not made)."""

from __future__ import annotations

from kindtest import hits, scan

from conftest import policy_pack

POLICY = """
id: UNR-T
kind: unrecorded_change
title: {en: Every change is in the change log, zh: 权限变更均有记录}
severity: high
params: {window_days: 90, tolerance_days: 1}
"""


def acc(account_id: str, enabled: bool = True) -> dict:
    return {"system": "erp", "account_id": account_id, "person_id": f"P-{account_id}", "enabled": str(enabled).lower()}


def grant(account_id: str, role: str, granted_at: str = "") -> dict:
    return {"system": "erp", "account_id": account_id, "role": role, "granted_at": granted_at}


def change(cid: str, action: str, account_id: str, day: str, role: str = "", status: str = "approved") -> dict:
    return {"change_id": cid, "system": "erp", "account_id": account_id, "action": action, "role": role,
            "performed_at": f"{day}T15:00:00+08:00", "approved_by": "P9" if status == "approved" else "",
            "approval_status": status}


CURRENT = {
    "accounts": [acc("a"), acc("b"), acc("c"), acc("g"), acc("h"), acc("i"), acc("j")],
    "grants": [grant("a", "gl_clerk", "2026-11-10"), grant("b", "gl_clerk", "2026-11-10"),
               grant("c", "cashier", "2019-01-01")],
    "changes": [
        change("C1", "grant", "a", "2026-11-11", "gl_clerk"),           # granted_at + 1 day: within tolerance
        change("C2", "grant", "b", "2026-11-12", "gl_clerk", "pending"),  # + 2 days, and not approved
        change("C3", "revoke", "d", "2026-10-31", "cashier"),           # taken 11-01 − 1 day: counts
        change("C4", "revoke", "f", "2026-10-30", "cashier"),           # 2 days before: an older revoke
        change("C5", "enable", "g", "2026-11-05"),
        change("C6", "create", "i", "2026-11-06"),
    ],
}
PREVIOUS = {
    "accounts": [acc("a"), acc("b"), acc("c"), acc("d"), acc("e"), acc("f"), acc("g", False), acc("h", False)],
    "grants": [grant("c", "cashier", "2019-01-01"), grant("d", "cashier"), grant("e", "cashier"),
               grant("f", "cashier")],
}


def test_grant_without_change_and_the_missing_comparison(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(CURRENT, timezone="Asia/Shanghai")
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(POLICY)), tmp_path / "out")
    assert code == 1
    assert hits(doc) == {("grant_without_change", "account:erp:b"), ("previous_snapshot_missing", "snapshot:previous")}
    note = next(f for f in doc["findings"] if f["code"] == "previous_snapshot_missing")
    assert note["severity"] == "info" and "--previous-snapshot" in note["message"]
    b = next(f for f in doc["findings"] if f["code"] == "grant_without_change")
    assert b["evidence"]["role"] == "gl_clerk" and b["key"] == "gl_clerk" and b["person_id"] == "P-b"


def test_previous_snapshot_comparison(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(CURRENT, timezone="Asia/Shanghai")
    previous = make_snapshot(PREVIOUS, timezone="Asia/Shanghai", taken_at="2026-11-01T02:00:00+08:00")
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(POLICY)), tmp_path / "out", "2026-11-23",
                     "--previous-snapshot", previous)
    assert code == 1
    assert hits(doc) == {
        ("grant_without_change", "account:erp:b"),
        ("grant_appeared_without_change", "account:erp:b"),     # its change is pending
        ("grant_removed_without_revoke", "account:erp:e"),
        ("grant_removed_without_revoke", "account:erp:f"),      # revoked before the previous snapshot
        ("account_enabled_without_change", "account:erp:h"),    # disabled then, enabled now, no record
        ("account_enabled_without_change", "account:erp:j"),    # absent then
    }
    h = next(f for f in doc["findings"] if f["subject"] == "account:erp:h")
    assert h["evidence"]["previous_state"] == "disabled"


def test_a_bad_previous_snapshot_is_bad_input(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(CURRENT, timezone="Asia/Shanghai")
    result = cli("scan", "--snapshot", snap, "--policies", write_yaml("p.yaml", policy_pack(POLICY)),
                 "--previous-snapshot", tmp_path / "nowhere", "--out", tmp_path / "out")
    assert result.exit_code == 2 and f"{tmp_path / 'nowhere'}: no such snapshot folder" in result.output


def test_previous_snapshot_unused_by_the_policies_is_said(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(CURRENT, timezone="Asia/Shanghai")
    previous = make_snapshot(PREVIOUS, timezone="Asia/Shanghai")
    other = POLICY.replace("kind: unrecorded_change", "kind: change_approval").replace(
        "params: {window_days: 90, tolerance_days: 1}", "params: {window_days: 90}")
    result = cli("scan", "--snapshot", snap, "--policies", write_yaml("p.yaml", policy_pack(other)),
                 "--previous-snapshot", previous, "--as-of", "2026-11-23", "--out", tmp_path / "out")
    assert result.exit_code in (0, 1)
    assert "no enabled policy compares two snapshots" in result.stderr
