"""Run enabled policies against one context, isolating each policy's failure.

A policy whose table is missing or came from a failed source, or whose evaluation
raises, ends with status ``error`` — never ``pass`` — and the others still run. A policy
without findings that examined nothing (its coverage, kinds/base.py) ends ``inconclusive``.
"""

from __future__ import annotations

import logging

from .context import Context
from .contract import PolicyOutcome
from .errors import TableUnavailable
from .findings import finding_records
from .kinds.base import KINDS, inconclusive_reason
from .policy import Policy

log = logging.getLogger(__name__)


def evaluate_policy(policy: Policy, ctx: Context) -> PolicyOutcome:
    if not policy.enabled:
        return PolicyOutcome(policy, "skipped", [])
    kind = KINDS.get(policy.kind)(policy.params)
    try:
        ctx.require(kind.reads())
        found = finding_records(policy, kind.evaluate(ctx))
    except TableUnavailable as exc:
        return PolicyOutcome(policy, "error", [], str(exc))
    except Exception as exc:  # one policy's bug must not stop the scan
        log.debug("policy %s failed", policy.id, exc_info=True)
        return PolicyOutcome(policy, "error", [], f"{type(exc).__name__}: {exc}")
    coverage = kind.coverage
    if coverage is None:
        return PolicyOutcome(policy, "error", [], f"kind {policy.kind} reported no coverage (a bug)")
    why = None if found else inconclusive_reason(coverage)
    if why:
        return PolicyOutcome(policy, "inconclusive", [], why, coverage)
    return PolicyOutcome(policy, "fail" if found else "pass", found, None, coverage)


def evaluate(policies: list[Policy], ctx: Context, jobs: int | None = 1) -> list[PolicyOutcome]:
    """Each policy's outcome, in order; ``jobs`` > 1 evaluates in that many forked worker
    processes (see workers.py), None chooses by the snapshot's size (``--jobs auto``)."""
    from .workers import auto_jobs, can_fork, evaluate_in_workers

    jobs = auto_jobs(ctx) if jobs is None else jobs
    if jobs > 1 and len(policies) > 1 and can_fork():
        return evaluate_in_workers(policies, ctx, jobs)
    return [evaluate_policy(p, ctx) for p in policies]
