"""Run enabled policies against one context, isolating each policy's failure.

A policy whose table is missing or came from a failed source, or whose evaluation
raises, ends with status ``error`` — never ``pass`` — and the others still run. A policy
without findings that examined nothing (its coverage, kinds/base.py) ends ``inconclusive``.
"""

from __future__ import annotations

import logging
from typing import Any

from .context import Context
from .contract import PolicyOutcome
from .errors import TableUnavailable
from .findings import NO_ROWS, FindingRows, finding_rows
from .kinds.base import KINDS, inconclusive_reason
from .policy import Policy

log = logging.getLogger(__name__)


#: a policy's outcome without the policy, its findings as columns (``judge``): what a worker
#: process sends back (workers.py)
Judgement = tuple[str, FindingRows, str | None, dict[str, Any] | None]


def evaluate_policy(policy: Policy, ctx: Context) -> PolicyOutcome:
    return outcome(policy, judge(policy, ctx))


def outcome(policy: Policy, judged: Judgement) -> PolicyOutcome:
    """The policy's outcome from its ``judge``-ment, the findings as records."""
    status, found, error, coverage = judged
    return PolicyOutcome(policy, status, found.records(policy), error, coverage)


def judge(policy: Policy, ctx: Context) -> Judgement:
    """(status, findings, error, coverage) of ``policy``: ``evaluate_policy``'s answer with the
    findings as ``FindingRows``."""
    if not policy.enabled:
        return "skipped", NO_ROWS, None, None
    kind = KINDS.get(policy.kind)(policy.params)
    try:
        ctx.require(kind.reads())
        found = finding_rows(policy, kind.evaluate(ctx))
    except TableUnavailable as exc:
        return "error", NO_ROWS, str(exc), None
    except Exception as exc:  # one policy's bug must not stop the scan
        log.debug("policy %s failed", policy.id, exc_info=True)
        return "error", NO_ROWS, f"{type(exc).__name__}: {exc}", None
    coverage = kind.coverage
    if coverage is None:
        return "error", NO_ROWS, f"kind {policy.kind} reported no coverage (a bug)", None
    why = None if found.ids else inconclusive_reason(coverage)
    if why:
        return "inconclusive", NO_ROWS, why, coverage
    return "fail" if found.ids else "pass", found, None, coverage


def evaluate(policies: list[Policy], ctx: Context, jobs: int | None = 1) -> list[PolicyOutcome]:
    """Each policy's outcome, in order; ``jobs`` > 1 evaluates in that many forked worker
    processes (see workers.py), None chooses by the snapshot's size (``--jobs auto``)."""
    from .workers import auto_jobs, can_fork, evaluate_in_workers

    jobs = auto_jobs(ctx) if jobs is None else jobs
    if jobs > 1 and len(policies) > 1 and can_fork():
        return evaluate_in_workers(policies, ctx, jobs)
    return [evaluate_policy(p, ctx) for p in policies]
