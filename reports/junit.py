"""junit.xml: one testcase per policy, for CI test tabs (GitLab, Jenkins, Azure).

``classname`` is the pack name because GitLab ignores the suite name; a policy with
open findings fails and its failure text lists them; a policy that could not be
evaluated is an error; a skipped policy is skipped; waived findings are listed in
``system-out`` of an otherwise passing testcase. Text goes through ``clean_text`` so
characters XML 1.0 forbids never make the file unparsable.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ledgerguard.scanner.contract import Finding, severity_key
from ledgerguard.scanner.fsutil import atomic_file

from .base import FORMATS, Reporter
from .document import View
from .safe import TEXT_LIMIT, clean_text, shown, truncate

# A failure body listing 100k findings helps nobody in a CI test tab; the rest are
# counted and left to the other formats.
MAX_LISTED = 1000


def _line(finding: Finding) -> str:
    loc = finding.get("location") or {}
    where = f"{loc['file']}:{loc['line']}: " if loc.get("file") and loc.get("line") else ""  # gate: the change
    return (
        f"{where}[{finding.get('severity', '')}] {finding.get('subject', '')}: "
        f"{finding.get('message', '')} (id {finding.get('id', '')})"
    )


def _listing(findings: list[Finding]) -> str:
    lines = [truncate(_line(f), TEXT_LIMIT) for f in findings[:MAX_LISTED]]
    if len(findings) > MAX_LISTED:
        lines.append(f"... and {len(findings) - MAX_LISTED} more (see findings.json)")
    return clean_text("\n".join(lines))


_ZERO = {"tests": "0", "failures": "0", "errors": "0", "skipped": "0", "time": "0"}


def _count(element: ET.Element, outcome: str | None) -> None:
    """Add one testcase (and its outcome) to a suite's or the root's counters."""
    for key in ("tests", outcome):
        if key:
            element.set(key, str(int(element.get(key, "0")) + 1))


@FORMATS.register("junit")
class JunitReporter(Reporter):
    filename = "junit.xml"

    def render(self, doc: dict[str, Any], out_dir: Path, lang: str = "en") -> Path:
        view = View(doc, lang)
        grouped = view.findings_by_policy()
        root = ET.Element("testsuites", name="ledgerguard", **_ZERO)
        suites: dict[str, ET.Element] = {}
        for policy in view.policies:
            pack = clean_text(str(policy.get("pack") or "ledgerguard"))
            suite = suites.get(pack)
            if suite is None:
                suite = suites[pack] = ET.SubElement(root, "testsuite", name=pack, **_ZERO)
            title = view.title_of(policy["id"])
            case = ET.SubElement(
                suite,
                "testcase",
                classname=pack,
                name=shown(f"{policy['id']} {title}".strip()),
                time="0",
            )
            findings = sorted(grouped.get(policy["id"], []), key=severity_key)
            open_ = [f for f in findings if f.get("status") != "waived"]
            waived = [f for f in findings if f.get("status") == "waived"]
            outcome = None
            if policy.get("status") == "error":
                outcome = "errors"
                el = ET.SubElement(case, "error", type="error")
                el.set("message", shown(str(policy.get("error") or "policy not evaluable")))
                el.text = el.get("message")
            elif policy.get("status") == "skipped":
                outcome = "skipped"
                ET.SubElement(case, "skipped", message=shown(str(policy.get("error") or "")))
            elif open_:
                outcome = "failures"
                el = ET.SubElement(case, "failure", type=str(policy.get("severity", "")))
                el.set("message", f"{len(open_)} open finding(s), severity {policy.get('severity')}")
                el.text = _listing(open_)
            if waived:
                ET.SubElement(case, "system-out").text = "waived:\n" + _listing(waived)
            for element in (root, suite):
                _count(element, outcome)
        path = out_dir / self.filename
        with atomic_file(path, "wb") as fh:
            ET.ElementTree(root).write(fh, encoding="utf-8", xml_declaration=True)
        return path
