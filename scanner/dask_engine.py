"""``scan --engine dask``: the same kind code, evaluated as partition tasks on a Dask cluster.

For organisations that outgrow one machine. The snapshot's tables are written as Parquet
partitions so that what a kind joins lives together, each policy kind runs as one task
per partition (unchanged kind code, on a Snapshot of that partition), and the findings
of the partitions are concatenated. The partitioning rule of each kind:

* **by person** — ``PERSON_KINDS`` (role_template, segregation_of_duties,
  privileged_mfa, access_review, dormant_account, orphan_account, revoke_on_departure,
  change_approval, archive_access): every finding is about one account, one person (SoD
  pools a person's accounts), one change or one access event of one person, and reads
  only that subject's rows plus global facts (the same argument as the incremental
  gate). An account goes to the partition of its ``person_id`` (an account without one:
  of its own ``system:account_id``); ``grants``, ``reviews`` and ``logins`` follow their
  account, ``changes`` the account they change, ``access_log`` its actor (an actor
  ``system:account_id`` of a listed account: that account's partition; else the actor
  is a person_id: the partition of that person's accounts). archive_access judges an
  event by the grants of the actor's person, which are all in that partition.
  ``identities`` and ``role_permissions`` are global facts (who exists, positions,
  statuses, what a role grants): every partition gets them whole (broadcast).
* **by archive** — retention_period, archive_integrity and archive_content judge each
  ``archives`` row on its own; archive_borrowing judges each ``borrows`` row on its own
  and matches an ``access_log`` borrow event to the register entries of the same
  archive. The cut: ``archives``, ``borrows`` and ``access_log`` by ``archive_id``;
  ``unlisted_files`` (archive_content: one finding per row) by ``path``, so each such
  row is in exactly one partition.
* **by batch** — handover_batches counts and sums the archives of each batch against
  its ``batches`` row: ``archives`` and ``batches`` by ``batch_id`` (archives of no
  batch are not judged; they land in the partition of the empty key).
* **by account set** — voucher_continuity judges each numbering run (its ``keys``,
  default account_set × year × period × type) on its own, so when ``account_set`` is
  one of its keys, ``archives`` by ``account_set`` holds every run whole. (Its packing
  limit, "too many runs × numbers", can only be hit less in a partition than whole.)
  A policy whose keys lack ``account_set`` runs whole.
* **by linked group** — archive_completeness: period_missing judges each ``group_by``
  group (default fonds × account set) from that group's rows alone, id_duplicate each
  archive id from its rows, id_pattern each row. ``linked_parts`` keeps both whole:
  groups that share an archive id are linked, and each linked set of groups goes to
  one partition (with distinct ids, as expected, every group is its own set).
* **unpartitioned** — everything else runs as one task on the whole tables:
  backup_frequency (its params name datasets that
  must exist: a partition without one's rows would report it missing), handover,
  period_close_freeze and unrecorded_change (they set changes against handovers, a
  closed period or the previous snapshot, none of which is cut here), table_rule (its
  subject template may group rows of many accounts), and any kind not listed here.

Coverage: each cut table's rows are in exactly one partition, so a kind's ``examined``
count (rows, events, batches, vouchers of a cut table) sums to the in-process one. A
task reads a table file only when a kind asks for it, so the unpartitioned task holds
only the tables its kinds use.
The partition count defaults to ``partition_count``: two per worker, or one per
``ROWS_PER_PARTITION`` rows of the largest cut table when that is more.

A partition's tables are read by the worker from ``workdir`` (a path every worker can
read: a shared or object-store mount for a real cluster). ``tests/scanner/test_dask_engine.py``
checks that every kind gives exactly the in-process findings on a 2-worker local cluster.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from .context import Context, isin
from .contract import Finding, PolicyOutcome
from .engine import evaluate_policy
from .errors import InputError, Problem
from .kinds.base import blank, inconclusive_reason
from .lazy import numpy as np
from .lazy import pandas as pd
from .lazy import pyarrow as pa
from .policy import Policy
from .snapshot import Snapshot, arrow_types

#: kinds whose every finding is about one account, person, or change or access event of
#: one person's accounts (the incremental gate's argument, gate.py): split by person. The
#: gate's other local kinds read tables this engine does not cut by person (handovers, the access log's
#: order) and run unpartitioned here.
PERSON_KINDS = frozenset({
    "role_template", "segregation_of_duties", "privileged_mfa", "access_review", "dormant_account",
    "orphan_account", "revoke_on_departure", "change_approval", "archive_access",
})
#: tables cut by person (an account's person; see the module docstring)
BY_PERSON = ("accounts", "grants", "reviews", "logins", "changes", "access_log")
#: the other cuts: per cut, the key column of each table it splits (rows with equal keys,
#: across tables too, land in one partition); a table a kind of the cut reads that is not
#: listed is broadcast whole
CUTS: dict[str, dict[str, str]] = {
    "archive": {"archives": "archive_id", "unlisted_files": "path", "borrows": "archive_id",
                "access_log": "archive_id"},
    "batch": {"archives": "batch_id", "batches": "batch_id"},
    "account_set": {"archives": "account_set"},
}
#: the kinds cut by archive or by batch (voucher_continuity: by account set when its keys hold it)
#: archive_completeness's cut: ``LINKED`` + its group_by columns (``linked_parts``)
LINKED = "linked:"
KIND_CUTS = {"retention_period": "archive", "archive_integrity": "archive", "archive_content": "archive",
             "archive_borrowing": "archive", "handover_batches": "batch"}
#: rows of a cut table one partition task should hold at most (by default): 1M archive rows
#: are ~0.45 GB in memory (docs/performance.md, L: 31 columns × 10M rows ≈ 4.5 GB), and a
#: task holds its partition and the frames the kind builds from it, a few times that
ROWS_PER_PARTITION = 1_000_000


def partition_count(rows: int, workers: int) -> int:
    """The default partition count: two per worker (so a slow task does not idle the
    others), more when the largest cut table has more than ``ROWS_PER_PARTITION`` rows a
    partition, so that a worker's memory follows its partition, not the whole snapshot."""
    return max(2 * max(1, workers), -(-rows // ROWS_PER_PARTITION))


def partitioning(kind: str, params: dict[str, Any] | None = None) -> str:
    """How a policy of ``kind`` (with ``params``; None: the kind's defaults) is split:
    ``person``, a cut of ``CUTS``, ``LINKED`` + group_by columns, or ``whole``."""
    if kind in PERSON_KINDS:
        return "person"
    if kind == "voucher_continuity":  # a numbering run is whole in one account set's partition
        return "account_set" if params is None or "account_set" in params["keys"] else "whole"
    if kind == "archive_completeness":  # its groups, linked by shared archive ids (``linked_parts``)
        return LINKED + ",".join(params["group_by"] if params else ("fonds", "account_set"))
    return KIND_CUTS.get(kind, "whole")


def linked_parts(archives: pd.DataFrame, keys: list[str], n: int) -> np.ndarray:
    """The partition of each ``archives`` row such that every group of ``keys`` and every
    archive id is whole in one partition: groups that share an archive id are linked
    (union-find over the groups), and each linked set goes to one partition. Without a
    key column (archive_completeness reports it) every row goes to the first partition."""
    if not keys or any(k not in archives for k in [*keys, "archive_id"]):
        return np.zeros(len(archives), dtype="int64")
    group = archives.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
    ids = pd.factorize(archives["archive_id"], use_na_sentinel=False)[0]
    pairs = pd.DataFrame({"id": ids, "group": group}).drop_duplicates()
    low = pairs.groupby("id")["group"].transform("min")
    root = list(range(int(group.max(initial=-1)) + 1))

    def find(g: int) -> int:
        while root[g] != g:
            root[g] = root[root[g]]
            g = root[g]
        return g

    for a, b in set(zip(pairs["group"].tolist(), low.tolist(), strict=True)):
        root[find(a)] = find(b)
    return _bucket(pd.Series([find(g) for g in range(len(root))], dtype="int64").iloc[group].reset_index(drop=True),
                   n)


def _bucket(keys: pd.Series, n: int) -> np.ndarray:
    """A stable partition number per key (the same key, the same partition, run after run)."""
    return (pd.util.hash_array(keys.astype(object).fillna("").to_numpy()) % n).astype("int64")


def _account_keys(system: pd.Series, account_id: pd.Series) -> pd.Series:
    return system.astype("str").fillna("") + "\x1f" + account_id.astype("str").fillna("")


def person_parts(tables: dict[str, pd.DataFrame], n: int) -> dict[str, np.ndarray]:
    """The partition of each row of the tables cut by person."""
    acc = tables.get("accounts")
    owner: dict[str, int] = {}
    out: dict[str, np.ndarray] = {}
    if acc is not None:
        own = _account_keys(acc["system"], acc["account_id"])
        key = acc["person_id"].astype(object).where(~blank(acc["person_id"]), own)
        out["accounts"] = _bucket(key, n)
        owner = dict(zip(own, out["accounts"], strict=True))

    def of_account(t: pd.DataFrame) -> np.ndarray:
        keys = _account_keys(t["system"], t["account_id"])
        return np.where(isin(keys, list(owner)), keys.map(owner).fillna(-1), _bucket(keys, n)).astype("int64")

    for name in ("grants", "reviews", "logins", "changes"):
        if name in tables:
            out[name] = of_account(tables[name])
    if "access_log" in tables:
        # an actor names an account as ``system:account_id`` (archive_access resolves it so,
        # whatever colons the system holds), else a person: the bucket of that person_id
        actor = tables["access_log"]["actor"].astype("str")
        named = dict(zip(acc["system"].astype("str").fillna("") + ":" + acc["account_id"].astype("str").fillna(""),
                         out["accounts"], strict=True)) if acc is not None else {}
        known = isin(actor, list(named))
        out["access_log"] = np.where(known, actor.map(named).fillna(-1), _bucket(actor, n)).astype("int64")
    return out


def _write(table: pa.Table, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    # lz4 and no column statistics: a partition is read once, whole, by one task (at M this
    # wrote ~15 % and read ~40 % faster than the snappy + statistics default, as large)
    pq.write_table(table, path, compression="lz4", write_statistics=False)
    return str(path)


def _read(path: str) -> pd.DataFrame:
    table = pq.ParquetFile(path).read()
    return table.to_pandas(types_mapper=arrow_types().get)


def write_partitions(snapshot: Snapshot, root: Path, n: int, tables_of: dict[str, set[str]]
                     ) -> dict[str, list[dict[str, str]]]:
    """Write the tables each partitioning needs under ``root``; per partitioning, the
    table files of each of its tasks (``tables_of``: partitioning → tables its kinds read)."""
    tables = snapshot.tables
    tasks: dict[str, list[dict[str, str]]] = {}
    whole: dict[str, str] = {}
    arrow: dict[str, pa.Table] = {}

    def as_arrow(name: str) -> pa.Table:  # zero-copy for the Arrow-backed text columns
        if name not in arrow:
            arrow[name] = pa.Table.from_pandas(tables[name], preserve_index=False)
        return arrow[name]

    def whole_file(name: str) -> str:
        if name not in whole:
            whole[name] = _write(as_arrow(name), root / "whole" / f"{name}.parquet")
        return whole[name]

    def part_files(name: str, part: np.ndarray, folder: str) -> list[str]:
        """One file per partition of table ``name``, its rows in table order: one stable sort of
        the partition numbers, then a take per partition (a boolean mask per partition would
        scan every column of the table once per partition: n times the table)."""
        order = np.argsort(part, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(part, minlength=n))])
        return [_write(as_arrow(name).take(pa.array(order[bounds[k]:bounds[k + 1]])),
                       root / folder / name / f"part-{k}.parquet") for k in range(n)]

    for way, names in tables_of.items():
        names = names & tables.keys()
        if way == "whole":
            tasks[way] = [{name: whole_file(name) for name in names}]
            continue
        # a table without its key column (the kind reports it) goes whole to the first partition
        if way == "person":
            parts = person_parts(tables, n)
        elif way.startswith(LINKED):
            parts = {"archives": linked_parts(tables["archives"], way.removeprefix(LINKED).split(","), n)}
        else:
            parts = {name: (_bucket(tables[name][key], n) if key in tables[name]
                            else np.zeros(len(tables[name]), "int64"))
                     for name, key in CUTS[way].items() if name in names}
        folder = way.replace(":", "-").replace(",", "+")  # a plain folder name on any store
        cut = {name: part_files(name, parts[name], folder) for name in names if name in parts}
        tasks[way] = [{name: cut[name][k] if name in cut else whole_file(name) for name in names} for k in range(n)]
    return tasks


class _Tables(Mapping):
    """A task's tables, each read from its Parquet file when a kind first asks for it: a
    task holds only the tables its kinds use. (An unpartitioned task is offered every
    table, as a kind may read optional tables its ``reads()`` does not name.)"""

    def __init__(self, files: dict[str, str]) -> None:
        self.files, self.loaded = files, {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self.loaded:
            self.loaded[name] = _read(self.files[name])
        return self.loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


def _evaluate_part(files: dict[str, str], snapshot: Snapshot, policies: list[Policy], now: pd.Timestamp
                   ) -> list[tuple[str, list[Finding], str | None]]:
    """A task: the policies on one partition's tables (status, findings, error of each)."""
    part = Snapshot(snapshot.path, snapshot.timezone, snapshot.taken_at, _Tables(files), unusable=snapshot.unusable)
    ctx = Context(part, now)
    return [(o.status, o.findings, o.error, o.coverage) for o in (evaluate_policy(p, ctx) for p in policies)]


def _combine(policy: Policy, results: list[tuple[str, list[Finding], str | None, dict | None]]) -> PolicyOutcome:
    """One policy's outcome from its partitions: an error in any is an error; else the
    findings of all, and the coverage of all — ``examined`` summed, each ``matched`` entry
    the largest partition's count (a count over a broadcast table is the same in every
    partition, so it is not summed) — from which an empty result is judged ``pass`` or
    ``inconclusive`` exactly as in one process (zero overall iff zero in every partition)."""
    for status, _, error, _ in results:
        if status in ("error", "skipped"):
            return PolicyOutcome(policy, status, [], error)
    found = list({f["id"]: f for _, part, _, _ in results for f in part}.values())
    parts = [c for *_, c in results if c]
    coverage = None
    if parts:
        groups = {g for c in parts for g in c["matched"]}
        coverage = {**parts[0], "examined": sum(c["examined"] for c in parts), "partitions": len(results),
                    "matched": {g: {k: max(c["matched"].get(g, {}).get(k, 0) for c in parts)
                                    for k in {k for c in parts for k in c["matched"].get(g, {})}}
                                for g in groups}}
    why = None if found or coverage is None else inconclusive_reason(coverage)
    if why:
        return PolicyOutcome(policy, "inconclusive", [], why, coverage)
    return PolicyOutcome(policy, "fail" if found else "pass", found, None, coverage)


def dask_evaluator(scheduler: str | None = None, partitions: int | None = None, workdir: str | None = None,
                   workers: int = 2) -> Callable[[list[Policy], Context], list[PolicyOutcome]]:
    """An evaluator for ``run_scan(evaluator=…)``: on the cluster at ``scheduler``, else on a
    local cluster of ``workers`` processes; ``partitions`` per partitioned kind (default:
    ``partition_count`` of the largest cut table); the partition files under ``workdir`` (default: a temporary folder,
    which only workers on this machine can read)."""

    def run(policies: list[Policy], ctx: Context) -> list[PolicyOutcome]:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError(Problem("--engine dask needs Dask: pip install 'ledgerguard[dask]'")) from None

        cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                      host="127.0.0.1", dashboard_address=None)
        tmp = tempfile.mkdtemp(prefix="ledgerguard-dask-", dir=workdir)
        try:
            with Client(scheduler or cluster) as client:
                return _run(client, policies, ctx, Path(tmp), partitions,
                            len(client.scheduler_info()["workers"]))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if cluster is not None:
                cluster.close()

    return run


def _run(client: Any, policies: list[Policy], ctx: Context, root: Path, n: int | None, workers: int
         ) -> list[PolicyOutcome]:
    from .kinds.base import KINDS

    groups: dict[str, list[int]] = {}
    reads: dict[str, set[str]] = {}
    for i, p in enumerate(policies):
        kind = KINDS.get(p.kind)(p.params)
        way = partitioning(p.kind, kind.params)
        groups.setdefault(way, []).append(i)
        # a kind may read optional tables too: a partition carries every table of its cut
        reads.setdefault(way, set()).update(kind.reads(), *(
            (BY_PERSON, ("identities", "role_permissions")) if way == "person" else ()))
    if "whole" in reads:
        reads["whole"] = set(ctx.snapshot.tables)
    cut = {name for way in reads if way != "whole"
           for name in (BY_PERSON if way == "person" else ("archives",) if way.startswith(LINKED) else CUTS[way])}
    n = n or partition_count(max((len(ctx.snapshot.tables[t]) for t in cut & ctx.snapshot.tables.keys()),
                                 default=0), workers)
    tasks = write_partitions(ctx.snapshot, root, n, reads)
    snapshot = Snapshot(ctx.snapshot.path, ctx.snapshot.timezone, ctx.snapshot.taken_at, {},
                        unusable=ctx.snapshot.unusable)
    futures = {way: [client.submit(_evaluate_part, files, snapshot, [policies[i] for i in groups[way]], ctx.now,
                                   pure=False) for files in tasks[way]] for way in groups}
    outcomes: dict[int, PolicyOutcome] = {}
    for way, fs in futures.items():
        parts = client.gather(fs)
        for j, i in enumerate(groups[way]):
            outcomes[i] = _combine(policies[i], [part[j] for part in parts])
    return [outcomes[i] for i in range(len(policies))]
