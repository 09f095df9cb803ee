"""A small finance org on disk for the gate tests: snapshot, policy pack, change files."""

from __future__ import annotations

from pathlib import Path

from conftest import policy_pack, write_snapshot_dir

ROLE_PERMISSIONS = [
    {"system": "erp", "role": role, "permission": perm}
    for role, perms in {
        "cashier": ["cash.payment", "cash.receipt"],
        "gl_clerk": ["gl.voucher.enter", "gl.account.expense.post"],
        "gl_reviewer": ["gl.voucher.approve"],
        "finance_manager": ["gl.voucher.approve", "report.close_period"],
        "user_admin": ["sys.user.admin"],  # held by nobody: SOD-003's rule has something to match
    }.items()
    for perm in perms
]


def org_tables(cashier_name: str = "张三") -> dict[str, list[dict]]:
    """P1 cashier; P2 accountant who also holds cashier (an existing SoD conflict);
    P3 finance manager (the approver); P5 accountant (the mover)."""
    return {
        "identities": [
            {"person_id": "P1", "name": cashier_name, "position": "出纳", "status": "active"},
            {"person_id": "P2", "name": "李四", "position": "会计", "status": "active"},
            {"person_id": "P3", "name": "王五", "position": "财务经理", "status": "active"},
            {"person_id": "P5", "name": "孙七", "position": "会计", "status": "active"},
        ],
        "accounts": [
            {"system": "erp", "account_id": "zhangsan", "person_id": "P1", "display_name": cashier_name,
             "enabled": "true"},
            {"system": "erp", "account_id": "lisi", "person_id": "P2", "display_name": "李四", "enabled": "true"},
            {"system": "erp", "account_id": "wangwu", "person_id": "P3", "display_name": "王五", "enabled": "true"},
            {"system": "erp", "account_id": "sunqi", "person_id": "P5", "display_name": "孙七", "enabled": "true"},
        ],
        "grants": [
            {"system": "erp", "account_id": "zhangsan", "role": "cashier"},
            {"system": "erp", "account_id": "lisi", "role": "gl_reviewer"},
            {"system": "erp", "account_id": "lisi", "role": "cashier"},
            {"system": "erp", "account_id": "wangwu", "role": "finance_manager"},
            {"system": "erp", "account_id": "sunqi", "role": "gl_clerk"},
        ],
        "role_permissions": ROLE_PERMISSIONS,
    }


POLICIES = [
    """
    id: SOD-001
    kind: segregation_of_duties
    title: The cashier does not approve vouchers
    severity: high
    params:
      rules: [{id: CASHIER-REVIEW, left: ["cash.*"], right: [gl.voucher.approve]}]
    """,
    """
    id: CHG-001
    kind: change_approval
    title: Permission changes are requested and approved first
    severity: high
    params: {approver_positions: [财务经理]}
    """,
    """
    id: ROLE-001
    kind: role_template
    title: Roles follow the position
    severity: medium
    params:
      templates:
        出纳: {allowed_roles: [cashier]}
        会计: {allowed_roles: [gl_clerk, gl_reviewer]}
        财务经理: {allowed_roles: [finance_manager]}
    """,
    """
    id: ACC-001
    kind: revoke_on_departure
    title: Departed staff keep no enabled account
    severity: critical
    """,
]


def write_org(root: Path, cashier_name: str = "张三", **more: list[dict]) -> tuple[Path, Path]:
    """The snapshot folder (plus the tables ``more``) and the policy file under ``root``."""
    snap = write_snapshot_dir(root / "snapshot", {**org_tables(cashier_name), **more}, timezone="Asia/Shanghai",
                              taken_at="2026-11-23T02:00:00+08:00")
    pack = root / "policies.yaml"
    pack.write_text(policy_pack(*POLICIES), encoding="utf-8")
    return snap, pack


#: the bad change: a cashier gets voucher approval (line 5), properly requested and approved
BAD_CHANGE = """\
changes:
  - {action: grant, system: erp, account_id: sunqi, role: gl_reviewer,
     request_id: REQ-1041, requested_by: P2, approved_by: P3}
  # the cashier asks for voucher approval
  - {action: grant, system: erp, account_id: zhangsan, role: gl_reviewer,
     request_id: REQ-1042, requested_by: P2, approved_by: P3}
"""
BAD_LINE = 5

#: the good change: the existing conflict of lisi is resolved
GOOD_CHANGE = """\
changes:
  - {action: revoke, system: erp, account_id: lisi, role: cashier,
     request_id: REQ-1043, requested_by: P2, approved_by: P3}
"""
