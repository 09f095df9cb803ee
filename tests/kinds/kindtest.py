"""Helpers of the policy-kind tests: the built-in vocabulary's roles and one CLI scan."""

from __future__ import annotations

from pathlib import Path

from conftest import run_findings
from ledgerguard.policies.vocabulary import ROLE_PERMISSIONS as ROLE_PERMISSION_MAP
from ledgerguard.policies.vocabulary import role_permission_rows

VOCABULARY = ROLE_PERMISSION_MAP
ROLE_PERMISSIONS = role_permission_rows()


def scan(cli, snap: Path, pack: Path, out: Path, as_of: str = "2026-11-23", *extra: str) -> tuple[int, dict]:
    """Run `ledgerguard scan` as a user would; the exit code and findings.json."""
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", as_of, "--out", out, *extra)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, run_findings(out)


def hits(doc: dict) -> set[tuple[str, str]]:
    """(code, subject) of every finding."""
    return {(f["code"], f["subject"]) for f in doc["findings"]}
