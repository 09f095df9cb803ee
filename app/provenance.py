"""What an auditor needs to reproduce a scan, added to findings.json's ``scan``: the command
line (secrets redacted), the input files with their hashes, and the guard-rail warnings.

The snapshot's own provenance (tables with hashes and row counts, sources, taken_at) is
written by ``scanner/findings.py``; this module adds what only the application knows.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from pathlib import Path
from typing import Any

from ledgerguard.scanner.snapshot import file_sha256

DEFAULT_MAX_DRIFT_DAYS = 31
#: ``user:password@`` inside a URL, and the value of an option whose name says secret
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s/]*(?=@)")
_SECRET_OPTION = re.compile(r"^--?[\w-]*(password|passwd|secret|token|apikey|api-key)[\w-]*$", re.I)


def redacted_command_line(argv: list[str]) -> str:
    """The command line as typed, with URL passwords and secret options' values as ``***``."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if _SECRET_OPTION.match(name):
            if eq:
                out.append(f"{name}=***")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(_URL_PASSWORD.sub(r"\g<head>***", arg))
    return shlex.join(out)


def input_files(**files: str | None) -> list[dict[str, Any]]:
    """``config=PATH, waivers=PATH, …`` → [{role, path, sha256}] for the files given."""
    return [{"role": role, "path": str(path), "sha256": file_sha256(Path(path))}
            for role, path in files.items() if path and Path(path).is_file()]


def as_of_drift(as_of: str, taken_at: str | None, max_days: int) -> str | None:
    """A warning when the as-of date is more than ``max_days`` from the snapshot's taken_at:
    a typo in --as-of (or an old snapshot) would silently change every day limit."""
    if not taken_at:
        return None
    days = abs((dt.date.fromisoformat(as_of[:10]) - dt.date.fromisoformat(taken_at[:10])).days)
    if days <= max_days:
        return None
    return (f"--as-of {as_of[:10]} is {days} days from the snapshot's taken_at {taken_at[:10]} "
            f"(more than {max_days}): every day limit is judged as of that day")


def provenance(argv: list[str], warnings: list[str], selection: dict[str, list[str]], **files: str | None,
               ) -> dict[str, Any]:
    """The ``scan`` fields this module adds (see the module docstring)."""
    return {
        "command_line": redacted_command_line(argv),
        "inputs": input_files(**files),
        "selection": {k: list(v) for k, v in selection.items() if v},
        "warnings": warnings,
    }
