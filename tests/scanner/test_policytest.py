"""`ledgerguard test`: the built-in pack's own cases pass, and a broken fixture fails them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from conftest import policy_pack, write_snapshot_dir
from ledgerguard.scanner.policy import builtin_pack_path

PACK = builtin_pack_path()


def test_the_shipped_cases_pass(cli):
    result = cli("test", PACK.parent)
    assert result.exit_code == 0, result.output
    cases = re.findall(r"(\S+) PASSED", result.output)
    names = {Path(c).name for c in cases}
    # one case per policy file of the pack, and one over the whole pack with a waiver
    files = {p.stem for p in PACK.glob("*.yaml")} - {"controls"}
    assert files <= names, files - names
    assert "whole_pack" in names
    assert re.search(rf"==== {len(cases)} passed in", result.output)


def test_removing_an_expected_finding_from_a_fixture_fails(cli, tmp_path):
    pack = tmp_path / "cn_finance"
    shutil.copytree(PACK, pack)
    grants = pack / "tests" / "sod" / "snapshot" / "grants.csv"
    lines = grants.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [ln for ln in lines if ln.strip() != "erp,li,gl_reviewer"]
    assert len(kept) == len(lines) - 1  # the grant that makes P2 enter and approve vouchers
    grants.write_text("".join(kept), encoding="utf-8")
    result = cli("test", pack / "tests" / "sod", pack / "tests" / "departure" / "expected.yaml")
    assert result.exit_code == 1
    assert re.search(r"sod FAILED\n    must: \{policy: SOD-002, code: incompatible_duties, "
                     r"subject: person:P2\} — no such finding", result.output), result.output
    assert re.search(r"departure PASSED", result.output)
    assert "==== " in result.output and "1 failed" in result.output


def test_must_not_count_and_status_are_checked(cli, write_yaml, tmp_path):
    case = tmp_path / "case"
    write_snapshot_dir(case, {  # the case folder itself is the snapshot
        "identities": [{"person_id": "P1", "status": "departed", "departure_date": "2026-11-01"}],
        "accounts": [{"system": "erp", "account_id": "a", "person_id": "P1", "enabled": "true"},
                     {"system": "erp", "account_id": "b", "person_id": "P1", "enabled": "true",
                      "cost_centre": "CC9"}],
    })
    write_yaml("case/policy.yaml", policy_pack("""
        id: TR-1
        kind: table_rule
        title: unknown cost centre
        severity: low
        params: {table: accounts, where: 'cost_centre is not null and cost_centre not in ["CC1"]',
                 message: "{account_id} in {cost_centre}", code: bad_cost_centre}
    """))
    write_yaml("case/expected.yaml", """
        as_of: 2026-11-23
        must:
          - {policy: TR-1, code: bad_cost_centre, subject: "account:erp:b"}
          - {policy: TR-1, count: 2}
          - {policy: TR-1, subject: "account:erp:b", status: waived}
        must_not:
          - {policy: TR-1, subject: "account:erp:*"}
    """)
    result = cli("test", case)
    assert result.exit_code == 1
    out = result.output
    assert "must: {policy: TR-1, count: 2} — 1 findings match" in out
    assert "must: {policy: TR-1, subject: account:erp:b, status: waived} — no such finding" in out
    assert "must_not: {policy: TR-1, subject: account:erp:*} — found 1: bad_cost_centre account:erp:b" in out
    assert "bad_cost_centre account:erp:b" in out
    assert "must: {policy: TR-1, code: bad_cost_centre" not in out  # that one holds


def test_bad_test_files_are_exit_2_with_their_line(cli, write_yaml, tmp_path):
    write_snapshot_dir(tmp_path / "bad" / "snapshot", {"accounts": [
        {"system": "erp", "account_id": "a", "enabled": "true"}]})
    write_yaml("bad/expected.yaml", """
        policies: [builtin]
        must:
          - {policy: ACC-001, colour: red}
    """)
    result = cli("test", tmp_path / "bad")
    assert result.exit_code == 2
    assert re.search(r"bad ERROR\n .*expected\.yaml:3:\d+: unknown key 'colour'", result.output), result.output


def test_an_errored_policy_fails_the_case_unless_expected(cli, write_yaml, tmp_path):
    write_snapshot_dir(tmp_path / "c" / "snapshot", {"identities": [
        {"person_id": "P1", "status": "active"}]})  # no accounts table
    write_yaml("c/expected.yaml", f"""
        as_of: 2026-11-23
        policies: [{PACK / "departure.yaml"}]
        must_not:
          - {{policy: ACC-001}}
    """)
    result = cli("test", tmp_path / "c")
    assert result.exit_code == 1 and "policy ACC-001 could not be evaluated" in result.output
    text = (tmp_path / "c" / "expected.yaml").read_text()
    (tmp_path / "c" / "expected.yaml").write_text(text + "errors: [ACC-001]\n")
    assert cli("test", tmp_path / "c").exit_code == 0


def test_no_cases_found_is_exit_2(cli, tmp_path):
    result = cli("test", tmp_path)
    assert result.exit_code == 2 and "no test cases found" in result.stderr
