"""Measure one size in its own process (so peak RSS belongs to that size alone).

Prints one JSON object on stdout; ``python -m bench`` collects and tabulates them.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
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


def measure(data: Path, repeat: int) -> dict[str, Any]:
    res: dict[str, Any] = {}
    packs = load_packs(None)
    policies = all_policies(packs)

    # 1. the headline: full built-in pack, end to end from Parquet (load + evaluate + findings)
    def full() -> dict:
        snap = read_snapshot(data / "parquet")
        return run_scan(snap, packs, AS_OF)

    res["full_pack_parquet_s"], doc = timed(full, repeat)
    res["peak_rss_full_pack_mb"] = peak_rss_mb()
    res["cli_scan_s"] = cli_scan(data / "parquet")
    res["findings"] = len(doc["findings"])
    res["policies"] = {p["id"]: p["status"] for p in doc["policies"]}

    res["load_parquet_s"], snap = timed(lambda: read_snapshot(data / "parquet"), repeat)
    res["load_csv_s"], _ = timed(lambda: read_snapshot(data / "csv"))
    res["rows"] = {k: len(v) for k, v in snap.tables.items()}

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
