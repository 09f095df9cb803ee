"""``--jobs``: policies evaluated in forked worker processes give exactly the serial result."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from ledgerguard.app.cli import main
from ledgerguard.app.demo import build_tables
from ledgerguard.scanner.context import Context
from ledgerguard.scanner.engine import evaluate
from ledgerguard.scanner.kinds.base import KINDS, PolicyKind, emit
from ledgerguard.scanner.policy import Policy
from ledgerguard.scanner.snapshot import Snapshot, write_snapshot
from ledgerguard.scanner.workers import MAX_AUTO_JOBS, MIN_ROWS, auto_jobs, usable_cores

AS_OF = "2026-11-23"
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="worker processes are forked (Linux)")


@pytest.fixture(scope="module")
def demo_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("workers")
    return write_snapshot(root / "snap", build_tables(dt.date.fromisoformat(AS_OF)),
                          timezone="Asia/Shanghai", taken_at=f"{AS_OF}T08:00:00+08:00", fmt="parquet")


def scan(snapshot: Path, out: Path, jobs: str) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["scan", "--snapshot", str(snapshot), "--out", str(out), "--format", "json",
                                       "--fail-on", "never", "--jobs", jobs])
    assert result.exit_code == 0, result.output
    return result.exit_code, json.loads((out / "findings.json").read_text(encoding="utf-8"))


def test_two_workers_find_exactly_what_one_process_finds(demo_snapshot: Path, tmp_path: Path):
    _, serial = scan(demo_snapshot, tmp_path / "one", "1")
    _, forked = scan(demo_snapshot, tmp_path / "two", "2")
    assert len(serial["findings"]) > 20 and len({f["policy_id"] for f in serial["findings"]}) > 5
    assert forked["findings"] == serial["findings"]  # same ids, order, messages and evidence
    assert forked["policies"] == serial["policies"]
    assert forked["summary"] == serial["summary"]


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_jobs_must_be_a_positive_number_or_auto(demo_snapshot: Path, tmp_path: Path, bad: str):
    result = CliRunner().invoke(main, ["scan", "--snapshot", str(demo_snapshot), "--out", str(tmp_path),
                                       "--jobs", bad])
    assert result.exit_code == 2
    assert "--jobs" in result.output and "whole number" in result.output
    assert not (tmp_path / "findings.json").exists()


def test_auto_forks_only_for_a_large_snapshot():
    small = Snapshot(None, "UTC", None, {"grants": pd.DataFrame({"role": ["r"] * 10})})
    large = Snapshot(None, "UTC", None, {"grants": pd.DataFrame({"role": ["r"] * MIN_ROWS})})
    now = pd.Timestamp(AS_OF, tz="UTC")
    assert auto_jobs(Context(small, now)) == 1
    assert auto_jobs(Context(large, now)) == min(usable_cores(), MAX_AUTO_JOBS)


class WorkerDies(PolicyKind):
    """Kills the process evaluating it, like the kernel's OOM killer would."""

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


class OneFinding(PolicyKind):
    def evaluate(self, ctx: Context) -> pd.DataFrame:
        rows = pd.DataFrame({"subject": ["account:erp:a1"]})
        self.cover(len(rows), "rows")
        return emit(rows, code="found", subject=rows["subject"], message="one finding")


@pytest.fixture
def test_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registered for one test only: other tests list every kind."""
    KINDS.names()  # the real kinds first
    for name, cls in (("test_worker_dies", WorkerDies), ("test_one_finding", OneFinding)):
        monkeypatch.setattr(cls, "name", name, raising=False)
        monkeypatch.setitem(KINDS._items, name, cls)


def _policy(pid: str, kind: str) -> Policy:
    return Policy(id=pid, kind=kind, title={"en": pid}, severity="high", params={}, pack="test",
                  file="test.yaml", line=1)


@pytest.mark.usefixtures("test_kinds")
def test_a_killed_worker_leaves_its_policies_in_error_never_pass():
    ctx = Context(Snapshot(None, "UTC", None, {}), pd.Timestamp(AS_OF, tz="UTC"))
    policies = [_policy("DIES", "test_worker_dies"), _policy("LIVES", "test_one_finding")]
    dies, lives = evaluate(policies, ctx, jobs=2)
    assert dies.policy.id == "DIES" and dies.status == "error"
    assert "ended unexpectedly" in dies.error and "--jobs 1" in dies.error
    assert lives.policy.id == "LIVES" and lives.status == "fail"
    assert [f["message"] for f in lives.findings] == ["one finding"]
