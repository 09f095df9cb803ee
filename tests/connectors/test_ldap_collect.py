"""The ldap source through sources.yaml and ``collect``, against a real slapd."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

from slapd import PASSWORD_ENV, READER_DN, READER_PASSWORD, SUFFIX, Slapd, base_ldif, bulk_people_ldif

from ledgerguard.app.collect import collect
from ledgerguard.scanner.snapshot import read_snapshot


def sources_yaml(path: Path, url: str, ca_file: Path, user_base: str, page_size: int = 50) -> Path:
    path.write_text(f"""\
timezone: Asia/Shanghai
sources:
  - name: corp-ldap
    kind: ldap
    flavor: openldap
    url: [{url}]
    bind_dn: {READER_DN}
    password_env: {PASSWORD_ENV}
    ca_file: {ca_file}
    base_dn: {SUFFIX}
    user_base_dn: {user_base}
    group_base_dn: {user_base}
    person_id_attribute: employeeNumber
    page_size: {page_size}
""", encoding="utf-8")
    return path


class KillOnFirstPage(logging.Handler):
    """Kills slapd (by pid) when the connector logs its first page of users."""

    def __init__(self, server: Slapd) -> None:
        super().__init__(logging.DEBUG)
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        if "users page 1," in record.getMessage():
            self.server.kill()


def test_collect_writes_the_directory_and_no_password(tmp_path, slapd_server, monkeypatch, caplog):
    monkeypatch.setenv(PASSWORD_ENV, READER_PASSWORD)
    src = sources_yaml(tmp_path / "sources.yaml", slapd_server.url, slapd_server.ca_file,
                       f"ou=bulk,{SUFFIX}", page_size=25)
    out = tmp_path / "snap"
    with caplog.at_level(logging.DEBUG):
        result = collect(src, out, progress=False)
    assert not result.failed
    snap = read_snapshot(out)
    assert len(snap.tables["accounts"]) == 120
    assert set(snap.tables["grants"]["role"]) == {"bulk-all"}
    assert snap.sources[0]["status"] == "ok"
    for file in out.iterdir():
        assert READER_PASSWORD not in file.read_text(encoding="utf-8"), file.name
    assert all(READER_PASSWORD not in r.getMessage() for r in caplog.records)


def test_slapd_killed_mid_paged_search_leaves_no_snapshot(tmp_path, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, READER_PASSWORD)
    server = Slapd(tmp_path / "slapd", base_ldif() + bulk_people_ldif(300)).start()
    logger = logging.getLogger("ledgerguard.connectors.ldap")
    handler = KillOnFirstPage(server)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        src = sources_yaml(tmp_path / "sources.yaml", server.url, server.ca_file,
                           f"ou=bulk,{SUFFIX}", page_size=10)
        out = tmp_path / "snap"
        result = collect(src, out, progress=False)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        server.stop()
    assert result.path is None
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".snap")] == []
    (failed,) = result.failed
    assert failed["name"] == "corp-ldap"
    assert "failed during the paged search of users" in failed["error"]
    assert "after 10 entries in 1 page:" in failed["error"]
    assert failed["tables"] == ["accounts", "grants"]


# --------------------------------------------------------------------------- the CLI

EXE = Path(sys.executable).with_name("ledgerguard")


def test_cli_collect_exits_3_without_snapshot_when_slapd_dies(tmp_path):
    """The real executable; slapd is killed by pid in the middle of the users search.

    The child logs every page at -vv; when page 1 shows up it is stopped (SIGSTOP), slapd
    is killed and the child resumes, so its next page request meets a dead server. 2,000
    users in pages of 10 take 200 round trips: the search cannot finish while the test
    reacts to the first line.
    """
    server = Slapd(tmp_path / "slapd", base_ldif() + bulk_people_ldif(2000)).start()
    out = tmp_path / "snap"
    src = sources_yaml(tmp_path / "sources.yaml", server.url, server.ca_file,
                       f"ou=bulk,{SUFFIX}", page_size=10)
    env = {**os.environ, PASSWORD_ENV: READER_PASSWORD}
    proc = subprocess.Popen([EXE, "-vv", "collect", "--sources", src, "--out", out],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path)
    lines = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if "users page 1," in line:
                os.kill(proc.pid, signal.SIGSTOP)
                server.kill()
                os.kill(proc.pid, signal.SIGCONT)
                break
        stdout, rest = proc.communicate(timeout=60)
    finally:
        server.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = "".join(lines) + rest
    assert proc.returncode == 3, stderr
    failed = re.search(rf"source corp-ldap \(ldap\) FAILED: LDAP server {server.url} failed during "
                       rf"the paged search of users under ou=bulk,{SUFFIX} after (\d+) entries in "
                       rf"(\d+) pages?: \S", stderr)
    assert failed, stderr
    assert 10 <= int(failed[1]) < 2000 and int(failed[1]) == 10 * int(failed[2])
    assert "no snapshot written: a source failed" in stderr
    assert "Traceback" not in stderr
    assert "wrote snapshot" not in stdout
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp dir


def test_cli_password_in_no_snapshot_report_or_log_line(tmp_path, slapd_server):
    """The real executable at its most verbose (-vv): collect, scan that snapshot, re-render
    the reports from its findings, and scan --sources; the password is nowhere."""
    src = sources_yaml(tmp_path / "sources.yaml", slapd_server.url, slapd_server.ca_file,
                       f"ou=people,{SUFFIX}")
    env = {**os.environ, PASSWORD_ENV: READER_PASSWORD}
    formats = "json,html,csv,sarif,junit,xlsx"
    commands = [
        ["collect", "--sources", src, "--out", tmp_path / "snap"],
        ["scan", "--snapshot", tmp_path / "snap", "--out", tmp_path / "scan", "--format", formats],
        ["report", "--findings", tmp_path / "scan" / "findings.json", "--out", tmp_path / "report",
         "--format", "html,xlsx"],
        ["scan", "--sources", src, "--out", tmp_path / "scan-sources", "--format", formats],
    ]
    runs = [subprocess.run([EXE, "-vv", *cmd], capture_output=True, text=True, env=env,
                           cwd=tmp_path) for cmd in commands]
    assert runs[0].returncode == 0, runs[0].stderr
    assert "DEBUG ledgerguard.connectors.ldap: corp-ldap: users page 1," in runs[0].stderr
    assert runs[1].returncode in (0, 1, 3), runs[1].stderr  # 3: the pack needs more tables
    assert runs[2].returncode == 0, runs[2].stderr
    assert runs[3].returncode in (0, 1, 3), runs[3].stderr
    for run in runs:
        assert READER_PASSWORD not in run.stdout + run.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "slapd" not in p.parts
               and p.name != "sources.yaml"]
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    assert {"snap/accounts.csv", "snap/manifest.json", "scan/findings.json", "scan/report.html",
            "scan/report.xlsx", "report/report.html", "scan-sources/findings.sarif"} <= names
    for path in written:
        data = path.read_bytes()
        if path.suffix == ".xlsx":  # a zip: look inside every member
            with zipfile.ZipFile(path) as zf:
                data = b"".join(zf.read(n) for n in zf.namelist())
        assert READER_PASSWORD.encode() not in data, path.name
