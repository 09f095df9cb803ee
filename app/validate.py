"""``ledgerguard validate``: recognise each file's type and check it fully.

Folders are walked recursively (``*.yaml``, ``*.yml``, ``*.json``): every file is
recognised by its content, like a file named on the command line, and a file of no
known type below a folder is listed as skipped rather than failed (a policy folder
also holds policy unit tests). Policy files are checked together (policy ids must be
unique across them); all problems of all files are gathered into one InputError.

A sources file is checked against what ``collect`` will need as well: each
``password_env`` variable is set, each named file (``path``, ``catalog``, ``root``,
``ca_file``, ``password_file``, a SQLite database) exists.
The secrets themselves are never read into anything printed. ``schema_only`` skips
these checks (a file written for another machine).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ledgerguard.scanner.errors import InputError, Problem
from ledgerguard.scanner.policy import load_packs
from ledgerguard.scanner.yamlload import load_yaml

SUFFIXES = (".yaml", ".yml", ".json")
#: settings of a source that name a file or folder that must exist when collecting
PATH_SETTINGS = ("path", "catalog", "root", "ca_file", "password_file")
#: top-level key → file type (a PolicyPack is recognised by ``kind``)
TOP_KEYS = {"waivers": "waivers", "sources": "sources", "changes": "changes", "must": "policy-test",
            "must_not": "policy-test"}


def _kind_of(path: Path) -> str:
    """The type of one file, from its content (ledgerguard.yaml by its name)."""
    if path.suffix == ".json":
        return _json_kind(path)
    if path.name == "ledgerguard.yaml":
        return "config"
    data = load_yaml(path).data
    if isinstance(data, dict):
        if data.get("kind") == "PolicyPack" or ("policies" in data and "as_of" not in data):
            return "policies"
        for key, kind in TOP_KEYS.items():
            if key in data:
                return kind
    raise InputError(Problem(
        "cannot tell what this file is: expected a PolicyPack (kind: PolicyPack), a top-level "
        "'waivers', 'sources' or 'changes' list, or a findings.json", str(path), 1, 1))


def _json_kind(path: Path) -> str:
    from ledgerguard.scanner import snapshot
    from ledgerguard.scanner.contract import FORMAT

    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if isinstance(data, dict) and data.get("format") == FORMAT:
        return "findings"
    if isinstance(data, dict) and data.get("format") == snapshot.FORMAT and path.name == "manifest.json":
        return "snapshot"
    raise InputError(Problem(f"cannot tell what this file is: the JSON files validate knows are a findings.json "
                             f"(format {FORMAT!r}) and a snapshot's manifest.json", str(path), 1, 1))


def _validate_policies(paths: list[Path], schema_only: bool) -> str:
    packs = load_packs(paths)
    n = sum(len(p.policies) for p in packs)
    return f"{len(packs)} policy pack(s), {n} policies"


def _validate_sources(paths: list[Path], schema_only: bool) -> str:
    from ledgerguard.connectors.sources import load_sources

    problems: list[Problem] = []
    n = 0
    for path in paths:
        try:
            sources = load_sources(path)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        n += len(sources.sources)
        if not schema_only:
            problems.extend(environment_problems(path))
    if problems:
        raise InputError(problems)
    return f"{len(paths)} sources file(s), {n} sources"


def environment_problems(path: Path) -> list[Problem]:
    """What ``collect`` would fail on before connecting: unset password variables, missing
    files. Names the variable or file, never a secret's value. (A password inside a URL is
    refused earlier, when the sources file is loaded: connectors/sources.py.)"""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from ledgerguard.connectors._common import resolve

    doc = load_yaml(path)
    base = path.parent
    problems: list[Problem] = []
    for i, entry in enumerate(doc.data["sources"]):
        at = ("sources", i)
        var = entry.get("password_env")
        if var and var not in os.environ:
            problems.append(doc.positions.problem(
                (*at, "password_env"), f"source {entry['name']}: environment variable {var} is not set"))
        for key in PATH_SETTINGS:
            if isinstance(entry.get(key), str) and not resolve(base, entry[key]).exists():
                problems.append(doc.positions.problem(
                    (*at, key), f"source {entry['name']}: {key} {resolve(base, entry[key])} does not exist"))
        urls = entry.get("url")
        for url in [urls] if isinstance(urls, str) else urls or []:
            try:
                parsed = make_url(url) if entry["kind"] == "sql" else None
            except ArgumentError:
                continue  # collect names a malformed URL itself
            if parsed is None:
                continue
            if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
                    and not resolve(base, parsed.database).exists():
                problems.append(doc.positions.problem(
                    (*at, "url"), f"source {entry['name']}: SQLite database {resolve(base, parsed.database)} "
                                  "does not exist"))
    return problems


def _validate_waivers(paths: list[Path], schema_only: bool) -> str:
    """Expiry is checked against today's date here (a scan checks it against its as-of date)."""
    import datetime as dt

    from ledgerguard.scanner.waivers import load_waivers

    waivers = load_waivers(list(paths), dt.date.today())
    return f"{len(paths)} waiver file(s), {len(waivers)} waivers"


