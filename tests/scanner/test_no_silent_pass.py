"""Issue 12: no silent PASS. Each case a user or an attacker saw is run through the real
CLI; the exit code and what every report says (HTML banner, Excel Summary, JUnit,
SARIF, CSV, findings.json) must agree on one verdict: PASS, FAIL or NO VERDICT."""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import openpyxl
import pytest

from conftest import policy_pack, run_findings

ALL = "html,xlsx,json,junit,sarif,csv"
ACCESS = Path(__file__).parents[2] / "policies" / "cn_finance" / "tests" / "access" / "snapshot"
VERDICT_OF_EXIT = {0: "PASS", 1: "FAIL", 3: "NO VERDICT"}


def write_pack(tmp_path: Path, *policies: str) -> Path:
    pack = tmp_path / "p.yaml"
    pack.write_text(policy_pack(*policies), encoding="utf-8")
    return pack


def scan(cli, snap: Path, out: Path, *extra: object, pack: Path | None = None):
    """``ledgerguard scan`` as of 2026-11-23 writing every report format into ``out``."""
    policies = ("--policies", pack) if pack else ()
    return cli("scan", "--snapshot", snap, *policies, "--as-of", "2026-11-23", "--format", ALL, "--out", out,
               *extra)


def views(out: Path) -> dict[str, object]:
    """What each written report says about the scan's verdict."""
    html = (out / "report.html").read_text(encoding="utf-8")
    banner = re.search(r'<div class="result (\w+)">([^<]*)</div>', html)
    summary = openpyxl.load_workbook(out / "report.xlsx", read_only=True)["Summary"]
    result = next(r[1] for r in summary.iter_rows(values_only=True) if r[0] == "Result")
    junit = ET.parse(out / "junit.xml").getroot()
    sarif = json.loads((out / "findings.sarif").read_text(encoding="utf-8"))["runs"][0]
    with open(out / "findings.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {
        "json": run_findings(out)["summary"]["verdict"],
        "html": banner.group(2).split(":")[0],
        "html_class": banner.group(1),
        "xlsx": result.split(":")[0],
        "junit_errors": int(junit.get("errors")),
        "junit_verdicts": {p.get("value") for p in junit.iter("property") if p.get("name") == "verdict"},
        "sarif_ok": sarif["invocations"][0]["executionSuccessful"],
        "sarif_verdict": sarif["properties"]["verdict"],
        "csv": {r["verdict"] for r in rows},
        "csv_rows": rows,
    }


def assert_one_verdict(result, out: Path) -> dict[str, object]:
    """Exit code and every view tell the same verdict; returns the views for more checks."""
    verdict = VERDICT_OF_EXIT[result.exit_code]
    v = views(out)
    assert verdict in result.output.splitlines()[-1], result.output
    assert v["json"] == v["html"] == v["xlsx"] == v["sarif_verdict"] == verdict, v
    assert v["junit_verdicts"] == {verdict}
    assert v["sarif_ok"] is (verdict != "NO VERDICT")
    assert v["csv"] <= {verdict} and (v["csv"] or verdict == "PASS")
    if verdict == "NO VERDICT":
        assert v["html_class"] == "error" and v["junit_errors"] > 0
    return v


# 1. the reports contradicted the exit code ------------------------------------------------

def test_the_reports_say_no_verdict_when_the_scan_exits_3(cli, tmp_path):
    out = tmp_path / "out"
    result = cli("scan", "--snapshot", ACCESS, "--as-of", "2026-11-23", "--fail-on", "critical",
                 "--format", ALL, "--out", out)
    assert result.exit_code == 3, result.output
    v = assert_one_verdict(result, out)
    assert "PASS" not in (out / "report.html").read_text(encoding="utf-8").split('class="result')[1][:200]
    errored = {r["policy_id"] for r in v["csv_rows"] if r["status"] in ("error", "inconclusive")}
    assert {"BAK-001", "CHG-001", "INT-001", "ARC-001"} <= errored


def test_a_snapshot_on_which_every_policy_errored_has_no_verdict(cli, make_snapshot, tmp_path):
    snap = make_snapshot({"logins": [{"system": "erp", "account_id": "a", "at": "2026-01-01"}]})
    out = tmp_path / "out"
    result = scan(cli, snap, out)
    assert result.exit_code == 3, result.output
    v = assert_one_verdict(result, out)
    doc = run_findings(out)
    assert doc["summary"]["passed"] == 0 and v["junit_errors"] == doc["summary"]["policies"]


