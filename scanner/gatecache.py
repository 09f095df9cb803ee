"""The gate's base cache: what ``gate`` computes from the current state alone, kept beside
the snapshot so the next gate against the same snapshot does not compute it again.

A CI pipeline runs many gates against one nightly snapshot; everything a gate derives
from the snapshot without looking at the change is the same each time:

* ``outcomes``: a policy's outcome on the whole current state — of the policies the gate
  evaluates on the whole states (kinds neither local nor narrowed, scanner/gate.py), and
  of the policies a waiver names (a waiver is judged on the whole proposed state);
* ``bases``: what a narrowed kind needs to choose its people (``Handover.gate_base``).

The file is ``<snapshot>/.ledgerguard/gate-<key>.json`` and holds its whole key: the
snapshot's content hashes (the manifest's), the policies (their files' bytes and their
full definitions, params included), the as-of instant, the tool's version and the
digest of the scanner's source. A file whose key differs in anything, that does not
parse, or that is not shaped as written here is ignored and rewritten: a stale or
foreign cache is never trusted. Writing is atomic (fsutil.atomic_write_text); a folder
that cannot be written (a read-only snapshot) only makes the next gate slower, said at
``-v``. ``gate --no-cache`` neither reads nor writes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

from . import __version__
from .contract import PolicyOutcome
from .fsutil import atomic_write_text
from .policy import Policy
from .snapshot import Snapshot

log = logging.getLogger(__name__)

#: the shape of the file; a file of another format is ignored
FORMAT = 1
FOLDER = ".ledgerguard"


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
