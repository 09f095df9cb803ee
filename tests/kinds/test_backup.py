"""backup_frequency through the real CLI: hour limits on instants, day windows on local dates."""

from __future__ import annotations

from kindtest import hits, scan

from conftest import policy_pack, run_findings

POLICY = """
id: BAK-T
kind: backup_frequency
title: {en: Daily backups with an offsite copy, zh: 每日备份并异地保存}
severity: high
"""
_ids = iter(range(10_000))


def _bk(dataset, finished, **kw):
    row = {"backup_id": f"B{next(_ids)}", "dataset": dataset, "finished_at": finished, "status": "success",
           "location": "本地机房", "offsite": "否", "encrypted": "是", "verified_at": "2026-11-20",
           "verify_status": "success", "restore_tested_at": "2026-10-01"}
    return {**row, **kw}


def _good(dataset, finished):
    """A compliant day: a local copy and an encrypted offsite one, both finished at ``finished``."""
    return [_bk(dataset, finished), _bk(dataset, finished, location="异地灾备中心", offsite="是")]


def _run(cli, make_snapshot, write_yaml, tmp_path, rows, policy=POLICY, as_of="2026-11-23"):
    snap = make_snapshot({"backups": rows}, timezone="Asia/Shanghai")
    return scan(cli, snap, write_yaml("p.yaml", policy_pack(policy)), tmp_path / "out", as_of)


def test_exactly_max_interval_hours_is_fine_one_second_more_is_not(cli, make_snapshot, write_yaml, tmp_path):
    # now = 2026-11-23 00:00 Asia/Shanghai = 2026-11-22T16:00:00Z
    rows = [*_good("date-only", "2026-11-22"),                       # 00:00 local: exactly 24 h
            *_good("utc-z", "2026-11-21T16:00:00Z"),                 # exactly 24 h
            *_good("naive", "2026-11-22 00:00:00"),                  # naive = local: exactly 24 h
            *_good("other-offset", "2026-11-21T17:00:00+01:00"),     # exactly 24 h
            *_good("late-z", "2026-11-21T15:59:59Z"),                # 24 h + 1 s
            *_good("late-local", "2026-11-21T23:59:59+08:00"),       # 24 h + 1 s
            *_good("failed-newer", "2026-11-21"),
            _bk("failed-newer", "2026-11-22T12:00:00+08:00", status="failed"),
            _bk("failed-newer", "2026-11-22T13:00:00+08:00", status="partial")]
    code, doc = _run(cli, make_snapshot, write_yaml, tmp_path, rows)
    assert code == 1
    assert hits(doc) == {("backup_overdue", "dataset:late-z"), ("backup_overdue", "dataset:late-local"),
                         ("backup_overdue", "dataset:failed-newer")}
    f = {x["subject"]: x for x in doc["findings"]}
    assert f["dataset:late-z"]["evidence"]["last_success"] == "2026-11-21T23:59:59+08:00"
    assert f["dataset:late-z"]["evidence"]["hours_since"] == 24.0
    assert f["dataset:failed-newer"]["evidence"]["hours_since"] == 48
    assert "limit 24" in f["dataset:late-local"]["message"]


def test_max_interval_hours_param_against_a_full_as_of_timestamp(cli, make_snapshot, write_yaml, tmp_path):
    policy = POLICY + "params: {max_interval_hours: 6}\n"
    rows = [*_good("erp-db", "2026-11-23T03:00:00+08:00"), *_good("earchive-db", "2026-11-23T02:59:59+08:00")]
    _, doc = _run(cli, make_snapshot, write_yaml, tmp_path, rows, policy, as_of="2026-11-23T09:00:00+08:00")
    assert hits(doc) == {("backup_overdue", "dataset:earchive-db")}


