"""``collect``: run every source of a sources file and write one snapshot atomically.

Each source runs in isolation: a failure (unreachable, auth, timeout, malformed rows,
or a bug) becomes that source's ``status: error`` with a message, and the tables it
would have produced are listed so the scanner marks them unusable. The snapshot is
built in a temp folder and renamed into place, so nothing half-written is ever left.

By default a run with a failed source writes no snapshot at all (an earlier snapshot
at ``out_dir`` stays untouched); ``partial=True`` writes the snapshot anyway, with the
failures recorded in its manifest — that is what ``scan --sources`` uses so the
policies that need the failed tables end in ``error`` instead of passing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from ledgerguard.connectors._common import check_rows, redact
from ledgerguard.connectors.base import ConnectorError
from ledgerguard.connectors.sources import Source, SourcesFile, load_sources
from ledgerguard.scanner.errors import InputError, Problem
from ledgerguard.scanner.snapshot import TABLES, write_snapshot

from .console import SourceProgress, source_progress

log = logging.getLogger(__name__)

@dataclass
class CollectResult:
    path: Path | None  # the snapshot written, or None when a failure kept it from being written
    sources: list[dict] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows

    @property
    def failed(self) -> list[dict]:
        return [s for s in self.sources if s["status"] == "error"]


def collect(
    sources: str | Path | SourcesFile,
    out_dir: str | Path | None,
    *,
    partial: bool = False,
    progress: bool | None = None,
    fmt: str = "csv",
) -> CollectResult:
    """Collect every source; write the snapshot to ``out_dir`` (None: collect only).

    ``progress`` None means "when stderr is a terminal". Raises InputError for a bad
    sources file or an ``out_dir`` that is not a snapshot (it would be replaced);
    source failures are returned, never raised.
    """
    spec = sources if isinstance(sources, SourcesFile) else load_sources(sources)
    if out_dir is not None:
        _check_target(Path(out_dir))
    tz = ZoneInfo(spec.timezone)
    taken_at = _now(tz)
    tables: dict[str, list[pd.DataFrame]] = {}
    entries = []
    bar = source_progress(progress)
    with bar or contextlib.nullcontext():
        for i, src in enumerate(spec.sources, 1):
            if bar:
                bar.begin(f"[{i}/{len(spec.sources)}] {src.name} ({src.kind})")
            entry, produced = _run_source(src, spec, bar)
            if bar:
                bar.end()
            entries.append(entry)
            for name, df in produced.items():
                tables.setdefault(name, []).append(df)
    merged = {name: pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
              for name, frames in tables.items()}
    result = CollectResult(None, entries, {k: len(v) for k, v in merged.items()})
    if out_dir is not None and (partial or not result.failed):
        result.path = write_snapshot(out_dir, merged, sources=entries, timezone=spec.timezone,
                                     taken_at=taken_at, fmt=fmt)
    return result


def _check_target(out: Path) -> None:
    """Only a snapshot may be replaced: never a file, never a folder holding other things."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise InputError(Problem("--out exists and is not a folder: refusing to replace it", str(out)))
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise InputError(Problem(
            "--out is a folder that is not a snapshot (no manifest.json): refusing to replace it",
            str(out)))


def _run_source(src: Source, spec: SourcesFile, bar: SourceProgress | None) -> tuple[dict, dict[str, pd.DataFrame]]:
    """Run one source in isolation; returns its manifest entry and its tables."""
    tz = ZoneInfo(spec.timezone)
    started = time.monotonic()
    connector = src.connector(spec.base_dir, spec.timezone)
    if bar:
        connector.progress = bar.update
    error = None
    produced: dict[str, pd.DataFrame] = {}
    try:
        produced = connector.collect()
        for name, df in produced.items():
            if name in TABLES:
                check_rows(name, df, spec.timezone, f"source {src.name}, table {name}")
    except ConnectorError as exc:
        error = redact(str(exc))
    except Exception as exc:  # isolate every failure, a bug in a connector included
        log.debug("source %s failed", src.name, exc_info=True)
        error = redact(f"{type(exc).__name__}: {exc}")
    duration = round(time.monotonic() - started, 3)
    if error is not None:
        log.info("source %s (%s) failed: %s", src.name, src.kind, error)
        listed = sorted(set(connector.tables()) | set(produced))
        produced = {}
    else:
        listed = sorted(produced)
        log.info("source %s (%s): %s in %.1fs", src.name, src.kind,
                 ", ".join(f"{k} {len(v)} rows" for k, v in sorted(produced.items())), duration)
    entry = {
        "name": src.name,
        "kind": src.kind,
        "status": "ok" if error is None else "error",
        "collected_at": _now(tz),
        "duration_seconds": duration,
        "error": error,
        "tables": listed,
        **(connector.notes if error is None else {}),
    }
    return entry, produced


def _now(tz: ZoneInfo) -> str:
    return dt.datetime.now(tz).isoformat(timespec="seconds")
