"""The gate's base cache: what ``gate`` computes from the current state alone, kept beside
the snapshot so the next gate against the same snapshot does not compute it again.

A CI pipeline runs many gates against one nightly snapshot; everything a gate derives
from the snapshot without looking at the change is the same each time:

* ``outcomes``: a policy's outcome on the whole current state — of the policies the gate
  evaluates on the whole states (kinds neither local nor narrowed, scanner/gate.py), and
  of the policies a waiver names (a waiver is judged on the whole proposed state);
* ``bases``: what a narrowed kind needs to choose its people (``Handover.gate_base``);
* the *regional base* (``regional``): the whole current state's findings of the policies
  the gate evaluates on the change's region (its local kinds), so that the region's
  current-state findings are looked up instead of evaluated (scanner/gate.py says why
  that is exact). They are many (thousands at 100k people) while a gate needs the few of
  its region, so they live in an uncompressed Arrow IPC file beside the JSON, one row per
  finding (subject, policy, its text as JSON): a gate maps it, looks its subjects up in the
  subject column, and parses only those findings (~3 ms at 100k people; a Parquet file
  read with a subject filter took ~25 ms, its ~350 subjects touching every row group). It
  is replaced only by renaming a new file over it and removed only by unlinking it, so a
  gate's mapping stays valid (as the table copies', scanner/gatetables.py).
* the *row index* (``RowIndex``, ``gate-<key>.index``): the columns of the whole snapshot's
  tables the gate cuts its region by, sorted, so the rows of a few ids are a binary search
  away instead of a hash of the whole column; written with the regional base, under its key.

The files are ``<snapshot>/.ledgerguard/gate-<key>.json``, ``gate-<key>.arrow`` (its
schema metadata holds the key and each policy's status, error and coverage) and
``gate-<key>.index`` (its header holds the key); each holds its whole key: the
snapshot's content hashes (the manifest's), the policies (their files' bytes and their
full definitions, params included), the as-of instant, the tool's version and the
digest of the scanner's source. A file whose key differs in anything, that does not
parse, or that is not shaped as written here is ignored and rewritten: a stale or
foreign cache is never trusted. Writing is atomic (fsutil.atomic_write_text); a folder
that cannot be written (a read-only snapshot) only makes the next gate slower, said at
``-v``. ``gate --no-cache`` neither reads nor writes it.

The policy packs themselves are kept there too (``load_packs_cached``): reading the built-in
pack's YAML and checking it against the pack schema costs ~0.1 s of every CLI gate (with
jsonschema's own import, which the change file's check pays anyway), while its result is a
function of the pack files' bytes and the scanner's code alone. ``packs-<key>.json`` holds
the loaded packs as JSON, keyed by the path and sha256 of every pack file, the tool's version
and the digest of the scanner's source; another key, a file that does not parse or is not
shaped as written, is ignored and the packs are loaded (and the file rewritten). Packs that
JSON cannot hold exactly (a YAML date in params) are never written.

Each as-of (and pack, and version) is another key, so a pipeline that passes its own
``--as-of`` each run would leave a file per run: after writing, the folder keeps the
``KEEP`` most recently written keys and removes the others' files. A gate that was still
reading a removed file keeps its open copy; the next one with that key computes it again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import zlib
from collections.abc import Callable, Collection
from dataclasses import asdict
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from . import __version__
from .context import isin
from .contract import PolicyOutcome
from .fsutil import atomic_file, atomic_write_text
from .lazy import numpy as np
from .lazy import pandas as pd
from .lazy import pyarrow as pa
from .policy import Control, Policy, PolicyPack, builtin_pack_path, load_packs, pack_files
from .snapshot import Snapshot

log = logging.getLogger(__name__)

#: the shape of the file; a file of another format is ignored
FORMAT = 1
FOLDER = ".ledgerguard"
#: schema metadata keys of the regional base's Arrow file
_KEY, _HEADS = b"ledgerguard.gate.key", b"ledgerguard.gate.outcomes"
#: how many keys' files the folder keeps (the most recently written)
KEEP = 8
#: the files this module writes, and only those (never an atomic write's temporary file)
_OURS = re.compile(r"^gate-[0-9a-f]{24}\.(json|arrow|index)$")
#: the packs files (``load_packs_cached``)
_PACKS = re.compile(r"^packs-[0-9a-f]{24}\.json$")


@cache
def _source_digest() -> str:
    """The scanner's own source: a cache written by other code (same version number, edited
    kinds) is foreign too."""
    root = Path(__file__).parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _policies_digest(policies: list[Policy]) -> str:
    h = hashlib.sha256()
    for file in sorted({p.file for p in policies}):
        try:
            h.update(file.encode() + b"\0" + Path(file).read_bytes() + b"\0")
        except OSError:  # the built-in pack read from a zip, a test's in-memory policy: its definition counts
            h.update(file.encode() + b"\0")
    h.update(json.dumps([asdict(p) for p in policies], sort_keys=True, ensure_ascii=False, default=str).encode())
    return h.hexdigest()


class GateCache:
    """One gate's view of the cache file of (snapshot, policies, as-of, tool)."""

    def __init__(self, snapshot: Snapshot, policies: list[Policy], as_of: str, enabled: bool = True) -> None:
        self.key = {"format": FORMAT, "version": __version__, "source": _source_digest(),
                    "snapshot": snapshot.sha256, "tables": dict(sorted(snapshot.table_hashes.items())),
                    "policies": _policies_digest(policies), "as_of": as_of}
        digest = hashlib.sha256(json.dumps(self.key, sort_keys=True).encode()).hexdigest()[:24]
        self.path = Path(snapshot.path) / FOLDER / f"gate-{digest}.json" if snapshot.path and enabled else None
        self._policies = {p.id: p for p in policies}
        self._data = self._read()
        self._dirty = False

    @property
    def enabled(self) -> bool:
        """Is there a cache file to read and write (not ``--no-cache``, the snapshot has a folder)?"""
        return self.path is not None

    def _read(self) -> dict[str, Any]:
        empty: dict[str, Any] = {"outcomes": {}, "bases": {}, "roles": None}
        if self.path is None or not self.path.is_file():
            return empty
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not (isinstance(data, dict) and data.get("key") == self.key and isinstance(data.get("outcomes"), dict)
                    and isinstance(data.get("bases"), dict)):
                raise ValueError("written for another snapshot, policy set, as-of or version")
            for pid, o in data["outcomes"].items():
                if pid not in self._policies or not isinstance(o, dict) or not isinstance(o.get("findings"), list):
                    raise ValueError(f"outcome of {pid!r} malformed")
            roles = data.get("roles")
            if roles is not None and not (isinstance(roles, list) and all(
                    isinstance(r, list) and len(r) == 3 and isinstance(r[0], str) and isinstance(r[1], str)
                    and isinstance(r[2], int) for r in roles)):
                raise ValueError("grant roles malformed")
        except (OSError, ValueError) as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
            log.info("gate cache %s not used (%s): computing the base evaluation again", self.path, exc)
            return empty
        log.info("gate cache %s used", self.path)
        return {"outcomes": data["outcomes"], "bases": data["bases"], "roles": data.get("roles")}

    def outcomes(self, policies: list[Policy],
                 compute: Callable[[list[Policy]], list[PolicyOutcome]]) -> list[PolicyOutcome]:
        """The policies' outcomes on the whole current state: the cached ones, the others
        computed (together: ``compute`` may use worker processes) and kept."""
        stored = self._data["outcomes"]
        missing = [p for p in policies if p.id not in stored]
        if missing:
            for out in compute(missing):
                # copies: later steps annotate the findings they pass on (waivers, locations)
                stored[out.policy.id] = {"status": out.status, "findings": [{**f} for f in out.findings],
                                         "error": out.error, "coverage": out.coverage}
            self._dirty = True
        return [PolicyOutcome(p, stored[p.id]["status"], [{**f} for f in stored[p.id]["findings"]],
                              stored[p.id]["error"], stored[p.id]["coverage"]) for p in policies]

    def base(self, policy: Policy, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """What a narrowed kind needs of the current state (its ``gate_base``), cached."""
        if policy.id not in self._data["bases"]:
            self._data["bases"][policy.id] = json.loads(json.dumps(compute()))
            self._dirty = True
        return self._data["bases"][policy.id]

    def grant_roles(self, compute: Callable[[], dict[tuple[str, str], int]]) -> dict[tuple[str, str], int]:
        """How many grants of the current state hold each (system, role) (``gate.grant_roles``),
        cached: counting them takes ~20 ms at size M."""
        if self._data["roles"] is None:
            self._data["roles"] = [[system, role, n] for (system, role), n in compute().items()]
            self._dirty = True
        return {(system, role): n for system, role, n in self._data["roles"]}

    def keeps_regional(self, policies: list[Policy]) -> bool:
        """Does a regional base of ``policies`` exist, or can one be written? Computing it is a
        whole-state evaluation, worth paying only when the next gates can read it: beside a
        read-only snapshot the gate evaluates the region's current state instead."""
        if self.path is None:
            return False
        heads = self._regional_heads
        if heads is not None and all(p.id in heads for p in policies):
            return True
        return _writable(self.path.parent)

    def judged(self, policy: Policy) -> bool:
        """Does the regional base hold a verdict of ``policy`` on the whole current state (pass
        or fail; an error is kept too)? Not when there is none yet, or it says inconclusive: a
        change may give an inconclusive policy its first subject to examine."""
        heads = self._regional_heads
        return heads is not None and policy.id in heads and heads[policy.id]["status"] != "inconclusive"

    def regional(self, policies: list[Policy], wanted: list[Policy], subjects: Collection[str],
                 compute: Callable[[list[Policy]], list[PolicyOutcome]]) -> list[PolicyOutcome]:
        """The outcomes of ``wanted`` on the whole current state, holding only the findings whose
        subject is one of ``subjects``. From the regional base when it holds every one of
        ``policies`` (a valid file of this key); otherwise all of ``policies`` are computed
        (together: ``compute`` may use worker processes) and the file is written, so the next
        gate of any change finds them."""
        heads = self._regional_heads
        if heads is None or any(p.id not in heads for p in policies):
            outcomes = {o.policy.id: o for o in compute(policies)}
            self._write_regional(list(outcomes.values()))
            mine = set(subjects)
            return [PolicyOutcome(p, outcomes[p.id].status,
                                  [json.loads(json.dumps(f, ensure_ascii=False))  # as read from the file
                                   for f in outcomes[p.id].findings if f["subject"] in mine],
                                  outcomes[p.id].error, outcomes[p.id].coverage) for p in wanted]
        import pyarrow.compute as pc

        ids = [p.id for p in wanted]
        table = self._regional_table()
        rows = table.filter(pc.and_(pc.is_in(table["subject"], value_set=pa.array(sorted(subjects), pa.string())),
                                    pc.is_in(table["policy_id"], value_set=pa.array(ids, pa.string()))))
        found: dict[str, list[tuple[int, str]]] = {pid: [] for pid in ids}
        for pid, n, text in zip(*(rows.column(c).to_pylist() for c in ("policy_id", "n", "finding")), strict=True):
            found[pid].append((n, text))
        found = {pid: [json.loads(text) for _, text in sorted(these)] for pid, these in found.items()}  # kind's order
        return [PolicyOutcome(p, heads[p.id]["status"], found[p.id], heads[p.id]["error"], heads[p.id]["coverage"])
                for p in wanted]

    @property
    def _regional_path(self) -> Path:
        assert self.path is not None
        return self.path.with_suffix(".arrow")

    def _regional_table(self) -> pa.Table:
        """The regional base, mapped (nothing is read until a column is used)."""
        return pa.ipc.open_file(pa.memory_map(str(self._regional_path))).read_all()

    @cached_property
    def _regional_heads(self) -> dict[str, Any] | None:
        """Each policy's status, error and coverage in a regional base of this key; None when
        there is none (or a stale, foreign or unreadable one: ignored, then rewritten). Read once
        per gate, which asks several times (~0.5 ms a read at size M); forgotten when this gate
        writes the regional base."""
        if self.path is None or not self._regional_path.is_file():
            return None
        try:
            meta = self._regional_table().schema.metadata or {}
            if meta.get(_KEY) != json.dumps(self.key, sort_keys=True).encode():
                raise ValueError("written for another snapshot, policy set, as-of or version")
            heads = json.loads(meta[_HEADS])
            if not (isinstance(heads, dict) and all(
                    pid in self._policies and isinstance(h, dict) and {"status", "error", "coverage"} <= set(h)
                    for pid, h in heads.items())):
                raise ValueError("outcomes malformed")
        except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
            log.info("gate cache %s not used (%s): computing the base evaluation again", self._regional_path, exc)
            return None
        return heads

    def _write_regional(self, outcomes: list[PolicyOutcome]) -> None:
        """Write the regional base of ``outcomes`` (atomically; an unwritable folder only costs time)."""
        if self.path is None:
            return
        rows = sorted((f["subject"], o.policy.id, n, json.dumps(f, ensure_ascii=False))
                      for o in outcomes for n, f in enumerate(o.findings))
        heads = {o.policy.id: {"status": o.status, "error": o.error, "coverage": o.coverage} for o in outcomes}
        table = pa.table({name: pa.array([r[i] for r in rows], type)
                          for i, (name, type) in enumerate((("subject", pa.string()), ("policy_id", pa.string()),
                                                            ("n", pa.int64()), ("finding", pa.string())))})
        table = table.replace_schema_metadata({_KEY: json.dumps(self.key, sort_keys=True),
                                               _HEADS: json.dumps(heads, ensure_ascii=False)})
        try:
            self.path.parent.mkdir(exist_ok=True)
            with atomic_file(self._regional_path, "wb") as fh, pa.ipc.new_file(fh, table.schema) as writer:
                writer.write_table(table)
            self.__dict__.pop("_regional_heads", None)
        except (OSError, pa.ArrowException) as exc:
            log.info("gate cache not written to %s (%s): the next gate computes the base evaluation again",
                     self._regional_path, exc)
            return
        log.info("gate cache written to %s", self._regional_path)
        self._prune()

    def save(self) -> None:
        """Write what this gate added (atomically); an unwritable folder only costs time."""
        if not self._dirty or self.path is None:
            return
        try:
            self.path.parent.mkdir(exist_ok=True)
            atomic_write_text(self.path, json.dumps({"key": self.key, **self._data}, ensure_ascii=False))
        except OSError as exc:
            log.info("gate cache not written to %s (%s): the next gate computes the base evaluation again",
                     self.path, exc)
            return
        self._dirty = False
        log.info("gate cache written to %s", self.path)
        self._prune()

    def _prune(self) -> None:
        """Remove the files of all but the ``KEEP`` most recently written keys (this one is
        the newest); a file another gate removed first, or one that cannot go, is left be."""
        assert self.path is not None
        newest: dict[str, float] = {}
        files: list[Path] = []
        for entry in os.scandir(self.path.parent):
            if _OURS.match(entry.name):
                files.append(Path(entry.path))
                with contextlib.suppress(OSError):
                    stem = entry.name.rsplit(".", 1)[0]
                    newest[stem] = max(newest.get(stem, 0.0), entry.stat().st_mtime)
        kept = set(sorted(newest, key=newest.__getitem__, reverse=True)[:KEEP]) | {self.path.stem}
        for path in files:
            if path.name.rsplit(".", 1)[0] not in kept:
                with contextlib.suppress(OSError):
                    path.unlink()
                    log.info("gate cache %s removed (more than %d keys in the folder)", path, KEEP)


#: the first bytes of a row index file (``RowIndex``); then the header's length (8 bytes, little
#: endian), the header (JSON) and the entries' arrays
_MAGIC = b"LGGIDX01"


class RowIndex:
    """The rows of the whole snapshot's tables that hold one of a few values in a column.

    A gate cuts its region from the whole snapshot by a handful of account ids and person ids,
    and a hash lookup (``context.isin``) hashes every value of the column to find them: 1–8 ms
    CPU each over the grants (386k rows at 100k people), accounts, reviews, access log and
    identities, ~25 ms of a gate. With the base cache on, each column the gate looks up
    (``columns``) is kept sorted beside the snapshot in ``gate-<key>.index`` (the regional
    base's key: written with it, pruned with it): its non-empty values as fixed-width UTF-8
    bytes in ascending order and each one's row, memory-mapped by the next gates, so a value's
    rows are a binary search away (every value looked for at once: ``_bounds``). The file is
    written whole once per key by a gate that finds none (sorting the columns takes ~0.4 s CPU
    at 100k people, beside the regional base's whole evaluation, ~1.5 s), atomically, and only replaced by
    renaming or removed by unlinking (a mapping stays valid, as the regional base's).

    Never trusted stale, foreign or damaged: the header holds the key (another key: ignored
    and rewritten) and each entry's row count (another count: not this table), the file's
    length (a truncated file: ignored) and a CRC-32 of each block of sorted values, checked
    for the blocks a search reads (``_Sorted``: checking the whole ~15 MB took ~5–10 ms a
    gate); a damaged block is not trusted, the column is looked up by hashing and the file
    written again. And every row found is checked against the table itself (its value is one
    looked for, no row twice): a row that is not is damage too. A column the file does not
    hold, or holds no longer, is looked up by hashing as without the index: the answer is the
    same, only slower."""

    def __init__(self, tables: dict[str, pd.DataFrame], columns: dict[str, tuple[str, ...]] | None = None,
                 cache: GateCache | None = None) -> None:
        """``columns``: those of ``tables`` to keep sorted in the file of ``cache`` (its key; no
        file without a cache, or with one that is off): found, or sorted and written, at the
        first look-up."""
        self.tables = tables
        self.path = cache.path.with_suffix(".index") if cache is not None and cache.path is not None else None
        self._key = json.dumps(cache.key, sort_keys=True) if cache is not None else ""
        self._wanted = {(name, c) for name, cols in (columns or {}).items() if name in tables
                        for c in cols if c in tables[name].columns and _indexable(tables[name][c])}
        self._entries: dict[tuple[str, str], _Sorted | None] = {}
        self._header: dict[str, Any] = {}
        self._mapped: np.ndarray | None = None
        self._start = 0
        self._opened = self.path is None or not self._wanted

    def _open(self) -> None:
        """Map a file of this key, else write one when the folder can be written."""
        assert self.path is not None
        try:
            self._read()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if self.path.exists():
                log.info("gate row index %s not used (%s): looking the rows up by hashing", self.path, exc)
            self._mapped, self._header = None, {}
            self._write()

    def _read(self) -> None:
        assert self.path is not None
        mapped = np.memmap(self.path, mode="r")
        if bytes(mapped[:8]) != _MAGIC:
            raise ValueError("not a row index file")
        size = int.from_bytes(bytes(mapped[8:16]), "little")
        header = json.loads(bytes(mapped[16:16 + size]).decode("utf-8"))
        if not isinstance(header, dict) or header.get("key") != self._key:
            raise ValueError("written for another snapshot, policy set, as-of or version")
        if not isinstance(header.get("entries"), dict) or not isinstance(header.get("data"), int):
            raise ValueError("header malformed")
        if 16 + size + header["data"] != len(mapped):
            raise ValueError(f"{len(mapped)} bytes, written with {16 + size + header['data']} (truncated?)")
        self._mapped, self._header, self._start = mapped, header, 16 + size

    def _write(self) -> None:
        """Sort every wanted column and write the file (atomically); the entries are then used
        from memory. A folder that cannot be written (a read-only snapshot) gets no file, and
        costs no sorting: the columns are looked up by hashing."""
        assert self.path is not None
        folder = self.path.parent
        if not _writable(folder):
            return
        entries, arrays, offset = {}, [], 0
        for name, column in sorted(self._wanted):
            self._entries[(name, column)] = entry = _sorted_column(self.tables[name][column])
            if entry is None:
                continue
            values, rows = entry.keys, entry.rows
            blob = values.tobytes() + rows.tobytes()
            entries[f"{name}.{column}"] = {"rows": len(self.tables[name]), "count": len(rows),
                                           "width": values.dtype.itemsize, "offset": offset,
                                           "crc32": block_crcs(values)}
            arrays.append(blob)
            offset += len(blob)
        text = json.dumps({"key": self._key, "entries": entries, "data": offset}).encode()
        try:
            folder.mkdir(exist_ok=True)
            with atomic_file(self.path, "wb") as fh:
                fh.write(_MAGIC + len(text).to_bytes(8, "little") + text)
                for blob in arrays:
                    fh.write(blob)
        except OSError as exc:
            log.info("gate row index not written to %s (%s): the next gate looks the rows up by hashing",
                     self.path, exc)
            return
        log.info("gate row index written to %s", self.path)

    def _entry(self, name: str, column: str) -> _Sorted | None:
        """The sorted values and their rows of one column, from the mapped file (its row count
        and shape checked; its blocks' CRC-32 as a search reads them); None when the file has no
        usable entry for it."""
        if not self._opened:
            self._opened = True
            self._open()
        if (name, column) not in self._entries:
            self._entries[(name, column)] = None
            head = self._header.get("entries", {}).get(f"{name}.{column}")
            if (name, column) in self._wanted and self._mapped is not None and isinstance(head, dict):
                try:
                    self._entries[(name, column)] = self._map(head, len(self.tables[name]))
                except (ValueError, KeyError, TypeError) as exc:
                    log.info("gate row index %s: %s.%s not used (%s)", self.path, name, column, exc)
                    self._damaged()
        return self._entries[(name, column)]

    def _map(self, head: dict[str, Any], rows: int) -> _Sorted:
        assert self._mapped is not None
        if head["rows"] != rows:
            raise ValueError(f"written for {head['rows']} rows, the table has {rows}")
        start = self._start + int(head["offset"])
        count, width, crcs = int(head["count"]), int(head["width"]), head["crc32"]
        blob = self._mapped[start:start + count * (width + 4)]
        if len(blob) != count * (width + 4) or width < 1 or not isinstance(crcs, list) \
                or len(crcs) != -(-count // BLOCK):
            raise ValueError("not shaped as written")
        blob = blob.view(np.ndarray)  # a plain array: each slice of a memmap is a memmap, ~10 µs each
        return _Sorted(blob[:count * width].view(f"S{width}"), blob[count * width:].view("<i4"), crcs)

    def _damaged(self) -> None:
        """Drop the whole file: this gate hashes what it has not looked up yet, the next one
        finds a new file (written now, from the tables in memory)."""
        self._mapped, self._header, self._entries = None, {}, {}
        self._write()

    def positions(self, name: str, column: str, values: Collection[str]) -> np.ndarray:
        """The rows (positions, ascending) of table ``name`` whose ``column`` is one of ``values``."""
        column_values = self.tables[name][column]
        entry = self._entry(name, column)
        if entry is not None:
            import pyarrow.compute as pc

            found, probed = _search(entry, values)
            held = pa.array(column_values).take(found)
            wanted = pa.array([v for v in values if isinstance(v, str)], pa.string())
            if not entry.intact(probed):
                log.info("gate row index %s: %s.%s damaged (a CRC-32 differs)", self.path, name, column)
                self._damaged()
            elif bool(np.all(found[1:] > found[:-1])) and pc.all(pc.is_in(held, value_set=wanted)).as_py() is not False:
                return found
            else:
                log.info("gate row index %s: %s.%s names rows without the values (damaged)", self.path, name, column)
                self._damaged()
        log.debug("gate row index: %s.%s looked up by hashing", name, column)
        return np.flatnonzero(isin(column_values, sorted(values)).to_numpy())


#: sorted values a CRC-32 of the row index covers: a look-up checks the blocks its binary search
#: read, not the whole file (~15 MB at 100k people, ~5 ms to check whole)
BLOCK = 1024


class _Sorted:
    """One column's sorted values (``keys``) and the row of each (``rows``), with the CRC-32 of
    each ``BLOCK`` of keys as written (None: sorted in this process, nothing to check).

    A binary search reads only the keys it compares with; when those are as written, it ends
    where it would in the file as written, so checking the blocks it read is enough. The rows
    need no checksum: every row found is checked against the table (its value is the one looked
    for, no row twice), and the rows of a value, as written, are exactly the table's rows of it
    — a damaged row number names a row of another value or one already found."""

    def __init__(self, keys: np.ndarray, rows: np.ndarray, crcs: list[int] | None = None) -> None:
        self.keys, self.rows, self.crcs = keys, rows, crcs
        self._checked: set[int] = set()

    def intact(self, probed: np.ndarray) -> bool:
        """Are the blocks holding the ``probed`` keys as written?"""
        if self.crcs is None:
            return True
        raw = self.keys.view("uint8")
        size = BLOCK * self.keys.dtype.itemsize
        for block in np.unique(probed // BLOCK).tolist():
            if block not in self._checked:
                if zlib.crc32(raw[block * size:(block + 1) * size]) != self.crcs[block]:
                    return False
                self._checked.add(block)
        return True


def block_crcs(keys: np.ndarray) -> list[int]:
    """The CRC-32 of each ``BLOCK`` of sorted keys (``_Sorted``)."""
    raw, size = keys.view("uint8"), BLOCK * keys.dtype.itemsize
    return [zlib.crc32(raw[i:i + size]) for i in range(0, len(raw), size)]


def _writable(folder: Path) -> bool:
    """Can the cache's folder be written (created, when it does not exist)?"""
    if folder.exists():
        return folder.is_dir() and os.access(folder, os.W_OK)
    return os.access(folder.parent, os.W_OK)


def _indexable(values: pd.Series) -> bool:
    """A text column held as Arrow strings (the snapshot's ids): others are looked up by hashing."""
    return isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"


def _sorted_column(values: pd.Series) -> _Sorted | None:
    """A column's non-empty values as UTF-8 bytes in ascending order, and the row of each. None
    for a column holding a value that ends in a NUL character: NumPy's bytes drop trailing NULs,
    so such a column is looked up by hashing (and a value looked for that ends in one is in no
    indexed column: ``_search``)."""
    rows = np.flatnonzero(values.notna().to_numpy()).astype("<i4")
    text = [v.encode("utf-8") for v in values.to_numpy()[rows]]
    if any(t.endswith(b"\0") for t in text):
        return None
    encoded = np.array(text, dtype="S")
    order = np.argsort(encoded, kind="stable")
    return _Sorted(encoded[order], rows[order])


def _search(entry: _Sorted, values: Collection[str]) -> tuple[np.ndarray, np.ndarray]:
    """The rows holding one of ``values`` in a sorted column, ascending, and the positions of the
    keys the search read (``_Sorted.intact``). A value longer than the column's widest, or ending
    in a NUL, holds no row (NumPy would cut it to the width, or drop the NUL, and find another
    value's rows)."""
    keys, width = entry.keys, entry.keys.dtype.itemsize
    wanted = np.array(sorted({e for v in values if isinstance(v, str) and len(e := v.encode("utf-8")) <= width
                              and not e.endswith(b"\0")}), dtype=keys.dtype)
    if len(wanted) <= SEARCHED:
        (lo, hi), read = _bounds(keys, wanted)
    else:  # many values: NumPy's own search, and every block checked (its few ms are then the lesser cost)
        lo, hi = np.searchsorted(keys, wanted, "left"), np.searchsorted(keys, wanted, "right")
        read = np.arange(0, len(keys), BLOCK)
    counts = hi - lo
    # each range lo..hi of the sorted rows, end to end: its start, then one more per row
    at = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
    return np.sort(entry.rows[at]), read


#: up to this many values a look-up searches them in Python steps that say which keys it read
#: (``_bounds``, ~20 NumPy steps per search); more take NumPy's search and check every block
SEARCHED = 64


def _bounds(keys: np.ndarray, wanted: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """``np.searchsorted(keys, wanted, "left")`` and ``(…, "right")``, every value and both sides
    at once, and the positions of the keys they compared with."""
    right = np.repeat([False, True], len(wanted))
    wanted = np.concatenate([wanted, wanted])
    lo, hi = np.zeros(len(wanted), dtype="int64"), np.full(len(wanted), len(keys), dtype="int64")
    read = []
    while len(active := np.flatnonzero(lo < hi)):
        mid = (lo[active] + hi[active]) // 2
        read.append(mid)
        key, value = keys[mid], wanted[active]
        after = np.where(right[active], key <= value, key < value)
        lo[active[after]] = mid[after] + 1
        hi[active[~after]] = mid[~after]
    return (lo[:len(lo) // 2], lo[len(lo) // 2:]), np.concatenate(read) if read else lo[:0]


def _packs_key(files: list[Path]) -> str:
    """The key of a packs file: the format, tool version, scanner source, and each pack file's
    path (as named: it is in every loaded policy) and sha256."""
    return json.dumps({"format": FORMAT, "version": __version__, "source": _source_digest(),
                       "files": [[str(f), hashlib.sha256(f.read_bytes()).hexdigest()] for f in files]},
                      sort_keys=True)


def _packs_from_json(items: list[dict[str, Any]]) -> list[PolicyPack]:
    """The packs as ``load_packs_cached`` writes them (tuples come back as lists in JSON)."""
    return [PolicyPack(**{**p, "policies": [Policy(**{**q, "references": tuple(q["references"])})
                                            for q in p["policies"]],
                          "controls": [Control(**{**c, "policies": tuple(c["policies"])}) for c in p["controls"]]})
            for p in items]


def load_packs_cached(paths: list[str | Path] | None, snapshot_dir: str | Path | None) -> list[PolicyPack]:
    """``policy.load_packs(paths)``, from the packs file of their key in the snapshot's
    ``.ledgerguard`` folder when there is one (written when not; ``snapshot_dir`` None: no file).
    A pack with a problem raises as ``load_packs`` does, and nothing is written."""
    if snapshot_dir is None:
        return load_packs(paths)
    try:
        files = pack_files(paths or [builtin_pack_path()])
        key = _packs_key(files)
    except OSError:  # an unreadable file: load_packs names it
        return load_packs(paths)
    folder = Path(snapshot_dir) / FOLDER
    path = folder / f"packs-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("key") != key:
                raise ValueError("written for other pack files or another version")
            packs = _packs_from_json(data["packs"])
            log.info("policy packs from %s", path)
            return packs
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.info("packs file %s not used (%s): loading the packs", path, exc)
    packs = load_packs(paths)
    try:
        items = json.loads(json.dumps([asdict(p) for p in packs], ensure_ascii=False))
    except (TypeError, ValueError):  # a value JSON does not hold (a YAML date)
        return packs
    if _packs_from_json(items) != packs:  # JSON would not give them back exactly (a number as a key)
        return packs
    try:
        folder.mkdir(exist_ok=True)
        atomic_write_text(path, json.dumps({"key": key, "packs": items}, ensure_ascii=False))
    except OSError as exc:
        log.info("packs file not written to %s (%s): the next gate loads the packs again", path, exc)
        return packs
    log.info("packs file written to %s", path)
    for other in folder.iterdir():  # one packs file: another key's was for other files or code
        if other != path and _PACKS.match(other.name):
            with contextlib.suppress(OSError):
                other.unlink()
    return packs
