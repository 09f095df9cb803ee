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

The files are ``<snapshot>/.ledgerguard/gate-<key>.json`` and ``gate-<key>.arrow`` (its
schema metadata holds the key and each policy's status, error and coverage); each holds its whole key: the
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
from collections.abc import Callable, Collection
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

from . import __version__
from .contract import PolicyOutcome
from .fsutil import atomic_file, atomic_write_text
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
_OURS = re.compile(r"^gate-[0-9a-f]{24}\.(json|arrow)$")
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
        empty: dict[str, Any] = {"outcomes": {}, "bases": {}}
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
        except (OSError, ValueError) as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
            log.info("gate cache %s not used (%s): computing the base evaluation again", self.path, exc)
            return empty
        log.info("gate cache %s used", self.path)
        return {"outcomes": data["outcomes"], "bases": data["bases"]}

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

    def keeps_regional(self, policies: list[Policy]) -> bool:
        """Does a regional base of ``policies`` exist, or can one be written? Computing it is a
        whole-state evaluation, worth paying only when the next gates can read it: beside a
        read-only snapshot the gate evaluates the region's current state instead."""
        if self.path is None:
            return False
        heads = self._regional_heads()
        if heads is not None and all(p.id in heads for p in policies):
            return True
        folder = self.path.parent
        if folder.exists():
            return folder.is_dir() and os.access(folder, os.W_OK)
        return os.access(folder.parent, os.W_OK)

    def regional(self, policies: list[Policy], wanted: list[Policy], subjects: Collection[str],
                 compute: Callable[[list[Policy]], list[PolicyOutcome]]) -> list[PolicyOutcome]:
        """The outcomes of ``wanted`` on the whole current state, holding only the findings whose
        subject is one of ``subjects``. From the regional base when it holds every one of
        ``policies`` (a valid file of this key); otherwise all of ``policies`` are computed
        (together: ``compute`` may use worker processes) and the file is written, so the next
        gate of any change finds them."""
        heads = self._regional_heads()
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

    def _regional_heads(self) -> dict[str, Any] | None:
        """Each policy's status, error and coverage in a regional base of this key; None when
        there is none (or a stale, foreign or unreadable one: ignored, then rewritten)."""
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
