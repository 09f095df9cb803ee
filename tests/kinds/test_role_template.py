"""role_template through the real CLI: templates by position, movers, forbidden permissions."""

from __future__ import annotations

from kindtest import ROLE_PERMISSIONS, hits, scan

from conftest import policy_pack

POLICY = """
id: ROLE-T
kind: role_template
title: {en: Roles follow the position, zh: 按岗位授权}
severity: high
params:
  systems: [erp, earchive]
  templates:
    出纳:
      allowed_roles: ["erp:cashier", "earchive:archive_viewer"]
      required_roles: ["erp:cashier"]
      forbidden_permissions: [gl.voucher.approve, archive.keep, "gl.account.*.post"]
    会计:
      allowed_roles: [gl_clerk, archive_viewer]
      required_roles: ["erp:gl_clerk", "earchive:archive_viewer"]
      forbidden_permissions: ["cash.*"]
    "*": {allowed_roles: []}
  default_forbidden_permissions: ["sys.*"]
  transfer_grace_days: 30
  max_roles: 2
"""


def _person(pid, name, position, **kw):
    return {"person_id": pid, "name": name, "position": position, "status": "active", "transfer_date": "",
            "previous_position": "", **kw}


def _acc(system, account_id, person_id, enabled="true"):
    return {"system": system, "account_id": account_id, "person_id": person_id, "enabled": enabled,
            "display_name": account_id}


def _grants(system, account_id, *roles):
    return [{"system": system, "account_id": account_id, "role": r} for r in roles]


def _snapshot(make_snapshot):
    identities = [
        _person("P1", "张三", "出纳"), _person("P2", "李四", "出纳"), _person("P3", "王五", "会计"),
        _person("P4", "赵六", "会计", status="transferred", transfer_date="2026-10-24", previous_position="出纳"),
        _person("P5", "孙七", "会计", status="transferred", transfer_date="2026-10-22T15:59:00Z",
                previous_position="出纳"),  # 2026-10-22 23:59 +08:00: 32 days ago
        _person("P6", "周八", "销售经理"), _person("P7", "吴九", "出纳"), _person("P8", "陈十", ""),
    ]
    accounts = [
        _acc("erp", "zhangsan", "P1"), _acc("earchive", "zhangsan", "P1"),
        _acc("erp", "lisi", "P2"), _acc("erp", "wangwu", "P3"), _acc("earchive", "wangwu", "P3"),
        _acc("erp", "zhaoliu", "P4"), _acc("erp", "sunqi", "P5"),
        _acc("erp", "zhouba", "P6"), _acc("corp-ad", "zhouba", "P6"),
        _acc("erp", "wujiu", "P7", enabled="false"),
        _acc("erp", "batch", ""), _acc("erp", "ghost", "P404"), _acc("earchive", "chenshi", "P8"),
    ]
    grants = [
        *_grants("erp", "zhangsan", "cashier"), *_grants("earchive", "zhangsan", "archive_viewer"),
        *_grants("erp", "lisi", "cashier", "gl_reviewer"),
        *_grants("erp", "wangwu", "gl_clerk", "cashier", "sys_admin"),
        *_grants("erp", "zhaoliu", "gl_clerk", "cashier"), *_grants("erp", "sunqi", "gl_clerk", "cashier"),
        *_grants("erp", "zhouba", "cashier"), *_grants("corp-ad", "zhouba", "销售部"),
        *_grants("erp", "wujiu", "sys_admin"), *_grants("erp", "batch", "sys_admin"),
        *_grants("erp", "ghost", "sys_admin"), *_grants("earchive", "chenshi", "archive_viewer"),
    ]
    return make_snapshot({"identities": identities, "accounts": accounts, "grants": grants,
                          "role_permissions": ROLE_PERMISSIONS}, timezone="Asia/Shanghai")


