"""Policies evaluated in forked worker processes, for large snapshots.

Evaluating a policy is pandas work that holds the GIL, so threads gain nothing (measured).
Forked workers inherit the loaded snapshot copy-on-write — its Arrow buffers are never
written — so no table is copied or pickled; only each policy's findings travel back.

Policies of one kind go to the same worker, in pack order, so the joins they share through
``Context.shared`` are built once; the groups go out heaviest first (by the rows of the
tables the kind reads) to keep the cores evenly busy. After each group a worker drops the
joins no later group reads (``later_joins``): kept to the end, both workers' joins made the
scan's memory peak at size L. A worker that dies (killed, out of memory) takes its pool down;
the policies it had not finished are evaluated again, one group per fresh worker, and a group
that kills its worker again ends in status ``error`` — never ``pass``.

The parent's objects are frozen (``gc.freeze``) while the workers run, as the ``gc`` module
advises for fork without exec: a collection in a worker would otherwise visit every object
inherited from the parent, writing to (so copying) each page holding one, and the
collections in the parent, set off by unpickling the findings coming back, would visit them
all too. At bench size M the collections' CPU time (their threads' CPU clock, main and this
code alternated): in the parent 0.071–0.089 → 0.014–0.017 s, in the busier worker
0.07–0.083 → 0.014–0.018 s.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from .context import Context
from .contract import PolicyOutcome
from .engine import Judgement, judge, outcome
from .kinds.base import KINDS
from .policy import Policy

#: below this many snapshot rows a scan takes well under a second and forking costs more than it saves
MIN_ROWS = 250_000
#: each worker holds its own joins (~the snapshot's size again at L); more than this many
#: has not been measured (the development machine has 2 cores)
MAX_AUTO_JOBS = 4

_job: tuple[list[Policy], Context] | None = None  # what forked workers inherit
#: the signals that stop a scan (the parent's to handle: ``_die_with_parent``)
_STOPPING = {signal.SIGINT, signal.SIGTERM}


def can_fork() -> bool:
    return sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def auto_jobs(ctx: Context) -> int:
    """Worker processes for ``--jobs auto``: one per usable core (at most MAX_AUTO_JOBS) for a
    large snapshot, else 1 (evaluation in this process)."""
    rows = sum(len(t) for t in ctx.snapshot.tables.values())
    return min(usable_cores(), MAX_AUTO_JOBS) if rows >= MIN_ROWS and can_fork() else 1


def kind_groups(policies: list[Policy], ctx: Context) -> list[list[int]]:
    """Indexes of ``policies`` grouped by kind, heaviest group (rows its tables hold × policies) first."""
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(policies):
        groups.setdefault(p.kind, []).append(i)

    def weight(kind: str) -> int:
        tables = ctx.snapshot.tables
        read = {t for i in groups[kind] for t in KINDS.get(kind)(policies[i].params).reads()}
        return len(groups[kind]) * sum(len(tables.get(t, ())) for t in read)

    return [groups[k] for k in sorted(groups, key=weight, reverse=True)]


def _die_with_parent(parent: int) -> None:
    """Worker initializer: the kernel kills this worker when the scan process dies, however
    it dies (SIGKILL included); Ctrl-C and SIGTERM are the parent's to handle, which ends
    the pool itself. Without this, killed scans left their workers running for hours."""
    import ctypes

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def later_joins(groups: list[list[int]], policies: list[Policy]) -> list[set[str]]:
    """For each group, the joins (``PolicyKind.joined``) some group after it reads: what a worker
    keeps after that group (``_run_group``). Any group may go to any worker, but they go out in
    this order, so a join no later group reads is never asked for again in any worker."""
    later: list[set[str]] = [set()]
    for group in reversed(groups[1:]):
        later.append(later[-1].union(*(KINDS.get(policies[i].kind)(policies[i].params).joined() for i in group)))
    return later[::-1]


def _run_group(indexes: list[int], keep: set[str]) -> list[tuple[int, Judgement]]:
    """(index, judgement) of each policy: the Policy objects stay in the parent, which builds
    the finding records from the columns sent (``FindingRows``). Then the context's joins but
    ``keep`` are dropped: a worker kept them all to the end of the scan, where both workers held
    theirs at once (at size L ~1.2 GB each)."""

    assert _job is not None, "a worker runs only in a process forked by evaluate_in_workers"
    policies, ctx = _job
    out = [(i, judge(policies[i], ctx)) for i in indexes]
    ctx.drop_caches(keep)
    return out


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM held back while the pool starts, and delivered right after. The pool
    forks its workers on the first ``submit`` and only then starts its manager thread; a
    signal in between raised there and left a thread that shutting the pool down cannot join
    ("internal error: cannot join thread before it is started" instead of a clean stop).
    Held by a Python handler, not a signal mask: Python runs every handler in the main thread,
    while the kernel gives a signal sent to the process to any thread not masking it (Arrow's
    among them)."""
    if threading.current_thread() is not threading.main_thread() or None in map(signal.getsignal, _STOPPING):
        yield  # handlers run in the main thread only; one set outside Python could not be put back
        return
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in _STOPPING}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if caught:
            signal.raise_signal(caught[0])  # to the handler it was meant for, now that the pool can stop


