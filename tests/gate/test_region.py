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
