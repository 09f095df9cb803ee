"""SPEC §5 row by row and §5.1 clause by clause, through the real `ledgerguard scan`.

Each test is named after the clause it checks; the snapshot timezone is Asia/Shanghai
(+08:00) unless a test says otherwise, and "today" is 2026-11-23 (00:00 local =
2026-11-22T16:00:00Z).
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from kindtest import ROLE_PERMISSIONS

from conftest import policy_pack, run_findings
from ledgerguard.scanner.kinds.base import KINDS

TZ = "Asia/Shanghai"
AS_OF = "2026-11-23"


def pol(kind: str, params: dict | None = None, pid: str = "T-1", severity: str = "high") -> str:
    """One policy as YAML (params as JSON, which is YAML flow style)."""
    text = f"id: {pid}\nkind: {kind}\ntitle: {pid}\nseverity: {severity}\n"
    return text + (f"params: {json.dumps(params, ensure_ascii=False)}\n" if params is not None else "")


@pytest.fixture
def run(cli, make_snapshot, tmp_path):
    """scan(tables, *policies, as_of=…) → findings.json of a real CLI scan (exit 0 or 1)."""
    counter = iter(range(1000))

    def scan(tables: dict, *policies: str, as_of: str | None = AS_OF, tz: str = TZ,
             taken_at: str | None = None) -> dict:
        n = next(counter)
        snap = make_snapshot(tables, timezone=tz, taken_at=taken_at)
        pack = tmp_path / f"pack{n}.yaml"
        pack.write_text(policy_pack(*policies), encoding="utf-8")
        out = tmp_path / f"out{n}"
        args = ["scan", "--snapshot", snap, "--policies", pack, "--out", out, "--format", "json"]
        result = cli(*args, *(["--as-of", as_of] if as_of else []))
        assert result.exit_code in (0, 1), result.output
        return run_findings(out)

    return scan


def found(doc: dict, code: str | None = None) -> set[str]:
    """Subjects of the findings (of one code)."""
    return {f["subject"] for f in doc["findings"] if code is None or f["code"] == code}


def pairs(doc: dict) -> set[tuple[str, str]]:
    return {(f["code"], f["subject"]) for f in doc["findings"]}


def by(doc: dict, code: str, subject: str) -> dict:
    [hit] = [f for f in doc["findings"] if f["code"] == code and f["subject"] == subject]
    return hit


def acc(account_id: str, person_id: str = "", system: str = "erp", enabled: str = "true", **kw) -> dict:
    return {"system": system, "account_id": account_id, "person_id": person_id, "enabled": enabled, **kw}


def person(pid: str, status: str = "active", position: str = "会计", **kw) -> dict:
    return {"person_id": pid, "name": f"员工{pid}", "status": status, "position": position, **kw}


_ids = iter(range(100_000))


def backup(dataset: str, finished_at: str, **kw) -> dict:
    """A successful, encrypted, verified, restore-tested backup; two make a compliant window."""
    row = {"backup_id": f"B{next(_ids)}", "dataset": dataset, "finished_at": finished_at, "status": "success",
           "location": "local", "offsite": "false", "encrypted": "true", "verified_at": "2026-11-22",
           "verify_status": "success", "restore_tested_at": "2026-11-01"}
    return {**row, **kw}


def good_day(dataset: str, finished_at: str) -> list[dict]:
    return [backup(dataset, finished_at), backup(dataset, finished_at, location="dr-site", offsite="true")]


def archive(aid: str, category: str = "记账凭证", fiscal_year: int = 2000, **kw) -> dict:
    row = {"archive_id": aid, "category": category, "fiscal_year": fiscal_year, "status": "active",
           "format": "pdf", "sha256": "ab" * 32, "actual_sha256": "ab" * 32, "file_exists": "true"}
    return {**row, **kw}


def destroyed(aid: str, on: str, **kw) -> dict:
    """A destruction with its register, approval and a same-day appraisal (only the date can be wrong)."""
    row = {"status": "destroyed", "destroyed_at": on, "destruction_register_id": "XH-1",
           "destruction_approved_by": "P9", "appraised_at": on}
    return archive(aid, **{**row, **kw})


# ---------------------------------------------------------------- SPEC §5: the kinds table

SPEC_5_CODES = {
    "revoke_on_departure": {"enabled_after_departure", "late_revocation", "activity_after_departure",
                            "archive_access_after_departure", "grants_on_disabled_account"},
    "role_template": {"role_not_in_template", "forbidden_permission", "required_role_missing", "too_many_roles"},
    "segregation_of_duties": {"incompatible_duties"},
    "change_approval": {"missing_request", "not_approved", "approved_after_performed", "approver_is_performer",
                        "self_grant", "approver_position", "not_verified", "verified_late",
                        "verifier_is_performer", "verified_before_performed"},
    "access_review": {"never_reviewed", "review_overdue"},
    "dormant_account": {"dormant", "never_used"},
    "orphan_account": {"no_person", "unknown_person", "no_owner", "unknown_owner", "owner_departed"},
    "privileged_mfa": {"privileged_without_mfa"},
    "retention_period": {"destroyed_early", "destroyed_on_hold", "destruction_undocumented",
                         "destroyed_before_appraisal", "due_for_appraisal", "unknown_category"},
    "backup_frequency": {"no_successful_backup", "backup_overdue", "too_few_locations", "no_offsite_copy",
                         "not_verified", "no_restore_test", "unencrypted_backup"},
    "archive_integrity": {"hash_missing", "hash_mismatch", "file_missing", "format_not_allowed",
                          "metadata_missing"},
    "table_rule": {"row_matched"},
    # the handover and change-discipline kinds (issue 15), beyond SPEC §5's table
    "handover": {"no_handover", "late_handover", "duty_gap", "duty_overlap", "signature_missing",
                 "supervisor_missing", "supervisor_is_party", "supervisor_position", "receiver_unknown",
                 "receiver_not_active", "no_backup_before_handover"},
    "unrecorded_change": {"grant_without_change", "grant_appeared_without_change", "account_enabled_without_change",
                          "grant_removed_without_revoke", "previous_snapshot_missing"},
    "period_close_freeze": {"change_in_freeze", "handover_in_freeze"},
    # issue 16 (electronic archives); SPEC §5's table is for the coordinator to extend
    "archive_content": {"format_mismatch", "unreadable", "encrypted", "nonpublic_compression", "not_pdfa",
                        "unsigned", "xml_missing", "fixity_stale", "unlisted_file"},
    "archive_completeness": {"period_missing", "id_duplicate", "id_pattern"},
    "voucher_continuity": {"voucher_gap", "voucher_duplicate"},
    "handover_batches": {"batch_count_mismatch", "batch_bytes_mismatch", "batch_unknown"},
    "archive_access": {"access_without_permission"},
    "archive_borrowing": {"borrow_unapproved", "borrow_self_approved", "borrow_overdue", "borrow_unregistered"},
}


def test_spec_5_every_kind_exists_with_a_code_for_every_finding_of_its_row():
    assert set(KINDS.names()) == set(SPEC_5_CODES)
    for name, codes in SPEC_5_CODES.items():
        assert codes <= set(KINDS.get(name).codes), (name, codes - set(KINDS.get(name).codes))


def test_spec_5_params_default_to_the_values_in_brackets():
    expected = {
        "revoke_on_departure": {"systems": ["*"], "grace_days": 0, "lookback_days": 365},
        "role_template": {"transfer_grace_days": 0},
        "segregation_of_duties": {"level": "person"},
        "change_approval": {"window_days": 90, "actions": ["grant", "enable", "create"]},
        "access_review": {"max_age_days": 90},
        "dormant_account": {"max_idle_days": 90},
        "orphan_account": {"allow_types": ["service"]},
        "backup_frequency": {"datasets": ["*"], "max_interval_hours": 24, "window_days": 7, "min_locations": 2,
                             "require_offsite": True, "verify_within_days": 7, "restore_test_within_days": 90,
                             "require_encrypted": True},
    }
    for name, defaults in expected.items():
        got = KINDS.get(name).defaults()
        assert {k: got.get(k) for k in defaults} == defaults, name


def test_spec_5_every_kind_is_documented_with_its_codes_params_example_and_subject():
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "policies.md").read_text(encoding="utf-8")
    sections = {s.split("\n", 1)[0].strip(): s for s in doc.split("\n## ")[1:]}
    for name, kind in KINDS.items():
        section = sections[name]
        for code in kind.codes:
            assert f"`{code}`" in section, (name, code)
        for param in kind.params_schema.get("properties", {}):
            assert f"`{param}`" in section, (name, param)
        assert f"kind: {name}" in section and "Subject:" in section, name


# ---------------------------------------------------------------- §5.1 Now

BACKUP_24H = {"min_locations": 1, "require_offsite": False}


def test_now_as_of_date_is_midnight_in_the_snapshot_timezone(run):
    # 2026-11-23 00:00 Asia/Shanghai = 2026-11-22T16:00:00Z
    rows = [backup("exact", "2026-11-21T16:00:00Z"), backup("late", "2026-11-21T15:59:59Z")]
    doc = run({"backups": rows}, pol("backup_frequency", BACKUP_24H))
    assert doc["scan"]["as_of"] == "2026-11-23"
    assert found(doc) == {"dataset:late"}
    # the same rows in a UTC snapshot: now = 2026-11-23T00:00Z, both are 32 hours old
    doc = run({"backups": rows}, pol("backup_frequency", BACKUP_24H), tz="UTC")
    assert found(doc, "backup_overdue") == {"dataset:exact", "dataset:late"}


def test_now_as_of_accepts_a_full_timestamp(run):
    rows = [backup("erp-db", "2026-11-22T08:00:00+08:00")]
    for as_of, overdue in [("2026-11-23", set()), ("2026-11-23T08:00:00+08:00", set()),
                           ("2026-11-23T00:00:01Z", {"dataset:erp-db"})]:
        doc = run({"backups": rows}, pol("backup_frequency", BACKUP_24H), as_of=as_of)
        assert found(doc, "backup_overdue") == overdue, as_of
    assert doc["scan"]["as_of"] == "2026-11-23T08:00:01+08:00"


def test_now_without_as_of_is_the_manifest_taken_at(run):
    rows = [backup("erp-db", "2026-11-22T08:00:00+08:00")]
    doc = run({"backups": rows}, pol("backup_frequency", BACKUP_24H), as_of=None,
              taken_at="2026-11-23T00:00:01Z")
    assert doc["scan"]["as_of"] == "2026-11-23T08:00:01+08:00"
    assert found(doc, "backup_overdue") == {"dataset:erp-db"}


def test_now_without_as_of_or_taken_at_is_the_clock(run):
    before = dt.datetime.now(ZoneInfo(TZ)).date()
    doc = run({"backups": [backup("erp-db", "2000-01-01")]}, pol("backup_frequency", BACKUP_24H), as_of=None)
    after = dt.datetime.now(ZoneInfo(TZ)).date()
    assert doc["scan"]["as_of"][:10] in {before.isoformat(), after.isoformat()}
    assert doc["scan"]["as_of"].endswith("+08:00")
    assert found(doc, "backup_overdue") == {"dataset:erp-db"}


# ---------------------------------------------------------------- §5.1 Time values

def test_time_values_mix_bare_dates_and_timestamps_with_and_without_offsets(run):
    """One column, every form; offsets converted to the snapshot timezone (as-of − 90 days = 08-25)."""
    values = {
        "bare_ok": "2026-08-25",
        "naive_ok": "2026-08-25T23:59:59",                # naive = local
        "space_ok": "2026-08-25 08:00:00+0800",
        "z_ok": "2026-08-24T16:00:00Z",                    # 08-25 00:00 local
        "bare_old": "2026-08-24",
        "z_old": "2026-08-24T15:59:59Z",                   # 08-24 23:59:59 local
        "plus9_old": "2026-08-25T00:30:00+09:00",          # 08-24 23:30 local
    }
    tables = {"accounts": [acc(a) for a in values],
              "reviews": [{"system": "erp", "account_id": a, "reviewed_at": v} for a, v in values.items()]}
    doc = run(tables, pol("access_review", {"max_age_days": 90}))
    assert found(doc) == {"account:erp:bare_old", "account:erp:z_old", "account:erp:plus9_old"}
    assert {f["code"] for f in doc["findings"]} == {"review_overdue"}
    ev = by(doc, "review_overdue", "account:erp:plus9_old")["evidence"]
    assert (ev["reviewed_at"], ev["age_days"]) == ("2026-08-24T23:30:00+08:00", 91)


def test_time_values_day_limits_compare_local_calendar_dates_not_elapsed_time(run):
    tables = {"accounts": [
        acc("late_evening", last_login_at="2026-08-25T23:59:59+08:00"),  # 89 days elapsed, 90 calendar: fine
        acc("utc_prev_day", last_login_at="2026-08-24T16:30:00Z"),       # 08-25 00:30 local: 90 days, fine
        acc("one_more_day", last_login_at="2026-08-24T23:59:59+08:00"),  # 90 days elapsed, 91 calendar
    ]}
    doc = run(tables, pol("dormant_account", {"max_idle_days": 90}))
    assert pairs(doc) == {("dormant", "account:erp:one_more_day")}
    assert by(doc, "dormant", "account:erp:one_more_day")["evidence"]["idle_days"] == 91


def test_time_values_hour_limits_compare_elapsed_time_from_now(run):
    rows = [backup("bare_date", "2026-11-22"),                 # 00:00 local: exactly 24 h
            backup("naive", "2026-11-22 00:00:00"),
            backup("plus1", "2026-11-21T17:00:00+01:00"),      # exactly 24 h
            backup("late_naive", "2026-11-21T23:59:59"),       # 24 h + 1 s
            backup("late_z", "2026-11-21T15:59:59Z")]
    doc = run({"backups": rows}, pol("backup_frequency", BACKUP_24H))
    assert found(doc) == {"dataset:late_naive", "dataset:late_z"}
    assert {f["code"] for f in doc["findings"]} == {"backup_overdue"}


def test_time_values_hour_limits_are_elapsed_time_across_a_dst_change(run):
    # Europe/Berlin leaves summer time on 2026-10-25 (03:00 CEST → 02:00 CET): that day has 25 hours.
    # now = 2026-10-26 00:00 CET = 2026-10-25T23:00:00Z
    rows = [backup("wall_clock_24h", "2026-10-25T00:00:00"),   # CEST: 25 hours elapsed → overdue
            backup("elapsed_24h", "2026-10-25T01:00:00"),      # 2026-10-24T23:00Z: exactly 24 hours
            backup("utc_24h", "2026-10-24T23:00:00Z")]
    doc = run({"backups": rows}, pol("backup_frequency", BACKUP_24H), as_of="2026-10-26", tz="Europe/Berlin")
    assert pairs(doc) == {("backup_overdue", "dataset:wall_clock_24h")}
    assert by(doc, "backup_overdue", "dataset:wall_clock_24h")["evidence"]["hours_since"] == 25


# ---------------------------------------------------------------- §5.1 Limits are inclusive

def test_limits_inclusive_departure_on_as_of_minus_grace_days_is_not_yet_late(run):
    tables = {"identities": [person("P1", "departed", departure_date="2026-11-21"),
                             person("P2", "departed", departure_date="2026-11-20"),
                             person("P3", "departed", departure_date="2026-11-23")],
              "accounts": [acc("at_limit", "P1"), acc("past", "P2"), acc("today", "P3")]}
    doc = run(tables, pol("revoke_on_departure", {"grace_days": 2}))
    assert pairs(doc) == {("enabled_after_departure", "account:erp:past")}
    assert by(doc, "enabled_after_departure", "account:erp:past")["evidence"]["days_overdue"] == 1
    doc = run(tables, pol("revoke_on_departure"))  # grace 0: leaving today is not late, yesterday is
    assert found(doc) == {"account:erp:at_limit", "account:erp:past"}


def test_limits_inclusive_late_revocations_for_departures_within_lookback_days(run):
    tables = {"identities": [person("P1", "departed", departure_date="2026-10-24"),   # 30 days ago
                             person("P2", "departed", departure_date="2026-10-23")],  # 31 days ago
              "accounts": [acc("in", "P1", enabled="false", disabled_at="2026-11-01"),
                           acc("out", "P2", enabled="false", disabled_at="2026-11-01")]}
    doc = run(tables, pol("revoke_on_departure", {"lookback_days": 30}))
    assert pairs(doc) == {("late_revocation", "account:erp:in")}


def test_limits_inclusive_review_exactly_max_age_days_old_is_fine(run):
    tables = {"accounts": [acc("exact"), acc("older")],
              "reviews": [{"system": "erp", "account_id": "exact", "reviewed_at": "2026-11-13"},
                          {"system": "erp", "account_id": "older", "reviewed_at": "2026-11-12"}]}
    doc = run(tables, pol("access_review", {"max_age_days": 10}))
    assert pairs(doc) == {("review_overdue", "account:erp:older")}
    assert by(doc, "review_overdue", "account:erp:older")["evidence"]["age_days"] == 11


def test_limits_inclusive_exactly_max_roles_roles_is_fine(run):
    grants = [{"system": "erp", "account_id": a, "role": r}
              for a, roles in {"three": ["r1", "r2", "r3"], "four": ["r1", "r2", "r3", "r4"]}.items()
              for r in roles]
    tables = {"identities": [person("P1"), person("P2")], "accounts": [acc("three", "P1"), acc("four", "P2")],
              "grants": [*grants, {"system": "erp", "account_id": "three", "role": "r1", "scope": "dup"}],
              "role_permissions": ROLE_PERMISSIONS}
    doc = run(tables, pol("role_template", {"max_roles": 3, "templates": {"会计": {"allowed_roles": ["r*"]}}}))
    assert pairs(doc) == {("too_many_roles", "account:erp:four")}
    assert by(doc, "too_many_roles", "account:erp:four")["evidence"]["role_count"] == 4


def test_limits_inclusive_transfer_grace_days(run):
    tables = {"identities": [person("P1", position="出纳", previous_position="会计", transfer_date="2026-11-13"),
                             person("P2", position="出纳", previous_position="会计", transfer_date="2026-11-12")],
              "accounts": [acc("in_grace", "P1"), acc("past_grace", "P2")],
              "grants": [{"system": "erp", "account_id": a, "role": r} for a in ("in_grace", "past_grace")
                         for r in ("cashier", "gl_clerk")],
              "role_permissions": ROLE_PERMISSIONS}
    params = {"transfer_grace_days": 10,
              "templates": {"出纳": {"allowed_roles": ["cashier"], "forbidden_permissions": ["gl.account.*.post"]},
                            "会计": {"allowed_roles": ["gl_clerk"]}}}
    doc = run(tables, pol("role_template", params))
    assert pairs(doc) == {("role_not_in_template", "account:erp:past_grace"),
                          ("forbidden_permission", "account:erp:past_grace")}


def test_limits_inclusive_max_idle_days_and_never_used_from_created_at(run):
    tables = {"accounts": [acc("idle_exact", last_login_at="2026-08-25"), acc("idle_over", last_login_at="2026-08-24"),
                           acc("new_exact", created_at="2026-08-25T09:00:00+08:00"),
                           acc("new_over", created_at="2026-08-24T09:00:00+08:00")]}
    doc = run(tables, pol("dormant_account", {"max_idle_days": 90}))
    assert pairs(doc) == {("dormant", "account:erp:idle_over"), ("never_used", "account:erp:new_over")}


def test_limits_inclusive_change_window_days(run):
    def change(cid: str, at: str) -> dict:
        return {"change_id": cid, "system": "erp", "account_id": "x", "action": "grant", "role": "cashier",
                "performed_by": "P2", "performed_at": at, "request_id": ""}  # no request, not approved
    tables = {"changes": [change("C-IN", "2026-11-13T23:00:00+08:00"), change("C-OUT", "2026-11-12T23:59:59+08:00")],
              "accounts": [acc("x", "P1")]}
    doc = run(tables, pol("change_approval", {"window_days": 10}))
    assert found(doc) == {"change:C-IN"}


def test_limits_inclusive_backup_window_verify_and_restore_days(run):
    rows = [
        # window: the offsite copy of 2026-11-20 is 3 days old — inside window_days 3
        backup("in_window", "2026-11-22T12:00:00+08:00"),
        backup("in_window", "2026-11-20T00:00:00+08:00", location="dr", offsite="true"),
        backup("out_window", "2026-11-22T12:00:00+08:00"),
        backup("out_window", "2026-11-19T23:59:59+08:00", location="dr", offsite="true"),
        # verification and restore test exactly at their limit, and one day past it
        *good_day("checks_exact", "2026-11-22T12:00:00+08:00"),
        backup("checks_exact", "2026-11-01", verified_at="2026-11-20", restore_tested_at="2026-11-13"),
        *[{**b, "verified_at": "", "restore_tested_at": ""}
          for b in good_day("checks_over", "2026-11-22T12:00:00+08:00")],
        backup("checks_over", "2026-11-01", verified_at="2026-11-19", restore_tested_at="2026-11-12"),
    ]
    rows = [r if r["dataset"].startswith("checks") else {**r, "restore_tested_at": "2026-11-20"} for r in rows]
    params = {"window_days": 3, "verify_within_days": 3, "restore_test_within_days": 10}
    doc = run({"backups": rows}, pol("backup_frequency", params))
    assert pairs(doc) == {("too_few_locations", "dataset:out_window"), ("no_offsite_copy", "dataset:out_window"),
                          ("not_verified", "dataset:checks_over"), ("no_restore_test", "dataset:checks_over")}


def test_limits_inclusive_retention_first_destroyable_day_is_jan_1_after_the_period(run):
    tables = {"archives": [destroyed("A-JAN1", "2031-01-01"), destroyed("A-DEC31", "2030-12-31T23:59:59+08:00"),
                           destroyed("A-UTC", "2030-12-31T16:30:00Z"),            # 2031-01-01 00:30 local
                           destroyed("A-10Y", "2011-01-01", category="银行对账单"),
                           destroyed("A-10Y-EARLY", "2010-12-31", category="银行对账单")]}
    doc = run(tables, pol("retention_period"), as_of="2031-06-01")
    assert pairs(doc) == {("destroyed_early", "archive:A-DEC31"), ("destroyed_early", "archive:A-10Y-EARLY")}
    assert by(doc, "destroyed_early", "archive:A-DEC31")["evidence"]["destroyable_from"] == "2031-01-01"


# ---------------------------------------------------------------- §5.1 Empty values

def test_empty_values_an_empty_boolean_is_false(run):
    tables = {
        "accounts": [acc("on", "P1", last_login_at="2020-01-01"),
                     acc("blank", "P1", enabled="", last_login_at="2020-01-01"),
                     acc("admin", "P1", mfa_enabled=""), acc("admin_mfa", "P1", mfa_enabled="是")],
        "grants": [{"system": "erp", "account_id": a, "role": "sys_admin"} for a in ("admin", "admin_mfa")],
        "role_permissions": ROLE_PERMISSIONS,
        "backups": [backup("erp-db", "2031-05-31T12:00:00+08:00", offsite="", encrypted="")],
        "archives": [archive("A-1", file_exists=""), archive("A-2", hold="", **{
            "status": "destroyed", "destroyed_at": "2031-02-01", "destruction_register_id": "X",
            "destruction_approved_by": "P9", "appraised_at": "2031-01-15"})],
    }
    doc = run(tables, pol("dormant_account", pid="DOR"), pol("privileged_mfa", pid="MFA"),
              pol("backup_frequency", {"min_locations": 1}, pid="BAK"), pol("archive_integrity", pid="INT"),
              pol("retention_period", pid="ARC"), as_of="2031-06-01")
    assert found(doc, "dormant") == {"account:erp:on"}  # an empty `enabled` is not enabled
    assert found(doc, "privileged_without_mfa") == {"account:erp:admin"}
    assert found(doc, "no_offsite_copy") == found(doc, "unencrypted_backup") == {"dataset:erp-db"}
    assert found(doc, "file_missing") == {"archive:A-1"}
    assert found(doc, "destroyed_on_hold") == set()


def test_empty_values_an_empty_date_means_never(run):
    tables = {
        "identities": [person("P1", "departed", departure_date="2026-11-01")],
        "accounts": [acc("gone", "P1", enabled="false", disabled_at=""), acc("fresh", "P2", last_login_at="",
                                                                             created_at="")],
        "reviews": [{"system": "erp", "account_id": "fresh", "reviewed_at": ""}],
        "backups": [*good_day("erp-db", "2026-11-22T12:00:00+08:00")],
    }
    tables["backups"] = [{**b, "verified_at": "", "restore_tested_at": ""} for b in tables["backups"]]
    doc = run(tables, pol("access_review", pid="REV"), pol("dormant_account", pid="DOR"),
              pol("backup_frequency", pid="BAK"), pol("revoke_on_departure", pid="ACC"))
    assert pairs(doc) == {("never_reviewed", "account:erp:fresh"), ("never_used", "account:erp:fresh"),
                          ("not_verified", "dataset:erp-db"), ("no_restore_test", "dataset:erp-db")}
    assert by(doc, "not_verified", "dataset:erp-db")["evidence"]["last_verified"] is None
    assert "never" in by(doc, "no_restore_test", "dataset:erp-db")["message"]


# ---------------------------------------------------------------- §5.1 Vocabularies

def test_vocabularies_approval_status_anything_but_approved_or_an_empty_approver_is_not_approved(run):
    def change(cid: str, status: str, approver: str = "P3") -> dict:
        return {"change_id": cid, "system": "erp", "account_id": "x", "action": "grant", "role": "cashier",
                "performed_by": "P2", "performed_at": "2026-11-20T10:00:00+08:00", "request_id": "REQ-1",
                "approved_by": approver, "approved_at": "2026-11-19", "approval_status": status}
    tables = {"changes": [change("OK", "approved"), change("OK-CASE", " Approved "), change("PENDING", "pending"),
                          change("REJECTED", "rejected"), change("EMPTY", ""), change("ODD", "yes"),
                          change("NO-APPROVER", "approved", approver="")],
              "accounts": [acc("x", "P1")]}
    doc = run(tables, pol("change_approval"))
    assert pairs(doc) == {("not_approved", f"change:{c}") for c in ("PENDING", "REJECTED", "EMPTY", "ODD",
                                                                     "NO-APPROVER")}


def test_vocabularies_only_verify_status_success_verifies(run):
    rows = [*good_day("erp-db", "2026-11-22T12:00:00+08:00"), *good_day("fs", "2026-11-22T12:00:00+08:00")]
    rows = [{**r, "verified_at": ""} for r in rows]
    rows += [backup("erp-db", "2026-11-10", verified_at="2026-11-22", verify_status="failed"),
             backup("erp-db", "2026-11-09", verified_at="2026-11-10", verify_status="success"),
             backup("fs", "2026-11-10", verified_at="2026-11-21", verify_status="success", status="failed")]
    doc = run({"backups": rows}, pol("backup_frequency"))
    assert pairs(doc) == {("not_verified", "dataset:erp-db")}
    assert by(doc, "not_verified", "dataset:erp-db")["evidence"]["last_verified"] == "2026-11-10"


def test_vocabularies_only_backup_status_success_counts(run):
    rows = [*good_day("erp-db", "2026-11-21"),
            backup("erp-db", "2026-11-22T20:00:00+08:00", status="partial"),
            backup("erp-db", "2026-11-22T21:00:00+08:00", status="failed"),
            backup("fs", "2026-11-22T20:00:00+08:00", status="partial"),
            backup("fs", "2026-11-22T21:00:00+08:00", status="failed", offsite="true")]
    doc = run({"backups": rows}, pol("backup_frequency"))
    assert pairs(doc) == {("backup_overdue", "dataset:erp-db"), ("no_successful_backup", "dataset:fs")}


def test_vocabularies_a_revoke_decision_is_still_a_review(run):
    tables = {"accounts": [acc("a"), acc("b")],
              "reviews": [{"system": "erp", "account_id": "a", "reviewed_at": "2026-11-01", "decision": "revoke"},
                          {"system": "erp", "account_id": "b", "reviewed_at": "2026-01-01", "decision": "keep"}]}
    doc = run(tables, pol("access_review"))
    assert pairs(doc) == {("review_overdue", "account:erp:b")}


# ---------------------------------------------------------------- §5.1 Globs

def test_globs_are_shell_style_case_sensitive_and_star_crosses_dots(run):
    perms = [{"system": "erp", "role": "deep", "permission": "sys.user.admin.reset"},
             {"system": "erp", "role": "upper", "permission": "SYS.config"},
             {"system": "erp", "role": "single", "permission": "pay1"},
             {"system": "erp", "role": "double", "permission": "pay12"}]
    tables = {"accounts": [acc(r) for r in ("deep", "upper", "single", "double")],
              "grants": [{"system": "erp", "account_id": r, "role": r} for r in ("deep", "upper", "single", "double")],
              "role_permissions": perms,
              "backups": [*good_day("ERP-db", "2020-01-01"), *good_day("erp-db", "2026-11-22T12:00:00+08:00")]}
    doc = run(tables, pol("privileged_mfa", {"privileged_permissions": ["sys.*", "pay?"]}, pid="MFA"),
              pol("backup_frequency", {"datasets": ["erp-*"]}, pid="BAK"))
    assert pairs(doc) == {("privileged_without_mfa", "account:erp:deep"),
                          ("privileged_without_mfa", "account:erp:single")}


# ---------------------------------------------------------------- §5.1 People

SOD = {"rules": [{"id": "ENTER-APPROVE", "left": ["gl.voucher.enter"], "right": ["gl.voucher.approve"]}]}


def test_people_accounts_belong_to_a_person_through_person_id_only(run):
    tables = {
        "identities": [person("P1"), person("P2")],
        "accounts": [acc("p1_erp", "P1"), acc("p1_arc", "P1", system="earchive"),
                     acc("p2_erp", "P2"), acc("svc", "", account_type="service", owner_person_id="P2")],
        "grants": [{"system": "erp", "account_id": "p1_erp", "role": "enter"},
                   {"system": "earchive", "account_id": "p1_arc", "role": "approve"},
                   {"system": "erp", "account_id": "p2_erp", "role": "enter"},
                   {"system": "erp", "account_id": "svc", "role": "approve"}],
        "role_permissions": [{"system": s, "role": "enter", "permission": "gl.voucher.enter"} for s in ("erp",)]
        + [{"system": s, "role": "approve", "permission": "gl.voucher.approve"} for s in ("erp", "earchive")],
    }
    doc = run(tables, pol("segregation_of_duties", SOD))
    assert pairs(doc) == {("incompatible_duties", "person:P1")}  # owner_person_id pools nothing
    f = by(doc, "incompatible_duties", "person:P1")
    assert f["person_id"] == "P1" and f["evidence"]["accounts"] == ["account:earchive:p1_arc", "account:erp:p1_erp"]


def test_people_only_enabled_accounts_contribute_permissions_to_a_conflict(run):
    tables = {
        "accounts": [acc("on", "P1"), acc("off", "P1", system="earchive", enabled="false"),
                     acc("on2", "P2"), acc("blank", "P2", system="earchive", enabled="")],
        "grants": [{"system": "erp", "account_id": a, "role": "enter"} for a in ("on", "on2")]
        + [{"system": "earchive", "account_id": a, "role": "approve"} for a in ("off", "blank")],
        "role_permissions": [{"system": "erp", "role": "enter", "permission": "gl.voucher.enter"},
                             {"system": "earchive", "role": "approve", "permission": "gl.voucher.approve"}],
    }
    assert run(tables, pol("segregation_of_duties", SOD))["findings"] == []


def test_people_deny_entries_remove_a_permission_whatever_else_grants_it(run):
    tables = {
        "accounts": [acc("denied"), acc("glob_denied"), acc("other_account_denied", "P3"), acc("p3_arc", "P3")],
        "grants": [{"system": "erp", "account_id": a, "role": r} for a, r in [
            ("denied", "clerk"), ("denied", "reviewer"), ("denied", "no_approve"),
            ("glob_denied", "clerk"), ("glob_denied", "reviewer"), ("glob_denied", "no_gl"),
            ("other_account_denied", "clerk"), ("other_account_denied", "no_approve"), ("p3_arc", "reviewer")]],
        "role_permissions": [
            {"system": "erp", "role": "clerk", "permission": "gl.voucher.enter"},
            {"system": "erp", "role": "reviewer", "permission": "gl.voucher.approve"},
            {"system": "erp", "role": "no_approve", "permission": "gl.voucher.approve", "effect": "deny"},
            {"system": "erp", "role": "no_gl", "permission": "gl.voucher.app*", "effect": " deny "},
        ],
    }
    doc = run(tables, pol("segregation_of_duties", SOD))
    # a deny removes the permission from that account only; P3's other account still approves
    assert pairs(doc) == {("incompatible_duties", "person:P3")}
    doc = run(tables, pol("segregation_of_duties", {**SOD, "level": "account"}))
    assert doc["findings"] == []


# ---------------------------------------------------------------- §5.1 Subjects

def test_subjects_of_every_kind(run):
    tables = {
        "identities": [person("P1", "departed", departure_date="2026-11-01"), person("P2", position="出纳")],
        "accounts": [acc("gone", "P1", last_login_at="2026-01-01", created_at="2020-01-01"),
                     acc("cash", "P2", last_login_at="2026-11-22"), acc("orphan", "", enabled="false")],
        "grants": [{"system": "erp", "account_id": "cash", "role": r} for r in ("cashier", "gl_reviewer", "sys_admin")],
        "role_permissions": ROLE_PERMISSIONS,
        "changes": [{"change_id": "C-88", "system": "erp", "account_id": "cash", "action": "grant",
                     "performed_by": "P2", "performed_at": "2026-11-20"}],
        "reviews": [{"system": "erp", "account_id": "cash", "reviewed_at": "2025-01-01"}],
        "archives": [archive("A-2015-0001", fiscal_year=2015, status="destroyed", destroyed_at="2026-01-01",
                             format="exe")],
        "backups": [backup("gl-db", "2020-01-01")],
    }
    policies = [
        pol("revoke_on_departure", pid="ACC"),
        pol("role_template", {"templates": {"出纳": {"allowed_roles": ["cashier"]}}}, pid="ROLE"),
        pol("segregation_of_duties", {"rules": [{"id": "R1", "left": ["cash.*"], "right": ["bank.reconcile"]}]},
            pid="SOD-P"),
        pol("segregation_of_duties", {"level": "account",
                                      "rules": [{"id": "R1", "left": ["cash.*"], "right": ["bank.reconcile"]}]},
            pid="SOD-A"),
        pol("change_approval", pid="CHG"), pol("access_review", pid="REV"), pol("dormant_account", pid="DOR"),
        pol("orphan_account", pid="ORP"), pol("privileged_mfa", pid="MFA"), pol("retention_period", pid="ARC"),
        pol("backup_frequency", pid="BAK"), pol("archive_integrity", pid="INT"),
        pol("table_rule", {"table": "grants", "where": 'role == "sys_admin"', "message": "{role}",
                           "subject": "role:{system}:{account_id}:{role}"}, pid="TR"),
    ]
    doc = run(tables, *policies)
    subjects: dict[str, set[str]] = {}
    for f in doc["findings"]:
        subjects.setdefault(f["policy_id"], set()).add(f["subject"])
    assert subjects == {
        "ACC": {"account:erp:gone"}, "ROLE": {"account:erp:cash"}, "SOD-P": {"person:P2"},
        "SOD-A": {"account:erp:cash"}, "CHG": {"change:C-88"}, "REV": {"account:erp:gone", "account:erp:cash"},
        "DOR": {"account:erp:gone"}, "ORP": {"account:erp:orphan"}, "MFA": {"account:erp:cash"},
        "ARC": {"archive:A-2015-0001"}, "BAK": {"dataset:gl-db"}, "INT": {"archive:A-2015-0001"},
        "TR": {"role:erp:cash:sys_admin"},
    }
    # account-centred findings name the account's person; change findings the target's
    assert {f["person_id"] for f in doc["findings"] if f["policy_id"] in ("ROLE", "MFA", "CHG", "SOD-P")} == {"P2"}


# ---------------------------------------------------------------- §5.1 Per kind

def test_revoke_on_departure_on_time_when_local_date_of_disabled_at_is_within_grace(run):
    tables = {"identities": [person(p, "departed", departure_date="2026-11-21") for p in ("P1", "P2", "P3")],
              "accounts": [acc("evening", "P1", enabled="false", disabled_at="2026-11-21T15:59:59Z"),  # 23:59:59 local
                           acc("midnight", "P2", enabled="false", disabled_at="2026-11-21T16:00:00Z"),  # 11-22 local
                           acc("bare", "P3", enabled="false", disabled_at="2026-11-22")]}
    doc = run(tables, pol("revoke_on_departure"))
    assert pairs(doc) == {("late_revocation", "account:erp:midnight"), ("late_revocation", "account:erp:bare")}
    assert by(doc, "late_revocation", "account:erp:midnight")["evidence"]["days_late"] == 1
    assert run(tables, pol("revoke_on_departure", {"grace_days": 1}))["findings"] == []


def test_revoke_on_departure_activity_is_a_login_or_access_on_a_later_date(run):
    tables = {
        "identities": [person("P1", "departed", departure_date="2026-11-20"),
                       person("P2", "departed", departure_date="2026-11-20")],
        "accounts": [acc("same_day", "P1", enabled="false", disabled_at="2026-11-20",
                         last_login_at="2026-11-20T23:00:00+08:00"),
                     acc("next_day", "P2", enabled="false", disabled_at="2026-11-20",
                         last_login_at="2026-11-20T16:30:00Z")],  # 11-21 00:30 local
        "logins": [{"system": "erp", "account_id": "same_day", "at": "2026-11-22", "success": "false"},
                   {"system": "erp", "account_id": "same_day", "at": "2026-11-20T22:00:00", "success": "true"}],
        "access_log": [{"event_id": "E1", "archive_id": "A-1", "actor": "P1", "action": "view", "at": "2026-11-20"},
                       {"event_id": "E2", "archive_id": "A-2", "actor": "erp:next_day", "action": "download",
                        "at": "2026-11-21T09:00:00+08:00"}],
    }
    doc = run(tables, pol("revoke_on_departure"))
    assert pairs(doc) == {("activity_after_departure", "account:erp:next_day"),
                          ("archive_access_after_departure", "account:erp:next_day")}


def test_revoke_on_departure_logins_and_access_log_are_never_required(run):
    tables = {"identities": [person("P1", "departed", departure_date="2026-11-20")],
              "accounts": [acc("a", "P1", enabled="false", disabled_at="2026-11-20", last_login_at="2026-11-21")]}
    doc = run(tables, pol("revoke_on_departure"))
    assert doc["policies"][0]["status"] == "fail" and doc["policies"][0]["error"] is None
    assert pairs(doc) == {("activity_after_departure", "account:erp:a")}


def test_revoke_on_departure_archive_access_by_a_departed_person_without_accounts(run):
    tables = {"identities": [person("P1", "departed", departure_date="2026-11-20"), person("P2")],
              "accounts": [acc("other", "P2")],
              "access_log": [{"event_id": "E1", "archive_id": "A-1", "actor": "P1", "action": "borrow",
                              "at": "2026-11-21"},
                             {"event_id": "E2", "archive_id": "A-1", "actor": "P2", "action": "view",
                              "at": "2026-11-21"}]}
    doc = run(tables, pol("revoke_on_departure"))
    assert pairs(doc) == {("archive_access_after_departure", "person:P1")}
    assert by(doc, "archive_access_after_departure", "person:P1")["person_id"] == "P1"


def test_role_template_judged_per_account_with_a_person_id_and_max_roles_counts_an_accounts_roles(run):
    tables = {"identities": [person("P1")],
              "accounts": [acc("erp1", "P1"), acc("arc1", "P1", system="earchive"), acc("nobody", ""),
                           acc("stranger", "P404")],
              "grants": [{"system": s, "account_id": a, "role": r} for s, a in
                         [("erp", "erp1"), ("earchive", "arc1"), ("erp", "nobody"), ("erp", "stranger")]
                         for r in ("r1", "r2")],
              "role_permissions": ROLE_PERMISSIONS}
    doc = run(tables, pol("role_template", {"max_roles": 2, "templates": {"*": {"allowed_roles": ["r1"]}}}))
    # the person holds four roles over two accounts: each account has two, which is the limit
    assert pairs(doc) == {("role_not_in_template", "account:erp:erp1"),
                          ("role_not_in_template", "account:earchive:arc1")}


def test_role_template_default_forbidden_permissions_add_to_every_positions_list(run):
    tables = {"identities": [person("P1", position="出纳"), person("P2", position="会计")],
              "accounts": [acc("cash", "P1"), acc("clerk", "P2")],
              "grants": [{"system": "erp", "account_id": "cash", "role": "cashier"},
                         {"system": "erp", "account_id": "cash", "role": "sys_admin"},
                         {"system": "erp", "account_id": "clerk", "role": "gl_clerk"},
                         {"system": "erp", "account_id": "clerk", "role": "sys_admin"}],
              "role_permissions": ROLE_PERMISSIONS}
    params = {"default_forbidden_permissions": ["sys.*"],
              "templates": {"出纳": {"allowed_roles": ["*"], "forbidden_permissions": ["gl.*"]},
                            "会计": {"allowed_roles": ["*"]}}}
    doc = run(tables, pol("role_template", params))
    assert pairs(doc) == {("forbidden_permission", "account:erp:cash"), ("forbidden_permission", "account:erp:clerk")}
    assert by(doc, "forbidden_permission", "account:erp:clerk")["evidence"]["permissions"] == \
        "sys.config, sys.role.admin, sys.user.admin"


def test_role_template_a_mover_inside_transfer_grace_keeps_only_the_previous_templates_roles(run):
    tables = {"identities": [person("P1", position="出纳", previous_position="会计", transfer_date="2026-11-20")],
              "accounts": [acc("mover", "P1")],
              "grants": [{"system": "erp", "account_id": "mover", "role": r}
                         for r in ("cashier", "gl_clerk", "sys_admin")],
              "role_permissions": ROLE_PERMISSIONS}
    params = {"transfer_grace_days": 30, "templates": {"出纳": {"allowed_roles": ["cashier"]},
                                                         "会计": {"allowed_roles": ["gl_clerk"]}}}
    doc = run(tables, pol("role_template", params))
    assert pairs(doc) == {("role_not_in_template", "account:erp:mover")}
    assert by(doc, "role_not_in_template", "account:erp:mover")["evidence"]["roles"] == "sys_admin"


def test_change_approval_window_on_performed_at_and_approval_after_performing_compares_timestamps(run):
    def change(cid: str, performed: str, approved: str) -> dict:
        return {"change_id": cid, "system": "erp", "account_id": "x", "action": "grant", "role": "cashier",
                "performed_by": "P2", "performed_at": performed, "request_id": "R", "approved_by": "P3",
                "approved_at": approved, "approval_status": "approved"}
    tables = {"changes": [change("SAME", "2026-11-20T10:00:00+08:00", "2026-11-20T02:00:00Z"),
                          change("LATER", "2026-11-20T10:00:00+08:00", "2026-11-20T02:00:01Z"),
                          change("BARE-SAME-DAY", "2026-11-20T10:00:00+08:00", "2026-11-20"),
                          change("BARE-NEXT-DAY", "2026-11-20T10:00:00+08:00", "2026-11-21"),
                          change("OLD", "2026-01-01", "2026-01-02")],
              "accounts": [acc("x", "P1")]}
    doc = run(tables, pol("change_approval"))
    assert pairs(doc) == {("approved_after_performed", "change:LATER"),
                          ("approved_after_performed", "change:BARE-NEXT-DAY")}


def test_change_approval_self_grant_performer_is_the_target_accounts_person(run):
    def change(cid: str, account: str, performer: str, approver: str) -> dict:
        return {"change_id": cid, "system": "erp", "account_id": account, "action": "grant", "role": "cashier",
                "performed_by": performer, "performed_at": "2026-11-20", "request_id": "R",
                "requested_by": "P1", "approved_by": approver, "approved_at": "2026-11-19",
                "approval_status": "approved"}
    tables = {"changes": [change("SELF", "mine", "P1", "P3"), change("OWNER", "svc", "P1", "P3"),
                          change("REQUESTER", "theirs", "P2", "P3"), change("SAME-PERSON", "theirs", "P2", "P2")],
              "accounts": [acc("mine", "P1"), acc("svc", "", owner_person_id="P1", account_type="service"),
                           acc("theirs", "P4")]}
    doc = run(tables, pol("change_approval"))
    assert pairs(doc) == {("self_grant", "change:SELF"), ("approver_is_performer", "change:SAME-PERSON")}
    assert by(doc, "self_grant", "change:SELF")["person_id"] == "P1"


def test_change_approval_the_approvers_position_is_their_current_one(run):
    def change(cid: str, approver: str) -> dict:
        return {"change_id": cid, "system": "erp", "account_id": "x", "action": "create", "performed_by": "P2",
                "performed_at": "2026-11-20", "request_id": "R", "approved_by": approver,
                "approved_at": "2026-11-19", "approval_status": "approved"}
    tables = {"changes": [change("NOW-MANAGER", "P3"), change("WAS-MANAGER", "P4"), change("UNKNOWN", "P404")],
              "accounts": [acc("x", "P1")],
              "identities": [person("P3", position="财务经理", previous_position="会计", transfer_date="2026-11-01"),
                             person("P4", position="会计", previous_position="财务经理", transfer_date="2026-11-01")]}
    doc = run(tables, pol("change_approval", {"approver_positions": ["财务经理"]}))
    assert pairs(doc) == {("approver_position", "change:WAS-MANAGER"), ("approver_position", "change:UNKNOWN")}


def test_access_review_newest_review_counts_only_enabled_accounts_of_listed_systems(run):
    tables = {"accounts": [acc("a"), acc("off", enabled="false"), acc("dir", system="ad")],
              "reviews": [{"system": "erp", "account_id": "a", "reviewed_at": "2026-11-20"},
                          {"system": "erp", "account_id": "a", "reviewed_at": "2025-01-01"},
                          {"system": "erp", "account_id": "a", "reviewed_at": "2024-06-01T09:00:00Z"}]}
    doc = run(tables, pol("access_review", {"systems": ["erp"]}))
    assert doc["findings"] == []
    tables["reviews"] = [{"system": "erp", "account_id": "a", "reviewed_at": "2025-01-01"}]
    doc = run(tables, pol("access_review", {"systems": ["erp"]}))
    assert pairs(doc) == {("review_overdue", "account:erp:a")}


def test_dormant_account_enabled_accounts_only_never_used_counted_from_created_at(run):
    tables = {"accounts": [acc("off", enabled="false", last_login_at="2020-01-01"),
                           acc("used_recently_via_logins", last_login_at="2020-01-01"),
                           acc("old_never", created_at="2020-01-01"), acc("new_never", created_at="2026-11-01"),
                           acc("failed_only", created_at="2020-01-01")],
              "logins": [{"system": "erp", "account_id": "used_recently_via_logins", "at": "2026-11-22",
                          "success": "true"},
                         {"system": "erp", "account_id": "failed_only", "at": "2026-11-22", "success": "false"}]}
    doc = run(tables, pol("dormant_account"))
    assert pairs(doc) == {("never_used", "account:erp:old_never"), ("never_used", "account:erp:failed_only")}


def test_orphan_account_person_empty_or_unknown_unless_allowed_type_whose_owner_must_be_known_and_present(run):
    tables = {"identities": [person("P1"), person("P2", "departed", departure_date="2026-01-01")],
              "accounts": [acc("ok", "P1"), acc("none", ""), acc("ghost", "P404"),
                           acc("svc_ok", "", account_type="service", owner_person_id="P1"),
                           acc("svc_case", "", account_type=" service", owner_person_id="P1"),
                           acc("svc_none", "", account_type="service"),
                           acc("svc_ghost", "", account_type="service", owner_person_id="P404"),
                           acc("svc_gone", "", account_type="service", owner_person_id="P2"),
                           acc("shared", "", account_type="shared", owner_person_id="P1")]}
    doc = run(tables, pol("orphan_account"))
    assert pairs(doc) == {("no_person", "account:erp:none"), ("unknown_person", "account:erp:ghost"),
                          ("no_owner", "account:erp:svc_none"), ("unknown_owner", "account:erp:svc_ghost"),
                          ("owner_departed", "account:erp:svc_gone"), ("no_person", "account:erp:shared")}


def test_backup_frequency_window_verification_restore_and_unmatched_datasets(run):
    rows = [
        # the window's successful backups decide locations, offsite and encryption; old or failed ones do not
        backup("erp-db", "2026-11-22T12:00:00+08:00"),
        backup("erp-db", "2026-11-01", location="dr", offsite="true"),
        backup("erp-db", "2026-11-21", location="dr", offsite="true", status="failed", encrypted="false"),
        backup("erp-db", "2026-11-20", encrypted="false", restore_tested_at="2026-11-21"),
        # a dataset no glob matches is not judged at all
        backup("scratch", "2019-01-01", encrypted="false"),
    ]
    doc = run({"backups": rows}, pol("backup_frequency", {"datasets": ["erp-*", "gl-db"]}))
    assert pairs(doc) == {("too_few_locations", "dataset:erp-db"), ("no_offsite_copy", "dataset:erp-db"),
                          ("unencrypted_backup", "dataset:erp-db"), ("no_successful_backup", "dataset:gl-db")}
    assert by(doc, "unencrypted_backup", "dataset:erp-db")["evidence"]["unencrypted"] == 1


def test_retention_period_permanent_years_from_and_holds(run):
    tables = {"archives": [
        destroyed("PERM", "2200-01-01", category="年度财务会计报告"),
        # fixed-asset card: 5 years counted from disposed_at 2020-06-15 → destroyable from 2025-06-16
        destroyed("CARD-OK", "2025-06-16", category="固定资产卡片", disposed_at="2020-06-15"),
        destroyed("CARD-EARLY", "2025-06-15", category="固定资产卡片", disposed_at="2020-06-15"),
        destroyed("CARD-IN-USE", "2030-01-01", category="固定资产卡片"),             # period not yet running
        archive("CARD-DUE", category="固定资产卡片", disposed_at="2020-06-15"),
        archive("CARD-RUNNING", category="固定资产卡片"),
        destroyed("HOLD", "2031-02-01", hold="true"),
        archive("HOLD-ACTIVE", hold="是"),
    ]}
    doc = run(tables, pol("retention_period"), as_of="2031-06-01")
    assert pairs(doc) == {("destroyed_early", "archive:PERM"), ("destroyed_early", "archive:CARD-EARLY"),
                          ("destroyed_early", "archive:CARD-IN-USE"), ("due_for_appraisal", "archive:CARD-DUE"),
                          ("destroyed_on_hold", "archive:HOLD")}
    assert by(doc, "due_for_appraisal", "archive:CARD-DUE")["severity"] == "info"
    assert by(doc, "due_for_appraisal", "archive:CARD-DUE")["evidence"]["destroyable_from"] == "2025-06-16"


def test_retention_period_due_for_appraisal_and_a_destruction_needs_register_and_approval(run):
    tables = {"archives": [
        archive("DUE", fiscal_year=2000),                                   # destroyable 2031-01-01 = as-of
        archive("NOT-YET", fiscal_year=2001),                               # destroyable 2032-01-01
        archive("APPRAISED", fiscal_year=2000, appraised_at="2030-12-01"),
        archive("EMPTY-STATUS", fiscal_year=2000, status=""),
        archive("TRANSFERRED", fiscal_year=2000, status="transferred"),
        destroyed("NO-REGISTER", "2031-01-01", destruction_register_id=""),
        destroyed("NO-APPROVER", "2031-01-01", destruction_approved_by=" "),
        destroyed("NO-APPRAISAL", "2031-01-01", appraised_at=""),
        destroyed("APPRAISED-AFTER", "2031-01-01", appraised_at="2031-01-02"),
    ]}
    doc = run(tables, pol("retention_period"), as_of="2031-01-01")
    assert pairs(doc) == {("due_for_appraisal", "archive:DUE"), ("due_for_appraisal", "archive:EMPTY-STATUS"),
                          ("destruction_undocumented", "archive:NO-REGISTER"),
                          ("destruction_undocumented", "archive:NO-APPROVER"),
                          ("destroyed_before_appraisal", "archive:NO-APPRAISAL"),
                          ("destroyed_before_appraisal", "archive:APPRAISED-AFTER")}
    assert doc["findings"] and all(f["severity"] == ("info" if f["code"] == "due_for_appraisal" else "high")
                                   for f in doc["findings"])


def test_retention_period_unknown_category_at_its_own_severity(run):
    tables = {"archives": [archive("ODD", category="杂项"), destroyed("ODD-GONE", "2001-01-01", category="杂项",
                                                                      destruction_register_id="")]}
    doc = run(tables, pol("retention_period", {"unknown_category_severity": "low"}))
    assert pairs(doc) == {("unknown_category", "archive:ODD"), ("unknown_category", "archive:ODD-GONE"),
                          ("destruction_undocumented", "archive:ODD-GONE")}
    assert {f["severity"] for f in doc["findings"] if f["code"] == "unknown_category"} == {"low"}


def test_archive_integrity_custody_hex_case_and_format_case(run):
    digest = "0123456789abcdef" * 4
    tables = {"archives": [
        archive("UPPER-HEX", sha256=digest.upper(), actual_sha256=f" {digest} "),
        archive("MISMATCH", sha256=digest, actual_sha256="f" * 64),
        archive("UPPER-FORMAT", format="PDF"),
        archive("ODD-FORMAT", format="docx"),
        archive("GONE-FILE", file_exists="false", sha256="", status="destroyed"),
        archive("SENT", file_exists="否", sha256="", status="transferred "),
        archive("LOST", file_exists="false"),
        archive("DESTROYED-AT", file_exists="false", actual_sha256="", destroyed_at="2026-01-01"),
        archive("NO-HASH", sha256=""),
    ]}
    doc = run(tables, pol("archive_integrity", {"allowed_formats": ["OFD", "pdf"]}))
    assert pairs(doc) == {("hash_mismatch", "archive:MISMATCH"), ("format_not_allowed", "archive:ODD-FORMAT"),
                          ("file_missing", "archive:LOST"), ("hash_missing", "archive:NO-HASH")}


def test_table_rule_time_values_and_today_follow_the_same_semantics(run):
    tables = {"accounts": [acc("utc_prev_day", last_login_at="2026-08-24T16:30:00Z"),   # 08-25 local: 90 days
                           acc("late_evening", last_login_at="2026-08-24T23:59:59+08:00"),  # 91 days
                           acc("today", last_login_at="2026-11-22T16:00:00Z")]}           # 11-23 00:00 local
    params = {"table": "accounts", "message": "{account_id}", "code": "idle",
              "where": "days_since(last_login_at) > 90 or last_login_at >= today"}
    doc = run(tables, pol("table_rule", params))
    assert pairs(doc) == {("idle", "account:erp:late_evening"), ("idle", "account:erp:today")}


# ---------------------------------------------------------------- the built-in pack's sources

def _builtin(name: str) -> dict:
    from ledgerguard.scanner.policy import builtin_pack_path
    from ledgerguard.scanner.yamlload import load_yaml

    return load_yaml(builtin_pack_path() / name).data


def test_builtin_retention_schedule_is_appendix_1_with_its_16_items_and_cites_article_14():
    from ledgerguard.scanner.kinds.retention import ENTERPRISE_SCHEDULE

    [policy] = _builtin("retention.yaml")["policies"]
    schedule = policy["params"]["schedule"]
    assert schedule == ENTERPRISE_SCHEDULE and len(schedule) == 16
    by_period: dict[str, set[str]] = {}
    for category, period in schedule.items():
        by_period.setdefault(json.dumps(period, ensure_ascii=False), set()).add(category)
    assert by_period == {
        "30": {"原始凭证", "记账凭证", "总账", "明细账", "日记账", "其他辅助性账簿", "会计档案移交清册"},
        "10": {"月度、季度、半年度财务会计报告", "银行存款余额调节表", "银行对账单", "纳税申报表"},
        '"permanent"': {"年度财务会计报告", "会计档案保管清册", "会计档案销毁清册", "会计档案鉴定意见书"},
        '{"years": 5, "from": "disposed_at"}': {"固定资产卡片"},
    }
    refs = policy["references"]
    assert any("第十四条" in r and "从会计年度终了后的第一天算起" in r for r in refs)
    assert any("附表1" in r for r in refs) and any("第十九条" in r and "未结清" in r for r in refs)


def test_builtin_backups_cite_article_8_item_5_of_the_archives_measures():
    [policy] = _builtin("backups.yaml")["policies"]
    assert any("第八条（五）" in r and "备份制度" in r for r in policy["references"])


def test_builtin_pack_every_policy_cites_a_source():
    from ledgerguard.scanner.policy import builtin_pack_path

    for path in builtin_pack_path().glob("*.yaml"):
        for policy in _builtin(path.name).get("policies") or []:
            assert policy.get("references"), (path.name, policy["id"])
