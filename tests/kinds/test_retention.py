"""retention_period through the real CLI: 附表1 arithmetic, holds, register, appraisal."""

from __future__ import annotations

import numpy as np
import pandas as pd
from kindtest import hits, scan

from conftest import policy_pack
from ledgerguard.scanner.kinds.base import Words
from ledgerguard.scanner.kinds.retention import _by_words, _destroyable_by, _destroyable_from, _status

POLICY = """
id: ARC-T
kind: retention_period
title: {en: Archives are kept for their full period, zh: 会计档案按期限保管}
severity: critical
params:
  unknown_category_severity: low
"""
DONE = {"status": "destroyed", "destruction_register_id": "XH-2026-01", "destruction_approved_by": "P0001",
        "appraised_at": "2025-12-01"}


def _arc(archive_id, category, fiscal_year, **kw):
    row = {"archive_id": archive_id, "category": category, "fiscal_year": fiscal_year,
           "title": f"{fiscal_year}年{category}", "status": "active", "destroyed_at": "",
           "destruction_register_id": "", "destruction_approved_by": "", "appraised_at": "",
           "hold": "", "disposed_at": ""}
    return {**row, **kw}


def _run(cli, make_snapshot, write_yaml, tmp_path, archives, policy=POLICY):
    snap = make_snapshot({"archives": archives}, timezone="Asia/Shanghai")
    return scan(cli, snap, write_yaml("p.yaml", policy_pack(policy)), tmp_path / "out")


def test_first_destroyable_day_is_jan_1_after_the_period(cli, make_snapshot, write_yaml, tmp_path):
    code, doc = _run(cli, make_snapshot, write_yaml, tmp_path, [
        _arc("A-1995-01", "记账凭证", 1995, **DONE, destroyed_at="2026-01-01"),         # 30 years: fine
        _arc("A-1995-02", "记账凭证", 1995, **DONE, destroyed_at="2025-12-31"),         # one day early
        _arc("A-1995-03", "记账凭证", 1995, **DONE, destroyed_at="2025-12-31T16:30:00Z"),  # 01-01 local
        _arc("A-1995-04", "记账凭证", 1995, **DONE, destroyed_at="2025-12-31T23:59:00+08:00"),
        _arc("A-2015-01", "银行对账单", 2015, **DONE, destroyed_at="2026-01-01"),        # 10 years: fine
        _arc("A-2016-01", "纳税申报表", 2016, **DONE, destroyed_at="2026-06-30"),        # 10 years: 2027
        _arc("A-1990-01", "年度财务会计报告", 1990, **DONE, destroyed_at="2026-01-01"),   # permanent
    ])
    assert code == 1
    assert hits(doc) == {("destroyed_early", "archive:A-1995-02"), ("destroyed_early", "archive:A-1995-04"),
                         ("destroyed_early", "archive:A-2016-01"), ("destroyed_early", "archive:A-1990-01")}
    f = {x["subject"]: x for x in doc["findings"]}
    assert f["archive:A-1995-02"]["evidence"]["destroyable_from"] == "2026-01-01"
    assert f["archive:A-1995-02"]["evidence"]["retention"] == "30 years"
    assert f["archive:A-1995-02"]["severity"] == "critical"
    assert f["archive:A-1990-01"]["evidence"]["destroyable_from"] is None
    assert "permanent" in f["archive:A-1990-01"]["message"]
    assert f["archive:A-1995-04"]["evidence"]["destroyed_at"] == "2025-12-31T23:59:00+08:00"


def test_fixed_asset_cards_count_from_disposal(cli, make_snapshot, write_yaml, tmp_path):
    done = {**DONE, "appraised_at": "2020-07-01"}
    _, doc = _run(cli, make_snapshot, write_yaml, tmp_path, [
        _arc("FA-1", "固定资产卡片", 2010, **done, disposed_at="2020-06-30", destroyed_at="2025-07-01"),
        _arc("FA-2", "固定资产卡片", 2010, **done, disposed_at="2020-06-30", destroyed_at="2025-06-30"),
        _arc("FA-3", "固定资产卡片", 2010, **done, destroyed_at="2026-01-01"),  # asset still in use
        _arc("FA-4", "固定资产卡片", 2012, disposed_at="2020-02-29", destroyed_at="2025-03-01", **done),
        _arc("FA-5", "固定资产卡片", 2012, disposed_at="2020-02-29", destroyed_at="2025-02-28", **done),
    ])
    assert hits(doc) == {("destroyed_early", "archive:FA-2"), ("destroyed_early", "archive:FA-3"),
                         ("destroyed_early", "archive:FA-5")}
    f = {x["subject"]: x for x in doc["findings"]}
    assert f["archive:FA-2"]["evidence"]["destroyable_from"] == "2025-07-01"
    assert f["archive:FA-2"]["evidence"]["retention"] == "5 years from disposed_at"
    assert f["archive:FA-5"]["evidence"]["destroyable_from"] == "2025-03-01"  # 29 Feb + 5 years = 28 Feb


