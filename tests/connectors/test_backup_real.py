"""kind: backup_catalog against real restic and borg repositories.

The module builds, in tmp, two restic and two borg repositories (encrypted, password
from an environment variable or a file), makes backups of two datasets — some dated in
the past with restic ``--time`` / borg ``--timestamp`` — corrupts one pack / segment of
one repository per tool, runs examples/backup-check-wrapper.sh for checks and restore
tests, and compares what ``ledgerguard collect`` writes with what the tools print.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from connector_helpers import write_sources

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "examples" / "backup-check-wrapper.sh"
PASSWORD = "Tr0ub4dor-backup-Passw0rd"  # must never show up in any output
UTC = dt.UTC
NOW = dt.datetime.now(UTC).replace(microsecond=0)
OLD = NOW - dt.timedelta(days=3)  # earchive-db's last backup: overdue
EARLIER = NOW - dt.timedelta(days=2)  # an older erp-db backup


def tool_env(tz: str = "UTC") -> dict[str, str]:
    """The environment the test (not the connector) runs the tools with."""
    return {**os.environ, "RESTIC_PASSWORD": PASSWORD, "BORG_PASSPHRASE": PASSWORD, "TZ": tz}


def run(*args: str | Path, tz: str = "UTC", cwd: Path | None = None, check: bool = True) -> str:
    r = subprocess.run([str(a) for a in args], env=tool_env(tz), cwd=cwd, capture_output=True,
                       text=True, stdin=subprocess.DEVNULL, timeout=120)
    if check and r.returncode:
        pytest.fail(f"{' '.join(map(str, args))} failed ({r.returncode}): {r.stderr}")
    return r.stdout


def corrupt_largest(folder: Path) -> Path:
    """Flip bytes in the middle of the biggest file: the data of the backed-up file."""
    victim = max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    raw = bytearray(victim.read_bytes())
    mid = len(raw) // 2
    raw[mid:mid + 64] = bytes(b ^ 0xFF for b in raw[mid:mid + 64])
    victim.chmod(0o644)
    victim.write_bytes(bytes(raw))
    return victim


@pytest.fixture(scope="module")
def repos(tmp_path_factory) -> Iterator[dict]:
    for tool in ("restic", "borg"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: run scripts/install-system-deps.sh")
    root = tmp_path_factory.mktemp("backups")
    with pytest.MonkeyPatch.context() as mp:  # caches in tmp, for the tools and the connector
        mp.setenv("RESTIC_CACHE_DIR", str(root / "restic-cache"))
        mp.setenv("BORG_BASE_DIR", str(root / "borg-base"))
        yield build(root)


def build(root: Path) -> dict:
    data = {}
    for name in ("erp-db", "earchive-db"):
        data[name] = root / "data" / name
        data[name].mkdir(parents=True)
        (data[name] / "dump.bin").write_bytes(os.urandom(1_500_000))
        (data[name] / "README").write_text(f"{name}\n")
    r1, r2, b1, b2 = root / "restic-nas1", root / "restic-nas2", root / "borg-off1", root / "borg-off2"
    stamp = "%Y-%m-%d %H:%M:%S"
    run("restic", "init", "-r", r1)
    run("restic", "-r", r1, "backup", "--time", EARLIER.strftime(stamp), data["erp-db"])
    (data["erp-db"] / "README").write_text("erp-db, changed\n")
    run("restic", "-r", r1, "backup", "--tag", "nightly", data["erp-db"])
    run("restic", "init", "-r", r2)
    run("restic", "-r", r2, "backup", "--time", OLD.strftime(stamp), data["earchive-db"])
    for repo in (b1, b2):
        run("borg", "init", "-e", "repokey-blake2", repo)
    iso = "%Y-%m-%dT%H:%M:%S"
    run("borg", "create", "--timestamp", EARLIER.strftime(iso), f"{b1}::erp-db-{EARLIER:{iso}}", ".",
        cwd=data["erp-db"])
    run("borg", "create", f"{b1}::erp-db-{{now:{iso}}}", ".", cwd=data["erp-db"])
    run("borg", "create", "--timestamp", OLD.strftime(iso), f"{b2}::earchive-db-{OLD:{iso}}", ".",
        cwd=data["earchive-db"])
    corrupted = [corrupt_largest(r2 / "data"), corrupt_largest(b2 / "data")]
    log = root / "checks.jsonl"
    wrapper = {  # exit codes of the wrapper runs: the tool's
        "r1 check": subprocess.run([WRAPPER, "restic", r1, log, "check", "--", "--read-data-subset=1/2"],
                                   env=tool_env(), capture_output=True).returncode,
        "r1 restore": subprocess.run([WRAPPER, "restic", r1, log, "restore-test", "latest"],
                                     env=tool_env(), capture_output=True).returncode,
        "b1 restore": subprocess.run([WRAPPER, "borg", b1, log, "restore-test", "latest"],
                                     env=tool_env(), capture_output=True).returncode,
        "r2 check": subprocess.run([WRAPPER, "restic", r2, log, "check", "--", "--read-data"],
                                   env=tool_env(), capture_output=True).returncode,
    }
    (root / "pw.txt").write_text(PASSWORD + "\n")
    return {"root": root, "r1": r1, "r2": r2, "b1": b1, "b2": b2, "log": log, "wrapper": wrapper,
            "corrupted": corrupted}


def sources(repos: dict, timezone: str = "Asia/Shanghai") -> str:
    return f"""
        - {{name: nas1, kind: backup_catalog, format: restic, repository: {repos['r1']},
           password_env: LG_TEST_BACKUP_PW, dataset: erp-db, location: nas-1,
           verify: run, verify_data: 10%, check_log: {repos['log']}}}
        - {{name: nas2, kind: backup_catalog, format: restic, repository: {repos['r2']},
           password_file: pw.txt, dataset: earchive-db, location: nas-2,
           verify: run, verify_data: true, check_log: {repos['log']}}}
        - {{name: off1, kind: backup_catalog, format: borg, repository: {repos['b1']},
           password_env: LG_TEST_BACKUP_PW, offsite: true, verify: run, verify_data: true,
           check_log: {repos['log']}}}
        - {{name: off2, kind: backup_catalog, format: borg, repository: {repos['b2']},
           password_file: pw.txt, offsite: true, verify: run}}
        """


def read(snap: Path) -> pd.DataFrame:
    return pd.read_csv(snap / "backups.csv", dtype=str, keep_default_na=False)


def instant(value: str, tz: str | None = None) -> dt.datetime:
    """An ISO time as an instant; ``tz`` is the zone of a naive one (what borg printed in)."""
    t = dt.datetime.fromisoformat(value)
    if t.tzinfo is None:
        assert tz, f"{value!r} has no offset"
        t = t.replace(tzinfo=ZoneInfo(tz))
    return t


def assert_no_password(*folders: Path, text: str = "") -> None:
    assert PASSWORD not in text
    for folder in folders:
        for f in folder.rglob("*"):
            if f.is_file() and f.name != "pw.txt":
                assert PASSWORD.encode() not in f.read_bytes(), f


def test_wrapper_logs_checks_and_restore_tests(repos):
    """The wrapper returns the tool's exit code and logs one JSON line per run."""
    assert repos["wrapper"] == {"r1 check": 0, "r1 restore": 0, "b1 restore": 0, "r2 check": 1}
    lines = [json.loads(x) for x in repos["log"].read_text().splitlines()]
    assert [(e["tool"], e["repository"], e["action"], e["status"], e["exit_code"]) for e in lines] == [
        ("restic", str(repos["r1"]), "check", "success", 0),
        ("restic", str(repos["r1"]), "restore-test", "success", 0),
        ("borg", str(repos["b1"]), "restore-test", "success", 0),
        ("restic", str(repos["r2"]), "check", "failed", 1),
    ]
    latest_restic = json.loads(run("restic", "-r", repos["r1"], "snapshots", "latest", "--json"))[0]["id"]
    latest_borg = run("borg", "list", "--last", "1", "--short", repos["b1"]).strip()
    assert [e["snapshot"] for e in lines] == [None, latest_restic, latest_borg, None]
    for e in lines:
        assert dt.datetime.fromisoformat(e["started_at"]).tzinfo is not None
        assert e["started_at"] <= e["finished_at"]
    assert_no_password(repos["root"] / "checks.jsonl")
    # bad usage: exit 2, nothing logged
    r = subprocess.run([WRAPPER, "restic", repos["r1"], repos["log"], "restore-test"], capture_output=True)
    assert r.returncode == 2 and len(repos["log"].read_text().splitlines()) == 4