def _validate_changes(paths: list[Path], schema_only: bool) -> str:
    """The files alone (schema, duplicate ids); accounts and roles are checked by ``gate``."""
    from ledgerguard.scanner.changes import load_changes

    return f"{len(paths)} change file(s), {len(load_changes(list(paths)))} changes"


def _validate_findings(paths: list[Path], schema_only: bool) -> str:
    """Not an input: say what it is and how it is used, after checking it reads as one."""
    from ledgerguard.scanner.contract import read_findings

    lines = []
    for path in paths:
        doc = read_findings(path)
        scan = doc["scan"]
        lines.append(f"{path} is a findings.json written by `ledgerguard {scan.get('command', 'scan')}` "
                     f"as of {scan.get('as_of')}: {len(doc['findings'])} findings, "
                     f"{doc['summary'].get('policies')} policies (an output: render it with "
                     "`ledgerguard report --findings`, compare with `scan --baseline`)")
    return "\n    ".join([f"{len(paths)} findings file(s)", *lines])


def _validate_snapshots(paths: list[Path], schema_only: bool) -> str:
    """A snapshot's manifest.json: the whole snapshot is read and typed, as a scan would."""
    from ledgerguard.scanner.snapshot import read_snapshot

    problems: list[Problem] = []
    rows = 0
    for path in paths:
        try:
            rows += sum(len(df) for df in read_snapshot(path.parent).tables.values())
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return f"{len(paths)} snapshot(s), {rows} rows"


def _validate_config(paths: list[Path], schema_only: bool) -> str:
    from .config import load_config

    for path in paths:
        load_config(path)
    return f"{len(paths)} config file(s)"


def _validate_policy_tests(paths: list[Path], schema_only: bool) -> str:
    return f"{len(paths)} policy unit test file(s) (run them with `ledgerguard test`)"


#: file type → validator of all files of that type (returns a one-line summary)
VALIDATORS: dict[str, Callable[[list[Path], bool], str]] = {
    "policies": _validate_policies,
    "sources": _validate_sources,
    "waivers": _validate_waivers,
    "changes": _validate_changes,
    "findings": _validate_findings,
    "config": _validate_config,
    "snapshot": _validate_snapshots,
    "policy-test": _validate_policy_tests,
}


@dataclass
class _Walk:
    groups: dict[str, list[Path]] = field(default_factory=dict)
    skipped: list[Path] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def add(self, path: Path, inside_folder: bool) -> None:
        try:
            self.groups.setdefault(_kind_of(path), []).append(path)
        except InputError as exc:
            if inside_folder:
                self.skipped.append(path)
            else:
                self.problems.extend(exc.problems)


def validate_paths(paths: list[str], schema_only: bool = False) -> list[str]:
    walk = _Walk()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.suffix in SUFFIXES and f.is_file())
            if not files:
                walk.problems.append(Problem("folder holds no *.yaml, *.yml or *.json files", raw))
            for f in files:
                walk.add(f, inside_folder=True)
        elif p.exists():
            walk.add(p, inside_folder=False)
        else:
            walk.problems.append(Problem("no such file or folder", raw))
    lines = []
    problems = walk.problems
    for kind, files in walk.groups.items():
        try:
            lines.append(f"ok: {VALIDATORS[kind](files, schema_only)}")
        except InputError as exc:
            problems.extend(exc.problems)
    if walk.skipped:
        lines.append(f"skipped {len(walk.skipped)} file(s) of no ledgerguard type: "
                     + ", ".join(str(p) for p in walk.skipped[:5]) + (" …" if len(walk.skipped) > 5 else ""))
    if problems:
        raise InputError(problems)
    return lines
