"""The built-in pack's vocabulary (docs/vocabulary.md) as data: which permissions each
role of the reference systems grants.

The cn_finance policies are written against these names; the demo company, the bench
generator and the tests build their ``role_permissions`` tables from this one mapping,
so a renamed permission changes everywhere at once.
"""

from __future__ import annotations

#: (system, role) → permissions the role grants
ROLE_PERMISSIONS: dict[tuple[str, str], list[str]] = {
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


def role_permission_rows() -> list[dict[str, str]]:
    """ROLE_PERMISSIONS as rows of the ``role_permissions`` snapshot table."""
    return [{"system": s, "role": r, "permission": p} for (s, r), perms in ROLE_PERMISSIONS.items() for p in perms]
