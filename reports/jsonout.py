"""findings.json: the machine contract (SPEC §7) that every other format is a view of."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledgerguard.scanner.fsutil import atomic_write_text

from .base import FORMATS, Reporter


@FORMATS.register("json")
class JsonReporter(Reporter):
    filename = "findings.json"

    def render(self, doc: dict[str, Any], out_dir: Path, lang: str = "en") -> Path:
        path = out_dir / self.filename
        atomic_write_text(path, json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return path
