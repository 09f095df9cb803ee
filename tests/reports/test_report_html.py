"""report.html in a real headless Chromium: CSP, no network, filters, hostile data, JS off."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from cdp_browser import Browser
from click.testing import CliRunner
from findings_factory import make_doc

from ledgerguard.app.cli import main
from ledgerguard.reports.base import write_reports
from ledgerguard.reports.document import severity_key
from ledgerguard.reports.html import STATIC_ROWS


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    b = Browser()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name, doc, lang in (
        ("plain", make_doc(2500), "en"),
        ("hostile", make_doc(80, hostile=True), "en"),
        ("zh", make_doc(40), "zh"),
        ("empty", make_doc(0), "en"),
    ):
        (out[name],) = write_reports(doc, ["html"], tmp_path_factory.mktemp(name), lang)
    return out


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_csp_pins_the_inline_style_and_script(reports: dict[str, Path]) -> None:
    html = reports["plain"].read_text(encoding="utf-8")
    (csp,) = [a["content"] for t, a in _tags(html) if a.get("http-equiv") == "Content-Security-Policy"]
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    script = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    assert f"style-src {_sha(style)};" in csp and f"script-src {_sha(script)};" in csp
    assert csp.startswith("default-src 'none';") and "unsafe" not in csp
    for tag, attrs in _tags(html):
        assert "style" not in attrs and not any(a.startswith("on") for a in attrs), (tag, attrs)
        assert tag not in ("img", "iframe", "link", "object", "embed")
        if tag == "a":
            assert attrs["href"].startswith("#")
        if tag == "script":
            assert "src" not in attrs


def test_hostile_text_is_escaped_in_the_file(reports: dict[str, Path]) -> None:
    html = reports["hostile"].read_text(encoding="utf-8")
    tags = _tags(html)
    assert [t for t, _ in tags].count("script") == 2  # the data block and our script
    assert not [t for t, a in tags if (t in ("img", "svg") and "onload" in a) or "onerror" in a]
    assert "javascript:" not in "".join(str(a) for _, a in tags)
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    assert "\u202e" not in html and "\x1b" not in html and "invoice&lt;U+202E&gt;exe.pdf" in html
    data = re.search(r'id="lg-data">(.*?)</script>', html, re.S).group(1)
    assert "<" not in data and json.loads(data)["rows"]


def _open(browser: Browser, path: Path) -> None:
    browser.open(path)
    assert browser.eval("document.documentElement.getAttribute('data-ready')") == "1"


def _set(browser: Browser, name: str, value: str) -> None:
    browser.eval(
        f"(function(){{var e=document.getElementById('lg-filter').elements[{json.dumps(name)}];"
        f"e.value={json.dumps(value)};e.dispatchEvent(new Event('input',{{bubbles:true}}));}})()"
    )


def _column(browser: Browser, index: int) -> list[str]:
    return browser.eval(
        f"Array.from(document.querySelectorAll('#lg-rows tr')).map(r => r.cells[{index}].textContent)"
    )


def test_page_loads_clean_and_filters(browser: Browser, reports: dict[str, Path],
                                      tmp_path: Path) -> None:
    path = reports["plain"]
    _open(browser, path)
    browser.drain()
    assert browser.problems() == []
    assert browser.requests() == [path.resolve().as_uri()]
    assert len(_column(browser, 0)) == 100  # one page
    assert browser.eval("document.getElementById('lg-info').textContent") == "1–100 of 2,500 findings"
    assert browser.eval("document.getElementById('lg-static-note').hidden") is True

    _set(browser, "sev", "3")  # low
    assert set(_column(browser, 0)) == {"low"}
    _set(browser, "sev", "")
    _set(browser, "q", "user0000042")
    assert _column(browser, 2) == ["account:finance:user0000042"]
    _set(browser, "q", "")
    _set(browser, "status", "waived")
    assert set(_column(browser, 4)) == {"waived"}
    assert browser.eval("document.getElementById('lg-info').textContent") == "1–50 of 50 findings"
    _set(browser, "status", "")

    browser.eval("document.querySelector('#lg-table th button[data-col=\"2\"]').click()")
    subjects = _column(browser, 2)
    assert subjects == sorted(subjects) and subjects[0] == "account:finance:user0000000"
    browser.eval("document.getElementById('lg-next').click()")
    assert browser.eval("document.getElementById('lg-info').textContent") == "101–200 of 2,500 findings"
    browser.drain()
    assert browser.problems() == []
    assert browser.requests() == [path.resolve().as_uri()]  # paging and filtering fetch nothing
    shot = tmp_path / "report.png"
    browser.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_hostile_payloads_do_not_run(browser: Browser, reports: dict[str, Path]) -> None:
    _open(browser, reports["hostile"])
    browser.drain()
    assert browser.eval("typeof window.__pwned") == "undefined"
    assert browser.problems() == []  # no blocked inline script: nothing even tried to run
    assert browser.eval("document.images.length") == 0
    assert browser.eval("document.querySelectorAll('svg [onload], [onerror]').length") == 0
    text = browser.eval("document.body.innerText")
    assert "<script>window.__pwned=1</script>" in text
    assert '<img src=x onerror="window.__pwned=2">' in text
    assert "invoice<U+202E>exe.pdf" in text
    assert len(browser.requests()) == 1


def test_csp_is_enforced(browser: Browser, reports: dict[str, Path]) -> None:
    """The policy is in force, not just present: a script injected into the DOM is refused."""
    _open(browser, reports["plain"])
    browser.drain()
    assert browser.problems() == []
    browser.eval(
        "(function(){var s=document.createElement('script');s.textContent='window.__injected=1';"
        "document.body.appendChild(s);"
        "var st=document.createElement('style');st.textContent='body{display:none}';"
        "document.head.appendChild(st);})()"
    )
    browser.drain()
    assert browser.eval("typeof window.__injected") == "undefined"
    assert browser.eval("getComputedStyle(document.body).display") != "none"
    refused = " ".join(browser.problems())
    assert "script-src" in refused and "style-src" in refused


def test_demo_report_shows_summary_chart_findings_provenance(browser: Browser, tmp_path: Path) -> None:
    """What `ledgerguard demo` writes is what an auditor opens: check that page, for real."""
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--out", str(out), "--as-of", "2026-11-23"])
    assert result.exit_code == 1, result.output  # the demo org has high findings by design
    doc = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    _open(browser, out / "report.html")
    browser.drain()
    assert browser.problems() == []
    assert len(browser.requests()) == 1
    summary = browser.eval("document.getElementById('summary').innerText")
    assert "FAIL" in summary and "Findings by severity" in summary
    assert browser.eval("document.querySelectorAll('#summary svg rect').length") >= 5
    total = len(doc["findings"])
    shown = min(total, 100)
    assert browser.eval("document.getElementById('lg-info').textContent") == f"1–{shown} of {total} findings"
    first = min(doc["findings"], key=severity_key)  # on the first page
    assert first["subject"] in browser.eval("document.getElementById('findings').innerText")
    provenance = browser.eval("document.getElementById('provenance').innerText")
    assert doc["scan"]["snapshot"]["sha256"] in provenance
    for source in doc["scan"]["snapshot"]["sources"]:
        assert source["name"] in provenance
    for pack in doc["scan"]["policy_packs"]:
        assert pack["sha256"] in provenance


def test_readable_without_javascript(browser: Browser, reports: dict[str, Path]) -> None:
    browser.call("Emulation.setScriptExecutionDisabled", value=True)
    try:
        browser.open(reports["plain"])
        assert browser.eval("document.documentElement.getAttribute('data-ready')") is None
        assert browser.eval("document.querySelectorAll('#lg-rows tr').length") == STATIC_ROWS
        assert browser.eval("document.getElementById('lg-filter').hidden") is True
        note = browser.eval("document.getElementById('lg-static-note').innerText")
        assert f"first {STATIC_ROWS:,} of 2,500" in note
        text = browser.eval("document.body.innerText")
        for heading in ("Summary", "Findings by severity", "Policy details", "To be checked by hand",
                        "Waivers", "Baseline diff", "Provenance", "backup-catalog"):
            assert heading in text
        assert browser.eval("document.querySelectorAll('svg rect').length") >= 5
    finally:
        browser.call("Emulation.setScriptExecutionDisabled", value=False)


def test_chinese_labels(browser: Browser, reports: dict[str, Path]) -> None:
    _open(browser, reports["zh"])
    text = browser.eval("document.body.innerText")
    for label in ("合规扫描报告", "按严重程度统计", "需人工核查", "离职人员账号须当日停用", "数据来源与校验"):
        assert label in text
    assert browser.eval("document.getElementById('lg-info').textContent") == "1–40 / 40 条发现项"
    assert browser.problems() == []


def test_no_findings(browser: Browser, reports: dict[str, Path]) -> None:
    _open(browser, reports["empty"])
    assert "No findings." in browser.eval("document.getElementById('findings').innerText")
    assert browser.problems() == []
