"""Report formats: each one module registered by name, each a view of findings.json.

A reporter receives the findings document (the dict of SPEC §7, as written to
``findings.json``) and never reaches back into snapshots or connectors, so
``ledgerguard report --findings`` can re-render any format from the JSON alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ledgerguard.scanner.registry import Registry

FORMATS: Registry[type[Reporter]] = Registry("report format", "ledgerguard.reports")


class Reporter:
    name: ClassVar[str]
    filename: ClassVar[str]  # what it writes inside --out
    #: annotations that point at a change file's lines, which only ``gate`` has
    gate_only: ClassVar[bool] = False

    def render(self, doc: dict[str, Any], out_dir: Path, lang: str = "en") -> Path:
        raise NotImplementedError


def format_names(gate: bool = False) -> list[str]:
    """The registered formats a command may write; github and gitlab annotate a change file
    (gate, report), so a scan cannot choose them."""
    return [name for name, reporter in FORMATS.items() if gate or not reporter.gate_only]


def write_reports(doc: dict[str, Any], formats: list[str], out_dir: Path, lang: str = "en") -> list[Path]:
    """Render each requested format into ``out_dir``; returns the written paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [FORMATS.get(fmt)().render(doc, out_dir, lang) for fmt in formats]


def remove_stale(out_dir: Path, formats: list[str]) -> list[Path]:
    """Remove the files other formats write, left in ``out_dir`` by an earlier run, so a
    folder never shows a report of one scan next to the findings of another. Only the
    registered reports' own file names are touched; the removed paths are returned."""
    keep = {FORMATS.get(f).filename for f in formats}
    stale = [out_dir / r.filename for r in (FORMATS.get(n) for n in FORMATS.names())
             if r.filename not in keep and (out_dir / r.filename).is_file()]
    for path in stale:
        path.unlink()
    return stale
