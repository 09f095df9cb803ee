"""handover through the real CLI: each code on its boundary (at the limit compliant, one day past a finding)."""

from __future__ import annotations

import json

from kindtest import hits, scan

from conftest import policy_pack

AS_OF = "2026-11-23"
POLICY = """
id: HO-T
kind: handover
title: {en: Finance work is handed over, zh: 会计工作交接}
severity: high
params:
  duties: {总账: ["gl.*"], 出纳: ["cash.*"], 报表: ["report.*"]}
  supervisor_positions: [财务经理, 总经理]
  backup_datasets: [erp-db]
  backup_within_days: 1
  overlap_days: 1
"""
ROLE_PERMISSIONS = [
    {"system": "erp", "role": "gl_clerk", "permission": "gl.voucher.enter"},
    {"system": "erp", "role": "cashier", "permission": "cash.pay"},
    {"system": "erp", "role": "report_role", "permission": "report.view"},
]


def person(pid: str, position: str, status: str = "active", **kw: str) -> dict:
    return {"person_id": pid, "name": f"N{pid}", "position": position, "status": status, **kw}


def handover(hid: str, frm: str, to: str, day: str, **kw: str) -> dict:
    return {"handover_id": hid, "from_person_id": frm, "to_person_id": to, "supervisor_id": "M1",
            "handed_over_at": day, "signed_by_from": "是", "signed_by_to": "是", "signed_by_supervisor": "是",
            "scope": "erp", **kw}


def account(pid: str, enabled: bool = True, disabled_at: str = "") -> dict:
    return {"system": "erp", "account_id": pid.lower(), "person_id": pid, "enabled": str(enabled).lower(),
            "disabled_at": disabled_at}


def grant(pid: str, role: str, granted_at: str = "2019-03-01") -> dict:
    return {"system": "erp", "account_id": pid.lower(), "role": role, "granted_at": granted_at}


def revoke(cid: str, pid: str, role: str, day: str) -> dict:
    return {"change_id": cid, "system": "erp", "account_id": pid.lower(), "action": "revoke", "role": role,
            "performed_at": f"{day}T17:00:00+08:00"}