def test_live_repositories_end_to_end(repos, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("LG_TEST_BACKUP_PW", PASSWORD)
    monkeypatch.setenv("TZ", "America/New_York")  # the host's zone must not matter
    shutil.copy(repos["root"] / "pw.txt", tmp_path / "pw.txt")
    src = write_sources(tmp_path, sources(repos), timezone="Asia/Shanghai")
    snap = tmp_path / "snap"
    r = cli("-vv", "collect", "--sources", src, "--out", snap, "--partial")
    assert r.exit_code == 0, r.output
    df = read(snap)
    assert_no_password(snap, text=r.output)

    # restic: every column against `restic snapshots --json` / `restic stats --json`
    for repo, dataset, location in ((repos["r1"], "erp-db", "nas-1"),
                                            (repos["r2"], "earchive-db", "nas-2")):
        listed = json.loads(run("restic", "-r", repo, "snapshots", "--json"))
        assert "summary" not in listed[0]  # restic 0.14 (Debian 12): no summary, sizes from stats
        mine = df[df["location"] == location].set_index("backup_id")
        assert sorted(mine.index) == sorted(s["id"] for s in listed)
        for s in listed:
            row = mine.loc[s["id"]]
            size = json.loads(run("restic", "-r", repo, "stats", "--json", "--mode", "restore-size", s["id"]))
            assert instant(row["started_at"]) == instant(s["time"]) == instant(row["finished_at"])
            assert (row["dataset"], row["status"], row["encrypted"], row["offsite"]) == (
                dataset, "success", "true", "false")
            assert row["size_bytes"] == str(size["total_size"]) and size["total_size"] > 1_500_000
            assert row["host"] == s["hostname"]
    # borg: every column against `borg info --json` run in Shanghai time (naive local times)
    for repo, dataset_of in ((repos["b1"], "erp-db"), (repos["b2"], "earchive-db")):
        info = json.loads(run("borg", "info", "--json", "--glob-archives", "*", repo, tz="Asia/Shanghai"))
        mine = df[df["location"] == info["repository"]["location"]].set_index("backup_id")
        assert sorted(mine.index) == sorted(a["id"] for a in info["archives"])
        for a in info["archives"]:
            row = mine.loc[a["id"]]
            assert instant(row["started_at"]) == instant(a["start"], "Asia/Shanghai")
            assert instant(row["finished_at"]) == instant(a["end"], "Asia/Shanghai")
            assert (row["dataset"], row["status"], row["encrypted"], row["offsite"]) == (
                dataset_of, "success", "true", "true")
            assert row["size_bytes"] == str(a["stats"]["original_size"])
    old = df[df["dataset"] == "earchive-db"]
    assert all(abs(instant(t) - OLD) < dt.timedelta(seconds=2) for t in old["finished_at"])

    # verification evidence: erp-db's checks passed, earchive-db's (corrupted) failed
    erp, arc = df[df["dataset"] == "erp-db"], df[df["dataset"] == "earchive-db"]
    assert (erp["verify_status"] == "success").all() and (arc["verify_status"] == "failed").all()
    manifest = json.loads((snap / "manifest.json").read_text())
    taken = instant(manifest["taken_at"])
    for t in pd.concat([erp["verified_at"], arc["verified_at"]]):
        assert abs(instant(t) - taken) < dt.timedelta(minutes=2)  # the checks ran during collect
    restic_latest = json.loads(run("restic", "-r", repos["r1"], "snapshots", "latest", "--json"))[0]["id"]
    borg_latest = json.loads(run("borg", "list", "--json", "--last", "1", repos["b1"]))["archives"][0]["id"]
    tested = erp[erp["restore_tested_at"] != ""]
    assert sorted(tested["backup_id"]) == sorted([restic_latest, borg_latest])
    log = [json.loads(x) for x in repos["log"].read_text().splitlines()]
    assert sorted(instant(t) for t in tested["restore_tested_at"]) == sorted(
        instant(e["finished_at"]) for e in log if e["action"] == "restore-test")
    assert (arc["restore_tested_at"] == "").all()
    assert len(df) == 6  # evidence never adds rows: 2 + 1 restic snapshots, 2 + 1 borg archives

    # the built-in pack judges exactly the planted problems
    out = tmp_path / "out"
    r = cli("scan", "--snapshot", snap, "--policies", ROOT / "policies" / "cn_finance" / "backups.yaml",
            "--out", out, "--format", "json,html,csv", "--fail-on", "never")
    assert r.exit_code == 0, r.output
    findings = json.loads((out / "findings.json").read_text())
    got = sorted((f["policy_id"], f["code"], f["subject"]) for f in findings["findings"]
                 if f["policy_id"] == "BAK-001")
    assert got == [
        ("BAK-001", "backup_overdue", "dataset:earchive-db"),
        ("BAK-001", "no_restore_test", "dataset:earchive-db"),
        ("BAK-001", "no_successful_backup", "dataset:earchive-files"),
        ("BAK-001", "not_verified", "dataset:earchive-db"),
    ]
    assert_no_password(out, tmp_path / "snap", text=r.output)


def test_failed_listing_names_the_repository_not_the_password(repos, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("LG_TEST_BACKUP_PW", "wrong-" + PASSWORD)
    src = write_sources(tmp_path, f"""
        - {{name: nas1, kind: backup_catalog, format: restic, repository: {repos['r1']},
           password_env: LG_TEST_BACKUP_PW}}
        """)
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 3
    assert f"restic snapshots on {repos['r1']} failed" in r.output
    assert "wrong password" in r.output
    assert PASSWORD not in r.output and not (tmp_path / "snap").exists()


def test_borg_times_are_safe_whatever_the_hosts_zone(repos, tmp_path, cli):
    """On a UTC server `borg list --json` prints UTC wall time without an offset."""
    saved = tmp_path / "borg-list.json"
    saved.write_text(run("borg", "list", "--json", repos["b1"], tz="UTC"))  # a UTC server
    truth = json.loads(run("borg", "list", "--json", repos["b1"], tz="Asia/Shanghai"))
    # a saved listing without `timezone:` is refused, not read in the snapshot's zone
    src = write_sources(tmp_path, """
        - {name: off1, kind: backup_catalog, format: borg, path: borg-list.json}
        """, timezone="Asia/Shanghai")
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 3
    assert "borg list --json prints the local time of the host that ran it" in r.output
    assert "timezone:" in r.output
    # with the zone of the host that ran borg, the instants are right
    src = write_sources(tmp_path, """
        - {name: off1, kind: backup_catalog, format: borg, path: borg-list.json, timezone: UTC}
        """, timezone="Asia/Shanghai")
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 0, r.output
    df = read(tmp_path / "snap").set_index("backup_id")
    for a in truth["archives"]:
        assert instant(df.loc[a["id"], "started_at"]) == instant(a["start"], "Asia/Shanghai")
    # a live source runs borg in UTC itself: `timezone:` there is a mistake
    src = write_sources(tmp_path, f"""
        - {{name: off1, kind: backup_catalog, format: borg, repository: {repos['b1']}, timezone: UTC}}
        """)
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap2")
    assert r.exit_code == 3 and "timezone: applies to a saved borg listing only" in r.output


def test_saved_borg_info_gives_sizes_and_check_log_evidence(repos, tmp_path, cli):
    saved = tmp_path / "borg-info.json"
    saved.write_text(run("borg", "info", "--json", "--glob-archives", "*", repos["b1"], tz="Asia/Shanghai"))
    info = json.loads(saved.read_text())
    src = write_sources(tmp_path, f"""
        - {{name: off1, kind: backup_catalog, format: borg, path: borg-info.json,
           timezone: Asia/Shanghai, repository: {repos['b1']}, check_log: {repos['log']}}}
        """)
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 0, r.output
    df = read(tmp_path / "snap").set_index("backup_id")
    for a in info["archives"]:
        assert df.loc[a["id"], "size_bytes"] == str(a["stats"]["original_size"])
    latest = max(info["archives"], key=lambda a: a["start"])["id"]
    assert df.loc[latest, "restore_tested_at"] != ""
    assert (df["verify_status"] == "").all()  # b1 was never checked through the wrapper


def test_bad_check_log_line_names_file_and_line(repos, tmp_path, cli):
    log = tmp_path / "checks.jsonl"
    log.write_text('{"tool": "restic", "repository": "/x", "action": "check", "status": "success",'
                   ' "started_at": "2026-11-20T02:00:00+08:00", "finished_at": "2026-11-20T02:05:00+08:00"}\n'
                   '{"tool": "restic", "repository": "/x", "action": "check", "status": "success",'
                   ' "started_at": "2026-11-20T02:00:00", "finished_at": "2026-11-20T02:05:00"}\n')
    (tmp_path / "snaps.json").write_text("[]")
    src = write_sources(tmp_path, """
        - {name: nas1, kind: backup_catalog, format: restic, path: snaps.json, repository: /x,
           check_log: checks.jsonl}
        """)
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 3
    assert f"{log}:2: started_at '2026-11-20T02:00:00' has no UTC offset" in r.output
