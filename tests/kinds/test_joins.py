"""Each kind's ``joins`` name every join its evaluation leaves in the context: a worker drops a
join once no later kind group declares it (scanner/workers.py), so an undeclared join would be
built again by a later group (time lost at size L, never a different finding)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest

from ledgerguard.app.demo import build_tables
from ledgerguard.scanner.context import Context
from ledgerguard.scanner.engine import evaluate_policy
from ledgerguard.scanner.kinds.base import KINDS
from ledgerguard.scanner.policy import Policy, load_packs
from ledgerguard.scanner.snapshot import Snapshot, read_snapshot, write_snapshot

AS_OF = "2026-11-23"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    root = tmp_path_factory.mktemp("joins")
    return read_snapshot(write_snapshot(root / "snap", build_tables(dt.date.fromisoformat(AS_OF)),
                                        timezone="Asia/Shanghai", taken_at=f"{AS_OF}T08:00:00+08:00", fmt="parquet"))


def _policies() -> list[Policy]:
    """The built-in pack, plus table_rule over each joined table (its joins depend on its params)."""
    pack = [p for pk in load_packs() for p in pk.policies]
    rule = next(p for p in pack if p.kind == "table_rule")
    joined = [dataclasses.replace(rule, id=f"JOIN-{table}", params={
        "table": table, "where": 'identity.status == "departed"', "message": "{identity.name}"})
        for table in ("accounts", "grants")]
    return [*pack, *joined]


@pytest.mark.parametrize("policy", _policies(), ids=lambda p: p.id)
def test_a_policy_leaves_only_the_joins_its_kind_declares(demo: Snapshot, policy: Policy):
    ctx = Context(demo, pd.Timestamp(AS_OF, tz=demo.timezone))
    outcome = evaluate_policy(policy, ctx)
    assert outcome.status in ("pass", "fail"), outcome.error
    declared = KINDS.get(policy.kind)(policy.params).joined()
    assert ctx.caches() <= declared, f"{policy.kind}: add {sorted(ctx.caches() - declared)} to its joins"


def test_every_kind_and_every_declared_join_is_exercised(demo: Snapshot):
    """The pack above runs every kind, and each join a kind declares is one some policy of it
    left: a declaration naming a join its kind no longer reads would keep it in memory."""
    left: dict[str, set[str]] = {}
    declared: dict[str, set[str]] = {}
    for policy in _policies():
        ctx = Context(demo, pd.Timestamp(AS_OF, tz=demo.timezone))
        evaluate_policy(policy, ctx)
        left.setdefault(policy.kind, set()).update(ctx.caches())
        declared.setdefault(policy.kind, set()).update(KINDS.get(policy.kind)(policy.params).joined())
    assert set(left) == set(KINDS.names())
    assert left == declared
