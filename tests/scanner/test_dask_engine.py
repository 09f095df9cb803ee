"""The Dask engine gives exactly the in-process findings, statuses and examined counts,
kind by kind, on a 2-worker local cluster (processes, loopback): person-partitioned kinds
(SoD pooled across systems for one person, archive_access included), the kinds cut by
archive, by batch and by account set, and the unpartitioned rest."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.generate import SIZES, TZ, generate
from ledgerguard.app.demo import default_as_of
from ledgerguard.app.demo.org import build_tables
from ledgerguard.scanner.dask_engine import (
    ROWS_PER_PARTITION,
    dask_evaluator,
    linked_parts,
    partition_count,
    partitioning,
)
from ledgerguard.scanner.policy import load_packs
from ledgerguard.scanner.scan import run_scan
from ledgerguard.scanner.snapshot import TABLES, read_snapshot, write_snapshot


@pytest.fixture(scope="module")
def cluster():
    import distributed  # the test extra installs it: missing is a failure, not a skip

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as c:
        yield c.scheduler_address


def _snapshots(root):
    as_of = default_as_of()
    write_snapshot(root / "demo", build_tables(as_of), timezone="Asia/Shanghai", fmt="parquet")
    yield read_snapshot(root / "demo"), pd.Timestamp(as_of.isoformat(), tz="Asia/Shanghai")
    tables = generate(SIZES["S"], seed=11)
    for name, df in tables.items():
        for col in TABLES[name]:
            if col.type == "time" and col.name in df:
                df[col.name] = df[col.name].astype(f"datetime64[us, {TZ}]")
    write_snapshot(root / "gen", tables, timezone=TZ, fmt="parquet")
    yield read_snapshot(root / "gen"), pd.Timestamp("2026-11-23", tz=TZ)


def _by_policy(doc):
    """Per policy: status, error, what it examined (count and unit), its coverage warnings and
    findings. (A ``matched`` count is the largest partition's on Dask: only whether it is zero,
    the warnings, must agree.)"""
    return {p["id"]: (p["status"], p["error"], p["coverage"] and (p["coverage"]["examined"], p["coverage"]["unit"]),
                      p["warnings"], sorted((f for f in doc["findings"] if f["policy_id"] == p["id"]),
                                            key=lambda f: f["id"]))
            for p in doc["policies"]}


def test_every_kind_gives_the_in_process_findings_on_dask(cluster, tmp_path):
    packs = load_packs(None)
    kinds, pooled = set(), 0
    for snapshot, now in _snapshots(tmp_path):
        local = run_scan(snapshot, packs, now, jobs=1)
        on_dask = run_scan(snapshot, packs, now, evaluator=dask_evaluator(cluster, partitions=3,
                                                                          workdir=str(tmp_path)))
        assert _by_policy(on_dask) == _by_policy(local)
        kinds |= {p["kind"] for p in local["policies"] if p["status"] == "fail"}
        pooled += sum(1 for f in local["findings"] if f["kind"] == "segregation_of_duties"
                      and len({a.split(":")[1] for a in f["evidence"]["accounts"]}) > 1)
    # every way of partitioning had findings to get right, SoD across systems included
    assert {partitioning(k) for k in kinds} == {"person", "archive", "batch", "account_set",
                                                "linked:fonds,account_set", "whole"}
    assert kinds >= {"archive_content", "archive_access", "archive_borrowing", "handover_batches",
                     "voucher_continuity", "archive_completeness"}, kinds
    assert pooled > 0


def test_the_default_partition_count_follows_the_data():
    # two per worker while the largest cut table is small; then one per ROWS_PER_PARTITION rows
    assert partition_count(1000, 2) == 4
    assert partition_count(0, 0) == 2
    assert partition_count(10 * ROWS_PER_PARTITION, 2) == 10
    assert partition_count(10 * ROWS_PER_PARTITION + 1, 2) == 11
    assert partition_count(10 * ROWS_PER_PARTITION, 8) == 16


def test_archive_completeness_keeps_each_group_and_each_archive_id_whole():
    # groups (fonds × account set) f/0 … f/9; archive id X is in groups 1 and 2, id Y in 2 and 7,
    # so 1, 2 and 7 must share a partition; every group is whole
    groups = [f"{g}" for g in range(10) for _ in range(5)]
    ids = [f"{g}-{i}" for g in range(10) for i in range(5)]
    ids[5], ids[10], ids[11], ids[35] = "X", "X", "Y", "Y"
    archives = pd.DataFrame({"fonds": "f", "account_set": groups, "archive_id": ids})
    parts = linked_parts(archives, ["fonds", "account_set"], 7)
    of = pd.Series(parts).groupby(archives["account_set"]).agg(set)
    assert all(len(p) == 1 for p in of)
    assert of["1"] == of["2"] == of["7"]
    assert len(set(parts)) > 1  # the unlinked groups still spread
