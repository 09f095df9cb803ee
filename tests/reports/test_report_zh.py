"""``--lang zh``: every finding message and evidence key in Chinese, charts that fit their labels."""

from __future__ import annotations

import datetime as dt
import html
import re
import string
from pathlib import Path

import openpyxl
import pytest
from cdp_browser import Browser

from ledgerguard.app.demo import build_tables
from ledgerguard.app.demo.org import TZ, ts
from ledgerguard.reports.base import write_reports
from ledgerguard.reports.messages import ZH, ZH_EVIDENCE
from ledgerguard.scanner.kinds.base import KINDS
from ledgerguard.scanner.policy import load_packs
from ledgerguard.scanner.scan import resolve_now, run_scan
from ledgerguard.scanner.snapshot import read_snapshot, write_snapshot


@pytest.fixture(scope="module")
def zh(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """The demo company scanned with the built-in pack, reported in Chinese."""
    day = dt.date(2026, 11, 23)
    root = tmp_path_factory.mktemp("zh")
    snap = read_snapshot(write_snapshot(root / "snap", build_tables(day), timezone=TZ, taken_at=ts(day, 0)))
    doc = run_scan(snap, load_packs(None), resolve_now(None, snap))
    write_reports(doc, ["html", "xlsx"], root / "out", "zh")
    return doc, root / "out"


def test_every_code_of_every_kind_has_a_chinese_template() -> None:
    for name in KINDS.names():
        if name == "table_rule":  # its messages are the policy author's own words
            continue
        for code in KINDS.get(name).codes:
            template = ZH.get(f"{name}/{code}", ZH.get(code))
            assert template, f"{name}/{code}"
            words = "".join(lit for lit, *_ in string.Formatter().parse(template))
            assert not re.search(r"[A-Za-z]", words), f"{name}/{code}: English in {template!r}"


def test_the_zh_report_holds_no_english_message(zh: tuple[dict, Path]) -> None:
    doc, out = zh
    page = (out / "report.html").read_text(encoding="utf-8")
    assert len(doc["findings"]) > 40
    english = [f["message"] for f in doc["findings"] if html.escape(f["message"], quote=False) in page]
    assert english == []
    ws = openpyxl.load_workbook(out / "report.xlsx")["发现项"]
    header = [c.value for c in ws[1]]
    messages = [row[header.index("说明")] for row in ws.iter_rows(min_row=2, values_only=True)]
    assert not set(messages) & {f["message"] for f in doc["findings"]}
    assert all(re.search(r"[\u4e00-\u9fff]", m) for m in messages)
    column = header.index("证据")
    evidence = [row[column] for row in ws.iter_rows(min_row=2, values_only=True) if row[column]]
    keys = {line.split(": ", 1)[0] for cell in evidence for line in cell.splitlines()}
    assert keys and keys <= set(ZH_EVIDENCE.values()), keys - set(ZH_EVIDENCE.values())


def test_chart_labels_do_not_run_into_the_bars(zh: tuple[dict, Path]) -> None:
    _, out = zh
    browser = Browser()
    try:
        browser.open(out / "report.html")
        overlaps = browser.eval("""(function () {
          var bad = [];
          document.querySelectorAll('.charts svg').forEach(function (svg) {
            var rects = Array.prototype.map.call(svg.querySelectorAll('rect'), function (r) {
              return r.getBoundingClientRect(); });
            svg.querySelectorAll('text').forEach(function (t) {
              var b = t.getBoundingClientRect();
              rects.forEach(function (r) {
                if (r.width && b.left < r.right && r.left < b.right && b.top < r.bottom && r.top < b.bottom) {
                  bad.push(t.textContent);
                }
              });
            });
          });
          return bad;
        })()""")
        labels = browser.eval("Array.prototype.map.call(document.querySelectorAll('.charts svg text'), "
                              "function (t) { return t.textContent; })")
        browser.screenshot(out / "zh.png")
    finally:
        browser.close()
    assert overlaps == []
    assert any(re.search(r"[\u4e00-\u9fff]{6}", label) for label in labels)  # long Chinese titles are there
