"""Hashing throughput of the archive_store connector vs sha256sum and openssl.

    .venv/bin/python scripts/bench_hashing.py [--files 2000] [--size-kib 512]

Creates the files in a temp folder, then times (wall clock) on the same files:
archive_store first run (cold cache, every file read and hashed, on all cores),
archive_store incremental re-run (warm cache, no file read), ``sha256sum`` over all
files, and ``openssl dgst -sha256`` over all files. The page cache is warm for all
of them (the files were just written), so the figures compare hashing, not disks.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ledgerguard.connectors.archive_store import ArchiveStoreConnector


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--size-kib", type=int, default=512)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lg-bench-hash-"))
    try:
        root = tmp / "root"
        root.mkdir()
        block = os.urandom(args.size_kib * 1024)
        lines = ["archive_id,category,fiscal_year,path"]
        for i in range(args.files):
            (root / f"{i:05d}.pdf").write_bytes(b"%PDF-" + i.to_bytes(4, "big") + block[9:])
            lines.append(f"A{i},voucher,2020,{i:05d}.pdf")
        (tmp / "catalog.csv").write_text("\n".join(lines) + "\n")
        paths = sorted(str(p) for p in root.iterdir())
        settings = {"catalog": "catalog.csv", "root": "root", "cache": "cache.json"}
        results = {}

        def run_connector() -> int:
            c = ArchiveStoreConnector("bench", settings, tmp, "UTC")
            c.collect()
            return c.files_read

        results["archive_store first run"] = timed(run_connector)
        results["archive_store re-run (cache)"] = timed(run_connector)
        assert run_connector() == 0
        results["sha256sum"] = timed(lambda: subprocess.run(
            ["sha256sum", *paths], check=True, stdout=subprocess.DEVNULL))
        results["openssl dgst -sha256"] = timed(lambda: subprocess.run(
            ["openssl", "dgst", "-sha256", *paths], check=True, stdout=subprocess.DEVNULL))
        mib = args.files * args.size_kib / 1024
        print(f"{args.files} files x {args.size_kib} KiB = {mib:.0f} MiB, {os.cpu_count()} CPUs")
        print(f"{'tool':<32}{'seconds':>9}{'MiB/s':>9}{'files/s':>10}")
        for name, secs in results.items():
            print(f"{name:<32}{secs:>9.2f}{mib / secs:>9.0f}{args.files / secs:>10.0f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
