"""Helpers for the connector tests: sources files and a real trytond database.

Loaded as a pytest plugin by tests/conftest.py (a conftest.py here would shadow the
top-level one for ``from conftest import ...``), so its fixtures reach every test.

The trytond database takes ~10 s to create, so it is built once and cached under
the system temp folder, keyed by the trytond version and the build script's hash;
each test session copies it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def tryton_db(tmp_path_factory) -> Path:
    """Path of a copy of a real trytond 8 SQLite database (see tryton_build.py)."""
    key = hashlib.sha256(BUILD.read_bytes()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"ledgerguard-test-tryton-{version('trytond')}-{key}"
    db = cache / "lgtest.sqlite"
    if not db.is_file():
        build = Path(tempfile.mkdtemp(prefix="tryton-build-"))
        subprocess.run([sys.executable, str(BUILD), str(build)], check=True, capture_output=True)
        shutil.rmtree(cache, ignore_errors=True)
        build.rename(cache)
    target = tmp_path_factory.mktemp("tryton") / "lgtest.sqlite"
    shutil.copy(db, target)
    return target
