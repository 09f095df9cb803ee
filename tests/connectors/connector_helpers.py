"""Helpers for the connector tests: sources files and a real trytond database.

Loaded as a pytest plugin by tests/conftest.py (a conftest.py here would shadow the
top-level one for ``from conftest import ...``), so its fixtures reach every test.

The trytond databases take ~10 s (SQLite) and ~30 s (PostgreSQL) to create, so they
are built once and cached under the system temp folder, keyed by the trytond version
and the build script's hash: each session copies the SQLite file and restores the
PostgreSQL dump into the session's one PostgreSQL server.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest
from pgserver import SUPERUSER_PASSWORD, PgServer, pg_bin

# the real-slapd and real-Samba fixtures of the ldap tests live next to this file
from sambadc import samba_dc
from slapd import ldap_settings, slapd_server

__all__ = ["ldap_settings", "samba_dc", "slapd_server"]

BUILD = Path(__file__).with_name("tryton_build.py")


def write_sources(folder: Path, body: str, timezone: str | None = None) -> Path:
    """A sources.yaml in ``folder`` (body: the YAML list under ``sources:``)."""
    head = f"timezone: {timezone}\n" if timezone else ""
    path = folder / "sources.yaml"
    path.write_text(head + "sources:\n" + textwrap.indent(textwrap.dedent(body).lstrip("\n"), "  "), encoding="utf-8")
    return path


def _tryton_cache() -> Path:
    """Folder of the cached build, keyed by trytond's version and the build script."""
    key = hashlib.sha256(BUILD.read_bytes()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"ledgerguard-test-tryton-{version('trytond')}-{key}"


def _build_tryton(action: str, uri: str, folder: Path) -> None:
    done = subprocess.run([sys.executable, str(BUILD), action, uri, str(folder)], capture_output=True, text=True)
    if done.returncode:
        pytest.fail(f"building the trytond database failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")


@pytest.fixture(scope="session")
def tryton_sqlite_template() -> Path:
    """The cached build folder: lgtest.sqlite and access.json (what trytond answers)."""
    cache = _tryton_cache() / "sqlite"
    if not (cache / "access.json").is_file():
        build = Path(tempfile.mkdtemp(prefix="tryton-build-"))
        _build_tryton("build", "sqlite://", build)
        shutil.rmtree(cache, ignore_errors=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(build, cache)
    return cache


@pytest.fixture(scope="session")
def tryton_db(tryton_sqlite_template, tmp_path_factory) -> Path:
    """Path of a copy of a real trytond 8 SQLite database (see tryton_build.py)."""
    target = tmp_path_factory.mktemp("tryton") / "lgtest.sqlite"
    shutil.copy(tryton_sqlite_template / "lgtest.sqlite", target)
    return target


@pytest.fixture(scope="session")
def pg_server():
    """One real PostgreSQL server for the whole session (pgserver.py); fails, never skips."""
    if pg_bin("initdb") is None:
        pytest.fail("PostgreSQL is not installed: run scripts/install-system-deps.sh")
    server = PgServer().start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class TrytonPg:
    url: str  # SQLAlchemy URL without password (the password is SUPERUSER_PASSWORD)
    folder: Path  # holds access.json, what trytond answers on this database
    server: PgServer


@pytest.fixture(scope="session")
def tryton_pg(pg_server, tmp_path_factory) -> TrytonPg:
    """The trytond database built on the session's PostgreSQL.

    The first build (~30 s) is dumped with pg_dump into the cache; later sessions restore
    the dump (~2 s) and ask trytond again for access.json on the restored database.
    """
    con = pg_server.connect()
    con.run("CREATE DATABASE lgtest")
    con.close()
    uri = f"postgresql://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{pg_server.port}/"
    folder = tmp_path_factory.mktemp("tryton-pg")
    dump = _tryton_cache() / "postgresql.dump"
    env = {**os.environ, "PGPASSWORD": SUPERUSER_PASSWORD}
    conn = ["-h", "127.0.0.1", "-p", str(pg_server.port), "-U", "postgres", "-d", "lgtest"]
    if dump.is_file():
        subprocess.run([pg_bin("pg_restore"), *conn, "--no-owner", str(dump)], check=True, env=env,
                       capture_output=True)
        _build_tryton("access", uri, folder)
    else:
        _build_tryton("build", uri, folder)
        dump.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([pg_bin("pg_dump"), *conn, "-Fc", "-f", f"{dump}.tmp"], check=True, env=env,
                       capture_output=True)
        os.replace(f"{dump}.tmp", dump)
    return TrytonPg(f"postgresql+pg8000://postgres@127.0.0.1:{pg_server.port}/lgtest", folder, pg_server)
