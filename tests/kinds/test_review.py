"""access_review through the real CLI: newest review counts, inclusive day limit on local dates."""

from __future__ import annotations

from kindtest import hits, scan

from conftest import policy_pack

POLICY = """
id: REV-T
kind: access_review
title: {en: Access reviewed every 90 days, zh: 每90天复核一次权限}
severity: medium
params: {systems: [erp], max_age_days: 90}
"""


def _acc(account_id, enabled="true", system="erp"):
    return {"system": system, "account_id": account_id, "person_id": "P1", "enabled": enabled}


def _rev(account_id, at, decision="keep", system="erp"):
    return {"system": system, "account_id": account_id, "reviewer": "王经理", "reviewed_at": at, "decision": decision}


def test_review_age_never_reviewed_and_newest_review(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({
        "accounts": [_acc("at_limit"), _acc("one_over"), _acc("never"), _acc("renewed"), _acc("off", "false"),
                     _acc("other", system="earchive"), _acc("revoked")],
        "reviews": [
            _rev("at_limit", "2026-08-24T16:30:00Z"),    # 2026-08-25 00:30 +08:00: exactly 90 days
            _rev("one_over", "2026-08-24T15:59:59Z"),    # 2026-08-24 23:59:59 +08:00: 91 days
            _rev("renewed", "2025-01-01"), _rev("renewed", "2026-11-01"), _rev("renewed", "2024-06-30"),
            _rev("revoked", "2026-10-01", "revoke"),    # a revoke decision is a review too
        ],
    }, timezone="Asia/Shanghai")
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(POLICY)), tmp_path / "out")
    assert code == 0  # medium < high
    assert hits(doc) == {("review_overdue", "account:erp:one_over"), ("never_reviewed", "account:erp:never")}
    f = {f["code"]: f for f in doc["findings"]}
    assert f["review_overdue"]["evidence"]["age_days"] == 91
    assert f["review_overdue"]["evidence"]["reviewer"] == "王经理"
    assert f["review_overdue"]["evidence"]["reviewed_at"] == "2026-08-24T23:59:59+08:00"
    assert "91 days ago (limit 90)" in f["review_overdue"]["message"]
    assert f["never_reviewed"]["person_id"] == "P1"


def test_a_new_account_is_due_for_its_first_review_max_age_days_after_creation(cli, make_snapshot, write_yaml,
                                                                                tmp_path):
    snap = make_snapshot({"accounts": [
        {**_acc("new"), "created_at": "2026-11-20"},
        {**_acc("at_limit"), "created_at": "2026-08-25T00:30:00+08:00"},   # 90 days: not yet due
        {**_acc("one_over"), "created_at": "2026-08-24T23:59:59+08:00"},   # 91 days: due, never reviewed
        _acc("unknown_creation"),                                           # no created_at: due now
    ], "reviews": [_rev("someone_else", "2026-11-01")]}, timezone="Asia/Shanghai")
    _, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(POLICY)), tmp_path / "out")
    assert hits(doc) == {("never_reviewed", "account:erp:one_over"), ("never_reviewed", "account:erp:unknown_creation")}


def test_the_next_day_the_account_at_the_limit_is_overdue(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({"accounts": [_acc("a")], "reviews": [_rev("a", "2026-08-25T23:00:00+08:00")]},
                         timezone="Asia/Shanghai")
    pack = write_yaml("p.yaml", policy_pack(POLICY))
    assert scan(cli, snap, pack, tmp_path / "1", "2026-11-23")[1]["findings"] == []
    _, doc = scan(cli, snap, pack, tmp_path / "2", "2026-11-24")
    assert hits(doc) == {("review_overdue", "account:erp:a")}


def test_missing_reviews_table_is_an_error(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({"accounts": [_acc("a")]})
    pack = write_yaml("p.yaml", policy_pack(POLICY))
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23", "--out", tmp_path)
    assert result.exit_code == 3 and "PASS" not in result.output


def test_newest_review_is_the_last_of_a_stable_sort() -> None:
    """``_newest`` picks, per account, the row a stable sort by reviewed_at keeping each
    account's last row picks (ties: the later row; empty times never), on random reviews."""
    import numpy as np
    import pandas as pd

    from ledgerguard.scanner.context import ACCOUNT
    from ledgerguard.scanner.kinds.review import _newest

    rng = np.random.default_rng(3)
    days = pd.Series(pd.to_datetime(rng.integers(0, 6, 300), unit="D").tz_localize("Asia/Shanghai"))
    days[rng.random(300) < 0.1] = pd.NaT
    reviews = pd.DataFrame({ACCOUNT: rng.integers(-1, 60, 300), "reviewed_at": days})
    accounts = rng.permutation(70)[:50]  # some with no review, some codes no account has
    judged = {a: i for i, a in enumerate(accounts)}
    account = np.array([judged.get(a, -1) for a in reviews[ACCOUNT]])
    want = (reviews.dropna(subset=["reviewed_at"]).sort_values("reviewed_at", kind="stable")
            .drop_duplicates(ACCOUNT, keep="last"))
    row = dict(zip(want[ACCOUNT], want.index, strict=True))
    assert _newest(reviews, account, 50).tolist() == [row.get(a, -1) for a in accounts]
    assert _newest(reviews.iloc[:0], account[:0], 50).tolist() == [-1] * 50
