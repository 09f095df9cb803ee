"""``ledgerguard demo``: build the bundled demo organisation, snapshot it, scan it, report.

The organisation (``org.py``) is generated relative to the as-of date, so the demo
shows the same violations whatever day it runs, and the same finding ids for the same
as-of. It is scanned with the built-in pack plus the demo's house rule
(``demo_data/demo-rules.yaml``, a ``table_rule`` example), so every policy kind of
SPEC §5 has at least one finding to show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import InputError, Problem
from ..exitcodes import ExitCode
from ..findings import exit_code
from ..policy import builtin_pack_path, load_packs
from ..scan import resolve_now, run_scan
from ..snapshot import read_snapshot, write_snapshot
from .org import COMPANY, SCENARIOS, TZ, build_tables, ts

DEMO_RULES = Path(__file__).resolve().parent.parent / "demo_data" / "demo-rules.yaml"

__all__ = ["COMPANY", "DEMO_RULES", "SCENARIOS", "DemoRun", "default_as_of", "parse_as_of", "run_demo"]


@dataclass
class DemoRun:
    doc: dict[str, Any]  # the findings document (SPEC §7)
    code: ExitCode
    snapshot: Path
    written: list[Path]


def default_as_of() -> dt.date:
    """Today in the demo company's timezone."""
    return dt.datetime.now(ZoneInfo(TZ)).date()


def parse_as_of(text: str | None) -> dt.date:
    if not text:
        return default_as_of()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(Problem(f"--as-of {text!r} is not a date (YYYY-MM-DD)")) from None


def run_demo(out_dir: Path, as_of: dt.date, formats: list[str], lang: str = "en",
             fail_on: str = "high") -> DemoRun:
    """Write ``out_dir/snapshot`` and the reports in ``out_dir``; nothing depends on the clock
    except the scan's started/finished times."""
    from ledgerguard.reports.base import write_reports

    tables = build_tables(as_of)
    source = {"name": "demo", "kind": "demo", "status": "ok", "collected_at": ts(as_of, 0), "error": None,
              "tables": sorted(tables)}
    snapshot_dir = write_snapshot(out_dir / "snapshot", tables, sources=[source], timezone=TZ,
                                  taken_at=ts(as_of, 0))
    snapshot = read_snapshot(snapshot_dir)
    packs = load_packs([builtin_pack_path(), DEMO_RULES])
    doc = run_scan(snapshot, packs, resolve_now(as_of.isoformat(), snapshot), fail_on=fail_on)
    written = write_reports(doc, formats, out_dir, lang)
    return DemoRun(doc, exit_code(doc, fail_on), snapshot_dir, written)
