"""findings.json's layout (docs/reports.md): indented top level, one line per finding, read back equal."""

from __future__ import annotations

import json
from pathlib import Path

from findings_factory import make_doc

from ledgerguard.reports.base import write_reports


def test_one_finding_per_line_and_read_back_equal(tmp_path: Path) -> None:
    doc = make_doc(40, hostile=True)  # control characters, quotes, bidi marks, CJK in free text
    doc["findings"][0]["evidence"] = {2024: "a year key", "ratio": 2.5e-7, "big": 1e16, "none": None}
    (path,) = write_reports(doc, ["json"], tmp_path)
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")[:-1]  # not splitlines: U+2028 and U+0085 stay raw inside strings
    assert lines[0] == "{" and lines[-1] == "}" and lines[1].startswith('  "')
    start = lines.index('  "findings": [') + 1
    finding_lines = lines[start:start + len(doc["findings"])]
    assert lines[start + len(doc["findings"])].startswith("  ]")
    assert len(finding_lines) == len(doc["findings"])
    for line, finding in zip(finding_lines, doc["findings"], strict=True):
        assert json.loads(line.rstrip(",")) == json.loads(json.dumps(finding))  # non-text keys become text
    assert json.loads(text) == json.loads(json.dumps(doc))


def test_empty_document_and_empty_findings(tmp_path: Path) -> None:
    doc = make_doc(0)
    (path,) = write_reports(doc, ["json"], tmp_path)
    assert json.loads(path.read_text(encoding="utf-8")) == doc