def test_a_failed_source_alone_gives_no_verdict_in_every_view(cli, make_snapshot, tmp_path):
    snap = make_snapshot(
        {"accounts": [{"system": "erp", "account_id": "a", "enabled": "true", "person_id": "P1"}],
         "identities": [{"person_id": "P1", "status": "active"}]},
        sources=[{"name": "ldap", "kind": "ldap", "status": "error", "error": "timeout", "tables": ["grants"]}])
    pack = write_pack(tmp_path, """
        id: DOR-T
        kind: dormant_account
        title: dormant
        severity: low
    """)
    out = tmp_path / "out"
    result = scan(cli, snap, out, pack=pack)
    assert result.exit_code == 3, result.output
    v = assert_one_verdict(result, out)
    assert any(r["code"] == "source_error" for r in v["csv_rows"])


def test_pass_and_fail_are_the_same_in_every_view(cli, make_snapshot, tmp_path):
    people = [{"person_id": "P1", "status": "departed", "departure_date": "2026-10-01"}]
    pack = write_pack(tmp_path, """
        id: ACC-T
        kind: revoke_on_departure
        title: departed
        severity: critical
    """)
    for enabled, code in (("true", 1), ("false", 0)):
        snap = make_snapshot({"identities": people, "accounts": [
            {"system": "erp", "account_id": "a", "person_id": "P1", "enabled": enabled}]})
        out = tmp_path / f"out{code}"
        result = scan(cli, snap, out, pack=pack)
        assert result.exit_code == code, result.output
        assert_one_verdict(result, out)


# 2. vacuous passes: a policy that examined nothing is inconclusive, never pass ---------------

PEOPLE = [{"person_id": "P1", "name": "张三", "position": "出纳", "status": "active"}]
ACCOUNTS = [{"system": "tryton", "account_id": "zhang", "person_id": "P1", "enabled": "true",
             "mfa_enabled": "false"}]
GRANTS = [{"system": "tryton", "account_id": "zhang", "role": "Account Administration"}]
PERMS = [{"system": "tryton", "role": "Account Administration", "permission": "account.move.post"},
         {"system": "tryton", "role": "Account Administration", "permission": "account.move.create"}]

VACUOUS = {
    "sod": """
        id: SOD-T
        kind: segregation_of_duties
        title: sod
        severity: high
        params:
          rules:
            - {id: ENTER-APPROVE, left: ["gl.voucher.create"], right: ["gl.voucher.approve"]}
    """,
    "mfa": """
        id: MFA-T
        kind: privileged_mfa
        title: mfa
        severity: high
        params: {privileged_permissions: ["sys.*", "bank.payment.release"]}
    """,
    "departure_systems": """
        id: ACC-T
        kind: revoke_on_departure
        title: departed
        severity: critical
        params: {systems: [erp]}
    """,
    "template_nobody_holds": """
        id: ROLE-T
        kind: role_template
        title: roles
        severity: high
        params:
          templates:
            会计: {allowed_roles: [gl_clerk]}
    """,
}


@pytest.mark.parametrize("case", sorted(VACUOUS))
def test_a_policy_that_examined_nothing_is_inconclusive(cli, make_snapshot, tmp_path, case):
    snap = make_snapshot({"identities": PEOPLE, "accounts": ACCOUNTS, "grants": GRANTS,
                          "role_permissions": PERMS})
    pack = write_pack(tmp_path, VACUOUS[case])
    out = tmp_path / "out"
    result = scan(cli, snap, out, pack=pack)
    assert result.exit_code == 3, result.output
    assert_one_verdict(result, out)
    policy = run_findings(out)["policies"][0]
    assert policy["status"] == "inconclusive" and policy["coverage"] is not None
    assert "INCONCLUSIVE" in result.output
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Coverage:" in html and policy["error"] in html


def test_backup_globs_that_match_no_dataset_are_inconclusive(cli, make_snapshot, tmp_path):
    snap = make_snapshot({"backups": [{"backup_id": "1", "dataset": "erp-db", "finished_at": "2026-11-22",
                                       "status": "success"}]})
    pack = write_pack(tmp_path, """
        id: BAK-T
        kind: backup_frequency
        title: backups
        severity: high
        params: {datasets: ["gl-*"]}
    """)
    out = tmp_path / "out"
    result = scan(cli, snap, out, pack=pack)
    assert result.exit_code == 3, result.output
    assert_one_verdict(result, out)
    assert run_findings(out)["policies"][0]["coverage"]["matched"] == {"datasets": {"gl-*": 0}}