def test_every_finding_of_the_templates(cli, make_snapshot, write_yaml, tmp_path):
    code, doc = scan(cli, _snapshot(make_snapshot), write_yaml("p.yaml", policy_pack(POLICY)), tmp_path / "out")
    assert code == 1
    assert hits(doc) == {
        ("role_not_in_template", "account:erp:lisi"), ("forbidden_permission", "account:erp:lisi"),
        ("role_not_in_template", "account:erp:wangwu"), ("forbidden_permission", "account:erp:wangwu"),
        ("too_many_roles", "account:erp:wangwu"),
        ("required_role_missing", "account:earchive:wangwu"),
        # accountants without an earchive account, where archive_viewer exists (SPEC §5.1)
        ("required_role_missing", "person:P4"), ("required_role_missing", "person:P5"),
        ("role_not_in_template", "account:erp:sunqi"), ("forbidden_permission", "account:erp:sunqi"),
        ("role_not_in_template", "account:erp:zhouba"),
        ("role_not_in_template", "account:earchive:chenshi"),  # no position: the "*" template
    }
    f = {(x["code"], x["subject"]): x for x in doc["findings"]}
    wangwu = f[("role_not_in_template", "account:erp:wangwu")]
    assert wangwu["evidence"] == {"position": "会计", "roles": "cashier, sys_admin"}
    assert wangwu["person_id"] == "P3" and "会计" in wangwu["message"]
    assert f[("forbidden_permission", "account:erp:wangwu")]["evidence"]["permissions"] == (
        "cash.payment, cash.receipt, sys.config, sys.role.admin, sys.user.admin")
    assert f[("forbidden_permission", "account:erp:lisi")]["evidence"] == {
        "position": "出纳", "permissions": "gl.voucher.approve", "via_roles": "gl_reviewer"}
    assert f[("too_many_roles", "account:erp:wangwu")]["evidence"]["role_count"] == 3
    assert f[("required_role_missing", "account:earchive:wangwu")]["evidence"]["missing_roles"] == (
        "earchive:archive_viewer")


def test_without_a_fallback_template_other_positions_are_not_judged(cli, make_snapshot, write_yaml, tmp_path):
    policy = POLICY.replace('    "*": {allowed_roles: []}\n', "")
    _, doc = scan(cli, _snapshot(make_snapshot), write_yaml("p.yaml", policy_pack(policy)), tmp_path / "out")
    assert not {s for _, s in hits(doc)} & {"account:erp:zhouba", "account:corp-ad:zhouba",
                                            "account:earchive:chenshi"}
    assert ("role_not_in_template", "account:erp:lisi") in hits(doc)


def test_transfer_grace_is_inclusive_and_zero_by_default(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({
        "identities": [_person("P1", "钱一", "会计", transfer_date="2026-11-23", previous_position="出纳"),
                       _person("P2", "钱二", "会计", transfer_date="2026-11-22", previous_position="出纳")],
        "accounts": [_acc("erp", "qian1", "P1"), _acc("erp", "qian2", "P2")],
        "grants": [*_grants("erp", "qian1", "gl_clerk", "cashier"), *_grants("erp", "qian2", "gl_clerk", "cashier")],
        "role_permissions": ROLE_PERMISSIONS,
    })
    policy = POLICY.replace("  transfer_grace_days: 30\n", "").replace("  systems: [erp, earchive]\n",
                                                                      "  systems: [erp]\n")
    _, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(policy)), tmp_path / "out")
    assert hits(doc) == {("role_not_in_template", "account:erp:qian2"), ("forbidden_permission", "account:erp:qian2")}


def test_a_deny_removes_a_forbidden_permission(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({
        "identities": [_person("P1", "郑一", "出纳")],
        "accounts": [_acc("erp", "zheng", "P1")],
        "grants": _grants("erp", "zheng", "cashier", "gl_reviewer", "no_approve"),
        "role_permissions": [*ROLE_PERMISSIONS,
                             {"system": "erp", "role": "no_approve", "permission": "gl.voucher.*", "effect": "deny"}],
    })
    policy = POLICY.replace('["erp:cashier", "earchive:archive_viewer"]', '["erp:*"]')
    assert policy != POLICY
    _, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(policy)), tmp_path / "out")
    assert hits(doc) == {("too_many_roles", "account:erp:zheng")}
    assert "3 roles (limit 2)" in doc["findings"][0]["message"]


def test_bad_template_is_exit_2(cli, write_yaml):
    bad = POLICY.replace("      required_roles: [\"erp:cashier\"]\n", "      required_role: [cashier]\n")
    result = cli("validate", write_yaml("p.yaml", policy_pack(bad)))
    assert result.exit_code == 2
    assert "p.yaml:" in result.output and "required_role" in result.output
