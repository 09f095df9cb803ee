"""The 四性检测 (DA/T 70) section: HTML in real Chromium and the Excel sheet, from the demo's scan."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from cdp_browser import Browser
from click.testing import CliRunner

from ledgerguard.app.cli import main
from ledgerguard.reports import fourfold


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    args = ["demo", "--out", str(out), "--as-of", "2026-11-23", "--format", "html,xlsx,json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    return out


def test_every_item_is_listed_with_counts_and_drill_down(demo: Path) -> None:
    doc = json.loads((demo / "findings.json").read_text(encoding="utf-8"))
    items = [i for _, group in fourfold.table(doc) for i in group]
    assert len(items) == len(fourfold.catalogue()["items"])
    state = {i.label: i.state for i in items}
    assert state["真实性/电子属性一致性"] == "fail" and state["完整性/连续编号完整性"] == "fail"
    assert state["完整性/元数据完整性"] == "pass"  # INT-001 checks it and found nothing
    assert state["安全性/病毒感染检测"] == "not_checked"
    b = Browser()
    try:
        b.open(demo / "report.html")
        b.drain()
        assert b.problems() == []
        rows = b.eval("Array.from(document.querySelectorAll('#fourfold-table tbody tr')).map(r => r.innerText)")
        assert len(rows) == len(items)
        virus = next(r for r in rows if "病毒感染检测" in r)
        assert "not checked" in virus and "virus scanner" in virus
        # drill-down: the item's link opens its findings
        b.eval("document.querySelector('a[href=\"#dat70-C4\"]').click()")
        listed = b.eval("document.getElementById('dat70-C4').innerText")
        assert "vouchers:001/2025/M05/记" in listed and "INT-004" in listed
    finally:
        b.close()
    wb = openpyxl.load_workbook(demo / "report.xlsx", read_only=True)
    assert "四性检测" in wb.sheetnames
    sheet = list(wb["四性检测"].iter_rows(values_only=True))
    assert len(sheet) == len(items) + 1
    assert any(r[1] == "病毒感染检测" and r[3] == "not checked" and "virus" in r[8] for r in sheet[1:])
    findings = list(wb["Findings"].iter_rows(values_only=True))
    column = findings[0].index("DA/T 70 item")
    assert "完整性/连续编号完整性" in {r[column] for r in findings[1:]}
