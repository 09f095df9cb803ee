"""The scan history: every scan recorded in one local SQLite file (``--history PATH``).

A periodic scan needs what happened before it: which findings are new since the last
run, which were resolved and how long they stayed open, and the trend of open findings
by severity. Each scan is one row of ``scans`` with its per-policy results and the ids
and statuses of its findings; ``diff`` and ``trend`` answer from them. Reports never
open the database: the application puts ``trend(...)`` into the findings document
(``doc["trend"]``), so every report stays a view of findings.json.

Concurrency: several scans may record into one file at once (two timers, a CI job).
Each record is one ``BEGIN IMMEDIATE`` transaction (the writer lock is taken before
anything is read, so two writers serialise instead of failing half-way) and the file
runs in WAL mode, so readers never block the writer; ``busy_timeout`` makes a writer
wait for the other instead of failing at once. SQLite does not call the busy handler
when a connection switches a fresh file to WAL while another one holds it, so that one
statement is retried by hand within the same time limit (two first scans at once on a
new history failed with "database is locked" in CI before).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .contract import SEVERITIES
from .errors import InputError, Problem

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 60_000
TREND_SCANS = 12

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at TEXT NOT NULL, command TEXT NOT NULL, as_of TEXT NOT NULL, timezone TEXT NOT NULL,
    snapshot_path TEXT, snapshot_sha256 TEXT, taken_at TEXT, fail_on TEXT NOT NULL,
    verdict TEXT NOT NULL, exit_code INTEGER NOT NULL, summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS policy_results (
    scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    policy_id TEXT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL, status TEXT NOT NULL,
    findings INTEGER NOT NULL, title TEXT NOT NULL,
    PRIMARY KEY (scan_id, policy_id)
);
CREATE TABLE IF NOT EXISTS findings (
    scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    finding_id TEXT NOT NULL, policy_id TEXT NOT NULL, severity TEXT NOT NULL, status TEXT NOT NULL,
    subject TEXT NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL,
    PRIMARY KEY (scan_id, finding_id)
);
CREATE INDEX IF NOT EXISTS findings_by_id ON findings (finding_id);
"""


@dataclass
class ScanRow:
    id: int
    recorded_at: str
    command: str
    as_of: str
    snapshot_path: str | None
    verdict: str
    exit_code: int
    summary: dict[str, Any]


@dataclass
class PolicyDiff:
    policy_id: str
    new: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[dict[str, Any]] = field(default_factory=list)
    still_open: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Diff:
    scan: ScanRow
    previous: ScanRow | None
    policies: list[PolicyDiff]

    def count(self, what: str) -> int:
        return sum(len(getattr(p, what)) for p in self.policies)


