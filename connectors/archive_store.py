"""``kind: archive_store`` — an archive catalog plus the folder holding the files.

For every catalogued file it computes what an auditor cannot take on trust:
``file_exists``, ``size_bytes``, ``actual_sha256`` and ``format`` sniffed from the
file's magic bytes (pdf, ofd, xml, jpg, png, tif). Hashing runs on every core
(threads: hashlib releases the GIL on large buffers) and is incremental: a cache
keyed by path, size and mtime_ns means an unchanged file is never read again.

A catalog path that leaves the root (``../``, absolute, or a symlink pointing out)
is refused and never opened: the row gets ``file_exists: false`` and a
``path_error`` saying why, so the integrity policy reports the file as missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ledgerguard.scanner.fsutil import atomic_write_text

from ._common import MAPPING_SCHEMA, TABULAR_SCHEMA, apply_mapping, read_tabular, resolve
from .base import CONNECTORS, Connector, ConnectorError

CHUNK = 1 << 20
CACHE_FORMAT = "ledgerguard-hash-cache/1"


def sniff(head: bytes, path: Path) -> str:
    """A file's type from its first bytes; an OFD is a ZIP whose root holds OFD.xml."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                return "ofd" if "OFD.xml" in zf.namelist() else "zip"
        except (zipfile.BadZipFile, OSError):
            return "unknown"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tif"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml"):
        return "xml"
    return "unknown"


@dataclass
class Hashed:
    sha256: str
    format: str


def hash_file(path: Path) -> Hashed:
    """SHA-256 and sniffed format in one read of the file."""
    h = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    head = b""
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            if not head:
                head = bytes(view[:16])
            h.update(view[:n])
    return Hashed(h.hexdigest(), sniff(head, path))


class HashCache:
    """``{relative path: [size, mtime_ns, sha256, format]}`` in a JSON file, written atomically."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, list] = {}
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("format") == CACHE_FORMAT:
                    self.entries = data.get("files") or {}
            except (OSError, ValueError, AttributeError):
                self.entries = {}  # a damaged cache only costs a re-read

    def get(self, rel: str, st: os.stat_result) -> Hashed | None:
        hit = self.entries.get(rel)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return Hashed(hit[2], hit[3])
        return None

    def put(self, rel: str, st: os.stat_result, hashed: Hashed) -> None:
        self.entries[rel] = [st.st_size, st.st_mtime_ns, hashed.sha256, hashed.format]

    def save(self, keep: set[str]) -> None:
        if self.path is None:
            return
        files = {k: v for k, v in sorted(self.entries.items()) if k in keep}
        atomic_write_text(self.path, json.dumps({"format": CACHE_FORMAT, "files": files}))


@CONNECTORS.register("archive_store")
class ArchiveStoreConnector(Connector):
    settings_schema = {
        "type": "object",
        "required": ["catalog", "root"],
        "properties": {
            "catalog": {"type": "string", "minLength": 1, "description": "CSV, XLSX or JSON catalog"},
            "root": {"type": "string", "minLength": 1, "description": "folder the catalog paths are under"},
            "cache": {"type": "string", "minLength": 1,
                      "description": "hash cache file (JSON); without it every file is read each run"},
            "workers": {"type": "integer", "minimum": 1, "description": "default: CPU count"},
            **TABULAR_SCHEMA,
            **MAPPING_SCHEMA,
        },
    }

    files_read = 0  # how many files the last collect() opened (the incremental test counts it)

    def tables(self) -> list[str]:
        return ["archives"]

    def collect(self) -> dict[str, pd.DataFrame]:
        catalog = resolve(self.base_dir, self.settings["catalog"])
        root = resolve(self.base_dir, self.settings["root"])
        if not root.is_dir():
            raise ConnectorError(f"archive root {root} is not a folder")
        df = apply_mapping(read_tabular(catalog, self.settings), "archives", self.settings,
                           str(catalog), self.timezone)
        if "path" not in df.columns:
            raise ConnectorError(f"{catalog}: the catalog has no 'path' column (map one with columns:)")
        cache_setting = self.settings.get("cache")
        cache = HashCache(resolve(self.base_dir, cache_setting) if cache_setting else None)
        real_root = root.resolve()
        n = len(df)
        exists, sizes, digests, formats, errors = [False] * n, [None] * n, [None] * n, [None] * n, [None] * n
        to_hash: list[tuple[int, str, Path, os.stat_result]] = []
        present: set[str] = set()
        for i, raw in enumerate(df["path"]):
            if not isinstance(raw, str) or not raw.strip():
                errors[i] = "no path in the catalog"
                continue
            rel, target, error = _inside(real_root, raw.strip())
            if error:
                errors[i] = error
                continue
            try:
                st = target.stat()
            except OSError:
                continue  # missing: file_exists stays false
            if not target.is_file():
                errors[i] = "not a regular file"
                continue
            exists[i], sizes[i] = True, str(st.st_size)
            present.add(rel)
            hit = cache.get(rel, st)
            if hit:
                digests[i], formats[i] = hit.sha256, hit.format
            else:
                to_hash.append((i, rel, target, st))
        self.files_read = len(to_hash)
        self._hash_all(to_hash, cache, digests, formats, errors, exists)
        cache.save(present)
        if "format" in df.columns:
            df["catalog_format"] = df["format"]
            formats = [f or c for f, c in zip(formats, df["format"], strict=True)]
        df["file_exists"] = ["true" if e else "false" for e in exists]
        df["size_bytes"], df["actual_sha256"], df["format"] = sizes, digests, formats
        df["path_error"] = errors
        return {"archives": df.astype("str").where(df.notna())}

    def _hash_all(self, jobs, cache, digests, formats, errors, exists) -> None:
        """Hash on every core; progress counts files done."""
        workers = self.settings.get("workers") or os.cpu_count() or 1
        total = len(jobs)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [(i, rel, st, pool.submit(hash_file, target)) for i, rel, target, st in jobs]
            for done, (i, rel, st, fut) in enumerate(futures, 1):
                try:
                    hashed = fut.result()
                except OSError as exc:
                    errors[i], exists[i] = f"cannot read: {exc.strerror}", False
                    continue
                digests[i], formats[i] = hashed.sha256, hashed.format
                cache.put(rel, st, hashed)
                if done % 50 == 0 or done == total:
                    self.report_progress(done, total, "files hashed")


def _inside(real_root: Path, raw: str) -> tuple[str, Path, str | None]:
    """(path relative to the root, the file, why it is refused or None)."""
    p = Path(raw.replace("\\", "/"))
    if p.is_absolute():
        return raw, p, "absolute path refused: catalog paths are relative to the root"
    target = real_root / p
    try:
        rel = target.resolve().relative_to(real_root)
    except ValueError:
        return raw, target, "path leaves the archive root (../ or a symlink pointing out): refused"
    return rel.as_posix(), target, None
