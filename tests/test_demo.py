"""``ledgerguard demo``: the bundled organisation, scanned end to end through the real CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from ledgerguard.app.cli import main
from ledgerguard.app.demo import DEMO_RULES, build_tables
from ledgerguard.app.demo.org import TZ, ts
from ledgerguard.scanner.kinds.base import KINDS
from ledgerguard.scanner.policy import builtin_pack_path, load_packs
from ledgerguard.scanner.scan import resolve_now, run_scan
from ledgerguard.scanner.snapshot import read_snapshot, write_snapshot

AS_OF = "2026-11-23"


def run_demo(out: Path, *args: str):
    return CliRunner().invoke(main, ["demo", "--out", str(out), *args], catch_exceptions=False)


def findings(out: Path) -> dict:
    return json.loads((out / "findings.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("demo") / "out"
    return out, run_demo(out, "--as-of", AS_OF)


def test_demo_fails_on_high_findings_and_writes_every_format(demo):
    out, result = demo
    assert result.exit_code == 1, result.output
    assert "华东明远精密制造有限公司" in result.output
    assert "result: FAIL" in result.output
    for name in ("findings.json", "report.html", "report.xlsx", "findings.sarif", "junit.xml", "findings.csv"):
        assert (out / name).stat().st_size > 0, name
    doc = findings(out)
    assert doc["scan"]["as_of"] == AS_OF
    assert doc["summary"]["errored"] == 0
    assert doc["summary"]["findings"]["critical"] > 0


def test_demo_collects_its_bundled_sources(demo):
    """The demo's inputs are real files read by the real connectors through sources.yaml."""
    out, result = demo
    src = out / "sources"
    for name in ("sources.yaml", "hr.xlsx", "corp-ad.csv", "erp.sqlite", "earchive.sqlite", "archive/catalog.csv",
                 "backup/offsite-oss/earchive-files.json", "backup/checks.csv"):
        assert (src / name).is_file(), name
    assert len(list((src / "archive").rglob("*.ofd"))) > 100
    assert CliRunner().invoke(main, ["validate", str(src / "sources.yaml")]).exit_code == 0
    header = next(openpyxl.load_workbook(src / "hr.xlsx", read_only=True)["花名册"].iter_rows(values_only=True))
    assert header[:4] == ("工号", "姓名", "部门", "岗位")
    manifest = json.loads((out / "snapshot" / "manifest.json").read_text(encoding="utf-8"))
    kinds = {s["kind"] for s in manifest["sources"]}
    assert kinds == {"file", "sql", "archive_store", "backup_catalog"}
    assert all(s["status"] == "ok" for s in manifest["sources"])
    assert "source archive (archive_store): ok" in result.output


def test_collected_demo_equals_generated_tables(demo, tmp_path):
    """Nothing is lost between the generator and the files: scanning the generated tables
    directly gives exactly the findings of the collected snapshot."""
    direct = write_snapshot(tmp_path / "direct", build_tables(dt.date.fromisoformat(AS_OF)), timezone=TZ,
                            taken_at=ts(dt.date.fromisoformat(AS_OF), 0))
    snap = read_snapshot(direct)
    doc = run_scan(snap, load_packs([builtin_pack_path(), DEMO_RULES]), resolve_now(AS_OF, snap))
    assert sorted(f["id"] for f in doc["findings"]) == sorted(f["id"] for f in findings(demo[0])["findings"])


def test_demo_snapshot_reads_back(demo):
    out, _ = demo
    snap = read_snapshot(out / "snapshot")
    assert snap.timezone == "Asia/Shanghai"
    people = snap.table("identities")
    assert 180 <= len(people) <= 220
    assert {"财务部", "销售部", "生产部", "人事部", "信息技术部"} <= set(people["department"])
    assert {"出纳", "会计", "审核", "财务经理", "档案管理员", "系统管理员"} <= set(people["position"])
    assert set(snap.table("accounts")["system"]) == {"erp", "earchive", "corp-ad"}
    archives = snap.table("archives")
    years = archives["fiscal_year"].astype(int)
    assert years.min() == 1996 and years.max() == 2025
    assert len(archives) > 2000
    assert set(snap.table("backups")["dataset"]) == {"erp-db", "earchive-db", "earchive-files"}
    assert set(snap.table("backups")["location"]) == {"local-nas", "offsite-oss"}


@pytest.mark.parametrize("kind", sorted(KINDS.names()))
def test_demo_shows_every_policy_kind(demo, kind):
    doc = findings(demo[0])
    assert kind in {f["kind"] for f in doc["findings"]}


def test_demo_planted_violations(demo):
    doc = findings(demo[0])
    codes = {(f["policy_id"], f["code"]) for f in doc["findings"]}
    for expected in [
        ("ACC-001", "enabled_after_departure"), ("ACC-001", "activity_after_departure"),
        ("ACC-001", "archive_access_after_departure"), ("ACC-001", "late_revocation"),
        ("ROLE-001", "role_not_in_template"), ("CHG-001", "missing_request"), ("CHG-001", "self_grant"),
        ("CHG-001", "approver_is_performer"), ("ORP-001", "owner_departed"), ("ORP-001", "no_person"),
        ("MFA-001", "privileged_without_mfa"), ("ARC-001", "destroyed_early"),
        ("ARC-001", "destruction_undocumented"), ("ARC-001", "destroyed_on_hold"),
        ("BAK-001", "no_offsite_copy"), ("BAK-001", "no_restore_test"),
        ("INT-001", "hash_mismatch"), ("INT-001", "file_missing"), ("DEMO-001", "shared_account_enabled"),
    ]:
        assert expected in codes, expected
    # the departed cashier: left 21 days before the as-of date
    departed = [f for f in doc["findings"] if f["code"] == "enabled_after_departure" and "erp:" in f["subject"]]
    assert [f["evidence"]["departure_date"] for f in departed] == ["2026-11-02"]
    # the majority is clean: a few dozen findings for ~200 people and ~2,500 archives
    assert len(doc["findings"]) < 100


def test_demo_is_deterministic(demo, tmp_path):
    out, _ = demo
    again = tmp_path / "again"
    assert run_demo(again, "--as-of", AS_OF, "--format", "json").exit_code == 1
    first, second = findings(out), findings(again)
    assert [f["id"] for f in first["findings"]] == [f["id"] for f in second["findings"]]
    assert first["scan"]["snapshot"]["tables"] == second["scan"]["snapshot"]["tables"]


def test_demo_never_ages(demo, tmp_path):
    """Data is generated relative to the as-of date: another day shows the same violations."""
    later = tmp_path / "later"
    assert run_demo(later, "--as-of", "2028-01-03", "--format", "json").exit_code == 1
    codes = lambda doc: {(f["policy_id"], f["code"]) for f in doc["findings"]}  # noqa: E731
    assert codes(findings(later)) == codes(findings(demo[0]))


def test_demo_bad_options(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "o"), "--as-of", "yesterday"])
    assert result.exit_code == 2 and "--as-of" in result.output
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "o"), "--format", "pfd"])
    assert result.exit_code == 2 and "unknown format" in result.output
