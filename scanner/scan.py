"""The scan pipeline as a library call: snapshot + packs + as-of → findings document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .baseline import apply_baseline
from .context import Context
from .contract import PolicyOutcome
from .engine import evaluate
from .errors import InputError, Problem
from .findings import assemble
from .lazy import pandas as pd
from .policy import Policy, PolicyPack, all_policies
from .snapshot import Snapshot
from .timeutil import clock, iso, parse_instant
from .waivers import Waiver, apply_waivers


def resolve_now(as_of: str | None, snapshot: Snapshot) -> pd.Timestamp:
    """SPEC §5.1: --as-of (00:00 local for a date), else the manifest's taken_at, else the clock."""
    tz = snapshot.timezone
    if as_of:
        try:
            return parse_instant(as_of, tz)
        except ValueError:
            raise InputError(Problem(
                f"--as-of {as_of!r} is not a date (YYYY-MM-DD) or ISO 8601 timestamp")) from None
    if snapshot.taken_at:
        try:
            return parse_instant(snapshot.taken_at, tz)
        except ValueError:
            raise InputError(Problem(
                f"taken_at {snapshot.taken_at!r} is not an ISO 8601 timestamp",
                str(snapshot.path / "manifest.json") if snapshot.path else None)) from None
    return pd.Timestamp.now(tz=tz)


def run_scan(
    snapshot: Snapshot,
    packs: list[PolicyPack],
    now: pd.Timestamp,
    *,
    fail_on: str = "high",
    command: str = "scan",
    waivers: list[Waiver] | None = None,
    baseline: dict[str, Any] | None = None,
    jobs: int | None = 1,
    new_only: bool = False,
    previous: Snapshot | None = None,
    provenance: dict[str, Any] | None = None,
    evaluator: Callable[[list[Policy], Context], list[PolicyOutcome]] | None = None,
) -> dict[str, Any]:
    """Evaluate, then waive (SPEC §6), then diff against the baseline (§7), then assemble.

    ``jobs``: worker processes for the evaluation (None: by snapshot size; see workers.py);
    ``new_only``: only findings new since the baseline fail the verdict (--fail-on-new-only);
    ``previous``: an earlier snapshot for the kinds that compare two states
    (``--previous-snapshot``); ``evaluator``: another engine instead
    (``dask_engine.dask_evaluator``)."""
    started = clock()
    ctx = Context(snapshot, now, previous)
    outcomes = (evaluator(all_policies(packs), ctx) if evaluator is not None
                else evaluate(all_policies(packs), ctx, jobs))
    findings = [f for o in outcomes for f in o.findings]
    waiver_records = apply_waivers(findings, waivers or [], ctx.today.date())
    resolved = None
    if baseline is not None:
        unevaluated = {o.policy.id for o in outcomes if o.status in ("error", "inconclusive", "skipped")}
        resolved = apply_baseline(findings, baseline, unevaluated)
    return assemble(
        outcomes=outcomes, findings=findings, packs=packs, snapshot=snapshot,
        as_of=iso(ctx.now), started_at=started, finished_at=clock(),
        fail_on=fail_on, new_only=new_only, command=command, waivers=waiver_records, resolved=resolved,
        provenance=provenance,
    )
