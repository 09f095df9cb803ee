"""``ledgerguard validate``: recognise each file's type and check it fully.

Policy files are checked together (policy ids must be unique across them); all
problems of all files are gathered into one InputError.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ledgerguard.scanner.errors import InputError, Problem
from ledgerguard.scanner.policy import load_packs
from ledgerguard.scanner.yamlload import load_yaml


def _kind_of(path: Path) -> str:
    if path.is_dir():
        return "policies"
    data = load_yaml(path).data
    if isinstance(data, dict):
        if data.get("kind") == "PolicyPack" or "policies" in data:
            return "policies"
        for key in ("waivers", "sources", "changes"):
            if key in data:
                return key
    raise InputError(Problem(
        "cannot tell what this file is: expected a PolicyPack (kind: PolicyPack) or a "
        "top-level 'waivers', 'sources' or 'changes' list", str(path), 1, 1))


def _validate_policies(paths: list[Path]) -> str:
    packs = load_packs(paths)
    n = sum(len(p.policies) for p in packs)
    return f"{len(packs)} policy pack(s), {n} policies"


def _validate_sources(paths: list[Path]) -> str:
    from ledgerguard.connectors.sources import load_sources

    problems: list[Problem] = []
    n = 0
    for path in paths:
        try:
            n += len(load_sources(path).sources)
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return f"{len(paths)} sources file(s), {n} sources"


def _validate_waivers(paths: list[Path]) -> str:
    """Expiry is checked against today's date here (a scan checks it against its as-of date)."""
    import datetime as dt

    from ledgerguard.scanner.waivers import load_waivers

    waivers = load_waivers(list(paths), dt.date.today())
    return f"{len(paths)} waiver file(s), {len(waivers)} waivers"


def _validate_changes(paths: list[Path]) -> str:
    """The files alone (schema, duplicate ids); accounts and roles are checked by ``gate``."""
    from ledgerguard.scanner.changes import load_changes

    return f"{len(paths)} change file(s), {len(load_changes(list(paths)))} changes"


#: file type → validator of all files of that type (returns a one-line summary)
VALIDATORS: dict[str, Callable[[list[Path]], str]] = {
    "policies": _validate_policies,
    "sources": _validate_sources,
    "waivers": _validate_waivers,
    "changes": _validate_changes,
}


def validate_paths(paths: list[str]) -> list[str]:
    problems: list[Problem] = []
    groups: dict[str, list[Path]] = {}
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            problems.append(Problem("no such file or folder", raw))
            continue
        try:
            groups.setdefault(_kind_of(p), []).append(p)
        except InputError as exc:
            problems.extend(exc.problems)
    lines = []
    for kind, files in groups.items():
        validator = VALIDATORS.get(kind)
        if validator is None:
            problems.append(Problem(f"validation of {kind} files is not available", str(files[0])))
            continue
        try:
            lines.append(f"ok: {validator(files)}")
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return lines
