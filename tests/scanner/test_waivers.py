"""Waivers through `ledgerguard scan` and `validate`: waived, expired, stale, the 365-day cap."""

from __future__ import annotations

import re

from conftest import DEPARTURE, policy_pack, run_findings

TABLES = {
    "identities": [
        {"person_id": "P1", "name": "张三", "status": "departed", "departure_date": "2026-11-01"},
        {"person_id": "P2", "name": "李四", "status": "departed", "departure_date": "2026-11-02"},
    ],
    "accounts": [
        {"system": "finance", "account_id": "zhangsan", "person_id": "P1", "enabled": "true"},
        {"system": "finance", "account_id": "lisi", "person_id": "P2", "enabled": "true"},
    ],
}


def waiver(subject: str, expires: str, policy: str = "ACC-001") -> str:
    return (f"  - policy: {policy}\n    subject: \"{subject}\"\n    reason: handover of open vouchers\n"
            f"    approved_by: CFO Wang\n    expires: {expires}\n")


def scan(cli, make_snapshot, write_yaml, tmp_path, waivers: str, as_of: str = "2026-11-23", *extra):
    snap = make_snapshot(TABLES)
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    wfile = write_yaml("waivers.yaml", "waivers:\n" + waivers)
    out = tmp_path / "out"
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--waivers", wfile, "--as-of", as_of,
                 "--out", out, *extra)
    return result, (run_findings(out) if (out / "findings.json").exists() else None)


def test_waived_findings_are_kept_marked_and_never_fail(cli, make_snapshot, write_yaml, tmp_path):
    result, doc = scan(cli, make_snapshot, write_yaml, tmp_path, waiver("account:finance:*", "2026-12-31"))
    assert result.exit_code == 0, result.output
    assert "waived 2" in result.output
    assert [f["status"] for f in doc["findings"]] == ["waived", "waived"]
    w = doc["findings"][0]["waiver"]
    assert w["reason"] == "handover of open vouchers" and w["approved_by"] == "CFO Wang"
    assert w["expires"] == "2026-12-31"
    assert doc["summary"]["waived"] == 2 and doc["summary"]["findings"]["critical"] == 0
    assert doc["policies"][0]["status"] == "pass" and doc["policies"][0]["findings"] == 2
    assert doc["waivers"][0]["status"] == "active" and doc["waivers"][0]["matched"] == 2


def test_only_the_globbed_subjects_are_waived(cli, make_snapshot, write_yaml, tmp_path):
    result, doc = scan(cli, make_snapshot, write_yaml, tmp_path, waiver("account:finance:zhang*", "2026-12-31"))
    assert result.exit_code == 1
    status = {f["subject"]: f["status"] for f in doc["findings"]}
    assert status == {"account:finance:zhangsan": "waived", "account:finance:lisi": "open"}


def test_a_waiver_that_expired_yesterday_makes_its_finding_count_again(cli, make_snapshot, write_yaml, tmp_path):
    result, doc = scan(cli, make_snapshot, write_yaml, tmp_path,
                       waiver("account:finance:zhangsan", "2026-11-22") + waiver("account:finance:lisi", "2026-11-23"))
    assert result.exit_code == 1  # zhangsan's finding is open again
    status = {f["subject"]: f["status"] for f in doc["findings"]}
    assert status == {"account:finance:zhangsan": "open", "account:finance:lisi": "waived"}
    expired, today = doc["waivers"]
    assert (expired["status"], expired["matched"], expired["expires"]) == ("expired", 1, "2026-11-22")
    assert (today["status"], today["matched"]) == ("active", 1)  # the expiry day itself still waives
    assert doc["summary"]["findings"]["critical"] == 1
    assert "waiver EXPIRED 2026-11-22: ACC-001 account:finance:zhangsan (1 finding(s) open again)" in result.output


def test_a_waiver_matching_nothing_is_stale(cli, make_snapshot, write_yaml, tmp_path):
    result, doc = scan(cli, make_snapshot, write_yaml, tmp_path,
                       waiver("account:finance:*", "2026-12-31") + waiver("account:finanse:wangwu", "2026-12-31")
                       + waiver("*", "2026-12-31", policy="ACC-404"))
    assert result.exit_code == 0 and "waivers: 1 active, 2 stale" in result.output
    assert [(w["subject"], w["status"], w["matched"]) for w in doc["waivers"]] == [
        ("account:finance:*", "active", 2), ("account:finanse:wangwu", "stale", 0), ("*", "stale", 0)]


def test_expiry_more_than_365_days_ahead_is_exit_2_with_its_line(cli, make_snapshot, write_yaml, tmp_path):
    result, doc = scan(cli, make_snapshot, write_yaml, tmp_path,
                       waiver("account:finance:zhangsan", "2027-11-23") + waiver("account:finance:lisi", "2027-11-24"))
    assert result.exit_code == 2 and doc is None
    assert re.search(r"waivers\.yaml:11:\d+: expires 2027-11-24 is more than 365 days after the as-of date "
                     r"2026-11-23", result.stderr), result.stderr
    assert "2027-11-23" not in result.stderr.split("latest allowed")[0]  # exactly 365 days is fine


def test_missing_fields_and_unknown_keys_are_reported_with_lines(cli, write_yaml):
    path = write_yaml("w.yaml", """
        waivers:
          - policy: ACC-001
            subject: "account:x:y"
            approved_by: me
            expires: 2026-12-01
          - policy: ACC-001
            subject: "*"
            reason: r
            approved_by: me
            expires: 2026-13-01
            colour: red
    """)
    result = cli("validate", path)
    assert result.exit_code == 2
    assert re.search(r"w\.yaml:2:\d+: .*'reason' is a required property", result.stderr)
    assert re.search(r"w\.yaml:11:5: unknown key 'colour'", result.stderr)
    assert re.search(r"w\.yaml:10:\d+: expires '2026-13-01' is not a valid date", result.stderr)


def test_validate_accepts_a_good_waiver_file(cli, write_yaml):
    import datetime as dt

    soon = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    path = write_yaml("w.yaml", "waivers:\n" + waiver("account:*", soon))
    result = cli("validate", path)
    assert result.exit_code == 0 and "1 waivers" in result.output
