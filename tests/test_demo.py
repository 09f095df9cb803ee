"""``ledgerguard demo``: the bundled organisation, scanned end to end through the real CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from click.testing import CliRunner

from ledgerguard.app.cli import main
from ledgerguard.app.demo import DEMO_RULES, build_tables
from ledgerguard.app.demo.org import TZ, ts
from ledgerguard.scanner.kinds.base import KINDS
from ledgerguard.scanner.kinds.freeze import calendar_years
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
    got = {f["id"]: f for f in findings(demo[0])["findings"]}
    want = {f["id"]: f for f in doc["findings"]}
    assert sorted((f["policy_id"], f["code"], f["subject"]) for i, f in got.items() if i not in want) == []
    assert sorted((f["policy_id"], f["code"], f["subject"]) for i, f in want.items() if i not in got) == []


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
        *(("HO-001", code) for code in KINDS.get("handover").codes),
        *(("CHG-002", code) for code in ("not_verified", "verified_late", "verifier_is_performer",
                                          "verified_before_performed")),
        ("CHG-003", "grant_without_change"), ("CHG-003", "previous_snapshot_missing"),
        ("FRZ-001", "change_in_freeze"), ("FRZ-001", "handover_in_freeze"),
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
    result = run_demo(later, "--as-of", "2028-01-03", "--format", "json")
    codes = lambda doc: {(f["policy_id"], f["code"]) for f in doc["findings"]}  # noqa: E731
    doc = findings(later)
    errored = {p["id"]: p["error"] for p in doc["policies"] if p["status"] == "error"}
    if calendar_years()[1] >= 2027:  # the installed business-day calendar knows the dates judged
        assert result.exit_code == 1 and not errored
        assert codes(doc) == codes(findings(demo[0]))
    else:
        # the month-end freeze cannot judge 2027 dates: it says so (exit 3), never guesses;
        # everything else is the same
        assert result.exit_code == 3 and list(errored) == ["FRZ-001"]
        assert "update chinesecalendar" in errored["FRZ-001"]
        assert codes(doc) == {c for c in codes(findings(demo[0])) if c[0] != "FRZ-001"}


def test_demo_bad_options(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "o"), "--as-of", "yesterday"])
    assert result.exit_code == 2 and "--as-of" in result.output
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "o"), "--format", "pfd"])
    assert result.exit_code == 2 and "unknown format" in result.output


def test_demo_handover_plants_have_compliant_twins_and_reach_the_reports(demo):
    out, _ = demo
    doc = findings(out)
    ho = [f for f in doc["findings"] if f["policy_id"] in ("HO-001", "FRZ-001", "CHG-003")]
    by_code: dict[str, list[dict]] = {}
    for f in ho:
        by_code.setdefault(f["code"], []).append(f)
    # one former archivist left two days before her successor got custody, the other one day: a gap
    # for the first only
    people = read_snapshot(out / "snapshot").table("identities")
    archivists = set(people.loc[(people["position"] == "档案管理员") & (people["status"] == "departed"), "person_id"])
    (gap,) = by_code["duty_gap"]
    assert gap["person_id"] in archivists and len(archivists) == 2
    assert gap["evidence"]["check_day"] > gap["evidence"]["event_at"]
    # backups: only the handover without any is reported; the one whose backup is a day old is not
    assert {f["subject"] for f in by_code["no_backup_before_handover"]} == {"handover:JJ-001"}
    # last month's freeze: the handover on its first day, not the one the business day before
    assert [f["subject"] for f in by_code["handover_in_freeze"]] == ["handover:JJ-008"]
    # the leaver of the as-of day is not yet due
    assert len(by_code["no_handover"]) == 1
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "handover:JJ-005" in html and "missing_signatures" in html and "check_day" in html
    rows = [" ".join(str(v) for v in row if v is not None) for row in
            openpyxl.load_workbook(out / "report.xlsx", read_only=True)["Findings"].iter_rows(values_only=True)]
    assert any("duty_gap" in r and "check_day" in r and "会计档案保管" in r for r in rows)
    assert any("change_in_freeze" in r and "freeze_from" in r for r in rows)


def test_demo_archive_files_numbering_and_use(demo):
    """The archive folder's real files (PDF/A, encrypted PDF, ZIP named .pdf, XML e-invoice,
    an uncatalogued scan), the voucher gap, the missing month, the handover lists and the
    borrow register: each planted fault is found, and nothing else of those kinds."""
    doc = findings(demo[0])
    got = {(f["policy_id"], f["code"]) for f in doc["findings"] if f["policy_id"][:3] in ("INT", "USE")}
    assert got == {
        ("INT-001", "file_missing"), ("INT-001", "hash_mismatch"), ("INT-001", "format_not_allowed"),
        ("INT-002", "format_mismatch"), ("INT-002", "encrypted"), ("INT-002", "unreadable"),
        ("INT-002", "not_pdfa"), ("INT-002", "unlisted_file"),
        ("INT-003", "period_missing"), ("INT-004", "voucher_gap"),
        ("INT-005", "batch_count_mismatch"), ("INT-005", "batch_bytes_mismatch"),
        ("USE-001", "access_without_permission"),
        ("USE-002", "borrow_unapproved"), ("USE-002", "borrow_self_approved"), ("USE-002", "borrow_overdue"),
        ("USE-002", "borrow_unregistered"),
    }
    by = {(f["code"], f["subject"]): f for f in doc["findings"]}
    assert ("period_missing", "period:Q001/001/2024/记账凭证/M09") in by
    assert by[("voucher_gap", "vouchers:001/2025/M05/记")]["evidence"]["missing"] == ["3"]
    assert ("unlisted_file", "file:2025/scan-unfiled.pdf") in by
    snap = read_snapshot(demo[0] / "snapshot").table("archives").set_index("archive_id")
    # 30 annual reports: one destroyed, one not PDF/A
    assert set(snap["pdfa"].dropna()) == {"2B"} and (snap["pdfa"] == "2B").sum() == 28
    assert snap.loc["A-2025-9001", "format"] == "xml" and snap.loc["A-2025-9001", "signed"]  # the e-invoice
    assert snap.loc[snap["format"] == "ofd", "read_error"].isna().all()


def test_the_demo_stays_inside_the_calendar_it_judges_with(monkeypatch):
    """Each January, until chinesecalendar publishes the new year, today lies past what the
    freeze policy can judge: the demo's default day stops at the calendar's last day, so
    `make demo` and the README tour keep a verdict (an explicit --as-of is never moved)."""
    from ledgerguard.app import demo as demo_module
    from ledgerguard.scanner.kinds import freeze

    monkeypatch.setattr(freeze, "calendar_years", lambda: (2004, 2025))
    assert demo_module.default_as_of() == dt.date(2025, 12, 31)
    assert demo_module.parse_as_of("2027-03-01") == dt.date(2027, 3, 1)
    monkeypatch.setattr(freeze, "calendar_years", lambda: (2004, 9999))
    assert demo_module.default_as_of() == dt.datetime.now(ZoneInfo(TZ)).date()


def test_the_chinese_demo_report_holds_no_english_message(tmp_path):
    """Every finding of the demo — the built-in pack's and its own house rule's (whose author
    wrote the message in both languages) — reads in Chinese in the zh report."""
    import html

    out = tmp_path / "zh"
    result = run_demo(out, "--lang", "zh", "--format", "html,json")
    assert result.exit_code == 1
    doc, page = findings(out), (out / "report.html").read_text(encoding="utf-8")
    assert any(f["policy_id"] == "DEMO-001" for f in doc["findings"])
    assert [f["message"] for f in doc["findings"] if html.escape(f["message"], quote=False) in page] == []
    assert "处于启用状态" in page
