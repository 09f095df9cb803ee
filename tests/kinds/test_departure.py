"""revoke_on_departure through the real CLI: grace, late revocation, activity, leftover grants."""

from __future__ import annotations

from kindtest import hits, scan

from conftest import policy_pack

POLICY = """
id: ACC-T
kind: revoke_on_departure
title: {en: Departed staff keep no enabled account, zh: 离职人员账号当日停用}
severity: critical
"""


def _person(pid, name, departure_date="", status="departed"):
    return {"person_id": pid, "name": name, "position": "会计", "status": status,
            "departure_date": departure_date}


def _acc(account_id, person_id, enabled="false", disabled_at="", last_login_at="", system="erp"):
    return {"system": system, "account_id": account_id, "person_id": person_id, "enabled": enabled,
            "disabled_at": disabled_at, "last_login_at": last_login_at, "display_name": account_id}


def _run(cli, make_snapshot, write_yaml, tmp_path, tables, policy=POLICY):
    snap = make_snapshot(tables, timezone="Asia/Shanghai")
    return scan(cli, snap, write_yaml("p.yaml", policy_pack(policy)), tmp_path / "out")


def test_grace_day_is_inclusive(cli, make_snapshot, write_yaml, tmp_path):
    tables = {
        "identities": [_person("P1", "张三", "2026-11-23"), _person("P2", "李四", "2026-11-22"),
                       _person("P3", "王五", ""), _person("P4", "赵六", "2026-01-01", status="active"),
                       _person("P5", "孙七", "2026-11-20"), _person("P6", "周八", "2026-11-19")],
        "accounts": [_acc("zhangsan", "P1", "true"), _acc("lisi", "P2", "true"), _acc("wangwu", "P3", "true"),
                     _acc("zhaoliu", "P4", "true"), _acc("sunqi", "P5", "true"), _acc("zhouba", "P6", "true")],
    }
    code, doc = _run(cli, make_snapshot, write_yaml, tmp_path, tables)
    assert code == 1
    assert hits(doc) == {(c, f"account:erp:{a}") for c, a in [
        ("enabled_after_departure", "lisi"), ("enabled_after_departure", "wangwu"),
        ("enabled_after_departure", "sunqi"), ("enabled_after_departure", "zhouba")]}
    f = {x["subject"]: x for x in doc["findings"]}
    assert f["account:erp:lisi"]["evidence"]["days_overdue"] == 1
    assert f["account:erp:lisi"]["person_id"] == "P2"
    assert "an unrecorded date" in f["account:erp:wangwu"]["message"]

    _, doc = _run(cli, make_snapshot, write_yaml, tmp_path / "g", tables, POLICY + "params: {grace_days: 3}\n")
    assert hits(doc) == {("enabled_after_departure", "account:erp:wangwu"),
                         ("enabled_after_departure", "account:erp:zhouba")}


def test_late_revocation_local_dates_and_lookback(cli, make_snapshot, write_yaml, tmp_path):
    tables = {
        "identities": [_person("P1", "张三", "2026-10-31"), _person("P2", "李四", "2026-10-31"),
                       _person("P3", "王五", "2026-10-31"), _person("P4", "赵六", "2025-11-23"),
                       _person("P5", "孙七", "2025-11-22")],
        "accounts": [_acc("on_time", "P1", disabled_at="2026-10-31T20:00:00+08:00"),
                     _acc("late_local", "P2", disabled_at="2026-10-31T16:30:00Z"),  # 11-01 00:30 +08:00
                     _acc("late", "P3", disabled_at="2026-11-05"),
                     _acc("in_lookback", "P4", disabled_at="2025-12-01"),        # departed 365 days ago
                     _acc("past_lookback", "P5", disabled_at="2025-12-01")],     # 366 days ago
    }
    _, doc = _run(cli, make_snapshot, write_yaml, tmp_path, tables)
    assert hits(doc) == {("late_revocation", "account:erp:late_local"), ("late_revocation", "account:erp:late"),
                         ("late_revocation", "account:erp:in_lookback")}
    f = {x["subject"]: x for x in doc["findings"]}
    assert f["account:erp:late"]["evidence"]["days_late"] == 5
    assert f["account:erp:late_local"]["evidence"]["days_late"] == 1
    assert f["account:erp:late_local"]["evidence"]["disabled_at"] == "2026-11-01T00:30:00+08:00"


def test_activity_after_departure_from_last_login_and_logins(cli, make_snapshot, write_yaml, tmp_path):
    tables = {
        "identities": [_person("P1", "张三", "2026-11-20"), _person("P2", "李四", "2026-11-20"),
                       _person("P3", "王五", "2026-11-20"), _person("P4", "赵六", "2026-11-20")],
        "accounts": [_acc("same_day", "P1", disabled_at="2026-11-20", last_login_at="2026-11-20T18:00:00+08:00"),
                     _acc("next_day", "P2", disabled_at="2026-11-20", last_login_at="2026-11-21T08:00:00+08:00"),
                     _acc("by_logins", "P3", disabled_at="2026-11-20", last_login_at="2026-11-19"),
                     _acc("utc_same_day", "P4", disabled_at="2026-11-20")],
        "logins": [
            # 2026-11-20T23:30:00Z is 2026-11-21 07:30 in Asia/Shanghai: after the departure date
            {"system": "erp", "account_id": "by_logins", "at": "2026-11-20T23:30:00Z", "success": "true"},
            {"system": "erp", "account_id": "by_logins", "at": "2026-11-22 09:00:00", "success": "是"},
            # 2026-11-20T15:30:00Z is 2026-11-20 23:30 local: still the departure day
            {"system": "erp", "account_id": "utc_same_day", "at": "2026-11-20T15:30:00Z", "success": "true"},
            # a failed attempt is not use of the account
            {"system": "erp", "account_id": "utc_same_day", "at": "2026-11-22T10:00:00+08:00", "success": "否"},
        ],
    }
    _, doc = _run(cli, make_snapshot, write_yaml, tmp_path, tables)
    assert hits(doc) == {("activity_after_departure", "account:erp:next_day"),
                         ("activity_after_departure", "account:erp:by_logins")}
    f = {x["subject"]: x for x in doc["findings"]}
    assert f["account:erp:by_logins"]["evidence"]["first_activity"] == "2026-11-21T07:30:00+08:00"
    assert f["account:erp:by_logins"]["evidence"]["last_activity"] == "2026-11-22T09:00:00+08:00"
    assert f["account:erp:by_logins"]["evidence"]["login_events"] == 2
    assert f["account:erp:next_day"]["evidence"]["login_events"] == 0


