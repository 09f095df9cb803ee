"""Printing: report.html printed by a real headless Chromium, and ``--format pdf``.

The screen shows 100 findings per page; paper must show every finding, every column
(wrapped), with the table header on every page. The PDF text is read back with pypdf;
ids are 16 hex digits that a narrow column may wrap, so they are looked for in the
text with whitespace removed.
"""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cdp_browser import Browser
from findings_factory import make_doc
from pypdf import PdfReader

from ledgerguard.reports.base import write_reports

N = 342


def pdf_pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def assert_prints_everything(pages: list[str], doc: dict) -> None:
    flat = re.sub(r"\s+", "", "".join(pages))
    missing = [f["id"] for f in doc["findings"] if f["id"] not in flat]
    assert missing == [], f"{len(missing)} of {N} findings not printed"
    # every column, the last ones too, and the header repeated on the table's pages
    header = "SeverityPolicySubjectMessageStatusBaselineEvidenceID"
    assert sum(header in re.sub(r"\s+", "", p) for p in pages) >= 5
    last = doc["findings"][-1]
    assert next(iter(last["evidence"])) in flat


@pytest.fixture(scope="module")
def doc() -> dict:
    return make_doc(N)


def test_printing_the_html_gives_every_finding(doc: dict, tmp_path: Path) -> None:
    (html,) = write_reports(doc, ["html"], tmp_path)
    browser = Browser()
    try:
        browser.open(html)
        assert browser.eval("document.querySelectorAll('#lg-rows tr').length") == 100  # the screen: one page
        data = base64.b64decode(browser.call("Page.printToPDF", printBackground=True, preferCSSPageSize=True)["data"])
        assert browser.eval("document.querySelectorAll('#lg-rows tr').length") == 100  # back after printing
        assert browser.problems() == []
    finally:
        browser.close()
    assert_prints_everything(pdf_pages(data), doc)


def test_format_pdf_is_the_printed_html(doc: dict, tmp_path: Path) -> None:
    findings = tmp_path / "findings.json"
    write_reports(doc, ["json"], tmp_path)
    run = subprocess.run([sys.executable, "-m", "ledgerguard.app.cli", "report", "--findings", findings,
                          "--format", "pdf", "--out", tmp_path / "o"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    pages = pdf_pages((tmp_path / "o" / "report.pdf").read_bytes())
    assert_prints_everything(pages, doc)


def test_format_pdf_without_chromium_says_what_to_install(doc: dict, tmp_path: Path) -> None:
    write_reports(doc, ["json"], tmp_path)
    run = subprocess.run([sys.executable, "-m", "ledgerguard.app.cli", "report", "--findings",
                          tmp_path / "findings.json", "--format", "pdf", "--out", tmp_path / "o"],
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": "/nonexistent", "LEDGERGUARD_CHROMIUM": ""})
    assert run.returncode == 3
    assert "--format pdf needs Chromium" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "o" / "report.pdf").exists()
