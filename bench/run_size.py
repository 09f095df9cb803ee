"""Measure one size in its own process (so peak RSS belongs to that size alone).

Prints one JSON object on stdout; ``python -m bench`` collects and tabulates them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ledgerguard.scanner.context import Context
from ledgerguard.scanner.engine import evaluate
from ledgerguard.scanner.policy import all_policies, load_packs
from ledgerguard.scanner.scan import run_scan
from ledgerguard.scanner.snapshot import read_snapshot
from ledgerguard.scanner.workers import auto_jobs

from . import peers
from .generate import AS_OF


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _kb(pid: int | str, field: str) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith(field)), 0)
    except OSError:  # the worker has just ended
        return 0


class PeakMemory(threading.Thread):
    """Peak memory of this process and its worker processes together, sampled every 20 ms
    (reading smaps_rollup takes the processes' memory-map lock: never time a sampled run).

    ``pss_mb``: the sum of their proportional set sizes — pages the workers share with
    this process (the snapshot they inherit by fork) are counted once, split between the
    sharers — i.e. the memory the scan really takes. ``rss_mb``: the sum of their resident
    sizes, which counts every shared page once per process (an upper bound).
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.pss_mb = self.rss_mb = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.02):
            pids = [os.getpid()]
            for task in Path("/proc/self/task").iterdir():
                with contextlib.suppress(OSError):
                    pids += [int(p) for p in (task / "children").read_text().split()]
            self.pss_mb = max(self.pss_mb, sum(_kb(p, "Pss:") for p in pids) / 1024)
            self.rss_mb = max(self.rss_mb, sum(_kb(p, "Rss:") for p in pids) / 1024)

    def __enter__(self) -> PeakMemory:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.join()


def measure(data: Path, repeat: int) -> dict[str, Any]:
    res: dict[str, Any] = {}
    packs = load_packs(None)
    policies = all_policies(packs)

    # 1. the headline: full built-in pack, end to end from Parquet (load + evaluate + findings),
    # as `ledgerguard scan` runs it (--jobs auto: worker processes for a large snapshot), then
    # in one process (--jobs 1)
    def full(jobs: int | None) -> dict:
        snap = read_snapshot(data / "parquet")
        return run_scan(snap, packs, AS_OF, jobs=jobs)

    with PeakMemory() as memory:  # one run sampled, untimed: reading smaps slows the processes
        full(None)
    res["full_pack_parquet_s"], doc = timed(lambda: full(None), repeat)
    res["peak_pss_full_pack_mb"], res["peak_rss_sum_full_pack_mb"] = memory.pss_mb, memory.rss_mb
    res["full_pack_one_process_s"], _ = timed(lambda: full(1), repeat)
    res["peak_rss_full_pack_one_process_mb"] = peak_rss_mb()
    res["cli_scan_s"] = cli_scan(data / "parquet")
    res["findings"] = len(doc["findings"])
    res["policies"] = {p["id"]: p["status"] for p in doc["policies"]}

    res["load_parquet_s"], snap = timed(lambda: read_snapshot(data / "parquet"), repeat)
    res["load_csv_s"], _ = timed(lambda: read_snapshot(data / "csv"))
    res["rows"] = {k: len(v) for k, v in snap.tables.items()}
    res["jobs"] = auto_jobs(Context(snap, AS_OF))

    # 2. per kind, each with a fresh context (its joins included)
    kinds: dict[str, float] = {}
    for kind in sorted({p.kind for p in policies}):
        mine = [p for p in policies if p.kind == kind]
        kinds[kind], _ = timed(lambda mine=mine: evaluate(mine, Context(snap, AS_OF)), repeat)
    res["kind_s"] = kinds

    # 3. reports
    from ledgerguard.reports.base import FORMATS

    reports: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("json", "html", "xlsx"):
            if fmt in FORMATS:
                reports[fmt], _ = timed(lambda fmt=fmt: FORMATS.get(fmt)().render(doc, Path(tmp), "en"))
                reports[f"{fmt}_bytes"] = (Path(tmp) / FORMATS.get(fmt).filename).stat().st_size
    res["report_s"] = reports

    # 4. peers on the same data: revoke-on-departure, SoD, retention
    res["peers"] = compare_peers(snap, policies, repeat)
    res["peak_rss_mb"] = peak_rss_mb()
    return res


def cli_scan(snapshot: Path) -> float:
    """What a user waits for: `ledgerguard scan` in a fresh process (startup and imports,
    load, evaluate, findings.json), wall time."""
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ledgerguard.scanner.cli", "scan", "--snapshot", str(snapshot),
                        "--as-of", AS_OF.date().isoformat(), "--format", "json", "--out", out,
                        "--fail-on", "never"], check=True, capture_output=True)
        return time.perf_counter() - t


def compare_peers(snap, policies, repeat: int) -> dict[str, Any]:
    import duckdb

    tables = snap.tables
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    for name in ("identities", "accounts", "grants", "role_permissions", "archives"):
        df = tables[name]
        con.register(f"_{name}", df)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _{name}")
    out: dict[str, Any] = {}

    def ours(kind: str, first_only: bool = False) -> float:
        mine = [p for p in policies if p.kind == kind]
        mine = mine[:1] if first_only else mine
        return timed(lambda: evaluate(mine, Context(snap, AS_OF)), repeat)[0]

    dep = next(p for p in policies if p.kind == "revoke_on_departure")
    grace = dep.params.get("grace_days", 0)
    deadline = (AS_OF - pd.Timedelta(days=grace)).isoformat()
    build_s, resources = timed(lambda: peers.c7n_departure_resources(tables))
    out["revoke_on_departure"] = {
        "ledgerguard_s": ours("revoke_on_departure", first_only=True),
        "c7n_s": timed(lambda: peers.c7n_departure(resources, deadline))[0],
        "c7n_records_s": build_s,
        "duckdb_s": timed(lambda: peers.duckdb_departure(con, AS_OF.isoformat(), grace), repeat)[0],
        "c7n_records": len(resources),
    }
    del resources

    sod = [p for p in policies if p.kind == "segregation_of_duties"]
    if sod:
        rules = [r for p in sod for r in p.params.get("rules", [])]
        known = sorted(tables["role_permissions"]["permission"].dropna().unique())
        build_s, resources = timed(lambda: peers.c7n_sod_resources(tables))
        out["segregation_of_duties"] = {
            "ledgerguard_s": ours("segregation_of_duties"),
            "c7n_s": timed(lambda: peers.c7n_sod(resources, rules, known))[0],
            "c7n_records_s": build_s,
            "duckdb_s": timed(lambda: peers.duckdb_sod(con, rules), repeat)[0],
            "rules": len(rules),
        }
        del resources

    ret = next((p for p in policies if p.kind == "retention_period"), None)
    if ret:
        schedule = {c: (y["years"] if isinstance(y, dict) else y) for c, y in ret.params["schedule"].items()
                    if not isinstance(y, dict)}
        build_s, resources = timed(lambda: peers.c7n_retention_resources(tables))
        out["retention_period"] = {
            "ledgerguard_s": ours("retention_period", first_only=True),
            "c7n_s": timed(lambda: peers.c7n_retention(resources, schedule))[0],
            "c7n_records_s": build_s,
            "duckdb_s": timed(lambda: peers.duckdb_retention(con, schedule), repeat)[0],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(json.dumps(measure(args.data, args.repeat)))


if __name__ == "__main__":
    main()
