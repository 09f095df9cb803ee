"""``make bench``: measured speed and memory, side by side with per-record and SQL peers.

    python -m bench [--sizes S,M] [--large] [--repeat 3] [--no-hashing] [--ldap N]

Generates (and caches under bench/data/) a seeded synthetic organisation per size,
writes it as CSV and Parquet snapshots, measures each size in its own process, then
archive hashing against sha256sum / openssl, and prints one table. Results go to
bench/results.json. Nothing here is asserted: these are figures to read.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ledgerguard.scanner.fsutil import atomic_write_text
from ledgerguard.scanner.snapshot import TABLES, write_snapshot

from .generate import SIZES, TZ, generate

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
GENERATOR_VERSION = "4"  # bump whenever generate.py draws different data
#: the kinds that read the archive catalog and its use (issue 16's share of the full pack)
ARCHIVE_KINDS = frozenset({"retention_period", "archive_integrity", "archive_content", "archive_completeness",
                           "voucher_continuity", "handover_batches", "archive_access", "archive_borrowing"})


def ensure_data(size: str) -> tuple[Path, float]:
    root = DATA / size
    marker = root / "VERSION"
    if marker.is_file() and marker.read_text() == GENERATOR_VERSION:
        return root, 0.0
    t = time.perf_counter()
    tables = generate(SIZES[size])
    for name, df in tables.items():
        for col in TABLES[name]:
            if col.type == "time" and col.name in df:
                df[col.name] = df[col.name].astype(f"datetime64[us, {TZ}]")
    taken = "2026-11-23T00:00:00+08:00"
    write_snapshot(root / "parquet", tables, timezone=TZ, taken_at=taken, fmt="parquet")
    write_snapshot(root / "csv", tables, timezone=TZ, taken_at=taken, fmt="csv")
    marker.write_text(GENERATOR_VERSION)
    return root, time.perf_counter() - t


def run_size(root: Path, repeat: int, headline: bool = False) -> dict:
    args = ["--repeat", str(repeat), *(["--headline"] if headline else [])]
    proc = subprocess.run([sys.executable, "-m", "bench.run_size", str(root), *args],
                          capture_output=True, text=True, cwd=HERE.parent)
    if proc.returncode:
        raise SystemExit(f"bench for {root.name} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def hashing(files: int = 2000, size_kb: int = 512) -> dict:
    """archive_store hashing vs sha256sum and openssl over the same files (warm page cache)."""
    from ledgerguard.connectors.archive_store import ArchiveStoreConnector

    root = DATA / "files"
    store = root / "store"
    if not (root / "catalog.csv").is_file():
        store.mkdir(parents=True, exist_ok=True)
        rng = os.urandom
        lines = ["archive_id,category,fiscal_year,path"]
        for i in range(files):
            name = f"{i // 100:03d}/{i:05d}.pdf"
            (store / name).parent.mkdir(exist_ok=True)
            (store / name).write_bytes(b"%PDF-1.7\n" + rng(size_kb * 1024 - 9))
            lines.append(f"A{i:05d},原始凭证,2020,{name}")
        (root / "catalog.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    paths = sorted(str(p) for p in store.rglob("*.pdf"))
    total_mib = sum(os.path.getsize(p) for p in paths) / 2**20
    cache = root / "hash-cache.json"
    cache.unlink(missing_ok=True)
    settings = {"catalog": str(root / "catalog.csv"), "root": str(store), "cache": str(cache)}

    def connector() -> float:
        t = time.perf_counter()
        ArchiveStoreConnector("bench", settings, root, TZ).collect()
        return time.perf_counter() - t

    def tool(cmd: list[str]) -> float | None:
        if not shutil.which(cmd[0]):
            return None
        t = time.perf_counter()
        for i in range(0, len(paths), 500):
            subprocess.run(cmd + paths[i:i + 500], check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t

    tool(["cat"])  # warm the page cache for everyone
    first = connector()
    again = connector()
    res = {"files": len(paths), "mib": round(total_mib, 1), "ledgerguard_first_s": first,
           "ledgerguard_incremental_s": again, "sha256sum_s": tool(["sha256sum"]),
           "openssl_s": tool(["openssl", "dgst", "-sha256"]), **sm3(paths)}
    return res


def compile_package() -> None:
    """Compile the package's bytecode, as `pip install` leaves it, before any CLI is timed (the
    start-up commands, the scan and gate CLIs): in an editable checkout with
    PYTHONDONTWRITEBYTECODE set (as on some CI machines, and this one) every CLI run would
    otherwise compile each module changed since the last compile (~60 modules on a fresh clone,
    ~0.15 s)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "app", "scanner", "connectors", "reports"],
                   check=True, cwd=HERE.parent)