def test_archive_access_and_leftover_grants(cli, make_snapshot, write_yaml, tmp_path):
    tables = {
        "identities": [_person("P1", "张三", "2026-11-10"), _person("P2", "李四", "2026-11-10")],
        "accounts": [_acc("zhangsan", "P1", disabled_at="2026-11-10", system="earchive"),
                     _acc("lisi", "P2", disabled_at="2026-11-10", system="earchive")],
        "grants": [{"system": "earchive", "account_id": "zhangsan", "role": "archive_viewer"},
                   {"system": "earchive", "account_id": "zhangsan", "role": "archive_keeper"}],
        "access_log": [
            {"event_id": "E1", "archive_id": "A-2020-001", "actor": "P1", "action": "download",
             "at": "2026-11-12T10:00:00+08:00"},
            {"event_id": "E2", "archive_id": "A-2020-002", "actor": "earchive:lisi", "action": "view",
             "at": "2026-11-11"},
            {"event_id": "E3", "archive_id": "A-2020-003", "actor": "earchive:lisi", "action": "print",
             "at": "2026-11-10T23:00:00+08:00"},  # departure day: fine
        ],
    }
    _, doc = _run(cli, make_snapshot, write_yaml, tmp_path, tables)
    assert hits(doc) == {("archive_access_after_departure", "person:P1"),
                         ("archive_access_after_departure", "account:earchive:lisi"),
                         ("grants_on_disabled_account", "account:earchive:zhangsan")}
    f = {(x["code"], x["subject"]): x for x in doc["findings"]}
    assert f[("archive_access_after_departure", "account:earchive:lisi")]["evidence"]["events"] == 1
    assert "张三" in f[("archive_access_after_departure", "person:P1")]["message"]
    leftover = f[("grants_on_disabled_account", "account:earchive:zhangsan")]
    assert leftover["severity"] == "low"
    assert leftover["evidence"]["roles"] == "archive_keeper, archive_viewer"


def test_systems_param_limits_the_accounts(cli, make_snapshot, write_yaml, tmp_path):
    tables = {"identities": [_person("P1", "张三", "2026-11-01")],
              "accounts": [_acc("zhangsan", "P1", "true"), _acc("zhangsan", "P1", "true", system="corp-ad")]}
    _, doc = _run(cli, make_snapshot, write_yaml, tmp_path, tables, POLICY + "params: {systems: ['corp-*']}\n")
    assert hits(doc) == {("enabled_after_departure", "account:corp-ad:zhangsan")}


def test_departed_accounts_without_findings_pass(cli, make_snapshot, write_yaml, tmp_path):
    """Departed people whose accounts were all disabled on time, with no roles and no use after
    leaving: the policy passes (nothing to describe; an empty evidence column is no error)."""
    tables = {"identities": [_person("P1", "张三", "2026-11-01"), _person("P2", "李四", "2026-11-20", status="active")],
              "accounts": [_acc("zhangsan", "P1", disabled_at="2026-11-01T18:00:00+08:00"), _acc("lisi", "P2", "true")],
              "grants": [{"system": "erp", "account_id": "lisi", "role": "gl_clerk"}]}
    code, doc = _run(cli, make_snapshot, write_yaml, tmp_path, tables)
    assert code == 0
    assert [p["status"] for p in doc["policies"]] == ["pass"]
    assert doc["findings"] == []


def test_grants_and_logins_belong_to_the_system_of_the_account(cli, make_snapshot, write_yaml, tmp_path):
    """Grants and logins are found by account_id first and then matched by (system, account_id):
    the same account id in another system, held by someone who stayed, lends the departed
    person's account neither its roles nor its logins."""
    tables = {
        "identities": [_person("P1", "张三", "2026-11-10"), _person("P2", "张山", "", status="active")],
        "accounts": [_acc("zhangsan", "P1", disabled_at="2026-11-10"),
                     _acc("zhangsan", "P2", "true", system="oa"), _acc("other", "P2", "true", system="erp")],
        "grants": [{"system": "erp", "account_id": "zhangsan", "role": "gl_clerk"},
                   {"system": "oa", "account_id": "zhangsan", "role": "oa_admin"},
                   {"system": "erp", "account_id": "other", "role": "ap_clerk"},
                   {"system": "erp", "account_id": "zhangsan", "role": "gl_clerk"}],
        "logins": [{"system": "oa", "account_id": "zhangsan", "at": "2026-11-20T09:00:00+08:00", "success": "true"},
                   {"system": "erp", "account_id": "other", "at": "2026-11-20T09:00:00+08:00", "success": "true"}],
    }
    _, doc = _run(cli, make_snapshot, write_yaml, tmp_path, tables)
    assert hits(doc) == {("grants_on_disabled_account", "account:erp:zhangsan")}
    assert doc["findings"][0]["evidence"]["roles"] == "gl_clerk"
    assert doc["findings"][0]["evidence"]["role_count"] == 1
