"""orphan_account through the real CLI: unlinked accounts and service accounts' owners."""

from __future__ import annotations

from kindtest import hits, scan

from conftest import policy_pack

POLICY = """
id: ORP-T
kind: orphan_account
title: {en: Every account has a known owner, zh: 账号须对应在册人员}
severity: high
"""
IDENTITIES = [
    {"person_id": "P1", "name": "张三", "status": "active"},
    {"person_id": "P2", "name": "李四", "status": "departed", "departure_date": "2026-10-31"},
]


def _acc(account_id, person_id="", account_type="", owner="", enabled="true"):
    return {"system": "corp-ad", "account_id": account_id, "person_id": person_id, "enabled": enabled,
            "account_type": account_type, "owner_person_id": owner}


ACCOUNTS = [
    _acc("zhangsan", "P1"),                              # fine
    _acc("temp01"),                                      # no person
    _acc("ghost", "P999"),                               # unknown person
    _acc("old", "", enabled="false"),                    # disabled orphan: judged by default
    _acc("svc-backup", account_type="service", owner="P1"),           # fine
    _acc("svc-etl", account_type="service"),                          # no owner
    _acc("svc-ftp", account_type="service", owner="P404"),            # unknown owner
    _acc("svc-bank", account_type="service", owner="P2"),             # owner left
    _acc("shared-ops", account_type="shared", owner="P1"),            # shared is not allowed: no person
]


def test_every_finding_code(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({"identities": IDENTITIES, "accounts": ACCOUNTS})
    code, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(POLICY)), tmp_path / "out")
    assert code == 1
    assert hits(doc) == {
        ("no_person", "account:corp-ad:temp01"),
        ("unknown_person", "account:corp-ad:ghost"),
        ("no_person", "account:corp-ad:old"),
        ("no_owner", "account:corp-ad:svc-etl"),
        ("unknown_owner", "account:corp-ad:svc-ftp"),
        ("owner_departed", "account:corp-ad:svc-bank"),
        ("no_person", "account:corp-ad:shared-ops"),
    }
    f = {f["subject"]: f for f in doc["findings"]}
    assert f["account:corp-ad:svc-bank"]["evidence"]["owner_status"] == "departed"
    assert f["account:corp-ad:ghost"]["person_id"] == "P999"


def test_allow_types_and_enabled_only(cli, make_snapshot, write_yaml, tmp_path):
    snap = make_snapshot({"identities": IDENTITIES, "accounts": ACCOUNTS})
    policy = POLICY + "params: {allow_types: [service, shared], enabled_only: true, systems: ['corp-*']}\n"
    _, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(policy)), tmp_path / "out")
    assert ("no_person", "account:corp-ad:old") not in hits(doc)
    assert ("no_person", "account:corp-ad:shared-ops") not in hits(doc)
    assert ("no_person", "account:corp-ad:temp01") in hits(doc)


def test_builtin_accounts_are_not_orphans(cli, make_snapshot, write_yaml, tmp_path):
    """AD's Administrator / Guest / krbtgt belong to no person: account_type builtin."""
    accounts = [*ACCOUNTS, _acc("krbtgt", account_type="builtin", enabled="false"),
                _acc("Guest", account_type="builtin")]
    snap = make_snapshot({"identities": IDENTITIES, "accounts": accounts})
    _, doc = scan(cli, snap, write_yaml("p.yaml", policy_pack(POLICY)), tmp_path / "out")
    assert {s for _, s in hits(doc)} & {"account:corp-ad:krbtgt", "account:corp-ad:Guest"} == set()
    assert ("no_person", "account:corp-ad:temp01") in hits(doc)
