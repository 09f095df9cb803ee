"""The configuration file, policy selection and the output folder, through the real CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import DEPARTURE, policy_pack, run_findings
from conftest import ONE_DEPARTED as TABLES
from ledgerguard.app.config import SCHEMA

ROOT = Path(__file__).resolve().parents[2]
LATE = """
id: LATE-001
kind: revoke_on_departure
title: Departed staff keep no enabled account (a week's grace)
severity: low
params: {grace_days: 7}
"""


def test_configuration_page_documents_every_key() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    section = page.split("## Keys", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `(\w+)` \|", section, re.M)
    assert sorted(documented) == sorted(SCHEMA["properties"])


def test_config_option_relative_paths_and_a_bad_key(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(TABLES)
    write_yaml("site/p.yaml", policy_pack(DEPARTURE))
    config = write_yaml("site/lg.yaml", f"snapshot: {snap}\npolicies: [p.yaml]\nout: reports\n")
    r = cli("--config", config, "scan", "--as-of", "2026-11-23")
    assert r.exit_code == 1, r.output
    assert run_findings(tmp_path / "site" / "reports")["policies"][0]["id"] == "ACC-001"
    bad = write_yaml("ledgerguard.yaml", "snapshot: x\nfail_onn: high\n")
    r = cli("scan", cwd=tmp_path)
    assert r.exit_code == 2 and f"{bad.name}:2:1: unknown key 'fail_onn'" in r.stderr
    # commands that do not read the config are not stopped by it
    r = cli("policies", "list", cwd=tmp_path)
    assert r.exit_code == 0 and "ACC-001" in r.output
    r = cli("validate", bad.name, cwd=tmp_path)
    assert r.exit_code == 2 and "ledgerguard.yaml:2:1: unknown key 'fail_onn'" in r.output
    assert cli("--config", tmp_path / "missing.yaml", "scan").exit_code == 2


def test_policy_and_skip_policy_globs(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(TABLES)
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE, LATE))
    base = ["scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", tmp_path / "o"]
    assert cli(*base, "--skip-policy", "ACC-*").exit_code == 0
    status = {p["id"]: p["status"] for p in run_findings(tmp_path / "o")["policies"]}
    assert status == {"ACC-001": "skipped", "LATE-001": "pass"}
    assert run_findings(tmp_path / "o")["scan"]["selection"] == {"skip_policy": ["ACC-*"]}
    assert cli(*base, "--policy", "ACC-*", "--policy", "LATE-001").exit_code == 1
    r = cli(*base, "--policy", "ACC-01")
    assert r.exit_code == 2
    assert "--policy 'ACC-01' matches no policy; did you mean ACC-001" in r.stderr
    assert "<input>" not in r.stderr


def test_policies_builtin_next_to_a_file(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(TABLES)
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE.replace("ACC-001", "HOUSE-001")))
    r = cli("scan", "--snapshot", snap, "--policies", "builtin", "--policies", pack, "--as-of", "2026-11-23",
            "--out", tmp_path / "o", "--policy", "HOUSE-*", "--policy", "ACC-001")
    assert r.exit_code == 1, r.output
    ids = {p["id"] for p in run_findings(tmp_path / "o")["policies"] if p["status"] != "skipped"}
    assert ids == {"HOUSE-001", "ACC-001"}


def test_out_folder_never_mixes_two_runs(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(TABLES)
    out = tmp_path / "out"
    (out / "snapshot").mkdir(parents=True)  # not a report: left alone
    assert cli("scan", "--snapshot", snap, "--as-of", "2026-11-23", "--out", out, "--format", "html,json").exit_code
    assert (out / "report.html").is_file()
    r = cli("scan", "--snapshot", snap, "--as-of", "2026-11-23", "--out", out, "--format", "json")
    assert f"removed {out / 'report.html'}" in r.output
    assert sorted(p.name for p in out.iterdir()) == ["findings.json", "snapshot"]


def test_validate_walks_folders_and_knows_findings_json(cli, make_snapshot, write_yaml, tmp_path):
    r = cli("validate", ROOT / "policies")
    assert r.exit_code == 0, r.output
    assert re.search(r"ok: \d+ policy pack\(s\), \d+ policies", r.output)
    assert "policy unit test file(s)" in r.output and "waiver file(s)" in r.output
    assert re.search(r"ok: \d+ snapshot\(s\), \d+ rows", r.output)  # the unit tests' snapshots
    snap = make_snapshot(TABLES)
    cli("scan", "--snapshot", snap, "--as-of", "2026-11-23", "--out", tmp_path / "o")
    r = cli("validate", tmp_path / "o" / "findings.json")
    assert r.exit_code == 0, r.output
    assert "is a findings.json written by `ledgerguard scan` as of 2026-11-23" in r.output
    assert r.output.count("\n") <= 3
    write_yaml("mixed/readme.yaml", "just: notes\n")
    write_yaml("mixed/w.yaml", "waivers: []\n")
    r = cli("validate", tmp_path / "mixed")
    assert r.exit_code == 0 and "skipped 1 file(s) of no ledgerguard type" in r.output


def test_validate_checks_what_collect_needs_without_printing_secrets(cli, write_yaml, tmp_path, monkeypatch):
    monkeypatch.setenv("LG_SET_PASSWORD", "s3cret-value")
    monkeypatch.delenv("LG_UNSET_PASSWORD", raising=False)
    src = write_yaml("sources.yaml", """
        sources:
          - {name: a, kind: sql, url: "postgresql://u@db/x", profile: tryton, password_env: LG_UNSET_PASSWORD}
          - {name: b, kind: sql, url: "postgresql://u@db/x", profile: tryton, password_env: LG_SET_PASSWORD}
          - {name: d, kind: file, path: missing.csv, table: identities}
          - {name: e, kind: sql, url: "sqlite:///nowhere.sqlite", profile: tryton}
          - {name: f, kind: sql, url: "postgresql://u@db/x", profile: tryton, password_file: pw.txt}
        """)
    r = cli("validate", src)
    assert r.exit_code == 2
    out = r.output
    assert re.search(rf"{re.escape(str(src))}:2:\d+: source a: environment variable LG_UNSET_PASSWORD is not set", out)
    assert "source b" not in out
    assert f"source d: path {tmp_path / 'missing.csv'} does not exist" in out
    assert f"source e: SQLite database {tmp_path / 'nowhere.sqlite'} does not exist" in out
    assert f"source f: password_file {tmp_path / 'pw.txt'} does not exist" in out
    assert "s3cret" not in out
    assert cli("validate", "--schema-only", src).exit_code == 0
    # a password inside a url is refused when the file is read, so even --schema-only says so
    inline = write_yaml("inline.yaml", """
        sources:
          - {name: c, kind: sql, url: "postgresql://u:hunter2@db/x", profile: tryton}
        """)
    r = cli("validate", "--schema-only", inline)
    assert r.exit_code == 2 and re.search(rf"{re.escape(str(inline))}:2:\d+: the url \S+ carries a password", r.output)
    assert "hunter2" not in r.output


def test_unknown_format_and_missing_snapshot_folder(cli, tmp_path):
    r = cli("scan", "--snapshot", tmp_path / "nope", "--format", "htm")
    assert r.exit_code == 2 and "did you mean html" in r.output
    r = cli("scan", "--snapshot", tmp_path / "nope")
    assert r.exit_code == 2
    assert f"{tmp_path / 'nope'}: no such snapshot folder" in r.stderr
    assert "manifest.json" not in r.stderr


def test_an_unknown_format_in_the_config_file_is_located(cli, write_yaml, tmp_path):
    """Found by the fuzz test: ``formats: high`` ended in click's usage error, with no file or line."""
    write_yaml("ledgerguard.yaml", "snapshot: x\nformats: high\n")
    r = cli("scan", cwd=tmp_path)
    assert r.exit_code == 2 and "ledgerguard.yaml:2:10: formats: unknown format 'high'" in r.stderr
    write_yaml("ledgerguard.yaml", "snapshot: x\nformats:\n  - html\n  - xlsx,pfd\n")
    r = cli("scan", cwd=tmp_path)
    assert r.exit_code == 2 and "ledgerguard.yaml:4:5: formats: unknown format 'pfd'" in r.stderr


def test_provenance_and_the_as_of_guard_rail(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(TABLES, timezone="Asia/Shanghai", taken_at="2026-11-23T02:00:00Z")
    waivers = write_yaml("w.yaml", "waivers: []\n")
    r = cli("scan", "--snapshot", snap, "--waivers", waivers, "--out", tmp_path / "o", "--as-of", "2027-01-01",
            "--format", "json,html")
    assert "warning: --as-of 2027-01-01 is 39 days from the snapshot's taken_at 2026-11-23" in r.stderr
    doc = run_findings(tmp_path / "o")
    scan = doc["scan"]
    assert scan["snapshot"]["rows"] == {"accounts": 1, "identities": 1}
    assert scan["snapshot"]["taken_at"] == "2026-11-23T10:00:00+08:00"
    assert scan["started_at"].endswith("+08:00") and scan["finished_at"].endswith("+08:00")
    assert scan["inputs"][0]["role"] == "waivers" and len(scan["inputs"][0]["sha256"]) == 64
    assert scan["command_line"].startswith("ledgerguard scan --snapshot")
    assert scan["warnings"] and "39 days" in scan["warnings"][0]
    assert "39 days" in (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    json.dumps(doc)


def test_command_line_redaction():
    from ledgerguard.app.provenance import redacted_command_line

    line = redacted_command_line(["ledgerguard", "scan", "--sources", "postgresql://u:pw@h/db", "--api-token", "t0k",
                                  "--password=x"])
    assert line == "ledgerguard scan --sources 'postgresql://u:***@h/db' --api-token '***' '--password=***'"
