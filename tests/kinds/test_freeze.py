"""period_close_freeze through the real CLI: Chinese business days (with 调休), boundaries, emergencies,
and a year the calendar does not know (an error, never a guess)."""

from __future__ import annotations

import json

from kindtest import hits, scan

from conftest import policy_pack

MONTH = """
id: FRZ-M
kind: period_close_freeze
title: {en: No changes at month end, zh: 月末不变更}
severity: medium
params: {period: month, freeze_business_days: 2, window_days: 365}
"""
QUARTER = """
id: FRZ-Q
kind: period_close_freeze
title: {en: No changes at quarter end, zh: 季末不变更}
severity: medium
params: {period: quarter, freeze_business_days: 3, window_days: 365}
"""


def change(cid: str, day: str, **kw: str) -> dict:
    return {"change_id": cid, "system": "erp", "account_id": "lisi", "action": "grant", "role": "gl_clerk",
            "performed_at": f"{day}T10:00:00+08:00", **kw}


def test_freeze_follows_the_chinese_calendar(cli, make_snapshot, write_yaml, tmp_path):
    changes = [
        # February 2026: Saturday the 28th is a make-up working day (调休), so the last two
        # business days are the 27th and 28th; a Monday–Friday calendar would freeze the 26th
        change("F1", "2026-02-26"), change("F2", "2026-02-27"), change("F2e", "2026-02-27", emergency="是"),
        # September 2026 ends a quarter: last three business days 28–30 (month: 29–30)
        change("F3", "2026-09-25"), change("F4", "2026-09-28"), change("F5", "2026-09-29"),
        # October: a month end only
        change("F6", "2026-10-28"), change("F7", "2026-10-29"),
    ]
    handovers = [{"handover_id": "HF1", "from_person_id": "P1", "handed_over_at": "2026-11-27"},
                 {"handover_id": "HF2", "from_person_id": "P1", "handed_over_at": "2026-11-26"},
                 {"handover_id": "HF3", "from_person_id": "P1", "handed_over_at": "2026-11-29"}]  # Sunday after
    snap = make_snapshot({"changes": changes, "handovers": handovers}, timezone="Asia/Shanghai")
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(MONTH, QUARTER)), tmp_path / "out", "2026-12-01",
                     "--fail-on", "medium")
    assert code == 1
    got = {(f["policy_id"], f["code"], f["subject"]) for f in doc["findings"]}
    assert got == {
        ("FRZ-M", "change_in_freeze", "change:F2"), ("FRZ-M", "change_in_freeze", "change:F5"),
        ("FRZ-M", "change_in_freeze", "change:F7"),
        ("FRZ-Q", "change_in_freeze", "change:F4"), ("FRZ-Q", "change_in_freeze", "change:F5"),
        ("FRZ-M", "handover_in_freeze", "handover:HF1"), ("FRZ-M", "handover_in_freeze", "handover:HF3"),
    }
    f2 = next(f for f in doc["findings"] if f["subject"] == "change:F2")
    assert f2["evidence"]["freeze_from"] == "2026-02-27" and f2["evidence"]["period_end"] == "2026-02-28"
    assert "month-end freeze" in f2["message"]
    # the dates and texts, built for the frozen rows only, are each finding's own
    month = {f["subject"]: f for f in doc["findings"] if f["policy_id"] == "FRZ-M"}
    assert {s: (f["evidence"]["judged_on"], f["evidence"]["freeze_from"], f["evidence"]["period_end"])
            for s, f in month.items()} == {
        "change:F2": ("2026-02-27", "2026-02-27", "2026-02-28"),
        "change:F5": ("2026-09-29", "2026-09-29", "2026-09-30"),
        "change:F7": ("2026-10-29", "2026-10-29", "2026-10-31"),
        "handover:HF1": ("2026-11-27", "2026-11-27", "2026-11-30"),
        "handover:HF3": ("2026-11-29", "2026-11-27", "2026-11-30"),
    }
    assert month["handover:HF3"]["message"] == ("handover HF3 was done on 2026-11-29, inside the month-end freeze "
                                                "(the last 2 business days: 2026-11-27 to 2026-11-30) without an "
                                                "emergency marker")
    assert month["handover:HF3"]["person_id"] == "P1"


def test_a_year_the_calendar_does_not_know_is_an_error(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({"changes": [change("F9", "2027-01-28")]}, timezone="Asia/Shanghai")
    out = tmp_path / "out"
    result = cli("scan", "--snapshot", snap, "--policies", write_yaml("p.yaml", policy_pack(MONTH)),
                 "--as-of", "2027-02-01", "--out", out)
    assert result.exit_code == 3, result.output
    policy = json.loads((out / "findings.json").read_text(encoding="utf-8"))["policies"][0]
    assert policy["status"] == "error"
    assert "change F9 on 2027-01-28" in policy["error"] and "covers 2004–2026 only" in policy["error"]


def test_dates_outside_the_window_are_not_judged(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({"changes": [change("F1", "2027-01-28"), change("F2", "2026-11-30")]},
                         timezone="Asia/Shanghai")
    pack = write_yaml("p.yaml", policy_pack(MONTH.replace("window_days: 365", "window_days: 30")))
    # as of 2027-03-01 both are older than 30 days: the unknown year is never looked up, and
    # with nothing in the window the policy examined nothing: inconclusive, not a calendar error
    out = tmp_path / "out"
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", "2027-03-01", "--out", out)
    doc = json.loads((out / "findings.json").read_text())
    assert result.exit_code == 3 and hits(doc) == set()
    assert [(p["status"], p["error"]) for p in doc["policies"]] == [
        ("inconclusive", "examined nothing: no changes (grant, revoke, enable, disable, create, delete, modify) "
                         "and handovers of the last 30 days in scope")]