def startup(repeat: int = 5) -> dict:
    """Wall time of the quick commands against `python -c pass`, best of ``repeat``."""

    def best(cmd: list[str]) -> float:
        walls = []
        for _ in range(repeat):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, cwd=HERE.parent)
            walls.append(time.perf_counter() - t)
        return min(walls)

    cli = [sys.executable, "-m", "ledgerguard.app.cli"]
    return {"python_pass_s": best([sys.executable, "-c", "pass"]), "help_s": best([*cli, "--help"]),
            "validate_s": best([*cli, "validate", "policies/cn_finance/sod.yaml"]),
            "policies_list_s": best([*cli, "policies", "list"])}


def sm3(files: list[str]) -> dict:
    """SM3 over the hashing files: Python's hashlib (OpenSSL's SM3, one core) vs `openssl dgst -sm3`."""
    import hashlib

    try:
        hashlib.new("sm3")
    except ValueError:
        return {"hashlib_sm3_s": None, "openssl_sm3_s": None}
    t = time.perf_counter()
    for p in files:
        with open(p, "rb") as fh:
            hashlib.file_digest(fh, "sm3")
    ours = time.perf_counter() - t
    theirs = None
    if shutil.which("openssl"):
        t = time.perf_counter()
        for i in range(0, len(files), 500):
            subprocess.run(["openssl", "dgst", "-sm3", *files[i:i + 500]], check=True, stdout=subprocess.DEVNULL)
        theirs = time.perf_counter() - t
    return {"hashlib_sm3_s": ours, "openssl_sm3_s": theirs}


def ldap(entries: int) -> str:
    proc = subprocess.run([sys.executable, str(HERE / "ldap_bench.py"), "--entries", str(entries), "--repeat", "1"],
                          capture_output=True, text=True, cwd=HERE.parent)
    return (proc.stdout + (proc.stderr if proc.returncode else "")).strip()


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "-"


def verdict(value: float | None, limit: float) -> str:
    return "n/a" if value is None else ("met" if value <= limit else "NOT met")


