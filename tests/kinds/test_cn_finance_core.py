"""The built-in pack's departure, role, retention and backup policies on a small org."""

from __future__ import annotations

import shutil

from kindtest import ROLE_PERMISSIONS, scan

from ledgerguard.scanner.policy import builtin_pack_path

CORE_FILES = ("departure.yaml", "roles.yaml", "retention.yaml", "backups.yaml")


def _pack(tmp_path):
    """Just the four core files of the built-in pack (the others need more tables)."""
    pack = tmp_path / "cn_finance"
    pack.mkdir()
    for name in CORE_FILES:
        shutil.copy(builtin_pack_path() / name, pack / name)
    return pack


def _person(pid, name, position, status="active", departure_date=""):
    return {"person_id": pid, "name": name, "position": position, "status": status,
            "departure_date": departure_date}


def _acc(system, account_id, person_id, enabled="true"):
    return {"system": system, "account_id": account_id, "person_id": person_id, "enabled": enabled}


def _bk(dataset, finished, location, offsite, **kw):
    return {"backup_id": f"{dataset}-{finished}-{location}", "dataset": dataset, "finished_at": finished,
            "status": "success", "location": location, "offsite": offsite, "encrypted": "是",
            "verified_at": "2026-11-20", "verify_status": "success", "restore_tested_at": "2026-09-01", **kw}


def test_builtin_core_policies_find_the_planted_violations(cli, make_snapshot, tmp_path):
    grants = [
        ("erp", "zhangsan", "cashier"), ("erp", "zhangsan", "gl_clerk"),  # 出纳 posting revenue/expense/debt
        ("earchive", "zhangsan", "archive_viewer"),
        ("erp", "lisi", "gl_clerk"), ("earchive", "zhaoliu", "archive_viewer"),
        ("earchive", "zhouba", "archive_viewer"), ("corp-ad", "zhouba", "销售部"),
        ("erp", "qianyi", "finance_manager"), ("erp", "qianyi", "gl_reviewer"),
    ]
    snap = make_snapshot({
        "identities": [_person("P1", "张三", "出纳"), _person("P2", "李四", "会计", "departed", "2026-11-22"),
                       _person("P4", "赵六", "档案管理员"), _person("P6", "周八", "销售经理"),
                       _person("P7", "钱一", "财务经理")],
        "accounts": [_acc("erp", "zhangsan", "P1"), _acc("earchive", "zhangsan", "P1"),
                     _acc("erp", "lisi", "P2"), _acc("earchive", "zhaoliu", "P4"),
                     _acc("earchive", "zhouba", "P6"), _acc("corp-ad", "zhouba", "P6"),
                     _acc("erp", "qianyi", "P7")],
        "grants": [{"system": s, "account_id": a, "role": r} for s, a, r in grants],
        "role_permissions": ROLE_PERMISSIONS,
        "archives": [
            {"archive_id": "A-1995-记-001", "category": "记账凭证", "fiscal_year": "1995", "status": "destroyed",
             "destroyed_at": "2026-01-05", "destruction_register_id": "XH-2026-01",
             "destruction_approved_by": "P7", "appraised_at": "2025-12-20"},
            {"archive_id": "A-2010-固-007", "category": "固定资产卡片", "fiscal_year": "2010",
             "disposed_at": "2024-03-31", "status": "destroyed", "destroyed_at": "2026-01-05",
             "destruction_register_id": "XH-2026-01", "destruction_approved_by": "P7",
             "appraised_at": "2025-12-20"},
            {"archive_id": "A-2015-报-001", "category": "年度财务会计报告", "fiscal_year": "2015",
             "status": "active"},
        ],
        "backups": [_bk("erp-db", "2026-11-22T23:00:00+08:00", "本地机房", "否"),
                    _bk("erp-db", "2026-11-22T23:30:00+08:00", "异地灾备中心", "是"),
                    _bk("earchive-db", "2026-11-22T23:00:00+08:00", "本地机房", "否"),
                    _bk("earchive-db", "2026-11-22T23:10:00+08:00", "本地机房2", "否")],
    }, timezone="Asia/Shanghai")
    code, doc = scan(cli, snap, _pack(tmp_path), tmp_path / "out")
    assert code == 1
    got = {(f["policy_id"], f["code"], f["subject"]) for f in doc["findings"]}
    assert got == {
        ("ACC-001", "enabled_after_departure", "account:erp:lisi"),
        ("ROLE-001", "role_not_in_template", "account:erp:zhangsan"),
        ("ROLE-001", "forbidden_permission", "account:erp:zhangsan"),
        ("ROLE-001", "role_not_in_template", "account:earchive:zhouba"),
        ("ROLE-002", "required_role_missing", "account:earchive:zhaoliu"),
        ("ARC-001", "destroyed_early", "archive:A-2010-固-007"),
        ("BAK-001", "no_offsite_copy", "dataset:earchive-db"),
        ("BAK-001", "no_successful_backup", "dataset:earchive-files"),
    }
    cashier = next(f for f in doc["findings"] if f["code"] == "forbidden_permission")
    assert cashier["evidence"]["permissions"] == (
        "gl.account.debt.post, gl.account.expense.post, gl.account.revenue.post")
    status = {p["id"]: p["status"] for p in doc["policies"]}
    assert status == {"ACC-001": "fail", "ROLE-001": "fail", "ROLE-002": "fail", "ARC-001": "fail",
                      "BAK-001": "fail"}


def test_builtin_pack_validates_and_lists_the_core_policies(cli):
    result = cli("validate", builtin_pack_path())
    assert result.exit_code == 0, result.output
    listed = cli("policies", "list")
    assert listed.exit_code == 0
    for pid in ("ACC-001", "ROLE-001", "ROLE-002", "ARC-001", "BAK-001"):
        assert pid in listed.output
    shown = cli("policies", "show", "ARC-001")
    assert shown.exit_code == 0 and "会计档案管理办法" in shown.output and "固定资产卡片" in shown.output