def organisation() -> dict[str, list[dict]]:
    gone = lambda pid, pos, day: person(pid, pos, "departed", departure_date=day)  # noqa: E731
    identities = [
        person("M1", "财务经理"), person("U1", "总经理"), person("X1", "会计"), person("R2", "会计"),
        person("R1", "会计"), person("R3", "出纳"), person("R4", "会计"), person("D1", "会计", "departed",
                                                                            departure_date="2026-01-05"),
        gone("A1", "会计", "2026-11-23"), gone("A2", "会计", "2026-11-22"),
        gone("A3", "会计", "2026-11-10"), gone("A4", "会计", "2026-11-10"),
        gone("C1", "出纳", "2026-11-20"), gone("C2", "出纳", "2026-11-19"),
        gone("O1", "会计", "2026-11-10"), gone("O2", "会计", "2026-11-10"),
        person("T1", "出纳", transfer_date="2026-11-15", previous_position="会计"),
    ]
    leavers = {"A1": "2026-11-23", "A2": "2026-11-22", "A3": "2026-11-10", "A4": "2026-11-10",
               "C1": "2026-11-20", "C2": "2026-11-19", "O1": "2026-11-10", "O2": "2026-11-10"}
    accounts = [account(p) for p in ("R1", "R3", "R4", "T1", "X1")]
    accounts += [account(p, False, f"{d}T18:00:00+08:00") for p, d in leavers.items()]
    grants = [grant(p, "gl_clerk") for p in ("A1", "A2", "A3", "A4", "R1", "T1")]
    grants += [grant("C1", "cashier"), grant("C2", "cashier"), grant("R3", "cashier", "2026-11-21T09:00:00+08:00"),
               grant("R4", "report_role", "2026-11-10T09:00:00+08:00"), grant("T1", "cashier", "2026-11-22")]
    changes = [revoke("CH-1", "O1", "report_role", "2026-11-11"), revoke("CH-2", "O2", "report_role", "2026-11-12")]
    handovers = [
        handover("H3", "A3", "R1", "2026-11-10"),                       # on the departure day: on time
        handover("H4", "A4", "R1", "2026-11-11"),                       # one day late
        handover("H10", "X1", "R1", "2026-11-20"),                      # compliant row (backup 11-19: at the limit)
        handover("H11", "X1", "R1", "2026-11-20", signed_by_supervisor="否"),
        handover("H12", "X1", "R1", "2026-11-20", supervisor_id=""),
        handover("H13", "X1", "R1", "2026-11-20", supervisor_id="X1"),
        handover("H14", "X1", "R1", "2026-11-20", supervisor_id="R2"),  # a 会计 may not supervise
        handover("H15", "X1", "", "2026-11-20"),
        handover("H15b", "X1", "P404", "2026-11-20"),
        handover("H16", "X1", "D1", "2026-11-20"),
        handover("H17", "X1", "R1", "2026-11-18"),                      # last verified backup 11-16: 2 days
        handover("H18", "C1", "R3", "2026-11-20"), handover("H19", "C2", "R3", "2026-11-19"),
        handover("H20", "O1", "R4", "2026-11-10"),                      # O1 revoked 11-11: overlap 1 day (limit)
        handover("H21", "O2", "R4", "2026-11-10"),                      # O2 revoked 11-12: 2 days
    ]
    backup = lambda day, verify="success": {  # noqa: E731
        "backup_id": f"erp-db-{day}", "dataset": "erp-db", "finished_at": f"{day}T03:00:00+08:00",
        "status": "success", "verify_status": verify}
    backups = [backup("2026-11-10"), backup("2026-11-16"), backup("2026-11-17", "failed"), backup("2026-11-19")]
    return {"identities": identities, "accounts": accounts, "grants": grants, "role_permissions": ROLE_PERMISSIONS,
            "changes": changes, "handovers": handovers, "backups": backups}


def test_every_code_on_its_boundary(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(organisation(), timezone="Asia/Shanghai")
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(POLICY)), tmp_path / "out", AS_OF)
    assert code == 1
    found = hits(doc)
    expected = {
        ("no_handover", "person:A2"),                 # left yesterday, grace 0: due today
        ("no_handover", "person:T1"),                 # a mover who held 总账
        ("late_handover", "person:A4"),
        ("signature_missing", "handover:H11"),
        ("supervisor_missing", "handover:H12"),
        ("supervisor_is_party", "handover:H13"),
        ("supervisor_position", "handover:H13"),
        ("supervisor_position", "handover:H14"),
        ("receiver_unknown", "handover:H15"),
        ("receiver_unknown", "handover:H15b"),
        ("receiver_not_active", "handover:H16"),
        ("no_backup_before_handover", "handover:H17"),
        ("duty_gap", "person:C2"),                    # R3 got cashier 11-21, C2's check day is 11-20
        ("duty_overlap", "person:O2"),
    }
    assert expected <= found, expected - found
    for compliant in ("person:A1", "person:A3", "person:C1", "person:O1", "handover:H3", "handover:H10",
                      "handover:H18", "handover:H19", "handover:H20", "handover:H21"):
        assert not any(s == compliant for _, s in found), compliant
    assert found - expected == set(), found - expected
    f = {(x["code"], x["subject"]): x for x in doc["findings"]}
    gap = f[("duty_gap", "person:C2")]
    assert gap["evidence"]["check_day"] == "2026-11-20" and gap["evidence"]["duty"] == "出纳"
    overlap = f[("duty_overlap", "person:O2")]["evidence"]
    assert (overlap["overlap_days"], overlap["leaver_until"], overlap["receiver_from"]) == (2, "2026-11-12",
                                                                                          "2026-11-10")
    assert f[("signature_missing", "handover:H11")]["evidence"]["missing_signatures"] == ["the supervisor"]
    assert f[("no_handover", "person:T1")]["evidence"]["event"] == "transfer"
    assert f[("late_handover", "person:A4")]["evidence"]["handed_over_at"] == "2026-11-11"
    backup = f[("no_backup_before_handover", "handover:H17")]["evidence"]
    assert backup["last_backup_before"] == "2026-11-16T03:00:00+08:00"  # the failed 11-17 check does not count


