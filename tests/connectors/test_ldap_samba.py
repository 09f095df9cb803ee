"""The ldap source against a real Samba 4 AD DC (tests/connectors/sambadc.py).

The AD source is the one of examples/sources.yaml, unchanged but for what names the
deployment (URL, CA file, bind DN, base DN): ``base_dn`` at the domain root, so the
search meets Samba's continuation reference to the Configuration partition. What is
expected comes from Samba itself (``samba-tool user list`` / ``group listmembers``).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import yaml
from ldap3 import BASE
from sambadc import BASE as BASE_DN
from sambadc import BULK, GROUPS, READER_DN, READER_PASSWORD, SambaDC

from conftest import run_findings
from ledgerguard.connectors.base import CONNECTORS
from ledgerguard.scanner.snapshot import read_snapshot

EXAMPLE = Path(__file__).parents[2] / "examples" / "sources.yaml"
PACK = Path(__file__).parents[2] / "policies" / "cn_finance"
FIN_GROUPS = ("FIN-GL-Posting", "FIN-Approvers", "FIN-Payments", "FIN-Audit", "FIN-Bulk")
# dns-dc1: the DNS-update account Samba creates itself (isCriticalSystemObject TRUE)
BUILTIN = {"Administrator", "Guest", "krbtgt", "dns-dc1"}


def example_ad_source(dc: SambaDC) -> dict:
    """The documented AD source, pointed at the test DC."""
    (source,) = [s for s in yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["sources"]
                 if s["kind"] == "ldap"]
    assert source["base_dn"] == "DC=corp,DC=example" and "user_base_dn" not in source
    return {**source, "url": [dc.url], "ca_file": str(dc.ca_file), "bind_dn": READER_DN,
            "base_dn": BASE_DN}


def write_sources(folder: Path, dc: SambaDC) -> Path:
    people = [("E001", "active", ""), ("E002", "departed", "2026-10-31"), ("E003", "active", ""),
              ("E004", "active", ""), ("E005", "departed", "2025-06-30"), ("E006", "active", ""),
              ("E007", "active", ""), *((f"B{i:04d}", "active", "") for i in range(BULK))]
    with open(folder / "hr.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["person_id", "name", "status", "departure_date"])
        w.writerows((pid, pid, status, day) for pid, status, day in people)
    hr = {"name": "hr", "kind": "file", "path": "hr.csv", "table": "identities"}
    path = folder / "sources.yaml"
    path.write_text(yaml.safe_dump({"timezone": "Asia/Shanghai",
                                    "sources": [hr, example_ad_source(dc)]},
                                   allow_unicode=True), encoding="utf-8")
    return path


def samba_closure(dc: SambaDC, group: str) -> set[str]:
    """Every user in ``group``, directly, as primary group or through nested groups,
    by Samba's own ``group listmembers`` (which includes primaryGroupID members)."""
    users, pending, seen = set(), [group], set()
    while pending:
        g = pending.pop()
        seen.add(g)
        for name in dc.samba_tool("group", "listmembers", g):
            if name in FIN_GROUPS:
                if name not in seen:
                    pending.append(name)
            else:
                users.add(name)
    return users


