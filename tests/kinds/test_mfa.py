"""privileged_mfa through the real CLI: privileged globs, deny, enabled accounts only."""

from __future__ import annotations

from kindtest import ROLE_PERMISSIONS, hits, scan

from conftest import policy_pack

POLICY = """
id: MFA-T
kind: privileged_mfa
title: {en: MFA for privileged access, zh: 特权账号须启用多因素认证}
severity: high
params: {privileged_permissions: ["sys.*", bank.payment.release]}
"""


def _acc(system, account_id, mfa, enabled="true"):
    return {"system": system, "account_id": account_id, "person_id": "P1", "enabled": enabled, "mfa_enabled": mfa}


def test_privileged_accounts_without_mfa(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({
        "accounts": [_acc("erp", "admin", "否"), _acc("erp", "admin2", "是"), _acc("earchive", "arch", ""),
                     _acc("erp", "boss", "false"), _acc("erp", "clerk", "false"), _acc("erp", "old", "", "false"),
                     _acc("erp", "limited", "false")],
        "grants": [{"system": "erp", "account_id": "admin", "role": "sys_admin"},
                   {"system": "erp", "account_id": "admin2", "role": "sys_admin"},
                   {"system": "earchive", "account_id": "arch", "role": "archive_admin"},
                   {"system": "erp", "account_id": "boss", "role": "finance_manager"},
                   {"system": "erp", "account_id": "clerk", "role": "gl_clerk"},
                   {"system": "erp", "account_id": "old", "role": "sys_admin"},
                   {"system": "erp", "account_id": "limited", "role": "finance_manager"},
                   {"system": "erp", "account_id": "limited", "role": "no_release"}],
        "role_permissions": [*ROLE_PERMISSIONS,
                             {"system": "erp", "role": "no_release", "permission": "bank.*", "effect": "deny"}],
    })
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(POLICY)), tmp_path / "out")
    assert code == 1
    assert hits(doc) == {("privileged_without_mfa", s) for s in
                         ("account:erp:admin", "account:earchive:arch", "account:erp:boss")}
    f = {f["subject"]: f for f in doc["findings"]}
    assert f["account:erp:admin"]["evidence"] == {
        "mfa_enabled": False, "permissions": "sys.config, sys.role.admin, sys.user.admin", "roles": "sys_admin"}
    assert f["account:erp:boss"]["evidence"]["permissions"] == "bank.payment.release"