def test_locations_offsite_and_encryption_in_the_window(cli, make_snapshot, write_yaml, tmp_path):
    rows = [
        # one location only, offsite copy 8 days old (outside the 7-day window)
        _bk("erp-db", "2026-11-22T23:00:00+08:00"),
        _bk("erp-db", "2026-11-15T12:00:00+08:00", location="异地灾备中心", offsite="是"),
        # offsite copy exactly 7 days old (2026-11-16 local): inside the window
        _bk("earchive-db", "2026-11-22T23:00:00+08:00"),
        _bk("earchive-db", "2026-11-15T17:00:00Z", location="异地灾备中心", offsite="是"),
        # an offsite copy that failed does not count; an unencrypted success does
        _bk("earchive-files", "2026-11-22T23:00:00+08:00", encrypted="否"),
        _bk("earchive-files", "2026-11-22T23:30:00+08:00", location="异地灾备中心", offsite="是",
            status="failed"),
        _bk("earchive-files", "2026-11-22T10:00:00+08:00", location="本地机房2", encrypted=""),
        _bk("earchive-files", "2026-11-20T10:00:00+08:00", location="异地", encrypted="false", status="failed"),
    ]
    _, doc = _run(cli, make_snapshot, write_yaml, tmp_path, rows)
    assert hits(doc) == {("too_few_locations", "dataset:erp-db"), ("no_offsite_copy", "dataset:erp-db"),
                         ("no_offsite_copy", "dataset:earchive-files"),
                         ("unencrypted_backup", "dataset:earchive-files")}
    f = {(x["code"], x["subject"]): x for x in doc["findings"]}
    assert f[("too_few_locations", "dataset:erp-db")]["evidence"] == {
        "locations": 1, "location_list": "本地机房", "window_backups": 1}
    assert f[("unencrypted_backup", "dataset:earchive-files")]["evidence"]["unencrypted"] == 2


def test_requirements_can_be_relaxed(cli, make_snapshot, write_yaml, tmp_path):
    policy = POLICY + "params: {min_locations: 1, require_offsite: false, require_encrypted: false}\n"
    rows = [_bk("erp-db", "2026-11-22T23:00:00+08:00", encrypted="否")]
    code, doc = _run(cli, make_snapshot, write_yaml, tmp_path, rows, policy)
    assert code == 0 and doc["findings"] == []


def test_verification_and_restore_tests(cli, make_snapshot, write_yaml, tmp_path):
    rows = [
        *_good("ok-at-limit", "2026-11-22T23:00:00+08:00"),
        _bk("ok-at-limit", "2026-11-01", verified_at="2026-11-15T16:30:00Z",  # 2026-11-16 local: 7 days
            restore_tested_at="2026-08-25"),                                   # 90 days
        *[{**r, "verified_at": "2026-11-15T15:30:00Z", "restore_tested_at": "2026-08-24"}  # 8 / 91 days
          for r in _good("too-old", "2026-11-22T23:00:00+08:00")],
        *[{**r, "verified_at": "", "verify_status": "", "restore_tested_at": ""}
          for r in _good("never", "2026-11-22T23:00:00+08:00")],
        # the newer verification failed: the older successful one is what counts
        *[{**r, "verified_at": "2026-11-10"} for r in _good("failed-verify", "2026-11-22T23:00:00+08:00")],
        _bk("failed-verify", "2026-11-21T23:00:00+08:00", verified_at="2026-11-22", verify_status="failed"),
    ]
    _, doc = _run(cli, make_snapshot, write_yaml, tmp_path, rows)
    assert hits(doc) == {("not_verified", "dataset:too-old"), ("no_restore_test", "dataset:too-old"),
                         ("not_verified", "dataset:never"), ("no_restore_test", "dataset:never"),
                         ("not_verified", "dataset:failed-verify")}
    f = {(x["code"], x["subject"]): x for x in doc["findings"]}
    assert f[("not_verified", "dataset:too-old")]["evidence"]["verified_days_ago"] == 8
    assert f[("no_restore_test", "dataset:too-old")]["evidence"]["restore_days_ago"] == 91
    assert "never" in f[("not_verified", "dataset:never")]["message"]
    assert f[("not_verified", "dataset:failed-verify")]["evidence"]["last_verified"] == "2026-11-10"


def test_datasets_without_success_and_globs(cli, make_snapshot, write_yaml, tmp_path):
    policy = POLICY + "params: {datasets: [erp-db, 'earchive-*']}\n"
    rows = [_bk("earchive-files", "2026-11-22", status="failed"),
            _bk("earchive-files", "2026-11-22", status="partial"),
            _bk("scratch", "2020-01-01", status="failed"),      # not judged
            *_good("earchive-db", "2026-11-22T12:00:00+08:00")]
    _, doc = _run(cli, make_snapshot, write_yaml, tmp_path, rows, policy)
    assert hits(doc) == {("no_successful_backup", "dataset:earchive-files"),
                         ("no_successful_backup", "dataset:erp-db")}


def test_missing_backups_table_is_an_error_not_a_pass(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({"archives": [{"archive_id": "A1", "category": "总账", "fiscal_year": "2020"}]})
    result = cli("scan", "--snapshot", snap, "--policies", write_yaml("p.yaml", policy_pack(POLICY)),
                 "--as-of", "2026-11-23", "--out", tmp_path / "out")
    assert result.exit_code == 3
    assert run_findings(tmp_path / "out")["policies"][0]["status"] == "error"
