"""report.xlsx as an auditor's working paper: readable on screen and on paper."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
from findings_factory import make_doc

from ledgerguard.reports.base import write_reports


def test_findings_sheet_prints_as_a_working_paper(tmp_path: Path) -> None:
    doc = make_doc(57)
    doc["waivers"][0]["expires"] = "2026-12-31"
    doc["trend"] = [{"scan_id": 1, "as_of": "2026-11-22", "open": {"critical": 3}, "waived": 0, "new": None,
                     "resolved": None, "days_to_resolve": None},
                    {"scan_id": 2, "as_of": "2026-11-23T08:00:00+08:00", "open": {"critical": 2}, "waived": 1,
                     "new": 0, "resolved": 1, "days_to_resolve": 1.0}]
    (path,) = write_reports(doc, ["xlsx"], tmp_path)
    wb = openpyxl.load_workbook(path)
    ws = wb["Findings"]
    header = [c.value for c in ws[1]]
    assert header[-1] == "ID" and header[0] == "Severity"
    evidence = ws.cell(2, header.index("Evidence") + 1)
    first = doc["findings"][0]  # the most severe first, as in the sheet
    key, value = next(iter(first["evidence"].items()))
    assert evidence.value.splitlines()[0] == f"{key}: {value}"  # key: value lines, not JSON
    assert evidence.alignment.wrap_text and ws.cell(2, header.index("Message") + 1).alignment.wrap_text
    assert ws.row_dimensions[2].height and ws.row_dimensions[2].height > 15  # tall enough for its lines
    for sheet in wb.worksheets:
        assert sheet.page_setup.orientation == "landscape", sheet.title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToHeight == 0, sheet.title
        assert sheet.print_title_rows == "$1:$1", sheet.title  # the header row on every page
    assert len(wb["Summary"]._charts) == 1
    expires = wb["Waivers"].cell(2, 3)
    assert expires.is_date and expires.value == dt.datetime(2026, 12, 31)
    trend = wb["Trend"]
    assert [trend.cell(r, 2).value for r in (2, 3)] == [dt.datetime(2026, 11, 22), dt.datetime(2026, 11, 23)]
    assert len(trend._charts) == 1
