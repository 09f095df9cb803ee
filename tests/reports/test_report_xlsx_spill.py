"""More findings than one Excel sheet holds spill into "Findings (2)": 1.1M findings, for real.

Slow on purpose (marked ``slow``; ~46 s on an idle 2-core machine, most of it
xlsxwriter writing 3.3M cells): the row limit is Excel's own 1,048,576, so the only honest way
to see the spill is to cross it. The findings are generated directly with the three
fields a report requires (id, policy_id, severity) to keep it as short as it can be.
Deselect with ``pytest -m "not slow"``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest
from findings_factory import make_doc

from ledgerguard.reports.base import write_reports
from ledgerguard.reports.excel import MAX_ROWS

TOTAL = 1_100_000
PER_SHEET = MAX_ROWS - 1  # data rows under the header


@pytest.mark.slow
def test_findings_spill_into_a_second_sheet(tmp_path: Path) -> None:
    doc = make_doc(0)
    # Ids sort like the row numbers; "POL-X" is in no pack, so rows carry no title cell.
    doc["findings"] = [{"id": f"{i:08d}", "policy_id": "POL-X", "severity": "high"} for i in range(TOTAL)]
    doc["resolved"] = []
    (path,) = write_reports(doc, ["xlsx"], tmp_path)
    del doc

    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None  # every member's CRC checks out
    wb = openpyxl.load_workbook(path, read_only=True)
    assert wb.sheetnames == ["Summary", "Findings", "Findings (2)", "Policies", "Controls", "Waivers",
                             "Provenance"]
    first, second = wb["Findings"], wb["Findings (2)"]
    assert first.max_row == MAX_ROWS  # full: header + 1,048,575 findings
    header = ["ID", "Severity", "Policy"]
    assert [c.value for c in next(first.iter_rows(max_row=1, max_col=3))] == header
    assert [c.value for c in next(first.iter_rows(min_row=2, max_row=2, max_col=3))] == ["00000000", "high", "POL-X"]

    rows = list(second.iter_rows(values_only=True))
    assert list(rows[0][:3]) == header
    assert len(rows) - 1 == TOTAL - PER_SHEET == 51_425
    assert list(rows[1][:3]) == [f"{PER_SHEET:08d}", "high", "POL-X"]  # continues where sheet 1 stopped
    assert rows[-1][0] == f"{TOTAL - 1:08d}"

    # The spilled sheet is a table of its own: frozen header, autofilter over its rows.
    with zipfile.ZipFile(path) as zf:
        sheet3 = zf.read("xl/worksheets/sheet3.xml").decode()
    assert '<autoFilter ref="A1:M51426"/>' in sheet3
    assert 'state="frozen"' in sheet3