def print_targets(results: dict) -> None:
    """Every target of issue 18 with its peer from this run."""
    print("\n== targets (issue 18), each against its peer in this run")
    st = results.get("startup")
    if st:
        for name in ("help_s", "validate_s", "policies_list_s"):
            ratio_ = st[name] / st["python_pass_s"]
            print(f"  start-up {name[:-2]:<14} {st[name]:6.2f} s = {ratio_:5.1f}× `python -c pass` "
                  f"({st['python_pass_s']:.3f} s)   ≤ 0.2 s and ≤ 10×: {verdict(st[name], 0.2)}")
    for size, r in results["sizes"].items():
        g = r.get("gate")
        if g:
            print(f"  gate {size}: one-line change {g['gate_s']:.3f} s in process = {g['gate_s'] / g['scan_s']:.2f}× "
                  f"the scan ({g['scan_s']:.2f} s; full gate {g['gate_full_s']:.2f} s), CLI {g['cli_gate_s']:.2f} s"
                  f" wall   ≤ 0.15×: {verdict(g['gate_s'] / g['scan_s'], 0.15)}, CLI ≤ 1.0 s: "
                  f"{verdict(g['cli_gate_s'], 1.0) if size == 'M' else 'M only'}")
            if "gate_uncached_s" in g:
                print(f"  gate {size} without its base cache (--no-cache): {g['gate_uncached_s']:.3f} s in process = "
                      f"{g['gate_uncached_s'] / g['scan_s']:.2f}× the scan, CLI {g['cli_gate_uncached_s']:.2f} s wall; "
                      f"cached and uncached gates agree: {'yes' if g['cached_same'] else 'NO'}")
        for name in ("cli_scan_exit", "cli_gate_exit"):
            end = r.get(name) or (g or {}).get(name) or {}
            if end.get("code", 0) not in (0, 1):
                print(f"  {size}: `ledgerguard {name[4:8]}` ended with exit {end['code']} (2 = bad input, "
                      f"3 = a policy in error, < 0 = killed by a signal): {end.get('stderr', '').strip()[-300:]}")
        if g and g.get("policy_errors"):
            print(f"  {size}: gate policies in error: {', '.join(g['policy_errors'])}")
        bad = sorted(p for p, status in r.get("policies", {}).items() if status in ("error", "inconclusive"))
        if bad:
            print(f"  {size}: policies in error or inconclusive in the full scan: {', '.join(bad)}")
        if size == "M":
            print(f"  M full pack in process {r['full_pack_parquet_s']:.2f} s (≤ 1.5 s: "
                  f"{verdict(r['full_pack_parquet_s'], 1.5)}), scan CLI {r.get('cli_scan_s', 0):.2f} s "
                  f"= {r.get('cli_scan_s', 0) / r['full_pack_parquet_s']:.2f}× the full pack (≤ 2.5 s: "
                  f"{verdict(r.get('cli_scan_s'), 2.5)})")
            for check, p in (r.get("peers") or {}).items():
                print(f"  per check {check:<22} {p['ledgerguard_s'] / p['duckdb_s']:5.2f}× DuckDB   "
                      f"≤ 1.0×: {verdict(p['ledgerguard_s'] / p['duckdb_s'], 1.0)}")
        if size == "L":
            print(f"  L full pack {r['full_pack_parquet_s']:.1f} s (≤ 12 s: {verdict(r['full_pack_parquet_s'], 12)}), "
                  f"peak {r['peak_pss_full_pack_mb']:,.0f} MB PSS (≤ 5 GB: "
                  f"{verdict(r['peak_pss_full_pack_mb'], 5 * 1024)})")
        d = r.get("dask")
        if d:
            print(f"  Dask {size}: 2-worker local cluster {d['dask_s']:.2f} s vs in process {d['in_process_s']:.2f} s "
                  f"({d['dask_s'] / d['in_process_s']:.2f}×), worker peak RSS "
                  + ", ".join(f"{m:,.0f} MB" for m in d["worker_peak_rss_mb"]))
    h = results.get("hashing")
    if h and h.get("hashlib_sm3_s") and h.get("openssl_sm3_s"):
        print(f"  SM3 hashing: hashlib {h['mib'] / h['hashlib_sm3_s']:.0f} MiB/s (one core) vs `openssl dgst -sm3` "
              f"{h['mib'] / h['openssl_sm3_s']:.0f} MiB/s = {h['openssl_sm3_s'] / h['hashlib_sm3_s']:.2f}×   ≥ 0.9×: "
              + ("met" if h["openssl_sm3_s"] / h["hashlib_sm3_s"] >= 0.9 else "NOT met"))
    print("  (retired: SoD ≥ 10× c7n — its peer gets pre-pooled records; c7n ratios are printed for reference)")