def _run_groups(groups: list[list[int]], jobs: int, policies: list[Policy],
                results: dict[int, PolicyOutcome]) -> list[list[int]]:
    """Evaluate ``groups`` in a pool of ``jobs`` workers into ``results``; the groups lost to a
    dead worker are returned (a dead worker breaks the whole pool, so neighbours' may be too)."""
    lost = []
    with ProcessPoolExecutor(min(jobs, len(groups)), mp_context=multiprocessing.get_context("fork"),
                             initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
        _widen_results_pipe(pool)
        try:
            with _signals_held():
                futures: dict[Future, list[int]] = {
                    pool.submit(_run_group, g, keep): g for g, keep in zip(groups, later_joins(groups, policies),
                                                                            strict=True)}
            # as they come, so the records of all but the last group are built while workers still run
            for future in as_completed(futures):
                try:
                    results.update((i, outcome(policies[i], judged)) for i, judged in future.result())
                except BrokenProcessPool:
                    lost.append(futures[future])
        except BaseException:  # Ctrl-C, SIGTERM: stop the workers now instead of waiting for them
            for process in list(pool._processes.values()):
                process.kill()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return lost


def _widen_results_pipe(pool: ProcessPoolExecutor) -> None:
    """The pipe the workers send their findings back through, widened from 64 KiB to the most
    the system allows (``/proc/sys/fs/pipe-max-size``, 1 MiB by default). A worker sending a
    result blocks until the parent has read all but a pipe's worth of it, and the parent's
    reading thread is woken once per pipe-full: for retention_period's ~5 MB at bench size M
    ~80 times, each waiting for a core that the two workers keep busy, while the worker
    that sent it sat idle. Where the pipe cannot be widened (not Linux) it stays as it is."""
    try:
        import fcntl

        with open("/proc/sys/fs/pipe-max-size", encoding="ascii") as fh:
            size = int(fh.read())
        fcntl.fcntl(pool._result_queue._writer.fileno(), fcntl.F_SETPIPE_SZ, size)
    except (AttributeError, OSError, ValueError):
        pass


def evaluate_in_workers(policies: list[Policy], ctx: Context, jobs: int) -> list[PolicyOutcome]:
    """The outcome of each policy, in the order given, from ``jobs`` forked workers."""
    global _job
    results: dict[int, PolicyOutcome] = {}
    _job = (policies, ctx)
    thaw = not gc.get_freeze_count()  # a caller that froze objects itself keeps them frozen
    gc.freeze()  # see the module's docstring
    try:
        lost = _run_groups(kind_groups(policies, ctx), jobs, policies, results)
        # each lost group again, alone: it may have died of its neighbour's memory use
        for group in lost:
            if _run_groups([group], 1, policies, results):
                why = ("the worker process evaluating this policy ended unexpectedly "
                       "(killed, or out of memory); run with --jobs 1 to evaluate in one process")
                results.update((i, PolicyOutcome(policies[i], "error", [], why)) for i in group)
    finally:
        _job = None
        if thaw:
            gc.unfreeze()
    return [results[i] for i in range(len(policies))]