def test_one_rule_that_matched_nothing_is_a_warning_beside_the_policy(cli, make_snapshot, tmp_path):
    perms = [*PERMS, {"system": "tryton", "role": "Account Administration", "permission": "gl.voucher.create"},
             {"system": "tryton", "role": "Account Administration", "permission": "gl.voucher.approve"}]
    snap = make_snapshot({"identities": PEOPLE, "accounts": ACCOUNTS, "grants": GRANTS, "role_permissions": perms})
    pack = write_pack(tmp_path, """
        id: SOD-T
        kind: segregation_of_duties
        title: sod
        severity: low
        params:
          rules:
            - {id: ENTER-APPROVE, left: ["gl.voucher.create"], right: ["gl.voucher.approve"]}
            - {id: VENDOR-PAY, left: ["ap.vendor.*"], right: ["bank.payment.*"]}
    """)
    out = tmp_path / "out"
    result = scan(cli, snap, out, "--fail-on", "never", pack=pack)
    assert result.exit_code == 0, result.output
    assert_one_verdict(result, out)
    policy = run_findings(out)["policies"][0]
    assert policy["status"] == "fail" and policy["coverage"]["matched"]["rules"] == {"ENTER-APPROVE": 2,
                                                                                     "VENDOR-PAY": 0}
    warning = "rules 'VENDOR-PAY' matched nothing in the snapshot"
    assert policy["warnings"] == [warning]
    assert f"warning SOD-T: {warning}" in result.output
    assert warning.replace("'", "&#39;") in (out / "report.html").read_text(encoding="utf-8")
    sheet = openpyxl.load_workbook(out / "report.xlsx", read_only=True)["Policies"]
    assert any(warning in str(c) for row in sheet.iter_rows(values_only=True) for c in row)


# 3. unknown values are errors, not harmless --------------------------------------------------

@pytest.mark.parametrize("status", ["Departed", "离职", "gone"])
def test_an_identity_status_outside_the_vocabulary_is_bad_input(cli, make_snapshot, tmp_path, status):
    snap = make_snapshot({
        "identities": [{"person_id": "P1", "status": "active"},
                       {"person_id": "P2", "status": status, "departure_date": "2026-10-01"}],
        "accounts": [{"system": "erp", "account_id": "a", "person_id": "P2", "enabled": "true"}]})
    result = cli("scan", "--snapshot", snap, "--as-of", "2026-11-23", "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert f"identities.csv:3: row 2, column 'status': {status!r} is not one of active, departed" in result.output
    assert "(table 'identities'" in result.output


def test_surrounding_whitespace_is_trimmed_so_the_departure_is_seen(cli, make_snapshot, tmp_path):
    snap = make_snapshot({
        "identities": [{"person_id": "P2", "status": " departed ", "departure_date": "2026-10-01"}],
        "accounts": [{"system": "erp", "account_id": "a", "person_id": "P2", "enabled": "true"}]})
    pack = write_pack(tmp_path, """
        id: ACC-T
        kind: revoke_on_departure
        title: departed
        severity: critical
    """)
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", tmp_path / "o")
    assert result.exit_code == 1, result.output
    assert [f["code"] for f in run_findings(tmp_path / "o")["findings"]] == ["enabled_after_departure"]


@pytest.mark.parametrize(("table", "column", "row", "bad"), [
    ("archives", "status", {"archive_id": "A1", "category": "总账", "fiscal_year": "2015"}, "Destroyed"),
    ("accounts", "account_type", {"system": "erp", "account_id": "a", "enabled": "true"}, "robot"),
    ("role_permissions", "effect", {"system": "erp", "role": "r", "permission": "p"}, "forbid"),
    ("changes", "action", {"change_id": "C1", "system": "erp", "performed_at": "2026-11-01"}, "Grant"),
    ("reviews", "decision", {"system": "erp", "account_id": "a", "reviewed_at": "2026-11-01"}, "remove"),
])
def test_every_closed_vocabulary_is_enforced(cli, make_snapshot, tmp_path, table, column, row, bad):
    snap = make_snapshot({table: [{**row, column: bad}]})
    result = cli("scan", "--snapshot", snap, "--as-of", "2026-11-23", "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert f"{table}.csv:2: row 1, column {column!r}: {bad!r} is not one of" in result.output


def test_the_file_connector_maps_its_own_words_into_the_vocabulary(cli, tmp_path):
    (tmp_path / "hr.csv").write_text("工号,状态,离职日期\nP1,在职,\nP2,离职,2026-10-01\n", encoding="utf-8")
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - name: hr\n    kind: file\n    path: hr.csv\n    table: identities\n"
        "    columns: {工号: person_id, 状态: status, 离职日期: departure_date}\n"
        "    values: {状态: {在职: active, 离职: departed}}\n", encoding="utf-8")
    result = cli("collect", "--sources", tmp_path / "sources.yaml", "--out", tmp_path / "snap")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "snap" / "identities.csv").read_text(encoding="utf-8")
    assert "P2,departed" in text


