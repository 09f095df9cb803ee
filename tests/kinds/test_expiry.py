"""SPEC §5.1 "Expiry", through the real CLI: an account past ``expires_at`` is not enabled.

Decided once in ``Context`` (scanner/context.py), so every kind that judges enabled
accounts sees the same thing; the boundary is the instant "now" (expiry exactly at now
= not enabled, one second later = still enabled). For revoke_on_departure an expiry
reached is a revocation, on time when its local date ≤ departure_date + grace_days.
"""

from __future__ import annotations

from kindtest import ROLE_PERMISSIONS, hits, scan

from conftest import policy_pack

AS_OF = "2026-11-23"  # now = 2026-11-23T00:00:00+08:00
TZ = "Asia/Shanghai"
DEPARTURE = """
id: DEP-T
kind: revoke_on_departure
title: Leavers keep no enabled account
severity: critical
params: {grace_days: 1}
"""
DORMANT = """
id: DOR-T
kind: dormant_account
title: No idle accounts
severity: medium
params: {max_idle_days: 30}
"""
REVIEW = """
id: REV-T
kind: access_review
title: Reviewed
severity: medium
"""
MFA = """
id: MFA-T
kind: privileged_mfa
title: MFA
severity: high
params: {privileged_permissions: ["sys.*"]}
"""
SOD = """
id: SOD-T
kind: segregation_of_duties
title: Cashier is not reviewer
severity: high
params:
  rules: [{id: R1, name: cash vs review, left: ["cash.*"], right: ["gl.voucher.approve"]}]
"""

IDENTITIES = [
    {"person_id": f"P{i}", "name": f"n{i}", "status": "departed", "departure_date": "2026-11-10"}
    for i in range(1, 5)
] + [{"person_id": "P9", "name": "stays", "status": "active"}]


def _acc(account_id, person_id, expires_at="", **extra):
    return {"system": "erp", "account_id": account_id, "person_id": person_id, "enabled": "true",
            "expires_at": expires_at, "created_at": "2025-01-01", **extra}


def test_expiry_at_now_is_not_enabled_one_second_later_is(cli, make_snapshot, write_yaml, tmp_path):
    accounts = [
        _acc("at_now", "P9", "2026-11-23T00:00:00+08:00", last_login_at="2026-01-01"),
        _acc("second_later", "P9", "2026-11-23T00:00:01+08:00", last_login_at="2026-01-01"),
        _acc("expired_2025", "P9", "2025-06-30", last_login_at="2025-03-01"),
    ]
    grants = [{"system": "erp", "account_id": a, "role": r}
              for a in ("at_now", "second_later") for r in ("sys_admin", "cashier", "gl_reviewer")]
    snap = make_snapshot({"identities": IDENTITIES, "accounts": accounts, "grants": grants,
                          "role_permissions": ROLE_PERMISSIONS,
                          "reviews": [{"system": "erp", "account_id": "other",
                                       "reviewed_at": "2026-11-01"}]}, timezone=TZ)
    pack = write_yaml("p.yaml", policy_pack(DORMANT, REVIEW, MFA, SOD))
    _, doc = scan(cli, snap, pack, tmp_path / "out", AS_OF)
    subjects = {(f["policy_id"], f["subject"]) for f in doc["findings"]}
    for policy in ("DOR-T", "REV-T", "MFA-T"):
        assert (policy, "account:erp:second_later") in subjects, policy
        assert (policy, "account:erp:at_now") not in subjects, policy
        assert (policy, "account:erp:expired_2025") not in subjects, policy
    # both accounts are P9's: only the one still enabled contributes to the conflict
    (sod,) = [f for f in doc["findings"] if f["policy_id"] == "SOD-T"]
    assert "second_later" in str(sod["evidence"]) and "at_now" not in str(sod["evidence"])


def test_expiry_on_departure_plus_grace_is_on_time_one_day_later_is_late(
        cli, make_snapshot, write_yaml, tmp_path):
    accounts = [
        # departure 2026-11-10, grace 1 day: the deadline is 2026-11-11 (local dates)
        _acc("on_time", "P1", "2026-11-11T23:59:59+08:00"),
        _acc("day_late", "P2", "2026-11-12T00:00:00+08:00"),
        _acc("not_yet", "P3", "2026-11-23T00:00:01+08:00"),   # still usable now
        _acc("disabled_first", "P4", "2026-11-20", enabled="false", disabled_at="2026-11-11"),
    ]
    snap = make_snapshot({"identities": IDENTITIES, "accounts": accounts}, timezone=TZ)
    _, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(DEPARTURE)), tmp_path / "out", AS_OF)
    assert hits(doc) == {
        ("late_revocation", "account:erp:day_late"),
        ("enabled_after_departure", "account:erp:not_yet"),
    }
    (late,) = [f for f in doc["findings"] if f["code"] == "late_revocation"]
    assert late["evidence"]["days_late"] == 1
    assert "2026-11-12" in late["message"]
