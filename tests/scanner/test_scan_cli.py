"""The scan command end to end: exit codes, error isolation, findings.json shape."""

from __future__ import annotations

import json

from conftest import DEPARTURE, policy_pack, run_findings
from conftest import ONE_DEPARTED as TABLES


def test_findings_json_shape_and_exit_1(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(TABLES, timezone="Asia/Shanghai")
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    out = tmp_path / "out"
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", out)
    assert result.exit_code == 1
    assert "critical 1" in result.output and "FAIL" in result.output
    doc = run_findings(out)
    assert doc["format"] == "ledgerguard-findings/1"
    assert doc["scan"]["as_of"] == "2026-11-23"
    assert doc["summary"]["findings"] == {"critical": 1, "high": 0, "medium": 0, "low": 0, "info": 0}
    assert doc["summary"]["failed"] == 1 and doc["policies"][0]["status"] == "fail"
    (f,) = doc["findings"]
    assert f["subject"] == "account:erp:zhangsan" and f["person_id"] == "P1"
    assert f["code"] == "enabled_after_departure" and f["status"] == "open"
    assert set(doc) >= {"format", "tool", "scan", "summary", "policies", "findings", "waivers", "resolved"}
    assert doc["scan"]["snapshot"]["sha256"] and doc["scan"]["policy_packs"][0]["sha256"]


def test_ids_are_stable_between_scans(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(TABLES)
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    ids = []
    for n in (1, 2):
        cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", f"2026-11-2{n + 2}", "--out", tmp_path / str(n))
        ids.append([f["id"] for f in run_findings(tmp_path / str(n))["findings"]])
    assert ids[0] == ids[1] and len(ids[0]) == 1


def test_fail_on_threshold_and_never(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(TABLES)
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE.replace("critical", "medium")))
    args = ["scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", tmp_path]
    assert cli(*args).exit_code == 0  # medium < default high
    assert cli(*args, "--fail-on", "medium").exit_code == 1
    assert cli(*args, "--fail-on", "never").exit_code == 0


def test_missing_table_makes_the_policy_error_not_pass_and_others_still_run(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({"identities": TABLES["identities"]})  # no accounts table
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE, DEPARTURE.replace("ACC-001", "ACC-002")))
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", tmp_path)
    assert result.exit_code == 3
    doc = run_findings(tmp_path)
    assert [p["status"] for p in doc["policies"]] == ["error", "error"]
    assert "accounts" in doc["policies"][0]["error"]
    assert "ERROR" in result.output and "PASS" not in result.output


def test_table_from_failed_source_is_error(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(TABLES, sources=[
        {"name": "hr", "kind": "file", "status": "ok", "tables": ["identities"]},
        {"name": "erp", "kind": "sql", "status": "error", "error": "connection refused", "tables": ["accounts"]},
    ])
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", tmp_path)
    assert result.exit_code == 3
    assert "connection refused" in run_findings(tmp_path)["policies"][0]["error"]


def test_grace_day_is_inclusive(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(TABLES, timezone="Asia/Shanghai")
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE + "params: {grace_days: 3}\n"))
    base = ["scan", "--snapshot", snap, "--policies", pack, "--out", tmp_path]
    assert cli(*base, "--as-of", "2026-11-23").exit_code == 0  # 11-20 + 3 = as-of: not yet late
    assert cli(*base, "--as-of", "2026-11-24").exit_code == 1


def test_as_of_defaults_to_taken_at(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(TABLES, timezone="Asia/Shanghai", taken_at="2026-11-20T23:00:00Z")
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--out", tmp_path)
    doc = run_findings(tmp_path)
    assert doc["scan"]["as_of"] == "2026-11-21T07:00:00+08:00"
    assert result.exit_code == 1  # local date 11-21 > departure 11-20


def test_bad_inputs_exit_2_without_traceback(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(TABLES)
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    for args, expected in [
        (["--snapshot", snap, "--policies", pack, "--as-of", "23/11/2026"], "--as-of"),
        (["--snapshot", tmp_path / "nope", "--policies", pack], "no such snapshot folder"),
        (["--snapshot", tmp_path, "--policies", pack], "manifest.json is missing"),
        (["--snapshot", snap, "--policies", tmp_path / "missing.yaml"], "no such file"),
        (["--snapshot", snap, "--policies", pack, "--format", "pfd"], "unknown format"),
    ]:
        result = cli("scan", *args, "--out", tmp_path / "o")
        assert result.exit_code == 2, (args, result.output)
        assert expected in result.stderr + result.output
        assert "Traceback" not in result.stderr + result.output


def test_disabled_policy_is_skipped(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(TABLES)
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE + "enabled: false\n"))
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", tmp_path)
    assert result.exit_code == 0
    assert run_findings(tmp_path)["policies"][0]["status"] == "skipped"


def test_config_file_supplies_defaults_and_flags_win(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(TABLES)
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE.replace("critical", "medium")))
    (tmp_path / "ledgerguard.yaml").write_text(
        f"snapshot: {snap}\npolicies: [{pack}]\nfail_on: medium\nout: {tmp_path / 'cfgout'}\n")
    assert cli("scan", "--as-of", "2026-11-23", cwd=tmp_path).exit_code == 1
    assert json.loads((tmp_path / "cfgout" / "findings.json").read_text())["summary"]["findings"]["medium"] == 1
    assert cli("scan", "--as-of", "2026-11-23", "--fail-on", "high", cwd=tmp_path).exit_code == 0
    (tmp_path / "ledgerguard.yaml").write_text("fail_on: sometimes\n")
    result = cli("scan", cwd=tmp_path)
    assert result.exit_code == 2 and "ledgerguard.yaml:1:" in result.stderr


def test_a_reader_that_stops_early_gets_no_error_message():
    """`ledgerguard policies list --controls | head -1`: no traceback, no 'internal error'."""
    import fcntl
    import os
    import subprocess
    import sys

    # a pipe smaller than the output (9 kB), so the command is still writing when the reader
    # goes away, whatever the timing (a 64 kB default pipe took it all, and exit 0 was a race)
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    proc = subprocess.Popen([sys.executable, "-m", "ledgerguard.app.cli", "policies", "list", "--controls"],
                            stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    assert os.read(read_end, 100)
    os.close(read_end)  # like head: the pipe closes while output is still coming
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err and b"internal error" not in err and b"Broken pipe" not in err, err
    assert proc.returncode == 1


def test_the_collector_rests_while_the_snapshot_loads_and_runs_again_after(cli, make_snapshot, write_yaml, tmp_path,
                                                                            monkeypatch):
    """The scan pauses the cyclic garbage collector while its packs and snapshot load (their
    objects are frozen after: they live as long as the scan); it runs again after, also when the
    snapshot is bad."""
    import gc

    from ledgerguard.scanner import snapshot as snapshot_module

    read, seen = snapshot_module.read_snapshot, []

    def reading(*args, **kwargs):
        seen.append(gc.isenabled())
        return read(*args, **kwargs)

    monkeypatch.setattr(snapshot_module, "read_snapshot", reading)
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    result = cli("scan", "--snapshot", make_snapshot(TABLES), "--policies", pack, "--out", tmp_path / "out")
    assert result.exit_code == 1 and seen == [False]
    assert gc.isenabled() and gc.get_freeze_count() > 0
    gc.unfreeze()
    bad = tmp_path / "bad"
    bad.mkdir()
    result = cli("scan", "--snapshot", bad, "--policies", pack, "--out", tmp_path / "out2")
    assert result.exit_code == 2 and "manifest.json is missing" in result.output
    assert gc.isenabled() and seen == [False, False]
    gc.unfreeze()
