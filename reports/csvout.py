"""findings.csv: one row per finding for scripts and spreadsheets.

UTF-8 with a BOM so Excel opens Chinese text correctly; every cell goes through the
same neutraliser as the xlsx so a double-click in Excel never runs a formula.
Headers are the machine names of the columns (stable for scripts), in English.

The last column, ``verdict``, carries the scan's verdict (PASS / FAIL / NO VERDICT) on
every row; a policy that ended ``error`` or ``inconclusive`` and a failed source get a
row of their own (status ``error`` / ``inconclusive``, code ``policy_error`` /
``policy_inconclusive`` / ``source_error``), so a scan without a verdict never reads as
an empty, clean file.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from ledgerguard.scanner.fsutil import atomic_file

from .base import FORMATS, Reporter
from .document import FINDING_COLUMNS, View
from .safe import spreadsheet_cell


def _not_evaluated(view: View) -> list[dict[str, Any]]:
    """Rows (in the findings' shape) for policies in error or inconclusive and failed sources."""
    rows: list[dict[str, Any]] = [
        {"policy_id": p["id"], "severity": p.get("severity"), "code": f"policy_{p['status']}",
         "subject": f"policy:{p['id']}", "message": p.get("error"), "status": p["status"]}
        for p in view.policies if p.get("status") in ("error", "inconclusive")
    ]
    rows += [{"code": "source_error", "subject": f"source:{s.get('name')}", "message": s.get("error"),
              "status": "error"}
             for s in (view.scan.get("snapshot") or {}).get("sources") or [] if s.get("status") == "error"]
    return rows


@FORMATS.register("csv")
class CsvReporter(Reporter):
    filename = "findings.csv"

    def render(self, doc: dict[str, Any], out_dir: Path, lang: str = "en") -> Path:
        view = View(doc, lang)
        path = out_dir / self.filename
        with atomic_file(path, encoding="utf-8-sig") as fh:
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow([*(key for key, _, _ in FINDING_COLUMNS), "verdict"])
            rows = [*view.sorted_findings(), *_not_evaluated(view)]
            writer.writerows([*(spreadsheet_cell(v) for v in view.row(f)), view.verdict] for f in rows)
        return path
