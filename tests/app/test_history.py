"""The scan history: recorded scans, the diff against the previous one, the trend in the
reports, and two scans writing one history file at the same time."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import openpyxl

from conftest import policy_pack, run_findings
from ledgerguard.scanner.history import History

DEPARTURE = """
id: ACC-001
kind: revoke_on_departure
title: Departed staff keep no enabled account
severity: critical
"""


def tables(departed: list[str]) -> dict:
    people = ["P1", "P2", "P3"]
    return {
        "identities": [{"person_id": p, "name": p, "status": "departed" if p in departed else "active",
                        "departure_date": "2026-11-01" if p in departed else ""} for p in people],
        "accounts": [{"system": "erp", "account_id": p.lower(), "person_id": p, "enabled": "true"} for p in people],
    }


def test_two_scans_a_day_apart_show_what_changed_and_a_trend(cli, make_snapshot, write_yaml, tmp_path):
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    history = tmp_path / "h.sqlite"
    day1 = make_snapshot(tables(["P1", "P2"]), taken_at="2026-11-22T08:00:00+08:00", timezone="Asia/Shanghai")
    day2 = make_snapshot(tables(["P2", "P3"]), taken_at="2026-11-23T08:00:00+08:00", timezone="Asia/Shanghai")
    for snap in (day1, day2):
        r = cli("scan", "--snapshot", snap, "--policies", pack, "--history", history, "--out", tmp_path / "o",
                "--format", "json,html,xlsx")
        assert r.exit_code == 1, r.output
    r = cli("history", "--history", history)
    assert r.exit_code == 0
    lines = r.output.splitlines()
    assert lines[0].startswith("#1 ") and "2026-11-22" in lines[0] and "critical 2" in lines[0]
    assert lines[1].startswith("#2 ") and "2026-11-23" in lines[1] and " FAIL " in lines[1]
    r = cli("history", "--history", history, "--show")
    assert r.exit_code == 0
    assert "scan #2 as of 2026-11-23T08:00:00+08:00 (FAIL) against scan #1" in r.output
    assert "new 1, resolved 1, still open 1" in r.output
    assert "+ critical account:erp:p3" in r.output and "- critical account:erp:p1" in r.output
    assert "(FAIL) against no earlier scan" in cli("history", "--history", history, "--show", "1").output
    doc = run_findings(tmp_path / "o")
    assert [t["open"]["critical"] for t in doc["trend"]] == [2, 2]
    assert doc["trend"][1]["new"] == 1 and doc["trend"][1]["resolved"] == 1
    assert doc["trend"][1]["days_to_resolve"] == 1.0  # P1's finding: first seen 11-22, gone 11-23
    assert doc["scan"]["history"] == {"path": str(history), "scan_id": 2}
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert 'id="trend"' in html and html.count("<polyline") == 1  # one severity has findings
    trend = openpyxl.load_workbook(tmp_path / "o" / "report.xlsx")["Trend"]
    assert [c.value for c in trend[3]][:3] == ["#2", trend.cell(3, 2).value, 2]
    assert trend.cell(3, 2).is_date


def test_two_scans_at_once_on_one_history(make_snapshot, write_yaml, tmp_path):
    """Two real processes record into one file at the same moment: both land, intact."""
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    history = tmp_path / "h.sqlite"
    snaps = [make_snapshot(tables(["P1", "P2", "P3"][: i + 1])) for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-m", "ledgerguard.app.cli", "scan", "--snapshot", str(s),
                               "--policies", str(pack), "--history", str(history), "--as-of", "2026-11-23",
                               "--out", str(tmp_path / f"o{i}")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i, s in enumerate(snaps)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 1, err.decode()
    db = sqlite3.connect(history)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT COUNT(*) FROM scans").fetchone() == (2,)
    counts = sorted(n for (n,) in db.execute("SELECT COUNT(*) FROM findings GROUP BY scan_id"))
    assert counts == [1, 2]
    assert db.execute("SELECT COUNT(*) FROM policy_results").fetchone() == (2,)


def _open_history_at(path: Path, start: float) -> str:
    while time.time() < start:
        pass
    try:
        with History(path):
            return ""
    except Exception as exc:
        return str(exc)


def test_many_processes_creating_one_new_history_at_once_all_succeed(tmp_path):
    """Switching a new file to WAL does not wait on SQLite's busy handler; before the
    retry, about one start in four of four processes failed with "database is locked"."""
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        for trial in range(25):
            start = time.time() + 0.2
            errors = pool.starmap(_open_history_at, [(tmp_path / f"h{trial}.sqlite", start)] * 4)
            assert errors == [""] * 4, errors


def test_a_file_that_is_no_history_is_bad_input(cli, make_snapshot, tmp_path):
    bogus = tmp_path / "h.sqlite"
    bogus.write_text("not a database")
    r = cli("scan", "--snapshot", make_snapshot(tables([])), "--history", bogus, "--out", tmp_path / "o")
    assert r.exit_code == 2 and "not a usable ledgerguard history" in r.stderr
    assert not Path(tmp_path / "o" / "findings.json").exists()
