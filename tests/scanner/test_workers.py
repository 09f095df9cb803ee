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
from ledgerguard.scanner.workers import MAX_AUTO_JOBS, MIN_ROWS, auto_jobs, later_joins, usable_cores

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


# A scan whose policies take a while, run as a real `ledgerguard scan --jobs 2` process: the driver
# registers one slow kind (the packs' schema is built from the registry) and calls the CLI's main.
SLOW_SCAN = """
import sys, time
import pandas as pd
from ledgerguard.scanner.kinds.base import KINDS, PolicyKind
class Slow(PolicyKind):
    def evaluate(self, ctx):
        time.sleep(60)
        return pd.DataFrame()
KINDS.names()
KINDS._items["test_slow"] = Slow
from ledgerguard.app.cli import main
main(sys.argv[1:])
"""


def _children(pid: int) -> set[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return set()
    return {int(c) for c in text.split()}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _start_slow_scan(tmp_path: Path):
    import subprocess
    import time

    from conftest import write_snapshot_dir

    snap = write_snapshot_dir(tmp_path / "snap", {"identities": [{"person_id": "P1", "status": "active"}]})
    pack = tmp_path / "p.yaml"
    pack.write_text("apiVersion: ledgerguard/v1\nkind: PolicyPack\nmetadata: {name: slow}\npolicies:\n"
                    + "".join(f"  - {{id: S{i}, kind: test_slow, title: t, severity: high}}\n" for i in range(2))
                    + "  - {id: ACC-001, kind: revoke_on_departure, title: t, severity: high}\n")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_SCAN, "scan", "--snapshot", str(snap), "--policies",
                             str(pack), "--jobs", "2", "--out", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(workers := _children(proc.pid)) < 2:
        assert time.monotonic() < deadline and proc.poll() is None, "the scan never started its 2 workers"
        time.sleep(0.1)
    return proc, workers


def _gone(pids: set[int], seconds: float = 10) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(_alive(p) for p in pids)


def test_workers_die_with_a_killed_scan(tmp_path: Path):
    proc, workers = _start_slow_scan(tmp_path)
    proc.kill()  # SIGKILL: no handler runs in the parent
    proc.wait()
    assert _gone(workers), f"workers {workers} outlived their SIGKILLed scan"


def test_sigterm_ends_a_scan_cleanly(tmp_path: Path):
    proc, workers = _start_slow_scan(tmp_path)
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    assert "interrupted by SIGTERM" in err and "Traceback" not in err
    assert _gone(workers)
    assert not (tmp_path / "out" / "findings.json").exists()


class FreezeCount(PolicyKind):
    """Reports how many objects the worker's garbage collector leaves alone (``gc.freeze``)."""

    def evaluate(self, ctx: Context) -> pd.DataFrame:
        import gc

        rows = pd.DataFrame({"subject": ["account:erp:a1"]})
        self.cover(len(rows), "rows")
        return emit(rows, code="frozen", subject=rows["subject"], message=str(gc.get_freeze_count()))


def test_workers_leave_the_inherited_objects_to_the_parent(monkeypatch: pytest.MonkeyPatch):
    """A collection in a worker must not visit (and so copy the pages of) every object it
    inherited: they are frozen in the workers, and the parent thaws them afterwards, also when
    a worker dies."""
    import gc

    KINDS.names()
    monkeypatch.setattr(FreezeCount, "name", "test_freeze_count", raising=False)
    monkeypatch.setitem(KINDS._items, "test_freeze_count", FreezeCount)
    ctx = Context(Snapshot(None, "UTC", None, {}), pd.Timestamp(AS_OF, tz="UTC"))
    gc.unfreeze()  # what an earlier test's scan froze
    outcomes = evaluate([_policy("A", "test_freeze_count"), _policy("B", "test_freeze_count")], ctx, jobs=2)
    inherited = len(gc.get_objects())
    assert all(int(o.findings[0]["message"]) > inherited / 2 for o in outcomes), [o.findings for o in outcomes]
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("test_kinds")
def test_a_killed_worker_leaves_nothing_frozen():
    import gc

    ctx = Context(Snapshot(None, "UTC", None, {}), pd.Timestamp(AS_OF, tz="UTC"))
    gc.unfreeze()  # what an earlier test's scan froze
    evaluate([_policy("DIES", "test_worker_dies"), _policy("LIVES", "test_one_finding")], ctx, jobs=2)
    assert gc.get_freeze_count() == 0


def test_sigterm_while_the_pool_starts_ends_the_scan_cleanly(tmp_path: Path):
    """A SIGTERM that lands after the pool forked its workers but before its manager thread
    started (the window ``test_sigterm_ends_a_scan_cleanly`` hit now and then on a loaded
    machine) still ends the scan with exit 3 and no traceback: the pool starts whole first."""
    import subprocess

    from conftest import write_snapshot_dir

    snap = write_snapshot_dir(tmp_path / "snap", {"identities": [{"person_id": "P1", "status": "active"}]})
    pack = tmp_path / "p.yaml"
    pack.write_text("apiVersion: ledgerguard/v1\nkind: PolicyPack\nmetadata: {name: slow}\npolicies:\n"
                    + "".join(f"  - {{id: S{i}, kind: test_slow, title: t, severity: high}}\n" for i in range(2)))
    at_start = SLOW_SCAN.replace("from ledgerguard.app.cli import main", (
        "import os, signal\n"
        "from concurrent.futures import process\n"
        "start = process._ExecutorManagerThread.start\n"
        "def terminated_first(self):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    start(self)\n"
        "process._ExecutorManagerThread.start = terminated_first\n"
        "from ledgerguard.app.cli import main"))
    run = subprocess.run([sys.executable, "-c", at_start, "scan", "--snapshot", str(snap), "--policies", str(pack),
                          "--jobs", "2", "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 3, run.stderr
    assert "interrupted by SIGTERM" in run.stderr and "Traceback" not in run.stderr
    assert "internal error" not in run.stderr
    assert not (tmp_path / "out" / "findings.json").exists()


def test_a_worker_keeps_after_a_group_only_the_joins_later_groups_read():
    """Groups go out in a fixed order to whichever worker is free, so after each group a worker
    keeps the joins (``PolicyKind.joined``) of the groups after it, and none after the last."""
    def policy(kind: str, params: dict | None = None) -> Policy:
        return Policy(id=kind, kind=kind, title={"en": kind}, severity="low", params=params or {},
                      pack="p", file="p.yaml", line=1)

    rule = {"table": "accounts", "where": "enabled", "message": "m"}
    policies = [policy("segregation_of_duties"), policy("dormant_account"), policy("table_rule", rule)]
    assert later_joins([[0], [1], [2]], policies) == [{"_accounts"}, {"_accounts"}, set()]
    assert later_joins([[1], [0], [2]], policies)[0] == KINDS.get("segregation_of_duties").joins | {"_accounts"}


def test_the_results_pipe_holds_a_large_result_at_once():
    """A worker sending retention_period's findings waits for the parent per pipe-full: the
    pipe is widened to the most the system allows (64 KiB by default)."""
    import fcntl
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from ledgerguard.scanner.workers import _widen_results_pipe

    most = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        pipe = pool._result_queue._writer.fileno()
        assert fcntl.fcntl(pipe, fcntl.F_GETPIPE_SZ) < most
        _widen_results_pipe(pool)
        assert fcntl.fcntl(pipe, fcntl.F_GETPIPE_SZ) == most