def test_documented_ad_example_collects_samba(samba_dc, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("LEDGERGUARD_AD_PASSWORD", READER_PASSWORD)
    src = write_sources(tmp_path, samba_dc)
    result = cli("collect", "--sources", src, "--out", tmp_path / "snap")
    assert result.exit_code == 0, result.output  # was 3: referral to CN=Configuration
    snap = read_snapshot(tmp_path / "snap")
    acc = snap.tables["accounts"].set_index("account_id")
    grants = snap.tables["grants"]

    assert set(acc.index) == set(samba_dc.samba_tool("user", "list"))
    assert len(acc) > 1000
    assert set(acc.index[acc["account_type"] == "builtin"]) == BUILTIN
    assert acc.loc["carol", "enabled"] is False or not acc.loc["carol", "enabled"]
    assert acc.loc["dave", "locked"] and acc.loc["dave", "enabled"]
    assert str(acc.loc["erin", "expires_at"]) == "2025-07-01 00:00:00+08:00"
    assert acc.loc["zhangwei", "display_name"] == "张伟"
    assert acc.loc["lilei", "display_name"] == "Li, Lei"
    assert acc.loc["alice", "person_id"] == "E001"
    for group in (*FIN_GROUPS, "Domain Users"):
        held = set(grants.loc[grants["role"] == group, "account_id"])
        assert held == samba_closure(samba_dc, group), group
    # alice's only tie to FIN-GL-Posting is her primaryGroupID (was: no grant)
    assert samba_dc.samba_tool("group", "listmembers", "FIN-GL-Posting") == ["alice"]
    assert "alice" in set(grants.loc[grants["role"] == "FIN-GL-Posting", "account_id"])

    out = tmp_path / "out"
    # the built-in pack's account policies; REV-001 and MFA-001 need reviews and
    # role_permissions, which a directory does not hold: they end in error (exit 3)
    scan = cli("scan", "--snapshot", tmp_path / "snap", "--as-of", "2027-06-01", "--out", out,
               "--format", "json", "--policies", PACK / "access.yaml",
               "--policies", PACK / "departure.yaml")
    assert scan.exit_code == 3, scan.output
    doc = run_findings(out)
    assert {p["id"]: p["status"] for p in doc["policies"]} == {
        "REV-001": "error", "MFA-001": "error", "DOR-001": "fail", "ORP-001": "fail",
        "GST-001": "fail", "ACC-001": "fail"}
    found = {(f["policy_id"], f["code"], f["subject"]) for f in doc["findings"]}
    assert ("ACC-001", "enabled_after_departure", "account:corp-ad:bob") in found
    assert ("GST-001", "row_matched", "account:corp-ad:Guest") in found
    orphans = {s for p, _, s in found if p == "ORP-001"}
    assert not orphans & {f"account:corp-ad:{a}" for a in BUILTIN}
    assert "account:corp-ad:svc-ledgerguard" in orphans  # a real orphan is still one
    dormant = {s for p, _, s in found if p == "DOR-001"}
    assert "account:corp-ad:alice" in dormant
    assert "account:corp-ad:erin" not in dormant  # expired in 2025: not enabled (§5.1)
    # erin left and her account expired: no longer "enabled after departure" (was critical)
    assert ("ACC-001", "enabled_after_departure", "account:corp-ad:erin") not in found
    assert ("ACC-001", "grants_on_disabled_account", "account:corp-ad:erin") in found


def test_small_pages_and_ranged_members_from_samba(samba_dc, monkeypatch, caplog):
    """Samba honours a client page size (it ignores MaxPageSize) and answers ranged
    ``member;range=lo-hi`` reads, ending in ``-*``, though a plain ``member`` read gets
    every value at once. So the range loop starts from a chunk Samba returned for
    ``member;range=0-99`` and every follow-up read is answered by Samba."""
    monkeypatch.setenv("LEDGERGUARD_AD_PASSWORD", READER_PASSWORD)
    settings = {k: v for k, v in example_ad_source(samba_dc).items()
                if k not in ("name", "kind")}
    connector = CONNECTORS.get("ldap")("corp-ad", {**settings, "page_size": 100,
                                                   "groups": ["FIN-Bulk"]}, Path("."), "UTC")
    with caplog.at_level(logging.DEBUG, "ledgerguard.connectors.ldap"):
        tables = connector.collect()
    pages = [r.getMessage() for r in caplog.records if " users page " in r.getMessage()]
    assert len(pages) == 12
    assert len(tables["accounts"]) == len(samba_dc.samba_tool("user", "list")) > BULK
    assert len(tables["grants"]) == BULK

    conn, _ = connector._connect(READER_PASSWORD)
    dn = f"CN=FIN-Bulk,{GROUPS}"
    conn.search(dn, "(objectClass=*)", BASE, attributes=["member;range=0-99"])
    first = {k.lower(): v for k, v in conn.response[0]["attributes"].items()}
    assert list(first) == ["member;range=0-99"] and len(first["member;range=0-99"]) == 100
    members = connector._members(conn, dn, first)
    conn.unbind()
    assert len(members) == len(set(members)) == BULK
    assert set(members) == {m for m in samba_dc.samba_tool("group", "listmembers", "FIN-Bulk",
                                                           "--full-dn")}
