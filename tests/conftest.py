"""Shared test helpers: crafted snapshots on real disk, and the real CLI entry point."""

from __future__ import annotations

import csv
import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ledgerguard.app.cli import main

# Fixtures of tests/connectors (real slapd, real trytond). They are a plugin, not a
# tests/connectors/conftest.py: a second module named ``conftest`` would shadow this
# one for the ``from conftest import ...`` of the other test folders.
sys.path.insert(0, str(Path(__file__).parent / "connectors"))
pytest_plugins = ["connector_helpers"]


def write_snapshot_dir(root: Path, tables: dict[str, list[dict]], *, timezone: str = "UTC",
                       taken_at: str | None = None, sources: list[dict] | None = None) -> Path:
    """A hand-made snapshot: one CSV per table (as a user would write it) + manifest."""
    root.mkdir(parents=True, exist_ok=True)
    entries = {}
    for name, rows in tables.items():
        cols: list[str] = []
        for row in rows:
            cols.extend(c for c in row if c not in cols)
        with open(root / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)
        entries[name] = {"file": f"{name}.csv"}
    manifest = {"format": "ledgerguard-snapshot/1", "timezone": timezone, "tables": entries}
    if taken_at:
        manifest["taken_at"] = taken_at
    if sources is not None:
        manifest["sources"] = sources
    (root / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return root


@pytest.fixture
def make_snapshot(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(tables: dict[str, list[dict]], **kw) -> Path:
        return write_snapshot_dir(tmp_path / f"snap{next(counter)}", tables, **kw)

    return make


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(name: str, text: str) -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return p

    return write


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run the real `ledgerguard` click entry point; output as the user sees it."""

    def run(*args: str, cwd: Path | None = None) -> Result:
        runner = CliRunner()
        if cwd is None:
            return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
        import os

        old = os.getcwd()
        os.chdir(cwd)
        try:
            return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
        finally:
            os.chdir(old)

    return run

#: the one-policy case several CLI tests scan: a departed person with an enabled account
DEPARTURE = """
id: ACC-001
kind: revoke_on_departure
title: Departed staff keep no enabled account
severity: critical
"""
ONE_DEPARTED = {
    "identities": [{"person_id": "P1", "name": "张三", "status": "departed", "departure_date": "2026-11-20"}],
    "accounts": [{"system": "erp", "account_id": "zhangsan", "person_id": "P1", "enabled": "true"}],
}


def policy_pack(*policies: str, name: str = "test-pack") -> str:
    """A PolicyPack YAML text from policy YAML snippets (each a mapping, unindented)."""
    body = "".join(
        "  - " + textwrap.indent(textwrap.dedent(p).strip(), "    ")[4:] + "\n" for p in policies
    )
    return f"apiVersion: ledgerguard/v1\nkind: PolicyPack\nmetadata: {{name: {name}, version: '1'}}\npolicies:\n{body}"


def run_findings(out: Path) -> dict:
    return json.loads((out / "findings.json").read_text(encoding="utf-8"))