def test_hold_register_and_appraisal(cli, make_snapshot, write_yaml, tmp_path):
    old = {"destroyed_at": "2026-03-01"}
    _, doc = _run(cli, make_snapshot, write_yaml, tmp_path, [
        _arc("H-1", "明细账", 1990, **{**DONE, **old, "hold": "是"}),               # 未结清的债权债务
        _arc("R-1", "明细账", 1990, **{**DONE, **old, "destruction_register_id": ""}),
        _arc("R-2", "明细账", 1990, **{**DONE, **old, "destruction_approved_by": " "}),
        _arc("R-3", "明细账", 1990, **{**DONE, **old, "destruction_register_id": "",
                                       "destruction_approved_by": ""}),
        _arc("P-1", "明细账", 1990, **{**DONE, **old, "appraised_at": ""}),
        _arc("P-2", "明细账", 1990, **{**DONE, **old, "appraised_at": "2026-03-02"}),
        _arc("P-3", "明细账", 1990, **{**DONE, **old, "appraised_at": "2026-03-01T18:00:00+08:00"}),  # same day
        _arc("S-1", "明细账", 1990, **{**DONE, "status": "active", "destroyed_at": "2026-03-01"}),
    ])
    assert hits(doc) == {
        ("destroyed_on_hold", "archive:H-1"),
        ("destruction_undocumented", "archive:R-1"), ("destruction_undocumented", "archive:R-2"),
        ("destruction_undocumented", "archive:R-3"),
        ("destroyed_before_appraisal", "archive:P-1"), ("destroyed_before_appraisal", "archive:P-2"),
    }
    f = {(x["code"], x["subject"]): x for x in doc["findings"]}
    assert f[("destruction_undocumented", "archive:R-3")]["message"].endswith(
        "without a destruction register and an approver")
    assert f[("destruction_undocumented", "archive:R-2")]["message"].endswith("without an approver")
    assert f[("destroyed_on_hold", "archive:H-1")]["evidence"]["hold"] is True


def test_due_for_appraisal_is_info_and_inclusive(cli, make_snapshot, write_yaml, tmp_path):
    code, doc = _run(cli, make_snapshot, write_yaml, tmp_path, [
        _arc("D-1", "银行对账单", 2015),                                   # destroyable 2026-01-01
        _arc("D-2", "银行对账单", 2016),                                   # 2027-01-01
        _arc("D-3", "银行对账单", 2015, appraised_at="2026-02-01"),        # appraised: kept on purpose
        _arc("D-4", "固定资产卡片", 2000, disposed_at="2021-11-22"),        # destroyable 2026-11-23 = as-of
        _arc("D-5", "固定资产卡片", 2000, disposed_at="2021-11-23"),        # 2026-11-24
        _arc("D-6", "会计档案鉴定意见书", 1980),                            # permanent
        _arc("D-7", "银行对账单", 2015, status="transferred"),
    ])
    assert code == 0  # info is below --fail-on high
    assert hits(doc) == {("due_for_appraisal", "archive:D-1"), ("due_for_appraisal", "archive:D-4")}
    assert {x["severity"] for x in doc["findings"]} == {"info"}