# 4. xlsx formulas: the cached value, or an error naming sheet, cell and column -----------------

def _accounts_sources(tmp_path: Path, book: Path) -> Path:
    src = tmp_path / "sources.yaml"
    src.write_text(f"sources:\n  - name: erp\n    kind: file\n    path: {book.name}\n    table: accounts\n"
                   "    sheet: accounts\n", encoding="utf-8")
    return src


def test_an_xlsx_formula_without_a_cached_value_is_an_error(cli, tmp_path):
    book = tmp_path / "accounts.xlsx"
    wb = openpyxl.Workbook()  # openpyxl writes formulas without a cached value
    ws = wb.active
    ws.title = "accounts"
    ws.append(["system", "account_id", "person_id", "enabled"])
    ws.append(["erp", "zhang", "P1", "=TRUE()"])
    wb.save(book)
    result = cli("collect", "--sources", _accounts_sources(tmp_path, book), "--out", tmp_path / "snap")
    assert result.exit_code == 3, result.output
    assert "sheet 'accounts', cell D2 (column 'enabled'): formula =TRUE() cannot be read" in result.output
    assert not (tmp_path / "snap").exists()


def test_an_xlsx_formula_from_xlsxwriter_is_not_read_as_its_placeholder_zero(cli, tmp_path):
    import xlsxwriter

    book = tmp_path / "accounts.xlsx"
    wb = xlsxwriter.Workbook(book)  # caches 0 for every formula and asks for recalculation on load
    ws = wb.add_worksheet("accounts")
    ws.write_row(0, 0, ["system", "account_id", "person_id", "enabled"])
    ws.write_row(1, 0, ["erp", "zhang", "P1"])
    ws.write_formula(1, 3, "=TRUE()")
    wb.close()
    result = cli("collect", "--sources", _accounts_sources(tmp_path, book), "--out", tmp_path / "snap")
    assert result.exit_code == 3, result.output
    assert "cell D2 (column 'enabled'): formula =TRUE() cannot be read: the workbook marks" in result.output


