"""collect: atomic snapshots, failure isolation, exit codes, progress, scan --sources."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from connector_helpers import write_sources
from slapd import PASSWORD_ENV, READER_DN, READER_PASSWORD, SUFFIX

from ledgerguard.app.collect import collect
from ledgerguard.scanner.snapshot import read_snapshot

GOOD = """
- name: hr
  kind: file
  path: hr.csv
  table: identities
"""
EXE = Path(sys.executable).with_name("ledgerguard")
BAD = """
- name: fin
  kind: file
  path: accounts.csv
  table: accounts
"""


def files(tmp_path, accounts_ok: bool):
    (tmp_path / "hr.csv").write_text("person_id,status\nP1,active\nP2,departed\n")
    enabled = "true" if accounts_ok else "perhaps"
    (tmp_path / "accounts.csv").write_text(f"system,account_id,person_id,enabled\nfin,zs,P2,{enabled}\n")


def test_failed_source_leaves_no_snapshot_and_keeps_the_old_one(tmp_path, cli):
    files(tmp_path, accounts_ok=True)
    src = write_sources(tmp_path, GOOD + BAD)
    out = tmp_path / "snap"
    assert cli("collect", "--sources", src, "--out", out).exit_code == 0
    before = (out / "manifest.json").read_text()
    files(tmp_path, accounts_ok=False)
    r = cli("collect", "--sources", src, "--out", out)
    assert r.exit_code == 3
    assert "source fin (file) FAILED: " in r.output and "'perhaps' is not a boolean" in r.output
    assert "no snapshot written" in r.output
    assert (out / "manifest.json").read_text() == before  # the earlier snapshot is untouched
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp left


def test_partial_snapshot_marks_the_failed_tables_unusable(tmp_path, cli):
    files(tmp_path, accounts_ok=False)
    out = tmp_path / "snap"
    r = cli("collect", "--sources", write_sources(tmp_path, GOOD + BAD), "--out", out, "--partial")
    assert r.exit_code == 3
    manifest = json.loads((out / "manifest.json").read_text())
    fin = next(s for s in manifest["sources"] if s["name"] == "fin")
    assert fin["status"] == "error" and fin["tables"] == ["accounts"] and "perhaps" in fin["error"]
    assert set(manifest["tables"]) == {"identities"}
    snap = read_snapshot(out)
    assert "accounts" in snap.unusable and "identities" in snap.tables


def test_same_table_from_two_sources_is_concatenated(tmp_path):
    files(tmp_path, accounts_ok=True)
    (tmp_path / "more.csv").write_text("system,account_id,enabled\nhr,admin,false\n")
    src = write_sources(tmp_path, BAD + "- {name: hrsys, kind: file, path: more.csv, table: accounts}\n")
    result = collect(src, tmp_path / "snap")
    assert result.tables == {"accounts": 2}
    assert read_snapshot(tmp_path / "snap").tables["accounts"]["account_id"].tolist() == ["zs", "admin"]


def archive_store(tmp_path, files: int = 120) -> str:
    """A root of ``files`` small PDFs and its catalog; returns the sources entry."""
    (tmp_path / "root").mkdir()
    lines = ["archive_id,category,fiscal_year,path"]
    for i in range(files):
        (tmp_path / "root" / f"{i}.pdf").write_bytes(b"%PDF-" + bytes([i % 256]))
        lines.append(f"A{i},voucher,2020,{i}.pdf")
    (tmp_path / "cat.csv").write_text("\n".join(lines) + "\n")
    # without fixity times, two collects of the same files give byte-identical tables
    return "- {name: arch, kind: archive_store, catalog: cat.csv, root: root, record_fixity_time: false}\n"


def test_progress_only_when_asked(tmp_path, capsys):
    src = write_sources(tmp_path, archive_store(tmp_path))
    collect(src, tmp_path / "s1", progress=True)
    err = capsys.readouterr().err
    assert "[1/1] arch (archive_store)" in err
    assert re.search(r"120/120\S* \S*files hashed", err), err
    collect(src, tmp_path / "s2", progress=False)
    assert capsys.readouterr().err == ""


def on_a_terminal(args: list, cwd: Path, env: dict) -> tuple[int, str, str]:
    """Run the real ``ledgerguard`` with stderr on a pseudo-terminal (stdout piped).

    Returns (exit code, stdout, everything the terminal received).
    """
    master, slave = pty.openpty()
    proc = subprocess.Popen([EXE, *args], stdout=subprocess.PIPE, stderr=slave,
                            stdin=subprocess.DEVNULL, cwd=cwd, env=env)
    os.close(slave)
    screen = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end of the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    stdout, _ = proc.communicate(timeout=60)
    return proc.returncode, stdout.decode(), screen.decode()


def test_progress_bars_on_a_terminal_and_quiet_when_redirected(tmp_path, slapd_server):
    """LDAP pages and files hashed on a real TTY; nothing of it when stderr is a pipe."""
    body = archive_store(tmp_path) + f"""\
