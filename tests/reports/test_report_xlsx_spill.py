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
from openpyxl.utils import get_column_letter

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
    # make_doc's pack has archive policies, so the 四性检测 sheet stands after the summary
    assert wb.sheetnames == ["Summary", "四性检测", "Findings", "Findings (2)", "Policies", "Controls", "Waivers",
                             "Provenance"]
    first, second = wb["Findings"], wb["Findings (2)"]
    assert first.max_row == MAX_ROWS  # full: header + 1,048,575 findings
    header = [c.value for c in next(first.iter_rows(max_row=1))]
    assert header[:2] == ["Severity", "Policy"] and header[-1] == "ID"  # the id last, as on every Findings sheet
    row = [c.value for c in next(first.iter_rows(min_row=2, max_row=2))]
    assert (row[0], row[1], row[-1]) == ("high", "POL-X", "00000000")

    rows = list(second.iter_rows(values_only=True))
    assert list(rows[0]) == header
    assert len(rows) - 1 == TOTAL - PER_SHEET == 51_425
    # continues where sheet 1 stopped
    assert (rows[1][0], rows[1][1], rows[1][-1]) == ("high", "POL-X", f"{PER_SHEET:08d}")
    assert rows[-1][-1] == f"{TOTAL - 1:08d}"

    # The spilled sheet is a table of its own: frozen header, autofilter over its rows.
    with zipfile.ZipFile(path) as zf:
        spilled = zf.read("xl/worksheets/sheet4.xml").decode()  # xlsxwriter numbers sheets in order
    assert f'<autoFilter ref="A1:{get_column_letter(len(header))}51426"/>' in spilled
    assert 'state="frozen"' in spilled
