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


def write_reports(doc: dict[str, Any], formats: list[str], out_dir: Path, lang: str = "en") -> list[Path]:
    """Render each requested format into ``out_dir``; returns the written paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [FORMATS.get(fmt)().render(doc, out_dir, lang) for fmt in formats]
