"""One reproducer per class of issue 13, through the real CLI: every bad input a located
exit 2, nothing from data printed raw, limits on what a file can inflate to."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from conftest import policy_pack, run_findings
from ledgerguard.scanner import limits

DEPARTURE = "id: ACC-001\nkind: revoke_on_departure\ntitle: Departed staff keep no account\nseverity: critical\n"
TABLES = {
    "identities": [{"person_id": "P1", "name": "张三", "status": "departed", "departure_date": "2026-11-01"}],
    "accounts": [{"system": "erp", "account_id": "zhangsan", "person_id": "P1", "enabled": "true"}],
}


def errors(result) -> list[str]:
    return [ln for ln in result.output.splitlines() if ln.startswith("error: ")]


def located(result, file: Path | str, line: int | None = None) -> str:
    """The run ended in exit 2, no traceback, and its first error names ``file`` (and ``line``)."""
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    first = errors(result)[0]
    prefix = f"error: {file}:" + (f"{line}:" if line else "")
    assert first.startswith(prefix), first
    return first


@pytest.fixture
def snap(make_snapshot):
    return make_snapshot(TABLES, timezone="Asia/Shanghai", taken_at="2026-11-23T02:00:00+08:00")


@pytest.fixture
def pack(write_yaml):
    return write_yaml("p.yaml", policy_pack(DEPARTURE))


def _xlsx(path: Path, rows: int, width: int = 5) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    ws.write_row(0, 0, ["system", "account_id", "role"])
    for r in range(1, rows + 1):
        ws.write_row(r, 0, ["erp", "a" * width + str(r), "cashier"])
    wb.close()


# ---- 1. bad input that ended as "internal error", exit 3

def test_deep_nesting_in_yaml_is_refused_at_its_line(cli, write_yaml):
    p = write_yaml("p.yaml", "apiVersion: ledgerguard/v1\nkind: PolicyPack\nmetadata: {name: x}\npolicies: "
                   + "[" * 5000 + "\n")
    msg = located(cli("validate", p), p, 4)
    assert "nested deeper than 64 levels" in msg


def test_too_many_yaml_values_are_refused(cli, write_yaml, monkeypatch):
    monkeypatch.setattr(limits, "MAX_YAML_NODES", 50)
    p = write_yaml("w.yaml", "waivers:\n" + "".join(f"  - {i}\n" for i in range(100)))
    assert "YAML values (the limit)" in located(cli("validate", p), p)


def test_deep_nesting_in_findings_json_is_refused_by_report_and_baseline(cli, snap, pack, tmp_path):
    f = tmp_path / "findings.json"
    f.write_text('{"format": "ledgerguard-findings/1", "scan": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert "nested deeper than" in located(cli("report", "--findings", f, "--out", tmp_path / "o"), f, 1)
    located(cli("scan", "--snapshot", snap, "--policies", pack, "--baseline", f, "--out", tmp_path / "o"), f, 1)


@pytest.mark.parametrize("bad", [{"findings": [5]}, {"findings": "x"}, {"policies": [{"id": 1}]},
                                 {"summary": None}, {"findings": [{"id": "a", "subject": ["x"]}]}])
def test_malformed_findings_json_to_report_and_baseline(cli, snap, pack, tmp_path, bad):
    out = tmp_path / "o"
    cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", out)
    doc = {**run_findings(out), **bad}
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(doc))
    located(cli("report", "--findings", f, "--format", "json,html,junit,sarif", "--out", tmp_path / "r"), f)
    located(cli("scan", "--snapshot", snap, "--policies", pack, "--baseline", f, "--out", tmp_path / "o2"), f)


@pytest.mark.parametrize("year", ["1e309", "2015.5", "7x", "99999999999999999999"])
def test_bad_whole_numbers_in_a_csv_table_name_row_and_column(cli, make_snapshot, pack, tmp_path, year):
    snap = make_snapshot({**TABLES, "archives": [{"archive_id": "A1", "category": "voucher", "fiscal_year": "2015"},
                                                  {"archive_id": "A2", "category": "voucher", "fiscal_year": year}]})
    msg = located(cli("scan", "--snapshot", snap, "--policies", pack, "--out", tmp_path / "o"),
                  snap / "archives.csv", 3)
    assert "column 'fiscal_year'" in msg and "row 2" in msg


@pytest.mark.parametrize("value", ["2026-01-01T00:00:00+0", "2026-01-01T00:00+0", "2026-02-30",
                                   "2026-01-01T24:61:00"])
def test_bad_timestamps_in_a_csv_table_name_row_and_column(cli, make_snapshot, pack, tmp_path, value):
    tables = {**TABLES, "accounts": [{**TABLES["accounts"][0], "last_login_at": value}]}
    snap = make_snapshot(tables)
    msg = located(cli("scan", "--snapshot", snap, "--policies", pack, "--out", tmp_path / "o"),
                  snap / "accounts.csv", 2)
    assert "column 'last_login_at'" in msg


def test_metadata_that_is_no_mapping(cli, write_yaml):
    p = write_yaml("p.yaml", policy_pack(DEPARTURE).replace("metadata: {name: test-pack, version: '1'}", "metadata: 5"))
    assert "metadata" in located(cli("validate", p), p, 3)


def test_table_rule_without_params(cli, write_yaml):
    p = write_yaml("p.yaml", policy_pack("id: TR-1\nkind: table_rule\ntitle: t\nseverity: low\n"))
    assert "params" in located(cli("validate", p), p, 5)


@pytest.mark.parametrize("field", ["approved_at: 2026-02-30", "transfer_date: 2026-13-01"])
def test_impossible_dates_in_a_change_file(cli, write_yaml, field):
    c = write_yaml("c.yaml", f"changes:\n  - action: modify\n    person_id: P1\n    position: 出纳\n    {field}\n")
    assert "not a valid date" in located(cli("validate", c), c, 5)


# ---- 2. raw exception text; encoding: bogus

def test_unknown_encoding_in_a_sources_file_fails_validate(cli, write_yaml):
    s = write_yaml("s.yaml", "sources:\n  - {name: hr, kind: file, path: hr.csv, table: identities,\n"
                   "     encoding: bogus}\n")
    assert "unknown encoding 'bogus'" in located(cli("validate", s), s, 3)


# ---- 3. NUL bytes in paths

def test_nul_byte_in_a_ledgerguard_yaml_path(cli, tmp_path):
    (tmp_path / "ledgerguard.yaml").write_text('snapshot: "snap\\0x"\n', encoding="utf-8")
    result = cli("scan", cwd=tmp_path)
    assert "control character" in located(result, "ledgerguard.yaml", 1)


def test_nul_byte_in_a_command_line_path(cli, tmp_path):
    result = cli("validate", f"{tmp_path}/a\0b.yaml")
    assert result.exit_code == 2 and "holds a NUL byte" in result.output


# ---- 4. terminal and CI-log injection

def test_source_names_and_errors_are_printed_inert(cli, make_snapshot, pack, tmp_path):
    evil = "timeout\n::error ::x \x1b]0;pwned\x07\x1b[2J\u202e"
    snap = make_snapshot(TABLES, sources=[{"name": "hr\x1b[2J", "kind": "file", "status": "error",
                                           "error": evil, "tables": ["accounts"]}])
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", tmp_path / "o")
    assert result.exit_code == 3, result.output
    assert not re.search(r"(?m)^::", result.output)
    assert not re.search("[\x00-\x09\x0b-\x1f\u202e]", result.output)
    assert r"timeout\n::error ::x \x1b]0;pwned\x07\x1b[2J\u202e" in result.output


def test_a_problem_message_is_one_inert_line(cli, write_yaml):
    p = write_yaml("p.yaml", policy_pack(DEPARTURE.replace("ACC-001", '"ACC\\n::error ::x"')))
    result = cli("validate", p)
    assert result.exit_code == 2 and not re.search(r"(?m)^::", result.output)


# ---- 5. limits

def test_xlsx_zip_bomb_is_refused_before_it_is_opened(cli, write_yaml, tmp_path, monkeypatch):
    _xlsx(tmp_path / "roles.xlsx", 2000, width=50)
    monkeypatch.setattr(limits, "MAX_XLSX_UNCOMPRESSED", 100_000)
    s = write_yaml("s.yaml", "sources:\n  - {name: roles, kind: file, path: roles.xlsx, table: grants}\n")
    result = cli("collect", "--sources", s, "--out", tmp_path / "snap")
    assert result.exit_code == 3 and "uncompressed" in result.output and "(the limit)" in result.output


def test_xlsx_rows_past_the_limit_are_refused(cli, write_yaml, tmp_path, monkeypatch):
    _xlsx(tmp_path / "roles.xlsx", 30)
    monkeypatch.setattr(limits, "MAX_XLSX_ROWS", 10)
    s = write_yaml("s.yaml", "sources:\n  - {name: roles, kind: file, path: roles.xlsx, table: grants}\n")
    result = cli("collect", "--sources", s, "--out", tmp_path / "snap")
    assert result.exit_code == 3 and "more than 10 rows (the limit)" in result.output


def test_a_cell_past_the_limit_is_refused_with_its_row_and_column(cli, make_snapshot, pack, tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_CELL_CHARS", 100)
    snap = make_snapshot({**TABLES, "accounts": [{**TABLES["accounts"][0], "display_name": "x" * 101}]})
    msg = located(cli("scan", "--snapshot", snap, "--policies", pack, "--out", tmp_path / "o"),
                  snap / "accounts.csv", 2)
    assert "column 'display_name'" in msg and "(the limit)" in msg


def test_the_cell_limit_counts_characters_not_bytes(cli, make_snapshot, pack, tmp_path, monkeypatch):
    """A Chinese name of 60 characters is 180 UTF-8 bytes: within a 100-character limit."""
    monkeypatch.setattr(limits, "MAX_CELL_CHARS", 100)
    snap = make_snapshot({**TABLES, "accounts": [{**TABLES["accounts"][0], "display_name": "财" * 60}]})
    assert cli("scan", "--snapshot", snap, "--policies", pack, "--out", tmp_path / "o").exit_code in (0, 1)
    snap = make_snapshot({**TABLES, "accounts": [{**TABLES["accounts"][0], "display_name": "财" * 101}]})
    msg = located(cli("scan", "--snapshot", snap, "--policies", pack, "--out", tmp_path / "o2"),
                  snap / "accounts.csv", 2)
    assert "column 'display_name': 101 characters" in msg


def test_rows_past_the_limit_are_refused(cli, make_snapshot, pack, tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_TABLE_ROWS", 1)
    snap = make_snapshot({**TABLES, "accounts": TABLES["accounts"] * 2})
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--out", tmp_path / "o")
    assert "more than 1 (the limit)" in located(result, snap / "accounts.csv")


def test_long_fields_are_cut_in_every_human_facing_output(cli, make_snapshot, write_yaml, tmp_path):
    name = "N" * 50_000
    snap = make_snapshot({**TABLES, "identities": [{**TABLES["identities"][0], "name": name}]})
    p = write_yaml("p.yaml", policy_pack("id: TR-1\nkind: table_rule\ntitle: t\nseverity: high\nparams:\n"
                                         "  table: accounts\n  where: enabled\n  message: \"{identity.name}\"\n"))
    out = tmp_path / "o"
    result = cli("scan", "--snapshot", snap, "--policies", p, "--as-of", "2026-11-23",
                 "--format", "json,junit,sarif,csv,html", "--out", out)
    assert result.exit_code == 1, result.output
    assert run_findings(out)["findings"][0]["message"] == name  # the contract stays lossless
    written = [f for f in out.iterdir() if f.name != "findings.json"]
    assert len(written) == 4
    for f in written:
        text = f.read_text(encoding="utf-8")
        assert name not in text and "truncated" in text, f
    c = write_yaml("c.yaml", "changes:\n  - {action: create, system: erp, account_id: new, person_id: P1}\n")
    gate = cli("gate", "--snapshot", snap, "--policies", p, "--change", c, "--as-of", "2026-11-23",
               "--format", "github,gitlab", "--out", tmp_path / "g")
    assert gate.exit_code == 1, gate.output
    assert name not in gate.output and "truncated" in gate.output
    for f in (tmp_path / "g").iterdir():
        assert name not in f.read_text(encoding="utf-8"), f


def test_limits_are_documented():
    doc = (Path(__file__).parents[1] / "docs" / "limits.md").read_text(encoding="utf-8")
    for name in [n for n in vars(limits) if n.isupper() and n != "MiB"]:
        assert f"`{name}`" in doc, name


# ---- 6. inline credentials

SECRET = "S3cr3t-pw"


@pytest.mark.parametrize("url", [
    f"ldap://admin:{SECRET}@ldap.example/",
    f"ldaps://cn=admin:{SECRET}@ldap.example:636",
])
def test_ldap_url_with_a_password_is_refused_without_echoing_it(cli, write_yaml, tmp_path, url):
    s = write_yaml("s.yaml", textwrap.dedent(f"""\
        sources:
          - name: dir
            kind: ldap
            url: "{url}"
            base_dn: dc=example,dc=org
            flavor: openldap
        """))
    for args in (("validate", s), ("collect", "--sources", s, "--out", tmp_path / "o"),
                 ("scan", "--sources", s, "--out", tmp_path / "r")):
        result = cli(*args)
        assert SECRET not in result.output
        assert "password" in located(result, s, 4)


@pytest.mark.parametrize("url", [
    f"postgresql://ro:{SECRET}@db.example/erp",
    f"postgresql://ro@db.example/erp?password={SECRET}",
    f"mssql+pyodbc://ro@db.example/U8?driver=x&PWD={SECRET}",
])
def test_sql_url_with_a_password_is_refused_by_validate_without_echoing_it(cli, write_yaml, url):
    s = write_yaml("s.yaml", f"sources:\n  - name: erp\n    kind: sql\n    url: \"{url}\"\n    profile: tryton\n")
    result = cli("validate", s)
    assert SECRET not in result.output
    assert "password" in located(result, s, 4)


# ---- 8. replacing a snapshot

def _collect(cli, write_yaml, tmp_path, name: str):
    (tmp_path / "hr.csv").write_text(f"person_id,name,status\nP1,{name},active\n", encoding="utf-8")
    s = write_yaml("s.yaml", "sources:\n  - {name: hr, kind: file, path: hr.csv, table: identities}\n")
    return cli("collect", "--sources", s, "--out", tmp_path / "snap")


def _name_at_out(tmp_path) -> str:
    return (tmp_path / "snap" / "identities.csv").read_text(encoding="utf-8").splitlines()[1].split(",")[1]


def test_a_collect_killed_before_the_swap_leaves_the_old_snapshot(cli, write_yaml, tmp_path, monkeypatch):
    from ledgerguard.scanner import fsutil

    assert _collect(cli, write_yaml, tmp_path, "old").exit_code == 0
    monkeypatch.setattr(fsutil.shutil, "rmtree", lambda *a, **k: None)  # a killed run cleans nothing up

    def killed(a, b):
        raise KeyboardInterrupt

    monkeypatch.setattr(fsutil, "_exchange", killed)
    assert _collect(cli, write_yaml, tmp_path, "new").exit_code == 3
    assert _name_at_out(tmp_path) == "old"
    assert len(list(tmp_path.glob(".snap.*.tmp"))) == 1  # the new one, half-way


def test_a_collect_killed_after_the_swap_leaves_the_new_snapshot_and_stale_folders_go(
        cli, write_yaml, tmp_path, monkeypatch):
    from ledgerguard.scanner import fsutil

    assert _collect(cli, write_yaml, tmp_path, "old").exit_code == 0
    with monkeypatch.context() as m:
        m.setattr(fsutil.shutil, "rmtree", lambda *a, **k: None)
        assert _collect(cli, write_yaml, tmp_path, "new").exit_code == 0
    assert _name_at_out(tmp_path) == "new"
    (stale,) = tmp_path.glob(".snap.*.tmp")  # the old snapshot, left by the "killed" run …
    stale.rename(stale.with_name(".snap.999999999.abcd.tmp"))  # … of a process that is gone
    assert _collect(cli, write_yaml, tmp_path, "newer").exit_code == 0
    assert _name_at_out(tmp_path) == "newer"
    assert list(tmp_path.glob(".snap.*")) == []


def test_the_swap_is_one_exchange(tmp_path):
    from ledgerguard.scanner.fsutil import _exchange

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("a")
    (tmp_path / "b").mkdir()
    assert _exchange(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b" / "x").read_text() == "a" and not (tmp_path / "a" / "x").exists()
