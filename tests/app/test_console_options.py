"""Console options: colours (NO_COLOR, --color), --quiet, and messages without a made-up place."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import DEPARTURE, policy_pack
from conftest import ONE_DEPARTED as TABLES


def run(*args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ledgerguard.app.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def test_colour_follows_color_and_no_color(make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(TABLES)
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    scan = ["scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", tmp_path / "o"]
    always = run("--color", "always", *scan)
    assert always.returncode == 1 and "\x1b[" in always.stdout
    assert "\x1b[" not in run("--color", "never", *scan).stdout
    env = {"NO_COLOR": "1"}
    assert "\x1b[" not in run(*scan, env=env).stdout
    assert "\x1b[" in run("--color", "always", *scan, env=env).stdout  # an explicit flag wins


def test_quiet_prints_the_result_line_only(make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot(TABLES)
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE))
    r = run("--quiet", "scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", tmp_path)
    assert r.returncode == 1
    assert r.stdout.splitlines() == ["result: FAIL · critical 1 · exit 1"]


def test_errors_name_no_made_up_input(tmp_path):
    r = run("scan", "--snapshot", tmp_path / "missing")
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {tmp_path / 'missing'}: no such snapshot folder"
    r = run("policies", "show", "NOPE-1")
    assert r.returncode == 2 and "<input>" not in r.stderr


def test_did_you_mean_for_options_and_policy_ids(make_snapshot, tmp_path):
    r = run("scan", "--snapshot", make_snapshot(TABLES), "--fail-onn", "high")
    assert r.returncode == 2 and "Did you mean one of: '--fail-on'" in r.stderr  # click's own
    r = run("policies", "show", "ACC-01")
    assert r.returncode == 2 and "did you mean ACC-001" in r.stderr


def test_did_you_mean_for_kinds_and_keys(write_yaml):
    pack = write_yaml("p.yaml", policy_pack(DEPARTURE.replace("revoke_on_departure", "revoke_on_depature")
                                            + "serverity: high\n"))
    r = run("validate", pack)
    assert r.returncode == 2
    assert "did you mean revoke_on_departure?" in r.stdout + r.stderr
    assert "unknown key 'serverity'" in r.stdout + r.stderr and "did you mean severity?" in r.stdout + r.stderr
