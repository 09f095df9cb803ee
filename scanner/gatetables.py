"""The gate's typed tables: each table a gate reads, as ``read_snapshot`` typed it, kept beside
the snapshot in Arrow IPC so the next ``ledgerguard gate`` maps it instead of parsing it.

A CI pipeline runs many gates against one nightly snapshot, each in a fresh process. Reading
the ten access tables of a 100k-person snapshot costs ~0.25 s CPU each time (Parquet
decoding ~0.14 s, typing and checking every value ~0.07 s), while the gate then looks at a
few dozen of their rows. An uncompressed Arrow IPC file of the typed table is memory-mapped
and wrapped without decoding or copying (~0.03 s for all ten at M, in a fresh process;
reading the ~100 MB into memory instead took ~0.29 s, a quarter of a gate's second). The
copies are this module's own: it replaces one only by renaming a new file over it and
removes one only by unlinking it, and a mapping of the old file stays valid through both.
Only truncating a copy in place while a gate runs (no ledgerguard command does) could fault
its frames.

Each file is ``<snapshot>/.ledgerguard/table-<name>-<key>.arrow``; its key (in the name and
in the schema metadata) holds the table's name, the sha256 of its file (hashed on every
gate: a file changed in any byte is another key), the snapshot's timezone (time columns are
typed in it), the format of this file and the digest of the scanner's source (a reader that
types differently is another key). A copy is written only of a table ``read_snapshot`` read
and checked whole (bad values are an input error there, and nothing is written), so a
copy's rows passed the same checks. A file whose key differs, that does not parse, or whose
columns are not the ones written is ignored and rewritten: a stale or foreign copy is never
trusted. A table the manifest marks unusable, a file whose bytes differ from the manifest's
sha256 (``read_snapshot`` reports it), and a manifest without a ``tables`` list are read
as without this module. Writing is atomic; a folder that cannot be written only makes the
next gate slower. Writing a table's copy removes the copies of that table with another key.

The cost is disk: uncompressed, the copies are ~5× the Parquet files of those tables
(~100 MB at 100k people). ``gate --no-cache`` neither reads nor writes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from pathlib import Path

from .fsutil import atomic_file
from .gatecache import FOLDER, _source_digest
from .lazy import pandas as pd
from .lazy import pyarrow as pa
from .snapshot import Snapshot, arrow_types, file_sha256, read_manifest, read_snapshot

log = logging.getLogger(__name__)

#: the shape of a copy; a copy of another format is ignored
FORMAT = 1
_KEY = b"ledgerguard.gate.table"


def _key(name: str, sha256: str, tz: str) -> tuple[str, str]:
    """(the key's JSON, its digest for the file name)."""
    text = json.dumps({"format": FORMAT, "source": _source_digest(), "table": name, "sha256": sha256, "tz": tz},
                      sort_keys=True)
    return text, hashlib.sha256(text.encode()).hexdigest()[:24]


def _path(root: Path, name: str, digest: str) -> Path:
    return root / FOLDER / f"table-{name}-{digest}.arrow"


def _load(path: Path, key: str) -> pd.DataFrame | None:
    """The typed table of a copy whose key is ``key``; None when there is none (or a stale,
    foreign or unreadable one)."""
    if not path.is_file():
        return None
    try:
        table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
        if (table.schema.metadata or {}).get(_KEY) != key.encode():
            raise ValueError("written for another table file, timezone or version")
        return table.to_pandas(types_mapper=arrow_types().get)
    except (OSError, ValueError, pa.ArrowException) as exc:
        log.info("gate table copy %s not used (%s): reading the table", path, exc)
        return None


def _write(path: Path, key: str, df: pd.DataFrame) -> None:
    """Write the copy of one typed table (atomically) and remove the table's copies of other keys."""
    table = pa.Table.from_pandas(df, preserve_index=False)  # its pandas metadata keeps Int64 columns Int64
    table = table.replace_schema_metadata({**table.schema.metadata, _KEY: key})
    try:
        path.parent.mkdir(exist_ok=True)
        with atomic_file(path, "wb") as fh, pa.ipc.new_file(fh, table.schema) as writer:
            writer.write_table(table)
    except (OSError, pa.ArrowException) as exc:
        log.info("gate table copy not written to %s (%s): the next gate reads the table again", path, exc)
        return
    log.info("gate table copy written to %s", path)
    mine = re.compile(rf"^table-{re.escape(path.stem.rsplit('-', 1)[0][len('table-'):])}-[0-9a-f]{{24}}\.arrow$")
    for other in path.parent.iterdir():
        if other != path and mine.match(other.name):
            with contextlib.suppress(OSError):
                other.unlink()


def read_gate_snapshot(path: str | Path, only: set[str] | None, cache: bool = True) -> Snapshot:
    """``read_snapshot(path, only=only)``, with each table of ``only`` taken from its typed copy
    when one of its key is there, and the copies of the others written (``cache``; ``only`` None
    or a manifest without a table list: read as ``read_snapshot`` reads)."""
    root = Path(path)
    manifest = root / "manifest.json"
    if not cache or only is None or not manifest.is_file():
        return read_snapshot(path, only=only)
    entries = read_manifest(manifest).get("tables")
    if entries is None:
        return read_snapshot(path, only=only)
    tz = read_snapshot(path, only=set()).timezone  # the manifest's checks and timezone; no table read
    copied: dict[str, pd.DataFrame] = {}
    hashes: dict[str, str] = {}
    keys: dict[str, tuple[str, Path]] = {}
    for name in sorted(only & set(entries)):
        file = root / (entries[name].get("file") or f"{name}.csv")
        if not file.is_file() or file.resolve().parent != root.resolve():
            continue  # read_snapshot names the problem
        sha = file_sha256(file)
        recorded = entries[name].get("sha256")
        if recorded and recorded.lower() != sha:
            continue  # read_snapshot names the problem
        key, digest = _key(name, sha, tz)
        keys[name] = (key, _path(root, name, digest))
        df = _load(keys[name][1], key)
        if df is not None:
            copied[name], hashes[name] = df, sha
    snap = read_snapshot(path, only=only - set(copied))
    for name in set(copied) & set(snap.unusable):  # a failed source: never a table
        del copied[name], hashes[name]
    for name in sorted(set(keys) - set(copied)):
        sha = json.loads(keys[name][0])["sha256"]
        if name in snap.tables and snap.table_hashes.get(name) == sha:  # the file did not change meanwhile
            _write(keys[name][1], keys[name][0], snap.tables[name])
    tables = {**snap.tables, **copied}
    unread = {k: v for k, v in snap.unread_rows.items() if k not in copied}
    return Snapshot(snap.path, snap.timezone, snap.taken_at, {n: tables[n] for n in entries if n in tables},
                    {**snap.table_hashes, **hashes}, snap.sources, snap.unusable, unread)