def test_an_xlsx_formula_with_a_cached_value_is_read_by_it(cli, tmp_path):
    """A workbook saved by a spreadsheet program: its formulas carry their computed values."""
    import zipfile

    import xlsxwriter

    written = tmp_path / "written.xlsx"
    wb = xlsxwriter.Workbook(written)
    ws = wb.add_worksheet("accounts")
    ws.write_row(0, 0, ["system", "account_id", "person_id", "enabled"])
    ws.write_row(1, 0, ["erp", "zhang", "P1"])
    ws.write_formula(1, 3, "=TRUE()", None, True)
    wb.close()
    book = tmp_path / "accounts.xlsx"  # as Excel saves it: calculated, no recalculation flag
    with zipfile.ZipFile(written) as src, zipfile.ZipFile(book, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/workbook.xml":
                data = re.sub(rb"<calcPr[^>]*/>", b"", data)
            dst.writestr(item, data)
    result = cli("collect", "--sources", _accounts_sources(tmp_path, book), "--out", tmp_path / "snap")
    assert result.exit_code == 0, result.output
    assert "erp,zhang,P1,true" in (tmp_path / "snap" / "accounts.csv").read_text(encoding="utf-8")


# 5. the manifest is validated ----------------------------------------------------------------

def _manifest(snap: Path, **changes) -> None:
    manifest = json.loads((snap / "manifest.json").read_text(encoding="utf-8"))
    manifest.update(changes)
    (snap / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def _accounts_snapshot(make_snapshot) -> Path:
    return make_snapshot({"accounts": [{"system": "erp", "account_id": "a", "enabled": "true"}]})


@pytest.mark.parametrize("file", ["../outside.csv", "/etc/passwd", "../../../../../etc/passwd", "sub/accounts.csv",
                                  "..", "sub\\accounts.csv"])
def test_a_table_file_must_be_a_plain_name_inside_the_snapshot(cli, make_snapshot, tmp_path, file):
    snap = _accounts_snapshot(make_snapshot)
    (snap.parent / "outside.csv").write_text("system,account_id,enabled\nerp,x,true\n", encoding="utf-8")
    _manifest(snap, tables={"accounts": {"file": file}})
    result = cli("scan", "--snapshot", snap, "--as-of", "2026-11-23", "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "manifest.json:1:" in result.output and "tables/accounts/file" in result.output
    assert not (tmp_path / "out" / "findings.json").exists()


def test_a_symlink_out_of_the_snapshot_is_refused_on_its_real_path(cli, make_snapshot, tmp_path):
    snap = _accounts_snapshot(make_snapshot)
    (snap.parent / "outside.csv").write_text("system,account_id,enabled\nerp,x,true\n", encoding="utf-8")
    (snap / "accounts.csv").unlink()
    (snap / "accounts.csv").symlink_to(snap.parent / "outside.csv")
    result = cli("scan", "--snapshot", snap, "--as-of", "2026-11-23", "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "leads out of the snapshot folder" in result.output


@pytest.mark.parametrize("status", ["Error", "failed", "OK", ""])
def test_a_source_status_is_exactly_ok_or_error(cli, make_snapshot, tmp_path, status):
    snap = _accounts_snapshot(make_snapshot)
    _manifest(snap, sources=[{"name": "erp", "kind": "sql", "status": status, "tables": ["accounts"]}])
    result = cli("scan", "--snapshot", snap, "--as-of", "2026-11-23", "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "sources/0/status" in result.output and "is not one of ['ok', 'error']" in result.output


def test_duplicate_manifest_keys_are_errors_not_last_wins(cli, make_snapshot, tmp_path):
    snap = _accounts_snapshot(make_snapshot)
    (snap / "decoy.csv").write_text("system,account_id,enabled\n", encoding="utf-8")
    (snap / "manifest.json").write_text(
        '{"format": "ledgerguard-snapshot/1",\n "tables": {"accounts": {"file": "accounts.csv"},\n'
        '            "accounts": {"file": "decoy.csv"}}}\n', encoding="utf-8")
    result = cli("scan", "--snapshot", snap, "--as-of", "2026-11-23", "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "manifest.json:3:13: duplicate key 'accounts'" in result.output


@pytest.mark.parametrize(("change", "message"), [
    ({"tables": []}, "tables: [] is not of type 'object'"),
    ({"tables": {"accounts": {"file": "accounts.csv", "sha256": 12}}}, "tables/accounts/sha256: 12 is not of type"),
    ({"tables": {"accounts": {"file": "accounts.csv", "sha256": "zz"}}}, "does not match"),
    ({"sources": [{"name": "erp", "status": "ok", "tables": ["accounts", "grants"]}]},
     "table 'grants' of source 'erp' is not in 'tables'"),
    ({"tables": {"accounts": {"file": "accounts.csv"}, "grants": {"file": "accounts.csv"}}},
     "tables 'accounts' and 'grants' both name file 'accounts.csv'"),
])
def test_the_manifest_is_checked_against_its_schema(cli, make_snapshot, tmp_path, change, message):
    snap = _accounts_snapshot(make_snapshot)
    _manifest(snap, **change)
    result = cli("scan", "--snapshot", snap, "--as-of", "2026-11-23", "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


# 6. waivers in every count -------------------------------------------------------------------

def test_waived_findings_are_counted_apart_and_a_fully_waived_policy_says_so(cli, make_snapshot, tmp_path):
    people = [{"person_id": f"P{i}", "status": "departed", "departure_date": "2026-10-01"} for i in range(10)]
    accounts = [{"system": "erp", "account_id": f"u{i}", "person_id": f"P{i}", "enabled": "true"} for i in range(10)]
    snap = make_snapshot({"identities": people, "accounts": accounts})
    pack = write_pack(tmp_path, """
        id: ACC-001
        kind: revoke_on_departure
        title: departed
        severity: critical
    """, """
        id: ACC-002
        kind: revoke_on_departure
        title: departed again
        severity: low
    """)
    waivers = tmp_path / "w.yaml"
    waivers.write_text("waivers:\n" + "".join(
        f"  - {{policy: ACC-001, subject: 'account:erp:u{i}', reason: migration, approved_by: P99, "
        f"expires: 2026-12-31}}\n" for i in range(6)) +
        "  - {policy: ACC-002, subject: 'account:erp:*', reason: low, approved_by: P99, expires: 2026-12-31}\n",
        encoding="utf-8")
    out = tmp_path / "out"
    result = scan(cli, snap, out, "--waivers", waivers, pack=pack)
    assert result.exit_code == 1, result.output
    assert_one_verdict(result, out)
    assert "ACC-001 critical 4 open, 6 waived" in result.output
    assert "ACC-002 low      pass (10 waived)" in result.output
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "fail (4 open, 6 waived)" in html and "pass (10 waived)" in html
    book = openpyxl.load_workbook(out / "report.xlsx", read_only=True)
    states = {r[0]: r[3] for r in book["Summary"].iter_rows(values_only=True) if r[0] in ("ACC-001", "ACC-002")}
    assert states == {"ACC-001": "fail (4 open, 6 waived)", "ACC-002": "pass (10 waived)"}
    junit = ET.parse(out / "junit.xml").getroot()
    cases = {c.get("name").split()[0]: c for c in junit.iter("testcase")}
    assert cases["ACC-001"].find("failure").get("message").startswith("4 open, 6 waived")
    assert cases["ACC-002"].find("system-out").text.startswith("state: pass (10 waived)")
    policies = {p["id"]: p for p in run_findings(out)["policies"]}
    acc2 = policies["ACC-002"]
    assert (acc2["status"], acc2["open"], acc2["waived"]) == ("pass", 0, 10)


# 7. a required role is demanded only where it exists ------------------------------------------

ROLES = """
    id: ROLE-T
    kind: role_template
    title: roles
    severity: low
    params:
      templates:
        出纳: {allowed_roles: ["*"], required_roles: [fin_cashier]}
"""


def test_a_required_role_is_judged_only_in_the_systems_where_it_exists(cli, make_snapshot, tmp_path):
    snap = make_snapshot({
        "identities": [{"person_id": p, "name": p, "position": "出纳", "status": "active"} for p in ("P1", "P2", "P3")],
        "accounts": [{"system": s, "account_id": a, "person_id": p, "enabled": "true"}
                     for s, a, p in (("corp-ad", "p1", "P1"), ("finance", "p1", "P1"), ("corp-ad", "p2", "P2"),
                                     ("finance", "p2", "P2"), ("corp-ad", "p3", "P3"))],
        "grants": [{"system": "finance", "account_id": "p1", "role": "fin_cashier"},
                   {"system": "corp-ad", "account_id": "p1", "role": "staff"}],
        "role_permissions": [{"system": "finance", "role": "fin_cashier", "permission": "cash.payment"}]})
    pack = write_pack(tmp_path, ROLES)
    out = tmp_path / "out"
    result = scan(cli, snap, out, pack=pack)
    assert result.exit_code == 0, result.output  # low findings, fail-on high
    assert_one_verdict(result, out)
    found = {(f["code"], f["subject"]) for f in run_findings(out)["findings"]}
    # the LDAP accounts are never judged for a finance role; P3 has no finance account at all
    assert found == {("required_role_missing", "account:finance:p2"), ("required_role_missing", "person:P3")}
    (p3,) = [f for f in run_findings(out)["findings"] if f["subject"] == "person:P3"]
    assert p3["evidence"]["systems_with_role"] == "finance"


def test_a_header_only_grants_table_reports_the_missing_roles(cli, make_snapshot, tmp_path):
    snap = make_snapshot({
        "identities": [{"person_id": "P1", "name": "P1", "position": "出纳", "status": "active"}],
        "accounts": [{"system": "finance", "account_id": "p1", "person_id": "P1", "enabled": "true"}],
        "role_permissions": [{"system": "finance", "role": "fin_cashier", "permission": "cash.payment"}]})
    (snap / "grants.csv").write_text("system,account_id,role\n", encoding="utf-8")
    _manifest(snap, tables={**json.loads((snap / "manifest.json").read_text())["tables"],
                            "grants": {"file": "grants.csv"}})
    pack = write_pack(tmp_path, ROLES)
    out = tmp_path / "out"
    result = scan(cli, snap, out, "--fail-on", "low", pack=pack)
    assert result.exit_code == 1, result.output
    assert_one_verdict(result, out)
    assert [(f["code"], f["subject"]) for f in run_findings(out)["findings"]] == [
        ("required_role_missing", "account:finance:p1")]
