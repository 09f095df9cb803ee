"""What the incremental gate's region and handover cut hold (scanner/gate.py, ``Region``).

The register (handovers) is cut to the rows naming the region's people as leaver or
receiver: period_close_freeze judges a register row alone and no change touches the
register, and ``Handover.gate_cut`` reads exactly those rows. A named account of no
person (a service account) is in the handover cut as it is in the region. Each test
also requires the gate's document to be the full gate's for its change.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from conftest import policy_pack, write_snapshot_dir
from ledgerguard.app.demo import default_as_of
from ledgerguard.app.demo.org import build_tables
from ledgerguard.scanner.changes import load_changes
from ledgerguard.scanner.gate import Region, run_gate
from ledgerguard.scanner.policy import load_packs
from ledgerguard.scanner.snapshot import Snapshot, read_snapshot, write_snapshot


def _demo(root: Path) -> tuple[Snapshot, pd.Timestamp]:
    as_of = default_as_of()
    write_snapshot(root, build_tables(as_of), timezone="Asia/Shanghai", fmt="csv")
    return read_snapshot(root), pd.Timestamp(as_of.isoformat(), tz="Asia/Shanghai")


def _grant(tmp_path: Path, system: str, account: str, role: str) -> list:
    path = tmp_path / f"{account}.yaml"
    path.write_text(yaml.safe_dump({"changes": [{
        "action": "grant", "system": system, "account_id": account, "role": role, "request_id": "REQ-1",
        "requested_by": "P0007", "approved_by": "P0010"}]}), encoding="utf-8")
    return load_changes([path])


def _same_as_full(snap: Snapshot, changes: list, now: pd.Timestamp) -> None:
    packs = load_packs(None)
    docs = [run_gate(snap, packs, changes, now, fail_on="never", **kw)
            for kw in ({"incremental": False}, {}, {"cache": True}, {"cache": True})]

    def comparable(doc: dict) -> tuple:
        return ([(f["id"], f["baseline"], f["status"], f["evidence"]) for f in doc["findings"]],
                [(p["id"], p["status"]) for p in doc["policies"]])

    assert all(comparable(d) == comparable(docs[0]) for d in docs[1:])


def test_the_region_keeps_the_register_rows_naming_its_people_as_leaver_or_receiver(tmp_path):
    snap, now = _demo(tmp_path / "snap")
    acc, register = snap.table("accounts"), snap.table("handovers")
    # P0178 received two handovers and supervised one: the rows naming them as leaver or receiver
    [account] = acc.loc[(acc["person_id"] == "P0178") & (acc["system"] == "erp"), "account_id"]
    changes = _grant(tmp_path, "erp", account, "gl_reviewer")
    region = Region.of(snap, changes)
    cut = region.restrict(snap).tables["handovers"]
    expected = register[register["from_person_id"].isin(region.people) | register["to_person_id"].isin(region.people)]
    assert sorted(cut["handover_id"]) == sorted(expected["handover_id"]) == ["JJ-002", "JJ-008", "JJ-009"]
    _same_as_full(snap, changes, now)
    # a person no register row names: no row at all (the freeze judges none of the register)
    [account] = acc.loc[(acc["person_id"] == "P0007") & (acc["system"] == "erp"), "account_id"]
    changes = _grant(tmp_path, "erp", account, "gl_clerk")
    assert Region.of(snap, changes).restrict(snap).tables["handovers"].empty
    _same_as_full(snap, changes, now)


def test_a_named_account_of_no_person_is_in_the_handover_cut(tmp_path):
    snap, now = _demo(tmp_path / "snap")
    changes = _grant(tmp_path, "erp", "svc-bank-sync", "gl_reviewer")
    region = Region.of(snap, changes)
    assert region.loose == {("erp", "svc-bank-sync")}
    cut = region.with_people(snap, set(region.people)).tables["accounts"]
    assert ("erp", "svc-bank-sync") in set(zip(cut["system"], cut["account_id"], strict=True))
    _same_as_full(snap, changes, now)


def _required_role_org(root: Path, x_roles: list[str]) -> tuple[Snapshot, list]:
    """PX and PY are 会计, whose template requires erp:gl_clerk, a role no role_permissions row
    names: it exists because PY holds it (outside the region of a change to PX's account)."""
    snap = write_snapshot_dir(root / "snapshot", {
        "identities": [{"person_id": p, "name": p, "position": "会计", "status": "active"} for p in ("PX", "PY")],
        "accounts": [{"system": "erp", "account_id": a, "person_id": p, "enabled": "true"}
                     for a, p in (("x", "PX"), ("y", "PY"))],
        "grants": [{"system": "erp", "account_id": "y", "role": "gl_clerk"}]
        + [{"system": "erp", "account_id": "x", "role": r} for r in x_roles],
        "role_permissions": [{"system": "erp", "role": "viewer", "permission": "report.view"}]},
        timezone="Asia/Shanghai")
    pack = root / "pack.yaml"
    pack.write_text(policy_pack("""
        id: ROLE-T
        kind: role_template
        title: The position's core role
        severity: low
        params:
          systems: [erp]
          templates: {会计: {allowed_roles: ["*"], required_roles: ["erp:gl_clerk"]}}
        """), encoding="utf-8")
    return read_snapshot(snap), load_packs([pack])


def _one_change(root: Path, action: str, role: str) -> list:
    path = root / f"{action}-{role}.yaml"
    path.write_text(yaml.safe_dump({"changes": [{"action": action, "system": "erp", "account_id": "x", "role": role,
                                                 "request_id": "REQ-1", "requested_by": "PY", "approved_by": "PY"}]}),
                    encoding="utf-8")
    return load_changes([path])


def _every_gate(snap: Snapshot, packs: list, changes: list) -> list[tuple]:
    """(introduced, resolved) of the full gate, checked to be every incremental gate's too."""
    now = pd.Timestamp("2026-11-23T10:00:00", tz="Asia/Shanghai")
    docs = [run_gate(snap, packs, changes, now, fail_on="never", **kw)
            for kw in ({"incremental": False}, {}, {"cache": True}, {"cache": True})]
    seen = [([(f["code"], f["subject"]) for f in d["findings"]], [(f["code"], f["subject"]) for f in d["resolved"]])
            for d in docs]
    assert all(s == seen[0] for s in seen[1:]), seen
    return seen[0]


def test_a_required_role_held_only_outside_the_region_still_exists(tmp_path):
    """The region of a change to PX's account holds none of PY's grants: it knows gl_clerk exists
    from ``Snapshot.roles_elsewhere``. Without it, the cached gate reported PX's missing role as
    resolved by an unrelated revoke, and no gate saw a revoke of PX's gl_clerk take it away."""
    snap, packs = _required_role_org(tmp_path / "lacking", ["viewer"])
    assert _every_gate(snap, packs, _one_change(tmp_path, "revoke", "viewer")) == ([], [])
    assert _every_gate(snap, packs, _one_change(tmp_path, "grant", "gl_clerk")) == (
        [], [("required_role_missing", "account:erp:x")])
    snap, packs = _required_role_org(tmp_path / "holding", ["gl_clerk"])
    assert _every_gate(snap, packs, _one_change(tmp_path, "revoke", "gl_clerk")) == (
        [("required_role_missing", "account:erp:x")], [])
