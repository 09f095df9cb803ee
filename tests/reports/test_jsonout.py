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


def test_lines_cut_at_entry_boundaries_only() -> None:
    """One orjson call for the list, cut at ``},{"id":"``: a message holding that text (escaped
    inside a string) and a nested object opening with an ``id`` key (then each entry is
    encoded alone) still give exactly one entry per line."""
    import orjson

    from ledgerguard.reports.jsonout import _lines

    doc = make_doc(12, hostile=True)
    findings = doc["findings"]
    findings[1]["message"] = 'a message with },{"id":" inside'
    expected = b",\n    ".join(orjson.dumps(f, option=orjson.OPT_NON_STR_KEYS) for f in findings)
    assert _lines(findings) == expected
    findings[2]["evidence"] = {"items": [{"id": "x", "n": 1}, {"id": "y", "n": 2}]}  # nested boundary
    expected = b",\n    ".join(orjson.dumps(f, option=orjson.OPT_NON_STR_KEYS) for f in findings)
    assert _lines(findings) == expected
    assert [json.loads(line.rstrip(b",")) for line in _lines(findings).split(b"\n")] == json.loads(
        json.dumps(findings))
    odd = [{"policy_id": "P", "id": "late"}, {"id": 7}]  # not led by a text id: encoded one by one
    assert _lines(odd) == b'{"policy_id":"P","id":"late"},\n    {"id":7}'