def print_table(results: dict) -> None:
    for size, r in results["sizes"].items():
        rows = r["rows"]
        print(f"\n== size {size}: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
        print(f"  data generated in {r['generate_s']:.1f} s (0 = cached)")
        csv = f"csv {r['load_csv_s']:7.2f} s   " if "load_csv_s" in r else ""
        print(f"  load snapshot           {csv}parquet {r['load_parquet_s']:7.2f} s")
        print(f"  full built-in pack      {r['full_pack_parquet_s']:7.2f} s from Parquet, "
              f"{r['findings']:,} findings, --jobs auto ({r['jobs']} process(es)): peak memory "
              f"{r['peak_pss_full_pack_mb']:,.0f} MB PSS (RSS summed over processes "
              f"{r['peak_rss_sum_full_pack_mb']:,.0f} MB)")
        print(f"                          {r['full_pack_one_process_s']:7.2f} s in one process (--jobs 1), "
              f"peak RSS {r['peak_rss_full_pack_one_process_mb']:,.0f} MB "
              f"(whole bench process {r['peak_rss_mb']:,.0f} MB)")
        if "cli_scan_s" not in r:  # --headline (size L)
            continue
        print(f"  `ledgerguard scan` CLI  {r['cli_scan_s']:7.2f} s wall, fresh process (imports, load, scan, "
              "findings.json)")
        print("  per policy kind (fresh context each, joins included):")
        for kind, s in sorted(r["kind_s"].items(), key=lambda kv: -kv[1]):
            print(f"    {kind:<24} {s:7.3f} s{'  (archive)' if kind in ARCHIVE_KINDS else ''}")
        archive = sum(s for k, s in r["kind_s"].items() if k in ARCHIVE_KINDS)
        total = sum(r["kind_s"].values())
        print(f"    archive kinds {archive:.2f} s of {total:.2f} s summed over the kinds ({archive / total:.0%})")
        rep = r["report_s"]
        print("  reports: " + "  ".join(f"{f} {rep[f]:.2f} s ({rep[f + '_bytes'] / 2**20:.1f} MiB)"
                                        for f in ("json", "html", "xlsx") if f in rep))
        print("  peers (same data; ratio = ledgerguard time / peer time, < 1 means ledgerguard is faster):")
        print("    (c7n filter = ValueFilters over ready records; c7n e2e = building the records from the same")
        print("     tables + filtering, comparable to ledgerguard, which starts from the tables too;")
        print("     duckdb = SQL computing the same findings, fetched into Python; agrees = both found the same")
        print("     (policy, code, subject, key) set; duckdb count = the narrower count(*) query, for reference)")
        print(f"    {'check':<24} {'ledgerguard':>11} {'c7n filter':>10} {'c7n e2e':>9} {'duckdb':>8} "
              f"{'vs c7n filter':>13} {'vs c7n e2e':>10} {'vs duckdb':>9} {'findings':>8} {'agrees':>6} "
              f"{'duckdb count':>12}")
        for check, p in r["peers"].items():
            e2e = p["c7n_s"] + p["c7n_records_s"]
            agrees = "yes" if p["agrees"] else (f"NO (-{p['only_ledgerguard']}/+{p['only_duckdb']})"
                                                if "only_duckdb" in p else "NO")
            print(f"    {check:<24} {p['ledgerguard_s']:10.3f}s {p['c7n_s']:9.3f}s {e2e:8.3f}s "
                  f"{p['duckdb_s']:7.3f}s {ratio(p['ledgerguard_s'], p['c7n_s']):>13} "
                  f"{ratio(p['ledgerguard_s'], e2e):>10} {ratio(p['ledgerguard_s'], p['duckdb_s']):>9} "
                  f"{p['findings']:8,} {agrees:>6} {p['duckdb_count_only_s']:11.3f}s")
    h = results.get("hashing")
    if h:
        mib = h["mib"]

        def rate(s):
            return f"{mib / s:7.0f} MiB/s {h['files'] / s:7.0f} files/s" if s else "n/a"

        print(f"\n== hashing {h['files']} files, {mib:.0f} MiB (warm page cache)")
        print(f"  ledgerguard archive_store first run   {rate(h['ledgerguard_first_s'])}")
        print(f"  ledgerguard incremental re-run        {h['ledgerguard_incremental_s']:.3f} s "
              f"({h['ledgerguard_first_s'] / h['ledgerguard_incremental_s']:.0f}× faster than the first)")
        print(f"  sha256sum                             {rate(h['sha256sum_s'])}")
        print(f"  openssl dgst -sha256                  {rate(h['openssl_s'])}")
    if results.get("ldap"):
        print("\n== LDAP\n" + results["ldap"])
    print_targets(results)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench")
    ap.add_argument("--sizes", default="S,M")
    ap.add_argument("--large", action="store_true", help="also size L (1M people; takes minutes)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-hashing", action="store_true")
    ap.add_argument("--ldap", type=int, default=0, metavar="N", help="also pull N entries from a local slapd")
    args = ap.parse_args()
    sizes = [s for s in args.sizes.split(",") if s] + (["L"] if args.large else [])
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "sizes": {}}
    compile_package()
    for size in sizes:
        root, gen_s = ensure_data(size)
        # L: the headline only, once (each run takes half a minute and ~7 GB)
        r = run_size(root, 1, headline=True) if size == "L" else run_size(root, args.repeat)
        r["generate_s"] = gen_s
        results["sizes"][size] = r
    if not args.no_hashing:
        results["hashing"] = hashing()
    results["startup"] = startup()
    if args.ldap:
        results["ldap"] = ldap(args.ldap)
    print_table(results)
    atomic_write_text(HERE / "results.json", json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwrote {HERE / 'results.json'}")


if __name__ == "__main__":
    main()
