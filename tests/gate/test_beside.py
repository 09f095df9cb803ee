"""Policies a change file cannot touch are not evaluated by the incremental gate (``gate.beside``).

A kind that sees roles only through some permissions (``PolicyKind.permission_globs``:
privileged_mfa, segregation_of_duties, archive_access) keeps every finding when the changes
are grants and revokes of roles that give none of those permissions and deny nothing. Each
case checks the gate against the full gate, and the case that must be evaluated names the
finding the change alters, so that skipping it fails here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from conftest import policy_pack, write_snapshot_dir
from ledgerguard.scanner.changes import load_changes
from ledgerguard.scanner.gate import run_gate
from ledgerguard.scanner.policy import load_packs
from ledgerguard.scanner.snapshot import read_snapshot

NOW = pd.Timestamp("2026-11-23T10:00:00", tz="Asia/Shanghai")
MFA = """
id: MFA-T
kind: privileged_mfa
title: Administrators sign in with a second factor
severity: high
params: {privileged_permissions: ["sys.*"]}
"""
ROLES = {"admin": [("sys.user.admin", "allow")], "viewer": [("report.view", "allow")],
         "restricted": [("report.view", "allow"), ("*.admin", "deny")], "operator": [("sys.job.run", "allow")]}


def _org(root: Path, grants: list[dict], policy: str = MFA) -> tuple[Path, Path]:
    """A (admin, no MFA) and B (no role); each role of ``ROLES`` in role_permissions."""
    snap = write_snapshot_dir(root / "snapshot", {
        "identities": [{"person_id": p, "name": f"N{p}", "position": "会计", "status": "active"} for p in ("PA", "PB")],
        "accounts": [{"system": "erp", "account_id": a, "person_id": p, "enabled": "true", "mfa_enabled": "false"}
                     for a, p in (("a", "PA"), ("b", "PB"))],
        "grants": grants,
        "role_permissions": [{"system": "erp", "role": r, "permission": p, "effect": e}
                             for r, rows in ROLES.items() for p, e in rows]}, timezone="Asia/Shanghai")
    pack = root / "pack.yaml"
    pack.write_text(policy_pack(policy), encoding="utf-8")
    return snap, pack


def _gate(tmp_path: Path, snap: Path, pack: Path, action: str, account: str, role: str) -> list[dict]:
    """The cached incremental gate's documents (the first writes the base, the second reads it),
    after checking that both and the uncached one give the full gate's findings and statuses."""
    path = tmp_path / f"{action}-{account}-{role}.yaml"
    path.write_text(yaml.safe_dump({"changes": [{
        "action": action, "system": "erp", "account_id": account, "role": role, "request_id": "REQ-1",
        "requested_by": "PA", "approved_by": "PB"}]}), encoding="utf-8")
    changes, packs, snapshot = load_changes([path]), load_packs([pack]), read_snapshot(snap)
    docs = [run_gate(snapshot, packs, changes, NOW, fail_on="never", **kw)
            for kw in ({"incremental": False}, {}, {"cache": True}, {"cache": True})]

    def comparable(doc: dict) -> tuple:
        return ([(f["id"], f["evidence"]) for f in doc["findings"]], [f["id"] for f in doc["resolved"]],
                [(p["id"], p["status"]) for p in doc["policies"]])

    assert all(comparable(d) == comparable(docs[0]) for d in docs[1:])
    return docs[2:]


def _evaluated(doc: dict) -> bool:
    [policy] = doc["policies"]
    return not policy["coverage"]["unit"].endswith("the change alters none of their findings")


def test_a_role_giving_no_privileged_permission_is_not_evaluated_again(tmp_path):
    snap, pack = _org(tmp_path, [{"system": "erp", "account_id": "a", "role": "admin"}])
    first, second = _gate(tmp_path, snap, pack, "grant", "b", "viewer")
    assert _evaluated(first)  # no base yet: the first gate computes it
    assert not _evaluated(second) and second["policies"][0]["status"] == "pass"


def test_a_role_denying_a_privileged_permission_is_evaluated(tmp_path):
    """restricted gives report.view only, but denies *.admin (a glob no privileged one matches as
    text): granted to A, it takes sys.user.admin."""
    snap, pack = _org(tmp_path, [{"system": "erp", "account_id": "a", "role": "admin"}])
    for doc in _gate(tmp_path, snap, pack, "grant", "a", "restricted"):
        assert _evaluated(doc)
        assert [f["code"] for f in doc["resolved"]] == ["privileged_without_mfa"]


def test_a_role_giving_a_privileged_permission_is_evaluated(tmp_path):
    snap, pack = _org(tmp_path, [{"system": "erp", "account_id": "a", "role": "admin"}])
    for doc in _gate(tmp_path, snap, pack, "grant", "b", "operator"):
        assert _evaluated(doc)
        assert [(f["code"], f["subject"]) for f in doc["findings"]] == [("privileged_without_mfa", "account:erp:b")]


def test_an_inconclusive_policy_is_evaluated(tmp_path):
    """Nobody holds a permission (A's legacy role is in no role_permissions row) and no role gives
    bank.*: the policy examined nothing and matched nothing (inconclusive). A grant of viewer gives
    it its first account to examine, and it stays inconclusive (its rule still matches nothing),
    as the full gate says."""
    policy = MFA.replace('["sys.*"]', '["bank.*"]')
    snap, pack = _org(tmp_path, [{"system": "erp", "account_id": "a", "role": "legacy"}], policy)
    for doc in _gate(tmp_path, snap, pack, "grant", "b", "viewer"):
        assert _evaluated(doc) and doc["policies"][0]["status"] == "inconclusive"
