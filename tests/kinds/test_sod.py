"""segregation_of_duties through the real CLI: person level across systems, account level, deny."""

from __future__ import annotations

from kindtest import ROLE_PERMISSIONS, VOCABULARY, hits, scan

from conftest import policy_pack
from ledgerguard.scanner.policy import builtin_pack_path

SOD = """
id: SOD-T
kind: segregation_of_duties
title: {en: Incompatible duties, zh: 不相容职务}
severity: high
params:
  level: LEVEL
  rules:
    - {id: ENTER-APPROVE, name: 录入与审核凭证, left: [gl.voucher.enter], right: [gl.voucher.approve]}
    - {id: KEEP-CASH, name: 档案保管与出纳, left: [archive.keep], right: ["cash.*"]}
    - {id: CASH-RECON, name: cash vs reconciliation, left: [cash.payment], right: [bank.reconcile]}
"""

IDENTITIES = [
    {"person_id": "P1", "name": "张三", "status": "active", "position": "出纳"},
    {"person_id": "P2", "name": "李四", "status": "active", "position": "出纳"},
    {"person_id": "P3", "name": "王五", "status": "active", "position": "会计"},
    {"person_id": "P4", "name": "赵六", "status": "active", "position": "会计"},
]


def _acc(system, account_id, person_id, enabled="true"):
    return {"system": system, "account_id": account_id, "person_id": person_id, "enabled": enabled}


def _snapshot(make_snapshot, extra_perms=()):
    return make_snapshot({
        "identities": IDENTITIES,
        "accounts": [
            _acc("erp", "zhangsan", "P1"), _acc("earchive", "zs", "P1"),         # cross-system pair
            _acc("erp", "lisi", "P2"), _acc("earchive", "lisi", "P2", "false"),   # keeper account disabled
            _acc("erp", "wangwu", "P3"), _acc("erp", "wangwu2", "P3"),            # two ERP accounts, denied
            _acc("erp", "robot", ""),                                             # no person
        ],
        "grants": [
            {"system": "erp", "account_id": "zhangsan", "role": "cashier"},
            {"system": "earchive", "account_id": "zs", "role": "archive_keeper"},
            {"system": "erp", "account_id": "lisi", "role": "cashier"},
            {"system": "earchive", "account_id": "lisi", "role": "archive_keeper"},
            {"system": "erp", "account_id": "wangwu", "role": "gl_clerk"},
            {"system": "erp", "account_id": "wangwu2", "role": "gl_reviewer"},
            {"system": "erp", "account_id": "wangwu2", "role": "no_approval"},
            {"system": "erp", "account_id": "robot", "role": "cashier"},
            {"system": "erp", "account_id": "robot", "role": "gl_reviewer"},
        ],
        "role_permissions": [*ROLE_PERMISSIONS, *extra_perms],
    }, timezone="Asia/Shanghai")


DENY_LITERAL = [{"system": "erp", "role": "no_approval", "permission": "gl.voucher.approve", "effect": "deny"}]


def test_person_level_pools_enabled_accounts_across_systems(cli, make_snapshot, write_yaml, tmp_path):
    snap = _snapshot(make_snapshot, DENY_LITERAL)
    pack = write_yaml("p.yaml", policy_pack(SOD.replace("LEVEL", "person")))
    code, doc = scan(cli, snap, pack, tmp_path / "out")
    assert code == 1
    assert hits(doc) == {("incompatible_duties", "person:P1"), ("incompatible_duties", "account:erp:robot")}
    by_key = {(f["subject"], f["key"]): f for f in doc["findings"]}
    # robot (no person) holds cash.payment and bank.reconcile on one account: judged alone
    assert set(by_key) == {("person:P1", "KEEP-CASH"), ("account:erp:robot", "CASH-RECON")}
    f = by_key[("person:P1", "KEEP-CASH")]
    assert f["person_id"] == "P1" and "张三 (P1)" in f["message"] and "档案保管与出纳" in f["message"]
    ev = f["evidence"]
    assert ev["left_permissions"] == ["archive.keep"]
    assert ev["right_permissions"] == ["cash.payment", "cash.receipt"]
    assert ev["accounts"] == ["account:earchive:zs", "account:erp:zhangsan"]
    assert "account:earchive:zs/archive_keeper → archive.keep" in ev["left_via"]
    assert by_key[("account:erp:robot", "CASH-RECON")]["person_id"] is None


def test_without_the_deny_the_two_accounts_of_one_person_conflict(cli, make_snapshot, write_yaml, tmp_path):
    snap = _snapshot(make_snapshot)
    pack = write_yaml("p.yaml", policy_pack(SOD.replace("LEVEL", "person")))
    _, doc = scan(cli, snap, pack, tmp_path / "out")
    f = next(f for f in doc["findings"] if f["subject"] == "person:P3")
    assert f["key"] == "ENTER-APPROVE"
    assert f["evidence"]["accounts"] == ["account:erp:wangwu", "account:erp:wangwu2"]


def test_glob_deny_removes_the_permission_too(cli, make_snapshot, write_yaml, tmp_path):
    deny = [{"system": "erp", "role": "no_approval", "permission": "gl.voucher.appr*", "effect": "deny"}]
    snap = _snapshot(make_snapshot, deny)
    pack = write_yaml("p.yaml", policy_pack(SOD.replace("LEVEL", "person")))
    _, doc = scan(cli, snap, pack, tmp_path / "out")
    assert "person:P3" not in {f["subject"] for f in doc["findings"]}