def test_unknown_category_and_custom_schedule(cli, make_snapshot, write_yaml, tmp_path):
    policy = POLICY + "  schedule: {凭证: 15, 报告: permanent}\n"
    _, doc = _run(cli, make_snapshot, write_yaml, tmp_path, [
        _arc("U-1", "备查簿", 2020),
        _arc("U-2", "凭证", 2010, **DONE, destroyed_at="2026-01-01"),  # 15 years: 2026-01-01 fine
        _arc("U-3", "记账凭证", 2010),                                  # not in this schedule
    ], policy=policy)
    assert hits(doc) == {("unknown_category", "archive:U-1"), ("unknown_category", "archive:U-3")}
    assert {x["severity"] for x in doc["findings"]} == {"low"}
    assert "备查簿" in next(x["message"] for x in doc["findings"] if x["subject"] == "archive:U-1")


def test_bad_schedule_entry_is_exit_2_with_line(cli, write_yaml):
    bad = POLICY + "  schedule:\n    记账凭证: forever\n    总账: {years: 30, from: closed_at}\n"
    result = cli("validate", write_yaml("p.yaml", policy_pack(bad)))
    assert result.exit_code == 2
    assert "p.yaml:12:" in result.output and "p.yaml:13:" in result.output
    assert "2 problems" in result.output and "Traceback" not in result.output


def test_due_by_year_agrees_with_the_destroyable_dates() -> None:
    """Whether an archive is destroyable by the as-of date is judged on integers for every
    archive (fiscal year + N + 1 ≤ the as-of year), its destroyable date computed only for the
    archives with findings: both must agree on every kind of schedule entry, around the year
    boundary, for an empty fiscal year and an unknown category."""
    tz = "Asia/Shanghai"
    schedule = {"凭证": 10, "年报": "permanent", "卡片": {"years": 5, "from": "disposed_at"}}
    years = [2014, 2015, 2016, None, 2015, 2015, 2020, 2020, 2020, 2015]
    category = ["凭证", "凭证", "凭证", "凭证", "年报", "其他", "卡片", "卡片", "卡片", "卡片"]
    disposed = [None] * 6 + ["2020-02-29", "2021-11-22", "2021-11-23", None]
    arc = pd.DataFrame({"fiscal_year": pd.array(years, dtype="Int64"), "category": category,
                        "disposed_at": pd.to_datetime(disposed).tz_localize(tz)})
    entries = list(schedule.values())
    entry = np.array([list(schedule).index(c) if c in schedule else -1 for c in category])
    for today in ("2026-01-01", "2026-12-31", "2025-12-31", "2025-02-28", "2026-11-23", "2026-11-24"):
        day = np.datetime64(today, "D")
        dates = _destroyable_from(arc, entries, entry, np.arange(len(arc)))
        assert (_destroyable_by(arc, entries, entry, day) == (dates <= day)).all(), today


def test_status_words_by_compare_are_words() -> None:
    """The exact words of the vocabulary (and empty) are compared byte by byte; anything else
    (spaces, case, an unknown word, an empty text) is judged as ``Words`` judges it."""
    values = ["active", None, "destroyed", " Destroyed ", "", "transferred", "ACTIVE", "kept", " "] * 3
    for dtype in ("str", object):
        status = pd.Series(values, dtype=dtype)
        got, want = _status(status), _by_words(Words(status))
        assert all((g == w).all() for g, w in zip(got, want, strict=True)), dtype


def test_each_finding_of_an_archive_holds_its_own_evidence(make_snapshot) -> None:
    """An archive with three findings: the same evidence in each, never one dict shared."""
    from ledgerguard.scanner.context import Context
    from ledgerguard.scanner.engine import evaluate
    from ledgerguard.scanner.policy import all_policies, load_packs
    from ledgerguard.scanner.snapshot import read_snapshot

    snap = read_snapshot(make_snapshot({"archives": [
        _arc("A-2016-01", "纳税申报表", 2016, status="destroyed", destroyed_at="2026-06-30", hold="true"),
        _arc("A-2016-02", "纳税申报表", 2016)]}, timezone="Asia/Shanghai"))
    policy = next(p for p in all_policies(load_packs(None)) if p.kind == "retention_period")
    found = evaluate([policy], Context(snap, pd.Timestamp("2026-11-23", tz="Asia/Shanghai")))[0].findings
    mine = [f for f in found if f["subject"] == "archive:A-2016-01"]
    assert {f["code"] for f in mine} >= {"destroyed_early", "destroyed_on_hold", "destruction_undocumented"}
    assert all(f["evidence"] == mine[0]["evidence"] for f in mine)
    assert len({id(f["evidence"]) for f in mine}) == len(mine)