class History:
    """One history file. Use as a context manager; every method is one transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._enable_wal()
            self.db.execute("PRAGMA foreign_keys = ON")
            with self._write():
                for statement in _DDL.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if row is None:
                    self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                elif int(row[0]) > SCHEMA_VERSION:
                    raise InputError(Problem(f"history schema version {row[0]} is newer than this ledgerguard "
                                             f"understands ({SCHEMA_VERSION})", str(self.path)))
        except sqlite3.DatabaseError as exc:
            raise InputError(Problem(f"not a usable ledgerguard history: {exc}", str(self.path))) from None

    def _enable_wal(self) -> None:
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self.db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def record(self, doc: dict[str, Any], verdict: str, exit_code: int) -> int:
        """Record one findings document; its scan id."""
        scan, snap = doc["scan"], doc["scan"]["snapshot"]
        now = scan.get("finished_at") or dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")
        with self._write():
            cur = self.db.execute(
                "INSERT INTO scans (recorded_at, command, as_of, timezone, snapshot_path, snapshot_sha256, "
                "taken_at, fail_on, verdict, exit_code, summary) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (now, scan["command"], scan["as_of"], scan["timezone"], snap.get("path"), snap.get("sha256"),
                 snap.get("taken_at"), scan["fail_on"], verdict, exit_code,
                 json.dumps(doc["summary"], ensure_ascii=False)))
            sid = int(cur.lastrowid)
            self.db.executemany(
                "INSERT INTO policy_results VALUES (?,?,?,?,?,?,?)",
                [(sid, p["id"], p["kind"], p["severity"], p["status"], p["findings"],
                  json.dumps(p["title"], ensure_ascii=False)) for p in doc["policies"]])
            self.db.executemany(
                "INSERT INTO findings VALUES (?,?,?,?,?,?,?,?)",
                [(sid, f["id"], f["policy_id"], f["severity"], f["status"], f["subject"], f["code"], f["message"])
                 for f in doc["findings"]])
        return sid

    def scans(self, limit: int | None = None) -> list[ScanRow]:
        """Recorded scans, oldest first (the last ``limit`` of them)."""
        rows = self.db.execute(
            "SELECT id, recorded_at, command, as_of, snapshot_path, verdict, exit_code, summary FROM scans "
            "ORDER BY id DESC" + (" LIMIT ?" if limit else ""), (limit,) if limit else ()).fetchall()
        return [ScanRow(*r[:7], json.loads(r[7])) for r in reversed(rows)]

    def scan(self, scan_id: int | None) -> ScanRow:
        """One scan by id; the last one when ``scan_id`` is None."""
        rows = self.scans() if scan_id is None else [s for s in self.scans() if s.id == scan_id]
        if not rows:
            raise InputError(Problem("the history holds no scans" if scan_id is None
                                     else f"no scan {scan_id} in the history", str(self.path)))
        return rows[-1]

    def _findings(self, scan_id: int) -> dict[str, dict[str, Any]]:
        cur = self.db.execute("SELECT finding_id, policy_id, severity, status, subject, code, message "
                              "FROM findings WHERE scan_id = ?", (scan_id,))
        names = [d[0] for d in cur.description]
        return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}

    def _previous(self, scan: ScanRow) -> ScanRow | None:
        """The scan recorded before ``scan`` by the same command (a gate is no earlier scan)."""
        earlier = [s for s in self.scans() if s.id < scan.id and s.command == scan.command]
        return earlier[-1] if earlier else None

    def diff(self, scan_id: int | None = None) -> Diff:
        """One scan against the one recorded before it: new, resolved, still open, per policy.

        A finding counts while it is open or waived (it still exists); resolved means the
        earlier scan had it and this one does not."""
        scan = self.scan(scan_id)
        previous = self._previous(scan)
        now = self._findings(scan.id)
        before = self._findings(previous.id) if previous else {}
        by_policy: dict[str, PolicyDiff] = {}
        for fid, f in now.items():
            what = "still_open" if fid in before else "new"
            getattr(by_policy.setdefault(f["policy_id"], PolicyDiff(f["policy_id"])), what).append(f)
        for fid, f in before.items():
            if fid not in now:
                by_policy.setdefault(f["policy_id"], PolicyDiff(f["policy_id"])).resolved.append(f)
        return Diff(scan, previous, [by_policy[k] for k in sorted(by_policy)])

    def trend(self, limit: int = TREND_SCANS) -> list[dict[str, Any]]:
        """The last ``limit`` scans (of command ``scan``), oldest first: open findings by
        severity, waived, new and resolved against the scan before, and the mean days a
        finding resolved by that scan had stayed open (first seen → resolved, by as-of)."""
        scans = [s for s in self.scans() if s.command == "scan"][-limit:]
        out = []
        for s in scans:
            d = self.diff(s.id)
            out.append({
                "scan_id": s.id, "as_of": s.as_of, "recorded_at": s.recorded_at, "verdict": s.verdict,
                "open": {sev: s.summary["findings"].get(sev, 0) for sev in SEVERITIES},
                "waived": s.summary.get("waived", 0),
                "new": d.count("new") if d.previous else None,
                "resolved": d.count("resolved") if d.previous else None,
                "days_to_resolve": self._days_to_resolve(s, [f["finding_id"] for p in d.policies for f in p.resolved]),
            })
        return out

    def _days_to_resolve(self, scan: ScanRow, ids: list[str]) -> float | None:
        if not ids:
            return None
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT MIN(s.as_of) FROM findings f JOIN scans s ON s.id = f.scan_id "
            f"WHERE f.finding_id IN ({marks}) AND s.id < ? AND s.command = 'scan' GROUP BY f.finding_id",
            (*ids, scan.id)).fetchall()
        end = _date(scan.as_of)
        days = [(end - _date(r[0])).days for r in rows]
        return round(sum(days) / len(days), 1) if days else None


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text[:10])
