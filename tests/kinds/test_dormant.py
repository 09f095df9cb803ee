"""dormant_account through the real CLI: last_login_at, the logins table, never-used accounts."""

from __future__ import annotations

from kindtest import hits, scan

from conftest import policy_pack

POLICY = """
id: DOR-T
kind: dormant_account
title: {en: No dormant accounts, zh: 长期未使用的账号应停用}
severity: high
"""


def _acc(account_id, last_login="", created="2020-01-01", enabled="true"):
    return {"system": "erp", "account_id": account_id, "person_id": "P1", "enabled": enabled,
            "last_login_at": last_login, "created_at": created}


def test_idle_days_are_inclusive_local_dates(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({"accounts": [
        _acc("at_limit", "2026-08-24T16:30:00Z"),   # 2026-08-25 00:30 +08:00: 90 days, fine
        _acc("one_over", "2026-08-24T15:30:00Z"),   # 2026-08-24 23:30 +08:00: 91 days
        _acc("off", "2020-01-01", enabled="false"),  # disabled: not judged
        _acc("new", created="2026-08-25"),           # never used, created 90 days ago: fine
        _acc("stale_new", created="2026-08-24"),     # never used, 91 days
        _acc("no_dates", created=""),                # never used, creation unknown
    ]}, timezone="Asia/Shanghai")
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(POLICY)), tmp_path / "out")
    assert code == 1
    assert hits(doc) == {("dormant", "account:erp:one_over"), ("never_used", "account:erp:stale_new"),
                         ("never_used", "account:erp:no_dates")}
    f = {f["subject"]: f for f in doc["findings"]}
    assert f["account:erp:one_over"]["evidence"]["idle_days"] == 91
    assert f["account:erp:one_over"]["evidence"]["last_use"] == "2026-08-24T23:30:00+08:00"
    assert "creation date unknown" in f["account:erp:no_dates"]["message"]
    assert f["account:erp:stale_new"]["evidence"]["idle_days"] == 91


def test_successful_logins_count_failed_ones_do_not(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({
        "accounts": [_acc("via_logins", "2025-01-01"), _acc("only_failed", "2025-01-01"),
                     _acc("never_but_logins")],
        "logins": [
            {"system": "erp", "account_id": "via_logins", "at": "2026-11-20T09:00:00+08:00", "success": "是"},
            {"system": "erp", "account_id": "only_failed", "at": "2026-11-20T09:00:00+08:00", "success": "否"},
            {"system": "erp", "account_id": "never_but_logins", "at": "2026-10-01", "success": "true"},
        ],
    }, timezone="Asia/Shanghai")
    _, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(POLICY)), tmp_path / "out")
    assert hits(doc) == {("dormant", "account:erp:only_failed")}
    assert doc["findings"][0]["evidence"]["last_use"] == "2025-01-01"


def test_max_idle_days_param(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({"accounts": [_acc("a", "2026-11-13")]})
    policy = POLICY + "params: {max_idle_days: 9}\n"
    _, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(policy)), tmp_path / "out")
    assert hits(doc) == {("dormant", "account:erp:a")}
    assert "10 days (limit 9)" in doc["findings"][0]["message"]