def test_account_level_judges_each_account_alone(cli, make_snapshot, write_yaml, tmp_path):
    snap = _snapshot(make_snapshot)
    pack = write_yaml("p.yaml", policy_pack(SOD.replace("LEVEL", "account")))
    _, doc = scan(cli, snap, pack, tmp_path / "out")
    assert hits(doc) == {("incompatible_duties", "account:erp:robot")}
    assert doc["findings"][0]["key"] == "CASH-RECON"


def test_one_finding_per_rule_with_distinct_ids(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({
        "identities": IDENTITIES,
        "accounts": [_acc("erp", "zhaoliu", "P4"), _acc("earchive", "zhaoliu", "P4")],
        "grants": [{"system": "erp", "account_id": "zhaoliu", "role": r} for r in ("cashier", "gl_reviewer")]
        + [{"system": "earchive", "account_id": "zhaoliu", "role": "archive_keeper"}],
        "role_permissions": ROLE_PERMISSIONS,
    })
    pack = write_yaml("p.yaml", policy_pack(SOD.replace("LEVEL", "person")))
    _, doc = scan(cli, snap, pack, tmp_path / "out")
    assert sorted(f["key"] for f in doc["findings"]) == ["CASH-RECON", "KEEP-CASH"]
    assert len({f["id"] for f in doc["findings"]}) == 2


def test_one_permission_matching_both_sides_is_not_a_pair(cli, make_snapshot, write_yaml, tmp_path):
    rule = """
    id: SOD-G
    kind: segregation_of_duties
    title: overlap
    severity: high
    params:
      rules: [{id: R1, left: ["gl.*"], right: [gl.voucher.approve]}]
    """
    snap = make_snapshot({
        "identities": IDENTITIES,
        "accounts": [_acc("erp", "a", "P1"), _acc("erp", "b", "P2")],
        "grants": [{"system": "erp", "account_id": "a", "role": "gl_reviewer"},
                   {"system": "erp", "account_id": "b", "role": "finance_manager"},
                   {"system": "erp", "account_id": "b", "role": "gl_clerk"}],
        "role_permissions": ROLE_PERMISSIONS,
    })
    pack = write_yaml("p.yaml", policy_pack(rule))
    _, doc = scan(cli, snap, pack, tmp_path / "out")
    assert hits(doc) == {("incompatible_duties", "person:P2")}


def test_invalid_params_are_reported_with_their_place(cli, write_yaml):
    pack = write_yaml("bad.yaml", policy_pack(SOD.replace("LEVEL", "team")))
    result = cli("validate", pack)
    assert result.exit_code == 2
    assert "bad.yaml:10:14" in result.output and "level" in result.output
    dup = SOD.replace("LEVEL", "person").replace("id: CASH-RECON", "id: KEEP-CASH")
    pack = write_yaml("dup.yaml", policy_pack(dup))
    result = cli("validate", pack)
    assert result.exit_code == 2
    assert "duplicate rule id 'KEEP-CASH'" in result.output and "dup.yaml:14" in result.output


def test_builtin_pack_position_templates_are_conflict_free_and_catch_a_cashier_keeper(
        cli, make_snapshot, tmp_path):
    """docs/vocabulary.md: each position's roles pass the built-in SoD rules; extra roles do not."""
    templates = {"出纳": ["cashier", "archive_viewer"], "会计": ["gl_clerk", "archive_viewer"],
                 "审核": ["gl_reviewer", "archive_viewer"],
                 "财务经理": ["finance_manager", "gl_reviewer", "archive_viewer"],
                 "档案管理员": ["archive_keeper", "archive_viewer"], "系统管理员": ["sys_admin", "archive_admin"]}
    system_of = {role: system for system, role in VOCABULARY}
    identities, accounts, grants = [], [], []
    for n, (position, roles) in enumerate(templates.items()):
        pid = f"P{n}"
        identities.append({"person_id": pid, "name": position, "status": "active", "position": position})
        for system in {system_of[r] for r in roles}:
            accounts.append(_acc(system, pid.lower(), pid))
        grants += [{"system": system_of[r], "account_id": pid.lower(), "role": r} for r in roles]
    pack = builtin_pack_path() / "sod.yaml"
    _, doc = scan(cli, make_snapshot({"identities": identities, "accounts": accounts, "grants": grants,
                                      "role_permissions": ROLE_PERMISSIONS}), pack, tmp_path / "1")
    assert doc["findings"] == [] and {p["status"] for p in doc["policies"]} == {"pass"}

    grants.append({"system": "earchive", "account_id": "p0", "role": "archive_keeper"})  # the 出纳 keeps archives
    grants.append({"system": "erp", "account_id": "p5", "role": "gl_clerk"})              # the admin enters vouchers
    _, doc = scan(cli, make_snapshot({"identities": identities, "accounts": accounts, "grants": grants,
                                      "role_permissions": ROLE_PERMISSIONS}), pack, tmp_path / "2")
    assert {(f["policy_id"], f["subject"], f["key"]) for f in doc["findings"]} == {
        ("SOD-001", "person:P0", "CASHIER-ARCHIVE"), ("SOD-003", "person:P5", "ADMIN-BUSINESS")}
