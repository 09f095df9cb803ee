"""findings.csv: one row per finding for scripts and spreadsheets.

UTF-8 with a BOM so Excel opens Chinese text correctly; every cell goes through the
same neutraliser as the xlsx so a double-click in Excel never runs a formula.
Headers are the machine names of the columns (stable for scripts), in English.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from ledgerguard.scanner.fsutil import atomic_file

from .base import FORMATS, Reporter
from .document import FINDING_COLUMNS, View
from .safe import spreadsheet_cell


@FORMATS.register("csv")
class CsvReporter(Reporter):
    filename = "findings.csv"

    def render(self, doc: dict[str, Any], out_dir: Path, lang: str = "en") -> Path:
        view = View(doc, lang)
        path = out_dir / self.filename
        with atomic_file(path, encoding="utf-8-sig") as fh:
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow([key for key, _, _ in FINDING_COLUMNS])
            writer.writerows([spreadsheet_cell(v) for v in view.row(f)] for f in view.sorted_findings())
        return path
