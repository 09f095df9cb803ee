"""junit.xml: one testcase per policy, for CI test tabs (GitLab, Jenkins, Azure).

``classname`` is the pack name because GitLab ignores the suite name; a policy with
open findings fails and its failure text lists them (``4 open, 6 waived``); a policy
that could not be evaluated, or that examined nothing (``inconclusive``), is an error,
and so is each failed source (a testcase of its own), so the test tab never shows green
where the scan has no verdict; a skipped policy is skipped; waived findings are listed
in ``system-out`` after the policy's state (``pass (6 waived)``), with its coverage
warnings. Every suite carries the scan's verdict as a property. Text goes through
``clean_text`` so characters XML 1.0 forbids never make the file unparsable.
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

    @staticmethod
    def _suite(root: ET.Element, name: str, view: View) -> ET.Element:
        """A testsuite carrying the scan's verdict (PASS / FAIL / NO VERDICT) as a property."""
        suite = ET.SubElement(root, "testsuite", name=name, **_ZERO)
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="verdict", value=view.verdict)
        return suite

    def render(self, doc: dict[str, Any], out_dir: Path, lang: str = "en") -> Path:
        view = View(doc, lang)
        grouped = view.findings_by_policy()
        root = ET.Element("testsuites", name="ledgerguard", **_ZERO)
        suites: dict[str, ET.Element] = {}
        for policy in view.policies:
            pack = clean_text(str(policy.get("pack") or "ledgerguard"))
            suite = suites.get(pack)
            if suite is None:
                suite = suites[pack] = self._suite(root, pack, view)
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
            if policy.get("status") in ("error", "inconclusive"):
                outcome = "errors"
                el = ET.SubElement(case, "error", type=str(policy["status"]))
                el.set("message", shown(f"{policy['status']}: {policy.get('error') or 'policy not evaluable'}"))
                el.text = el.get("message")
            elif policy.get("status") == "skipped":
                outcome = "skipped"
                ET.SubElement(case, "skipped", message=shown(str(policy.get("error") or "")))
            elif open_:
                outcome = "failures"
                el = ET.SubElement(case, "failure", type=str(policy.get("severity", "")))
                counts = f"{len(open_)} open" + (f", {len(waived)} waived" if waived else "")
                el.set("message", f"{counts} finding(s), severity {policy.get('severity')}")
                el.text = _listing(open_)
            out = [f"state: {view.policy_state(policy)}", *view.coverage_lines(policy),
                   *(f"warning: {w}" for w in policy.get("warnings") or [])]
            if waived:
                out += ["waived:", _listing(waived)]
            ET.SubElement(case, "system-out").text = clean_text("\n".join(out))
            for element in (root, suite):
                _count(element, outcome)
        failed = [s for s in (view.scan.get("snapshot") or {}).get("sources") or [] if s.get("status") == "error"]
        for source in failed:
            suite = suites.get("sources") or suites.setdefault("sources", self._suite(root, "sources", view))
            case = ET.SubElement(suite, "testcase", classname="sources", time="0",
                                 name=clean_text(f"source {source.get('name')}"))
            el = ET.SubElement(case, "error", type="source")
            el.set("message", clean_text(f"source {source.get('name')} failed: {source.get('error') or 'no detail'}"))
            for element in (root, suite):
                _count(element, "errors")
        path = out_dir / self.filename
        with atomic_file(path, "wb") as fh:
            ET.ElementTree(root).write(fh, encoding="utf-8", xml_declaration=True)
        return path