def test_unknown_person_in_the_register_is_an_error_naming_row_and_column(cli, make_snapshot, write_yaml, tmp_path):
    tables = organisation()
    tables["handovers"].append(handover("H99", "P404", "R1", "2026-11-20"))
    snap = make_snapshot(tables, timezone="Asia/Shanghai")
    result = cli("scan", "--snapshot", snap, "--policies", write_yaml("p.yaml", policy_pack(POLICY)),
                 "--as-of", AS_OF, "--out", tmp_path / "out")
    assert result.exit_code == 3, result.output
    doc = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    policy = next(p for p in doc["policies"] if p["id"] == "HO-T")
    assert policy["status"] == "error"
    assert "'handovers'" in policy["error"] and "'from_person_id'" in policy["error"]
    assert "row 16: 'P404'" in policy["error"]


def test_unparseable_handover_date_is_bad_input(cli, make_snapshot, write_yaml, tmp_path):
    tables = organisation()
    tables["handovers"][2]["handed_over_at"] = "2026-13-45"
    snap = make_snapshot(tables, timezone="Asia/Shanghai")
    result = cli("scan", "--snapshot", snap, "--policies", write_yaml("p.yaml", policy_pack(POLICY)),
                 "--as-of", AS_OF, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "handovers.csv:4" in result.output and "row 3, column 'handed_over_at'" in result.output


REGISTER = """\
交接编号,移交人工号,接替人工号,监交人工号,交接日期,移交人签字,接替人签字,监交人签字
JJ-1,A3,R1,M1,2026/11/10,是,是,是
JJ-2,A4,R1,M1,2026年13月11日,是,是,否
"""


def test_register_with_chinese_headers_through_the_file_connector(cli, tmp_path):
    """The register as a finance office keeps it: Chinese headers, 是/否, Chinese dates; a bad date
    fails the source at collect (exit 3, no snapshot written) naming the file, row and column."""
    (tmp_path / "移交清册.csv").write_text(REGISTER, encoding="utf-8")
    (tmp_path / "sources.yaml").write_text(
        "timezone: Asia/Shanghai\nsources:\n  - name: handover-register\n    kind: file\n"
        "    path: 移交清册.csv\n    table: handovers\n"
        "    columns: {交接编号: handover_id, 移交人工号: from_person_id, 接替人工号: to_person_id,\n"
        "              监交人工号: supervisor_id, 交接日期: handed_over_at, 移交人签字: signed_by_from,\n"
        "              接替人签字: signed_by_to, 监交人签字: signed_by_supervisor}\n"
        "    date_formats: [\"%Y/%m/%d\", \"%Y年%m月%d日\"]\n", encoding="utf-8")
    result = cli("collect", "--sources", tmp_path / "sources.yaml", "--out", tmp_path / "snap")
    assert result.exit_code == 3, result.output
    assert "移交清册.csv:3: row 2, column '交接日期' (handed_over_at): '2026年13月11日'" in result.output
    (tmp_path / "移交清册.csv").write_text(REGISTER.replace("2026年13月11日", "2026年11月11日"), encoding="utf-8")
    result = cli("collect", "--sources", tmp_path / "sources.yaml", "--out", tmp_path / "snap")
    assert result.exit_code == 0, result.output
    from ledgerguard.scanner.snapshot import read_snapshot

    register = read_snapshot(tmp_path / "snap").table("handovers")
    assert register["handed_over_at"].dt.strftime("%Y-%m-%d").tolist() == ["2026-11-10", "2026-11-11"]
    assert register["signed_by_supervisor"].tolist() == [True, False]