- name: corp-ldap
  kind: ldap
  flavor: openldap
  url: {slapd_server.url}
  bind_dn: {READER_DN}
  password_env: {PASSWORD_ENV}
  ca_file: {slapd_server.ca_file}
  base_dn: {SUFFIX}
  user_base_dn: ou=bulk,{SUFFIX}
  group_base_dn: ou=bulk,{SUFFIX}
  page_size: 25
"""
    src = write_sources(tmp_path, body)
    env = {**os.environ, PASSWORD_ENV: READER_PASSWORD}
    code, stdout, screen = on_a_terminal(["collect", "--sources", src, "--out", tmp_path / "tty"],
                                         tmp_path, env)
    assert code == 0, screen
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)  # rich's colours and cursor moves
    assert "[1/2] arch (archive_store)" in plain
    assert re.search(r"120/120 +files hashed", plain), plain
    assert "[2/2] corp-ldap (ldap)" in plain
    assert re.search(r"\d+/\S* +(users|groups)", plain), plain  # the LDAP pages counted
    # the live lines are erased (transient): each source is listed once, by the summary on stdout
    assert "ok in" not in plain and "\x1b[2K" in screen
    assert stdout.count("source arch (archive_store): ok") == 1 and stdout.count("source corp-ldap (ldap): ok") == 1
    assert "wrote snapshot" in stdout and "\x1b" not in stdout and "\r" not in stdout

    quiet = subprocess.run([EXE, "collect", "--sources", src, "--out", tmp_path / "pipe"],
                           capture_output=True, text=True, cwd=tmp_path, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert quiet.stdout.replace("pipe", "tty").splitlines()[-1] == stdout.splitlines()[-1]
    for table in ("accounts", "grants", "archives"):
        assert (tmp_path / "tty" / f"{table}.csv").read_bytes() == \
            (tmp_path / "pipe" / f"{table}.csv").read_bytes()


def test_bad_sources_file_is_exit_2(tmp_path, cli):
    src = write_sources(tmp_path, "- {name: x, kind: file, table: identities}\n")
    r = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert r.exit_code == 2
    assert f"{src}:2:5: 'path' is a required property" in r.output
    assert not (tmp_path / "snap").exists()


def test_scan_with_sources_collects_then_scans(tmp_path, cli):
    files(tmp_path, accounts_ok=False)
    src = write_sources(tmp_path, GOOD + BAD)
    r = cli("scan", "--sources", src, "--out", tmp_path / "out", "--format", "json", "--as-of", "2026-11-23")
    assert r.exit_code == 3, r.output
    assert "source fin (file) FAILED" in r.output
    doc = json.loads((tmp_path / "out" / "findings.json").read_text())
    sources = {s["name"]: s["status"] for s in doc["scan"]["snapshot"]["sources"]}
    assert sources == {"hr": "ok", "fin": "error"}
    errored = [p for p in doc["policies"] if p["status"] == "error"]
    # the policies that read accounts end in error because the source failed, never pass
    assert any("table 'accounts' is unusable: source 'fin' failed" in p["error"] for p in errored)


def test_out_that_is_not_a_snapshot_is_never_replaced(tmp_path, cli):
    files(tmp_path, accounts_ok=True)
    src = write_sources(tmp_path, GOOD)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.txt").write_text("precious")
    (tmp_path / "notes.txt").write_text("precious")
    r = cli("collect", "--sources", src, "--out", tmp_path / "docs")
    assert r.exit_code == 2
    assert "is a folder that is not a snapshot (no manifest.json): refusing to replace it" in r.output
    assert cli("collect", "--sources", src, "--out", tmp_path / "notes.txt").exit_code == 2
    assert (tmp_path / "docs" / "thesis.txt").read_text() == "precious"
    assert (tmp_path / "notes.txt").read_text() == "precious"
    (tmp_path / "empty").mkdir()
    assert cli("collect", "--sources", src, "--out", tmp_path / "empty").exit_code == 0
