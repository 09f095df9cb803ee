"""Helpers of the policy-kind tests: the built-in vocabulary's roles and one CLI scan."""

from __future__ import annotations

from pathlib import Path

from conftest import run_findings

#: docs/vocabulary.md, roles → permissions
VOCABULARY = {
    ("erp", "cashier"): ["cash.receipt", "cash.payment", "ap.vendor.pay", "report.view"],
    ("erp", "gl_clerk"): ["gl.voucher.enter", "gl.account.revenue.post", "gl.account.expense.post",
                          "gl.account.debt.post", "ap.vendor.create", "report.view"],
    ("erp", "gl_reviewer"): ["gl.voucher.approve", "bank.reconcile", "report.view"],
    ("erp", "finance_manager"): ["gl.voucher.approve", "bank.payment.release", "report.view",
                                 "report.close_period"],
    ("erp", "sys_admin"): ["sys.user.admin", "sys.role.admin", "sys.config"],
    ("earchive", "archive_keeper"): ["archive.keep", "archive.view", "archive.borrow.approve"],
    ("earchive", "archive_viewer"): ["archive.view"],
    ("earchive", "archive_admin"): ["sys.user.admin", "sys.backup"],
}
ROLE_PERMISSIONS = [{"system": s, "role": r, "permission": p} for (s, r), perms in VOCABULARY.items() for p in perms]


def scan(cli, snap: Path, pack: Path, out: Path, as_of: str = "2026-11-23", *extra: str) -> tuple[int, dict]:
    """Run `ledgerguard scan` as a user would; the exit code and findings.json."""
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", as_of, "--out", out, *extra)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, run_findings(out)


def hits(doc: dict) -> set[tuple[str, str]]:
    """(code, subject) of every finding."""
    return {(f["code"], f["subject"]) for f in doc["findings"]}
