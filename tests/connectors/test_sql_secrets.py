"""The database password is in no snapshot file, manifest, output or DEBUG log line.

Against a real PostgreSQL with SCRAM password authentication, so the password really
travels from password_env into the connection.
"""

from __future__ import annotations

import logging

import pytest
from connector_helpers import write_sources

SECRET = "S3cr3t-pa55/wörd@x"
WRONG = "not-the-Pa55word"



@pytest.fixture(scope="module")
def pg(pg_server):
    """The session's PostgreSQL (connector_helpers.pg_server: fails, never skips, when absent)."""
    con = pg_server.connect()
    con.run(f"CREATE ROLE reader LOGIN PASSWORD '{SECRET}'")
    con.run("CREATE TABLE users (uid TEXT, enabled BOOLEAN, created TIMESTAMP)")
    con.run("INSERT INTO users VALUES ('zs', true, '2026-11-01 09:00'), ('ls', false, NULL)")
    con.run("GRANT SELECT ON users TO reader")
    con.close()
    return pg_server


def test_password_never_leaks(pg, tmp_path, cli, caplog, monkeypatch):
    monkeypatch.setenv("LG_DB_PASSWORD", SECRET)
    monkeypatch.setenv("LG_WRONG_PASSWORD", WRONG)
    (tmp_path / "pw.txt").write_text(SECRET + "\n")
    url = f"postgresql+pg8000://reader@127.0.0.1:{pg.port}/postgres"
    src = write_sources(tmp_path, f"""
        - name: good
          kind: sql
          url: {url}
          password_env: LG_DB_PASSWORD
          queries:
            accounts: SELECT 'fin' AS system, uid AS account_id, enabled, created AS created_at FROM users
        - name: fromfile
          kind: sql
          url: {url}
          password_file: pw.txt
          queries: {{grants: "SELECT 'fin' AS system, uid AS account_id, 'r' AS role FROM users"}}
        - name: badquery
          kind: sql
          url: {url}
          password_env: LG_DB_PASSWORD
          queries: {{changes: SELECT * FROM nope}}
        - name: wrongpw
          kind: sql
          url: {url}
          password_env: LG_WRONG_PASSWORD
          queries: {{logins: SELECT 1}}
        """)
    caplog.set_level(logging.DEBUG)
    engine_log = logging.getLogger("sqlalchemy.engine")
    engine_log.setLevel(logging.DEBUG)
    try:
        r = cli("-vv", "collect", "--sources", src, "--out", tmp_path / "snap", "--partial")
    finally:
        engine_log.setLevel(logging.NOTSET)
    assert r.exit_code == 3
    assert "source badquery (sql) FAILED: table changes:" in r.output and "nope" in r.output
    assert "source wrongpw (sql) FAILED: connect:" in r.output
    assert "password authentication failed" in r.output
    assert "FROM users" in caplog.text  # DEBUG logging of SQLAlchemy really was on
    for secret in (SECRET, WRONG):
        assert secret not in caplog.text
        assert secret not in r.output
    names = {f.name for f in (tmp_path / "snap").iterdir()}
    assert names == {"manifest.json", "accounts.csv", "grants.csv"}
    for f in (tmp_path / "snap").iterdir():
        text = f.read_text(encoding="utf-8")
        assert SECRET not in text and WRONG not in text
    accounts = (tmp_path / "snap" / "accounts.csv").read_text()
    assert "fin,zs,true,2026-11-01T09:00:00" in accounts
